//! Back-channel logout (OpenID Connect Back-Channel Logout 1.0): when a browser session ends
//! (signing out, RP-initiated logout, the sessions page), each client that got a code in it and
//! registered a `backchannel_logout_uri` is sent a logout token, in the background: the person's
//! request never waits for it.
//!
//! The logout token is a JWT of type `logout+jwt` (§2.4), signed like ID tokens, with `iss`,
//! `aud` (the client), `iat`, `exp` (two minutes), `jti`, `sub` (the person), `sid` (the
//! session, as the ID tokens issued in it say) and the `events` member naming the logout event;
//! never a `nonce`. It is POSTed as `logout_token` (form-encoded) under the outbound rules of
//! every fetch (https, no private address; redirects not followed), within five seconds, and
//! tried again after one and five seconds when the answer is not 200 or 204 (§2.8). Which
//! clients a session had is taken (deleted) when it ends, so each is told once. At most
//! [`DELIVERIES_AT_ONCE`] deliveries run at once; a process that stops drops those not yet made.
//!
//! A client registered with `logout_revokes_refresh_tokens` also loses, when a session ends,
//! the refresh-token families it was issued in that session (offline access included, which
//! §2.7 otherwise leaves running).

use crate::oauth::id_token::id_token_algorithm;
use crate::platform::state::AppState;
use castellan_crypto::jws;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use std::sync::{Arc, OnceLock};
use tokio::sync::Semaphore;

/// The event a logout token carries (§2.4).
pub const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// How long a logout token is valid.
const LIFETIME_SECONDS: i64 = 120;
/// How long one delivery may take.
const ATTEMPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// The pauses before the second and third deliveries.
const RETRY_AFTER: [std::time::Duration; 2] = [
    std::time::Duration::from_secs(1),
    std::time::Duration::from_secs(5),
];

/// How many deliveries run at once in this process (each takes up to about 21 s when a client
/// does not answer): a burst of sign-outs queues instead of opening connections without bound.
const DELIVERIES_AT_ONCE: usize = 64;

/// The deliveries' permits, shared by the whole process.
fn deliveries() -> &'static Arc<Semaphore> {
    static PERMITS: OnceLock<Arc<Semaphore>> = OnceLock::new();
    PERMITS.get_or_init(|| Arc::new(Semaphore::new(DELIVERIES_AT_ONCE)))
}

#[derive(Serialize)]
struct LogoutClaims<'a> {
    iss: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
    jti: String,
    sub: &'a str,
    sid: &'a str,
    events: serde_json::Value,
}

/// The logout token telling `client_id` that `user_id`'s session `sid` ended at `now`.
pub fn logout_token(
    state: &AppState,
    client_id: &str,
    user_id: &str,
    sid: &str,
    now: DateTime<Utc>,
) -> Option<String> {
    let keys = state.keys.keys();
    let key = keys.signer(id_token_algorithm(state))?;
    let claims = LogoutClaims {
        iss: &state.config.issuer,
        aud: client_id,
        iat: now.timestamp(),
        exp: (now + Duration::seconds(LIFETIME_SECONDS)).timestamp(),
        jti: castellan_crypto::random_id(24),
        sub: user_id,
        sid,
        events: serde_json::json!({ LOGOUT_EVENT: {} }),
    };
    jws::sign(key, "logout+jwt", &claims).ok()
}

/// The sessions `session_ids` ended: their clients are told in the background.
pub fn sessions_ended(state: &AppState, session_ids: Vec<String>) {
    if session_ids.is_empty() {
        return;
    }
    let state = state.clone();
    tokio::spawn(async move { tell_clients(&state, &session_ids).await });
}

/// Every session of `user_id` that a storage operation ended (a password change or reset
/// ends them all in its transaction) ended: their clients are told in the background.
pub fn person_sessions_ended(state: &AppState, user_id: &str) {
    let state = state.clone();
    let user_id = user_id.to_owned();
    tokio::spawn(async move {
        match state.store.take_ended_session_clients(&user_id).await {
            Ok(taken) => tell(&state, taken).await,
            Err(e) => {
                tracing::warn!(event = "backchannel_logout_failed", error = %e, "the clients of ended sessions could not be read");
            }
        }
    });
}

