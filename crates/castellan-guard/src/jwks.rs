//! The JWKS (RFC 7517 §5) of the trusted issuer, cached in memory: fetched on first use,
//! refreshed in the background when older than the refresh interval, and refetched when a
//! token names an unknown `kid` (a key rotated in since the last fetch) — at most once per
//! `min_refetch`, with concurrent misses waiting on one fetch — so that forged kids cannot turn
//! into a request flood.

use crate::failure::Failure;
use castellan_crypto::VerifyingKey;
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

pub(crate) type KeyMap = HashMap<String, VerifyingKey>;

#[derive(Debug, thiserror::Error)]
pub(crate) enum FetchError {
    #[error("JWKS request failed: {0}")]
    Http(#[from] reqwest::Error),
    #[error("JWKS answered {0}")]
    Status(reqwest::StatusCode),
}

#[derive(Deserialize)]
struct Document {
    keys: Vec<Value>,
}

pub(crate) struct JwksCache {
    url: String,
    http: reqwest::Client,
    keys: RwLock<Arc<KeyMap>>,
    fetched_at: Mutex<Option<Instant>>,
    last_unknown_refetch: Mutex<Option<Instant>>,
    fetch_lock: tokio::sync::Mutex<()>,
    refreshing: AtomicBool,
    refresh_every: Duration,
    min_refetch: Duration,
    fetches: AtomicU64,
}

fn read<T: Copy>(m: &Mutex<T>) -> T {
    match m.lock() {
        Ok(g) => *g,
        Err(p) => *p.into_inner(),
    }
}

fn write<T>(m: &Mutex<T>, v: T) {
    match m.lock() {
        Ok(mut g) => *g = v,
        Err(p) => *p.into_inner() = v,
    }
}

impl JwksCache {
    pub fn new(
        url: String,
        http: reqwest::Client,
        refresh_every: Duration,
        min_refetch: Duration,
    ) -> Self {
        JwksCache {
            url,
            http,
            keys: RwLock::new(Arc::new(KeyMap::new())),
            fetched_at: Mutex::new(None),
            last_unknown_refetch: Mutex::new(None),
            fetch_lock: tokio::sync::Mutex::new(()),
            refreshing: AtomicBool::new(false),
            refresh_every,
            min_refetch,
            fetches: AtomicU64::new(0),
        }
    }

    pub fn fetch_count(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    fn current(&self) -> Arc<KeyMap> {
        match self.keys.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// The keys to verify with: fetched the first time, refreshed in the background when stale.
    pub async fn keys(self: &Arc<Self>) -> Result<Arc<KeyMap>, Failure> {
        if let Some(at) = read(&self.fetched_at) {
            if at.elapsed() >= self.refresh_every {
                self.spawn_refresh();
            }
            return Ok(self.current());
        }
        let _one = self.fetch_lock.lock().await;
        if read(&self.fetched_at).is_some() {
            return Ok(self.current());
        }
        self.fetch().await.map_err(|e| {
            tracing::error!(error = %e, url = %self.url, "fetching the JWKS failed");
            Failure::KeysUnavailable
        })
    }

    /// After a token named `kid` that no cached key has: refetch, unless an unknown-kid refetch
    /// happened within `min_refetch`. Answers the fresh keys if they hold `kid`.
    pub async fn refetch_for_unknown(&self, kid: &str) -> Result<Option<Arc<KeyMap>>, Failure> {
        let _one = self.fetch_lock.lock().await;
        let cur = self.current();
        if cur.contains_key(kid) {
            return Ok(Some(cur));
        }
        if read(&self.last_unknown_refetch).is_some_and(|t| t.elapsed() < self.min_refetch) {
            return Ok(None);
        }
        write(&self.last_unknown_refetch, Some(Instant::now()));
        match self.fetch().await {
            Ok(keys) => Ok(keys.contains_key(kid).then_some(keys)),
            Err(e) => {
                tracing::error!(error = %e, url = %self.url, "refetching the JWKS failed");
                Err(Failure::KeysUnavailable)
            }
        }
    }

    fn spawn_refresh(self: &Arc<Self>) {
        if self.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let me = Arc::clone(self);
        tokio::spawn(async move {
            {
                let _one = me.fetch_lock.lock().await;
                let stale = read(&me.fetched_at).is_none_or(|t| t.elapsed() >= me.refresh_every);
                if stale {
                    if let Err(e) = me.fetch().await {
                        tracing::warn!(error = %e, url = %me.url, "background JWKS refresh failed; keeping the cached keys");
                    }
                }
            }
            me.refreshing.store(false, Ordering::Release);
        });
    }

    /// One fetch; the caller holds `fetch_lock`.
    async fn fetch(&self) -> Result<Arc<KeyMap>, FetchError> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let res = self.http.get(&self.url).send().await?;
        if !res.status().is_success() {
            return Err(FetchError::Status(res.status()));
        }
        let doc: Document = res.json().await?;
        let keys: KeyMap = doc
            .keys
            .iter()
            .filter(|jwk| {
                jwk.get("use")
                    .and_then(Value::as_str)
                    .is_none_or(|u| u == "sig")
            })
            .filter_map(|jwk| match VerifyingKey::from_jwk(jwk) {
                Ok(k) => Some((k.kid().to_owned(), k)),
                Err(e) => {
                    tracing::warn!(error = %e, "skipping a JWK the guard cannot use");
                    None
                }
            })
            .collect();
        let keys = Arc::new(keys);
        match self.keys.write() {
            Ok(mut g) => *g = Arc::clone(&keys),
            Err(p) => *p.into_inner() = Arc::clone(&keys),
        }
        write(&self.fetched_at, Some(Instant::now()));
        Ok(keys)
    }
}
