//! `POST /oauth/introspect` (RFC 7662): for resource servers, authenticated as confidential
//! clients. Any token that is not active, for whatever reason, answers `{"active": false}`;
//! API keys are introspected too (see [`api_keys::introspect_api_key`]).
//!
//! Who learns what (RFC 7662 §4): a caller with the `introspect` scope among its
//! allowed scopes (a resource server) learns about every token and API key; any other client
//! learns only about tokens issued to itself, and every other token or API key answers
//! `{"active": false}`, as if unknown.

use crate::error::OAuthFailure;
use crate::gateway::api_keys;
use crate::oauth::client_auth::authenticate;
use crate::oauth::http::client_auth::presented_client;
use crate::oauth::http::params::OAuthRequest;
use crate::oauth::token::grant_tokens::MAX_PRESENTED_LEN;
use crate::oauth::tokens::{check_access_token, Audience, Checked};
use crate::platform::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use castellan_core::client::{Client, ClientKind};
use castellan_core::scope::may_introspect_any;
use castellan_core::OAuthError;
use castellan_crypto::refresh_token_key;
use castellan_store::people::RefreshToken;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// `POST /oauth/introspect`: token introspection (RFC 7662).
pub async fn introspect_token(
    State(state): State<AppState>,
    req: OAuthRequest,
) -> Result<Response, OAuthFailure> {
    let now = state.clock.now();
    let OAuthRequest {
        headers,
        mut params,
    } = req;
    let presented = presented_client(&headers, &mut params)?;
    let basic = presented.basic();
    let caller = authenticate(&state, &presented, now).await?.client;
    if caller.kind != ClientKind::Confidential {
        return Err(OAuthFailure::from(OAuthError::unauthorized_client(
            "only confidential clients may introspect tokens",
        ))
        .with_basic(basic));
    }
    let token = params.get("token").ok_or_else(|| {
        OAuthFailure::from(OAuthError::invalid_request("token is required")).with_basic(basic)
    })?;
    let resource_server = may_introspect_any(&caller.scope);
    if api_keys::is_api_key_request(&state, token, params.get("token_type_hint")) {
        if !resource_server {
            return Ok(no_store(Json(inactive())));
        }
        return Ok(no_store(Json(
            api_keys::introspect_api_key(&state, token, now).await?,
        )));
    }
    // RFC 7662 §2.1: the hint is a help, not a rule; a refresh token is looked up first when
    // hinted, and otherwise only once the token is no active access token.
    let hinted_refresh = params.get("token_type_hint") == Some("refresh_token");
    if hinted_refresh {
        if let Some(rt) = current_refresh_token(&state, token, now).await? {
            return Ok(no_store(Json(refresh_body(
                &state,
                &caller,
                resource_server,
                &rt,
            ))));
        }
    }
    let body = match check_access_token(&state, token, now, Audience::Any).await? {
        Ok(checked) if resource_server || checked.client_id() == caller.id => {
            active_body(&state, &checked)
        }
        Ok(_) => {
            tracing::debug!("a client without the introspect scope asked about another's token");
            inactive()
        }
        Err(reason) => {
            let refresh = if hinted_refresh {
                None // looked up above
            } else {
                current_refresh_token(&state, token, now).await?
            };
            match refresh {
                Some(rt) => refresh_body(&state, &caller, resource_server, &rt),
                None => {
                    tracing::debug!(reason = reason.describe(), "introspected an inactive token");
                    inactive()
                }
            }
        }
    };
    Ok(no_store(Json(body)))
}

