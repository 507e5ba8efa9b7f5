//! The tokens an exchange reads (RFC 8693 §2.1): a subject or actor token, checked and read
//! into what the policy needs ([`Held`]).
//!
//! Castellan access tokens (JWT or opaque) are checked as introspection checks them: a revoked,
//! expired, other-environment, foreign or malformed token is `invalid_grant`, and a DPoP-bound
//! one is accepted only with the request's proof of its key.
//!
//! Castellan ID tokens are subject tokens only where `[token_exchange] id_token_subjects` is
//! set, and only for a confidential client (an ID token is a bearer credential that is often
//! handed on; a public client's id proves nothing). An ID token carries no scope: it must name
//! its grant (`gid`), which must still be live, and the person's consent behind that grant to
//! the ID token's client (still active) gives the scope and the organization. The exchanged
//! token belongs to that grant, like an access token's.

use crate::error::OAuthFailure;
use crate::oauth::id_token::IdClaims;
use crate::oauth::token::request::{PresentedToken, MAX_EXCHANGED_TOKEN_LEN};
use crate::oauth::tokens::Audience as CheckedFor;
use crate::oauth::tokens::{check_access_token, Checked};
use crate::platform::state::AppState;
use castellan_core::client::{Client, ClientKind};
use castellan_core::exchange::{ACCESS_TOKEN_TYPE, ID_TOKEN_TYPE, JWT_TYPE};
use castellan_core::{OAuthError, ScopeSet};
use castellan_crypto::jws;
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

/// How far in the future an ID token's `iat` may be (clock skew between replicas).
const IAT_SKEW_SECONDS: i64 = 60;

/// A subject or actor token, checked.
pub(super) struct Held {
    pub sub: String,
    /// The client it was issued to.
    pub client_id: String,
    pub scope: ScopeSet,
    pub org: Option<String>,
    /// The grant (token family) of a person's access token.
    pub gid: Option<String>,
    /// Whether it is a person's token (a grant's access token, or an ID token).
    pub person: bool,
    /// Whether it is an ID token: its audience is a client, not a resource.
    pub id_token: bool,
    pub aud: Vec<String>,
    pub exp: DateTime<Utc>,
    /// When the person signed in, or (not known) when the token was issued: they had by then.
    pub signed_in_by: DateTime<Utc>,
    pub act: Option<Value>,
    pub may_act: Option<Value>,
}

fn invalid_grant(d: impl Into<std::borrow::Cow<'static, str>>) -> OAuthFailure {
    OAuthError::invalid_grant(d).into()
}

