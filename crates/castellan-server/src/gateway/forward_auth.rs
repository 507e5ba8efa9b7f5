//! The forward-auth check (SPEC 7.1–7.4) for proxies that ask before they forward: nginx
//! `auth_request`, Traefik ForwardAuth, Envoy ext_authz (HTTP service).
//!
//! It reads the original method and path, finds the one credential (`Authorization: Bearer`,
//! `X-API-Key`, or the tenant `x-token`), checks it (JWTs locally with this server's keys,
//! opaque tokens and API keys by hash in storage), applies the first matching
//! `[[gateway.routes]]` policy through the guard's pure [`evaluate`] (no match: 403, deny by
//! default), and the rate limit of the key's tier (an API key) or of its client's tier (an
//! access token). Failures are the guard's [`Failure`]s, so both ways in answer alike.

use crate::gateway::api_keys::{check_api_key, KeyRefusal, KnownKey};
use crate::gateway::tenant::tenant_claims;
use crate::services::limits::{LimitDecision, RateLimited};
use crate::services::tokens::{check_access_token_and_client, Audience};
use crate::state::AppState;
use axum::http::{HeaderMap, HeaderValue, Method};
use castellan_core::api_key::{KeyFormatError, Malformed};
use castellan_core::client::Client;
use castellan_core::token::Inactive;
use castellan_guard::api_key::ApiKeyError;
use castellan_guard::policy::TOKEN_HEADER;
use castellan_guard::{evaluate, CredentialKind, Failure, Identity, RequestFacts, RequestPath};
use castellan_store::StoreError;
use std::sync::Arc;

/// Longest credential looked at.
const MAX_CREDENTIAL_LEN: usize = 8192;
pub const API_KEY_HEADER: &str = "x-api-key";

/// One request header as forward-auth sees it: its first value, and whether it came twice.
#[derive(Default, Clone, Copy)]
struct Seen<'h> {
    first: Option<&'h HeaderValue>,
    repeated: bool,
}

impl<'h> Seen<'h> {
    fn text(self) -> Option<&'h str> {
        self.first.and_then(|v| v.to_str().ok())
    }
}

/// The request headers forward-auth reads, found in one pass over the request's headers. A
/// proxy forwards the caller's headers too; one pass comparing names costs less than a hashed
/// lookup per name read. Its `Debug` shows the original request but never a credential.
#[derive(Default)]
pub struct ForwardedHeaders<'h> {
    forwarded_method: Seen<'h>,
    forwarded_uri: Seen<'h>,
    original_method: Seen<'h>,
    original_uri: Seen<'h>,
    authorization: Seen<'h>,
    api_key: Seen<'h>,
    tenant_token: Seen<'h>,
}

impl std::fmt::Debug for ForwardedHeaders<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let present = |s: Seen<'_>| s.first.map(|_| "[redacted]");
        f.debug_struct("ForwardedHeaders")
            .field("forwarded_method", &self.forwarded_method.text())
            .field("forwarded_uri", &self.forwarded_uri.text())
            .field("original_method", &self.original_method.text())
            .field("original_uri", &self.original_uri.text())
            .field("authorization", &present(self.authorization))
            .field("api_key", &present(self.api_key))
            .field("tenant_token", &present(self.tenant_token))
            .finish()
    }
}

impl<'h> ForwardedHeaders<'h> {
    pub fn scan(headers: &'h HeaderMap) -> Self {
        let mut f = ForwardedHeaders::default();
        for (name, value) in headers {
            let seen = match name.as_str() {
                "x-forwarded-method" => &mut f.forwarded_method,
                "x-forwarded-uri" => &mut f.forwarded_uri,
                "x-original-method" => &mut f.original_method,
                "x-original-uri" => &mut f.original_uri,
                "authorization" => &mut f.authorization,
                API_KEY_HEADER => &mut f.api_key,
                TOKEN_HEADER => &mut f.tenant_token,
                _ => continue,
            };
            if seen.first.is_some() {
                seen.repeated = true;
            } else {
                seen.first = Some(value);
            }
        }
        f
    }
}

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

/// Who an allowed request comes from.
pub enum Who {
    /// No credential, on a public route.
    Anonymous,
    /// An API key, with the identity and headers built when it was looked up.
    Key(Arc<KnownKey>),
    /// An access token or tenant token, and its client, whose tier counts the token's calls
    /// (the token's subject picks the count, see
    /// [`crate::services::limits::check_client_calls`]).
    Token(Identity, Arc<Client>),
}

