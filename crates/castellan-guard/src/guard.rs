//! The guard itself: the whole check of one request — find the route's policy, find
//! the one credential, check it (locally for JWTs, through introspection otherwise), evaluate
//! the policy, count the call under `[rate_limit]` — in forward-auth's order. Built once from
//! a validated [`GuardConfig`]; cheap to clone.

use crate::api_key::parse_api_key;
use crate::config::{ConfigError, GuardConfig};
use crate::credential::{presented, token_shape, Presented, TokenShape};
use crate::dpop::{DpopCheck, Scheme};
use crate::failure::{DpopProblem, Failure, ResourceMetadata};
use crate::identity::{CredentialKind, Identity};
use crate::introspect::Introspector;
use crate::jwks::JwksCache;
use crate::jwt::{Expectations, JwtVerifier, Marks};
use crate::layer::GuardLayer;
use crate::limits::GuardLimits;
use crate::path::RequestPath;
use crate::policy::{evaluate, RequestFacts};
use crate::revocations::RevocationFeed;
use crate::routes::RouteTable;
use crate::ttl::{cache_key, until, PerEntry, Timed};
use axum::response::Response;
use castellan_core::token::Inactive;
use castellan_core::Environment;
use castellan_crypto::{Clock, SystemClock};
use castellan_limit::{Decision, HeaderStyle};
use http::{HeaderMap, HeaderName, Method};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

type TokenCache = moka::sync::Cache<[u8; 32], Timed<(Arc<Identity>, Arc<Marks>)>>;

/// The gateway check. Clone it freely: clones share caches.
#[derive(Clone)]
pub struct Guard {
    inner: Arc<Inner>,
}

struct Inner {
    routes: RouteTable,
    jwt: JwtVerifier,
    jwks: Arc<JwksCache>,
    introspector: Option<Introspector>,
    revocations: Option<Arc<RevocationFeed>>,
    tokens: Option<TokenCache>,
    token_ttl: Duration,
    clock: Arc<dyn Clock>,
    api_key_header: HeaderName,
    api_key_prefix: String,
    resource_metadata: ResourceMetadata,
    environment: Environment,
    tenant_everywhere: bool,
    limits: Option<GuardLimits>,
    dpop: DpopCheck,
}

/// A caller the guard let through: who (`None`: anonymous on a public route) and the
/// rate-limit decision its answer shows (`None`: not counted).
#[derive(Debug, Clone)]
pub struct Admitted {
    /// The checked caller.
    pub identity: Option<Arc<Identity>>,
    /// The decision of the call's count, whose headers the answer carries.
    pub limit: Option<Decision>,
}

/// Why the guard did not let a request through.
#[derive(Debug, Clone)]
pub enum Refusal {
    /// The credential, the path or the route policy refused it (400/401/403/503).
    Failure(Failure),
    /// The caller's rate limit is used up (429), or the limiter could not be asked under
    /// `redis_failure = "closed"` (503).
    Limited(Decision),
}

impl From<Failure> for Refusal {
    fn from(f: Failure) -> Self {
        Refusal::Failure(f)
    }
}

/// A checked caller, the rate-limit tier introspection named for it (API keys) and the key
/// its token is bound to (DPoP).
struct Caller {
    identity: Arc<Identity>,
    tier: Option<Arc<str>>,
    jkt: Option<Arc<str>>,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("environment", &self.inner.environment)
            .field("resource_metadata", &self.inner.resource_metadata.0)
            .finish_non_exhaustive()
    }
}

