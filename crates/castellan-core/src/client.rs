//! Clients: the applications that ask for tokens, their kinds, grant types,
//! authentication methods, token lifetimes and the validation of a client draft.

use crate::client_keys::{JWKS, JWKS_URI};
use crate::scope::{ScopePattern, ScopeSet};
use crate::tenant::TenantGrant;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// Bounds on per-client token lifetimes, in seconds, from the configuration (by default access
/// tokens 3600‥604800 s, refresh tokens 30‥31536000 s).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifetimeBounds {
    /// Shortest access-token lifetime a client may set.
    pub access_min: u32,
    /// Longest access-token lifetime a client may set.
    pub access_max: u32,
    /// Shortest refresh-token lifetime a client may set.
    pub refresh_min: u32,
    /// Longest refresh-token lifetime a client may set.
    pub refresh_max: u32,
}

impl Default for LifetimeBounds {
    fn default() -> Self {
        LifetimeBounds {
            access_min: 3600,
            access_max: 604_800,
            refresh_min: 30,
            refresh_max: 31_536_000,
        }
    }
}

/// Whether a client can keep a secret (RFC 6749 §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientKind {
    /// Has a secret (or a key) and authenticates with it.
    Confidential,
    /// Has no secret: browser apps, native apps, CLIs.
    Public,
}

impl ClientKind {
    /// The kind's name in the API and in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientKind::Confidential => "confidential",
            ClientKind::Public => "public",
        }
    }
    /// The kind named `s`, if any.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "confidential" => Some(ClientKind::Confidential),
            "public" => Some(ClientKind::Public),
            _ => None,
        }
    }
}

/// A grant type a client may be allowed (RFC 6749 §4 and its extensions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum GrantType {
    /// `client_credentials` (RFC 6749 §4.4).
    #[serde(rename = "client_credentials")]
    ClientCredentials,
    /// `authorization_code` (RFC 6749 §4.1).
    #[serde(rename = "authorization_code")]
    AuthorizationCode,
    /// `refresh_token` (RFC 6749 §6).
    #[serde(rename = "refresh_token")]
    RefreshToken,
    /// `password` (RFC 6749 §4.3), only for clients explicitly allowed it.
    #[serde(rename = "password")]
    Password,
    /// `urn:ietf:params:oauth:grant-type:jwt-bearer` (RFC 7523).
    #[serde(rename = "urn:ietf:params:oauth:grant-type:jwt-bearer")]
    JwtBearer,
    /// `urn:ietf:params:oauth:grant-type:device_code` (RFC 8628).
    #[serde(rename = "urn:ietf:params:oauth:grant-type:device_code")]
    DeviceCode,
    /// `urn:ietf:params:oauth:grant-type:token-exchange` (RFC 8693).
    #[serde(rename = "urn:ietf:params:oauth:grant-type:token-exchange")]
    TokenExchange,
}

impl GrantType {
    /// Every grant type.
    pub const ALL: [GrantType; 7] = [
        GrantType::ClientCredentials,
        GrantType::AuthorizationCode,
        GrantType::RefreshToken,
        GrantType::Password,
        GrantType::JwtBearer,
        GrantType::DeviceCode,
        GrantType::TokenExchange,
    ];

    /// The grant type's name in requests and metadata.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::ClientCredentials => "client_credentials",
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::Password => "password",
            GrantType::JwtBearer => "urn:ietf:params:oauth:grant-type:jwt-bearer",
            GrantType::DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
            GrantType::TokenExchange => "urn:ietf:params:oauth:grant-type:token-exchange",
        }
    }

    /// The grant type named `s`, if any.
    pub fn parse(s: &str) -> Option<Self> {
        GrantType::ALL.into_iter().find(|g| g.as_str() == s)
    }
}

