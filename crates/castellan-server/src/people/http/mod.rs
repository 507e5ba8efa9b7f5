//! People's pages and APIs over HTTP: the login, consent and account pages (see [`pages`] for
//! what every page carries), the connected-apps API and organization membership.

pub mod account;
pub mod account_api_keys;
pub mod connected_apps;
pub mod csrf_form;
pub mod login;
pub mod organizations;
pub mod pages;
pub mod session;

use crate::state::AppState;
use axum::Router;

/// The pages and people's APIs.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(connected_apps::router())
        .merge(organizations::router())
        .merge(pages::router())
}
