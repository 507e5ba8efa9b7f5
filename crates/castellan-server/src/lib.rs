//! Castellan's HTTP server, one module per capability: [`oauth`] (the token pipeline and every
//! OAuth and OpenID Connect endpoint), [`people`] (sign-in, sessions, account pages),
//! [`gateway`] (the gateway check, API keys, tenant tokens), [`management`] (the management
//! API), [`audit`] (the audit log, its API and the owner's page) and [`platform`]
//! (configuration, state, the edge, keys, rate limits, upkeep), with
//! [`error`] mapping every typed refusal to its answer. Each capability keeps its rules in plain
//! modules and its handlers and extractors in an `http/` module of its own.
//!
//! `app(state)` builds the whole router; `start` wires storage, keys and upkeep into a state;
//! the binary (`castellan serve`) and the test kit both go through them.
#![warn(missing_docs)]

pub mod audit;
pub mod error;
pub mod gateway;
pub mod management;
pub mod oauth;
pub mod people;
pub mod platform;

#[cfg(test)]
mod architecture_tests;
#[cfg(test)]
mod redaction_tests;

use crate::oauth::client_cache::ClientCache;
use crate::platform::config::Config;
use crate::platform::keys::KeyManager;
use crate::platform::limits::RateLimiting;
use crate::platform::state::{AppState, Inner};
use crate::platform::usage::UsageRecorder;
use axum::Router;
use castellan_crypto::{Algorithm, Clock};
use castellan_store::Store;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Why `start` could not build the server's state.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The signing keys could not be loaded or created.
    #[error(transparent)]
    Keys(#[from] platform::keys::KeysError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] castellan_store::StoreError),
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] platform::config::ConfigError),
    /// A `[[well_known]]` document cannot be served (its file is missing, say).
    #[error(transparent)]
    WellKnown(#[from] platform::well_known::WellKnownError),
    /// The rate limiter could not be built.
    #[error("rate limiter: {0}")]
    Limiter(#[from] castellan_limit::LimitError),
    /// The outbound HTTP client (for documents clients name) could not be built.
    #[error("{0}")]
    Fetcher(String),
}

/// The server's clock as the limiter's clock, so a test that moves the server's time moves
/// the in-process rate-limit windows too (Redis always uses its own clock).
struct LimitClock(Arc<dyn Clock>);

impl std::fmt::Debug for LimitClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LimitClock")
    }
}

impl castellan_limit::Clock for LimitClock {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.0.now_millis()).unwrap_or(0)
    }
}

/// The process-wide Prometheus recorder (a process has one `metrics` recorder, even when
/// tests start several servers in it).
fn metrics_handle() -> Option<metrics_exporter_prometheus::PrometheusHandle> {
    static HANDLE: OnceLock<Option<metrics_exporter_prometheus::PrometheusHandle>> =
        OnceLock::new();
    HANDLE
        .get_or_init(|| {
            // Request durations as histograms (buckets), not summaries.
            let recorder = metrics_exporter_prometheus::PrometheusBuilder::new()
                .set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Full(
                        platform::metrics::HTTP_SECONDS.to_owned(),
                    ),
                    platform::metrics::SECONDS_BUCKETS,
                )
                .ok()?
                .set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Full(
                        castellan_store::STORAGE_SECONDS.to_owned(),
                    ),
                    platform::metrics::SECONDS_BUCKETS,
                )
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            // The recorder keeps every histogram sample until it is folded into its buckets,
            // which a scrape of /metrics or an upkeep does: without this, a server nobody
            // scrapes grows by every request's samples (about 2 MiB a minute at 750 requests
            // a second, bench/soak.sh).
            let upkeep = handle.clone();
            std::thread::Builder::new()
                .name("castellan-metrics-upkeep".to_owned())
                .spawn(move || loop {
                    std::thread::sleep(METRICS_UPKEEP);
                    upkeep.run_upkeep();
                })
                .ok()?;
            Some(handle)
        })
        .clone()
}

/// How often histogram samples are folded into their buckets when nothing scrapes /metrics
/// (the interval the exporter's own HTTP listener uses).
const METRICS_UPKEEP: Duration = Duration::from_secs(5);

