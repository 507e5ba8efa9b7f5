//! Signing out at a relying party's request (OpenID Connect RP-Initiated Logout 1.0): what a
//! request to the `end_session_endpoint` (`/oauth/logout`) may carry and what it is checked
//! against.
//!
//! - `id_token_hint`: an ID token this server issued (its signature checks against the
//!   server's keys and its `iss` is this server; an expired one is accepted, §2). It names the
//!   client (`aud`), the person (`sub`) and the session (`sid`): a browser whose session is
//!   that one is signed out at once; without it, or for another session (an old ID token of
//!   the person's), the person is asked first.
//! - `client_id`: names the client when there is no hint; with one, it must be the hint's.
//! - `post_logout_redirect_uri`: where the browser goes afterwards; only one the client
//!   registered (`post_logout_redirect_uris`), character for character. Without a client to
//!   check it against it is refused, and nothing unchecked is ever redirected to.
//! - `state`: returned to the client with the redirect.
//!
//! Anything invalid is an error page (400), never a redirect.

use crate::platform::state::AppState;
use castellan_core::client::Client;
use castellan_store::StoreError;
use std::sync::Arc;

/// Longest `id_token_hint` read.
const MAX_HINT_LEN: usize = 8_192;
/// Longest `state` returned.
const MAX_STATE_LEN: usize = 1_024;

/// A checked sign-out request.
#[derive(Debug, Clone, Default)]
pub struct LogoutRequest {
    /// The client asking, when the request names one.
    pub client: Option<Arc<Client>>,
    /// Where to send the browser afterwards: one the client registered.
    pub post_logout_redirect_uri: Option<String>,
    /// The client's `state`, returned with the redirect.
    pub state: Option<String>,
    /// The person the `id_token_hint` names, when one was given.
    pub hinted_user: Option<String>,
    /// The session the `id_token_hint` was issued in (its `sid`), when it names one.
    pub hinted_session: Option<String>,
}

/// Why a sign-out request is refused (shown on an error page).
#[derive(Debug, thiserror::Error)]
pub enum LogoutError {
    /// The request is malformed or does not fit the client.
    #[error("{0}")]
    Invalid(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid(message: &str) -> LogoutError {
    LogoutError::Invalid(message.to_owned())
}

/// The parameters of a sign-out request (a query string or a form body); a parameter given
/// twice is refused.
pub fn parameters(raw: &str) -> Result<std::collections::BTreeMap<String, String>, LogoutError> {
    let mut map = std::collections::BTreeMap::new();
    for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
        if map.insert(k.into_owned(), v.into_owned()).is_some() {
            return Err(invalid("a parameter is given twice"));
        }
    }
    Ok(map)
}

/// What an `id_token_hint` names: the client (`aud`), the person (`sub`) and the session
/// (`sid`), if any.
struct Hint {
    aud: String,
    sub: String,
    sid: Option<String>,
}

async fn read_hint(state: &AppState, hint: &str) -> Result<Hint, LogoutError> {
    let bad = || invalid("id_token_hint is not an ID token of this server");
    if hint.len() > MAX_HINT_LEN {
        return Err(bad());
    }
    // A key another replica rotated in is read before the hint is refused.
    let kid = castellan_crypto::jws::parse(hint)
        .map_err(|_| bad())?
        .header
        .kid;
    let mut keys = state.keys.keys();
    if let Some(kid) = kid.as_deref() {
        if !keys.has_kid(kid)
            && state
                .keys
                .reload_for_unknown_kid(kid, state.clock.now())
                .await
        {
            keys = state.keys.keys();
        }
    }
    let verified = castellan_crypto::jws::verify(hint, Some("JWT"), |kid| keys.verifier(kid))
        .map_err(|_| bad())?;
    let claims = verified.claims;
    let text = |name: &str| claims.get(name).and_then(serde_json::Value::as_str);
    if text("iss") != Some(state.config.issuer.as_str()) {
        return Err(bad());
    }
    let sub = text("sub").ok_or_else(bad)?;
    let aud = match claims.get("aud") {
        Some(serde_json::Value::String(a)) => a.clone(),
        Some(serde_json::Value::Array(a)) if a.len() == 1 => {
            a[0].as_str().ok_or_else(bad)?.to_owned()
        }
        _ => return Err(bad()),
    };
    // An ID token has no `client_id` claim and no `scope`: an access token is not a hint.
    if claims.contains_key("client_id") || claims.contains_key("scope") {
        return Err(bad());
    }
    Ok(Hint {
        aud,
        sub: sub.to_owned(),
        sid: text("sid").map(str::to_owned),
    })
}

/// Checks a sign-out request's parameters.
pub async fn validate_logout(
    state: &AppState,
    params: &std::collections::BTreeMap<String, String>,
) -> Result<LogoutRequest, LogoutError> {
    let get = |name: &str| {
        params
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };
    let hinted = match get("id_token_hint") {
        Some(h) => Some(read_hint(state, h).await?),
        None => None,
    };
    let client_id = match (hinted.as_ref().map(|h| h.aud.as_str()), get("client_id")) {
        (Some(aud), Some(id)) if aud != id => {
            return Err(invalid("client_id is not the client of id_token_hint"))
        }
        (Some(aud), _) => Some(aud.to_owned()),
        (None, id) => id.map(str::to_owned),
    };
    let client = match &client_id {
        Some(id) => Some(
            state
                .clients
                .get(state.store.as_ref(), id)
                .await?
                // A client past its deleteAt is gone: none of its URIs is trusted any more.
                .filter(|c| c.is_active(state.clock.now()))
                .ok_or_else(|| invalid("unknown client"))?,
        ),
        None => None,
    };
    let post_logout_redirect_uri = match (get("post_logout_redirect_uri"), &client) {
        (None, _) => None,
        (Some(_), None) => {
            return Err(invalid(
                "post_logout_redirect_uri needs id_token_hint or client_id to check it against",
            ))
        }
        (Some(uri), Some(c)) => {
            if !c.post_logout_redirect_uris().contains(&uri) {
                return Err(invalid(
                    "post_logout_redirect_uri is not one the client registered",
                ));
            }
            Some(uri.to_owned())
        }
    };
    let client_state = get("state").map(str::to_owned);
    if client_state
        .as_ref()
        .is_some_and(|s| s.len() > MAX_STATE_LEN)
    {
        return Err(invalid("state is too long"));
    }
    Ok(LogoutRequest {
        client,
        post_logout_redirect_uri,
        state: client_state,
        hinted_session: hinted.as_ref().and_then(|h| h.sid.clone()),
        hinted_user: hinted.map(|h| h.sub),
    })
}