/// The current (not rotated, expired or revoked) refresh token `token` of a client that still
/// gets tokens (not deleted, not past its `deleteAt`), if it is one. A JWT (it has dots) or an
/// over-long value is never looked up.
async fn current_refresh_token(
    state: &AppState,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<RefreshToken>, OAuthFailure> {
    if token.is_empty() || token.len() > MAX_PRESENTED_LEN || token.contains('.') {
        return Ok(None);
    }
    let hash = refresh_token_key(token);
    let Some(rt) = state.store.find_current_refresh_token(&hash, now).await? else {
        return Ok(None);
    };
    let client = state
        .clients
        .get(state.store.as_ref(), &rt.client_id)
        .await?;
    Ok(client.filter(|c| c.is_active(now)).map(|_| rt))
}

/// RFC 7662 §2.2 for a current refresh token: `token_type` `refresh_token`, its grant's scope,
/// client, subject (the user), audience and inactivity expiry, and how the person signed in
/// (`auth_time`, `acr`, `amr`). Same caller rule as access
/// tokens: only its own client or a resource server learns about it.
fn refresh_body(
    state: &AppState,
    caller: &Client,
    resource_server: bool,
    rt: &RefreshToken,
) -> Value {
    if !resource_server && rt.client_id != caller.id {
        return inactive();
    }
    let aud = crate::oauth::resources::granted(state, rt.audience.as_ref());
    let mut v = json!({
        "active": true,
        "token_type": "refresh_token",
        "scope": rt.scope,
        "client_id": rt.client_id,
        "sub": rt.user_id,
        "aud": aud,
        "iss": state.config.issuer,
        "exp": rt.expires_at.timestamp(),
        "iat": rt.created_at.timestamp(),
    });
    if let Some(obj) = v.as_object_mut() {
        if let Some(org) = &rt.organization_id {
            obj.insert("org".into(), org.clone().into());
        }
        // How the person signed in to the grant (OIDC Core §2), as its ID tokens say.
        if let (Some(acr), Some(amr)) = (rt.amr.acr(), rt.amr.claim()) {
            obj.insert("auth_time".into(), rt.auth_time.timestamp().into());
            obj.insert("acr".into(), acr.into());
            obj.insert("amr".into(), amr.into());
        }
    }
    v
}

fn inactive() -> Value {
    json!({"active": false})
}

fn no_store(body: Json<Value>) -> Response {
    let mut res = body.into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// RFC 7662 §2.2 for an active access token; a DPoP-bound one says `token_type: DPoP` and
/// its `cnf` (RFC 9449 §6.2).
fn active_body(state: &AppState, checked: &Checked) -> Value {
    let token_type = if checked.jkt().is_some() {
        "DPoP"
    } else {
        "Bearer"
    };
    match checked {
        Checked::Jwt(c) => {
            let mut v = json!({
                "active": true,
                "scope": c.scope,
                "client_id": c.client_id,
                "sub": c.sub,
                "aud": c.aud,
                "iss": c.iss,
                "exp": c.exp,
                "iat": c.iat,
                "jti": c.jti,
                "token_type": token_type,
                "env": c.env,
            });
            if let Some(obj) = v.as_object_mut() {
                if let Some(org) = &c.org {
                    obj.insert("org".into(), org.clone().into());
                }
                if let Some(cnf) = &c.cnf {
                    obj.insert("cnf".into(), json!({ "jkt": cnf.jkt }));
                }
                if let Some(tier) = &c.tier {
                    obj.insert("tier".into(), tier.clone().into());
                }
                if let Some(act) = &c.act {
                    obj.insert("act".into(), act.clone());
                }
                if let (Some(t), Some(acr), Some(amr)) = (c.auth_time, &c.acr, &c.amr) {
                    obj.insert("auth_time".into(), t.into());
                    obj.insert("acr".into(), acr.clone().into());
                    obj.insert("amr".into(), amr.clone().into());
                }
            }
            v
        }
        Checked::Opaque(t) => {
            let mut v = json!({
                "active": true,
                "scope": t.scope,
                "client_id": t.client_id,
                "sub": t.subject,
                "iss": state.config.issuer,
                "exp": t.expires_at.timestamp(),
                "iat": t.issued_at.timestamp(),
                "token_type": token_type,
            });
            if let Some(obj) = v.as_object_mut() {
                // Tokens stored without an audience were issued for the default one.
                let aud = crate::oauth::resources::granted(state, t.audience.as_ref());
                obj.insert("aud".into(), json!(aud));
                for (k, val) in &t.claims {
                    obj.entry(k.clone()).or_insert_with(|| val.clone());
                }
            }
            v
        }
    }
}
