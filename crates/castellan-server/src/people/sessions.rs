//! Browser sessions: a random 256-bit id in the session cookie (HttpOnly,
//! SameSite=Lax so it survives the top-level navigation back from a client, Path=/, no
//! Domain; outside `local` Secure and named `__Host-castellan_session`, a prefix browsers only
//! accept from a secure origin for the exact host, so neither a sibling subdomain nor a plain
//! http answer can set or overwrite it), stored only as its SHA-256. A new id is issued at
//! every sign-in (no session fixation), and sign-out deletes the stored session.

use crate::oauth::backchannel_logout;
use crate::platform::state::AppState;
use castellan_core::authn::Amr;
use castellan_core::{Environment, Secret};
use castellan_store::people::Session;
use castellan_store::StoreResult;
use chrono::{DateTime, Duration, Utc};
use std::fmt::Write as _;
use std::net::IpAddr;

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

/// Longest `User-Agent` read to name a device; a longer one is cut before parsing.
const MAX_USER_AGENT: usize = 512;

/// Where a browser signs in from, as the sessions page shows it.
#[derive(Debug, Clone, Copy)]
pub struct SignInPlace<'a> {
    /// The browser's `User-Agent`, if it sent a readable one.
    pub user_agent: Option<&'a str>,
    /// The address it signed in from.
    pub address: IpAddr,
}

/// A device name for the sessions page, read from a `User-Agent`: "Chrome 120 on Linux",
/// "Firefox on Windows 10"; empty when nothing is recognised. Only the browser's and the
/// system's names and the browser's major version are kept, never the whole header.
pub fn device_name(user_agent: &str) -> String {
    let cut = user_agent
        .char_indices()
        .nth(MAX_USER_AGENT)
        .map_or(user_agent, |(i, _)| &user_agent[..i]);
    let Some(found) = woothee::parser::Parser::new().parse(cut) else {
        return String::new();
    };
    let known = |v: &str| !v.is_empty() && v != woothee::woothee::VALUE_UNKNOWN;
    let major = found.version.split('.').next().unwrap_or_default();
    let browser = match (known(found.name), known(major)) {
        (true, true) => format!("{} {major}", found.name),
        (true, false) => found.name.to_owned(),
        (false, _) => String::new(),
    };
    let system = [found.os, &found.os_version]
        .into_iter()
        .filter(|v| known(v))
        .collect::<Vec<_>>()
        .join(" ");
    let system = if known(found.os) {
        system
    } else {
        String::new()
    };
    let named = match (browser.is_empty(), system.is_empty()) {
        (false, false) => format!("{browser} on {system}"),
        (false, true) => browser,
        (true, false) => system,
        (true, true) => String::new(),
    };
    named.chars().filter(|c| !c.is_control()).take(80).collect()
}

/// Starts a session for `user_id` signed in at `now` from `place` with the methods `amr`;
/// answers the cookie value (shown only to the browser).
pub async fn start_session(
    state: &AppState,
    user_id: &str,
    now: DateTime<Utc>,
    amr: Amr,
    place: SignInPlace<'_>,
) -> StoreResult<Secret> {
    let times = SessionTimes {
        auth_time: now,
        expires_at: now + Duration::seconds(i64::from(state.config.pages.session_seconds)),
    };
    start_session_with(state, user_id, times, amr, place, None).await
}

/// When a session's person signed in (`auth_time`) and when it ends.
#[derive(Debug, Clone, Copy)]
pub struct SessionTimes {
    /// When the person signed in.
    pub auth_time: DateTime<Utc>,
    /// When the session ends.
    pub expires_at: DateTime<Utc>,
}

/// Starts a session for `user_id` with `times` (a session replacing another keeps when its
/// person signed in), from `place`, with the methods `amr`, under the public id `id` (a
/// session replacing one of the same person keeps its id, the `sid` its clients know) or a new
/// one; answers the cookie value, always new.
pub async fn start_session_with(
    state: &AppState,
    user_id: &str,
    times: SessionTimes,
    amr: Amr,
    place: SignInPlace<'_>,
    id: Option<String>,
) -> StoreResult<Secret> {
    let secret = castellan_crypto::generate_secret();
    let session = Session {
        hash: castellan_crypto::hash_secret(secret.expose()).0,
        id: id.unwrap_or_else(|| format!("ses_{}", crate::oauth::tokens::new_jti())),
        user_id: user_id.to_owned(),
        auth_time: times.auth_time,
        amr,
        expires_at: times.expires_at,
        device: place.user_agent.map(device_name).unwrap_or_default(),
        address: place.address.to_string(),
    };
    state.store.insert_session(&session).await?;
    Ok(secret)
}

/// Whether `id` could name a session (`ses_` and an id's characters); anything else is
/// refused before a storage lookup.
pub fn is_plausible_session_id(id: &str) -> bool {
    id.len() <= 64
        && id.strip_prefix("ses_").is_some_and(|rest| {
            !rest.is_empty()
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// The live session a cookie value names, if any.
pub async fn find_session(
    state: &AppState,
    cookie: &str,
    now: DateTime<Utc>,
) -> StoreResult<Option<Session>> {
    // Anything this server could not have issued is ignored before a storage lookup.
    if !castellan_crypto::is_generated_secret(cookie) {
        return Ok(None);
    }
    let hash = castellan_crypto::hash_secret(cookie).0;
    state.store.get_session(&hash, now).await
}

/// Ends the session a cookie value names (nothing happens for an unknown one); the clients
/// that got codes in it are told (back-channel logout).
pub async fn end_session(state: &AppState, cookie: &str) -> StoreResult<()> {
    if !castellan_crypto::is_generated_secret(cookie) {
        return Ok(());
    }
    let hash = castellan_crypto::hash_secret(cookie).0;
    let ended = state.store.get_session(&hash, state.clock.now()).await?;
    state.store.delete_session(&hash).await?;
    if let Some(s) = ended {
        backchannel_logout::sessions_ended(state, vec![s.id]);
    }
    Ok(())
}

/// Ends `user_id`'s session `id` (the sessions page and API); `false` when they have none by
/// that id. Its clients are told.
pub async fn end_session_by_id(state: &AppState, user_id: &str, id: &str) -> StoreResult<bool> {
    let ended = state.store.end_user_session(user_id, id).await?;
    if ended {
        backchannel_logout::sessions_ended(state, vec![id.to_owned()]);
    }
    Ok(ended)
}

/// Ends every session of `user_id` but `keep`; answers how many ended. Their clients are told.
pub async fn end_other_sessions(
    state: &AppState,
    user_id: &str,
    keep: &[u8; 32],
) -> StoreResult<u64> {
    let others: Vec<String> = state
        .store
        .list_sessions(user_id, state.clock.now())
        .await?
        .into_iter()
        .filter(|s| &s.hash != keep)
        .map(|s| s.id)
        .collect();
    let ended = state.store.end_user_sessions(user_id, Some(keep)).await?;
    backchannel_logout::sessions_ended(state, others);
    Ok(ended)
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