/// How a client authenticates at the token endpoint (RFC 7591 §2 `token_endpoint_auth_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// HTTP Basic with the client id and secret (RFC 6749 §2.3.1).
    ClientSecretBasic,
    /// The client id and secret in the request body (RFC 6749 §2.3.1).
    ClientSecretPost,
    /// Castellan's own: the secret in either place. Only clients created through the
    /// management API or the CLI without naming a method have it, never registered ones.
    ClientSecretBasicOrPost,
    /// No authentication: a public client.
    None,
    /// A JWT signed with the client's own key (RFC 7523 §2.2).
    PrivateKeyJwt,
}

impl AuthMethod {
    /// The method's name in registration metadata (RFC 7591 §2).
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
            AuthMethod::ClientSecretBasicOrPost => "client_secret_basic_or_post",
            AuthMethod::None => "none",
            AuthMethod::PrivateKeyJwt => "private_key_jwt",
        }
    }
    /// The method named `s`, if any.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "client_secret_basic" => Some(AuthMethod::ClientSecretBasic),
            "client_secret_post" => Some(AuthMethod::ClientSecretPost),
            "client_secret_basic_or_post" => Some(AuthMethod::ClientSecretBasicOrPost),
            "none" => Some(AuthMethod::None),
            "private_key_jwt" => Some(AuthMethod::PrivateKeyJwt),
            _ => None,
        }
    }

    /// Whether a client secret presented in the `Authorization` header (`in_header`: HTTP
    /// Basic) or else in the request body (form or JSON) is how this method sends it. A client
    /// registered with one method must use it (RFC 7591 §2): a secret sent the other way is
    /// refused, so that a client limited to one channel cannot be driven through the other.
    pub fn accepts_secret(self, in_header: bool) -> bool {
        match self {
            AuthMethod::ClientSecretBasic => in_header,
            AuthMethod::ClientSecretPost => !in_header,
            AuthMethod::ClientSecretBasicOrPost => true,
            AuthMethod::None | AuthMethod::PrivateKeyJwt => false,
        }
    }
}

/// The shape of the access tokens a client receives: a signed JWT (RFC 9068) checked locally, or
/// an opaque reference checked by introspection (RFC 7662).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TokenFormat {
    /// A signed JWT.
    #[default]
    Jwt,
    /// An opaque reference.
    Opaque,
}

impl TokenFormat {
    /// The format's name in the API and in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenFormat::Jwt => "jwt",
            TokenFormat::Opaque => "opaque",
        }
    }
    /// The format named `s`, if any.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "jwt" => Some(TokenFormat::Jwt),
            "opaque" => Some(TokenFormat::Opaque),
            _ => None,
        }
    }
}

/// SHA-256 of a high-entropy secret. Only the hash is ever stored.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretHash(pub [u8; 32]);

impl std::fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretHash(..)")
    }
}

/// A confidential client's secret before its last rotation, still accepted until `expires_at`
/// so that the client's deployments can move to the new one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviousSecret {
    /// SHA-256 of the previous secret.
    pub hash: SecretHash,
    /// When it stops being accepted.
    pub expires_at: DateTime<Utc>,
}

/// What dynamic registration (RFC 7591) recorded about a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The `software_id` the registrant sent, matched on a repeated registration.
    pub software_id: Option<String>,
    /// Who registered it (`client:<id>` for a registrant authenticated by a client's own access
    /// token, `client:<id>:user:<subject>` by a person's), so that a repeated registration is
    /// matched to the same party only.
    pub registered_by: Option<String>,
    /// SHA-256 of its registration access token (RFC 7592 §3).
    pub access_token_hash: SecretHash,
}

