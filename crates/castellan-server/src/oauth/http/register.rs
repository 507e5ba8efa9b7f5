//! Dynamic client registration (RFC 7591 §3) at `POST /oauth/register`, and the client
//! configuration endpoint (RFC 7592 §2) at `GET/PUT/DELETE /oauth/register/{client_id}`.
//!
//! Bodies are JSON objects (`Content-Type: application/json`), bounded by
//! `http.max_body_bytes`; errors are RFC 7591 §3.2.2 / RFC 6750 §3 JSON with
//! `Cache-Control: no-store`, as are successful answers (they may carry credentials).

use crate::error::OAuthFailure;
use crate::oauth::http::bearer::{bearer_token, MAX_TOKEN_LEN};
use crate::oauth::http::dpop::{authorization, check, Presentation};
use crate::oauth::http::params::read_body;
use crate::oauth::registration::access::authorize_registration;
use crate::oauth::registration::party::registrant;
use crate::oauth::registration::response::client_information;
use crate::oauth::registration::{self, Registered};
use crate::platform::http::client_ip::ClientIp;
use crate::platform::limits;
use crate::platform::state::AppState;
use axum::extract::{Path, Request, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, PRAGMA, WWW_AUTHENTICATE};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use castellan_core::{OAuthError, OAuthErrorCode};
use castellan_guard::dpop::Scheme;
use serde_json::Value;
use std::net::IpAddr;

/// The dynamic registration routes (RFC 7591 and RFC 7592).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/oauth/register", post(register_client))
        .route(
            "/oauth/register/{client_id}",
            get(get_registration)
                .put(update_registration)
                .delete(delete_registration),
        )
}

/// An error of these endpoints; a 403 also names the scope needed (RFC 6750 §3).
pub struct RegistrationFailure(OAuthFailure);

impl From<OAuthFailure> for RegistrationFailure {
    fn from(f: OAuthFailure) -> Self {
        RegistrationFailure(f)
    }
}

impl From<OAuthError> for RegistrationFailure {
    fn from(e: OAuthError) -> Self {
        RegistrationFailure(e.into())
    }
}

impl IntoResponse for RegistrationFailure {
    fn into_response(self) -> Response {
        let scope_needed = self.0.error.code == OAuthErrorCode::InsufficientScope;
        let mut res = self.0.into_response();
        if scope_needed {
            res.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static(
                    "Bearer error=\"insufficient_scope\", scope=\"register_clients\"",
                ),
            );
        }
        res
    }
}

/// The request body: a JSON value, read within the configured bound.
async fn json_body(state: &AppState, req: Request) -> Result<Value, OAuthError> {
    let is_json = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        crate::platform::http::body::drain(req.into_body()).await;
        return Err(OAuthError::invalid_request(
            "client metadata must be sent as JSON (Content-Type: application/json)",
        ));
    }
    let body = read_body(req.into_body(), state.config.http.max_body_bytes).await?;
    serde_json::from_slice(&body).map_err(|e| {
        OAuthError::invalid_client_metadata(format!(
            "the body is not valid JSON: {}",
            castellan_core::query::truncate_for_message(&e.to_string())
        ))
    })
}

fn answer(state: &AppState, status: StatusCode, r: &Registered) -> Response {
    let body = client_information(
        &state.config,
        &r.client,
        r.secret.as_ref(),
        r.access_token.as_ref(),
    );
    no_store((status, Json(body)).into_response())
}

fn no_store(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    res
}

/// `POST /oauth/register`: registers a client (RFC 7591).
#[utoipa::path(post, path = "/oauth/register", tag = "registration",
    request_body(content = Object, description = "RFC 7591 §2 client metadata", content_type = "application/json"),
    responses(
        (status = 201, description = "registered (RFC 7591 §3.2.1); client_secret and registration_access_token are shown only here"),
        (status = 200, description = "the same party registered this software_id before: the same client, updated, with a new secret and registration access token"),
        (status = 400, description = "invalid_redirect_uri, invalid_client_metadata or invalid_request"),
        (status = 401, description = "invalid_token: a bearer token is required (token mode) or the one sent is not valid"),
        (status = 403, description = "insufficient_scope (the token lacks register_clients) or access_denied (registration disabled)"),
    ),
    security((), ("bearer" = ["register_clients"])))]
pub async fn register_client(
    State(state): State<AppState>,
    ip: ClientIp,
    req: Request,
) -> Response {
    // The per-IP limit of registrations: every attempt counts, before
    // anything else runs.
    let limiting = &state.rate_limiting;
    let decision = match limits::check_ip(
        &state.rate_limiting,
        &limiting.limits.per_ip.registration,
        ip.0,
    )
    .await
    {
        Ok(d) => d,
        Err(refused) => return refused.into_response(),
    };
    let mut res = match register(&state, req, ip.0).await {
        Ok(res) => res,
        Err(e) => e.into_response(),
    };
    crate::error::rate_limit::render(&mut res, &decision.0, limiting.limits.header_style);
    res
}

