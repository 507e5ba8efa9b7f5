//! The `[rate_limit]` section of Castellan's configuration and its validation into
//! [`RateLimits`], the typed tree the server holds. Every key, its default and its meaning is
//! listed in this crate's README; errors name the exact key.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{ConfigError, ConfigErrors};
pub use crate::headers::HeaderStyle;
use crate::policy::Policy;
use crate::validate;
use crate::window::Window;

/// Where counters live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Backend {
    /// Per-process counters: exact per replica, N replicas admit up to N × limit.
    #[default]
    InProcess,
    /// Counters shared by all replicas in Redis, one round trip per check.
    Redis,
}

/// What a check answers when Redis is unreachable or slower than `redis_timeout_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureMode {
    /// Admit the request and flag the decision [`crate::Outcome::FailedOpen`].
    #[default]
    Open,
    /// Refuse the request with [`crate::Outcome::FailedClosed`].
    Closed,
}

/// A Redis URL; `Debug` hides it because it may carry a password.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RedisUrl(pub String);

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RedisUrl(<redacted>)")
    }
}

/// One policy as written in config: `[rate_limit.policies.<name>] windows = [...]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// The windows; all must admit a request.
    pub windows: Vec<Window>,
}

/// Policies applied per client IP address on the unauthenticated endpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PerIpConfig {
    /// Dynamic client registration (RFC 7591). Default policy `registration`: 10 per hour.
    pub registration: String,
    /// Password login page. Default policy `login`: 20 per minute, 200 per hour.
    pub login: String,
    /// Token endpoint. Default policy `token`: 600 per minute.
    pub token: String,
}

impl Default for PerIpConfig {
    fn default() -> Self {
        Self {
            registration: "registration".into(),
            login: "login".into(),
            token: "token".into(),
        }
    }
}

/// The raw `[rate_limit]` table. Deserialise it, then call [`RateLimitConfig::validate`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// `"in-process"` (default) or `"redis"`.
    pub backend: Backend,
    /// Required when `backend = "redis"`, e.g. `redis://127.0.0.1:6379`.
    pub redis_url: Option<RedisUrl>,
    /// `"open"` (default) or `"closed"`.
    pub redis_failure: FailureMode,
    /// Upper bound on one Redis check, connection wait included. Default 50.
    pub redis_timeout_ms: u64,
    /// Prefix of every Redis key. Default `castellan:rl`.
    pub redis_key_prefix: String,
    /// `"draft-03"` (default) or `"structured"`.
    pub header_style: HeaderStyle,
    /// In-process backend: most keys tracked before the oldest are evicted. Default 1 000 000.
    pub max_keys: usize,
    /// Named policies. The built-ins `default`, `registration`, `login` and `token` exist
    /// unless a policy of the same name is configured here.
    pub policies: BTreeMap<String, PolicyConfig>,
    /// Tier name → policy name, or [`OFF`] for a tier that is not limited (no counting, no
    /// headers). Tier `default` → policy `default` unless configured; it cannot be `off`.
    pub tiers: BTreeMap<String, String>,
    /// Per-IP policies of the unauthenticated endpoints.
    pub per_ip: PerIpConfig,
}

/// The value of `rate_limit.tiers.<name>` for a tier whose requests are not limited (e.g.
/// internal jobs): nothing is counted and no rate-limit header is sent. Not a policy name.
pub const OFF: &str = "off";

/// The tier every key and client without one of its own is counted under.
pub const DEFAULT_TIER: &str = "default";

/// Defaults of the scalar settings, in one place for the README and `config/example.toml`.
pub mod defaults {
    /// `rate_limit.redis_timeout_ms`.
    pub const REDIS_TIMEOUT_MS: u64 = 50;
    /// `rate_limit.redis_key_prefix`.
    pub const REDIS_KEY_PREFIX: &str = "castellan:rl";
    /// `rate_limit.max_keys`.
    pub const MAX_KEYS: usize = 1_000_000;
}

/// Bounds of the scalar settings.
const MAX_TIMEOUT_MS: u64 = 10_000;
const MIN_MAX_KEYS: usize = 1_024;
const MAX_MAX_KEYS: usize = 100_000_000;

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            backend: Backend::InProcess,
            redis_url: None,
            redis_failure: FailureMode::Open,
            redis_timeout_ms: defaults::REDIS_TIMEOUT_MS,
            redis_key_prefix: defaults::REDIS_KEY_PREFIX.into(),
            header_style: HeaderStyle::Draft03,
            max_keys: defaults::MAX_KEYS,
            policies: BTreeMap::new(),
            tiers: BTreeMap::new(),
            per_ip: PerIpConfig::default(),
        }
    }
}

