//! What every request passes through before the router: a tracing span (method and path only:
//! query strings and headers may carry credentials), the request deadline
//! (`http.request_timeout_ms`, answered 503), a panicking handler answered 500 with nothing
//! internal, and the security headers of every answer (`X-Content-Type-Options: nosniff`
//! always; `X-Frame-Options: DENY` and `Referrer-Policy: no-referrer` unless the answer set
//! its own, as the pages do).
//!
//! One service with one future per request, wrapped around the finished router. Applied
//! through `Router::layer`, the same six jobs as separate tower layers re-boxed every route
//! once per layer, a measurable share of a token's whole cost beside the signature
//! (bench/RESULTS.md; `cargo bench -p castellan-server --bench token_path`).
//!
//! The two hot paths, the gateway check (`/forward-auth`: every API call of the
//! platform) and `POST /oauth/token`, are answered by the edge itself, without the router's
//! matching and extensions, under the same span, deadline and panic guard. A gateway check's
//! 200 goes to the proxy that asked, never to a browser, so it carries the identity and
//! rate-limit headers only; its refusals, which Traefik and Envoy pass on to the caller, carry
//! the security headers like every answer.
//!
//! Paths are matched one way everywhere: a path ending in `/` (other than `/` itself) is
//! answered as the path without it (`POST /oauth/token/`, as some clients write endpoints, is
//! the token endpoint; no redirect, which a POST could not follow).
//!
//! [`EdgeMaker`] gives each connection its own edge knowing the peer's address: the token
//! endpoint's client-IP rules read it, and a request the router serves gets it as
//! `ConnectInfo`.

use crate::gateway::http::forward_auth;
use crate::oauth::http::token;
use crate::platform::http::health::panic_answer;
use crate::platform::metrics::{self, RouteSlot};
use crate::platform::state::AppState;
use axum::extract::{ConnectInfo, Request};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::serve::IncomingStream;
use axum::Router;
use futures::FutureExt;
use std::convert::Infallible;
use std::future::{ready, Future, Ready};
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tower::{Service, ServiceExt};
use tracing::Instrument;

/// Which routes a listener serves (`gateway.listen`): the gateway check may have a
/// listener of its own, off the public port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// Everything: the one listener when `gateway.listen` is unset.
    All,
    /// Everything but the gateway check (404), which has a listener of its own.
    Public,
    /// The gateway check and the health probes only; anything else is 404.
    Gateway,
}

impl Surface {
    /// Whether a request for `path` is served on this surface.
    pub fn serves(self, path: &str) -> bool {
        match self {
            Surface::All => true,
            Surface::Public => !is_forward_auth(path),
            Surface::Gateway => is_forward_auth(path) || path == "/healthz" || path == "/readyz",
        }
    }
}

/// The router behind the edge: the whole HTTP surface, ready to serve.
#[derive(Clone)]
pub struct Edge {
    router: Router,
    timeout: Duration,
    /// The routes this edge's listener serves; the others are 404.
    surface: Surface,
    /// The state the [`Lane`]s are answered with; without it (the edge's own tests) their
    /// paths reach the router, which does not serve them.
    lanes: Option<AppState>,
    /// The connection's peer, when served by [`EdgeMaker`].
    peer: Option<SocketAddr>,
}

impl Edge {
    /// An edge serving every route of `router`, answering 503 to a request that takes longer than
    /// `timeout`.
    pub fn new(router: Router, timeout: Duration) -> Self {
        Edge {
            router,
            timeout,
            surface: Surface::All,
            lanes: None,
            peer: None,
        }
    }

    /// Answers the gateway check and token requests with `state` before routing.
    pub fn with_lanes(mut self, state: AppState) -> Self {
        self.lanes = Some(state);
        self
    }

    /// Serves only the routes of `surface`.
    pub fn on(mut self, surface: Surface) -> Self {
        self.surface = surface;
        self
    }
}

/// The endpoints the edge answers itself, before routing: the two on every API call's path.
/// The router registers neither, so each endpoint has one way in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lane {
    /// `/forward-auth` and anything under it, any method.
    GatewayCheck,
    /// `/oauth/token`: `POST` only.
    Token,
}

