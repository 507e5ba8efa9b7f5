//! The token exchange grant (RFC 8693): a client presents a token it holds for someone (the
//! subject token) and gets a new access token for that subject, for the audience it names and
//! a scope that can only narrow, carrying an `act` claim that names who acts (the actor
//! token's subject, else the client) with any earlier actors nested inside.
//!
//! Subject and actor tokens are Castellan's access tokens (JWT or opaque), checked as
//! introspection checks them: a revoked, expired, other-environment, foreign or malformed
//! token is `invalid_grant`. A DPoP-bound one is accepted only with the request's proof of its
//! key. Where `[[jwt_bearer.issuers]]` are configured, a JWT of a trusted issuer is accepted
//! too (`urn:ietf:params:oauth:token-type:jwt`), verified as the JWT bearer grant verifies an
//! assertion. Who may exchange what is [`castellan_core::exchange::permission`]'s rule with the
//! configured `[[token_exchange.delegations]]`. A person's token is exchanged only while the
//! person exists and still belongs to its organization, and the new token belongs to the same
//! grant (`gid`): revoking the grant ends it too. It never outlives the subject token, and no
//! refresh token is issued.

use crate::error::OAuthFailure;
use crate::oauth::token::grant_tokens::{grant_user, token_type};
use crate::oauth::token::request::{ExchangeRequest, PresentedToken, MAX_EXCHANGED_TOKEN_LEN};
use crate::oauth::token::IssuedTokens;
use crate::oauth::tokens::TokenGrant;
use crate::oauth::tokens::{check_access_token, issue_family_access_token, Audience, Checked};
use crate::platform::state::AppState;
use castellan_core::client::Client;
use castellan_core::exchange::{
    act_claim, exchanged_scope, permission, Subject, ACCESS_TOKEN_TYPE, JWT_TYPE,
};
use castellan_core::grant::for_person;
use castellan_core::{OAuthError, ScopeSet};
use chrono::{DateTime, Utc};
use serde_json::Value;

/// A subject or actor token, checked.
struct Held {
    /// The person a trusted issuer's JWT is about (Castellan's own tokens name theirs by
    /// their grant, `gid`).
    person: Option<castellan_core::user::User>,
    sub: String,
    client_id: String,
    scope: ScopeSet,
    org: Option<String>,
    gid: Option<String>,
    aud: Vec<String>,
    exp: DateTime<Utc>,
    act: Option<Value>,
    may_act: Option<Value>,
}

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
) -> Result<IssuedTokens, OAuthFailure> {
    let subject = held(state, client, &asked.subject, "subject", jkt, now).await?;
    let actor = match &asked.actor {
        Some(a) => Some(held(state, client, a, "actor", jkt, now).await?),
        None => None,
    };
    let audiences: Vec<&str> = subject.aud.iter().map(String::as_str).collect();
    let allowed = permission(
        &client.id,
        actor.as_ref().map(|a| a.sub.as_str()),
        &Subject {
            client_id: &subject.client_id,
            audiences: &audiences,
            may_act: subject.may_act.as_ref(),
        },
        &state.config.token_exchange.rules(),
    )?;
    // A person's token: the person must still exist and belong to its organization, and holds
    // no administrative scope without the admin flag.
    let subject_scope = match (&subject.gid, &subject.person) {
        (Some(_), _) => {
            let user = grant_user(state, &subject.sub, subject.org.as_deref()).await?;
            for_person(&user, &subject.scope)
        }
        (None, Some(user)) => for_person(user, &subject.scope),
        (None, None) => subject.scope.clone(),
    };
    let scope = exchanged_scope(&subject_scope, asked.scope.as_ref(), &allowed)?;
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
    let audience = crate::oauth::resources::audience(state, &asked.resources)?;
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
        },
        subject.gid.as_deref(),
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
        refresh_token: None,
        id_token: None,
        organization_id: subject.org.clone(),
        user_id: (subject.gid.is_some() || subject.person.is_some()).then(|| subject.sub.clone()),
        issued_token_type: Some(ACCESS_TOKEN_TYPE),
    })
}