/// The built-in policies, present unless overridden by name.
pub fn builtin_policies() -> Vec<Policy> {
    vec![
        Policy::default_tier(),
        Policy::builtin("registration", &[Window::new(10, 3_600)]),
        Policy::builtin("login", &[Window::new(20, 60), Window::new(200, 3_600)]),
        Policy::builtin("token", &[Window::new(600, 60)]),
    ]
}

/// Redis settings after validation.
#[derive(Debug, Clone)]
pub struct RedisSettings {
    /// Connection URL (redacted in `Debug`).
    pub url: RedisUrl,
    /// Answer when Redis cannot be asked.
    pub failure: FailureMode,
    /// Bound on one check.
    pub timeout: Duration,
    /// Key prefix.
    pub key_prefix: String,
}

/// The validated backend choice.
#[derive(Debug, Clone)]
pub enum BackendSettings {
    /// In-process counters with at most `max_keys` keys.
    InProcess {
        /// Key cap.
        max_keys: usize,
    },
    /// Shared counters in Redis.
    Redis(RedisSettings),
}

/// The per-IP policies, resolved.
#[derive(Debug, Clone)]
pub struct PerIpPolicies {
    /// Client registration.
    pub registration: Arc<Policy>,
    /// Login.
    pub login: Arc<Policy>,
    /// Token endpoint.
    pub token: Arc<Policy>,
}

/// The validated `[rate_limit]` tree: every reference resolved, every value in range.
#[derive(Debug, Clone)]
pub struct RateLimits {
    policies: BTreeMap<String, Arc<Policy>>,
    tiers: BTreeMap<String, Arc<Policy>>,
    /// Tiers configured as [`OFF`].
    unlimited_tiers: std::collections::BTreeSet<String>,
    default_tier: Arc<Policy>,
    /// Per-IP policies.
    pub per_ip: PerIpPolicies,
    /// Backend to build with [`crate::Limiter::from_settings`].
    pub backend: BackendSettings,
    /// Header syntax for [`crate::headers`].
    pub header_style: HeaderStyle,
}

impl RateLimits {
    /// A policy by name.
    pub fn policy(&self, name: &str) -> Option<&Arc<Policy>> {
        self.policies.get(name)
    }

    /// The policy of a tier, if the tier is configured with one (not for tiers that are
    /// [`OFF`]).
    pub fn tier(&self, tier: &str) -> Option<&Arc<Policy>> {
        self.tiers.get(tier)
    }

    /// Whether the tier is configured, limited or [`OFF`].
    pub fn tier_exists(&self, tier: &str) -> bool {
        self.tiers.contains_key(tier) || self.unlimited_tiers.contains(tier)
    }

    /// The policy to count a tier's requests under: `None` for a tier that is [`OFF`], the
    /// tier's policy, or tier `default`'s for an unknown tier.
    pub fn tier_limit(&self, tier: &str) -> Option<&Arc<Policy>> {
        if self.unlimited_tiers.contains(tier) {
            return None;
        }
        Some(self.tier_or_default(tier))
    }

    /// The policy of a tier, falling back to tier `default` for unknown tiers.
    pub fn tier_or_default(&self, tier: &str) -> &Arc<Policy> {
        match self.tiers.get(tier) {
            Some(p) => p,
            None => self.default_tier(),
        }
    }

    /// The policy of tier `default` (always present after validation).
    pub fn default_tier(&self) -> &Arc<Policy> {
        &self.default_tier
    }

    /// All policies by name (built-ins included).
    pub fn policies(&self) -> impl Iterator<Item = &Arc<Policy>> {
        self.policies.values()
    }
}

