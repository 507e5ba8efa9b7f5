//! The tokens of a user's grant (RFC 6749 §5.1 and §6, OIDC Core §3.1.3.3),
//! shared by the authorization-code, refresh-token and password grants: an access token
//! carrying the grant's family (`gid`), a refresh token only when `offline_access` was granted
//! (a 256-bit secret stored as SHA-256, with an inactivity expiry restarting at every use), an
//! ID token when `openid` was granted, and `organization_id`/`user_id` in the answer.

use crate::error::OAuthFailure;
use crate::oauth::id_token::{sign_id_token, IdTokenInput};
use crate::oauth::token::IssuedTokens;
use crate::oauth::tokens::{issue_family_access_token, TokenGrant};
use crate::platform::state::AppState;
use castellan_core::authn::Amr;
use castellan_core::client::{Client, GrantType};
use castellan_core::grant::for_person;
use castellan_core::resource::Audience;
use castellan_core::user::User;
use castellan_core::{ScopeSet, Secret};
use castellan_crypto::generate_refresh_token;
use castellan_store::people::{Delegation, RefreshToken};
use chrono::{DateTime, Duration, Utc};

/// The scope that asks for a refresh token (OIDC Core §11).
pub const OFFLINE_ACCESS: &str = "offline_access";
/// The scope that asks for an ID token.
pub const OPENID: &str = "openid";
/// Longest refresh token or code read from a request; anything longer is unknown.
pub const MAX_PRESENTED_LEN: usize = 512;

/// Whether the grant gets a refresh token: `offline_access` was granted and the client may
/// use the refresh_token grant.
pub fn wants_refresh(client: &Client, scope: &ScopeSet) -> bool {
    scope.contains_str(OFFLINE_ACCESS) && client.allows_grant(GrantType::RefreshToken)
}

/// Who a refresh token belongs to.
pub struct RefreshSeed<'a> {
    /// The token family it starts or continues.
    pub family_id: &'a str,
    /// The consent it comes from.
    pub consent_id: &'a str,
    /// The person's id.
    pub user_id: &'a str,
    /// The organization the grant is bound to, if any.
    pub organization_id: Option<&'a str>,
    /// The space-separated scopes granted.
    pub scope: &'a str,
    /// When the person signed in.
    pub auth_time: DateTime<Utc>,
    /// How the person signed in.
    pub amr: Amr,
    /// The browser session the grant was made in (the ID token's `sid`), if any.
    pub sid: Option<&'a str>,
    /// The resources of the grant (the `aud` of its access tokens unless a request narrows
    /// them), kept for its refreshes.
    pub audience: &'a Audience,
    /// The DPoP key the refresh token is bound to ([`refresh_binding`]), if any.
    pub dpop_jkt: Option<&'a str>,
    /// The delegation it renews, when a token exchange issues it.
    pub delegation: Option<&'a Delegation>,
}

/// The DPoP key a new grant's refresh token is bound to: a public client's proof key (RFC 9449
/// §5); a confidential client's refresh tokens are bound to its authentication instead.
pub fn refresh_binding<'a>(client: &Client, jkt: Option<&'a str>) -> Option<&'a str> {
    match client.kind {
        castellan_core::client::ClientKind::Public => jkt,
        castellan_core::client::ClientKind::Confidential => None,
    }
}

/// `DPoP` for a token bound to a key, else `Bearer` (RFC 9449 §5).
pub fn token_type(jkt: Option<&str>) -> &'static str {
    if jkt.is_some() {
        "DPoP"
    } else {
        "Bearer"
    }
}

/// A new refresh token (the secret, shown once, and what is stored). Its expiry is the
/// client's `refreshTokenValiditySeconds` or `token.refresh_token_seconds` from `now`.
pub fn mint_refresh_token(
    state: &AppState,
    client: &Client,
    seed: &RefreshSeed<'_>,
    now: DateTime<Utc>,
) -> (Secret, RefreshToken) {
    let (secret, key) = generate_refresh_token(now.timestamp_millis());
    let lifetime = client.refresh_token_lifetime(state.config.token.refresh_token_seconds);
    let stored = RefreshToken {
        hash: key,
        family_id: seed.family_id.to_owned(),
        consent_id: seed.consent_id.to_owned(),
        client_id: client.id.clone(),
        user_id: seed.user_id.to_owned(),
        organization_id: seed.organization_id.map(str::to_owned),
        scope: seed.scope.to_owned(),
        auth_time: seed.auth_time,
        amr: seed.amr,
        session_id: seed.sid.map(str::to_owned),
        created_at: now,
        expires_at: now + Duration::seconds(i64::from(lifetime)),
        audience: Some(seed.audience.clone()),
        dpop_jkt: seed.dpop_jkt.map(str::to_owned),
        delegation: seed.delegation.cloned(),
    };
    (secret, stored)
}