/// A client as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Client {
    /// The OAuth `client_id`.
    pub id: String,
    /// A display name, shown on the consent page.
    pub name: String,
    /// Confidential or public.
    pub kind: ClientKind,
    /// SHA-256 of its secret; `None` for a public client.
    pub secret_hash: Option<SecretHash>,
    /// The secret it had before its last rotation, while it is still accepted.
    pub previous_secret: Option<PreviousSecret>,
    /// Allowed scope patterns; fixed at creation.
    pub scope: Vec<ScopePattern>,
    /// What a request naming no scope receives; `None` means every allowed scope
    /// that has no wildcard.
    pub default_scope: Option<ScopeSet>,
    /// The grant types it may use.
    pub grant_types: Vec<GrantType>,
    /// Its registered redirect URIs, matched exactly.
    pub redirect_uris: Vec<String>,
    /// How it authenticates at the token endpoint.
    pub auth_method: AuthMethod,
    /// The shape of its access tokens.
    pub token_format: TokenFormat,
    /// A public client allowed `client_credentials` when it names a market (`market:id:{id}`):
    /// a sales-channel client that shows a storefront's public catalogue.
    pub public_client_credentials: bool,
    /// Its access-token lifetime, when it set one.
    pub access_token_validity_seconds: Option<u32>,
    /// Its refresh-token lifetime, when it set one.
    pub refresh_token_validity_seconds: Option<u32>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// The last day it obtained a token.
    pub last_used_at: Option<NaiveDate>,
    /// When it stops getting tokens and is purged, if set.
    pub delete_at: Option<DateTime<Utc>>,
    /// What dynamic registration recorded, for a registered client.
    pub registration: Option<Registration>,
    /// Other RFC 7591 metadata (`client_uri`, `logo_uri`, `contacts`, `software_version` …).
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// The rate-limit tier its token requests and gateway calls are counted under;
    /// `None`: tier `default`.
    pub tier: Option<String>,
    /// The brands and venues it may ask tenant tokens for at `POST /auth`; none:
    /// no tenant token.
    pub tenants: Vec<TenantGrant>,
}

impl Client {
    /// The hash of the previous secret when it is still accepted at `now`.
    pub fn previous_secret_at(&self, now: DateTime<Utc>) -> Option<&SecretHash> {
        self.previous_secret
            .as_ref()
            .filter(|p| now < p.expires_at)
            .map(|p| &p.hash)
    }

