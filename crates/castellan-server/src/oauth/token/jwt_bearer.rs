//! The JWT bearer grant (RFC 7523 §2.1): a client presents an assertion signed by a trusted
//! issuer (`[[jwt_bearer.issuers]]`) about a subject, and gets an access token for it.
//!
//! The assertion is read once, its `iss` looked up among the trusted issuers, then verified
//! with that issuer's keys and pinned algorithms before any claim is trusted; its claims are
//! checked by [`castellan_core::client_assertion::check_grant_assertion`] (issuer, subject,
//! audience, bounded `exp`, `iat`, `nbf`, a `jti`), and the `jti` is then used up through the
//! replay check, across replicas. Every refusal of the assertion is `invalid_grant`.
//!
//! The subject becomes a person (by id or email) or a service of the issuer
//! (`<name>:<sub>`). A person's token belongs to a grant recorded like the password grant's
//! (listed among their connected apps, revocable there), in the organization asked or their
//! only one. An identity assertion authorization grant (ID-JAG, the issuer's `id_jag`) must
//! carry `typ: oauth-id-jag+jwt` and the presenting client's id in `client_id`; its `scope`
//! and `resource` claims bound the token's. No refresh token is issued: the issuer vouches
//! for the subject for as long as its assertion lives.

use crate::error::OAuthFailure;
use crate::oauth::token::grant_tokens::{answer_user_grant, UserGrant};
use crate::oauth::token::password::{choose_organization, start_person_grant, still_enabled};
use crate::oauth::token::request::{AssertionRequest, MAX_EXCHANGED_TOKEN_LEN};
use crate::oauth::token::{GrantError, IssuedTokens};
use crate::oauth::tokens::{issue_access_token, TokenGrant};
use crate::oauth::trusted_issuers::{SubjectMapping, TrustedIssuer, ID_JAG_TYP};
use crate::platform::replay::{OneTimeId, Replay};
use crate::platform::state::AppState;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use castellan_core::client::Client;
use castellan_core::client_assertion::{check_grant_assertion, GrantRules};
use castellan_core::grant::{for_person, grant_scopes, person_scopes};
use castellan_core::user::normalize_email;
use castellan_core::{OAuthError, ScopeSet};
use castellan_crypto::jwk::JwsAlgorithm;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

fn invalid_grant(d: impl Into<std::borrow::Cow<'static, str>>) -> GrantError {
    GrantError::OAuth(refused(d))
}

fn refused(d: impl Into<std::borrow::Cow<'static, str>>) -> OAuthFailure {
    OAuthError::invalid_grant(d).into()
}

/// A checked assertion of a trusted issuer: the issuer, the claims, the subject and its
/// one-time id.
pub(crate) struct Asserted<'a> {
    /// The trusted issuer that signed it.
    pub issuer: &'a TrustedIssuer,
    /// Its claims, verified.
    pub claims: Map<String, Value>,
    /// Its `sub`.
    pub sub: String,
    /// Its `jti` and `exp`.
    id: castellan_core::client_assertion::AssertionId,
}

/// Issues `client` a token for the subject of `asked`'s assertion, bound to `jkt`.
pub async fn jwt_bearer(
    state: &AppState,
    client: &Client,
    asked: &AssertionRequest,
    jkt: Option<&str>,
    now: DateTime<Utc>,
) -> Result<IssuedTokens, GrantError> {
    from_assertion(state, client, asked, jkt, None, now).await
}

/// The grant's work, for this grant and for a token exchange whose subject token is a trusted
/// issuer's JWT (the token then names the client acting, `act`): every rule of this grant
/// applies either way.
pub(crate) async fn from_assertion(
    state: &AppState,
    client: &Client,
    asked: &AssertionRequest,
    jkt: Option<&str>,
    act: Option<&Value>,
    now: DateTime<Utc>,
) -> Result<IssuedTokens, GrantError> {
    if state.config.jwt_bearer.issuers.is_empty() {
        return Err(GrantError::OAuth(
            OAuthError::unsupported_grant_type("no trusted issuer is configured on this server")
                .into(),
        ));
    }
    let a = verify(state, asked.assertion.expose(), &client.id, now).await?;
    // An assertion bound to a key (`cnf.jkt`) is used only with a proof of that key.
    if let Some(bound) = a.claims.get("cnf").and_then(|c| c.get("jkt")) {
        if bound.as_str() != jkt {
            return Err(invalid_grant(
                "the assertion is bound to a key (cnf.jkt): send a DPoP proof made with it",
            ));
        }
    }
    use_once(state, &a, now).await?;
    let (scope, resources) = bounds(&a, asked)?;
    let aud = crate::oauth::resources::audience(state, &resources)?;
    // A person's issuer names a person (an unknown one is refused); a service's names none.
    match person_of(state, &a).await? {
        None => {
            let scope = grant_scopes(client, scope.as_ref())?;
            let subject = service_subject(&a);
            let issued = issue_access_token(
                state,
                TokenGrant {
                    client,
                    subject: &subject,
                    scope: &scope,
                    audience: &aud,
                    organization: None,
                    jkt,
                    act,
                    expires_by: None,
                    sign_in: None,
                },
                now,
            )
            .await
            .map_err(OAuthFailure::from)?;
            Ok(crate::oauth::token::client_credentials::answered(
                state, client, &scope, issued, jkt, now,
            ))
        }
        Some(user) => {
            let organization =
                choose_organization(state, &user, asked.organization_id.as_deref()).await?;
            let scope = for_person(&user, &person_scopes(client, scope.as_ref())?);
            let (_, family) = start_person_grant(
                state,
                client,
                &user.id,
                organization.as_deref(),
                &scope,
                now,
            )
            .await?;
            still_enabled(state, &user.id, &family, now).await?;
            Ok(answer_user_grant(
                state,
                &UserGrant {
                    client,
                    user: &user,
                    organization: organization.as_deref(),
                    scope: &scope,
                    audience: &aud,
                    family_id: &family,
                    auth_time: now,
                    // No one signed in here: the assertion's issuer vouches for the subject.
                    amr: castellan_core::authn::Amr::NONE,
                    sid: None,
                    nonce: None,
                    jkt,
                    act,
                    id_token: true,
                },
                None,
                now,
            )
            .await?)
        }
    }
}

