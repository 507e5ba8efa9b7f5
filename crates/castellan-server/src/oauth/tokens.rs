//! Minting and checking access tokens (RFC 9068): signed JWTs by default, opaque
//! reference tokens for clients set to them. Both carry the environment; JWTs are checked
//! locally, opaque tokens by their hash in storage.

use crate::oauth::token::json::{claims_json, ClaimsRef};
use crate::oauth::token_cache::TokenCheckCache;
use crate::platform::state::AppState;
use castellan_core::authn::Amr;
use castellan_core::client::{Client, TokenFormat};
use castellan_core::ids::alphanumeric_id;
use castellan_core::token::{check_claims, AccessClaims, Inactive};
use castellan_core::{Environment, ScopeSet, Secret};
use castellan_crypto::jws::{self, JwsError};
use castellan_crypto::{generate_secret, hash_secret, id_random_bytes, random_bytes};
use castellan_store::{OpaqueToken, StoreError};
use chrono::{DateTime, Duration, Utc};
use futures::future::Either;
use std::future::{ready, Future};
use std::sync::{Arc, OnceLock};

/// Prefix of opaque access tokens: `ot_<environment tag>_<secret>`.
const OPAQUE_PREFIX: &str = "ot";

/// Why an access token could not be issued.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    /// No signing key exists for the configured algorithm.
    #[error("no signing key for the configured algorithm")]
    NoKey,
    /// Signing failed.
    #[error(transparent)]
    Key(#[from] castellan_crypto::KeyError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A minted access token.
pub struct IssuedToken {
    /// The token.
    pub token: Secret,
    /// Its lifetime in seconds.
    pub expires_in: u32,
    /// When it was issued.
    pub issued_at: DateTime<Utc>,
}

/// Who and what a token is for.
pub struct TokenGrant<'a> {
    /// The client it is issued to.
    pub client: &'a Client,
    /// Its subject (`sub`).
    pub subject: &'a str,
    /// The scopes granted.
    pub scope: &'a ScopeSet,
    /// Its audience (`aud`).
    pub audience: &'a castellan_core::resource::Audience,
    /// The organization it is bound to, if any.
    pub organization: Option<&'a str>,
    /// The thumbprint of the DPoP key it is bound to (`cnf.jkt`, RFC 9449 §6), if any.
    pub jkt: Option<&'a str>,
    /// Who acts for the subject (`act`, RFC 8693 §4.1), for a token obtained by exchange.
    pub act: Option<&'a serde_json::Value>,
    /// When it must expire at the latest (an exchanged token never outlives its subject
    /// token); `None`: its client's lifetime decides.
    pub expires_by: Option<DateTime<Utc>>,
    /// When and how the person signed in (`auth_time`, `acr`, `amr`), for a token of a
    /// sign-in at this server.
    pub sign_in: Option<(DateTime<Utc>, Amr)>,
}

/// A new random token id (`jti`).
pub fn new_jti() -> String {
    alphanumeric_id(&id_random_bytes::<48>(), 22).unwrap_or_else(hex_id)
}

fn hex_id() -> String {
    random_bytes::<16>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Issues an access token outside any token family, in the client's format (JWT or opaque).
pub fn issue_access_token<'a>(
    state: &'a AppState,
    grant: TokenGrant<'a>,
    now: DateTime<Utc>,
) -> impl Future<Output = Result<IssuedToken, IssueError>> + Send + 'a {
    issue_family_access_token(state, grant, None, now)
}

/// Like [`issue_access_token`], for a user's grant: the token carries its family id (`gid`)
/// and stops being active when the family is revoked.
///
/// A JWT is signed at once and its future is ready without waiting; only an opaque token's
/// storage write waits, behind a box, so that the JWT path's future (held by every
/// `client_credentials` request's) stays small.
pub fn issue_family_access_token<'a>(
    state: &'a AppState,
    grant: TokenGrant<'a>,
    family: Option<&'a str>,
    now: DateTime<Utc>,
) -> impl Future<Output = Result<IssuedToken, IssueError>> + Send + 'a {
    match grant.client.token_format {
        TokenFormat::Jwt => Either::Left(ready(sign_access_token(state, &grant, family, now))),
        TokenFormat::Opaque => Either::Right(Box::pin(async move {
            store_opaque_token(state, &grant, family, now).await
        })),
    }
}

