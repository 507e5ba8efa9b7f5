//! One counting window of a policy.

use serde::{Deserialize, Serialize};

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

    /// Window length in milliseconds; never zero for a window inside a [`crate::Policy`].
    pub(crate) const fn millis(&self) -> u64 {
        self.seconds.saturating_mul(1000)
    }
}