    /// Whether the client may still obtain tokens at `now` (it is not past its `deleteAt`).
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.delete_at.is_none_or(|d| now < d)
    }

    /// Whether it must push its authorization requests (RFC 9126 §6: its
    /// `require_pushed_authorization_requests` metadata is `true`).
    pub fn requires_pushed_authorization_requests(&self) -> bool {
        self.metadata.get(REQUIRE_PAR) == Some(&serde_json::Value::Bool(true))
    }

    /// Sets whether it must push its authorization requests (kept in its metadata as
    /// `require_pushed_authorization_requests`, present only when `true`).
    pub fn set_requires_pushed_authorization_requests(&mut self, required: bool) {
        if required {
            self.metadata
                .insert(REQUIRE_PAR.to_owned(), serde_json::Value::Bool(true));
        } else {
            self.metadata.remove(REQUIRE_PAR);
        }
    }

    /// Whether its access tokens must be bound to a DPoP key (RFC 9449 §5.2: its
    /// `dpop_bound_access_tokens` metadata is `true`): a token request without a proof is
    /// refused.
    pub fn requires_dpop(&self) -> bool {
        self.metadata.get(DPOP_BOUND) == Some(&serde_json::Value::Bool(true))
    }

    /// Sets whether its access tokens must be DPoP-bound (kept in its metadata as
    /// `dpop_bound_access_tokens`, present only when `true`).
    pub fn set_requires_dpop(&mut self, required: bool) {
        if required {
            self.metadata
                .insert(DPOP_BOUND.to_owned(), serde_json::Value::Bool(true));
        } else {
            self.metadata.remove(DPOP_BOUND);
        }
    }

    /// Where it may send a person after signing them out (OpenID Connect RP-Initiated Logout
    /// 1.0 §3.1: its `post_logout_redirect_uris` metadata), matched exactly.
    pub fn post_logout_redirect_uris(&self) -> Vec<&str> {
        self.metadata
            .get(POST_LOGOUT_REDIRECT_URIS)
            .and_then(serde_json::Value::as_array)
            .map(|uris| uris.iter().filter_map(serde_json::Value::as_str).collect())
            .unwrap_or_default()
    }

    /// Sets its `post_logout_redirect_uris` (checked URIs: see
    /// [`crate::redirect::check_redirect_uris`]); none removes the metadata.
    pub fn set_post_logout_redirect_uris(&mut self, uris: Vec<String>) {
        if uris.is_empty() {
            self.metadata.remove(POST_LOGOUT_REDIRECT_URIS);
        } else {
            self.metadata.insert(
                POST_LOGOUT_REDIRECT_URIS.to_owned(),
                serde_json::Value::from(uris),
            );
        }
    }

    /// Where it receives logout tokens when a session it got tokens in ends (OpenID Connect
    /// Back-Channel Logout 1.0 §2.2: its `backchannel_logout_uri` metadata), if it wants them.
    pub fn backchannel_logout_uri(&self) -> Option<&str> {
        self.metadata
            .get(BACKCHANNEL_LOGOUT_URI)
            .and_then(serde_json::Value::as_str)
    }

    /// Whether its logout tokens must carry `sid` (`backchannel_logout_session_required`;
    /// Castellan's always do).
    pub fn backchannel_logout_session_required(&self) -> bool {
        self.metadata.get(BACKCHANNEL_LOGOUT_SESSION_REQUIRED)
            == Some(&serde_json::Value::Bool(true))
    }

    /// Sets where it receives logout tokens (`None`: nowhere; a URL checked under the
    /// outbound rules, see [`crate::client_keys::check_jwks_uri`]) and whether they must carry
    /// `sid`.
    pub fn set_backchannel_logout(&mut self, uri: Option<String>, session_required: bool) {
        match uri {
            Some(u) => {
                self.metadata.insert(
                    BACKCHANNEL_LOGOUT_URI.to_owned(),
                    serde_json::Value::String(u),
                );
            }
            None => {
                self.metadata.remove(BACKCHANNEL_LOGOUT_URI);
            }
        }
        if session_required {
            self.metadata.insert(
                BACKCHANNEL_LOGOUT_SESSION_REQUIRED.to_owned(),
                serde_json::Value::Bool(true),
            );
        } else {
            self.metadata.remove(BACKCHANNEL_LOGOUT_SESSION_REQUIRED);
        }
    }

    /// Whether ending a session it got tokens in also revokes the refresh-token families issued
    /// in that session (`logout_revokes_refresh_tokens`, a Castellan metadata): Back-Channel
    /// Logout 1.0 §2.7 leaves offline access running unless the client asks otherwise.
    pub fn logout_revokes_refresh_tokens(&self) -> bool {
        self.metadata.get(LOGOUT_REVOKES_REFRESH_TOKENS) == Some(&serde_json::Value::Bool(true))
    }

    /// Sets [`Client::logout_revokes_refresh_tokens`].
    pub fn set_logout_revokes_refresh_tokens(&mut self, revokes: bool) {
        if revokes {
            self.metadata.insert(
                LOGOUT_REVOKES_REFRESH_TOKENS.to_owned(),
                serde_json::Value::Bool(true),
            );
        } else {
            self.metadata.remove(LOGOUT_REVOKES_REFRESH_TOKENS);
        }
    }

    /// Its JWK Set (`jwks` metadata), if it has one.
    pub fn jwks(&self) -> Option<&serde_json::Value> {
        self.metadata.get(JWKS)
    }

    /// The URL of its JWK Set (`jwks_uri` metadata), if it has one.
    pub fn jwks_uri(&self) -> Option<&str> {
        self.metadata
            .get(JWKS_URI)
            .and_then(serde_json::Value::as_str)
    }

    /// Gives it the JWK Set `jwks` in place of its keys (a checked set: see
    /// [`crate::client_keys`]); its `jwks_uri`, if any, is dropped (RFC 7591 §2: one or the
    /// other).
    pub fn set_jwks(&mut self, jwks: serde_json::Value) {
        self.metadata.remove(JWKS_URI);
        self.metadata.insert(JWKS.to_owned(), jwks);
    }

    /// Gives it the key set at `uri` in place of its keys (a checked URL: see
    /// [`crate::client_keys`]); its `jwks`, if any, is dropped.
    pub fn set_jwks_uri(&mut self, uri: String) {
        self.metadata.remove(JWKS);
        self.metadata
            .insert(JWKS_URI.to_owned(), serde_json::Value::String(uri));
    }

    /// Drops its keys (`jwks` and `jwks_uri`).
    pub fn clear_keys(&mut self) {
        self.metadata.remove(JWKS);
        self.metadata.remove(JWKS_URI);
    }

    /// Whether it may use grant type `g`.
    pub fn allows_grant(&self, g: GrantType) -> bool {
        self.grant_types.contains(&g)
    }

    /// Whether it was given `brand` and `venue` for tenant tokens.
    pub fn allows_tenant(&self, brand: &str, venue: &str) -> bool {
        crate::tenant::allows_tenant(&self.tenants, brand, venue)
    }

    /// Its access-token lifetime, or `default`.
    pub fn access_token_lifetime(&self, default: u32) -> u32 {
        self.access_token_validity_seconds.unwrap_or(default)
    }

    /// Its refresh-token lifetime, or `default`.
    pub fn refresh_token_lifetime(&self, default: u32) -> u32 {
        self.refresh_token_validity_seconds.unwrap_or(default)
    }
}

