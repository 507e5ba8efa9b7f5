//! The API keys a replica has looked up: each stored key with the identity it proves, kept in
//! a bounded cache by the key's hash (`api_keys.cache_seconds`), and the day of each key's last
//! use recorded without a write per check.

use crate::error::rate_limit::KeptHeaders;
use crate::platform::usage::UsageRecorder;
use castellan_guard::{CredentialKind, Identity};
use castellan_store::api_keys::ApiKey;
use castellan_store::{Store, StoreError};
use chrono::NaiveDate;
use std::sync::Arc;

/// A stored key as a check answers it: the row and the identity it proves, built once when
/// the key is looked up (and cached with it), not per check.
pub struct KnownKey {
    /// The stored row.
    pub key: ApiKey,
    /// The identity the key proves.
    pub identity: Identity,
    /// The headers of the key's forward-auth 200s.
    pub answer: KeptHeaders,
}

impl KnownKey {
    /// Builds the identity and answer headers of `key`.
    pub fn new(key: ApiKey) -> Self {
        let identity = Identity {
            subject: key.id.clone(),
            client_id: key.id.clone(),
            organization: key.organization_id.clone(),
            scopes: Identity::scopes_from(&key.scope),
            role: None,
            kind: CredentialKind::ApiKey,
            brand: None,
            venue: None,
            expires_at: key.expires_at.map(|e| e.timestamp()),
        };
        KnownKey {
            key,
            identity,
            answer: KeptHeaders::default(),
        }
    }
}

impl std::ops::Deref for KnownKey {
    type Target = ApiKey;

    fn deref(&self) -> &ApiKey {
        &self.key
    }
}

/// The lookup cache and the last-use recorder of this replica.
pub struct ApiKeys {
    /// Keyed by the key's SHA-256. Hashed with a seeded foldhash, not the default SipHash: a
    /// lookup per gateway check, and the seed still keeps crafted keys from piling into one
    /// bucket.
    cache:
        Option<moka::future::Cache<[u8; 32], Option<Arc<KnownKey>>, foldhash::fast::RandomState>>,
    recorded: UsageRecorder,
}

impl ApiKeys {
    /// A cache of at most `capacity` keys, each held `seconds` (0 turns the cache off).
    pub fn new(capacity: u64, seconds: u32) -> Self {
        let cache = (seconds > 0).then(|| {
            moka::future::Cache::builder()
                .max_capacity(capacity)
                .time_to_live(std::time::Duration::from_secs(u64::from(seconds)))
                .build_with_hasher(foldhash::fast::RandomState::default())
        });
        ApiKeys {
            cache,
            recorded: UsageRecorder::default(),
        }
    }

    pub(crate) async fn find(
        &self,
        store: &Arc<dyn Store>,
        hash: [u8; 32],
    ) -> Result<Option<Arc<KnownKey>>, StoreError> {
        let known = |k: Option<ApiKey>| k.map(|k| Arc::new(KnownKey::new(k)));
        let Some(cache) = &self.cache else {
            return Ok(known(store.find_api_key_by_hash(&hash).await?));
        };
        // A hit is a plain lookup. Only a miss builds the loading future (which also makes
        // concurrent misses of one key share one storage lookup), boxed: inline, its size
        // would be copied with every gateway check's future.
        if let Some(hit) = cache.get(&hash).await {
            crate::platform::metrics::cache_lookup(crate::platform::metrics::Cache::ApiKeys, true);
            return Ok(hit);
        }
        crate::platform::metrics::cache_lookup(crate::platform::metrics::Cache::ApiKeys, false);
        Box::pin(cache.try_get_with(hash, async {
            Ok(known(store.find_api_key_by_hash(&hash).await?))
        }))
        .await
        .map_err(|e: Arc<StoreError>| StoreError::Unavailable(e.to_string()))
    }

    pub(crate) async fn forget(&self, hash: &[u8; 32]) {
        if let Some(cache) = &self.cache {
            cache.invalidate(hash).await;
        }
    }

    /// Forgets every cached key (after a member's keys were disabled in storage).
    pub fn forget_all(&self) {
        if let Some(cache) = &self.cache {
            cache.invalidate_all();
        }
    }

    pub(crate) fn record_use(&self, store: &Arc<dyn Store>, id: &str, day: NaiveDate) {
        if self.recorded.first_use_today(id, day) {
            let store = Arc::clone(store);
            let id = id.to_owned();
            tokio::spawn(async move {
                if let Err(e) = store.record_api_key_use(&id, day).await {
                    tracing::warn!(error = %e, "recording an API key's last use failed");
                }
            });
        }
    }
}
