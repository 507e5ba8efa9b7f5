//! The authorization-code grant at the token endpoint (RFC 6749 §4.1.3, RFC 7636 §4.6). A
//! code is single-use: its redemption is decided atomically by the store, and a replay
//! answers `invalid_grant` and revokes the family its first use started (RFC 6749 §4.1.2),
//! so those access tokens introspect inactive and that refresh token is dead.
//!
//! Every refusal of the code itself is `invalid_grant`: unknown, replayed, expired, issued to
//! another client, a `redirect_uri` other than the one sent at authorize, a malformed or
//! non-matching `code_verifier`. PKCE is mandatory for public clients.
//!
//! A missing `code_verifier` for a code issued with a `code_challenge` is a malformed request
//! (`invalid_request`, RFC 6749 §5.2), found by reading the code before redeeming it,
//! so the code is not spent and a corrected request still works.
//!
//! The tokens carry no administrative scope unless the person has the admin flag.

use crate::error::OAuthFailure;
use crate::oauth::token::grant_tokens::{
    answer_user_grant, grant_user, refresh_binding, store_refresh_token, RefreshSeed, UserGrant,
    MAX_PRESENTED_LEN,
};
use crate::oauth::token::request::CodeRequest;
use crate::oauth::token::IssuedTokens;
use crate::platform::state::AppState;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use castellan_core::client::{Client, ClientKind};
use castellan_core::grant::for_person;
use castellan_core::pkce::{verifier_is_well_formed, CodeChallenge};
use castellan_core::{OAuthError, ScopeSet, Secret};
use castellan_crypto::hash_secret;
use castellan_store::people::{AuthorizationCode, CodeRedemption};
use chrono::{DateTime, Duration, Utc};

/// When a code issued at `now` expires (`token.authorization_code_seconds`, default 60 s).
/// The authorization endpoint stores this as the code's `expires_at`.
pub fn code_expires_at(state: &AppState, now: DateTime<Utc>) -> DateTime<Utc> {
    now + Duration::seconds(i64::from(state.config.token.authorization_code_seconds))
}

fn invalid_grant(d: &'static str) -> OAuthFailure {
    OAuthError::invalid_grant(d).into()
}

/// Redeems the code of `asked` for `client`'s tokens.
pub async fn exchange_code(
    state: &AppState,
    client: &Client,
    asked: &CodeRequest,
    jkt: Option<&str>,
    now: DateTime<Utc>,
) -> Result<IssuedTokens, OAuthFailure> {
    let presented = asked.code.expose();
    if presented.is_empty() || presented.len() > MAX_PRESENTED_LEN {
        return Err(invalid_grant("the code is unknown"));
    }
    let hash = hash_secret(presented).0;
    if asked.code_verifier.is_none() {
        refuse_missing_verifier(state, client, &hash).await?;
    }
    let code = match state.store.redeem_code(&hash, now).await? {
        CodeRedemption::Fresh(code) => code,
        CodeRedemption::Replayed(code) => {
            state
                .store
                .revoke_refresh_family(&code.family_id, now)
                .await?;
            state.token_checks.revoked_here();
            tracing::warn!(
                client_id = %client.id,
                "an authorization code was presented twice; the tokens from its first use are revoked"
            );
            return Err(invalid_grant(
                "the code was already used; the tokens issued from it are revoked",
            ));
        }
        CodeRedemption::Unknown => return Err(invalid_grant("the code is unknown")),
    };
    check_code(client, &code, asked, now)?;
    check_dpop_binding(&code, jkt)?;

    let stored_scope = ScopeSet::parse(&code.scope).map_err(|_| {
        OAuthFailure::from(OAuthError::server_error("the stored scope is unreadable"))
    })?;
    let organization = code.organization_id.as_deref();
    let user = grant_user(state, &code.user_id, organization).await?;
    // A person without the admin flag never holds an administrative scope, whatever the code
    // was issued for.
    let scope = for_person(&user, &stored_scope);
    let scope_text = scope.to_string();
    // The grant keeps every resource of the code; this token may be for fewer (RFC 8707 §2.2).
    let granted = crate::oauth::resources::granted(state, code.resources.as_ref());
    let audience = crate::oauth::resources::narrowed(&granted, &asked.resources)?;
    let refresh = store_refresh_token(
        state,
        client,
        &scope,
        &RefreshSeed {
            audience: &granted,
            family_id: &code.family_id,
            consent_id: &code.consent_id,
            user_id: &code.user_id,
            organization_id: organization,
            scope: &scope_text,
            auth_time: code.auth_time,
            amr: code.amr,
            sid: code.session_id.as_deref(),
            dpop_jkt: refresh_binding(client, jkt),
            delegation: None,
        },
        now,
    )
    .await?;
    answer_user_grant(
        state,
        &UserGrant {
            client,
            user: &user,
            organization,
            scope: &scope,
            audience: &audience,
            family_id: &code.family_id,
            auth_time: code.auth_time,
            amr: code.amr,
            sid: code.session_id.as_deref(),
            nonce: code.nonce.as_deref(),
            jkt,
            act: None,
            id_token: true,
        },
        refresh,
        now,
    )
    .await
}

