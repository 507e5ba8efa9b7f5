//! The forward-auth check for proxies that ask before they forward: nginx
//! `auth_request`, Traefik ForwardAuth, Envoy ext_authz (HTTP service).
//!
//! It reads the original method and path, finds the one credential (`Authorization: Bearer`,
//! `X-API-Key`, or the tenant `x-token`), checks it (JWTs locally with this server's keys,
//! opaque tokens and API keys by hash in storage), applies the first matching
//! `[[gateway.routes]]` policy through the guard's pure [`evaluate`] (no match: 403, deny by
//! default), and the rate limit of the key's tier (an API key) or of its client's tier (an
//! access token). Failures are the guard's [`Failure`]s, so both ways in answer alike.

use crate::gateway::api_keys::{check_api_key, KeyRefusal};
use crate::gateway::key_cache::KnownKey;
use crate::gateway::tenant::tenant_claims;
use crate::oauth::tokens::{check_access_token_and_client, Audience};
use crate::platform::limits::{LimitDecision, RateLimited};
use crate::platform::state::AppState;
// The original request's method and headers, in the guard's vocabulary: its route table and
// policies read them.
use castellan_core::api_key::{KeyFormatError, Malformed};
use castellan_core::client::Client;
use castellan_core::token::Inactive;
use castellan_guard::api_key::ApiKeyError;
use castellan_guard::dpop::Scheme;
use castellan_guard::{evaluate, CredentialKind, Failure, Identity, RequestFacts, RequestPath};
use castellan_store::StoreError;
use http::{HeaderMap, Method};
use std::sync::Arc;

/// Why forward-auth does not allow a request.
#[derive(Debug)]
pub enum Denied {
    /// The guard's answer (401/403/400).
    Failure(Failure),
    /// No `[[gateway.routes]]` matches: 403 (deny by default).
    NoRoute,
    /// The original method and path could not be found.
    NoOriginalRequest,
    /// The key's tier is used up (429) or the limiter failed closed (503).
    Limited(RateLimited),
    /// Storage failed.
    Store(StoreError),
}

impl Denied {
    /// Why, as a metric's label: the guard's reason, `no_route`, `no_original_request`,
    /// `rate_limited` or `unavailable`.
    pub fn reason(&self) -> &'static str {
        match self {
            Denied::Failure(f) => f.reason(),
            Denied::NoRoute => "no_route",
            Denied::NoOriginalRequest => "no_original_request",
            Denied::Limited(_) => "rate_limited",
            Denied::Store(_) => "unavailable",
        }
    }
}

impl From<Failure> for Denied {
    fn from(f: Failure) -> Self {
        Denied::Failure(f)
    }
}

impl From<StoreError> for Denied {
    fn from(e: StoreError) -> Self {
        Denied::Store(e)
    }
}

/// Who an allowed request comes from.
pub enum Who {
    /// No credential, on a public route.
    Anonymous,
    /// An API key, with the identity and headers built when it was looked up.
    Key(Arc<KnownKey>),
    /// An access token or tenant token, and its client, whose tier counts the token's calls
    /// (the token's subject picks the count, see
    /// [`crate::platform::limits::check_client_calls`]).
    Token(Identity, Arc<Client>),
}

impl Who {
    /// The identity the request proved; `None` for an anonymous caller.
    pub fn identity(&self) -> Option<&Identity> {
        match self {
            Who::Anonymous => None,
            Who::Key(k) => Some(&k.identity),
            Who::Token(id, _) => Some(id),
        }
    }
}

/// An allowed request: who, and the limit decision its answer shows.
pub struct Allowed {
    /// Who made the request.
    pub who: Who,
    /// The rate-limit decision, when the request was counted.
    pub limit: Option<LimitDecision>,
}

