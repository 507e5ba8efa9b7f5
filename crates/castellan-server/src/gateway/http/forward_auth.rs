//! `/forward-auth`: the gateway check for nginx `auth_request`, Traefik
//! ForwardAuth and Envoy ext_authz; `/.well-known/oauth-protected-resource` (RFC 9728); and
//! `POST /auth`, the tenant-token endpoint. See `docs/gateway.md`.

use crate::error::gateway::GatewayRefusal;
use crate::error::tenant;
use crate::gateway::forward_auth::{check_forwarded, Allowed, Denied, Presented, Who};
use crate::gateway::http::forwarded::{original_request, presented, ForwardedHeaders};
use crate::gateway::resource_metadata::{self, WELL_KNOWN};
use crate::gateway::tenant::{issue_tenant_token, TenantRequest};
use crate::platform::http::client_ip::ClientIp;
use crate::platform::limits::{self, LimitDecision};
use crate::platform::state::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use castellan_guard::dpop::Scheme;
use castellan_guard::identity::{anonymous_headers, identity_headers};
use castellan_guard::Identity;
use castellan_limit::{Decision, HeaderStyle};
use serde_json::json;

/// The gateway's routes: the protected-resource metadata (RFC 9728) and `POST /auth`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(WELL_KNOWN, get(get_protected_resource_metadata))
        .route(
            "/.well-known/oauth-protected-resource/{*path}",
            get(get_resource_metadata),
        )
        .route("/auth", post(create_tenant_token))
}

/// The metadata document of the gateway's resource (`gateway.resource`), which its refusals
/// name.
fn metadata_url(state: &AppState) -> String {
    resource_metadata::metadata_url(&state.config, state.config.gateway_resource())
}

/// The gateway check of `req`: 200 with the `X-Castellan-*` identity headers, or the refusal.
/// The edge answers `/forward-auth` with it, before routing; the router does not register it.
pub async fn answer(state: AppState, req: Request) -> Response {
    // The parts are taken, not copied: the forwarded headers are read in place.
    let (parts, _) = req.into_parts();
    let headers = parts.headers;
    let forwarded = ForwardedHeaders::scan(&headers);
    let Some((method, path)) = original_request(
        &parts.method,
        parts.uri.path(),
        &forwarded,
        &state.config.gateway.envoy_path_prefix,
    ) else {
        return denied(&state, Denied::NoOriginalRequest);
    };
    let credential = presented(&forwarded);
    // Only a token presented as `DPoP` needs the URL its proof names.
    let url = match credential {
        Ok(Presented::Token(_, Scheme::Dpop)) => {
            forwarded.public_url(path, state.config.gateway.public_base_url.as_deref())
        }
        _ => None,
    };
    match check_forwarded(&state, &method, path, &headers, credential, url.as_deref()).await {
        Ok(allowed) => {
            crate::platform::metrics::gateway_decision(None);
            let mut res = StatusCode::OK.into_response();
            *res.headers_mut() = allowed_headers(&state, &allowed);
            res
        }
        Err(d) => denied(&state, d),
    }
}

/// A 200's headers: `Cache-Control: no-store`, the identity and the rate-limit headers.
fn allowed_headers(state: &AppState, allowed: &Allowed) -> HeaderMap {
    let style = state.rate_limiting.limits.header_style;
    let limit = allowed.limit.as_ref().map(|l| &l.0);
    let identity = match &allowed.who {
        // A key's answers differ only in their counts: the first one's headers are kept.
        Who::Key(key) => {
            return key.answer.headers(limit, style, || {
                fresh_headers(Some(&key.identity), limit, style)
            })
        }
        Who::Token(id, _) => Some(id),
        Who::Anonymous => None,
    };
    fresh_headers(identity, limit, style)
}

fn fresh_headers(
    identity: Option<&Identity>,
    limit: Option<&Decision>,
    style: HeaderStyle,
) -> HeaderMap {
    // Room for the identity and rate-limit headers, so the map grows once.
    let mut h = HeaderMap::with_capacity(16);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // All six identity headers, always: a proxy that copies them replaces the client's own.
    match identity {
        Some(id) => h.extend(identity_headers(id)),
        None => h.extend(anonymous_headers()),
    }
    if let Some(d) = limit {
        castellan_limit::write_headers(d, style, &mut h);
    }
    h
}

fn denied(state: &AppState, denied: Denied) -> Response {
    crate::platform::metrics::gateway_decision(Some(denied.reason()));
    GatewayRefusal {
        denied,
        resource_metadata: metadata_url(state),
    }
    .into_response()
}

/// RFC 9728 §2: what this protected resource (the gateway's) is and who issues its tokens.
pub async fn get_protected_resource_metadata(State(state): State<AppState>) -> Response {
    let resource = state.config.gateway_resource();
    Json(resource_metadata::document(&state.config, resource)).into_response()
}

/// RFC 9728 §3.1: the metadata of the configured resource whose path follows the well-known
/// segment (`token.resources`, `gateway.resource`); 404 for any other path.
pub async fn get_resource_metadata(
    State(state): State<AppState>,
    Path(path): Path<String>,
) -> Response {
    match resource_metadata::resource_at(&state.config, &format!("/{path}")) {
        Some(resource) => {
            Json(resource_metadata::document(&state.config, resource)).into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// `POST /auth`: JSON or form `client_id`, `client_secret`, `brand`, `venue_id`.
/// Every attempt counts against the caller's IP under the token endpoint's per-IP policy (and
/// counter) before anything else, so the two endpoints together get one budget of guesses.
pub async fn create_tenant_token(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let limiting = &state.rate_limiting;
    let per_ip =
        match limits::check_ip(&state.rate_limiting, &limiting.limits.per_ip.token, ip.0).await {
            Ok(d) => d.0,
            Err(refused) => return refused.into_response(),
        };
    let (mut res, client_limit) = tenant_answer(&state, &headers, &body).await;
    let shown = limits::shown(client_limit.map(|d| d.0), per_ip);
    crate::error::rate_limit::render(&mut res, &shown, limiting.limits.header_style);
    res
}

async fn tenant_answer(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> (Response, Option<LimitDecision>) {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let fields: std::collections::HashMap<String, String> = if is_json {
        match serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(body) {
            Ok(m) => m
                .into_iter()
                .filter_map(|(k, v)| match v {
                    serde_json::Value::String(s) => Some((k, s)),
                    serde_json::Value::Number(n) => Some((k, n.to_string())),
                    _ => None,
                })
                .collect(),
            Err(_) => {
                let res = tenant::malformed("invalid_request", "The body is not a JSON object.");
                return (res, None);
            }
        }
    } else {
        form_urlencoded::parse(body).into_owned().collect()
    };
    let get = |k: &str| fields.get(k).map(String::as_str);
    let now = state.clock.now();
    let request = TenantRequest {
        client_id: get("client_id"),
        client_secret: get("client_secret"),
        brand: get("brand"),
        venue: get("venue_id"),
    };
    let outcome = issue_tenant_token(state, request, now).await;
    let res = match outcome.result {
        Ok(t) => {
            let mut res = Json(json!({
                "success": true,
                "token": t.token.expose(),
                "token_type": "Bearer",
                "expires_in": t.expires_in,
                "brand": get("brand").map(str::trim),
                "venue_id": get("venue_id").map(str::trim),
            }))
            .into_response();
            res.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res
        }
        Err(e) => e.into_response(),
    };
    (res, outcome.client_limit)
}
