//! The deployment environment (`production`, `testing` or `local`): decides redirect-URI rules
//! and is stamped into every credential so that one environment's credential is refused by
//! another.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Where a deployment runs: it decides the redirect-URI rules and is stamped into every
/// credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// Real users and data: `https` redirect URIs only (loopback IPs aside).
    Production,
    /// A shared test deployment.
    Testing,
    /// A developer's machine.
    Local,
}

impl Environment {
    /// The environment's name in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Production => "production",
            Environment::Testing => "testing",
            Environment::Local => "local",
        }
    }

    /// Short tag stamped into API keys and opaque tokens (`live`, `test`, `local`).
    pub fn tag(self) -> &'static str {
        match self {
            Environment::Production => "live",
            Environment::Testing => "test",
            Environment::Local => "local",
        }
    }

    /// The environment of a tag ([`Environment::tag`]), if any.
    pub fn from_tag(tag: &str) -> Option<Self> {
        match tag {
            "live" => Some(Environment::Production),
            "test" => Some(Environment::Testing),
            "local" => Some(Environment::Local),
            _ => None,
        }
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not `production`, `testing` or `local`.
#[derive(Debug, thiserror::Error)]
#[error("environment must be one of production, testing, local")]
pub struct UnknownEnvironment;

impl FromStr for Environment {
    type Err = UnknownEnvironment;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "production" => Ok(Environment::Production),
            "testing" => Ok(Environment::Testing),
            "local" => Ok(Environment::Local),
            _ => Err(UnknownEnvironment),
        }
    }
}
