//! The forward-auth check (SPEC 7.1–7.4) for proxies that ask before they forward: nginx
//! `auth_request`, Traefik ForwardAuth, Envoy ext_authz (HTTP service).
//!
//! It reads the original method and path, finds the one credential (`Authorization: Bearer`,
//! `X-API-Key`, or the tenant `x-token`), checks it (JWTs locally with this server's keys,
//! opaque tokens and API keys by hash in storage), applies the first matching
//! `[[gateway.routes]]` policy through the guard's pure [`evaluate`] (no match: 403, deny by
//! default), and the rate limit of the key's tier (an API key) or of its client's tier (an
//! access token). Failures are the guard's [`Failure`]s, so both ways in answer alike.

use crate::services::api_keys::{check_api_key, KeyRefusal};
use crate::services::limits::{LimitDecision, RateLimited};
use crate::services::tenant::tenant_claims;
use crate::services::tokens::check_access_token_and_client;
use crate::state::AppState;
use axum::http::{header, HeaderMap, HeaderName, Method};
use castellan_core::api_key::{KeyFormatError, Malformed};
use castellan_core::client::Client;
use castellan_core::token::Inactive;
use castellan_guard::api_key::ApiKeyError;
use castellan_guard::policy::TOKEN_HEADER;
use castellan_guard::{evaluate, CredentialKind, Failure, Identity, RequestFacts, Role};
use castellan_store::api_keys::ApiKey;
use castellan_store::StoreError;
use std::sync::Arc;

/// Longest credential looked at.
const MAX_CREDENTIAL_LEN: usize = 8192;
pub const API_KEY_HEADER: &str = "x-api-key";

// The headers read on every check, named once: a lookup by `HeaderName` skips parsing the
// name that a lookup by `&str` repeats per request.
static FORWARDED_METHOD: HeaderName = HeaderName::from_static("x-forwarded-method");
static FORWARDED_URI: HeaderName = HeaderName::from_static("x-forwarded-uri");
static ORIGINAL_METHOD: HeaderName = HeaderName::from_static("x-original-method");
static ORIGINAL_URI: HeaderName = HeaderName::from_static("x-original-uri");
static API_KEY: HeaderName = HeaderName::from_static(API_KEY_HEADER);
static TENANT_TOKEN: HeaderName = HeaderName::from_static(TOKEN_HEADER);

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
    Store(StoreError),
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

/// An allowed request: who (None: anonymous on a public route) and the key's limit decision.
pub struct Allowed {
    pub identity: Option<Identity>,
    pub limit: Option<LimitDecision>,
}

/// The original request's method and path (query removed), borrowed from the forwarded
/// headers or from this request's own path.
pub fn original_request<'a>(
    own_method: &Method,
    own_path: &'a str,
    headers: &'a HeaderMap,
    envoy_prefix: &str,
) -> Option<(Method, &'a str)> {
    let header = |n: &HeaderName| headers.get(n).and_then(|v| v.to_str().ok());
    let forwarded = header(&FORWARDED_METHOD).zip(header(&FORWARDED_URI));
    let original = header(&ORIGINAL_METHOD).zip(header(&ORIGINAL_URI));
    // Only one proxy asks: two pairs that disagree mean one came from the client (an nginx
    // that does not clear X-Forwarded-*), so neither is trusted.
    if forwarded.is_some() && original.is_some() && forwarded != original {
        return None;
    }
    let pair = forwarded.or(original);
    let (method, uri) = match pair {
        Some((m, u)) => (Method::from_bytes(m.trim().as_bytes()).ok()?, u.trim()),
        None => {
            let rest = own_path.strip_prefix(envoy_prefix)?;
            let rest = if rest.is_empty() { "/" } else { rest };
            if !rest.starts_with('/') {
                return None;
            }
            (own_method.clone(), rest)
        }
    };
    let path = uri.split(['?', '#']).next().unwrap_or("");
    path.starts_with('/').then_some((method, path))
}

enum Presented<'a> {
    None,
    Bearer(&'a str),
    ApiKey(&'a str),
    Tenant(&'a str),
}

fn single<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Result<Option<&'h str>, Failure> {
    let mut it = headers.get_all(name).iter();
    match (it.next(), it.next()) {
        (None, _) => Ok(None),
        (Some(_), Some(_)) => Err(Failure::AmbiguousCredentials),
        (Some(v), None) => v
            .to_str()
            .ok()
            .map(str::trim)
            .filter(|v| !v.is_empty() && v.len() <= MAX_CREDENTIAL_LEN)
            .map(Some)
            .ok_or(if name == API_KEY {
                Failure::MalformedApiKey(ApiKeyError::Parts)
            } else if name == header::AUTHORIZATION {
                Failure::MalformedAuthorization
            } else {
                Failure::MalformedToken
            }),
    }
}

fn presented(headers: &HeaderMap) -> Result<Presented<'_>, Failure> {
    let auth = single(headers, &header::AUTHORIZATION)?;
    let key = single(headers, &API_KEY)?;
    let tenant = single(headers, &TENANT_TOKEN)?;
    match (auth, key, tenant) {
        (None, None, None) => Ok(Presented::None),
        (Some(a), None, None) => {
            let (scheme, rest) = a.split_once(' ').ok_or(Failure::MalformedAuthorization)?;
            let token = rest.trim();
            if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
                return Err(Failure::MalformedAuthorization);
            }
            Ok(Presented::Bearer(token))
        }
        (None, Some(k), None) => Ok(Presented::ApiKey(k)),
        (None, None, Some(t)) => Ok(Presented::Tenant(t)),
        _ => Err(Failure::AmbiguousCredentials),
    }
}

