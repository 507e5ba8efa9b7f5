//! The token exchange grant (RFC 8693): a client presents a token it holds for someone (the
//! subject token) and gets a new access token for that subject, for the audience it names and
//! a scope that can only narrow, carrying an `act` claim that names who acts (the actor
//! token's subject, else the client) with any earlier actors nested inside.
//!
//! Subject and actor tokens are Castellan's access tokens, and where configured its ID tokens
//! ([`subject`]). Where `[[jwt_bearer.issuers]]` are configured, a trusted issuer's JWT is a
//! subject token too (`urn:ietf:params:oauth:token-type:jwt`): it passes every rule of the JWT
//! bearer grant (the client must be given that grant), and the token names the client as the
//! actor. Who may exchange what is [`castellan_core::exchange::permission`]'s rule with the
//! configured `[[token_exchange.delegations]]`. A person's token is exchanged only while the
//! person exists and still belongs to its organization. The new token belongs to the subject
//! token's grant (`gid`), or, when it comes with a refresh token, to a family delegated from
//! that grant ([`family`]); it never outlives the subject token.

mod family;
pub(crate) mod renewal;
mod subject;

use crate::error::OAuthFailure;
use crate::oauth::token::grant_tokens::{grant_user, token_type};
use crate::oauth::token::jwt_bearer::from_assertion;
use crate::oauth::token::request::AssertionRequest;
use crate::oauth::token::request::ExchangeRequest;
use crate::oauth::token::GrantError;
use crate::oauth::token::IssuedTokens;
use crate::oauth::tokens::{issue_family_access_token, TokenGrant};
use crate::platform::state::AppState;
use castellan_core::client::Client;
use castellan_core::client::GrantType;
use castellan_core::exchange::Permission;
use castellan_core::exchange::{
    act_claim, exchanged_scope, permission, Subject, ACCESS_TOKEN_TYPE, JWT_TYPE,
};
use castellan_core::grant::for_person;
use castellan_core::resource::Audience;
use castellan_core::scope::allowed_by;
use castellan_core::Secret;
use castellan_core::{OAuthError, ScopeSet};
use chrono::{DateTime, Utc};
use family::{family, refresh_token, Renewed};
use subject::{held, subject, Held};

fn invalid_grant(d: impl Into<std::borrow::Cow<'static, str>>) -> OAuthFailure {
    OAuthError::invalid_grant(d).into()
}

/// Exchanges the subject token of `asked` for `client`, the new token bound to `jkt`.
pub async fn exchange(
    state: &AppState,
    client: &Client,
    asked: &ExchangeRequest,
    jkt: Option<&str>,
    now: DateTime<Utc>,
) -> Result<IssuedTokens, GrantError> {
    if asked.subject.token_type == JWT_TYPE && !state.config.jwt_bearer.issuers.is_empty() {
        return trusted_jwt(state, client, asked, jkt, now).await;
    }
    Ok(castellan_token(state, client, asked, jkt, now).await?)
}

/// A trusted issuer's JWT as the subject token: the JWT bearer grant's every rule applies
/// (the client must be given that grant; the issuer's clients, typ, audience, lifetime and
/// client binding; the JWT used once; the client's registered scopes and an ID-JAG's bounds;
/// a person's grant), and the token names the client acting (`act`). No actor token.
async fn trusted_jwt(
    state: &AppState,
    client: &Client,
    asked: &ExchangeRequest,
    jkt: Option<&str>,
    now: DateTime<Utc>,
) -> Result<IssuedTokens, GrantError> {
    if !client.allows_grant(GrantType::JwtBearer) {
        return Err(OAuthFailure::from(OAuthError::unauthorized_client(
            "exchanging a trusted issuer's JWT needs the JWT bearer grant",
        ))
        .into());
    }
    if asked.actor.is_some() {
        return Err(OAuthFailure::from(OAuthError::invalid_request(
            "an actor token is not taken with a trusted issuer's JWT: the client is the actor",
        ))
        .into());
    }
    let act = act_claim(&client.id, Some(&client.id), None)?;
    let assertion = AssertionRequest {
        assertion: Secret::new(asked.subject.token.expose()),
        scope: asked.scope.clone(),
        resources: asked.resources.clone(),
        organization_id: None,
    };
    let mut issued = from_assertion(state, client, &assertion, jkt, Some(&act), now).await?;
    issued.issued_token_type = Some(ACCESS_TOKEN_TYPE);
    Ok(issued)
}

