//! Named rate-limit policies: a policy is one or more fixed windows (`limit` requests per
//! `seconds`), and a request is admitted only when every window admits it.
//! A [`Policy`] is always valid: it is built by [`Policy::new`] or deserialised through the
//! same checks, so the limiters never see a zero-length window.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{ConfigError, ConfigErrors};
use crate::headers::PolicyValues;
use crate::validate;

/// `limit` requests per `seconds`, counted in windows aligned to the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    /// Requests admitted per window (1 ..= 10^9).
    pub limit: u64,
    /// Window length in seconds (1 ..= 31 536 000).
    pub seconds: u64,
}

impl Window {
    /// `limit` per `seconds`.
    pub const fn new(limit: u64, seconds: u64) -> Self {
        Self { limit, seconds }
    }

    /// Window length in milliseconds; never zero for a window inside a [`Policy`].
    pub(crate) const fn millis(&self) -> u64 {
        self.seconds.saturating_mul(1000)
    }
}

/// A validated, named set of windows. Cheap to clone (the name is shared).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "PolicyRepr", into = "PolicyRepr")]
pub struct Policy {
    name: Arc<str>,
    windows: Vec<Window>,
    /// `RateLimit-Policy` in both styles, rendered once.
    values: Arc<PolicyValues>,
}

/// The serde shape of a policy: `{ name = "default", windows = [{ limit = 300, seconds = 60 }] }`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyRepr {
    name: String,
    windows: Vec<Window>,
}

impl TryFrom<PolicyRepr> for Policy {
    type Error = ConfigErrors;
    fn try_from(r: PolicyRepr) -> Result<Self, Self::Error> {
        Policy::new(r.name, r.windows)
    }
}

impl From<Policy> for PolicyRepr {
    fn from(p: Policy) -> Self {
        PolicyRepr {
            name: p.name.to_string(),
            windows: p.windows,
        }
    }
}

impl Policy {
    /// Validates and builds a policy. Errors name keys under `rate_limit.policies.<name>`.
    pub fn new(name: impl Into<String>, windows: Vec<Window>) -> Result<Self, ConfigErrors> {
        let name = name.into();
        Self::with_config_key(&format!("rate_limit.policies.{name}"), name, windows)
    }

    /// As [`Policy::new`], reporting errors under `key` (used by the config tree).
    pub(crate) fn with_config_key(
        key: &str,
        name: String,
        windows: Vec<Window>,
    ) -> Result<Self, ConfigErrors> {
        let mut errors: Vec<ConfigError> = Vec::new();
        validate::check_name(key, &name, &mut errors);
        validate::check_windows(key, &windows, &mut errors);
        if errors.is_empty() {
            Ok(Self {
                values: Arc::new(PolicyValues::new(&name, &windows)),
                name: Arc::from(name),
                windows,
            })
        } else {
            Err(ConfigErrors(errors))
        }
    }

    /// The built-in `default` policy: 300 per 60 s and 10 000 per 86 400 s.
    pub fn default_tier() -> Self {
        Self::builtin(
            "default",
            &[Window::new(300, 60), Window::new(10_000, 86_400)],
        )
    }

    /// Built from constants known to be valid.
    pub(crate) fn builtin(name: &str, windows: &[Window]) -> Self {
        Self {
            name: Arc::from(name),
            windows: windows.to_vec(),
            values: Arc::new(PolicyValues::new(name, windows)),
        }
    }

    /// The policy name (shown in headers and the 429 body).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The shared name, cloned into every [`crate::Decision`] without allocating.
    pub fn shared_name(&self) -> &Arc<str> {
        &self.name
    }

    /// The `RateLimit-Policy` values, shared with every [`crate::Decision`].
    pub(crate) fn values(&self) -> &Arc<PolicyValues> {
        &self.values
    }

    /// The windows, in configuration order (the order of `RateLimit-Policy`).
    pub fn windows(&self) -> &[Window] {
        &self.windows
    }

    /// The longest window in seconds (how long state for a key must be kept).
    pub fn longest_window_seconds(&self) -> u64 {
        self.windows.iter().map(|w| w.seconds).max().unwrap_or(0)
    }
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy")
            .field("name", &&*self.name)
            .field("windows", &self.windows)
            .finish()
    }
}