impl Lane {
    fn of(path: &str) -> Option<Lane> {
        if is_forward_auth(path) {
            Some(Lane::GatewayCheck)
        } else if path == "/oauth/token" {
            Some(Lane::Token)
        } else {
            None
        }
    }
}

/// 405 for a method the token endpoint does not answer, naming the one it does.
fn only_post() -> Response {
    let mut res = StatusCode::METHOD_NOT_ALLOWED.into_response();
    res.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    res
}

/// Whether `path` is the gateway check's (`/forward-auth` and anything under it).
fn is_forward_auth(path: &str) -> bool {
    path.strip_prefix("/forward-auth")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

type Answer = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

impl Service<Request> for Edge {
    type Response = Response;
    type Error = Infallible;
    type Future = Answer;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // The router is always ready; each request drives its own clone of it.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        if let Some(uri) = without_trailing_slash(req.uri()) {
            *req.uri_mut() = uri;
        }
        let span = tracing::info_span!("request", method = %req.method(), path = %req.uri().path());
        let timeout = self.timeout;
        if !self.surface.serves(req.uri().path()) {
            let missing = crate::platform::http::health::not_found();
            let counted = counted_routed(guarded(missing, timeout, false), RouteSlot::default());
            return Box::pin(counted.instrument(span));
        }
        if let (Some(state), Some(lane)) = (&self.lanes, Lane::of(req.uri().path())) {
            return match lane {
                Lane::GatewayCheck => {
                    let answer = forward_auth::answer(state.clone(), req);
                    let counted =
                        counted(guarded(answer, timeout, true), metrics::Lane::GatewayCheck);
                    Box::pin(counted.instrument(span))
                }
                Lane::Token if req.method() == Method::POST => {
                    let answer = token::answer(state.clone(), self.peer.map(|p| p.ip()), req);
                    let counted = counted(guarded(answer, timeout, false), metrics::Lane::Token);
                    Box::pin(counted.instrument(span))
                }
                Lane::Token => {
                    let refused = ready(only_post());
                    let counted = counted(guarded(refused, timeout, false), metrics::Lane::Token);
                    Box::pin(counted.instrument(span))
                }
            };
        }
        if let Some(peer) = self.peer {
            req.extensions_mut().insert(ConnectInfo(peer));
        }
        let slot = RouteSlot::default();
        req.extensions_mut().insert(slot.clone());
        let router = self.router.clone();
        let routed = async move {
            match router.oneshot(req).await {
                Ok(res) => res,
                Err(never) => match never {},
            }
        };
        Box::pin(counted_routed(guarded(routed, timeout, false), slot).instrument(span))
    }
}

/// `answer`, counted in the metrics of `lane` once it is written (its status, the time since
/// the request came in).
fn counted(
    answer: impl Future<Output = Result<Response, Infallible>> + Send,
    lane: metrics::Lane,
) -> impl Future<Output = Result<Response, Infallible>> + Send {
    let start = Instant::now();
    answer.map(move |done| {
        if let Ok(res) = &done {
            metrics::lane_answer(lane, res.status().as_u16(), start.elapsed());
        }
        done
    })
}

/// `answer`, counted in the metrics under the route the router named in `slot` (`unmatched`
/// when none) once it is written, a panic (500) or the deadline (503) included.
fn counted_routed(
    answer: impl Future<Output = Result<Response, Infallible>> + Send,
    slot: RouteSlot,
) -> impl Future<Output = Result<Response, Infallible>> + Send {
    let start = Instant::now();
    answer.map(move |done| {
        if let Ok(res) = &done {
            metrics::routed_answer(slot.route(), res.status().as_u16(), start.elapsed());
        }
        done
    })
}

