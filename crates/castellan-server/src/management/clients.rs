//! Managing clients (commercetools API Clients semantics): the draft a caller
//! sends, its validation, and creation with a secret shown once (none for a `private_key_jwt`
//! client, which authenticates with its own keys: [`crate::management::client_keys`]).

use crate::management::client_keys::set_draft_keys;
use crate::platform::config::Config;
use castellan_core::client::{
    check_lifetimes, delete_at, AuthMethod, Client, ClientKind, FieldError, GrantType, TokenFormat,
};
use castellan_core::ids::{alphanumeric_id, CLIENT_ID_LEN};
use castellan_core::redirect::check_redirect_uris;
use castellan_core::scope::{allowed_by, parse_patterns};
use castellan_core::tenant::{check_tenants, TenantGrant};
use castellan_core::{ScopeSet, Secret};
use castellan_crypto::{generate_secret, hash_secret, random_bytes};
use chrono::{DateTime, Utc};
use serde::Deserialize;

/// Longest client name.
pub const MAX_NAME_LEN: usize = 256;

/// What a caller sends to create a client (`APIClientDraft` plus the OAuth fields).
#[derive(Debug, Clone, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientDraft {
    /// Name of the client.
    pub name: String,
    /// Space-separated allowed scopes; a final `*` segment matches one qualifier. Immutable.
    pub scope: String,
    /// Its access-token lifetime in seconds; the configured default when unset.
    pub access_token_validity_seconds: Option<u32>,
    /// Its refresh-token lifetime in seconds; the configured default when unset.
    pub refresh_token_validity_seconds: Option<u32>,
    /// The client is deleted this many days after creation.
    pub delete_days_after_creation: Option<u32>,
    /// `confidential` (default) or `public`.
    pub client_kind: Option<String>,
    /// Default `["client_credentials"]`.
    pub grant_types: Option<Vec<String>>,
    /// Its redirect URIs, matched exactly (for `authorization_code`).
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Where it may send a person after signing them out at `/oauth/logout` (OpenID Connect
    /// RP-Initiated Logout 1.0), matched exactly; same rules as `redirectUris`.
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// Where it receives a logout token when a session it got tokens in ends (OpenID Connect
    /// Back-Channel Logout 1.0): an https URL under the outbound rules (in `local` also
    /// `http://127.0.0.1:PORT`).
    pub backchannel_logout_uri: Option<String>,
    /// Its logout tokens must carry `sid` (they always do); default `false`.
    #[serde(default)]
    pub backchannel_logout_session_required: bool,
    /// Ending a session it got tokens in also revokes the refresh-token families issued in
    /// that session (offline access included); default `false`.
    #[serde(default)]
    pub logout_revokes_refresh_tokens: bool,
    /// `client_secret_basic` (the secret only with HTTP Basic), `client_secret_post` (only in
    /// the body), `client_secret_basic_or_post` (either; default for confidential clients),
    /// `private_key_jwt` (a JWT signed with its own key, RFC 7523 §2.2; no secret: needs `jwks`
    /// or `jwksUri`), `none` (public clients).
    pub token_endpoint_auth_method: Option<String>,
    /// Its public keys, a JWK Set (`{"keys": […]}`, public keys only), for `private_key_jwt`;
    /// not with `jwksUri`.
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<serde_json::Value>,
    /// The https URL of its JWK Set, fetched and cached, for `private_key_jwt`; not with
    /// `jwks`.
    pub jwks_uri: Option<String>,
    /// `jwt` (default) or `opaque`.
    pub token_format: Option<String>,
    /// What a token request naming no scope receives; default: every allowed scope without a
    /// wildcard.
    pub default_scope: Option<String>,
    /// A public client allowed `client_credentials` with a market scope (sales channel).
    #[serde(default)]
    pub public_client_credentials: bool,
    /// It must push its authorization requests (PAR, RFC 9126 §6); default `false`.
    #[serde(default)]
    pub require_pushed_authorization_requests: bool,
    /// Its access tokens must be bound to a DPoP key (RFC 9449 §5.2): a token request without
    /// a DPoP proof is refused; default `false`.
    #[serde(default)]
    pub dpop_bound_access_tokens: bool,
    /// The rate-limit tier (`rate_limit.tiers`) its token requests and gateway calls are
    /// counted under; default: tier `default`.
    pub tier: Option<String>,
    /// The brands and venues it may ask tenant tokens for at `POST /auth`; default: none.
    #[serde(default)]
    pub tenants: Vec<TenantEntry>,
}