/// The metadata name (RFC 9126 §6) of [`Client::requires_pushed_authorization_requests`].
pub const REQUIRE_PAR: &str = "require_pushed_authorization_requests";

/// The metadata name (OpenID Connect RP-Initiated Logout 1.0 §3.1) of
/// [`Client::post_logout_redirect_uris`].
pub const POST_LOGOUT_REDIRECT_URIS: &str = "post_logout_redirect_uris";

/// The metadata name (OpenID Connect Back-Channel Logout 1.0 §2.2) of
/// [`Client::backchannel_logout_uri`].
pub const BACKCHANNEL_LOGOUT_URI: &str = "backchannel_logout_uri";

/// The metadata name of [`Client::backchannel_logout_session_required`].
pub const BACKCHANNEL_LOGOUT_SESSION_REQUIRED: &str = "backchannel_logout_session_required";

/// The metadata name of [`Client::logout_revokes_refresh_tokens`].
pub const LOGOUT_REVOKES_REFRESH_TOKENS: &str = "logout_revokes_refresh_tokens";

/// The metadata name (RFC 9449 §5.2) of [`Client::requires_dpop`].
pub const DPOP_BOUND: &str = "dpop_bound_access_tokens";

/// A failed validation of client input, naming the field (management API 400 answers).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// The API name of the field at fault.
    pub field: &'static str,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    /// An error about `field`.
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        FieldError {
            field,
            message: message.into(),
        }
    }
}

/// Checks per-client lifetimes against the configured bounds.
pub fn check_lifetimes(
    access: Option<u32>,
    refresh: Option<u32>,
    bounds: &LifetimeBounds,
) -> Result<(), FieldError> {
    if let Some(a) = access {
        if a < bounds.access_min || a > bounds.access_max {
            return Err(FieldError::new(
                "accessTokenValiditySeconds",
                format!(
                    "must be between {} and {} seconds, got {a}",
                    bounds.access_min, bounds.access_max
                ),
            ));
        }
    }
    if let Some(r) = refresh {
        if r < bounds.refresh_min || r > bounds.refresh_max {
            return Err(FieldError::new(
                "refreshTokenValiditySeconds",
                format!(
                    "must be between {} and {} seconds, got {r}",
                    bounds.refresh_min, bounds.refresh_max
                ),
            ));
        }
    }
    Ok(())
}

/// Most days `deleteDaysAfterCreation` accepts (ten years).
pub const MAX_DELETE_DAYS: u32 = 3650;

