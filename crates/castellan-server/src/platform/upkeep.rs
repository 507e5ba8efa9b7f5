//! Background upkeep each replica runs: telling the clients of sessions an operator's command
//! ended (back-channel logout), purging clients past `deleteAt`, expired revocations,
//! opaque tokens, sessions, authorization codes (a day past expiry) and email links, audit
//! events past `audit.retention_days`, one-time ids, revocation-feed entries no token can still
//! match and signing keys, and re-reading the signing keys. Every step is idempotent, so
//! replicas running it at once do no harm; the store deletes in batches, so a large purge does
//! not hold the write lock for long.

use crate::platform::state::AppState;
use std::time::Duration;

/// Runs upkeep every `keys.reload_seconds` until the process ends.
pub fn spawn(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let period = Duration::from_secs(u64::from(state.config.keys.reload_seconds));
        let mut tick = tokio::time::interval(period);
        tick.tick().await;
        loop {
            tick.tick().await;
            run_once(&state).await;
        }
    })
}

/// One upkeep pass: purges deleted clients, expired tokens, old revocation-feed entries and expired
/// signing keys, then reloads the signing keys.
pub async fn run_once(state: &AppState) {
    let now = state.clock.now();
    match state.store.purge_deleted_clients(now).await {
        Ok(n) if n > 0 => tracing::info!(count = n, "purged clients past deleteAt"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "purging clients failed"),
    }
    // Sessions an operator's command ended: their clients are told before the purge below
    // drops what is left of expired sessions.
    let told = crate::oauth::backchannel_logout::tell_unannounced(state).await;
    if told > 0 {
        tracing::info!(count = told, "told the clients of sessions ended elsewhere");
    }
    if let Err(e) = state.store.purge_expired_tokens(now).await {
        tracing::warn!(error = %e, "purging expired tokens failed");
    }
    if let Err(e) = state.store.purge_used_ids(now).await {
        tracing::warn!(error = %e, "purging expired one-time ids failed");
    }
    if let Err(e) = state.store.purge_pushed_requests(now).await {
        tracing::warn!(error = %e, "purging expired pushed authorization requests failed");
    }
    if let Err(e) = state.store.purge_links(now).await {
        tracing::warn!(error = %e, "purging expired email links failed");
    }
    if let Err(e) = state.store.purge_devices(now).await {
        tracing::warn!(error = %e, "purging expired device authorizations failed");
    }
    let oldest_live = now - crate::oauth::revocation_feed::horizon(state);
    if let Err(e) = state.store.purge_revocations(now, oldest_live).await {
        tracing::warn!(error = %e, "purging the revocation feed failed");
    }
    let kept_from = now - chrono::Duration::days(i64::from(state.config.audit.retention_days));
    match state.store.purge_audit_events(kept_from).await {
        Ok(n) if n > 0 => tracing::info!(count = n, "purged audit events past retention"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "purging the audit log failed"),
    }
    if let Err(e) = state.store.purge_signing_keys(now).await {
        tracing::warn!(error = %e, "purging expired keys failed");
    }
    if let Err(e) = state.keys.reload(now).await {
        tracing::warn!(error = %e, "reloading signing keys failed");
    }
}