impl Guard {
    /// A guard from a validated configuration, on the system clock.
    pub fn new(config: GuardConfig) -> Result<Guard, ConfigError> {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    /// A guard reading time from `clock` (tests pass a manual clock).
    pub fn with_clock(config: GuardConfig, clock: Arc<dyn Clock>) -> Result<Guard, ConfigError> {
        config.validate()?;
        let timeout = Duration::from_millis(config.http_timeout_ms);
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ConfigError(format!("HTTP client: {e}")))?;
        let c = &config.cache;
        let jwks = Arc::new(JwksCache::new(
            config.jwks_url(),
            http.clone(),
            Duration::from_secs(c.jwks_refresh_seconds),
            Duration::from_secs(c.jwks_min_refetch_seconds),
        ));
        let revocations = match (&config.revocation_feed_url, &config.introspection) {
            (Some(url), Some(i)) => {
                // The token endpoint next to the feed (`…/oauth/revocations` → `…/oauth/token`).
                let token_url = url::Url::parse(url)
                    .and_then(|u| u.join("token"))
                    .map_err(|e| ConfigError(format!("revocation_feed_url: {e}")))?;
                Some(Arc::new(RevocationFeed::new(
                    url.clone(),
                    token_url.into(),
                    i.client_id.clone(),
                    i.client_secret.clone(),
                    http.clone(),
                    Duration::from_secs(config.revocation_poll_seconds),
                    Duration::from_secs(config.revocation_max_stale_seconds),
                    i64::from(config.leeway_seconds),
                    Arc::clone(&clock),
                )))
            }
            _ => None,
        };
        let introspector = match (&config.introspection, config.introspection_url()) {
            (Some(i), Some(url)) => Some(Introspector {
                url,
                client_id: i.client_id.clone(),
                secret: i.client_secret.clone(),
                http,
                cache: Introspector::cache(c.introspection_capacity),
                active_ttl: Duration::from_secs(c.introspection_active_seconds),
                inactive_ttl: Duration::from_secs(c.introspection_inactive_seconds),
                issuer: config.issuer.clone(),
                environment: config.environment,
                audiences: config.accepted_audiences(),
                calls: AtomicU64::new(0),
            }),
            _ => None,
        };
        let tokens = (c.token_capacity > 0 && c.token_ttl_seconds > 0).then(|| {
            moka::sync::Cache::builder()
                .max_capacity(c.token_capacity)
                .expire_after(PerEntry)
                .build()
        });
        let api_key_header = HeaderName::from_bytes(config.api_key.header.as_bytes())
            .map_err(|_| ConfigError("api_key.header is not a header name".into()))?;
        let limits = config
            .rate_limit
            .as_ref()
            .map(GuardLimits::new)
            .transpose()
            .map_err(ConfigError)?;
        Ok(Guard {
            inner: Arc::new(Inner {
                routes: RouteTable::new(&config.routes, config.default_policy.as_ref())?,
                jwt: JwtVerifier {
                    jwks: Arc::clone(&jwks),
                    expect: Expectations {
                        issuer: config.issuer.clone(),
                        environment: config.environment,
                        audiences: config.accepted_audiences(),
                        leeway: i64::from(config.leeway_seconds),
                    },
                },
                jwks,
                introspector,
                revocations,
                tokens,
                token_ttl: Duration::from_secs(c.token_ttl_seconds),
                clock,
                api_key_header,
                api_key_prefix: config.api_key.prefix.clone(),
                resource_metadata: ResourceMetadata(config.resource_metadata_url().into()),
                environment: config.environment,
                tenant_everywhere: config.tenant,
                limits,
                dpop: DpopCheck::new(&config.dpop),
            }),
        })
    }

    /// The tower layer running this guard in front of a service.
    pub fn layer(&self) -> GuardLayer {
        GuardLayer::new(self.clone())
    }

    /// The RFC 9728 metadata URL this guard names in its 401 answers.
    pub fn resource_metadata(&self) -> &ResourceMetadata {
        &self.inner.resource_metadata
    }

    /// How many times the JWKS was fetched (observability, tests).
    pub fn jwks_fetches(&self) -> u64 {
        self.inner.jwks.fetch_count()
    }

    /// How many introspection calls were made (cache misses).
    pub fn introspection_calls(&self) -> u64 {
        self.inner
            .introspector
            .as_ref()
            .map_or(0, Introspector::call_count)
    }

    /// The answer for a failure, naming this resource's metadata.
    pub fn render(&self, failure: &Failure) -> Response {
        failure.to_response(Some(&self.inner.resource_metadata.0))
    }

    /// The answer for a refusal: the failure's, or the rate limit's (429/503).
    pub fn render_refusal(&self, refusal: &Refusal) -> Response {
        match refusal {
            Refusal::Failure(f) => self.render(f),
            Refusal::Limited(d) => crate::limits::refusal_response(d, self.header_style()),
        }
    }

