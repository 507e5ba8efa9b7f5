//! Client authentication (RFC 6749 §2.3): finds the client through the cache and checks the
//! presented secret in constant time against its stored hash, then that it was sent the way
//! the client's `token_endpoint_auth_method` says (HTTP Basic for `client_secret_basic`, the
//! body for `client_secret_post`, either for `client_secret_basic_or_post`; `POST /auth`, the
//! tenant-token request of seed 002, has one way of its own, which each of them accepts).
//! Every failure is `invalid_client`; until the secret is verified it is the same answer, so
//! it does not reveal whether the client exists.

use crate::error::OAuthFailure;
use crate::extract::client_auth::{PresentedClient, PresentedMethod};
use crate::state::AppState;
use castellan_core::client::{AuthMethod, Client, ClientKind};
use castellan_core::ids::is_plausible_client_id;
use castellan_core::OAuthError;
use castellan_crypto::verify_secret;
use chrono::{DateTime, Utc};
use std::sync::Arc;

const FAILED: &str = "client authentication failed";

pub async fn authenticate_client(
    state: &AppState,
    presented: &PresentedClient,
    now: DateTime<Utc>,
) -> Result<Arc<Client>, OAuthFailure> {
    let basic = presented.method == PresentedMethod::Basic;
    if !is_plausible_client_id(&presented.client_id) {
        return Err(failed(basic, FAILED));
    }
    let client = state
        .clients
        .get(state.store.as_ref(), &presented.client_id)
        .await
        .map_err(|e| OAuthFailure::from(e).with_basic(basic))?;
    check_presented(client, presented, now)
}

/// What the cache says of the presented client, without asking storage: `Some(None)` for no
/// such client (or an id that cannot be one), `None` when storage must be asked. With
/// [`check_presented`], the same answer as [`authenticate_client`].
pub fn cached_client(state: &AppState, presented: &PresentedClient) -> Option<Option<Arc<Client>>> {
    if !is_plausible_client_id(&presented.client_id) {
        return Some(None);
    }
    state.clients.cached(&presented.client_id)
}

/// Why a right secret sent the wrong way is refused (RFC 7591 §2: a client uses the
/// `token_endpoint_auth_method` it was registered with).
fn wrong_method(method: AuthMethod) -> &'static str {
    match method {
        AuthMethod::ClientSecretBasic => {
            "this client authenticates with client_secret_basic: send its secret with HTTP Basic, not in the body"
        }
        AuthMethod::ClientSecretPost => {
            "this client authenticates with client_secret_post: send its secret in the body, not with HTTP Basic"
        }
        AuthMethod::PrivateKeyJwt => "this client must authenticate with private_key_jwt",
        AuthMethod::ClientSecretBasicOrPost | AuthMethod::None => FAILED,
    }
}

fn failed(basic: bool, msg: &'static str) -> OAuthFailure {
    OAuthFailure::from(OAuthError::invalid_client(msg)).with_basic(basic)
}

/// Checks the presented credentials against the client found (`None`: no such client).
pub fn check_presented(
    client: Option<Arc<Client>>,
    presented: &PresentedClient,
    now: DateTime<Utc>,
) -> Result<Arc<Client>, OAuthFailure> {
    let basic = presented.method == PresentedMethod::Basic;
    let fail = |msg: &'static str| failed(basic, msg);
    let client = client.ok_or_else(|| fail(FAILED))?;
    if !client.is_active(now) {
        return Err(fail("the client has expired (deleteAt has passed)"));
    }
    match (client.kind, &presented.secret, &client.secret_hash) {
        (ClientKind::Confidential, Some(secret), Some(hash)) => {
            if !verify_secret(secret.expose(), hash) {
                metrics::counter!("castellan_client_auth_failures_total").increment(1);
                return Err(fail(FAILED));
            }
            // Checked after the secret, so that only the secret's holder learns the method.
            let method = client.auth_method;
            let sent_right = match presented.method {
                PresentedMethod::TenantRequest => {
                    method.accepts_secret(true) || method.accepts_secret(false)
                }
                _ => method.accepts_secret(basic),
            };
            if !sent_right {
                metrics::counter!("castellan_client_auth_failures_total").increment(1);
                return Err(fail(wrong_method(client.auth_method)));
            }
        }
        (ClientKind::Confidential, None, _) => {
            return Err(fail("this client must authenticate with its client_secret"))
        }
        (ClientKind::Confidential, Some(_), None) => return Err(fail(FAILED)),
        (ClientKind::Public, None, _) => {}
        (ClientKind::Public, Some(_), _) => {
            return Err(fail(
                "this is a public client: send client_id without a secret",
            ))
        }
    }
    Ok(client)
}