/// The one credential a forwarded request presented.
#[derive(Debug, Clone, Copy)]
pub enum Presented<'a> {
    /// No credential.
    None,
    /// An access token from `Authorization`, as `Bearer` or as `DPoP`.
    Token(&'a str, Scheme),
    /// An API key.
    ApiKey(&'a str),
    /// A tenant token.
    Tenant(&'a str),
}

fn key_failure(r: KeyRefusal) -> Failure {
    match r {
        KeyRefusal::Format(KeyFormatError::WrongEnvironment) => Failure::ApiKeyWrongEnvironment,
        KeyRefusal::Format(f) => Failure::MalformedApiKey(match f {
            KeyFormatError::Malformed(Malformed::TooLong) => ApiKeyError::TooLong,
            KeyFormatError::Malformed(Malformed::Parts | Malformed::EmptyPart) => {
                ApiKeyError::Parts
            }
            KeyFormatError::WrongPrefix | KeyFormatError::Malformed(Malformed::Prefix) => {
                ApiKeyError::Prefix
            }
            KeyFormatError::BadChecksum | KeyFormatError::Malformed(Malformed::Checksum) => {
                ApiKeyError::Checksum
            }
            KeyFormatError::Malformed(Malformed::BodyLength) => ApiKeyError::BodyLength,
            KeyFormatError::Malformed(Malformed::EnvironmentLetter) => {
                ApiKeyError::EnvironmentLetter
            }
            KeyFormatError::Malformed(Malformed::Body | Malformed::NonAscii)
            | KeyFormatError::WrongEnvironment => ApiKeyError::Body,
        }),
        KeyRefusal::Unknown => Failure::UnknownApiKey,
        KeyRefusal::Disabled | KeyRefusal::Revoked => Failure::ApiKeyDisabled,
        KeyRefusal::Expired => Failure::ApiKeyExpired,
    }
}

/// A checked token: who it proves, its client, and the DPoP key it is bound to.
type TokenHolder = (Identity, Arc<Client>, Option<String>);

/// Checks a bearer or tenant token into an identity, with the token's client and the DPoP key
/// it is bound to (`cnf.jkt`), if any.
async fn token_identity(
    state: &AppState,
    token: &str,
    kind_tenant: bool,
) -> Result<TokenHolder, Denied> {
    let now = state.clock.now();
    let (checked, client) = check_access_token_and_client(state, token, now, Audience::Gateway)
        .await?
        .map_err(Failure::Token)?;
    let (org, exp) = match &checked {
        crate::oauth::tokens::Checked::Jwt(c) => (c.org.clone(), Some(c.exp)),
        crate::oauth::tokens::Checked::Opaque(t) => (
            t.claims
                .get("org")
                .and_then(|v| v.as_str())
                .map(str::to_owned),
            Some(t.expires_at.timestamp()),
        ),
    };
    let jkt = checked.jkt().map(str::to_owned);
    let subject = checked.subject().to_owned();
    let client_id = checked.client_id().to_owned();
    // A person's role in the token's organization, re-read through a short cache
    // (`gateway.membership_cache_seconds`): a person no longer a member is refused, as for a
    // revoked token.
    let role = match &org {
        Some(o) if subject != client_id => {
            match state.memberships.role_in(&state.store, o, &subject).await? {
                Some(r) => Some(r),
                None => return Err(Failure::Token(Inactive::Revoked).into()),
            }
        }
        _ => None,
    };
    let (brand, venue) = if kind_tenant {
        tenant_claims(token, &checked)
    } else {
        (None, None)
    };
    let identity = Identity {
        subject,
        client_id,
        organization: org,
        scopes: Identity::scopes_from(checked.scope()),
        role,
        kind: if matches!(checked, crate::oauth::tokens::Checked::Jwt(_)) {
            CredentialKind::Jwt
        } else {
            CredentialKind::OpaqueToken
        },
        brand,
        venue,
        expires_at: exp,
    };
    Ok((identity, client, jkt))
}

/// Decides on one forwarded request. `url`: the URL the caller sent it to, as a DPoP proof
/// names it (needed only for a token presented as `DPoP`).
pub async fn check_forwarded(
    state: &AppState,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    presented: Result<Presented<'_>, Failure>,
    url: Option<&str>,
) -> Result<Allowed, Denied> {
    // The path is checked before any route is looked at: one that could mean another path to
    // the API behind the proxy is refused, whatever the credential.
    let path = RequestPath::parse(path).map_err(Failure::UnsafePath)?;
    let matched = state
        .gateway_routes
        .find_route(method, &path)
        .ok_or(Denied::NoRoute)?;
    // A tenant token changes the policy it is checked under; anything else uses the route's.
    let mut tenant_policy = None;
    // An accepted DPoP proof, recorded as used only once the request is allowed: a proxy that
    // asks again for a refusal's full answer (nginx) must get that refusal, not a replay.
    let mut proof = None;
    let facts = RequestFacts {
        params: &matched.params,
        headers,
        environment: state.config.environment,
    };
    let who = match presented? {
        Presented::None => Who::Anonymous,
        Presented::Token(t, scheme) => {
            // Boxed, as a key check's future need not be as large as a token check's.
            let (identity, client, jkt) = Box::pin(token_identity(state, t, false)).await?;
            let presentation = crate::oauth::http::dpop::Presentation {
                token: t,
                scheme,
                jkt: jkt.as_deref(),
                method,
                url,
            };
            proof = crate::oauth::http::dpop::verify(state, &presentation, headers)?;
            Who::Token(identity, client)
        }
        Presented::Tenant(t) => {
            // A tenant token always answers for its brand and venue.
            tenant_policy = Some(castellan_guard::Policy {
                tenant: true,
                public: false,
                ..matched.policy.clone()
            });
            let (identity, client, _) = Box::pin(token_identity(state, t, true)).await?;
            Who::Token(identity, client)
        }
        Presented::ApiKey(k) => {
            let now = state.clock.now();
            Who::Key(check_api_key(state, k, now).await?.map_err(key_failure)?)
        }
    };
    evaluate(
        tenant_policy.as_ref().unwrap_or(matched.policy),
        who.identity(),
        &facts,
    )?;
    // Counted only once the route policy allows the request: a refusal never reaches the API,
    // and a gateway that asks again for a refusal's full answer (nginx) must not count twice.
    let limit = match &who {
        Who::Key(key) => {
            crate::platform::limits::check_api_key(&state.rate_limiting, &key.id, &key.tier).await
        }
        Who::Token(id, client) => {
            crate::platform::limits::check_client_calls(&state.rate_limiting, client, &id.subject)
                .await
        }
        Who::Anonymous => Ok(None),
    }
    .map_err(Denied::Limited)?;
    if let Some(proof) = &proof {
        crate::oauth::http::dpop::record(state, proof).await?;
    }
    Ok(Allowed { who, limit })
}
