//! `[jwt_bearer]`: the issuers whose signed assertions Castellan exchanges for access tokens
//! (the JWT bearer grant, RFC 7523 §2.1), such as an enterprise identity provider handing
//! agents identity assertions (ID-JAGs, `typ: oauth-id-jag+jwt`). Each issuer names its keys
//! (a `jwks_uri`, fetched under the rules of documents clients name, or a static `jwks`), the
//! algorithms it signs with (pinned: any other is refused), the audiences accepted, how long an
//! assertion may live, and how its `sub` maps to a Castellan subject.

use castellan_crypto::jwk::JwsAlgorithm;
use serde::{Deserialize, Serialize};

/// `[jwt_bearer]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JwtBearerConfig {
    /// `[[jwt_bearer.issuers]]`: the trusted issuers. None: the grant is not offered.
    pub issuers: Vec<TrustedIssuer>,
}

/// One trusted issuer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedIssuer {
    /// A short name: logs, and the prefix of service subjects (`<name>:<sub>`).
    pub name: String,
    /// Its `iss`.
    pub issuer: String,
    /// Where its keys are published (https; `http://127.0.0.1` in `local`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// Its keys, as the JSON text of a JWK Set (instead of `jwks_uri`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<String>,
    /// The algorithms it signs with (`RS256`, `ES256`, `EdDSA`, …); an assertion signed
    /// otherwise is refused.
    pub algorithms: Vec<String>,
    /// The audiences an assertion may name; empty: Castellan's issuer or token endpoint.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// How its `sub` maps to whom the token is for.
    pub subject: SubjectMapping,
    /// The Castellan clients that may present its assertions; empty: any client allowed the
    /// grant. An assertion naming a client (`client_id`, else `azp`) is for that client only.
    #[serde(default)]
    pub clients: Vec<String>,
    /// How far ahead an assertion's `exp` may be, in seconds (1 ..= 3600, default 300).
    #[serde(default = "default_max_lifetime")]
    pub max_lifetime_seconds: u32,
    /// Its assertions are identity assertion authorization grants (ID-JAG): `typ` must be
    /// `oauth-id-jag+jwt` and their `client_id` claim the client presenting them; their
    /// `resource` and `scope` claims bound the token's.
    #[serde(default)]
    pub id_jag: bool,
}

fn default_max_lifetime() -> u32 {
    300
}

/// How an assertion's `sub` becomes the subject of the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectMapping {
    /// `sub` is a Castellan person's id.
    UserId,
    /// The assertion's `email` claim (else `sub`) is a Castellan person's email address.
    Email,
    /// `sub` is a service of the issuer's: the token's subject is `<name>:<sub>`, no person.
    Service,
}

/// The typ of an identity assertion authorization grant.
pub const ID_JAG_TYP: &str = "oauth-id-jag+jwt";

impl JwtBearerConfig {
    /// The trusted issuer whose `iss` is `iss`.
    pub fn issuer(&self, iss: &str) -> Option<&TrustedIssuer> {
        self.issuers.iter().find(|i| i.issuer == iss)
    }

    /// Checks every issuer (a `jwks_uri` under the outbound rules of `env`, as it will be
    /// fetched); the error names the key at fault.
    pub fn validate(&self, env: castellan_core::Environment) -> Result<(), (String, String)> {
        for (n, i) in self.issuers.iter().enumerate() {
            let key = format!("jwt_bearer.issuers[{n}]");
            let fail = |m: &str| Err((key.clone(), m.to_owned()));
            if i.name.is_empty() || i.name.contains(':') {
                return fail("name must be set, without ':'");
            }
            if i.issuer.is_empty() {
                return fail("issuer must be set");
            }
            if self.issuers.iter().filter(|o| o.issuer == i.issuer).count() > 1 {
                return fail("issuer is listed twice");
            }
            match (&i.jwks_uri, &i.jwks) {
                (Some(uri), None) => {
                    let url = url::Url::parse(uri)
                        .map_err(|_| (key.clone(), "jwks_uri is not a URL".to_owned()))?;
                    castellan_core::outbound::check_url(&url, env)
                        .map_err(|e| (key.clone(), format!("jwks_uri cannot be fetched: {e}")))?;
                }
                (None, Some(text)) => {
                    let set: serde_json::Value = serde_json::from_str(text)
                        .map_err(|_| (key.clone(), "jwks is not JSON".to_owned()))?;
                    crate::oauth::client_keys::check_jwks(&set)
                        .map_err(|e| (key.clone(), format!("jwks: {e}")))?;
                }
                _ => return fail("needs exactly one of jwks_uri and jwks"),
            }
            if i.algorithms.is_empty()
                || i.algorithms
                    .iter()
                    .any(|a| JwsAlgorithm::from_name(a).is_none())
            {
                return fail(
                    "algorithms must name asymmetric JWS algorithms (RS256, ES256, EdDSA, …)",
                );
            }
            if !(1..=3600).contains(&i.max_lifetime_seconds) {
                return fail("max_lifetime_seconds must be between 1 and 3600");
            }
        }
        Ok(())
    }
}

impl TrustedIssuer {
    /// Its static keys, parsed (checked at start-up).
    pub fn static_jwks(&self) -> Option<serde_json::Value> {
        self.jwks
            .as_deref()
            .and_then(|t| serde_json::from_str(t).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use castellan_core::Environment;

    fn issuer(jwks_uri: &str) -> JwtBearerConfig {
        JwtBearerConfig {
            issuers: vec![TrustedIssuer {
                name: "corp".into(),
                issuer: "https://idp.example".into(),
                jwks_uri: Some(jwks_uri.into()),
                jwks: None,
                algorithms: vec!["RS256".into()],
                audiences: vec![],
                subject: SubjectMapping::Email,
                clients: vec![],
                max_lifetime_seconds: 300,
                id_jag: false,
            }],
        }
    }

    #[test]
    fn a_jwks_uri_that_could_never_be_fetched_stops_start_up() {
        assert!(issuer("https://idp.example/jwks")
            .validate(Environment::Production)
            .is_ok());
        for bad in [
            "http://idp.example/jwks",
            "https://10.0.0.1/jwks",
            "file:///etc/keys",
            "not a url",
        ] {
            let e = issuer(bad).validate(Environment::Production).unwrap_err();
            assert!(e.0.starts_with("jwt_bearer.issuers[0]"), "{e:?}");
        }
        assert!(issuer("http://127.0.0.1:9/jwks")
            .validate(Environment::Local)
            .is_ok());
    }
}