impl Who {
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
    pub who: Who,
    pub limit: Option<LimitDecision>,
}

/// The original request's method and path (query removed), borrowed from the forwarded
/// headers or from this request's own path.
pub fn original_request<'a>(
    own_method: &Method,
    own_path: &'a str,
    headers: &ForwardedHeaders<'a>,
    envoy_prefix: &str,
) -> Option<(Method, &'a str)> {
    let forwarded = headers
        .forwarded_method
        .text()
        .zip(headers.forwarded_uri.text());
    let original = headers
        .original_method
        .text()
        .zip(headers.original_uri.text());
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
    // Only the query is cut: a raw '#' stays in the path, which refuses it (a server reading it
    // literally would see another path).
    let path = uri.split('?').next().unwrap_or("");
    path.starts_with('/').then_some((method, path))
}

enum Presented<'a> {
    None,
    Bearer(&'a str),
    ApiKey(&'a str),
    Tenant(&'a str),
}

/// The one value of a credential header; `malformed` when it is not printable text, empty or
/// too long.
fn single(seen: Seen<'_>, malformed: Failure) -> Result<Option<&str>, Failure> {
    match seen {
        Seen { first: None, .. } => Ok(None),
        Seen { repeated: true, .. } => Err(Failure::AmbiguousCredentials),
        Seen { first: Some(v), .. } => v
            .to_str()
            .ok()
            .map(str::trim)
            .filter(|v| !v.is_empty() && v.len() <= MAX_CREDENTIAL_LEN)
            .map(Some)
            .ok_or(malformed),
    }
}

fn presented<'h>(headers: &ForwardedHeaders<'h>) -> Result<Presented<'h>, Failure> {
    let auth = single(headers.authorization, Failure::MalformedAuthorization)?;
    let key = single(
        headers.api_key,
        Failure::MalformedApiKey(ApiKeyError::Parts),
    )?;
    let tenant = single(headers.tenant_token, Failure::MalformedToken)?;
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

/// Checks a bearer or tenant token into an identity, with the token's client.
async fn token_identity(
    state: &AppState,
    token: &str,
    kind_tenant: bool,
) -> Result<(Identity, Arc<Client>), Denied> {
    let now = state.clock.now();
    let (checked, client) = check_access_token_and_client(state, token, now, Audience::Gateway)
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
    // A person's role in the token's organization, re-read through a short cache
    // (`gateway.membership_cache_seconds`): a person no longer a member is refused, as for a
    // revoked token (SPEC 5.6).
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

/// Decides on one forwarded request.
pub async fn check_forwarded(
    state: &AppState,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    forwarded: &ForwardedHeaders<'_>,
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
    let facts = RequestFacts {
        params: &matched.params,
        headers,
        environment: state.config.environment,
    };
    let who = match presented(forwarded)? {
        Presented::None => Who::Anonymous,
        Presented::Bearer(t) => {
            // Boxed, as a key check's future need not be as large as a token check's.
            let (identity, client) = Box::pin(token_identity(state, t, false)).await?;
            Who::Token(identity, client)
        }
        Presented::Tenant(t) => {
            // A tenant token always answers for its brand and venue (seed 002).
            tenant_policy = Some(castellan_guard::Policy {
                tenant: true,
                public: false,
                ..matched.policy.clone()
            });
            let (identity, client) = Box::pin(token_identity(state, t, true)).await?;
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
        Who::Key(key) => crate::services::limits::check_api_key(state, &key.id, &key.tier).await,
        Who::Token(id, client) => {
            crate::services::limits::check_client_calls(state, client, &id.subject).await
        }
        Who::Anonymous => Ok(None),
    }
    .map_err(Denied::Limited)?;
    Ok(Allowed { who, limit })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_a_credential() {
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            HeaderValue::from_static("Bearer secret-token-1"),
        );
        h.insert(
            API_KEY_HEADER,
            HeaderValue::from_static("csb_secret-key-2_00000000"),
        );
        h.insert(TOKEN_HEADER, HeaderValue::from_static("secret-tenant-3"));
        h.insert("x-original-uri", HeaderValue::from_static("/products/1"));
        let shown = format!("{:?}", ForwardedHeaders::scan(&h));
        for secret in ["secret-token-1", "secret-key-2", "secret-tenant-3"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("/products/1"), "{shown}");
    }
}
