//! Dynamic client registration (RFC 7591) and its management (RFC 7592). Being written.

use crate::state::AppState;
use axum::Router;

pub fn router() -> Router<AppState> {
    Router::new()
}

#[utoipa::path(post, path = "/oauth/register", tag = "registration", responses((status = 201)))]
pub async fn register_client() {}
#[utoipa::path(get, path = "/oauth/register/{client_id}", tag = "registration", responses((status = 200)))]
pub async fn get_registration() {}
#[utoipa::path(put, path = "/oauth/register/{client_id}", tag = "registration", responses((status = 200)))]
pub async fn update_registration() {}
#[utoipa::path(delete, path = "/oauth/register/{client_id}", tag = "registration", responses((status = 204)))]
pub async fn delete_registration() {}
