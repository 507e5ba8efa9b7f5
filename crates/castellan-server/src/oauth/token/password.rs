//! The resource-owner password grant (RFC 6749 §4.3; only for clients explicitly allowed
//! it). The email is normalised, the password checked with Argon2id — against a dummy
//! hash when the email is unknown, so the answer takes as long either way. Every attempt is
//! counted per client IP under the `login` rate-limit policy (`rate_limit.per_ip.login`), and
//! under the same growing delays as `POST /login`, per account and per account and address
//! (`login_throttle`, counted before the password is checked). Wrong credentials answer one
//! generic `invalid_grant`.
//!
//! The token is bound to the user's only organization, or to the one `organization_id`
//! names (the user must belong to it); a user in several organizations must name one. Each
//! success records a consent and starts a token family, like an authorization-code exchange.
//! Administrative scopes are dropped from the grant unless the person has the admin flag.

use crate::audit::{self, Caller, Kind};
use crate::error::OAuthFailure;
use crate::oauth::token::grant_tokens::{
    answer_user_grant, refresh_binding, store_refresh_token, RefreshSeed, UserGrant,
};
use crate::oauth::token::request::PasswordRequest;
use crate::oauth::token::{GrantError, IssuedTokens};
use crate::people::login::{audit_sign_in, sign_in, LoginError};
use crate::people::second_factor::{has_second_factor, second_factor_policy};
use crate::platform::limits;
use crate::platform::state::AppState;
use castellan_core::authn::SecondFactorPolicy;
use castellan_core::client::Client;
use castellan_core::grant::{for_person, person_scopes};
use castellan_core::ids::alphanumeric_id;
use castellan_core::user::User;
use castellan_core::OAuthError;
use castellan_crypto::random_bytes;
use castellan_store::people::Consent;
use chrono::{DateTime, Utc};
use std::net::IpAddr;

const WRONG_CREDENTIALS: &str = "the email or password is wrong";

/// A random id for consents and families (about 142 bits).
pub fn new_grant_id() -> String {
    alphanumeric_id(&random_bytes::<64>(), 24).unwrap_or_else(crate::oauth::tokens::new_jti)
}

/// Signs the person of `asked` in from `ip` and issues `client` their grant's tokens.
pub async fn password_grant(
    state: &AppState,
    client: &Client,
    asked: &PasswordRequest,
    ip: IpAddr,
    jkt: Option<&str>,
    now: DateTime<Utc>,
) -> Result<IssuedTokens, GrantError> {
    let ip_key = limits::ip_key(ip);
    let limiting = &state.rate_limiting;
    limiting
        .check(&limiting.limits.per_ip.login, &ip_key)
        .await?;
    // The login page's own check: counted under the same delays, then Argon2id.
    let signed_in = sign_in(
        state,
        &asked.username,
        asked.password.clone(),
        &ip_key,
        None,
    )
    .await;
    let how = format!("password grant of client {}", client.id);
    // The grant has no step for a second factor: a person who has one, or must have one,
    // signs in through the authorization code flow, where the second-factor page asks for it.
    // Their right password is recorded as a refused sign-in, not a success.
    if let Ok(user) = &signed_in {
        if has_second_factor(state, &user.id).await?
            || second_factor_policy(state, &user.id).await? != SecondFactorPolicy::Optional
        {
            audit::record(
                state,
                Caller::system(Some(ip))
                    .did(Kind::SignInFailed)
                    .target(&user.id)
                    .detail(format!("{how}: the account signs in with a second factor")),
            )
            .await;
            return Err(OAuthError::invalid_grant(
                "this account signs in with a second factor; use the authorization code flow",
            )
            .into());
        }
    }
    audit_sign_in(state, &asked.username, &signed_in, ip, &how).await;
    let user = signed_in.map_err(|e| match e {
        LoginError::Invalid => OAuthError::invalid_grant(WRONG_CREDENTIALS).into(),
        LoginError::Disabled => OAuthError::invalid_grant("this account is disabled").into(),
        LoginError::Throttled(delayed) => GrantError::Delayed(delayed),
        LoginError::Store(e) => e.into(),
    })?;
    let organization = choose_organization(state, &user, asked.organization_id.as_deref()).await?;
    // A person without the admin flag never holds an administrative scope.
    let scope = for_person(&user, &person_scopes(client, asked.scope.as_ref())?);
    let aud = crate::oauth::resources::audience(state, &asked.resources)?;

    let (consent, family_id) = start_person_grant(
        state,
        client,
        &user.id,
        organization.as_deref(),
        &scope,
        now,
    )
    .await?;
    still_enabled(state, &user.id, &family_id, now).await?;
    let scope_text = scope.to_string();
    let refresh = store_refresh_token(
        state,
        client,
        &scope,
        &RefreshSeed {
            audience: &aud,
            family_id: &family_id,
            consent_id: &consent.id,
            user_id: &user.id,
            organization_id: organization.as_deref(),
            scope: &scope_text,
            auth_time: now,
            amr: castellan_core::authn::Amr::PASSWORD,
            sid: None,
            dpop_jkt: refresh_binding(client, jkt),
            delegation: None,
        },
        now,
    )
    .await?;
    Ok(answer_user_grant(
        state,
        &UserGrant {
            client,
            user: &user,
            organization: organization.as_deref(),
            scope: &scope,
            audience: &aud,
            family_id: &family_id,
            auth_time: now,
            amr: castellan_core::authn::Amr::PASSWORD,
            sid: None,
            nonce: None,
            jkt,
            act: None,
            id_token: true,
        },
        refresh,
        now,
    )
    .await?)
}

