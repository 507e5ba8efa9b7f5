//! Local verification of JWT access tokens (RFC 9068 §4): `typ` `at+jwt`, an accepted `alg`
//! matching the key named by `kid` (RFC 8725 §3.1), the signature, then `iss`, `env` (the
//! deployment environment), `exp`, `iat`/`nbf` within the leeway and, when configured, `aud`.

use crate::failure::Failure;
use crate::identity::{CredentialKind, Identity, Role};
use crate::jwks::JwksCache;
use castellan_core::token::{check_claims, AccessClaims, Inactive};
use castellan_core::Environment;
use castellan_crypto::jws::{self, JwsError};
use serde_json::{Map, Value};
use std::sync::Arc;

/// What a token's claims must say.
#[derive(Debug, Clone)]
pub(crate) struct Expectations {
    pub issuer: String,
    pub environment: Environment,
    pub audiences: Vec<String>,
    pub leeway: i64,
}

pub(crate) struct JwtVerifier {
    pub jwks: Arc<JwksCache>,
    pub expect: Expectations,
}

fn from_jws(e: JwsError) -> Failure {
    match e {
        JwsError::Malformed | JwsError::TooLarge | JwsError::Type(_) => {
            Failure::Token(Inactive::Malformed)
        }
        JwsError::Algorithm => Failure::Algorithm,
        JwsError::UnknownKey => Failure::Token(Inactive::UnknownKey),
        JwsError::Signature => Failure::Token(Inactive::BadSignature),
    }
}

impl JwtVerifier {
    /// Verifies `token` at `now` (Unix seconds): the caller, and what the revocation feed
    /// matches the token by.
    pub async fn verify(&self, token: &str, now: i64) -> Result<(Identity, Marks), Failure> {
        let keys = self.jwks.keys().await?;
        let verified = match jws::verify(token, Some("at+jwt"), |kid| keys.get(kid)) {
            Ok(v) => v,
            Err(JwsError::UnknownKey) => {
                let kid = jws::parse(token)
                    .ok()
                    .and_then(|p| p.header.kid)
                    .ok_or(Failure::Token(Inactive::UnknownKey))?;
                let fresh = self
                    .jwks
                    .refetch_for_unknown(&kid)
                    .await?
                    .ok_or(Failure::Token(Inactive::UnknownKey))?;
                jws::verify(token, Some("at+jwt"), |kid| fresh.get(kid)).map_err(from_jws)?
            }
            Err(e) => return Err(from_jws(e)),
        };
        verified_from_claims(verified.claims, &self.expect, now)
    }
}

/// What a JWT is matched by against the revocation feed (`crate::revocations`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Marks {
    pub jti: String,
    /// The token family of a user's grant.
    pub gid: Option<String>,
    pub client_id: String,
    pub sub: String,
    pub iat: i64,
    /// The key the token is bound to (`cnf.jkt`, RFC 9449 §6.1), if any.
    pub jkt: Option<String>,
    /// The rate-limit tier of the token's client (`tier`), if it has one.
    pub tier: Option<String>,
}

