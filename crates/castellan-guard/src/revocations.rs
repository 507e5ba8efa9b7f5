//! What Castellan revoked, learnt from its revocation feed (`GET /oauth/revocations`),
//! so that JWTs verified locally stop working once revoked: a JWT (by `jti`), a
//! token family (`gid`: refresh-token reuse, a revoked refresh token, a replayed code), a
//! connected app (a client's tokens for one user issued before the revocation) or a deleted
//! client (its tokens issued before the deletion).
//!
//! A background task reads the feed every `revocation_poll_seconds` with the guard's client
//! credentials, from the cursor it reached. The bound: a revoked JWT is refused at most one
//! poll interval (plus one feed request) after its revocation. When the feed has not been read
//! successfully for more than `revocation_max_stale_seconds`, every JWT is refused with 503
//! `revocations_unavailable`: the guard fails closed rather than accept tokens it cannot
//! know to be unrevoked. The first check of a guard waits for a first read.

use crate::config::ClientSecret;
use crate::failure::Failure;
use crate::jwt::Marks;
use castellan_core::revocation::Revoked;
use castellan_core::token::Inactive;
use castellan_core::Secret;
use castellan_crypto::Clock;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Entries asked for per feed request.
const PAGE: u32 = 500;

#[derive(Debug, Deserialize)]
struct Page {
    entries: Vec<Entry>,
    next: i64,
}

#[derive(Debug, Deserialize)]
struct Entry {
    kind: String,
    value: String,
    #[serde(default)]
    subject: Option<String>,
    revoked_at: i64,
    expires_at: i64,
}

#[derive(Debug, Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
enum FeedError {
    #[error("request failed: {0}")]
    Http(#[from] reqwest::Error),
    #[error("the token endpoint answered {0}")]
    TokenStatus(reqwest::StatusCode),
    #[error("the feed answered {0}")]
    FeedStatus(reqwest::StatusCode),
}

/// What is known to be revoked, each with the Unix second after which it no longer matters.
#[derive(Default)]
struct Known {
    cursor: i64,
    /// When the feed was last read through to its end (Unix seconds, when the read started).
    read_at: Option<i64>,
    jtis: HashMap<String, i64>,
    families: HashMap<String, i64>,
    /// client id → user id → (revoked at, matters until).
    apps: HashMap<String, HashMap<String, (i64, i64)>>,
    /// client id → (revoked at, matters until).
    clients: HashMap<String, (i64, i64)>,
}

impl Known {
    fn apply(&mut self, e: Entry) {
        let Some(revoked) = Revoked::from_parts(&e.kind, &e.value, e.subject.as_deref()) else {
            // A kind this guard does not know yet: nothing it could match.
            return;
        };
        match revoked {
            Revoked::Jwt(jti) => {
                self.jtis.insert(jti, e.expires_at);
            }
            Revoked::Family(gid) => {
                self.families.insert(gid, e.expires_at);
            }
            Revoked::ConnectedApp { client_id, user_id } => {
                let users = self.apps.entry(client_id).or_default();
                let at = users.entry(user_id).or_insert((0, 0));
                *at = (at.0.max(e.revoked_at), at.1.max(e.expires_at));
            }
            Revoked::Client(client_id) => {
                let at = self.clients.entry(client_id).or_insert((0, 0));
                *at = (at.0.max(e.revoked_at), at.1.max(e.expires_at));
            }
        }
    }

    /// Forgets entries no token can still match at `now`.
    fn prune(&mut self, now: i64) {
        self.jtis.retain(|_, until| *until >= now);
        self.families.retain(|_, until| *until >= now);
        self.apps.retain(|_, users| {
            users.retain(|_, (_, until)| *until >= now);
            !users.is_empty()
        });
        self.clients.retain(|_, (_, until)| *until >= now);
    }