/// Builds the server state: loads (or creates) signing keys, builds the rate limiter (a Redis
/// limiter connects lazily, so an unreachable Redis does not stop start-up).
pub async fn start(
    config: Config,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
) -> Result<AppState, StartError> {
    let now = clock.now();
    let well_known = platform::well_known::load(&config.well_known)?;
    let access_alg =
        Algorithm::from_name(&config.token.access_token_algorithm).unwrap_or(Algorithm::Es256);
    // ID tokens are signed with their own algorithm (RS256 by default, as OIDC requires).
    let id_alg = Algorithm::from_name(&config.token.id_token_algorithm).unwrap_or(Algorithm::Rs256);
    let keys = KeyManager::start(Arc::clone(&store), &[access_alg, id_alg], now).await?;
    let clients = ClientCache::new(config.clients.cache_capacity, config.clients.cache_seconds);
    let limits = config.rate_limits()?;
    let limiter = castellan_limit::Limiter::from_settings_with_clock(
        &limits.backend,
        Arc::new(LimitClock(Arc::clone(&clock))),
    )?;
    let login_throttle = people::login_throttle::LoginThrottle::new(&config.pages.login_throttle)?;
    let client_ip = config.client_ip_source()?;
    let api_keys = gateway::key_cache::ApiKeys::new(
        config.api_keys.cache_capacity,
        config.api_keys.cache_seconds,
    );
    let gateway_routes = config.gateway.route_table()?;
    let memberships =
        gateway::memberships::Memberships::new(config.gateway.membership_cache_seconds);
    let fetcher = platform::fetch::Fetcher::new(config.environment).map_err(StartError::Fetcher)?;
    let client_keys = oauth::client_keys::ClientKeys::new(config.client_metadata.cache_capacity);
    let document_clients =
        oauth::metadata_document::DocumentClients::new(config.client_metadata.cache_capacity);
    let config_device = config.device.clone();
    let mailer = platform::mail::Mailer::new(&config.mail)
        .map_err(|e| StartError::Config(platform::config::ConfigError(e)))?;
    let metrics = metrics_handle();
    metrics::describe_counter!(
        platform::limits::BACKEND_FAILURES_METRIC,
        "Rate-limit checks the Redis backend could not answer (answered per redis_failure)"
    );
    let token_checks = oauth::token_cache::TokenCheckCache::new(
        config.token.check_cache_capacity,
        config.token.check_cache_seconds,
    );
    Ok(AppState {
        inner: Arc::new(Inner {
            config,
            store,
            keys,
            clients,
            token_checks,
            usage: UsageRecorder::default(),
            clock,
            access_alg,
            metrics,
            rate_limiting: RateLimiting {
                limits,
                limiter,
                login: login_throttle,
            },
            client_ip,
            api_keys,
            memberships,
            gateway_routes,
            token_answer_headers: Default::default(),
            well_known,
            client_keys,
            document_clients,
            device_polls: oauth::device_polls::Polls::new(&config_device),
            fetcher,
            mailer,
        }),
    })
}

/// The whole HTTP surface: every route behind the [`platform::edge::Edge`], which answers the gateway
/// check and token requests itself.
pub fn app(state: AppState) -> platform::edge::Edge {
    let timeout = timeout_of(&state);
    platform::edge::Edge::new(router(state.clone()), timeout).with_lanes(state)
}

/// Every route but the edge's lanes (see [`platform::edge::Edge`]).
fn router(state: AppState) -> Router {
    Router::new()
        .merge(platform::http::router(state.clone()))
        .merge(platform::http::well_known::router(&state.well_known))
        .merge(oauth::http::router())
        .merge(people::http::router())
        .merge(gateway::http::router())
        .merge(management::http::router())
        .merge(audit::http::router())
        .route_layer(axum::middleware::from_fn(platform::http::name_route))
        .fallback(platform::http::health::not_found)
        .with_state(state)
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets in-flight requests finish
/// (up to `http.shutdown_grace_seconds`). With `gateway.listen` set, the gateway check is
/// served on a listener bound to that address instead (see [`serve_split`]).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let gateway = match state.config.gateway.listen {
        Some(addr) => Some(tokio::net::TcpListener::bind(addr).await?),
        None => None,
    };
    serve_split(listener, gateway, state, shutdown).await
}

/// Serves the public routes on `public` and, when given, the gateway check on `gateway` only
/// (it is then 404 on `public`; see [`platform::edge::Surface`]). Both stop together when `shutdown`
/// resolves, letting in-flight requests finish (up to `http.shutdown_grace_seconds`).
pub async fn serve_split(
    public: tokio::net::TcpListener,
    gateway: Option<tokio::net::TcpListener>,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use std::future::IntoFuture;
    let grace = Duration::from_secs(state.config.http.shutdown_grace_seconds);
    let upkeep = platform::upkeep::spawn(state.clone());
    let timer_floor = spawn_timer_floor(timeout_of(&state));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let surface = if gateway.is_some() {
        platform::edge::Surface::Public
    } else {
        platform::edge::Surface::All
    };
    let public_server = axum::serve(
        public,
        platform::edge::EdgeMaker(app(state.clone()).on(surface)),
    )
    .with_graceful_shutdown(stopped(stop_rx.clone()))
    .into_future();
    let gateway_edge = app(state).on(platform::edge::Surface::Gateway);
    let gateway_server = async move {
        match gateway {
            Some(listener) => {
                axum::serve(listener, platform::edge::EdgeMaker(gateway_edge))
                    .with_graceful_shutdown(stopped(stop_rx))
                    .await
            }
            None => Ok(()),
        }
    };
    let servers = async {
        let (a, b) = tokio::join!(public_server, gateway_server);
        a.and(b)
    };
    let result = tokio::select! {
        r = servers => r,
        () = async move {
            shutdown.await;
            let _ = stop_tx.send(true);
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!("in-flight requests did not finish within the shutdown grace period");
            Ok(())
        }
    };
    upkeep.abort();
    timer_floor.abort();
    result
}

/// `http.request_timeout_ms`: the deadline of every request.
fn timeout_of(state: &AppState) -> Duration {
    Duration::from_millis(state.config.http.request_timeout_ms)
}

/// Keeps one timer always due sooner than any request's deadline (`http.request_timeout_ms`).
///
/// Every request arms a deadline timer (the timeout layer). Tokio wakes its I/O driver with a
/// system call whenever a timer is armed that is due sooner than the driver's next planned
/// wake-up, and an idle moment with no timer at all leaves no planned wake-up, so without this
/// floor every request after such a moment paid one extra `write(2)` (measured: one per
/// request under load). With a timer always due within half the request timeout, a request's
/// deadline is never the soonest, and arming it stays in user space.
fn spawn_timer_floor(request_timeout: Duration) -> tokio::task::JoinHandle<()> {
    let period = (request_timeout / 2).clamp(Duration::from_millis(10), Duration::from_secs(1));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
        }
    })
}