/// The subject token of an exchange by `client`, checked.
pub(super) async fn subject(
    state: &AppState,
    client: &Client,
    presented: &PresentedToken,
    jkt: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Held, OAuthFailure> {
    if presented.token_type == ID_TOKEN_TYPE && state.config.token_exchange.id_token_subjects {
        return id_token(state, client, presented, now).await;
    }
    held(state, presented, "subject", jkt, now).await
}

/// The presented `which` token (`subject` or `actor`), checked: a Castellan access token,
/// active, and used with a proof of its key when it is DPoP-bound.
pub(super) async fn held(
    state: &AppState,
    presented: &PresentedToken,
    which: &'static str,
    jkt: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Held, OAuthFailure> {
    let token = presented.token.expose();
    if presented.token_type != ACCESS_TOKEN_TYPE {
        let id_tokens = if state.config.token_exchange.id_token_subjects {
            format!(", {ID_TOKEN_TYPE} (a Castellan ID token)")
        } else {
            String::new()
        };
        return Err(OAuthError::invalid_request(format!(
            "{which}_token_type: {ACCESS_TOKEN_TYPE} (a Castellan access token) is accepted, \
             and for the subject token {JWT_TYPE} (a trusted issuer's JWT) where issuers are \
             configured{id_tokens}"
        ))
        .into());
    }
    if token.is_empty() || token.len() > MAX_EXCHANGED_TOKEN_LEN {
        return Err(invalid_grant(format!("the {which} token is not valid")));
    }
    let checked = match check_access_token(state, token, now, CheckedFor::Any).await? {
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

fn held_of(state: &AppState, checked: Checked) -> Held {
    let aud = checked.audience().map_or_else(
        || vec![state.config.default_audience().to_owned()],
        |a| a.iter().map(str::to_owned).collect(),
    );
    let scope = ScopeSet::parse(checked.scope()).unwrap_or_default();
    let org = checked.organization().map(str::to_owned);
    let gid = checked.family().map(str::to_owned);
    let person = gid.is_some();
    match checked {
        Checked::Jwt(c) => Held {
            sub: c.sub,
            client_id: c.client_id,
            scope,
            org,
            gid,
            person,
            id_token: false,
            aud,
            exp: DateTime::from_timestamp(c.exp, 0).unwrap_or_default(),
            signed_in_by: DateTime::from_timestamp(c.iat, 0).unwrap_or_default(),
            act: c.act,
            may_act: c.may_act,
        },
        Checked::Opaque(t) => Held {
            act: t.claims.get("act").cloned(),
            may_act: t.claims.get("may_act").cloned(),
            sub: t.subject,
            client_id: t.client_id,
            scope,
            org,
            gid,
            person,
            id_token: false,
            aud,
            exp: t.expires_at,
            signed_in_by: t.issued_at,
        },
    }
}

/// A Castellan ID token as the subject token (see the module's text).
async fn id_token(
    state: &AppState,
    client: &Client,
    presented: &PresentedToken,
    now: DateTime<Utc>,
) -> Result<Held, OAuthFailure> {
    if client.kind == ClientKind::Public {
        return Err(OAuthError::unauthorized_client(
            "an ID token is exchanged only by a confidential client",
        )
        .into());
    }
    let token = presented.token.expose();
    if token.is_empty() || token.len() > MAX_EXCHANGED_TOKEN_LEN {
        return Err(invalid_grant("the subject token is not a valid ID token"));
    }
    let claims = verify_id_token(state, token, now).await.map_err(|why| {
        invalid_grant(format!("the subject token is not a valid ID token: {why}"))
    })?;
    let ended = || invalid_grant("the ID token's grant was revoked, or its client is gone");
    let gid = claims
        .gid
        .ok_or_else(|| invalid_grant("the ID token names no grant (gid)"))?;
    let consent_id = state
        .store
        .consent_of_live_family(&gid)
        .await?
        .ok_or_else(ended)?;
    let consent = state
        .store
        .get_consent(&consent_id)
        .await?
        .filter(|c| c.user_id == claims.sub && c.client_id == claims.aud)
        .ok_or_else(ended)?;
    match state.clients.get(state.store.as_ref(), &claims.aud).await? {
        Some(c) if c.is_active(now) => {}
        _ => return Err(ended()),
    }
    let scope = ScopeSet::parse(&consent.scope).map_err(|_| {
        OAuthFailure::from(OAuthError::server_error("the stored scope is unreadable"))
    })?;
    Ok(Held {
        sub: claims.sub,
        client_id: claims.aud,
        scope,
        org: consent.organization_id,
        gid: Some(gid),
        person: true,
        id_token: true,
        aud: vec![state.config.default_audience().to_owned()],
        exp: DateTime::from_timestamp(claims.exp, 0).unwrap_or_default(),
        signed_in_by: DateTime::from_timestamp(claims.auth_time, 0).unwrap_or_default(),
        act: None,
        may_act: None,
    })
}

/// The claims of an ID token Castellan signed (`typ: JWT`, one of its keys, its issuer), not
/// expired and not issued in the future; why not otherwise.
async fn verify_id_token(
    state: &AppState,
    token: &str,
    now: DateTime<Utc>,
) -> Result<IdClaims, &'static str> {
    let kid = jws::parse(token).map_err(|_| "malformed")?.header.kid;
    let mut keys = state.keys.keys();
    if let Some(kid) = kid.as_deref() {
        if !keys.has_kid(kid) && state.keys.reload_for_unknown_kid(kid, now).await {
            keys = state.keys.keys();
        }
    }
    let verified =
        jws::verify(token, Some("JWT"), |kid| keys.verifier(kid)).map_err(|e| match e {
            jws::JwsError::UnknownKey => "not signed by a key of this server",
            jws::JwsError::Signature | jws::JwsError::Algorithm => "bad signature",
            jws::JwsError::Type(_) => "not an ID token (typ)",
            jws::JwsError::Malformed | jws::JwsError::TooLarge => "malformed",
        })?;
    let claims: IdClaims =
        serde_json::from_value(Value::Object(verified.claims)).map_err(|_| "malformed claims")?;
    if claims.iss != state.config.issuer {
        return Err("issued by another issuer");
    }
    if claims.exp <= now.timestamp() {
        return Err("expired");
    }
    if claims.iat > (now + Duration::seconds(IAT_SKEW_SECONDS)).timestamp() {
        return Err("issued in the future");
    }
    Ok(claims)
}
