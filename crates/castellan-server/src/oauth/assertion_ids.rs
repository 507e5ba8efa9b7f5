//! The `jti`s of client assertions already used (RFC 7523 §3: "the authorization server …
//! MAY ensure that JWTs are not replayed"; Castellan always does). Remembered on this replica
//! until their assertion expires, which `client_assertion::check_assertion` bounds to a few
//! minutes; the check is one atomic insert-if-absent.

use moka::sync::Cache;
use std::time::Duration;

/// Used assertion ids, by client and `jti`.
#[derive(Clone)]
pub struct AssertionIds {
    seen: Cache<(String, String), ()>,
}

impl AssertionIds {
    /// Remembers ids for `ttl` (the longest an assertion may live, plus the leeway), at most
    /// `capacity` of them.
    pub fn new(capacity: u64, ttl: Duration) -> Self {
        AssertionIds {
            seen: Cache::builder()
                .max_capacity(capacity)
                .time_to_live(ttl)
                .build(),
        }
    }

    /// Records `jti` of `client_id`: `true` the first time, `false` for a replay.
    pub fn first_use(&self, client_id: &str, jti: &str) -> bool {
        self.seen
            .entry((client_id.to_owned(), jti.to_owned()))
            .or_insert(())
            .is_fresh()
    }
}
