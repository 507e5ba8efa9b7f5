//! Errors of this crate: configuration errors that name the exact config key, and the
//! construction errors of a limiter. Checking a rate limit never returns an error: backend
//! trouble becomes a fail-open or fail-closed [`crate::Decision`].

use std::fmt;

/// One invalid configuration value. `Display` reads
/// `rate_limit.policies.default.windows[1].seconds must be between 1 and 31536000`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key} {message}")]
pub struct ConfigError {
    /// Full dotted path of the offending key, e.g. `rate_limit.tiers.gold`.
    pub key: String,
    /// What is wrong with it.
    pub message: String,
}

impl ConfigError {
    pub(crate) fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// Every invalid value found in one validation pass (never empty).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl ConfigErrors {
    /// The errors, in the order they were found (policies sorted by name).
    pub fn errors(&self) -> &[ConfigError] {
        &self.0
    }
}

/// Building a limiter failed. Only misconfiguration gets here; an unreachable Redis does not.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigErrors),
}