/// The organization a password-grant token is bound to.
pub(crate) async fn choose_organization(
    state: &AppState,
    user: &User,
    named: Option<&str>,
) -> Result<Option<String>, GrantError> {
    let orgs = state.store.organizations_of_user(&user.id).await?;
    match named {
        Some(id) => {
            if orgs.iter().any(|(o, _)| o.id == id) {
                Ok(Some(id.to_owned()))
            } else {
                Err(OAuthError::invalid_grant(
                    "the user is not a member of the organization named by organization_id",
                )
                .into())
            }
        }
        None => match orgs.as_slice() {
            [] => Ok(None),
            [(only, _)] => Ok(Some(only.id.clone())),
            _ => Err(OAuthError::invalid_grant(
                "the user belongs to several organizations: name one with organization_id",
            )
            .into()),
        },
    }
}

/// After a grant's family is stored: the person must not have been disabled meanwhile (a
/// disable that began before the family was stored would not have seen it). If they were,
/// the family is revoked and the grant refused.
pub(crate) async fn still_enabled(
    state: &AppState,
    user_id: &str,
    family_id: &str,
    now: DateTime<Utc>,
) -> Result<(), OAuthFailure> {
    if state.store.is_user_disabled_now(user_id).await? {
        state.store.revoke_refresh_family(family_id, now).await?;
        state.token_checks.revoked_here();
        return Err(OAuthError::invalid_grant("this account is disabled").into());
    }
    Ok(())
}

/// Records the consent of `user_id` to `client` for `scope` (in `organization`) and starts a
/// token family under it: the grant of a person whose identity the token endpoint itself
/// checked (this grant, the JWT bearer grant). Listed among the person's connected apps,
/// revocable there. Answers the consent and the family's id.
pub(crate) async fn start_person_grant(
    state: &AppState,
    client: &Client,
    user_id: &str,
    organization: Option<&str>,
    scope: &castellan_core::ScopeSet,
    now: DateTime<Utc>,
) -> Result<(Consent, String), castellan_store::StoreError> {
    let consent = state
        .store
        .record_consent(&Consent {
            id: new_grant_id(),
            user_id: user_id.to_owned(),
            client_id: client.id.clone(),
            organization_id: organization.map(str::to_owned),
            scope: scope.to_string(),
            created_at: now,
            updated_at: now,
        })
        .await?;
    let family_id = new_grant_id();
    state
        .store
        .insert_family(&family_id, &consent.id, now)
        .await?;
    Ok((consent, family_id))
}