/// How long the token of `grant` lives, in seconds, and when one issued `now` expires: its
/// client's lifetime, never longer than the configuration allows now
/// (`Config::longest_access_seconds`), nor past the grant's `expires_by`.
fn lifetime(state: &AppState, grant: &TokenGrant<'_>, now: DateTime<Utc>) -> (u32, DateTime<Utc>) {
    let mut lifetime = grant
        .client
        .access_token_lifetime(state.config.token.access_token_seconds)
        .min(state.config.longest_access_seconds());
    if let Some(by) = grant.expires_by {
        let left = u32::try_from((by - now).num_seconds().max(0)).unwrap_or(u32::MAX);
        lifetime = lifetime.min(left);
    }
    (lifetime, now + Duration::seconds(i64::from(lifetime)))
}

/// A token just issued, counted in `castellan_tokens_issued_total`.
fn issued(format: TokenFormat, token: String, lifetime: u32, now: DateTime<Utc>) -> IssuedToken {
    issued_counter(format).increment(1);
    IssuedToken {
        token: Secret::new(token),
        expires_in: lifetime,
        issued_at: now,
    }
}

/// A signed access token (RFC 9068), whatever the client's token format: nothing is stored,
/// nothing waits. [`issue_family_access_token`] uses it for clients given JWTs.
fn sign_access_token(
    state: &AppState,
    grant: &TokenGrant<'_>,
    family: Option<&str>,
    now: DateTime<Utc>,
) -> Result<IssuedToken, IssueError> {
    let (lifetime, exp) = lifetime(state, grant, now);
    let jti = new_jti();
    let scope = grant.scope.to_string();
    let claims = claims_json(&ClaimsRef {
        iss: &state.config.issuer,
        sub: grant.subject,
        aud: grant.audience,
        exp: exp.timestamp(),
        iat: now.timestamp(),
        jti: &jti,
        client_id: &grant.client.id,
        scope: &scope,
        env: state.config.environment.as_str(),
        org: grant.organization,
        gid: family,
        jkt: grant.jkt,
        tier: grant.client.tier.as_deref(),
        act: grant.act,
        sign_in: grant.sign_in.map(|(t, amr)| (t.timestamp(), amr)),
    });
    let keys = state.keys.keys();
    let key = keys.signer(state.access_alg).ok_or(IssueError::NoKey)?;
    let token = jws::sign_json(key, "at+jwt", &claims)?;
    Ok(issued(TokenFormat::Jwt, token, lifetime, now))
}

/// An opaque reference token, stored by its hash.
async fn store_opaque_token(
    state: &AppState,
    grant: &TokenGrant<'_>,
    family: Option<&str>,
    now: DateTime<Utc>,
) -> Result<IssuedToken, IssueError> {
    let (lifetime, exp) = lifetime(state, grant, now);
    let env = state.config.environment;
    let secret = generate_secret();
    let token = format!("{OPAQUE_PREFIX}_{}_{}", env.tag(), secret.expose());
    let mut claims = serde_json::Map::new();
    claims.insert("env".into(), env.as_str().into());
    if let Some(org) = grant.organization {
        claims.insert("org".into(), org.into());
    }
    claims.insert("jti".into(), new_jti().into());
    if let Some(gid) = family {
        claims.insert("gid".into(), gid.into());
    }
    if let Some(jkt) = grant.jkt {
        claims.insert("cnf".into(), serde_json::json!({ "jkt": jkt }));
    }
    if let Some(tier) = &grant.client.tier {
        claims.insert("tier".into(), tier.as_str().into());
    }
    if let Some(act) = grant.act {
        claims.insert("act".into(), act.clone());
    }
    if let Some((auth_time, amr)) = grant.sign_in {
        if let (Some(acr), Some(names)) = (amr.acr(), amr.claim()) {
            claims.insert("auth_time".into(), auth_time.timestamp().into());
            claims.insert("acr".into(), acr.into());
            claims.insert("amr".into(), names.into());
        }
    }
    state
        .store
        .insert_opaque_token(&OpaqueToken {
            hash: hash_secret(&token).0,
            client_id: grant.client.id.clone(),
            subject: grant.subject.to_owned(),
            scope: grant.scope.to_string(),
            audience: Some(grant.audience.clone()),
            claims,
            issued_at: now,
            expires_at: exp,
            revoked: false,
        })
        .await?;
    Ok(issued(TokenFormat::Opaque, token, lifetime, now))
}

/// `castellan_tokens_issued_total{format}`, looked up once per format rather than per token
/// (the process's recorder is installed by `start`, before any request).
fn issued_counter(format: TokenFormat) -> &'static metrics::Counter {
    static JWT: OnceLock<metrics::Counter> = OnceLock::new();
    static OPAQUE: OnceLock<metrics::Counter> = OnceLock::new();
    let cell = match format {
        TokenFormat::Jwt => &JWT,
        TokenFormat::Opaque => &OPAQUE,
    };
    cell.get_or_init(
        || metrics::counter!("castellan_tokens_issued_total", "format" => format.as_str()),
    )
}