fn take_string(map: &mut Map<String, Value>, key: &str) -> Option<String> {
    match map.remove(key) {
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

/// The key a token's `cnf` binds it to (RFC 9449 §6: `{"jkt": "<thumbprint>"}`). A `cnf`
/// naming no `jkt` binds the token to something this guard cannot check (a certificate, RFC
/// 8705): such a token is refused rather than accepted as a bearer token.
pub(crate) fn bound_key(cnf: Option<&Value>) -> Result<Option<String>, Failure> {
    match cnf {
        None => Ok(None),
        Some(Value::Object(c)) => match c.get("jkt") {
            Some(Value::String(jkt)) if !jkt.is_empty() => Ok(Some(jkt.clone())),
            _ => Err(Failure::Token(Inactive::Malformed)),
        },
        Some(_) => Err(Failure::Token(Inactive::Malformed)),
    }
}

/// Checks the claims of a token whose signature verified, and names the caller.
#[cfg(test)]
pub(crate) fn identity_from_claims(
    map: Map<String, Value>,
    expect: &Expectations,
    now: i64,
) -> Result<Identity, Failure> {
    verified_from_claims(map, expect, now).map(|(identity, _)| identity)
}

/// Checks the claims of a token whose signature verified; names the caller and its marks.
pub(crate) fn verified_from_claims(
    mut map: Map<String, Value>,
    expect: &Expectations,
    now: i64,
) -> Result<(Identity, Marks), Failure> {
    let role = take_string(&mut map, "role");
    let brand = take_string(&mut map, "brand");
    let venue = take_string(&mut map, "venue");
    let nbf = map.get("nbf").map(Value::as_i64);
    let jkt = bound_key(map.get("cnf"))?;
    let audience_ok = crate::audience::accepts(map.get("aud"), &expect.audiences)
        .map_err(|_| Failure::Token(Inactive::Malformed))?;
    if let Some(Value::Array(list)) = map.get("aud") {
        // Checked above (a non-empty array of strings): the claims type is given the first,
        // whether it reads one audience or several.
        if let Some(first) = list.first().cloned() {
            map.insert("aud".into(), first);
        }
    }
    let claims: AccessClaims = serde_json::from_value(Value::Object(map))
        .map_err(|_| Failure::Token(Inactive::Malformed))?;
    check_claims(
        &claims,
        &expect.issuer,
        expect.environment.as_str(),
        now,
        expect.leeway,
    )
    .map_err(Failure::Token)?;
    match nbf {
        None => {}
        Some(Some(nbf)) if nbf <= now.saturating_add(expect.leeway) => {}
        Some(Some(_)) => return Err(Failure::Token(Inactive::NotYetValid)),
        Some(None) => return Err(Failure::Token(Inactive::Malformed)),
    }
    if !audience_ok {
        return Err(Failure::WrongAudience);
    }
    let marks = Marks {
        jti: claims.jti,
        gid: claims.gid,
        client_id: claims.client_id.clone(),
        sub: claims.sub.clone(),
        iat: claims.iat,
        jkt,
        tier: claims.tier.clone(),
    };
    let identity = Identity {
        scopes: Identity::scopes_from(&claims.scope),
        subject: claims.sub,
        client_id: claims.client_id,
        organization: claims.org,
        role: role.as_deref().and_then(Role::parse),
        kind: CredentialKind::Jwt,
        brand,
        venue,
        expires_at: Some(claims.exp),
    };
    Ok((identity, marks))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn expect() -> Expectations {
        Expectations {
            issuer: "http://as".into(),
            environment: Environment::Local,
            audiences: vec!["http://as".into()],
            leeway: 60,
        }
    }

    fn claims(extra: Value) -> Map<String, Value> {
        let mut base = json!({
            "iss": "http://as", "sub": "s", "aud": "http://as", "exp": 2_000, "iat": 1_000,
            "jti": "j", "client_id": "c", "scope": "a:read b:write", "env": "local"
        });
        if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        base.as_object().cloned().unwrap()
    }

    #[test]
    fn good_claims_name_the_caller() {
        let id = identity_from_claims(
            claims(json!({"org": "o", "role": "manager", "brand": "b", "venue": 7})),
            &expect(),
            1_500,
        )
        .unwrap();
        assert_eq!(id.subject, "s");
        assert_eq!(id.scopes, vec!["a:read", "b:write"]);
        assert_eq!(id.role, Some(Role::Manager));
        assert_eq!(id.organization.as_deref(), Some("o"));
        assert_eq!(id.venue.as_deref(), Some("7"));
        assert_eq!(id.expires_at, Some(2_000));
    }

    #[test]
    fn each_claim_fault_has_its_failure() {
        let e = expect();
        let rows = [
            (json!({}), 2_000, Failure::Token(Inactive::Expired)),
            (
                json!({"env": "testing"}),
                1_500,
                Failure::Token(Inactive::WrongEnvironment),
            ),
            (
                json!({"iss": "http://other"}),
                1_500,
                Failure::Token(Inactive::WrongIssuer),
            ),
            (
                json!({"iat": 1_600}),
                1_500,
                Failure::Token(Inactive::NotYetValid),
            ),
            (
                json!({"nbf": 1_600}),
                1_500,
                Failure::Token(Inactive::NotYetValid),
            ),
            (
                json!({"nbf": "soon"}),
                1_500,
                Failure::Token(Inactive::Malformed),
            ),
            (
                json!({"exp": "later"}),
                1_500,
                Failure::Token(Inactive::Malformed),
            ),
        ];
        for (extra, now, want) in rows {
            assert_eq!(
                identity_from_claims(claims(extra.clone()), &e, now),
                Err(want),
                "{extra}"
            );
        }
        // Within the leeway is fine.
        assert!(identity_from_claims(claims(json!({"nbf": 1_550})), &e, 1_500).is_ok());
        let mut strict = expect();
        strict.audiences = vec!["https://api".into()];
        assert_eq!(
            identity_from_claims(claims(json!({})), &strict, 1_500),
            Err(Failure::WrongAudience)
        );
        assert!(
            identity_from_claims(claims(json!({"aud": "https://api"})), &strict, 1_500).is_ok()
        );
        // A token for several resources (RFC 8707): one of them must be this API.
        assert!(identity_from_claims(
            claims(json!({"aud": ["https://other", "https://api"]})),
            &strict,
            1_500
        )
        .is_ok());
        assert_eq!(
            identity_from_claims(
                claims(json!({"aud": ["https://other", "http://as"]})),
                &strict,
                1_500
            ),
            Err(Failure::WrongAudience)
        );
        assert_eq!(
            identity_from_claims(claims(json!({"aud": [7]})), &strict, 1_500),
            Err(Failure::Token(Inactive::Malformed))
        );
    }
}
