//! A bounded, short-lived cache of clients in front of storage, so the token endpoint does one
//! cached lookup per request. Unknown ids are cached too, briefly, so a
//! flood of made-up ids does not reach the database. Changes made on this replica invalidate
//! its entry at once; other replicas see them within `clients.cache_seconds`.

use castellan_core::client::Client;
use castellan_store::{Store, StoreError};
use moka::sync::Cache;
use std::sync::Arc;
use std::time::Duration;

/// The synchronous `moka` cache: a hit is a plain call, not a future (the asynchronous cache's
/// lookup future is about 800 bytes, copied along with the token endpoint's).
#[derive(Clone)]
pub struct ClientCache {
    /// Hashed with a seeded foldhash, not the default SipHash: a lookup per token request,
    /// and the seed still keeps crafted ids from piling into one bucket.
    cache: Cache<String, Option<Arc<Client>>, foldhash::fast::RandomState>,
}

impl ClientCache {
    /// A cache of at most `capacity` clients, each held `ttl_seconds`.
    pub fn new(capacity: u64, ttl_seconds: u32) -> Self {
        ClientCache {
            cache: Cache::builder()
                .max_capacity(capacity)
                .time_to_live(Duration::from_secs(u64::from(ttl_seconds)))
                .build_with_hasher(foldhash::fast::RandomState::default()),
        }
    }

    /// The client `id` (`None`: no such client). A hit answers at once, without waiting:
    /// the awaiting part of this function is storage's lookup on a miss only.
    pub async fn get(
        &self,
        store: &dyn Store,
        id: &str,
    ) -> Result<Option<Arc<Client>>, StoreError> {
        if let Some(hit) = self.cache.get(id) {
            crate::platform::metrics::cache_lookup(crate::platform::metrics::Cache::Clients, true);
            return Ok(hit);
        }
        crate::platform::metrics::cache_lookup(crate::platform::metrics::Cache::Clients, false);
        let loaded = store.get_client(id).await?.map(Arc::new);
        self.cache.insert(id.to_owned(), loaded.clone());
        Ok(loaded)
    }

    /// Forgets a client, so its next lookup reads storage.
    pub fn invalidate(&self, id: &str) {
        self.cache.invalidate(id);
    }
}