/// `uri` with one trailing `/` of its path removed, when its path has one and is not `/`.
fn without_trailing_slash(uri: &Uri) -> Option<Uri> {
    let path = uri.path();
    let trimmed = path.strip_suffix('/').filter(|p| !p.is_empty())?;
    let path_and_query = match uri.query() {
        Some(q) => format!("{trimmed}?{q}"),
        None => trimmed.to_owned(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(path_and_query.parse().ok()?);
    Uri::from_parts(parts).ok()
}

/// Runs `answer` under the deadline and the panic guard, logs server errors, and adds the
/// security headers (to a gateway check's refusals only, when `gateway`).
///
/// Built from combinators, not as an `async fn`: an `async fn` holds its argument and the
/// deadline's copy of it side by side, twice the answer's size, all copied into the heap for
/// every request.
fn guarded(
    answer: impl Future<Output = Response> + Send,
    timeout: Duration,
    gateway: bool,
) -> impl Future<Output = Result<Response, Infallible>> + Send {
    tokio::time::timeout(timeout, AssertUnwindSafe(answer).catch_unwind())
        .map(move |outcome| Ok(finished(outcome, timeout, gateway)))
}

/// The answer to send for what [`guarded`]'s answer came to.
fn finished(
    outcome: Result<Result<Response, Box<dyn std::any::Any + Send>>, tokio::time::error::Elapsed>,
    timeout: Duration,
    gateway: bool,
) -> Response {
    let res = match outcome {
        Ok(Ok(res)) => res,
        Ok(Err(panic)) => panic_answer(panic),
        Err(_) => {
            tracing::warn!(timeout_ms = timeout.as_millis(), "request timed out");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    };
    if res.status().is_server_error() {
        tracing::error!(
            status = res.status().as_u16(),
            "answered with a server error"
        );
    } else {
        tracing::debug!(status = res.status().as_u16(), "answered");
    }
    if gateway && res.status() == StatusCode::OK {
        return res;
    }
    secured(with_retry_after(res))
}

/// Seconds a client is told to wait (`Retry-After`) by a 503 that did not say how long itself:
/// storage that could not answer, or the request deadline.
const UNAVAILABLE_RETRY_AFTER_SECONDS: u16 = 2;

/// `res`, with `Retry-After` added when it is a 503 without one (RFC 9110 §10.2.3), so that
/// every "unavailable" answer tells the client when to come back.
fn with_retry_after(mut res: Response) -> Response {
    if res.status() == StatusCode::SERVICE_UNAVAILABLE
        && !res.headers().contains_key(header::RETRY_AFTER)
    {
        res.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(UNAVAILABLE_RETRY_AFTER_SECONDS),
        );
    }
    res
}

/// Adds the security headers every answer carries.
fn secured(mut res: Response) -> Response {
    add_security_headers(res.headers_mut());
    res
}

/// The security headers of every answer: `nosniff` always, the frame and referrer policies
/// unless the answer set its own.
fn add_security_headers(h: &mut HeaderMap) {
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if !h.contains_key(header::X_FRAME_OPTIONS) {
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    if !h.contains_key(header::REFERRER_POLICY) {
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
    }
}

/// Makes one [`Edge`] per accepted connection, knowing the connection's peer address.
#[derive(Clone)]
pub struct EdgeMaker(pub Edge);

impl Service<IncomingStream<'_, tokio::net::TcpListener>> for EdgeMaker {
    type Response = Edge;
    type Error = Infallible;
    type Future = Ready<Result<Edge, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, stream: IncomingStream<'_, tokio::net::TcpListener>) -> Self::Future {
        let mut edge = self.0.clone();
        edge.peer = Some(*stream.remote_addr());
        ready(Ok(edge))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::get;

    #[expect(
        clippy::panic,
        reason = "a handler that panics, to show the edge answers anyway"
    )]
    async fn panics() -> &'static str {
        panic!("boom")
    }

    fn edge(timeout_ms: u64) -> Edge {
        let router = Router::new()
            .route("/ok", get(|| async { "ok" }))
            .route(
                "/framed",
                get(|| async { ([(header::X_FRAME_OPTIONS, "SAMEORIGIN")], "page") }),
            )
            .route("/panic", get(panics))
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "late"
                }),
            );
        Edge::new(router, Duration::from_millis(timeout_ms))
    }

    async fn get_path(edge: Edge, path: &str) -> Response {
        edge.oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    #[test]
    fn the_gateway_check_is_its_path_and_anything_under_it() {
        assert!(is_forward_auth("/forward-auth"));
        assert!(is_forward_auth("/forward-auth/"));
        assert!(is_forward_auth("/forward-auth/products/1"));
        assert!(!is_forward_auth("/forward-authx"));
        assert!(!is_forward_auth("/forward"));
        assert!(!is_forward_auth("/api/forward-auth"));
    }

    #[test]
    fn one_trailing_slash_is_dropped_and_the_query_kept() {
        let cut = |s: &str| without_trailing_slash(&s.parse().unwrap()).map(|u| u.to_string());
        assert_eq!(cut("/oauth/token/").as_deref(), Some("/oauth/token"));
        assert_eq!(cut("/a/?x=1&y=/").as_deref(), Some("/a?x=1&y=/"));
        assert_eq!(cut("/"), None);
        assert_eq!(cut("/oauth/token"), None);
        assert_eq!(cut("/a?next=/").as_deref(), None);
    }

    #[tokio::test]
    async fn a_trailing_slash_answers_like_the_path_without_it() {
        let res = get_path(edge(1_000), "/ok/").await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(
            get_path(edge(1_000), "/ok//").await.status(),
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn each_surface_serves_its_routes() {
        assert!(Surface::All.serves("/forward-auth") && Surface::All.serves("/oauth/token"));
        assert!(!Surface::Public.serves("/forward-auth/products/1"));
        assert!(Surface::Public.serves("/oauth/token") && Surface::Public.serves("/auth"));
        assert!(Surface::Gateway.serves("/forward-auth/envoy/x"));
        assert!(Surface::Gateway.serves("/healthz"));
        assert!(!Surface::Gateway.serves("/oauth/token"));
        assert!(!Surface::Gateway.serves("/.well-known/jwks.json"));
    }

    #[tokio::test]
    async fn every_answer_carries_the_security_headers() {
        let res = get_path(edge(1000), "/ok").await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["x-content-type-options"], "nosniff");
        assert_eq!(res.headers()["x-frame-options"], "DENY");
        assert_eq!(res.headers()["referrer-policy"], "no-referrer");
        let missing = get_path(edge(1000), "/nowhere").await;
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        assert_eq!(missing.headers()["x-content-type-options"], "nosniff");
    }

    #[tokio::test]
    async fn an_answer_keeps_its_own_frame_policy() {
        let res = get_path(edge(1000), "/framed").await;
        assert_eq!(res.headers()["x-frame-options"], "SAMEORIGIN");
        assert_eq!(res.headers()["referrer-policy"], "no-referrer");
    }

    #[tokio::test]
    async fn a_panicking_handler_is_a_500_without_details() {
        let res = get_path(edge(1000), "/panic").await;
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(res.headers()["x-content-type-options"], "nosniff");
        let body = axum::body::to_bytes(res.into_body(), 1024).await.unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["error"], "server_error");
        assert!(!String::from_utf8_lossy(&body).contains("boom"));
    }

    /// Each request's future is built on the stack and copied into the heap: the hot lanes'
    /// must stay small (they were 3.7 and 4.2 KB, copied whole at every request). The token
    /// lane's bound grew from 1024 to 1152 bytes with DPoP: the request's proof and the key
    /// thumbprint its tokens are bound to travel through the pipeline (80 bytes, a copy of a
    /// few nanoseconds beside a signature's tens of microseconds).
    #[tokio::test]
    async fn the_hot_lanes_answer_with_small_futures() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("edge.db").display());
        let config =
            crate::platform::config::Config::from_toml_str(&format!("database = \"{url}\""))
                .unwrap();
        let store: std::sync::Arc<dyn castellan_store::Store> =
            castellan_store::connect(&url).await.unwrap();
        let clock = std::sync::Arc::new(castellan_crypto::SystemClock);
        let state = crate::start(config, store, clock).await.unwrap();
        let mut edge = crate::app(state);
        let token = edge.call(
            Request::post("/oauth/token")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from("grant_type=client_credentials"))
                .unwrap(),
        );
        let token_size = size_of_val(&*token);
        assert!(token_size <= 1152, "token lane: {token_size} bytes");
        let check = edge.call(Request::get("/forward-auth").body(Body::empty()).unwrap());
        let check_size = size_of_val(&*check);
        assert!(check_size <= 2560, "forward-auth lane: {check_size} bytes");
        // Both still answer: no client credentials; no original request named.
        assert_eq!(token.await.unwrap().status(), StatusCode::UNAUTHORIZED);
        assert_eq!(check.await.unwrap().status(), StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn a_request_past_its_deadline_is_a_503() {
        let res = get_path(edge(50), "/slow").await;
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(res.headers()["x-content-type-options"], "nosniff");
        assert_eq!(res.headers()["retry-after"], "2");
    }
}