/// `invalid_request` when the unspent code of this client was issued with a `code_challenge`
/// (a required parameter is missing); the code stays unused. Anything else about the code is
/// left to the redemption.
async fn refuse_missing_verifier(
    state: &AppState,
    client: &Client,
    hash: &[u8; 32],
) -> Result<(), OAuthFailure> {
    match state.store.find_code(hash).await? {
        Some(code) if code.client_id == client.id && code.code_challenge.is_some() => {
            Err(OAuthError::invalid_request(
                "code_verifier is required: the authorization request had a code_challenge",
            )
            .into())
        }
        _ => Ok(()),
    }
}

/// The bindings of a freshly redeemed code: client, expiry, redirect URI, PKCE.
fn check_code(
    client: &Client,
    code: &AuthorizationCode,
    asked: &CodeRequest,
    now: DateTime<Utc>,
) -> Result<(), OAuthFailure> {
    if code.client_id != client.id {
        return Err(invalid_grant("the code was issued to another client"));
    }
    if code.expires_at <= now {
        return Err(invalid_grant("the code has expired"));
    }
    // RFC 6749 §4.1.3: required, and identical, when the authorization request had one. An
    // empty stored redirect_uri means the request had none (the client's only URI was used).
    let sent = asked.redirect_uri.as_deref();
    if !code.redirect_uri.is_empty() {
        match sent {
            None => {
                return Err(invalid_grant(
                    "redirect_uri is required: the authorization request had one",
                ))
            }
            Some(uri) if uri != code.redirect_uri => {
                return Err(invalid_grant(
                    "redirect_uri differs from the one in the authorization request",
                ))
            }
            Some(_) => {}
        }
    }
    check_pkce(
        client,
        code,
        asked.code_verifier.as_ref().map(Secret::expose),
    )
}

/// RFC 9449 §10: a code whose authorization request named `dpop_jkt` is redeemed only with a
/// proof of that key.
fn check_dpop_binding(code: &AuthorizationCode, jkt: Option<&str>) -> Result<(), OAuthFailure> {
    match (code.dpop_jkt.as_deref(), jkt) {
        (None, _) => Ok(()),
        (Some(bound), Some(proved)) if bound == proved => Ok(()),
        (Some(_), Some(_)) => Err(invalid_grant(
            "the DPoP proof is not made with the key the authorization request named (dpop_jkt)",
        )),
        (Some(_), None) => Err(invalid_grant(
            "the code is bound to a DPoP key (dpop_jkt): send a DPoP proof made with it",
        )),
    }
}

/// RFC 7636 §4.6 with S256 only; a verifier without a challenge is refused too (RFC 9700
/// §2.1.1: no PKCE downgrade).
fn check_pkce(
    client: &Client,
    code: &AuthorizationCode,
    verifier: Option<&str>,
) -> Result<(), OAuthFailure> {
    match (&code.code_challenge, verifier) {
        (Some(challenge), Some(v)) => {
            if !verifier_is_well_formed(v) {
                return Err(invalid_grant(
                    "code_verifier must be 43 to 128 characters of [A-Za-z0-9-._~]",
                ));
            }
            let s256 = URL_SAFE_NO_PAD.encode(hash_secret(v).0);
            if CodeChallenge::from_stored(challenge.clone()).matches_s256(&s256) {
                Ok(())
            } else {
                Err(invalid_grant(
                    "code_verifier does not match the code_challenge",
                ))
            }
        }
        (Some(_), None) => Err(invalid_grant(
            "code_verifier is required: the authorization request had a code_challenge",
        )),
        (None, Some(_)) => Err(invalid_grant(
            "code_verifier was sent but the authorization request had no code_challenge",
        )),
        (None, None) if client.kind == ClientKind::Public => Err(invalid_grant(
            "PKCE is required for public clients: the code has no code_challenge",
        )),
        (None, None) => Ok(()),
    }
}
