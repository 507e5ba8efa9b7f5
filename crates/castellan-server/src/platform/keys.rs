//! The signing keys a replica uses: loaded from storage, the first key created on
//! first start, re-read periodically and when a token names an unknown `kid`, rotated on
//! demand with the previous key kept in the JWKS until the last token it signed has expired.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use castellan_core::ids::alphanumeric_id;
use castellan_core::Secret;
use castellan_crypto::{random_bytes, Algorithm, KeySet, SigningKey};
use castellan_store::{Store, StoreError, StoredKey};
use chrono::{DateTime, Duration, Utc};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

/// Why the signing keys could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored key could not be read or a new one made.
    #[error("signing key: {0}")]
    Key(#[from] castellan_crypto::KeyError),
}

/// Least time between two reloads caused by unknown `kid`s, so forged kids cannot turn every
/// request into a storage read.
const MIN_ON_DEMAND_RELOAD: std::time::Duration = std::time::Duration::from_secs(1);

/// The signing keys of this replica, reloaded from storage.
pub struct KeyManager {
    store: Arc<dyn Store>,
    current: RwLock<Loaded>,
    last_reload: Mutex<Instant>,
}

/// The current key set and what it was built from, replaced together, so a reload that finds
/// the same keys keeps the set and concurrent reloads cannot leave a set beside another's
/// listing.
struct Loaded {
    set: Arc<KeySet>,
    from: Vec<KeyListing>,
    derived: [u8; 32],
    /// The derived secret before the last change, still accepted for what it keyed (a nonce
    /// given out just before the oldest key expired).
    previous: Option<[u8; 32]>,
}

/// A secret every replica derives alike from the stored keys: SHA-256 of a label and the
/// oldest key's private key (it changes only when that key expires). Keys nothing that must
/// outlive a key, such as DPoP nonces.
fn derived_secret(stored: &[StoredKey]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"castellan derived secret\0");
    let oldest = stored
        .iter()
        .min_by(|a, b| (a.created_at, &a.kid).cmp(&(b.created_at, &b.kid)));
    if let Some(oldest) = oldest {
        h.update(oldest.private_pkcs8.expose().as_bytes());
    }
    h.finalize().into()
}

/// A stored key as far as the key set depends on it (the key material of a kid never changes).
type KeyListing = (String, String, Option<DateTime<Utc>>, Option<DateTime<Utc>>);

fn listing(stored: &[StoredKey]) -> Vec<KeyListing> {
    stored
        .iter()
        .map(|k| (k.kid.clone(), k.alg.clone(), k.retired_at, k.expires_at))
        .collect()
}

/// A fresh key of `alg`, answered with its stored form.
pub fn new_key(alg: Algorithm, now: DateTime<Utc>) -> Result<(SigningKey, StoredKey), KeysError> {
    let kid =
        alphanumeric_id(&random_bytes::<32>(), 16).unwrap_or_else(|| now.timestamp().to_string());
    let (key, der) = SigningKey::generate(alg, kid.clone())?;
    let stored = StoredKey {
        kid,
        alg: alg.name().to_owned(),
        private_pkcs8: Secret::new(URL_SAFE_NO_PAD.encode(der)),
        created_at: now,
        retired_at: None,
        expires_at: None,
    };
    Ok((key, stored))
}

impl KeyManager {
    /// Loads the keys, creating the first key of each algorithm in `ensure` if storage has
    /// none.
    pub async fn start(
        store: Arc<dyn Store>,
        ensure: &[Algorithm],
        now: DateTime<Utc>,
    ) -> Result<KeyManager, KeysError> {
        for alg in ensure {
            let existing = store.list_signing_keys(now).await?;
            if !existing
                .iter()
                .any(|k| k.alg == alg.name() && k.retired_at.is_none())
            {
                let (_, stored) = new_key(*alg, now)?;
                store.insert_first_signing_key(&stored).await?;
            }
        }
        let stored = store.list_signing_keys(now).await?;
        let set = build(&stored)?;
        Ok(KeyManager {
            store,
            current: RwLock::new(Loaded {
                set: Arc::new(set),
                from: listing(&stored),
                derived: derived_secret(&stored),
                previous: None,
            }),
            last_reload: Mutex::new(Instant::now()),
        })
    }

    /// The keys in force.
    pub fn keys(&self) -> Arc<KeySet> {
        match self.current.read() {
            Ok(g) => Arc::clone(&g.set),
            Err(poisoned) => Arc::clone(&poisoned.into_inner().set),
        }
    }

    /// The secret derived from the stored keys ([`derived_secret`]).
    pub fn derived_secret(&self) -> [u8; 32] {
        self.derived_secrets().0
    }

    /// The secret derived from the stored keys, and the one before it if it changed since
    /// this replica started (what it keyed is still accepted).
    pub fn derived_secrets(&self) -> ([u8; 32], Option<[u8; 32]>) {
        match self.current.read() {
            Ok(g) => (g.derived, g.previous),
            Err(poisoned) => {
                let g = poisoned.into_inner();
                (g.derived, g.previous)
            }
        }
    }