/// The person an assertion is about, for an issuer whose subjects are people (`None` for one
/// whose subjects are its services); `invalid_grant` when no such person exists.
pub(crate) async fn person_of(
    state: &AppState,
    a: &Asserted<'_>,
) -> Result<Option<castellan_core::user::User>, OAuthFailure> {
    let found = match a.issuer.subject {
        SubjectMapping::Service => return Ok(None),
        SubjectMapping::UserId => state.store.get_user(&a.sub).await?,
        SubjectMapping::Email => {
            // The issuer must say it verified the address (an address a person may set to
            // anything would name anyone), and only plain ASCII addresses are compared.
            let verified = a.claims.get("email_verified") == Some(&Value::Bool(true));
            let email = a.claims.get("email").and_then(Value::as_str);
            match email
                .filter(|e| verified && e.is_ascii())
                .and_then(normalize_email)
            {
                Some(email) => state.store.find_user_by_email(&email).await?,
                None => {
                    return Err(refused(
                        "the assertion names no verified email address (email, email_verified)",
                    ))
                }
            }
        }
    };
    match found {
        Some(u) if u.disabled_at.is_some() => Err(refused("the assertion's subject is disabled")),
        Some(u) => Ok(Some(u)),
        None => Err(refused("the assertion's subject is not a known person")),
    }
}

/// The subject a service assertion's token is for: `<issuer name>:<sub>`.
pub(crate) fn service_subject(a: &Asserted<'_>) -> String {
    format!("{}:{}", a.issuer.name, a.sub)
}

/// Uses up the assertion's `jti` (for as long as it could pass), across replicas: a second
/// use is `invalid_grant`.
async fn use_once(
    state: &AppState,
    a: &Asserted<'_>,
    now: DateTime<Utc>,
) -> Result<(), OAuthFailure> {
    let leeway = i64::from(state.config.token.leeway_seconds);
    let until = DateTime::from_timestamp(a.id.exp.saturating_add(leeway), 0).unwrap_or(now);
    let once = OneTimeId::grant_assertion(&a.issuer.issuer, &a.id.jti);
    match Replay::of(state).first_use(&once, until.max(now)).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(refused("the assertion was already used (jti)")),
        Err(unavailable) => Err(OAuthFailure::from(OAuthError::from(unavailable))),
    }
}