/// What a presented access token is, once checked.
#[derive(Debug, Clone)]
#[expect(
    clippy::large_enum_variant,
    reason = "a JWT is the common case on the gateway's path; boxing its claims would allocate at every check"
)]
pub enum Checked {
    /// A signed JWT, with its claims.
    Jwt(AccessClaims),
    /// An opaque token, as stored.
    Opaque(OpaqueToken),
}

impl Checked {
    /// The client the token was issued to.
    pub fn client_id(&self) -> &str {
        match self {
            Checked::Jwt(c) => &c.client_id,
            Checked::Opaque(t) => &t.client_id,
        }
    }

    /// The space-separated scopes it carries.
    pub fn scope(&self) -> &str {
        match self {
            Checked::Jwt(c) => &c.scope,
            Checked::Opaque(t) => &t.scope,
        }
    }

    /// Who the token is about: the user of a user's grant, else the client.
    pub fn subject(&self) -> &str {
        match self {
            Checked::Jwt(c) => &c.sub,
            Checked::Opaque(t) => &t.subject,
        }
    }

    /// The organization a user's token is bound to (`org`), if any.
    pub fn organization(&self) -> Option<&str> {
        match self {
            Checked::Jwt(c) => c.org.as_deref(),
            Checked::Opaque(t) => t.claims.get("org").and_then(|v| v.as_str()),
        }
    }

    /// The token family of a user's grant (`gid`), if any.
    pub fn family(&self) -> Option<&str> {
        match self {
            Checked::Jwt(c) => c.gid.as_deref(),
            Checked::Opaque(t) => t.claims.get("gid").and_then(|v| v.as_str()),
        }
    }

    /// The thumbprint of the DPoP key the token is bound to (`cnf.jkt`, RFC 9449 §6), if any.
    pub fn jkt(&self) -> Option<&str> {
        match self {
            Checked::Jwt(c) => c.cnf.as_ref().map(|c| c.jkt.as_str()),
            Checked::Opaque(t) => t
                .claims
                .get("cnf")
                .and_then(|c| c.get("jkt"))
                .and_then(|v| v.as_str()),
        }
    }
}

/// Who is checking a presented token, and so which audiences (`aud`) it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Castellan's own APIs: the issuer or the default audience.
    Castellan,
    /// Forward-auth: `gateway.resource` or one of `gateway.audiences`.
    Gateway,
    /// Introspection answers for tokens of any audience: the resource server asking checks
    /// `aud` itself.
    Any,
}

impl Audience {
    /// Whether a token issued for `aud` is accepted: one of its resources must be.
    fn accepts(self, state: &AppState, aud: Option<&castellan_core::resource::Audience>) -> bool {
        let Some(aud) = aud else {
            // Opaque tokens stored without an audience were issued for the default one.
            return self.accepts_one(state, state.config.default_audience());
        };
        aud.any(|a| self.accepts_one(state, a))
    }

    fn accepts_one(self, state: &AppState, aud: &str) -> bool {
        match self {
            Audience::Castellan => state.config.castellan_accepts(aud),
            Audience::Gateway => state.config.gateway_accepts(aud),
            Audience::Any => true,
        }
    }
}

impl Checked {
    /// The token's audience (`aud`), when it names one.
    pub fn audience(&self) -> Option<&castellan_core::resource::Audience> {
        match self {
            Checked::Jwt(c) => Some(&c.aud),
            Checked::Opaque(t) => t.audience.as_ref(),
        }
    }
}

/// Whether a token looks like a JWT (three dot-separated parts).
pub fn looks_like_jwt(token: &str) -> bool {
    token.bytes().filter(|b| *b == b'.').count() == 2
}

/// Checks a presented access token: signature or stored hash, issuer, environment, time,
/// audience (for the one checking it), revocation (of the token, or of its family for a user's grant), and that its client still
/// exists and is active.
pub async fn check_access_token(
    state: &AppState,
    token: &str,
    now: DateTime<Utc>,
    audience: Audience,
) -> Result<Result<Checked, Inactive>, StoreError> {
    Ok(check_access_token_and_client(state, token, now, audience)
        .await?
        .map(|(checked, _)| checked))
}