    /// Re-reads the keys from storage. When storage lists the same keys as last time, the
    /// current set is kept: parsing keys again (an RSA key's check takes milliseconds) would
    /// stall every request waiting on this thread, each period, for nothing.
    pub async fn reload(&self, now: DateTime<Utc>) -> Result<(), KeysError> {
        let stored = self.store.list_signing_keys(now).await?;
        let fresh = listing(&stored);
        let unchanged = match self.current.read() {
            Ok(g) => g.from == fresh,
            Err(poisoned) => poisoned.into_inner().from == fresh,
        };
        if !unchanged {
            let set = Arc::new(build(&stored)?);
            let derived = derived_secret(&stored);
            let replace = |g: &mut Loaded| {
                let previous = (g.derived != derived).then_some(g.derived).or(g.previous);
                *g = Loaded {
                    set,
                    from: fresh,
                    derived,
                    previous,
                };
            };
            match self.current.write() {
                Ok(mut g) => replace(&mut g),
                Err(poisoned) => replace(&mut poisoned.into_inner()),
            }
        }
        if let Ok(mut t) = self.last_reload.lock() {
            *t = Instant::now();
        }
        Ok(())
    }

    /// Reloads because a token named `kid`, unless a reload happened very recently. Answers
    /// whether the kid is known afterwards.
    pub async fn reload_for_unknown_kid(&self, kid: &str, now: DateTime<Utc>) -> bool {
        let due = self
            .last_reload
            .lock()
            .map_or(true, |t| t.elapsed() >= MIN_ON_DEMAND_RELOAD);
        if due {
            if let Err(e) = self.reload(now).await {
                tracing::warn!(error = %e, "reloading signing keys failed");
            }
        }
        self.keys().has_kid(kid)
    }
}

/// Rotates the key of `alg`: the new key signs from now on; the previous one stays published
/// until `now + keep_for`.
pub async fn rotate(
    store: &dyn Store,
    alg: Algorithm,
    now: DateTime<Utc>,
    keep_for: Duration,
) -> Result<String, KeysError> {
    let (_, stored) = new_key(alg, now)?;
    store.rotate_signing_key(&stored, now + keep_for).await?;
    Ok(stored.kid)
}

/// The key set of the stored keys (newest first).
fn build(stored: &[StoredKey]) -> Result<KeySet, KeysError> {
    let mut signers = Vec::new();
    let mut published = Vec::new();
    for k in stored {
        let Some(alg) = Algorithm::from_name(&k.alg) else {
            tracing::warn!(kid = %k.kid, alg = %k.alg, "skipping a stored key of unknown algorithm");
            continue;
        };
        let der = URL_SAFE_NO_PAD
            .decode(k.private_pkcs8.expose())
            .map_err(|_| castellan_crypto::KeyError::Parse("stored"))?;
        let key = SigningKey::from_pkcs8(alg, k.kid.clone(), &der)?;
        published.push(key.verifying_key()?);
        // Keys come newest first: the first unretired key of an algorithm signs.
        if k.retired_at.is_none() && !signers.iter().any(|s: &SigningKey| s.algorithm() == alg) {
            signers.push(key);
        }
    }
    Ok(KeySet::new(signers, published))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reload that finds the same keys keeps the parsed set; one after a rotation builds the
    /// new set, which signs with the new key and still publishes the old one.
    #[tokio::test]
    async fn a_reload_parses_keys_again_only_when_they_changed() {
        let store: Arc<dyn Store> = castellan_store::connect("sqlite::memory:").await.unwrap();
        let now = Utc::now();
        let keys = KeyManager::start(
            Arc::clone(&store),
            &[Algorithm::Es256, Algorithm::Rs256],
            now,
        )
        .await
        .unwrap();
        let before = keys.keys();
        keys.reload(now).await.unwrap();
        assert!(Arc::ptr_eq(&before, &keys.keys()));
        let old_kid = before.signer(Algorithm::Es256).unwrap().kid().to_owned();
        let new_kid = rotate(store.as_ref(), Algorithm::Es256, now, Duration::hours(1))
            .await
            .unwrap();
        keys.reload(now).await.unwrap();
        let after = keys.keys();
        assert!(!Arc::ptr_eq(&before, &after));
        assert_eq!(after.signer(Algorithm::Es256).unwrap().kid(), new_kid);
        assert!(after.has_kid(&old_kid));
    }

    /// The derived secret follows the oldest stored key: a rotation leaves it, the oldest
    /// key's expiry changes it, and the one before stays known (what it keyed stays good).
    #[tokio::test]
    async fn the_derived_secret_changes_when_the_oldest_key_expires_and_the_last_one_is_kept() {
        let store: Arc<dyn Store> = castellan_store::connect("sqlite::memory:").await.unwrap();
        let now = Utc::now();
        let keys = KeyManager::start(Arc::clone(&store), &[Algorithm::Es256], now)
            .await
            .unwrap();
        let (first, previous) = keys.derived_secrets();
        assert_eq!(previous, None);
        let then = now + Duration::seconds(1);
        rotate(
            store.as_ref(),
            Algorithm::Es256,
            then,
            Duration::seconds(60),
        )
        .await
        .unwrap();
        keys.reload(then).await.unwrap();
        assert_eq!(
            keys.derived_secrets(),
            (first, None),
            "the oldest key is still there"
        );
        // Past the old key's end: it is no longer listed, and the secret moves on.
        let later = now + Duration::seconds(120);
        keys.reload(later).await.unwrap();
        let (second, previous) = keys.derived_secrets();
        assert_ne!(second, first);
        assert_eq!(previous, Some(first));
    }
}
