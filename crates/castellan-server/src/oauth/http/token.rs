//! `POST /oauth/token` over HTTP (RFC 6749 §3.2): the body read into a typed request, the
//! one pipeline ([`crate::oauth::token::token`]) asked, its outcome written
//! ([`super::token_answer`]). The edge answers this path itself ([`answer`]); the router does
//! not register it.

use crate::error::OAuthFailure;
use crate::oauth::http::client_auth::presented_client;
use crate::oauth::http::params::{read_body, OAuthRequest};
use crate::oauth::http::token_answer::write_answer;
use crate::oauth::token::request::GrantRequest;
use crate::oauth::token::{token, Asked};
use crate::platform::http::client_ip::client_ip;
use crate::platform::state::AppState;
use axum::extract::Request;
use axum::response::Response;
use std::future::Future;
use std::net::IpAddr;

/// `POST /oauth/token` as the edge answers it, before routing: the caller's address from the
/// connection's peer (`None` in process) and the request.
///
/// One `async` block over the request's parts, not nested `async fn`s: an `async fn` keeps
/// its arguments twice (as given and as moved into its body), and this future is copied into
/// the heap for every token request.
pub fn answer(
    state: AppState,
    peer: Option<IpAddr>,
    req: Request,
) -> impl Future<Output = Response> + Send {
    let ip = client_ip(&state, peer, req.headers());
    let split = OAuthRequest::split(req);
    async move {
        // In a block of its own, so that the request read is not kept beside the pipeline's
        // future.
        let asked = {
            let req = match split {
                Ok((kind, headers, body)) => {
                    let body = read_body(body, state.config.http.max_body_bytes).await;
                    OAuthRequest::parse(kind, headers, body)
                }
                Err((e, body)) => {
                    crate::platform::http::body::drain(body).await;
                    Err(e)
                }
            };
            req.and_then(asked)
        };
        let outcome = token(&state, ip.0, &asked).await;
        let grant = asked.as_ref().map_or("unknown", |a| a.grant.grant.as_str());
        crate::platform::metrics::token_request(grant, outcome.label());
        write_answer(&state, outcome)
    }
}

/// The client's credentials as presented and the typed request (the per-IP count comes
/// before either is answered, so their errors wait for it).
fn asked(req: OAuthRequest) -> Result<Asked, OAuthFailure> {
    let OAuthRequest {
        headers,
        mut params,
    } = req;
    let client = presented_client(&headers, &mut params)?;
    let dpop = crate::oauth::http::dpop::presented(&headers)?;
    let grant = GrantRequest::parse(params)?;
    Ok(Asked {
        client,
        grant,
        dpop,
    })
}
