//! Client authentication (RFC 6749 §2.3): finds the client through the cache and checks the
//! presented secret in constant time against its stored hash (or, after a rotation and until
//! its overlap ends, the previous secret's), then that it was sent the way
//! the client's `token_endpoint_auth_method` says (HTTP Basic for `client_secret_basic`, the
//! body for `client_secret_post`, either for `client_secret_basic_or_post`; `POST /auth`, the
//! tenant-token request, has one way of its own, which each of them accepts). Every failure
//! is `invalid_client`; until the secret is verified it is the same answer, so it does not
//! reveal whether the client exists.
//!
//! A `private_key_jwt` client (RFC 7523 §2.2) sends a signed assertion instead of a secret:
//! it must verify with one of the client's keys ([`crate::oauth::client_keys`]), and its
//! claims must pass [`castellan_core::client_assertion::check_assertion`] (`iss` = `sub` =
//! the client, `aud` the issuer or the token endpoint, a short `exp`), and its `jti` must never
//! have been seen before ([`crate::platform::replay::Replay`], shared by replicas). Any failure
//! is the same `invalid_client`; the reason is logged, not answered. A replay check that
//! cannot be made is `503 temporarily_unavailable` (it fails closed).
//!
//! One [`authenticate`] for the token, introspection and revocation endpoints and the tenant
//! request. A client the cache knows is found without waiting for storage
//! ([`crate::oauth::client_cache::ClientCache::get`]).

use crate::error::OAuthFailure;
use crate::platform::replay::{OneTimeId, Replay};
use crate::platform::state::AppState;
use castellan_core::client::{AuthMethod, Client, ClientKind};
use castellan_core::client_assertion::{check_assertion, AssertionId, AssertionRules};
use castellan_core::ids::is_plausible_client_id;
use castellan_core::{OAuthError, Secret};
use castellan_crypto::verify_secret;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// How a client presented its credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresentedMethod {
    /// HTTP Basic (`client_secret_basic`).
    Basic,
    /// `client_id` and `client_secret` in the body (`client_secret_post`).
    Body,
    /// `client_id` alone (a public client).
    None,
    /// `client_assertion` with the JWT bearer assertion type (`private_key_jwt`, RFC 7523
    /// §2.2); the assertion is in [`PresentedClient::secret`].
    PrivateKeyJwt,
    /// In the body of `POST /auth`, a request of its own outside RFC 6749 §2.3: every
    /// secret-based `token_endpoint_auth_method` accepts it.
    TenantRequest,
}

/// A client's credentials as presented, not yet checked.
#[derive(Debug)]
pub struct PresentedClient {
    /// The client id presented.
    pub client_id: String,
    /// The secret presented, if any; for [`PresentedMethod::PrivateKeyJwt`], the assertion.
    pub secret: Option<Secret>,
    /// How the credentials were presented.
    pub method: PresentedMethod,
}

impl PresentedClient {
    /// Whether the credentials came with HTTP Basic (RFC 6749 §5.2: an `invalid_client`
    /// answer then challenges the Basic scheme).
    pub fn basic(&self) -> bool {
        self.method == PresentedMethod::Basic
    }
}

/// An authenticated client and how it authenticated.
#[derive(Debug, Clone)]
pub struct ClientAuth {
    /// The client.
    pub client: Arc<Client>,
    /// How it authenticated.
    pub method: PresentedMethod,
}

impl ClientAuth {
    /// Whether the client authenticated with HTTP Basic (for the 401 challenge of errors).
    pub fn basic(&self) -> bool {
        self.method == PresentedMethod::Basic
    }
}

const FAILED: &str = "client authentication failed";

/// Authenticates the presented client at `now`: `invalid_client` (or a storage error) when it
/// does not.
pub async fn authenticate(
    state: &AppState,
    presented: &PresentedClient,
    now: DateTime<Utc>,
) -> Result<ClientAuth, OAuthFailure> {
    let basic = presented.basic();
    if !is_plausible_client_id(&presented.client_id) {
        return Err(failed(basic, FAILED));
    }
    if presented.method == PresentedMethod::PrivateKeyJwt {
        // Boxed: the hot path's future stays small (platform::edge's size test).
        return Box::pin(authenticate_assertion(state, presented, now)).await;
    }
    let client = find_client(state, &presented.client_id)
        .await
        .map_err(|e| e.with_basic(basic))?;
    let client = check_presented(client, presented, now)?;
    Ok(ClientAuth {
        client,
        method: presented.method,
    })
}

