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
pub use crate::window::Window;

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
                values: Arc::new(PolicyValues::new(&name, &limits_of(&windows))),
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
            values: Arc::new(PolicyValues::new(name, &limits_of(windows))),
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

/// Each window's `(limit, seconds)`, as the header values are rendered from.
fn limits_of(windows: &[Window]) -> Vec<(u64, u64)> {
    windows.iter().map(|w| (w.limit, w.seconds)).collect()
}