/// A Castellan access token as the subject token.
async fn castellan_token(
    state: &AppState,
    client: &Client,
    asked: &ExchangeRequest,
    jkt: Option<&str>,
    now: DateTime<Utc>,
) -> Result<IssuedTokens, OAuthFailure> {
    let subject = subject(state, client, &asked.subject, jkt, now).await?;
    let actor = match &asked.actor {
        Some(a) => Some(held(state, a, "actor", jkt, now).await?),
        None => None,
    };
    // The actor token is the client's own: its token, or a token for it as a subject. Anyone
    // else's would let the client name another party as the actor.
    if let Some(a) = &actor {
        if a.client_id != client.id && a.sub != client.id {
            return Err(invalid_grant(
                "the actor token must be the client's own (issued to it, or about it)",
            ));
        }
    }
    let audiences: Vec<&str> = subject.aud.iter().map(String::as_str).collect();
    let allowed = permission(
        &client.id,
        actor.as_ref().map(|a| a.sub.as_str()),
        &Subject {
            client_id: &subject.client_id,
            audiences: &audiences,
            may_act: subject.may_act.as_ref(),
            person: subject.person,
        },
        &state.config.token_exchange.rules(),
    )?;
    // A person's token: the person must still exist and belong to its organization, and holds
    // no administrative scope without the admin flag.
    let subject_scope = match subject.person {
        true => {
            let user = grant_user(state, &subject.sub, subject.org.as_deref()).await?;
            for_person(&user, &subject.scope)
        }
        false => subject.scope.clone(),
    };
    let scope = within_client(
        client,
        exchanged_scope(&subject_scope, asked.scope.as_ref(), &allowed)?,
        asked.scope.is_some(),
    )?;
    // Who acts: the actor token's subject, else the client (unless it exchanges a token that
    // is its own, with nobody acting for anyone).
    let act = match &actor {
        Some(a) => Some(act_claim(&a.sub, Some(&a.client_id), subject.act.as_ref())?),
        None if subject.sub == client.id && subject.act.is_none() => None,
        None => Some(act_claim(
            &client.id,
            Some(&client.id),
            subject.act.as_ref(),
        )?),
    };
    let audience = exchanged_audience(state, client, &subject, &allowed, &asked.resources)?;
    let family = family(state, client, &subject, &allowed, &scope, now).await?;
    let issued = issue_family_access_token(
        state,
        TokenGrant {
            client,
            subject: &subject.sub,
            scope: &scope,
            audience: &audience,
            organization: subject.org.as_deref(),
            jkt,
            act: act.as_ref(),
            expires_by: Some(subject.exp),
            sign_in: None,
        },
        family.gid.as_deref(),
        now,
    )
    .await?;
    let refresh = refresh_token(
        state,
        client,
        &family,
        &Renewed {
            subject: &subject,
            scope: &scope,
            audience: &audience,
            act: act.as_ref(),
            jkt,
        },
        now,
    )
    .await?;
    state
        .usage
        .record(&state.store, &client.id, now.date_naive());
    Ok(IssuedTokens {
        access_token: issued.token.into_exposed(),
        token_type: token_type(jkt),
        expires_in: issued.expires_in,
        scope: scope.to_string(),
        created_at: issued.issued_at.timestamp(),
        refresh_token: refresh.map(Secret::into_exposed),
        id_token: None,
        organization_id: subject.org.clone(),
        user_id: subject.person.then(|| subject.sub.clone()),
        issued_token_type: Some(ACCESS_TOKEN_TYPE),
    })
}

/// `scope` cut to the client's registered scopes: a scope asked for that the client may not
/// hold is `invalid_scope`; one it was not asked for is left out (none left: `invalid_scope`).
fn within_client(client: &Client, scope: ScopeSet, asked: bool) -> Result<ScopeSet, OAuthFailure> {
    let refused = |s: &castellan_core::scope::Scope| !allowed_by(&client.scope, s);
    if asked {
        if let Some(bad) = scope.iter().find(|s| refused(s)) {
            return Err(OAuthError::invalid_scope(format!(
                "the client is not allowed the scope `{bad}`"
            ))
            .into());
        }
        return Ok(scope);
    }
    let kept: ScopeSet = scope.iter().filter(|s| !refused(s)).cloned().collect();
    if kept.is_empty() {
        return Err(OAuthError::invalid_scope(
            "the client is allowed none of the subject token's scopes",
        )
        .into());
    }
    Ok(kept)
}

/// The audience of the exchanged token. A client's own token (it is its subject) may be
/// exchanged for any configured resource, as `client_credentials` would give. Any other
/// subject token's audience may only narrow: to the resources asked, each one of the subject
/// token's or of the delegation rule's `audiences` (none asked: the subject token's).
fn exchanged_audience(
    state: &AppState,
    client: &Client,
    subject: &Held,
    allowed: &Permission,
    asked: &[String],
) -> Result<Audience, OAuthFailure> {
    // An ID token names no resource: a client exchanging its own is given what an
    // authorization would give it (any configured resource, the default audience when none).
    let own = (!subject.person && subject.sub == client.id && subject.client_id == client.id)
        || (subject.id_token && *allowed == Permission::Own);
    if own {
        return Ok(crate::oauth::resources::audience(state, asked)?);
    }
    let held = Audience::from_list(subject.aud.clone()).ok_or_else(|| {
        OAuthFailure::from(OAuthError::invalid_grant(
            "the subject token names no audience",
        ))
    })?;
    if asked.is_empty() {
        return Ok(held);
    }
    let extra: &[String] = match allowed {
        Permission::Delegated(_, audiences) => audiences,
        Permission::Own => &[],
    };
    if let Some(bad) = asked
        .iter()
        .find(|a| !subject.aud.contains(a) && !extra.contains(a))
    {
        return Err(OAuthError::new(
            castellan_core::OAuthErrorCode::InvalidTarget,
            format!(
                "an exchange may only narrow the subject token's audience: `{}` is not one of \
                 its audiences",
                castellan_core::query::truncate_for_message(bad)
            ),
        )
        .into());
    }
    Audience::from_list(asked.to_vec()).ok_or_else(|| {
        OAuthFailure::from(OAuthError::new(
            castellan_core::OAuthErrorCode::InvalidTarget,
            "the audience asked is malformed",
        ))
    })
}