/// The client `id`: a stored client through the cache, or the client of a metadata document
/// when `id` is its URL (`None`: no such client, or a document that could not be had, which
/// is logged).
async fn find_client(state: &AppState, id: &str) -> Result<Option<Arc<Client>>, OAuthFailure> {
    use crate::oauth::metadata_document::{resolve, url_of, DocumentError};
    if let Some(url) = url_of(state, id) {
        // Boxed: a fetch is rare, and the token lane's future must stay small.
        return match Box::pin(resolve(state, &url)).await {
            Ok(c) => Ok(Some(c)),
            Err(DocumentError::Store(e)) => Err(OAuthFailure::from(e)),
            Err(e) => {
                tracing::info!(client_id = %id, reason = %e, "metadata-document client refused");
                Ok(None)
            }
        };
    }
    state
        .clients
        .get(state.store.as_ref(), id)
        .await
        .map_err(OAuthFailure::from)
}

/// Longest time ahead a client assertion's `exp` may be (seconds).
pub const ASSERTION_MAX_SECONDS: i64 = 300;

/// [`authenticate`] for a client assertion.
async fn authenticate_assertion(
    state: &AppState,
    presented: &PresentedClient,
    now: DateTime<Utc>,
) -> Result<ClientAuth, OAuthFailure> {
    let client = find_client(state, &presented.client_id).await?;
    let refused = |why: &str| {
        metrics::counter!("castellan_client_auth_failures_total").increment(1);
        tracing::info!(client_id = %presented.client_id, reason = %why, "client assertion refused");
        failed(false, ASSERTION_FAILED)
    };
    let (client, id) = check_assertion_of(state, client, presented, now)
        .await
        .map_err(|why| refused(&why))?;
    // Remembered until the assertion could no longer pass the exp check.
    let leeway = i64::from(state.config.token.leeway_seconds);
    let until = DateTime::from_timestamp(id.exp.saturating_add(leeway), 0)
        .unwrap_or_else(|| now + chrono::Duration::seconds(ASSERTION_MAX_SECONDS + leeway));
    let once = OneTimeId::assertion(&client.id, &id.jti);
    match Replay::of(state).first_use(&once, until).await {
        Ok(true) => Ok(ClientAuth {
            client,
            method: PresentedMethod::PrivateKeyJwt,
        }),
        Ok(false) => Err(refused("the assertion's jti was already used")),
        Err(unavailable) => Err(OAuthFailure::from(OAuthError::from(unavailable))),
    }
}

const ASSERTION_FAILED: &str = "client authentication failed: the client assertion is not valid";

/// The checks of a client assertion but the replay check; the error is the reason to log.
async fn check_assertion_of(
    state: &AppState,
    client: Option<Arc<Client>>,
    presented: &PresentedClient,
    now: DateTime<Utc>,
) -> Result<(Arc<Client>, AssertionId), String> {
    let client = client.ok_or("no such client")?;
    if !client.is_active(now) {
        return Err("the client has expired".into());
    }
    if client.auth_method != AuthMethod::PrivateKeyJwt {
        return Err("the client does not authenticate with private_key_jwt".into());
    }
    let assertion = presented.secret.as_ref().ok_or("no assertion")?.expose();
    let header = castellan_crypto::jws::parse(assertion)
        .map_err(|e| e.to_string())?
        .header;
    let keys = state
        .client_keys
        .keys_of(
            &client,
            header.kid.as_deref(),
            &state.fetcher,
            state.config.client_metadata.jwks_limits(),
        )
        .await
        .map_err(|e| e.to_string())?;
    let verified =
        castellan_crypto::jwk::verify_with(assertion, None, &keys).map_err(|e| e.to_string())?;
    let issuer = state.config.issuer.as_str();
    let token_endpoint = state.config.endpoint("/oauth/token");
    let rules = AssertionRules {
        client_id: &client.id,
        audiences: &[issuer, issuer.trim_end_matches('/'), &token_endpoint],
        now: now.timestamp(),
        leeway: i64::from(state.config.token.leeway_seconds),
        max_lifetime: ASSERTION_MAX_SECONDS,
    };
    let id = check_assertion(&verified.claims, &rules).map_err(|e| e.to_string())?;
    Ok((client, id))
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
fn check_presented(
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
            // After a rotation the previous secret is accepted until its overlap ends.
            // Both compared whenever there are two, so the time taken tells nothing.
            let current = verify_secret(secret.expose(), hash);
            let previous = client
                .previous_secret_at(now)
                .is_some_and(|p| verify_secret(secret.expose(), p));
            if !(current | previous) {
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
            return Err(fail(match client.auth_method {
                AuthMethod::PrivateKeyJwt => wrong_method(AuthMethod::PrivateKeyJwt),
                _ => "this client must authenticate with its client_secret",
            }))
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