    /// How rate-limit headers are written (`[rate_limit] header_style`).
    pub fn header_style(&self) -> HeaderStyle {
        self.inner
            .limits
            .as_ref()
            .map_or(HeaderStyle::Draft03, GuardLimits::style)
    }

    /// The whole check of one request, as the layer runs it: [`Guard::check`], then the call
    /// is counted under `[rate_limit]` (only once the route policy allows it, as forward-auth
    /// counts; an anonymous caller is not counted).
    pub async fn admit(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
    ) -> Result<Admitted, Refusal> {
        let caller = self.check_caller(method, path, headers).await?;
        let limit = match (&self.inner.limits, &caller) {
            (Some(limits), Some(c)) => limits
                .count(&c.identity, c.tier.as_deref())
                .await
                .map_err(Refusal::Limited)?,
            _ => None,
        };
        Ok(Admitted {
            identity: caller.map(|c| c.identity),
            limit,
        })
    }

    /// The check of one request without counting it: path, route, credential (with its DPoP
    /// proof when the token is bound to a key), policy. `Ok(None)`: an anonymous caller of a
    /// public route. The layer runs [`Guard::admit`].
    pub async fn check(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
    ) -> Result<Option<Arc<Identity>>, Failure> {
        Ok(self
            .check_caller(method, path, headers)
            .await?
            .map(|c| c.identity))
    }

    async fn check_caller(
        &self,
        method: &Method,
        raw_path: &str,
        headers: &HeaderMap,
    ) -> Result<Option<Caller>, Failure> {
        let path = RequestPath::parse(raw_path).map_err(Failure::UnsafePath)?;
        let route = self.inner.routes.find(method, &path);
        let tenant = self.inner.tenant_everywhere || route.policy.tenant;
        let credential = presented(headers, &self.inner.api_key_header, tenant)?;
        let caller = match credential {
            Presented::Anonymous => None,
            Presented::ApiKey(k) => Some(self.check_api_key_caller(k).await?),
            Presented::Bearer(t) | Presented::Dpop(t) => {
                let caller = self.check_token_caller(t).await?;
                let scheme = match credential {
                    Presented::Dpop(_) => Scheme::Dpop,
                    _ => Scheme::Bearer,
                };
                let now = self.inner.clock.now().timestamp();
                let proof = self.inner.dpop.verify(
                    t,
                    scheme,
                    caller.jkt.as_deref(),
                    method,
                    raw_path,
                    headers,
                    now,
                )?;
                if let Some(proof) = proof {
                    let redis = self.inner.limits.as_ref().and_then(GuardLimits::redis);
                    self.inner.dpop.first_use(&proof, redis).await?;
                }
                Some(caller)
            }
        };
        let with_tenant;
        let policy = if self.inner.tenant_everywhere && !route.policy.tenant && !route.policy.public
        {
            with_tenant = crate::policy::Policy {
                tenant: true,
                ..route.policy.clone()
            };
            &with_tenant
        } else {
            route.policy
        };
        evaluate(
            policy,
            caller.as_ref().map(|c| &*c.identity),
            &RequestFacts {
                params: &route.params,
                headers,
                environment: self.inner.environment,
            },
        )?;
        Ok(caller)
    }

    /// Checks a presented credential; `Ok(None)` when there is none. A token sent as `DPoP`
    /// needs its request's proof: check it with [`Guard::check`].
    pub async fn authenticate(
        &self,
        credential: Presented<'_>,
    ) -> Result<Option<Arc<Identity>>, Failure> {
        match credential {
            Presented::Anonymous => Ok(None),
            Presented::Bearer(t) => self.check_bearer(t).await.map(Some),
            Presented::ApiKey(k) => self.check_api_key(k).await.map(Some),
            Presented::Dpop(_) => Err(Failure::InvalidDpopProof(DpopProblem::Missing)),
        }
    }

