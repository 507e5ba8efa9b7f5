//! Browser sessions: a random 256-bit id in the session cookie (HttpOnly,
//! SameSite=Lax so it survives the top-level navigation back from a client, Path=/, no
//! Domain; outside `local` Secure and named `__Host-castellan_session`, a prefix browsers only
//! accept from a secure origin for the exact host, so neither a sibling subdomain nor a plain
//! http answer can set or overwrite it), stored only as its SHA-256. A new id is issued at
//! every sign-in (no session fixation), and sign-out deletes the stored session.

use crate::platform::state::AppState;
use castellan_core::{Environment, Secret};
use castellan_store::people::Session;
use castellan_store::StoreResult;
use chrono::{DateTime, Duration, Utc};
use std::fmt::Write as _;

/// The session cookie's name in `local` (plain http allowed, so no `__Host-` prefix).
pub const SESSION_COOKIE: &str = "castellan_session";
/// The session cookie's name everywhere else.
pub const HOST_SESSION_COOKIE: &str = "__Host-castellan_session";

/// The session cookie's name in `env`.
pub fn session_cookie_name(env: Environment) -> &'static str {
    if env == Environment::Local {
        SESSION_COOKIE
    } else {
        HOST_SESSION_COOKIE
    }
}

/// Whether an id presented by a browser could be one this server issued (43 base64url
/// characters); anything else is ignored before a storage lookup.
fn well_formed(v: &str) -> bool {
    v.len() == 43
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Starts a session for `user_id`; answers the cookie value (shown only to the browser).
pub async fn start_session(
    state: &AppState,
    user_id: &str,
    now: DateTime<Utc>,
) -> StoreResult<Secret> {
    let id = castellan_crypto::generate_secret();
    let session = Session {
        hash: castellan_crypto::hash_secret(id.expose()).0,
        user_id: user_id.to_owned(),
        auth_time: now,
        expires_at: now + Duration::seconds(i64::from(state.config.pages.session_seconds)),
    };
    state.store.insert_session(&session).await?;
    Ok(id)
}

/// The live session a cookie value names, if any.
pub async fn find_session(
    state: &AppState,
    cookie: &str,
    now: DateTime<Utc>,
) -> StoreResult<Option<Session>> {
    if !well_formed(cookie) {
        return Ok(None);
    }
    let hash = castellan_crypto::hash_secret(cookie).0;
    state.store.get_session(&hash, now).await
}

/// Ends the session a cookie value names (nothing happens for an unknown one).
pub async fn end_session(state: &AppState, cookie: &str) -> StoreResult<()> {
    if !well_formed(cookie) {
        return Ok(());
    }
    state
        .store
        .delete_session(&castellan_crypto::hash_secret(cookie).0)
        .await
}

/// Whether cookies carry `Secure` (everywhere but `local`, which may run on plain http).
pub fn secure_cookies(state: &AppState) -> bool {
    state.config.environment != Environment::Local
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax, Path=/, no Domain, Secure outside `local`
/// (which the `__Host-` names outside `local` require).
pub fn set_cookie(state: &AppState, name: &str, value: &str, max_age: Option<u32>) -> String {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if let Some(age) = max_age {
        let _ = write!(c, "; Max-Age={age}");
    }
    if secure_cookies(state) {
        c.push_str("; Secure");
    }
    c
}

/// The `Set-Cookie` that ends the session cookie.
pub fn clear_session_cookie(state: &AppState) -> String {
    clear_cookie(state, session_cookie_name(state.config.environment))
}

/// The CSRF cookie carrying `token` (the double-submit value of signed-out forms).
pub fn csrf_cookie(state: &AppState, token: &str) -> String {
    set_cookie(
        state,
        crate::people::csrf::cookie_name(state.config.environment),
        token,
        None,
    )
}

/// A `Set-Cookie` value that removes the cookie.
pub fn clear_cookie(state: &AppState, name: &str) -> String {
    set_cookie(state, name, "", Some(0))
}

/// The session cookie for a new session.
pub fn session_cookie(state: &AppState, id: &Secret) -> String {
    set_cookie(
        state,
        session_cookie_name(state.config.environment),
        id.expose(),
        Some(state.config.pages.session_seconds),
    )
}