/// The presented `which` token (`subject` or `actor`), checked: a Castellan access token,
/// active, and used with a proof of its key when it is DPoP-bound; or, where
/// `[[jwt_bearer.issuers]]` are configured, a JWT of a trusted issuer (`…:token-type:jwt`).
async fn held(
    state: &AppState,
    client: &Client,
    presented: &PresentedToken,
    which: &'static str,
    jkt: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Held, OAuthFailure> {
    let token = presented.token.expose();
    let trusted_jwts = !state.config.jwt_bearer.issuers.is_empty();
    match presented.token_type.as_str() {
        ACCESS_TOKEN_TYPE => {}
        JWT_TYPE if trusted_jwts => return trusted_jwt(state, client, token, which, now).await,
        _ => {
            let also = if trusted_jwts {
                format!(" or {JWT_TYPE} (a JWT of a trusted issuer)")
            } else {
                String::new()
            };
            return Err(OAuthError::invalid_request(format!(
                "{which}_token_type: {ACCESS_TOKEN_TYPE} (a Castellan access token){also} is accepted"
            ))
            .into());
        }
    }
    if token.is_empty() || token.len() > MAX_EXCHANGED_TOKEN_LEN {
        return Err(invalid_grant(format!("the {which} token is not valid")));
    }
    let checked = match check_access_token(state, token, now, Audience::Any).await? {
        Ok(c) => c,
        Err(reason) => {
            return Err(invalid_grant(format!(
                "the {which} token is not valid: {}",
                reason.describe()
            )))
        }
    };
    // RFC 9449 §7: a bound token is used only by whoever holds its key.
    if let Some(bound) = checked.jkt() {
        if jkt != Some(bound) {
            return Err(invalid_grant(format!(
                "the {which} token is DPoP-bound: send a DPoP proof made with its key"
            )));
        }
    }
    Ok(held_of(state, checked))
}

/// A JWT of a trusted issuer presented as a subject or actor token: verified as the JWT bearer
/// grant verifies an assertion (its `jti` is not used up: the token may be exchanged again
/// while it lives). Its subject is the person it names, or the issuer's service; the client it
/// was issued to is its `client_id` (else `azp`); its scope, its `scope` claim.
async fn trusted_jwt(
    state: &AppState,
    client: &Client,
    token: &str,
    which: &'static str,
    now: DateTime<Utc>,
) -> Result<Held, OAuthFailure> {
    use crate::oauth::token::jwt_bearer::{person_of, service_subject, verify};
    let a = verify(state, token, &client.id, now).await.map_err(|e| {
        invalid_grant(format!(
            "the {which} token is not valid: {}",
            e.error.description()
        ))
    })?;
    let person = person_of(state, &a).await?;
    let text = |k: &str| a.claims.get(k).and_then(Value::as_str);
    let aud = match a.claims.get("aud") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(l)) => l
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    Ok(Held {
        sub: person
            .as_ref()
            .map_or_else(|| service_subject(&a), |u| u.id.clone()),
        client_id: text("client_id")
            .or(text("azp"))
            .unwrap_or_default()
            .to_owned(),
        scope: text("scope")
            .and_then(|s| ScopeSet::parse(s).ok())
            .unwrap_or_default(),
        org: None,
        gid: None,
        aud,
        exp: a
            .claims
            .get("exp")
            .and_then(Value::as_i64)
            .and_then(|e| DateTime::from_timestamp(e, 0))
            .unwrap_or(now),
        act: a.claims.get("act").cloned(),
        may_act: a.claims.get("may_act").cloned(),
        person,
    })
}

fn held_of(state: &AppState, checked: Checked) -> Held {
    let aud = checked.audience().map_or_else(
        || vec![state.config.default_audience().to_owned()],
        |a| a.iter().map(str::to_owned).collect(),
    );
    let scope = ScopeSet::parse(checked.scope()).unwrap_or_default();
    let org = checked.organization().map(str::to_owned);
    let gid = checked.family().map(str::to_owned);
    match checked {
        Checked::Jwt(c) => Held {
            person: None,
            sub: c.sub,
            client_id: c.client_id,
            scope,
            org,
            gid,
            aud,
            exp: DateTime::from_timestamp(c.exp, 0).unwrap_or_default(),
            act: c.act,
            may_act: c.may_act,
        },
        Checked::Opaque(t) => Held {
            person: None,
            act: t.claims.get("act").cloned(),
            may_act: t.claims.get("may_act").cloned(),
            sub: t.subject,
            client_id: t.client_id,
            scope,
            org,
            gid,
            aud,
            exp: t.expires_at,
        },
    }
}
