//! `lastUsedAt` (and API keys' last use) at day granularity without a write per token: each replica
//! remembers the last day it recorded for a client and writes only when the day changes, in
//! the background, off the request path.

use castellan_store::Store;
use chrono::NaiveDate;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Most clients remembered; past it the map is cleared (costing at most one extra write per
/// client that day).
const MAX_TRACKED: usize = 100_000;

/// Ids are the server's own (clients, API keys), never chosen by a caller, so a fast seeded
/// hash serves: this map is asked on every token and every API-key check.
#[derive(Default)]
pub struct UsageRecorder {
    recorded: Mutex<HashMap<String, NaiveDate, foldhash::fast::RandomState>>,
}

impl UsageRecorder {
    /// Whether this is the first time this replica sees `id` on `day` (and remembers that it
    /// has now). Callers write to storage only when it answers `true`.
    pub fn first_use_today(&self, id: &str, day: NaiveDate) -> bool {
        match self.recorded.lock() {
            Ok(mut map) if map.get(id) != Some(&day) => {
                if map.len() >= MAX_TRACKED {
                    map.clear();
                }
                map.insert(id.to_owned(), day);
                true
            }
            _ => false,
        }
    }

    /// Notes that `client_id` obtained a token on `day`; writes to storage only the first time
    /// this replica sees that client on that day.
    pub fn record(&self, store: &Arc<dyn Store>, client_id: &str, day: NaiveDate) {
        if self.first_use_today(client_id, day) {
            let store = Arc::clone(store);
            let id = client_id.to_owned();
            tokio::spawn(async move {
                if let Err(e) = store.record_client_use(&id, day).await {
                    tracing::warn!(error = %e, "recording lastUsedAt failed");
                }
            });
        }
    }

    /// Forgets a client (after it is deleted).
    pub fn forget(&self, client_id: &str) {
        if let Ok(mut map) = self.recorded.lock() {
            map.remove(client_id);
        }
    }
}