fn key_failure(r: KeyRefusal) -> Failure {
    match r {
        KeyRefusal::Format(KeyFormatError::WrongEnvironment) => {
            Failure::Token(Inactive::WrongEnvironment)
        }
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
            KeyFormatError::Malformed(_) | KeyFormatError::WrongEnvironment => ApiKeyError::Body,
        }),
        KeyRefusal::Unknown => Failure::UnknownApiKey,
        KeyRefusal::Disabled | KeyRefusal::Revoked => Failure::ApiKeyDisabled,
        KeyRefusal::Expired => Failure::ApiKeyExpired,
    }
}

fn core_role(r: castellan_core::user::Role) -> Option<Role> {
    Role::parse(&format!("{r:?}"))
}

/// Checks a bearer or tenant token into an identity, with the token's client.
async fn token_identity(
    state: &AppState,
    token: &str,
    kind_tenant: bool,
) -> Result<(Identity, Arc<Client>), Denied> {
    let now = state.clock.now();
    let (checked, client) = check_access_token_and_client(state, token, now)
        .await?
        .map_err(Failure::Token)?;
    let (org, exp) = match &checked {
        crate::services::tokens::Checked::Jwt(c) => (c.org.clone(), Some(c.exp)),
        crate::services::tokens::Checked::Opaque(t) => (
            t.claims
                .get("org")
                .and_then(|v| v.as_str())
                .map(str::to_owned),
            Some(t.expires_at.timestamp()),
        ),
    };
    let subject = checked.subject().to_owned();
    let client_id = checked.client_id().to_owned();
    // A user's role in the token's organization, from the membership store.
    let role = match &org {
        Some(o) if subject != client_id => {
            state.store.role_in(o, &subject).await?.and_then(core_role)
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
        kind: if matches!(checked, crate::services::tokens::Checked::Jwt(_)) {
            CredentialKind::Jwt
        } else {
            CredentialKind::OpaqueToken
        },
        brand,
        venue,
        expires_at: exp,
    };
    Ok((identity, client))
}

/// Whose rate limit an allowed request counts under.
enum Counted {
    ApiKey(Arc<ApiKey>),
    /// An access token's client (the token's subject picks the count, see
    /// [`crate::services::limits::check_client_calls`]).
    Client(Arc<Client>),
}

/// Decides on one forwarded request.
pub async fn check_forwarded(
    state: &AppState,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
) -> Result<Allowed, Denied> {
    let matched = state
        .gateway_routes
        .find_route(method, path)
        .ok_or(Denied::NoRoute)?;
    // A tenant token changes the policy it is checked under; anything else uses the route's.
    let mut tenant_policy = None;
    let facts = RequestFacts {
        params: &matched.params,
        headers,
        environment: state.config.environment,
    };
    let mut counted = None;
    let identity = match presented(headers)? {
        Presented::None => None,
        Presented::Bearer(t) => {
            let (identity, client) = token_identity(state, t, false).await?;
            counted = Some(Counted::Client(client));
            Some(identity)
        }
        Presented::Tenant(t) => {
            // A tenant token always answers for its brand and venue (seed 002).
            tenant_policy = Some(castellan_guard::Policy {
                tenant: true,
                public: false,
                ..matched.policy.clone()
            });
            let (identity, client) = token_identity(state, t, true).await?;
            counted = Some(Counted::Client(client));
            Some(identity)
        }
        Presented::ApiKey(k) => {
            let now = state.clock.now();
            let key = check_api_key(state, k, now).await?.map_err(key_failure)?;
            let identity = Identity {
                subject: key.id.clone(),
                client_id: key.id.clone(),
                organization: key.organization_id.clone(),
                scopes: Identity::scopes_from(&key.scope),
                role: None,
                kind: CredentialKind::ApiKey,
                brand: None,
                venue: None,
                expires_at: key.expires_at.map(|e| e.timestamp()),
            };
            counted = Some(Counted::ApiKey(key));
            Some(identity)
        }
    };
    evaluate(
        tenant_policy.as_ref().unwrap_or(matched.policy),
        identity.as_ref(),
        &facts,
    )?;
    // Counted only once the route policy allows the request: a refusal never reaches the API,
    // and a gateway that asks again for a refusal's full answer (nginx) must not count twice.
    let limit = match (&counted, &identity) {
        (Some(Counted::ApiKey(key)), _) => {
            crate::services::limits::check_api_key(state, &key.id, &key.tier).await
        }
        (Some(Counted::Client(client)), Some(id)) => {
            crate::services::limits::check_client_calls(state, client, &id.subject).await
        }
        _ => Ok(None),
    }
    .map_err(Denied::Limited)?;
    Ok(Allowed { identity, limit })
}