/// A JWT of a trusted issuer, verified: signed with one of its keys and pinned algorithms, its
/// claims checked (an ID-JAG's `client_id` must be `client_id`); its `jti` is not used up here.
pub(crate) async fn verify<'s>(
    state: &'s AppState,
    assertion: &str,
    client_id: &str,
    now: DateTime<Utc>,
) -> Result<Asserted<'s>, OAuthFailure> {
    if assertion.is_empty() || assertion.len() > MAX_EXCHANGED_TOKEN_LEN {
        return Err(refused("the assertion is not a JWT"));
    }
    let parsed = castellan_crypto::jws::parse(assertion)
        .map_err(|_| refused("the assertion is not a JWT"))?;
    // Only `iss` is read before the signature is checked: it says whose keys to check with.
    let unverified = URL_SAFE_NO_PAD
        .decode(parsed.payload_b64)
        .ok()
        .and_then(|p| castellan_core::strict_json::parse(&p, 8).ok())
        .ok_or_else(|| refused("the assertion is not a JWT"))?;
    let iss = unverified.get("iss").and_then(Value::as_str).unwrap_or("");
    let issuer = state
        .config
        .jwt_bearer
        .issuer(iss)
        .ok_or_else(|| refused("the assertion's issuer is not trusted"))?;
    let alg = JwsAlgorithm::from_name(&parsed.header.alg);
    if !alg.is_some_and(|a| issuer.algorithms.iter().any(|n| n == a.name())) {
        return Err(refused(
            "the assertion is signed with an algorithm its issuer does not use",
        ));
    }
    let keys = state
        .client_keys
        .keys_at(
            issuer.static_jwks().as_ref(),
            issuer.jwks_uri.as_deref(),
            parsed.header.kid.as_deref(),
            &state.fetcher,
            state.config.client_metadata.jwks_limits(),
        )
        .await
        .map_err(|e| {
            tracing::warn!(issuer = %issuer.name, error = %e, "a trusted issuer's keys could not be had");
            refused("the assertion's issuer's keys could not be read")
        })?;
    if !issuer.clients.is_empty() && !issuer.clients.iter().any(|c| c == client_id) {
        return Err(refused(
            "this client may not present this issuer's assertions",
        ));
    }
    // An ID-JAG says so in its typ; any other assertion is a plain JWT (an access token,
    // `at+jwt`, or another typed token is not an assertion).
    let typ_ok = match (issuer.id_jag, parsed.header.typ.as_deref()) {
        (true, Some(t)) => t.eq_ignore_ascii_case(ID_JAG_TYP),
        (true, None) => false,
        (false, t) => t.is_none_or(|t| t.eq_ignore_ascii_case("JWT")),
    };
    if !typ_ok {
        return Err(refused(
            "the assertion's typ is not one this issuer's assertions have",
        ));
    }
    let verified = castellan_crypto::jwk::verify_with(assertion, None, &keys)
        .map_err(|_| refused("the assertion's signature does not verify"))?;
    let own = state.config.issuer.as_str();
    let token_endpoint = state.config.endpoint("/oauth/token");
    let defaults = [own, own.trim_end_matches('/'), token_endpoint.as_str()];
    let configured: Vec<&str> = issuer.audiences.iter().map(String::as_str).collect();
    let rules = GrantRules {
        issuer: &issuer.issuer,
        audiences: if configured.is_empty() {
            &defaults
        } else {
            &configured
        },
        now: now.timestamp(),
        leeway: i64::from(state.config.token.leeway_seconds),
        max_lifetime: i64::from(issuer.max_lifetime_seconds),
    };
    let checked = check_grant_assertion(&verified.claims, &rules)
        .map_err(|why| refused(format!("the assertion is not valid: {why}")))?;
    // An assertion naming a client is that client's alone; an ID-JAG must name one.
    let named = ["client_id", "azp"]
        .iter()
        .find_map(|k| verified.claims.get(*k).and_then(Value::as_str));
    match named {
        Some(c) if c != client_id => {
            return Err(refused("the assertion was issued for another client"));
        }
        None if issuer.id_jag => {
            return Err(refused(
                "the identity assertion names no client (client_id)",
            ));
        }
        _ => {}
    }
    Ok(Asserted {
        issuer,
        claims: verified.claims,
        sub: checked.sub,
        id: checked.id,
    })
}

/// The scope and resources asked, bounded by an ID-JAG's `scope` and `resource` claims: the
/// request may narrow them, never widen (none asked: the assertion's).
fn bounds(
    a: &Asserted<'_>,
    asked: &AssertionRequest,
) -> Result<(Option<ScopeSet>, Vec<String>), GrantError> {
    if !a.issuer.id_jag {
        return Ok((asked.scope.clone(), asked.resources.clone()));
    }
    let granted = a
        .claims
        .get("scope")
        .and_then(Value::as_str)
        .map(ScopeSet::parse)
        .transpose()
        .map_err(|_| invalid_grant("the identity assertion's scope is malformed"))?;
    let scope = match (&asked.scope, granted) {
        (Some(s), Some(g)) if !s.is_empty() => {
            if !s.is_subset_of(&g) {
                return Err(GrantError::OAuth(
                    OAuthError::invalid_scope("the scope asked is beyond the identity assertion's")
                        .into(),
                ));
            }
            Some(s.clone())
        }
        (_, g) => g.or_else(|| asked.scope.clone()),
    };
    let granted: Vec<String> = match a.claims.get("resource") {
        None => Vec::new(),
        Some(Value::String(r)) => vec![r.clone()],
        Some(Value::Array(list)) => list
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or_else(|| invalid_grant("the identity assertion's resource is malformed"))?,
        Some(_) => {
            return Err(invalid_grant(
                "the identity assertion's resource is malformed",
            ))
        }
    };
    let resources = if asked.resources.is_empty() {
        granted
    } else if granted.is_empty() || asked.resources.iter().all(|r| granted.contains(r)) {
        asked.resources.clone()
    } else {
        return Err(GrantError::OAuth(
            OAuthError::new(
                castellan_core::OAuthErrorCode::InvalidTarget,
                "a resource asked is beyond the identity assertion's",
            )
            .into(),
        ));
    };
    Ok((scope, resources))
}