async fn register(
    state: &AppState,
    req: Request,
    address: IpAddr,
) -> Result<Response, RegistrationFailure> {
    let presented = initial_access_token(req.headers());
    let token = presented.as_ref().ok().copied().flatten();
    let found = registrant(state, presented.map(|p| p.map(|(_, t)| t))).await?;
    let party = match (found, token) {
        // A DPoP-bound token only with a proof of its key for this request (RFC 9449 §7).
        (Some(r), Some((scheme, token))) => {
            let url = state.config.endpoint("/oauth/register");
            let presentation = Presentation {
                token,
                scheme,
                jkt: r.jkt.as_deref(),
                method: &Method::POST,
                url: Some(&url),
            };
            // Refused as a protected resource refuses (401 or 503, a `DPoP` challenge).
            if let Err(f) = check(state, &presentation, req.headers()).await {
                return Ok(f.to_response(None));
            }
            Some(r.party)
        }
        (found, _) => found.map(|r| r.party),
    };
    let body = json_body(state, req).await?;
    let registered = registration::register(state, party, &body, address).await?;
    let status = if registered.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(answer(state, status, &registered))
}

/// The initial access token of a registration: one `Authorization: Bearer <token>` or `DPoP
/// <token>` header; `None` without one.
fn initial_access_token(headers: &HeaderMap) -> Result<Option<(Scheme, &str)>, OAuthError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    match (values.next(), values.next()) {
        (None, _) => Ok(None),
        (Some(v), None) => v
            .to_str()
            .ok()
            .and_then(|v| authorization(v, MAX_TOKEN_LEN))
            .map(Some)
            .ok_or_else(|| {
                OAuthError::invalid_token(
                    "the Authorization header must be `Bearer <token>` or `DPoP <token>`",
                )
            }),
        (Some(_), Some(_)) => Err(OAuthError::invalid_token(
            "more than one Authorization header",
        )),
    }
}

/// `GET /oauth/register/{client_id}`: a registered client's metadata (RFC 7592 §2.1).
#[utoipa::path(get, path = "/oauth/register/{client_id}", tag = "registration",
    params(("client_id" = String, Path, description = "the registered client's id")),
    responses(
        (status = 200, description = "the client's current metadata (RFC 7592 §2.1), without secrets"),
        (status = 401, description = "invalid_token: wrong or missing registration access token"),
    ),
    security(("bearer" = [])))]
pub async fn get_registration(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, RegistrationFailure> {
    let client = authorize_registration(&state, &client_id, bearer_token(&headers)).await?;
    let registered = Registered {
        client,
        secret: None,
        access_token: None,
        created: false,
    };
    Ok(answer(&state, StatusCode::OK, &registered))
}

/// `PUT /oauth/register/{client_id}`: replaces a registered client's metadata (RFC 7592 §2.2).
#[utoipa::path(put, path = "/oauth/register/{client_id}", tag = "registration",
    params(("client_id" = String, Path, description = "the registered client's id")),
    request_body(content = Object, description = "the full RFC 7591 §2 metadata, with client_id", content_type = "application/json"),
    responses(
        (status = 200, description = "the replaced metadata (RFC 7592 §2.2)"),
        (status = 400, description = "invalid_redirect_uri, invalid_client_metadata (e.g. a scope change) or invalid_request"),
        (status = 401, description = "invalid_token: wrong or missing registration access token"),
    ),
    security(("bearer" = [])))]
pub async fn update_registration(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(client_id): Path<String>,
    req: Request,
) -> Result<Response, RegistrationFailure> {
    let client = authorize_registration(&state, &client_id, bearer_token(req.headers())).await?;
    let body = json_body(&state, req).await?;
    let registered = registration::update(&state, client, &body, ip).await?;
    Ok(answer(&state, StatusCode::OK, &registered))
}

/// `DELETE /oauth/register/{client_id}`: deletes a registered client (RFC 7592 §2.3).
#[utoipa::path(delete, path = "/oauth/register/{client_id}", tag = "registration",
    params(("client_id" = String, Path, description = "the registered client's id")),
    responses(
        (status = 204, description = "deleted (RFC 7592 §2.3)"),
        (status = 401, description = "invalid_token: wrong or missing registration access token"),
    ),
    security(("bearer" = [])))]
pub async fn delete_registration(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(client_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, RegistrationFailure> {
    let client = authorize_registration(&state, &client_id, bearer_token(&headers)).await?;
    registration::delete(&state, &client, ip).await?;
    Ok(no_store(StatusCode::NO_CONTENT.into_response()))
}