/// A brand and the venue ids of it a client may use for tenant tokens (`POST /auth`).
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantEntry {
    /// The brand, as `POST /auth` names it in `brand`.
    pub brand: String,
    /// Venue ids of that brand, as `POST /auth` names them in `venue_id`; at least one.
    pub venues: Vec<String>,
}

impl From<&TenantGrant> for TenantEntry {
    fn from(g: &TenantGrant) -> Self {
        TenantEntry {
            brand: g.brand.clone(),
            venues: g.venues.clone(),
        }
    }
}

/// The tenants a caller sent, checked and in their stored form.
pub fn client_tenants(entries: Vec<TenantEntry>) -> Result<Vec<TenantGrant>, FieldError> {
    check_tenants(
        entries
            .into_iter()
            .map(|e| TenantGrant {
                brand: e.brand,
                venues: e.venues,
            })
            .collect(),
        "tenants",
    )
}

/// Turns a draft into a client; answers the secret to show once (confidential clients).
pub fn build_client(
    draft: ClientDraft,
    config: &Config,
    now: DateTime<Utc>,
) -> Result<(Client, Option<Secret>), FieldError> {
    let name = draft.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > MAX_NAME_LEN || name.chars().any(char::is_control)
    {
        return Err(FieldError::new(
            "name",
            format!("must be 1 to {MAX_NAME_LEN} characters without control characters"),
        ));
    }
    let scope =
        parse_patterns(&draft.scope).map_err(|e| FieldError::new("scope", e.to_string()))?;
    check_lifetimes(
        draft.access_token_validity_seconds,
        draft.refresh_token_validity_seconds,
        &config.clients.lifetime_bounds,
    )?;
    let delete_at = delete_at(now, draft.delete_days_after_creation)?;
    let kind = match draft.client_kind.as_deref() {
        None => ClientKind::Confidential,
        Some(k) => ClientKind::parse(k)
            .ok_or_else(|| FieldError::new("clientKind", "must be confidential or public"))?,
    };
    let grant_types = match draft.grant_types {
        None => vec![GrantType::ClientCredentials],
        Some(list) => parse_grant_types(&list, config)?,
    };
    // A public client proves nothing but its id: it may not act for others' tokens or redeem
    // another party's assertions.
    if kind == ClientKind::Public
        && grant_types
            .iter()
            .any(|g| matches!(g, GrantType::TokenExchange | GrantType::JwtBearer))
    {
        return Err(FieldError::new(
            "grantTypes",
            "token exchange and the JWT bearer grant are for confidential clients only",
        ));
    }
    let auth_method = client_auth_method(kind, draft.token_endpoint_auth_method.as_deref())?;
    let token_format = match draft.token_format.as_deref() {
        None => TokenFormat::Jwt,
        Some(f) => TokenFormat::parse(f)
            .ok_or_else(|| FieldError::new("tokenFormat", "must be jwt or opaque"))?,
    };
    check_redirect_uris(&draft.redirect_uris, config.environment)
        .map_err(|m| FieldError::new("redirectUris", m))?;
    check_redirect_uris(&draft.post_logout_redirect_uris, config.environment)
        .map_err(|m| FieldError::new("postLogoutRedirectUris", m))?;
    let default_scope = match draft.default_scope {
        None => None,
        Some(s) => {
            let set =
                ScopeSet::parse(&s).map_err(|e| FieldError::new("defaultScope", e.to_string()))?;
            if let Some(bad) = set.iter().find(|sc| !allowed_by(&scope, sc)) {
                return Err(FieldError::new(
                    "defaultScope",
                    format!("`{bad}` is not among the client's scopes"),
                ));
            }
            Some(set)
        }
    };
    if draft.public_client_credentials && kind != ClientKind::Public {
        return Err(FieldError::new(
            "publicClientCredentials",
            "applies to public clients only",
        ));
    }
    let tier = client_tier(draft.tier.as_deref(), config)?;
    let tenants = client_tenants(draft.tenants)?;
    let secret = (kind == ClientKind::Confidential && auth_method != AuthMethod::PrivateKeyJwt)
        .then(generate_secret);
    let mut client = Client {
        id: new_client_id(),
        name,
        kind,
        secret_hash: secret.as_ref().map(|s| hash_secret(s.expose())),
        previous_secret: None,
        scope,
        default_scope,
        grant_types,
        redirect_uris: draft.redirect_uris,
        auth_method,
        token_format,
        public_client_credentials: draft.public_client_credentials,
        access_token_validity_seconds: draft.access_token_validity_seconds,
        refresh_token_validity_seconds: draft.refresh_token_validity_seconds,
        created_at: now,
        last_used_at: None,
        delete_at,
        registration: None,
        metadata: Default::default(),
        tier,
        tenants,
    };
    client.set_requires_pushed_authorization_requests(draft.require_pushed_authorization_requests);
    client.set_requires_dpop(draft.dpop_bound_access_tokens);
    client.set_post_logout_redirect_uris(draft.post_logout_redirect_uris);
    if let Some(u) = &draft.backchannel_logout_uri {
        castellan_core::client_keys::check_jwks_uri(u, config.environment)
            .map_err(|e| FieldError::new("backchannelLogoutUri", e.to_string()))?;
    }
    client.set_backchannel_logout(
        draft.backchannel_logout_uri,
        draft.backchannel_logout_session_required,
    );
    client.set_logout_revokes_refresh_tokens(draft.logout_revokes_refresh_tokens);
    set_draft_keys(&mut client, draft.jwks, draft.jwks_uri, config.environment)?;
    Ok((client, secret))
}

