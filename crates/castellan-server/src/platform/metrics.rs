//! The metrics Castellan publishes at `/metrics` (Prometheus text), by family:
//!
//! * `castellan_http_requests_total{route, status}` and
//!   `castellan_http_request_duration_seconds{route}` (a histogram): every answer, by route
//!   template (`/api-clients/{id}`, never a raw path) or `unmatched`;
//! * `castellan_token_requests_total{grant, outcome}`: token requests by grant type and by
//!   `issued` or the OAuth error code (`rate_limited`, `delayed` for the throttles);
//! * `castellan_gateway_decisions_total{outcome, reason}`: gateway checks, `allowed` or
//!   `refused` with the refusal's reason (`insufficient_scope`, `no_route` …);
//! * `castellan_rate_limit_decisions_total{policy, outcome}`: every rate-limit check;
//! * `castellan_cache_lookups_total{cache, result}`: `hit` or `miss` of the client, API-key and
//!   token-check caches;
//! * the older ones: `castellan_tokens_issued_total{format}`,
//!   `castellan_client_auth_failures_total`, `castellan_storage_errors_total`,
//!   `castellan_rate_limit_backend_failures_total`;
//! * `castellan_audit_failures_total`: audit events that could not be stored;
//! * `castellan_storage_seconds{kind}` (a histogram, recorded by the store): each statement on
//!   the pool (`statement`) and each start of a write transaction (`begin`).
//!
//! Labels are bounded: routes are templates, statuses and reasons come from fixed lists, and
//! policies and grant types from the configuration. The handles of the hot paths' series are
//! looked up once and kept, so counting a token request or a gateway check is a few atomic
//! additions.

use metrics::{Counter, Histogram};
use std::sync::OnceLock;
use std::time::Duration;

/// Answers by route and status.
pub const HTTP_REQUESTS: &str = "castellan_http_requests_total";
/// Time to answer, by route.
pub const HTTP_SECONDS: &str = "castellan_http_request_duration_seconds";
/// Token requests by grant type and outcome.
pub const TOKEN_REQUESTS: &str = "castellan_token_requests_total";
/// Gateway checks by outcome and reason.
pub const GATEWAY_DECISIONS: &str = "castellan_gateway_decisions_total";
/// Rate-limit checks by policy and outcome.
pub const RATE_LIMIT_DECISIONS: &str = "castellan_rate_limit_decisions_total";
/// Cache lookups by cache and result.
pub const CACHE_LOOKUPS: &str = "castellan_cache_lookups_total";

/// Every family Castellan publishes (the dashboard in `docs/grafana-dashboard.json` uses these
/// and no other).
pub const FAMILIES: &[&str] = &[
    HTTP_REQUESTS,
    HTTP_SECONDS,
    TOKEN_REQUESTS,
    GATEWAY_DECISIONS,
    RATE_LIMIT_DECISIONS,
    CACHE_LOOKUPS,
    "castellan_tokens_issued_total",
    "castellan_client_auth_failures_total",
    "castellan_storage_errors_total",
    AUDIT_FAILURES,
    castellan_store::STORAGE_SECONDS,
    crate::platform::limits::BACKEND_FAILURES_METRIC,
];

/// Audit events that could not be stored (the actions they record stood).
pub const AUDIT_FAILURES: &str = "castellan_audit_failures_total";

/// Buckets of the request-duration histogram, in seconds: 100 µs to 10 s.
pub const SECONDS_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// The two endpoints the edge answers itself, whose series are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// `POST /oauth/token`.
    Token,
    /// `/forward-auth`.
    GatewayCheck,
}

impl Lane {
    fn route(self) -> &'static str {
        match self {
            Lane::Token => "/oauth/token",
            Lane::GatewayCheck => "/forward-auth",
        }
    }
}

/// The statuses whose series are kept per lane; any other is looked up when it happens.
const KEPT_STATUSES: [u16; 8] = [200, 400, 401, 403, 404, 429, 500, 503];
/// Their labels.
const KEPT_LABELS: [&str; 8] = ["200", "400", "401", "403", "404", "429", "500", "503"];

type KeptCounters = [OnceLock<Counter>; KEPT_STATUSES.len()];

