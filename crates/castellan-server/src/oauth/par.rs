//! Pushed authorization requests (RFC 9126): an authenticated client pushes the parameters of
//! an authorization request, checked exactly as the authorization endpoint checks them
//! ([`crate::oauth::authorize::check`]), and gets a `request_uri`
//! (`urn:ietf:params:oauth:request_uri:<random>`) that its authorization request then names
//! with its `client_id` alone. The reference is a bearer handle: only its SHA-256 is stored.
//! It lives `par.lifetime_seconds` and is used up when the code is issued (single use, RFC 9126
//! §4: reloading the login or consent page before that still works); a used, expired, unknown
//! or other client's reference is an error page, never a redirect.

use crate::error::OAuthFailure;
use crate::oauth::authorize::{
    check, client_of, parameters, AuthorizeError, AuthorizeRequest, Parameters, PushedRef,
};
use crate::oauth::params::OAuthParams;
use crate::platform::state::AppState;
use castellan_core::client::Client;
use castellan_core::OAuthError;
use castellan_crypto::{generate_secret, hash_secret};
use castellan_store::pushed::PushedRequest;
use chrono::Duration;

/// The prefix of every `request_uri` (RFC 9126 §2.2).
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";
/// Longest `request_uri` read; anything longer is unknown.
const MAX_REQUEST_URI_LEN: usize = 256;
/// Whether `client` may only send pushed authorization requests: the deployment requires it,
/// or the client's own `require_pushed_authorization_requests` (RFC 9126 §6).
pub fn required_for(state: &AppState, client: &Client) -> bool {
    state.config.par.required || client.requires_pushed_authorization_requests()
}

/// A request pushed: its reference and how long it may be used.
#[derive(Debug)]
pub struct Pushed {
    /// The `request_uri` to send to the authorization endpoint.
    pub request_uri: String,
    /// Its lifetime in seconds.
    pub expires_in: u32,
}

/// Parameters that authenticate the client, never pushed as part of the request.
const CREDENTIALS: &[&str] = &["client_secret", "client_assertion", "client_assertion_type"];

/// Pushes the authorization request `params` of the authenticated `client` (its credentials
/// already taken out): checked as the authorization endpoint would check it, errors answered as
/// JSON (RFC 9126 §2.3), never at a redirect URI. `proved`: the key of the request's DPoP
/// proof, if it sent one (RFC 9449 §10.1): the code is bound to it, as by `dpop_jkt`, which
/// must then name the same key.
pub async fn push(
    state: &AppState,
    client: &Client,
    params: &OAuthParams,
    proved: Option<&str>,
) -> Result<Pushed, OAuthFailure> {
    if params.contains("request_uri") {
        return Err(OAuthError::invalid_request("request_uri must not be pushed").into());
    }
    // The pushed parameters, as the authorization endpoint would read them: the client is the
    // one that authenticated (a different client_id was refused by client authentication).
    let mut encoded = encode(client, params);
    if let Some(jkt) = proved {
        match params.get("dpop_jkt") {
            Some(named) if named != jkt => {
                return Err(OAuthError::new(
                    castellan_core::OAuthErrorCode::InvalidDpopProof,
                    "dpop_jkt does not name the key of the DPoP proof",
                )
                .into())
            }
            Some(_) => {}
            None => {
                let mut more = form_urlencoded::Serializer::new(encoded);
                more.append_pair("dpop_jkt", jkt);
                encoded = more.finish();
            }
        }
    }
    let parsed = parameters(&encoded).map_err(|m| OAuthError::invalid_request(plain(&m)))?;
    let now = state.clock.now();
    let pending = PushedRef {
        hash: [0; 32],
        pushed_at: now,
    };
    check(state, client.clone(), parsed, Some(pending)).map_err(|e| match e {
        AuthorizeError::Untrusted(m) => OAuthFailure::from(OAuthError::invalid_request(plain(&m))),
        AuthorizeError::Redirect(r) => r.error.into(),
        AuthorizeError::Store(s) => s.into(),
    })?;
    let request_uri = format!("{REQUEST_URI_PREFIX}{}", generate_secret().expose());
    let lifetime = state.config.par.lifetime_seconds;
    state
        .store
        .insert_pushed_request(&PushedRequest {
            hash: hash_secret(&request_uri).0,
            client_id: client.id.clone(),
            parameters: encoded,
            created_at: now,
            expires_at: now + Duration::seconds(i64::from(lifetime)),
        })
        .await?;
    Ok(Pushed {
        request_uri,
        expires_in: lifetime,
    })
}

/// The pushed parameters form-encoded, `client_id` first (the authenticated client's).
fn encode(client: &Client, params: &OAuthParams) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    out.append_pair("client_id", &client.id);
    for (k, v) in params.pairs() {
        if k != "client_id" && !CREDENTIALS.contains(&k) {
            out.append_pair(k, v);
        }
    }
    out.finish()
}

/// An error page's sentence as an `error_description` (no trailing period, lower case start).
fn plain(m: &str) -> String {
    let m = m.trim_end_matches('.');
    let mut c = m.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The authorization request a `request_uri` refers to (RFC 9126 §4): `client_id` must name
/// the client that pushed it, and it must be unused and unexpired; otherwise an error page.
/// The other parameters of `outer` are ignored: only the pushed ones count.
pub async fn resolve(
    state: &AppState,
    outer: &Parameters,
) -> Result<AuthorizeRequest, AuthorizeError> {
    let client = client_of(state, outer).await?;
    let gone = || {
        AuthorizeError::Untrusted(
            "The pushed authorization request is unknown, expired or already used; start again \
             from the application."
                .to_owned(),
        )
    };
    let Some(request_uri) = outer
        .map
        .get("request_uri")
        .filter(|u| u.len() <= MAX_REQUEST_URI_LEN && u.starts_with(REQUEST_URI_PREFIX))
    else {
        return Err(gone());
    };
    let hash = hash_secret(request_uri).0;
    let pushed = state
        .store
        .get_pushed_request(&hash, state.clock.now())
        .await?
        .filter(|p| p.client_id == client.id)
        .ok_or_else(gone)?;
    let params = parameters(&pushed.parameters).map_err(|_| gone())?;
    let mut req = check(
        state,
        client,
        params,
        Some(PushedRef {
            hash,
            pushed_at: pushed.created_at,
        }),
    )?;
    req.query = form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", &req.client.id)
        .append_pair("request_uri", request_uri)
        .finish();
    Ok(req)
}

/// Uses up the pushed request `req` came from, if any, as its code is issued: a second use
/// (another tab, a replayed consent form) is an error page.
pub async fn use_up(state: &AppState, req: &AuthorizeRequest) -> Result<(), AuthorizeError> {
    let Some(pushed) = &req.pushed else {
        return Ok(());
    };
    let used = state
        .store
        .use_pushed_request(&pushed.hash, &req.client.id, state.clock.now())
        .await?;
    if used {
        Ok(())
    } else {
        Err(AuthorizeError::Untrusted(
            "The pushed authorization request was already used or has expired; start again from \
             the application."
                .to_owned(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sentences_become_descriptions() {
        assert_eq!(
            plain("The authorization request has too many parameters."),
            "the authorization request has too many parameters"
        );
        assert_eq!(plain(""), "");
    }
}