    /// Checks a token presented as `Bearer`: JWTs locally (with the verified-token cache),
    /// opaque tokens through introspection. A token bound to a DPoP key is refused
    /// ([`Failure::DpopBoundAsBearer`]).
    pub async fn check_bearer(&self, token: &str) -> Result<Arc<Identity>, Failure> {
        let caller = self.check_token_caller(token).await?;
        if caller.jkt.is_some() {
            return Err(Failure::DpopBoundAsBearer);
        }
        Ok(caller.identity)
    }

    /// Checks an access token, however presented: the caller and the key it is bound to.
    async fn check_token_caller(&self, token: &str) -> Result<Caller, Failure> {
        let now = self.inner.clock.now().timestamp();
        match token_shape(token)? {
            TokenShape::Jwt => self.check_jwt(token, now).await,
            TokenShape::Opaque(env) if env != self.inner.environment => {
                Err(Failure::Token(Inactive::WrongEnvironment))
            }
            TokenShape::Opaque(_) => match &self.inner.introspector {
                Some(i) => {
                    let found = i.check(token, CredentialKind::OpaqueToken, now).await?;
                    // Counted under its client's tier, which introspection names.
                    Ok(Caller {
                        identity: found.identity,
                        tier: found.tier,
                        jkt: found.jkt,
                    })
                }
                None => Err(Failure::UnsupportedCredential),
            },
        }
    }

    /// Checks an API key: its syntax, checksum and environment first (no network), then
    /// introspection.
    pub async fn check_api_key(&self, key: &str) -> Result<Arc<Identity>, Failure> {
        self.check_api_key_caller(key).await.map(|c| c.identity)
    }

    async fn check_api_key_caller(&self, key: &str) -> Result<Caller, Failure> {
        parse_api_key(key, &self.inner.api_key_prefix).map_err(Failure::MalformedApiKey)?;
        // A key in Castellan's own format names its environment: refuse another's locally.
        if let Ok(parsed) = castellan_core::api_key::parse_any(key) {
            if parsed.environment != self.inner.environment {
                return Err(Failure::ApiKeyWrongEnvironment);
            }
        }
        let now = self.inner.clock.now().timestamp();
        match &self.inner.introspector {
            Some(i) => {
                let found = i.check(key, CredentialKind::ApiKey, now).await?;
                Ok(Caller {
                    identity: found.identity,
                    tier: found.tier,
                    jkt: None,
                })
            }
            None => Err(Failure::UnsupportedCredential),
        }
    }

    /// How many times the revocation feed was read successfully (observability, tests).
    pub fn revocation_feed_reads(&self) -> u64 {
        self.inner
            .revocations
            .as_ref()
            .map_or(0, |r| r.read_count())
    }

    /// Verifies a JWT (or finds it verified in the cache), then asks the revocation feed.
    async fn check_jwt(&self, token: &str, now: i64) -> Result<Caller, Failure> {
        let (identity, marks) = self.verify_jwt(token, now).await?;
        if let Some(feed) = &self.inner.revocations {
            feed.check(&marks, now).await?;
        }
        Ok(Caller {
            identity,
            // Counted under its client's tier (the `tier` claim), as forward-auth counts it.
            tier: marks.tier.as_deref().map(Arc::from),
            jkt: marks.jkt.as_deref().map(Arc::from),
        })
    }

    async fn verify_jwt(
        &self,
        token: &str,
        now: i64,
    ) -> Result<(Arc<Identity>, Arc<Marks>), Failure> {
        let Some(cache) = &self.inner.tokens else {
            let (identity, marks) = self.inner.jwt.verify(token, now).await?;
            return Ok((Arc::new(identity), Arc::new(marks)));
        };
        let key = cache_key(0, token);
        if let Some(hit) = cache.get(&key) {
            // The cache runs on the monotonic clock; expiry is also judged by ours.
            if hit.value.0.expires_at.is_some_and(|exp| exp <= now) {
                return Err(Failure::Token(Inactive::Expired));
            }
            return Ok(hit.value);
        }
        let (identity, marks) = self.inner.jwt.verify(token, now).await?;
        let verified = (Arc::new(identity), Arc::new(marks));
        cache.insert(
            key,
            Timed {
                ttl: until(verified.0.expires_at, now, self.inner.token_ttl),
                value: verified.clone(),
            },
        );
        Ok(verified)
    }
}