impl RateLimitConfig {
    /// Checks every value and resolves every reference. All problems are reported at once,
    /// each naming its key, e.g. `rate_limit.tiers.gold refers to unknown policy "golden"`.
    pub fn validate(&self) -> Result<RateLimits, ConfigErrors> {
        let mut errors = Vec::new();

        let mut policies: BTreeMap<String, Arc<Policy>> = builtin_policies()
            .into_iter()
            .map(|p| (p.name().to_owned(), Arc::new(p)))
            .collect();
        for (name, pc) in &self.policies {
            let key = format!("rate_limit.policies.{name}");
            match Policy::with_config_key(&key, name.clone(), pc.windows.clone()) {
                Ok(p) => {
                    policies.insert(name.clone(), Arc::new(p));
                }
                Err(e) => errors.extend(e.0),
            }
        }

        let mut tiers = BTreeMap::new();
        let mut unlimited_tiers = std::collections::BTreeSet::new();
        if self.policies.contains_key(OFF) {
            errors.push(ConfigError::new(
                format!("rate_limit.policies.{OFF}"),
                format!("{OFF:?} is reserved: a tier set to \"{OFF}\" is not limited"),
            ));
        }
        if !self.tiers.contains_key("default") {
            if let Some(p) = policies.get("default") {
                tiers.insert("default".to_owned(), Arc::clone(p));
            }
        }
        for (tier, policy) in &self.tiers {
            let key = format!("rate_limit.tiers.{tier}");
            validate::check_name(&key, tier, &mut errors);
            if policy == OFF {
                if tier == "default" {
                    errors.push(ConfigError::new(
                        key,
                        "tier default cannot be \"off\": it is the fallback for unknown tiers",
                    ));
                } else {
                    unlimited_tiers.insert(tier.clone());
                }
                continue;
            }
            if let Some(p) = resolve(&policies, &key, policy, &mut errors) {
                tiers.insert(tier.clone(), p);
            }
        }

        let per_ip = (
            resolve(
                &policies,
                "rate_limit.per_ip.registration",
                &self.per_ip.registration,
                &mut errors,
            ),
            resolve(
                &policies,
                "rate_limit.per_ip.login",
                &self.per_ip.login,
                &mut errors,
            ),
            resolve(
                &policies,
                "rate_limit.per_ip.token",
                &self.per_ip.token,
                &mut errors,
            ),
        );

        let backend = self.validate_backend(&mut errors);

        if !(MIN_MAX_KEYS..=MAX_MAX_KEYS).contains(&self.max_keys) {
            errors.push(ConfigError::new(
                "rate_limit.max_keys",
                format!("must be between {MIN_MAX_KEYS} and {MAX_MAX_KEYS}"),
            ));
        }

        match (tiers.get("default").cloned(), per_ip, backend) {
            (Some(default_tier), (Some(registration), Some(login), Some(token)), Some(backend))
                if errors.is_empty() =>
            {
                Ok(RateLimits {
                    policies,
                    tiers,
                    unlimited_tiers,
                    default_tier,
                    per_ip: PerIpPolicies {
                        registration,
                        login,
                        token,
                    },
                    backend,
                    header_style: self.header_style,
                })
            }
            _ => Err(ConfigErrors(errors)),
        }
    }

    fn validate_backend(&self, errors: &mut Vec<ConfigError>) -> Option<BackendSettings> {
        if self.redis_timeout_ms == 0 || self.redis_timeout_ms > MAX_TIMEOUT_MS {
            errors.push(ConfigError::new(
                "rate_limit.redis_timeout_ms",
                format!("must be between 1 and {MAX_TIMEOUT_MS}"),
            ));
        }
        let prefix_ok = !self.redis_key_prefix.is_empty()
            && self.redis_key_prefix.len() <= validate::MAX_NAME_LEN
            && self
                .redis_key_prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'));
        if !prefix_ok {
            errors.push(ConfigError::new(
                "rate_limit.redis_key_prefix",
                format!(
                    "must be 1 to {} characters from A-Z a-z 0-9 _ - . :",
                    validate::MAX_NAME_LEN
                ),
            ));
        }
        match self.backend {
            Backend::InProcess => Some(BackendSettings::InProcess {
                max_keys: self.max_keys,
            }),
            Backend::Redis => {
                let Some(url) = &self.redis_url else {
                    errors.push(ConfigError::new(
                        "rate_limit.redis_url",
                        "is required when rate_limit.backend = \"redis\"",
                    ));
                    return None;
                };
                // The URL is not echoed: it may hold a password.
                if redis::Client::open(url.0.as_str()).is_err() {
                    errors.push(ConfigError::new(
                        "rate_limit.redis_url",
                        "is not a valid Redis URL (expected redis://host:port/db or rediss://…)",
                    ));
                    return None;
                }
                Some(BackendSettings::Redis(RedisSettings {
                    url: url.clone(),
                    failure: self.redis_failure,
                    timeout: Duration::from_millis(self.redis_timeout_ms),
                    key_prefix: self.redis_key_prefix.clone(),
                }))
            }
        }
    }
}

fn resolve(
    policies: &BTreeMap<String, Arc<Policy>>,
    key: &str,
    name: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<Arc<Policy>> {
    let found = policies.get(name).cloned();
    if found.is_none() {
        errors.push(ConfigError::new(
            key,
            format!("refers to unknown policy {name:?}"),
        ));
    }
    found
}
