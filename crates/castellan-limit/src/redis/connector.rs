//! Lazy, self-healing access to Redis. Construction never connects, so a Redis that is down at
//! start-up cannot stop the server. The first check spawns a background task that connects
//! (retrying with backoff until it succeeds); checks wait for it only within their own timeout
//! and, once an attempt has failed, not at all. After the first connection, redis'
//! `ConnectionManager` reconnects by itself whenever the link breaks.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::Notify;

/// Bound on one TCP connect + handshake attempt of the background task.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Backoff of the background task between failed attempts.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

pub(crate) struct Connector {
    client: redis::Client,
    response_timeout: Duration,
    slot: RwLock<Option<ConnectionManager>>,
    ready: Notify,
    connecting: AtomicBool,
    last_attempt_failed: AtomicBool,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("connected", &self.current().is_some())
            .field("connecting", &self.connecting.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Connector {
    pub(crate) fn new(client: redis::Client, response_timeout: Duration) -> Self {
        Self {
            client,
            response_timeout,
            slot: RwLock::new(None),
            ready: Notify::new(),
            connecting: AtomicBool::new(false),
            last_attempt_failed: AtomicBool::new(false),
        }
    }

    fn current(&self) -> Option<ConnectionManager> {
        self.slot
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The connection, waiting for a first connection in progress (callers bound the wait).
    /// `None` when no connection exists and the last attempt failed.
    pub(crate) async fn get(self: &Arc<Self>) -> Option<ConnectionManager> {
        if let Some(c) = self.current() {
            return Some(c);
        }
        let notified = self.ready.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if let Some(c) = self.current() {
            return Some(c);
        }
        self.spawn_connect();
        if self.last_attempt_failed.load(Ordering::Acquire) {
            return None;
        }
        notified.await;
        self.current()
    }

    fn spawn_connect(self: &Arc<Self>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.connecting.swap(true, Ordering::AcqRel) {
            return;
        }
        let weak = Arc::downgrade(self);
        runtime.spawn(connect_loop(weak));
    }
}

/// Runs until connected, or until the limiter is dropped (it holds only a weak reference
/// while sleeping, so an abandoned limiter does not keep retrying forever).
async fn connect_loop(weak: Weak<Connector>) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        let Some(this) = weak.upgrade() else {
            return;
        };
        {
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(CONNECT_TIMEOUT)
                // Reconnection after a broken link: a few quick tries, then the next check
                // triggers another round.
                .set_number_of_retries(2)
                .set_factor(10)
                .set_max_delay(500);
            let config = config.set_response_timeout(this.response_timeout);
            match ConnectionManager::new_with_config(this.client.clone(), config).await {
                Ok(conn) => {
                    *this.slot.write().unwrap_or_else(PoisonError::into_inner) = Some(conn);
                    this.last_attempt_failed.store(false, Ordering::Release);
                    this.connecting.store(false, Ordering::Release);
                    this.ready.notify_waiters();
                    tracing::info!("redis rate limiter connected");
                    return;
                }
                Err(e) => {
                    this.last_attempt_failed.store(true, Ordering::Release);
                    this.ready.notify_waiters();
                    tracing::debug!(kind = ?e.kind(), "redis rate limiter connect attempt failed");
                }
            }
        }
        drop(this);
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}