/// `deleteAt` from `deleteDaysAfterCreation`.
pub fn delete_at(
    created_at: DateTime<Utc>,
    days: Option<u32>,
) -> Result<Option<DateTime<Utc>>, FieldError> {
    match days {
        None => Ok(None),
        Some(d) if d == 0 || d > MAX_DELETE_DAYS => Err(FieldError::new(
            "deleteDaysAfterCreation",
            format!("must be between 1 and {MAX_DELETE_DAYS} days, got {d}"),
        )),
        Some(d) => Ok(Some(created_at + chrono::Duration::days(i64::from(d)))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_outside_bounds_name_the_field() {
        let b = LifetimeBounds::default();
        assert!(check_lifetimes(Some(3600), Some(30), &b).is_ok());
        let e = check_lifetimes(Some(3599), None, &b).unwrap_err();
        assert_eq!(e.field, "accessTokenValiditySeconds");
        assert!(e.message.contains("3600") && e.message.contains("604800"));
        let e = check_lifetimes(None, Some(31_536_001), &b).unwrap_err();
        assert_eq!(e.field, "refreshTokenValiditySeconds");
    }

    #[test]
    fn a_secret_is_accepted_only_the_way_the_method_sends_it() {
        assert!(AuthMethod::ClientSecretBasic.accepts_secret(true));
        assert!(!AuthMethod::ClientSecretBasic.accepts_secret(false));
        assert!(AuthMethod::ClientSecretPost.accepts_secret(false));
        assert!(!AuthMethod::ClientSecretPost.accepts_secret(true));
        assert!(AuthMethod::ClientSecretBasicOrPost.accepts_secret(true));
        assert!(AuthMethod::ClientSecretBasicOrPost.accepts_secret(false));
        for m in [AuthMethod::None, AuthMethod::PrivateKeyJwt] {
            assert!(!m.accepts_secret(true) && !m.accepts_secret(false));
        }
        for m in [
            AuthMethod::ClientSecretBasic,
            AuthMethod::ClientSecretPost,
            AuthMethod::ClientSecretBasicOrPost,
            AuthMethod::None,
            AuthMethod::PrivateKeyJwt,
        ] {
            assert_eq!(AuthMethod::parse(m.as_str()), Some(m));
        }
    }

    #[test]
    fn a_client_has_jwks_or_a_jwks_uri_never_both() {
        let mut c = Client {
            id: "c".into(),
            name: "c".into(),
            kind: ClientKind::Confidential,
            secret_hash: None,
            previous_secret: None,
            scope: Vec::new(),
            default_scope: None,
            grant_types: vec![GrantType::ClientCredentials],
            redirect_uris: Vec::new(),
            auth_method: AuthMethod::PrivateKeyJwt,
            token_format: TokenFormat::Jwt,
            public_client_credentials: false,
            access_token_validity_seconds: None,
            refresh_token_validity_seconds: None,
            created_at: Utc::now(),
            last_used_at: None,
            delete_at: None,
            registration: None,
            metadata: serde_json::Map::new(),
            tier: None,
            tenants: Vec::new(),
        };
        assert!(c.jwks().is_none() && c.jwks_uri().is_none());
        c.set_jwks(serde_json::json!({"keys": []}));
        assert_eq!(c.jwks(), Some(&serde_json::json!({"keys": []})));
        c.set_jwks_uri("https://app.example.com/jwks".into());
        assert!(c.jwks().is_none());
        assert_eq!(c.jwks_uri(), Some("https://app.example.com/jwks"));
        c.set_jwks(serde_json::json!({"keys": [1]}));
        assert!(c.jwks_uri().is_none());
        c.clear_keys();
        assert!(c.jwks().is_none() && c.jwks_uri().is_none());
        assert!(c.metadata.is_empty());
    }

    #[test]
    fn grant_type_names_round_trip() {
        for g in GrantType::ALL {
            assert_eq!(GrantType::parse(g.as_str()), Some(g));
        }
        assert_eq!(GrantType::parse("implicit"), None);
    }

    #[test]
    fn delete_at_adds_days() {
        let t = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            delete_at(t, Some(2)).unwrap().unwrap().to_rfc3339(),
            "2026-01-03T00:00:00+00:00"
        );
        assert!(delete_at(t, Some(0)).is_err());
    }
}