/// A new grant's refresh token, stored, when the grant gets one ([`wants_refresh`] with
/// `scope`): the secret, shown once.
pub async fn store_refresh_token(
    state: &AppState,
    client: &Client,
    scope: &ScopeSet,
    seed: &RefreshSeed<'_>,
    now: DateTime<Utc>,
) -> Result<Option<Secret>, castellan_store::StoreError> {
    if !wants_refresh(client, scope) {
        return Ok(None);
    }
    let (secret, stored) = mint_refresh_token(state, client, seed, now);
    state.store.insert_refresh_token(&stored).await?;
    Ok(Some(secret))
}

/// What the access and ID tokens of a user's grant say.
pub struct UserGrant<'a> {
    /// The client.
    pub client: &'a Client,
    /// The person.
    pub user: &'a User,
    /// The organization the tokens are bound to, if any.
    pub organization: Option<&'a str>,
    /// The scopes granted.
    pub scope: &'a ScopeSet,
    /// The access token's `aud`.
    pub audience: &'a Audience,
    /// The token family (the access token's `gid`).
    pub family_id: &'a str,
    /// When the person signed in.
    pub auth_time: DateTime<Utc>,
    /// How the person signed in.
    pub amr: Amr,
    /// The browser session the grant was made in (the ID token's `sid`), if any.
    pub sid: Option<&'a str>,
    /// The `nonce` of the authorization request, for the ID token.
    pub nonce: Option<&'a str>,
    /// The DPoP key the access token is bound to, if the request proved one.
    pub jkt: Option<&'a str>,
    /// Who acts for the person (`act`, RFC 8693 §4.1), for a token obtained by exchange.
    pub act: Option<&'a serde_json::Value>,
    /// Whether the answer carries an ID token when `openid` was granted: always for a new
    /// grant, for a refresh as `token.id_token_on_refresh` says (OIDC Core §12.2: it may not).
    pub id_token: bool,
}

/// Issues the access token (and ID token) of `grant` and answers them with `refresh` (already
/// stored by the caller).
pub async fn answer_user_grant(
    state: &AppState,
    grant: &UserGrant<'_>,
    refresh: Option<Secret>,
    now: DateTime<Utc>,
) -> Result<IssuedTokens, OAuthFailure> {
    // The grants drop administrative scopes already; this keeps any new caller from minting
    // one for a person without the admin flag .
    let scope = for_person(grant.user, grant.scope);
    let grant = &UserGrant {
        scope: &scope,
        ..*grant
    };
    let issued = issue_family_access_token(
        state,
        TokenGrant {
            client: grant.client,
            subject: &grant.user.id,
            scope: grant.scope,
            audience: grant.audience,
            organization: grant.organization,
            jkt: grant.jkt,
            act: grant.act,
            expires_by: None,
            sign_in: (!grant.amr.is_empty()).then_some((grant.auth_time, grant.amr)),
        },
        Some(grant.family_id),
        now,
    )
    .await?;
    // An ID token tells the client the person signed in to it: never for a client acting
    // for the person through an exchange.
    let id_token = if grant.id_token && grant.scope.contains_str(OPENID) && grant.act.is_none() {
        Some(sign_id_token(
            state,
            &IdTokenInput {
                client_id: &grant.client.id,
                user: grant.user,
                scope: grant.scope,
                nonce: grant.nonce,
                auth_time: grant.auth_time,
                amr: grant.amr,
                sid: grant.sid,
                access_token: issued.token.expose(),
                lifetime: issued.expires_in,
                family_id: grant.family_id,
            },
            now,
        )?)
    } else {
        None
    };
    state
        .usage
        .record(&state.store, &grant.client.id, now.date_naive());
    Ok(IssuedTokens {
        access_token: issued.token.into_exposed(),
        token_type: token_type(grant.jkt),
        expires_in: issued.expires_in,
        scope: grant.scope.to_string(),
        created_at: issued.issued_at.timestamp(),
        refresh_token: refresh.map(Secret::into_exposed),
        id_token,
        organization_id: grant.organization.map(str::to_owned),
        user_id: Some(grant.user.id.clone()),
        issued_token_type: None,
    })
}

/// The user behind a grant, still existing and (when the grant names one) still a member of
/// its organization; `invalid_grant` otherwise.
pub async fn grant_user(
    state: &AppState,
    user_id: &str,
    organization_id: Option<&str>,
) -> Result<User, OAuthFailure> {
    let gone = || {
        OAuthFailure::from(castellan_core::OAuthError::invalid_grant(
            "the user of this grant no longer exists or left its organization",
        ))
    };
    let user = state.store.get_user(user_id).await?.ok_or_else(gone)?;
    if user.disabled_at.is_some() {
        return Err(castellan_core::OAuthError::invalid_grant(
            "the user of this grant is disabled",
        )
        .into());
    }
    if let Some(org) = organization_id {
        if state.store.role_in(org, user_id).await?.is_none() {
            return Err(gone());
        }
    }
    Ok(user)
}