/// Counts an answer of `lane` with the HTTP status `status`, which took `took`.
pub fn lane_answer(lane: Lane, status: u16, took: Duration) {
    static TOKEN: KeptCounters = [const { OnceLock::new() }; KEPT_STATUSES.len()];
    static GATEWAY: KeptCounters = [const { OnceLock::new() }; KEPT_STATUSES.len()];
    static SECONDS: [OnceLock<Histogram>; 2] = [const { OnceLock::new() }; 2];
    let (kept, index) = match lane {
        Lane::Token => (&TOKEN, 0),
        Lane::GatewayCheck => (&GATEWAY, 1),
    };
    let route = lane.route();
    match KEPT_STATUSES.iter().position(|s| *s == status) {
        Some(i) => kept[i]
            .get_or_init(
                || metrics::counter!(HTTP_REQUESTS, "route" => route, "status" => KEPT_LABELS[i]),
            )
            .increment(1),
        None => metrics::counter!(HTTP_REQUESTS, "route" => route, "status" => status.to_string())
            .increment(1),
    }
    SECONDS[index]
        .get_or_init(|| metrics::histogram!(HTTP_SECONDS, "route" => route))
        .record(took.as_secs_f64());
}

/// Where the router writes the template of the route it matched, for the edge to count the
/// answer once it is written (a panic or a timeout included).
#[derive(Debug, Clone, Default)]
pub struct RouteSlot(std::sync::Arc<OnceLock<String>>);

impl RouteSlot {
    /// Records the matched route's template.
    pub fn set(&self, template: &str) {
        let _ = self.0.set(template.to_owned());
    }

    /// The template recorded, or `unmatched`.
    pub fn route(&self) -> String {
        self.0
            .get()
            .cloned()
            .unwrap_or_else(|| "unmatched".to_owned())
    }
}

/// Counts an answer of a routed endpoint (`route`: its template, or `unmatched`).
pub fn routed_answer(route: String, status: u16, took: Duration) {
    metrics::counter!(HTTP_REQUESTS, "route" => route.clone(), "status" => status.to_string())
        .increment(1);
    metrics::histogram!(HTTP_SECONDS, "route" => route).record(took.as_secs_f64());
}

/// Counts a token request for `grant` (`unknown` when unreadable) that ended in `outcome`.
pub fn token_request(grant: &'static str, outcome: &'static str) {
    metrics::counter!(TOKEN_REQUESTS, "grant" => grant, "outcome" => outcome).increment(1);
}

/// Counts a gateway check: allowed, or refused for `reason`.
pub fn gateway_decision(refused: Option<&'static str>) {
    static ALLOWED: OnceLock<Counter> = OnceLock::new();
    match refused {
        None => ALLOWED
            .get_or_init(|| {
                metrics::counter!(GATEWAY_DECISIONS, "outcome" => "allowed", "reason" => "allowed")
            })
            .increment(1),
        Some(reason) => {
            metrics::counter!(GATEWAY_DECISIONS, "outcome" => "refused", "reason" => reason)
                .increment(1);
        }
    }
}

/// Counts a rate-limit check of `policy` that came to `outcome`.
pub fn rate_limit_decision(policy: &str, outcome: castellan_limit::Outcome) {
    let outcome = match outcome {
        castellan_limit::Outcome::Admitted => "admitted",
        castellan_limit::Outcome::Limited => "limited",
        castellan_limit::Outcome::FailedOpen => "failed_open",
        castellan_limit::Outcome::FailedClosed => "failed_closed",
    };
    metrics::counter!(RATE_LIMIT_DECISIONS, "policy" => policy.to_owned(), "outcome" => outcome)
        .increment(1);
}

/// The caches whose lookups are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cache {
    /// Clients (`clients.cache_seconds`).
    Clients,
    /// API keys (`api_keys.cache_seconds`).
    ApiKeys,
    /// Verified JWTs (`token.check_cache_seconds`).
    TokenChecks,
}

/// Counts a lookup of `cache`: a hit, or a miss that went to storage.
pub fn cache_lookup(cache: Cache, hit: bool) {
    static KEPT: [[OnceLock<Counter>; 2]; 3] = [const { [const { OnceLock::new() }; 2] }; 3];
    let (index, name) = match cache {
        Cache::Clients => (0, "clients"),
        Cache::ApiKeys => (1, "api_keys"),
        Cache::TokenChecks => (2, "token_checks"),
    };
    let result = if hit { "hit" } else { "miss" };
    KEPT[index][usize::from(hit)]
        .get_or_init(|| metrics::counter!(CACHE_LOOKUPS, "cache" => name, "result" => result))
        .increment(1);
}