/// As [`check_access_token`], answering also the token's client (looked up to check that it is
/// still active), for a caller that needs it too.
pub async fn check_access_token_and_client(
    state: &AppState,
    token: &str,
    now: DateTime<Utc>,
    audience: Audience,
) -> Result<Result<(Checked, Arc<Client>), Inactive>, StoreError> {
    let checked = if looks_like_jwt(token) {
        match check_jwt(state, token, now).await? {
            Ok(c) => Checked::Jwt(c),
            Err(e) => return Ok(Err(e)),
        }
    } else {
        match check_opaque(state, token, now).await? {
            Ok(t) => Checked::Opaque(t),
            Err(e) => return Ok(Err(e)),
        }
    };
    if !audience.accepts(state, checked.audience()) {
        return Ok(Err(Inactive::WrongAudience));
    }
    if let Some(family) = checked.family() {
        if state
            .token_checks
            .is_family_revoked(state.store.as_ref(), family)
            .await?
        {
            return Ok(Err(Inactive::Revoked));
        }
    }
    match state
        .clients
        .get(state.store.as_ref(), checked.client_id())
        .await?
    {
        Some(c) if c.is_active(now) => Ok(Ok((checked, c))),
        _ => Ok(Err(Inactive::ClientGone)),
    }
}

async fn check_jwt(
    state: &AppState,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Result<AccessClaims, Inactive>, StoreError> {
    let key = TokenCheckCache::key(token);
    let claims = match state.token_checks.verified(&key) {
        Some(claims) => claims,
        None => match verify_jwt(state, token, now).await {
            Ok(claims) => {
                let claims = Arc::new(claims);
                state
                    .token_checks
                    .remember_verified(key, Arc::clone(&claims));
                claims
            }
            Err(inactive) => return Ok(Err(inactive)),
        },
    };
    // The time, issuer and environment rules are applied at every check, cached or not.
    if let Err(e) = check_claims(
        &claims,
        &state.config.issuer,
        state.config.environment.as_str(),
        now.timestamp(),
        i64::from(state.config.token.leeway_seconds),
    ) {
        return Ok(Err(e));
    }
    if state
        .token_checks
        .is_jwt_revoked(state.store.as_ref(), &claims.jti)
        .await?
    {
        return Ok(Err(Inactive::Revoked));
    }
    Ok(Ok(Arc::unwrap_or_clone(claims)))
}

/// Verifies a JWT's signature against the signing keys (reloading them once for an unknown
/// `kid`) and parses its claims.
async fn verify_jwt(
    state: &AppState,
    token: &str,
    now: DateTime<Utc>,
) -> Result<AccessClaims, Inactive> {
    let mut keys = state.keys.keys();
    let kid = match jws::parse(token) {
        Ok(p) => p.header.kid,
        Err(_) => return Err(Inactive::Malformed),
    };
    if let Some(kid) = kid.as_deref() {
        if !keys.has_kid(kid) && state.keys.reload_for_unknown_kid(kid, now).await {
            keys = state.keys.keys();
        }
    }
    let verified = match jws::verify(token, Some("at+jwt"), |kid| keys.verifier(kid)) {
        Ok(v) => v,
        Err(JwsError::UnknownKey) => return Err(Inactive::UnknownKey),
        Err(JwsError::Signature | JwsError::Algorithm) => return Err(Inactive::BadSignature),
        Err(JwsError::Malformed | JwsError::TooLarge | JwsError::Type(_)) => {
            return Err(Inactive::Malformed)
        }
    };
    serde_json::from_value(serde_json::Value::Object(verified.claims))
        .map_err(|_| Inactive::Malformed)
}

/// The environment an opaque token names, if it has Castellan's shape.
pub fn opaque_environment(token: &str) -> Option<Environment> {
    let mut parts = token.splitn(3, '_');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(OPAQUE_PREFIX), Some(tag), Some(secret)) if secret.len() == 43 => {
            Environment::from_tag(tag)
        }
        _ => None,
    }
}

async fn check_opaque(
    state: &AppState,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Result<OpaqueToken, Inactive>, StoreError> {
    match opaque_environment(token) {
        None => return Ok(Err(Inactive::Malformed)),
        Some(env) if env != state.config.environment => return Ok(Err(Inactive::WrongEnvironment)),
        Some(_) => {}
    }
    let Some(stored) = state.store.get_opaque_token(&hash_secret(token).0).await? else {
        return Ok(Err(Inactive::Unknown));
    };
    if stored.revoked {
        return Ok(Err(Inactive::Revoked));
    }
    if stored.expires_at <= now {
        return Ok(Err(Inactive::Expired));
    }
    Ok(Ok(stored))
}
