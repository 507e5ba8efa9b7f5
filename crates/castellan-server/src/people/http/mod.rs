//! People's pages and APIs over HTTP: the login, consent and account pages (see [`pages`] for
//! what every page carries), the connected-apps and sessions APIs and organization membership.

pub mod account;
pub mod account_api_keys;
pub mod connected_apps;
pub mod csrf_form;
pub mod email_pages;
pub mod fields;
pub mod login;
pub mod members;
pub mod oauth_apps;
pub mod organizations;
pub mod pages;
pub mod passkeys;
pub mod password;
pub mod second_factor;
pub mod session;
pub mod sessions;
pub mod two_factor;

use crate::platform::state::AppState;
use axum::routing::{get, post};
use axum::Router;

/// The people's pages, their assets and APIs.
pub fn router() -> Router<AppState> {
    let pages = Router::new()
        .route("/login", get(login::get_login).post(login::create_session))
        .route(second_factor::PATH, post(second_factor::post_second_factor))
        .route(second_factor::SET_UP_PATH, post(second_factor::post_set_up))
        .route("/account", get(account::get_account))
        .route(
            connected_apps::PATH,
            get(connected_apps::get_connected_apps),
        )
        .route(
            "/account/connected-apps/revoke",
            post(account::revoke_connected_app),
        )
        .route(
            account_api_keys::PATH,
            get(account_api_keys::list_api_keys).post(account_api_keys::create_api_key),
        )
        .route(
            "/account/api-keys/disable",
            post(account_api_keys::disable_api_key),
        )
        .route(
            "/account/api-keys/enable",
            post(account_api_keys::enable_api_key),
        )
        .route(
            "/account/api-keys/revoke",
            post(account_api_keys::revoke_api_key),
        )
        .route(
            password::PATH,
            get(password::get_password).post(password::change_password),
        )
        .route("/account/logout", post(account::delete_session))
        .merge(sessions::page_routes())
        .merge(oauth_apps::routes())
        .merge(members::routes())
        .merge(email_pages::routes())
        .merge(two_factor::routes())
        .merge(passkeys::routes());
    let assets = Router::new()
        .route("/assets/castellan.css", get(pages::get_stylesheet))
        .route(pages::COPY_SCRIPT_PATH, get(pages::get_copy_script))
        .route(pages::PASSKEY_SCRIPT_PATH, get(pages::get_passkey_script));
    Router::new()
        .merge(connected_apps::router())
        .merge(sessions::api_routes())
        .merge(organizations::router())
        .merge(pages::as_pages(pages))
        .merge(pages::as_assets(assets))
}