/// How many records of ended sessions' clients one upkeep pass takes at a time.
const UPKEEP_BATCH: i64 = 500;

/// Tells the clients of sessions that ended where no one told them (an operator's command,
/// `castellan users disable` or `set-password`, which runs no delivery): the upkeep's step,
/// run before expired sessions are purged (whose clients are not told: an expiry is not a
/// sign-out). Answers how many records it took.
pub async fn tell_unannounced(state: &AppState) -> u64 {
    let mut total = 0;
    loop {
        match state
            .store
            .take_any_ended_session_clients(UPKEEP_BATCH)
            .await
        {
            Ok(taken) => {
                let n = taken.len();
                total += u64::try_from(n).unwrap_or(u64::MAX);
                tell(state, taken).await;
                if i64::try_from(n).unwrap_or(i64::MAX) < UPKEEP_BATCH {
                    return total;
                }
            }
            Err(e) => {
                tracing::warn!(event = "backchannel_logout_failed", error = %e, "the clients of ended sessions could not be read");
                return total;
            }
        }
    }
}

async fn tell_clients(state: &AppState, session_ids: &[String]) {
    match state.store.take_session_clients(session_ids).await {
        Ok(taken) => tell(state, taken).await,
        Err(e) => {
            tracing::warn!(event = "backchannel_logout_failed", error = %e, "the clients of ended sessions could not be read");
        }
    }
}

/// Sends each `(session id, user id, client id)` its logout token.
async fn tell(state: &AppState, taken: Vec<(String, String, String)>) {
    for (sid, user_id, client_id) in taken {
        let Ok(Some(client)) = state.clients.get(state.store.as_ref(), &client_id).await else {
            tracing::warn!(event = "backchannel_logout_failed", client_id = %client_id, "the client of an ended session could not be read");
            continue;
        };
        // A client past its deleteAt is gone: it is told nothing more.
        if !client.is_active(state.clock.now()) {
            continue;
        }
        // A client that asked for it loses the refresh tokens it got in the session.
        if client.logout_revokes_refresh_tokens() {
            match state
                .store
                .revoke_families_of_session(&sid, &client.id, state.clock.now())
                .await
            {
                Ok(n) if n > 0 => state.token_checks.revoked_here(),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(event = "logout_revocation_failed", client_id = %client.id, error = %e, "the refresh tokens of an ended session could not be revoked");
                }
            }
        }
        let Some(url) = client
            .backchannel_logout_uri()
            .and_then(|u| url::Url::parse(u).ok())
        else {
            continue;
        };
        let Some(token) = logout_token(state, &client.id, &user_id, &sid, state.clock.now()) else {
            tracing::warn!(event = "backchannel_logout_failed", client_id = %client.id, "no signing key for a logout token");
            continue;
        };
        // At most DELIVERIES_AT_ONCE deliveries run at a time; the others wait their turn.
        let Ok(permit) = Arc::clone(deliveries()).acquire_owned().await else {
            return;
        };
        let fetcher = state.fetcher.clone();
        tokio::spawn(async move {
            deliver(&fetcher, &url, &token, &client_id).await;
            drop(permit);
        });
    }
}

/// POSTs the token, tried again after a failure; logs when every try failed.
async fn deliver(
    fetcher: &crate::platform::fetch::Fetcher,
    url: &url::Url,
    token: &str,
    client_id: &str,
) {
    let mut last = String::new();
    for pause in std::iter::once(None).chain(RETRY_AFTER.iter().map(Some)) {
        if let Some(p) = pause {
            tokio::time::sleep(*p).await;
        }
        match fetcher
            .post_form(url, &[("logout_token", token)], ATTEMPT_TIMEOUT)
            .await
        {
            Ok(200 | 204) => {
                tracing::info!(event = "backchannel_logout_sent", client_id = %client_id, "a client was told a session ended");
                return;
            }
            Ok(status) => last = format!("answered {status}"),
            Err(e) => last = e.to_string(),
        }
    }
    tracing::warn!(event = "backchannel_logout_failed", client_id = %client_id, why = %last, "a client could not be told a session ended");
}