/// How a client of `kind` authenticates, from what the caller named (`None`: nothing). A
/// confidential client given no method may send its secret either way
/// (`client_secret_basic_or_post`), as every client could before methods were enforced; one
/// given `client_secret_basic` or `client_secret_post` must use that one; one given
/// `private_key_jwt` signs assertions with its own keys (which the caller must give too).
pub fn client_auth_method(kind: ClientKind, named: Option<&str>) -> Result<AuthMethod, FieldError> {
    let method = match named {
        None => match kind {
            ClientKind::Confidential => AuthMethod::ClientSecretBasicOrPost,
            ClientKind::Public => AuthMethod::None,
        },
        Some(m) => AuthMethod::parse(m).ok_or_else(|| {
            FieldError::new(
                "tokenEndpointAuthMethod",
                "must be client_secret_basic, client_secret_post, client_secret_basic_or_post, private_key_jwt or none",
            )
        })?,
    };
    match (kind, method) {
        (ClientKind::Public, AuthMethod::None)
        | (
            ClientKind::Confidential,
            AuthMethod::ClientSecretBasic
            | AuthMethod::ClientSecretPost
            | AuthMethod::ClientSecretBasicOrPost
            | AuthMethod::PrivateKeyJwt,
        ) => Ok(method),
        _ => Err(FieldError::new(
            "tokenEndpointAuthMethod",
            "public clients use none; confidential clients use client_secret_basic, client_secret_post, client_secret_basic_or_post or private_key_jwt",
        )),
    }
}

/// A draft's tier: `None` for tier `default` (named or not), else a configured tier.
fn client_tier(tier: Option<&str>, config: &Config) -> Result<Option<String>, FieldError> {
    match tier.map(str::trim) {
        None | Some(castellan_limit::DEFAULT_TIER) => Ok(None),
        Some(t) if config.rate_limit.tiers.contains_key(t) => Ok(Some(t.to_owned())),
        Some(t) => Err(FieldError::new(
            "tier",
            format!(
                "tier `{}` is not configured (see rate_limit.tiers)",
                castellan_core::query::truncate_for_message(t)
            ),
        )),
    }
}

/// Parses grant type names, refusing an unknown one and one the token endpoint does not
/// answer (a client could never use it: the JWT bearer grant needs a trusted issuer); a name
/// given twice counts once.
pub fn parse_grant_types(list: &[String], config: &Config) -> Result<Vec<GrantType>, FieldError> {
    use crate::oauth::token::request::SUPPORTED_GRANTS;
    let mut out = Vec::new();
    for g in list {
        let shown = castellan_core::query::truncate_for_message(g);
        let grant = GrantType::parse(g).ok_or_else(|| {
            FieldError::new("grantTypes", format!("unknown grant type `{shown}`"))
        })?;
        let works = SUPPORTED_GRANTS.contains(&grant)
            && (grant != GrantType::JwtBearer || !config.jwt_bearer.issuers.is_empty());
        if !works {
            return Err(FieldError::new(
                "grantTypes",
                format!(
                    "grant type `{shown}` is not supported by this server; supported: {}",
                    SUPPORTED_GRANTS.map(GrantType::as_str).join(", ")
                ),
            ));
        }
        if !out.contains(&grant) {
            out.push(grant);
        }
    }
    Ok(out)
}

/// A new random client id.
pub fn new_client_id() -> String {
    alphanumeric_id(&random_bytes::<64>(), CLIENT_ID_LEN).unwrap_or_else(|| {
        random_bytes::<12>()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    })
}
