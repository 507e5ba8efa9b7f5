//! Access-token claims (RFC 9068 §2.2) and what an introspection answers (RFC 7662 §2.2).

use serde::{Deserialize, Serialize};

/// The claims of a JWT access token (`typ: at+jwt`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The issuer.
    pub iss: String,
    /// The subject: the user, or the client itself.
    pub sub: String,
    /// The audience: the resource or resources the token is for (a string for one, an array
    /// for several).
    pub aud: crate::resource::Audience,
    /// Expiry, in Unix seconds.
    pub exp: i64,
    /// Issue time, in Unix seconds.
    pub iat: i64,
    /// The token's unique id, the key of its revocation.
    pub jti: String,
    /// The client it was issued to.
    pub client_id: String,
    /// Space-separated granted scopes (may be empty).
    pub scope: String,
    /// The environment that minted the token; another environment refuses it.
    pub env: String,
    /// The organization the token is bound to, when a user chose one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    /// The token family (grant) a user's token was issued under: one authorization-code
    /// redemption or password grant and every refresh after it. Revoking the family (code
    /// replay, refresh-token reuse or revocation, a revoked consent) makes the token inactive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<String>,
    /// The key the token is bound to (RFC 9449 §6.1), when it was issued with a DPoP proof:
    /// it is used only with a proof of that key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
    /// The rate-limit tier of the client it was issued to, when the client has one: a guard
    /// counts the token's calls under it, as forward-auth does (absent: tier `default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    /// The actor of a token obtained by token exchange (RFC 8693 §4.1): who acts for `sub`,
    /// with earlier actors nested inside.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<serde_json::Value>,
    /// Who may act for `sub` (RFC 8693 §4.4), when the token says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub may_act: Option<serde_json::Value>,
    /// When the person signed in (RFC 9068 §2.2.1, OIDC Core §2), for a token of a sign-in at
    /// this server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// The class that sign-in reached (`acr`, [`crate::authn`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// How the person signed in (`amr`, RFC 8176 names).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amr: Option<Vec<String>>,
}

/// What a token is bound to (RFC 7800 `cnf`): the SHA-256 thumbprint of a DPoP key (RFC 9449
/// §6.1, RFC 7638), base64url.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    /// The key's thumbprint.
    pub jkt: String,
}

/// Why a presented access token is not active.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inactive {
    /// Not a token: bad encoding or shape.
    Malformed,
    /// Not a token Castellan issued or still knows.
    Unknown,
    /// The signature does not verify.
    BadSignature,
    /// Signed by a key Castellan does not publish.
    UnknownKey,
    /// Issued by another issuer.
    WrongIssuer,
    /// Issued in another environment.
    WrongEnvironment,
    /// Past its `exp`.
    Expired,
    /// Not valid yet (`iat` or `nbf` in the future, beyond the leeway).
    NotYetValid,
    /// Revoked, directly or through its family, consent or client.
    Revoked,
    /// Its client was deleted.
    ClientGone,
    /// Issued for another audience (`aud`) than the one checking it.
    WrongAudience,
}

impl Inactive {
    /// Plain words for a developer (never includes the token).
    pub fn describe(self) -> &'static str {
        match self {
            Inactive::Malformed => "the token is malformed",
            Inactive::Unknown => "the token is not known",
            Inactive::BadSignature => "the token's signature does not verify",
            Inactive::UnknownKey => "the token was signed by an unknown key",
            Inactive::WrongIssuer => "the token was issued by another issuer",
            Inactive::WrongEnvironment => "the token belongs to another environment",
            Inactive::Expired => "the token has expired",
            Inactive::NotYetValid => "the token is not valid yet",
            Inactive::Revoked => "the token was revoked",
            Inactive::ClientGone => "the client the token was issued to no longer exists",
            Inactive::WrongAudience => "the token was issued for another audience",
        }
    }
}

/// Checks the time and origin claims of a verified token at `now` (Unix seconds).
pub fn check_claims(
    claims: &AccessClaims,
    issuer: &str,
    env: &str,
    now: i64,
    leeway: i64,
) -> Result<(), Inactive> {
    if claims.iss != issuer {
        return Err(Inactive::WrongIssuer);
    }
    if claims.env != env {
        return Err(Inactive::WrongEnvironment);
    }
    if claims.exp <= now {
        return Err(Inactive::Expired);
    }
    if claims.iat > now + leeway {
        return Err(Inactive::NotYetValid);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> AccessClaims {
        AccessClaims {
            iss: "http://i".into(),
            sub: "c".into(),
            aud: crate::resource::Audience::one("a"),
            exp: 200,
            iat: 100,
            jti: "j".into(),
            client_id: "c".into(),
            scope: String::new(),
            env: "local".into(),
            org: None,
            gid: None,
            cnf: None,
            tier: None,
            act: None,
            may_act: None,
            auth_time: None,
            acr: None,
            amr: None,
        }
    }

    #[test]
    fn time_and_origin_are_checked() {
        let c = claims();
        assert_eq!(check_claims(&c, "http://i", "local", 150, 60), Ok(()));
        assert_eq!(
            check_claims(&c, "http://i", "local", 200, 60),
            Err(Inactive::Expired)
        );
        assert_eq!(
            check_claims(&c, "http://x", "local", 150, 60),
            Err(Inactive::WrongIssuer)
        );
        assert_eq!(
            check_claims(&c, "http://i", "production", 150, 60),
            Err(Inactive::WrongEnvironment)
        );
        assert_eq!(
            check_claims(&c, "http://i", "local", 30, 60),
            Err(Inactive::NotYetValid)
        );
    }
}
