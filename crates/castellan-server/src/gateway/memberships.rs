//! A person's role in an organization, as forward-auth checks it for every request carrying a
//! person's token bound to an organization: read from storage through a short
//! cache (`gateway.membership_cache_seconds`, default 30 s, at most 300; 0 turns it off). A
//! removal or role change made through this replica is seen at once (the entry is forgotten);
//! one made elsewhere (another replica, the CLI) within the cache bound.

use castellan_core::user::Role;
use castellan_store::{Store, StoreError};
use std::sync::Arc;
use std::time::Duration;

/// Most (organization, person) pairs held.
const CAPACITY: u64 = 100_000;

type Cache = moka::future::Cache<(String, String), Option<Role>, foldhash::fast::RandomState>;

/// The membership lookups of this replica, through the cache.
pub struct Memberships {
    cache: Option<Cache>,
}

impl Memberships {
    /// A cache holding each role `seconds` (0 turns the cache off).
    pub fn new(seconds: u32) -> Self {
        let cache = (seconds > 0).then(|| {
            moka::future::Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(Duration::from_secs(u64::from(seconds)))
                .build_with_hasher(foldhash::fast::RandomState::default())
        });
        Memberships { cache }
    }

    /// The person's role in the organization; `None` when they are not a member.
    pub async fn role_in(
        &self,
        store: &Arc<dyn Store>,
        organization: &str,
        person: &str,
    ) -> Result<Option<Role>, StoreError> {
        let Some(cache) = &self.cache else {
            return store.role_in(organization, person).await;
        };
        let key = (organization.to_owned(), person.to_owned());
        if let Some(hit) = cache.get(&key).await {
            return Ok(hit);
        }
        let role = store.role_in(organization, person).await?;
        cache.insert(key, role).await;
        Ok(role)
    }

    /// Forgets what is known of the pair (after a removal or role change on this replica).
    pub async fn forget(&self, organization: &str, person: &str) {
        if let Some(cache) = &self.cache {
            cache
                .invalidate(&(organization.to_owned(), person.to_owned()))
                .await;
        }
    }
}