    fn revoked(&self, m: &Marks) -> bool {
        self.jtis.contains_key(&m.jti)
            || m.gid
                .as_ref()
                .is_some_and(|g| self.families.contains_key(g))
            || self
                .apps
                .get(&m.client_id)
                .and_then(|users| users.get(&m.sub))
                .is_some_and(|(at, _)| m.iat <= *at)
            // A deleted client's id is never used again: every token of it is refused, whatever
            // the clocks of the replicas that issued it and deleted the client say.
            || self.clients.contains_key(&m.client_id)
    }
}

/// Whether a feed last read to its end at `read_at` still tells what was revoked at `now`:
/// read at most `max_stale` seconds ago. A clock that stepped back more than `leeway` since
/// the read cannot say how old the read is, so that fails closed too, until the next read
/// (within one poll interval).
fn fresh(read_at: Option<i64>, now: i64, max_stale: i64, leeway: i64) -> bool {
    read_at
        .is_some_and(|at| now.saturating_sub(at) <= max_stale && at.saturating_sub(leeway) <= now)
}

pub(crate) struct RevocationFeed {
    pub url: String,
    pub token_url: String,
    pub client_id: String,
    pub secret: ClientSecret,
    pub http: reqwest::Client,
    pub poll: Duration,
    pub max_stale: i64,
    /// Kept past an entry's end (the token check's leeway).
    pub leeway: i64,
    pub clock: Arc<dyn Clock>,
    known: RwLock<Known>,
    bearer: tokio::sync::Mutex<Option<(Secret, i64)>>,
    reading: tokio::sync::Mutex<()>,
    started: AtomicBool,
    reads: AtomicU64,
    /// When a check last tried a first read (Unix seconds): at most one try a second, so a
    /// feed that is down does not hold every request behind its own attempt.
    first_try: AtomicI64,
}

impl RevocationFeed {
    #[expect(
        clippy::too_many_arguments,
        reason = "built in one place, from the guard's settings; a struct would repeat them"
    )]
    pub fn new(
        url: String,
        token_url: String,
        client_id: String,
        secret: ClientSecret,
        http: reqwest::Client,
        poll: Duration,
        max_stale: Duration,
        leeway: i64,
        clock: Arc<dyn Clock>,
    ) -> Self {
        RevocationFeed {
            url,
            token_url,
            client_id,
            secret,
            http,
            poll,
            max_stale: i64::try_from(max_stale.as_secs()).unwrap_or(i64::MAX),
            leeway,
            clock,
            known: RwLock::new(Known::default()),
            bearer: tokio::sync::Mutex::new(None),
            reading: tokio::sync::Mutex::new(()),
            started: AtomicBool::new(false),
            reads: AtomicU64::new(0),
            first_try: AtomicI64::new(i64::MIN),
        }
    }

    /// How many times the feed was read successfully (observability, tests).
    pub fn read_count(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// Refuses a JWT that was revoked, or every JWT when the feed is too stale to tell.
    pub async fn check(self: &Arc<Self>, marks: &Marks, now: i64) -> Result<(), Failure> {
        self.start();
        if self.read_at().is_none() {
            self.first_read(now).await;
        }
        let known = match self.known.read() {
            Ok(k) => k,
            Err(p) => p.into_inner(),
        };
        if !fresh(known.read_at, now, self.max_stale, self.leeway) {
            return Err(Failure::RevocationsUnavailable);
        }
        if known.revoked(marks) {
            return Err(Failure::Token(Inactive::Revoked));
        }
        Ok(())
    }

    fn read_at(&self) -> Option<i64> {
        match self.known.read() {
            Ok(k) => k.read_at,
            Err(p) => p.into_inner().read_at,
        }
    }

    /// Starts the background reader once; it ends when the guard is dropped.
    fn start(self: &Arc<Self>) {
        // A plain read on every request; the swap only until the reader runs.
        if self.started.load(Ordering::Acquire) || self.started.swap(true, Ordering::AcqRel) {
            return;
        }
        let feed = Arc::downgrade(self);
        let period = self.poll;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(feed) = feed.upgrade() else { break };
                feed.read().await;
            }
        });
    }

    /// The read a check waits for before the feed was ever read (one try a second).
    async fn first_read(&self, now: i64) {
        let _one_at_a_time = self.reading.lock().await;
        if self.read_at().is_some() || self.first_try.load(Ordering::Acquire) >= now {
            return;
        }
        self.first_try.store(now, Ordering::Release);
        self.read_locked().await;
    }

    /// Reads the feed to its end; a failure is logged and leaves what was known.
    async fn read(&self) {
        let _one_at_a_time = self.reading.lock().await;
        self.read_locked().await;
    }

    async fn read_locked(&self) {
        let started = self.clock.now().timestamp();
        match self.read_to_end(started).await {
            Ok(()) => {
                self.reads.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => tracing::warn!(error = %e, "reading the revocation feed failed"),
        }
    }

    async fn read_to_end(&self, started: i64) -> Result<(), FeedError> {
        let bearer = self.bearer(started).await?;
        let mut cursor = match self.known.read() {
            Ok(k) => k.cursor,
            Err(p) => p.into_inner().cursor,
        };
        loop {
            let res = self
                .http
                .get(&self.url)
                .query(&[("since", cursor.to_string()), ("limit", PAGE.to_string())])
                .bearer_auth(bearer.expose())
                .send()
                .await?;
            if res.status() == reqwest::StatusCode::UNAUTHORIZED {
                // The token may have been revoked or the keys rotated: get a new one next time.
                *self.bearer.lock().await = None;
            }
            if !res.status().is_success() {
                return Err(FeedError::FeedStatus(res.status()));
            }
            let page: Page = res.json().await?;
            let full = page.entries.len() >= PAGE as usize;
            let mut known = match self.known.write() {
                Ok(k) => k,
                Err(p) => p.into_inner(),
            };
            for e in page.entries {
                known.apply(e);
            }
            known.cursor = known.cursor.max(page.next);
            cursor = known.cursor;
            if !full {
                known.read_at = Some(started);
                known.prune(started.saturating_sub(self.leeway));
                return Ok(());
            }
        }
    }

    /// A `client_credentials` token with the `introspect` scope, reused until shortly before
    /// it expires.
    async fn bearer(&self, now: i64) -> Result<Secret, FeedError> {
        let mut held = self.bearer.lock().await;
        if let Some((token, until)) = &*held {
            if *until > now {
                return Ok(token.clone());
            }
        }
        let res = self
            .http
            .post(&self.token_url)
            .basic_auth(&self.client_id, Some(self.secret.expose()))
            .form(&[
                ("grant_type", "client_credentials"),
                ("scope", castellan_core::scope::INTROSPECT),
            ])
            .send()
            .await?;
        if !res.status().is_success() {
            return Err(FeedError::TokenStatus(res.status()));
        }
        let answer: TokenAnswer = res.json().await?;
        let token = Secret::new(answer.access_token);
        let lifetime = answer.expires_in.unwrap_or(60);
        *held = Some((token.clone(), now + (lifetime - 30).max(lifetime / 2)));
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marks(jti: &str, gid: Option<&str>, client: &str, sub: &str, iat: i64) -> Marks {
        Marks {
            jti: jti.into(),
            gid: gid.map(Into::into),
            client_id: client.into(),
            sub: sub.into(),
            iat,
            jkt: None,
            tier: None,
        }
    }

    fn entry(kind: &str, value: &str, subject: Option<&str>, at: i64) -> Entry {
        Entry {
            kind: kind.into(),
            value: value.into(),
            subject: subject.map(Into::into),
            revoked_at: at,
            expires_at: at + 100,
        }
    }

    #[test]
    fn a_read_is_fresh_for_max_stale_and_a_clock_stepped_back_fails_closed() {
        assert!(!fresh(None, 1_000, 120, 60));
        assert!(fresh(Some(1_000), 1_000, 120, 60));
        assert!(fresh(Some(1_000), 1_120, 120, 60));
        assert!(!fresh(Some(1_000), 1_121, 120, 60));
        // The clock went back: within the leeway still fresh, beyond it not.
        assert!(fresh(Some(1_000), 940, 120, 60));
        assert!(!fresh(Some(1_000), 939, 120, 60));
        assert!(!fresh(Some(1_000), i64::MIN, 120, 60));
    }

    #[test]
    fn each_kind_matches_its_tokens() {
        let mut k = Known::default();
        k.apply(entry("jwt", "j1", None, 1_000));
        k.apply(entry("family", "f1", None, 1_000));
        k.apply(entry("connected_app", "app", Some("u1"), 1_000));
        k.apply(entry("client", "gone", None, 1_000));
        k.apply(entry("future_kind", "x", None, 1_000));
        assert!(k.revoked(&marks("j1", None, "c", "s", 900)));
        assert!(k.revoked(&marks("j2", Some("f1"), "c", "s", 900)));
        assert!(!k.revoked(&marks("j2", Some("f2"), "c", "s", 900)));
        // A connected app: tokens issued up to the revocation, not after (a later consent).
        assert!(k.revoked(&marks("j3", None, "app", "u1", 1_000)));
        assert!(!k.revoked(&marks("j3", None, "app", "u1", 1_001)));
        assert!(!k.revoked(&marks("j3", None, "app", "u2", 900)));
        // A deleted client: every token, even one whose `iat` a replica with a clock ahead
        // put after the deletion.
        assert!(k.revoked(&marks("j4", None, "gone", "gone", 999)));
        assert!(k.revoked(&marks("j4", None, "gone", "gone", 1_001)));
        // Entries are forgotten once no token can match them.
        k.prune(1_101);
        assert!(!k.revoked(&marks("j1", None, "c", "s", 900)));
        assert!(k.jtis.is_empty() && k.families.is_empty());
        assert!(k.apps.is_empty() && k.clients.is_empty());
    }
}
