//! The claims of a JWT assertion (RFC 7523 §3), checked after its signature with the time and
//! the accepted audiences passed in: a client assertion (`private_key_jwt`, §2.2; OpenID
//! Connect Core §9), whose `iss` and `sub` are the client, and an authorization grant
//! assertion (§2.1) from a trusted issuer, whose `sub` names whom the token is for. Both bound
//! `exp`, `iat` and `nbf` and need a `jti`. The caller answers every client-assertion failure
//! `invalid_client` and every grant-assertion failure `invalid_grant`.

use serde_json::{Map, Value};

/// The `client_assertion_type` of a JWT client assertion (RFC 7523 §2.2).
pub const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Longest accepted `jti`.
pub const MAX_JTI_LEN: usize = 256;

/// What the checks need besides the claims.
#[derive(Debug, Clone, Copy)]
pub struct AssertionRules<'a> {
    /// The client the assertion must be about (`iss` and `sub`).
    pub client_id: &'a str,
    /// Audiences accepted: the issuer identifier and the token endpoint URL.
    pub audiences: &'a [&'a str],
    /// The time now (seconds since the epoch).
    pub now: i64,
    /// Clock skew tolerated on `iat`, `nbf` and `exp` (seconds).
    pub leeway: i64,
    /// How far ahead `exp` may be (seconds): a long-lived assertion is refused.
    pub max_lifetime: i64,
}

/// A checked assertion's one-time id and expiry, for the replay check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssertionId {
    /// The `jti`.
    pub jti: String,
    /// `exp`: until when the `jti` must be remembered.
    pub exp: i64,
}

/// Why an assertion's claims were refused (for logs and tests; the answer is generic).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AssertionRefusal {
    /// `iss` or `sub` missing, or not the client.
    #[error("iss and sub must both be the client_id")]
    Subject,
    /// `aud` names neither the issuer nor the token endpoint.
    #[error("aud must name the issuer or the token endpoint")]
    Audience,
    /// `exp` missing or past.
    #[error("exp is missing or past")]
    Expired,
    /// `exp` too far ahead.
    #[error("exp is too far in the future")]
    TooLong,
    /// `iat` or `nbf` in the future, or `iat` too old.
    #[error("iat or nbf is out of range")]
    NotYetValid,
    /// `jti` missing, empty or too long.
    #[error("jti is missing")]
    Jti,
}

fn int(claims: &Map<String, Value>, name: &str) -> Option<i64> {
    claims.get(name).and_then(Value::as_i64)
}

/// Checks `claims` against `rules`.
pub fn check_assertion(
    claims: &Map<String, Value>,
    rules: &AssertionRules<'_>,
) -> Result<AssertionId, AssertionRefusal> {
    let text = |n: &str| claims.get(n).and_then(Value::as_str);
    if text("iss") != Some(rules.client_id) || text("sub") != Some(rules.client_id) {
        return Err(AssertionRefusal::Subject);
    }
    check_common(claims, rules)
}

/// What a grant assertion (RFC 7523 §2.1) is checked against.
#[derive(Debug, Clone, Copy)]
pub struct GrantRules<'a> {
    /// The trusted issuer it must come from (`iss`).
    pub issuer: &'a str,
    /// Audiences accepted.
    pub audiences: &'a [&'a str],
    /// The time now (seconds since the epoch).
    pub now: i64,
    /// Clock skew tolerated (seconds).
    pub leeway: i64,
    /// How far ahead `exp` may be (seconds).
    pub max_lifetime: i64,
}

/// Longest `sub` of a grant assertion accepted.
pub const MAX_SUBJECT_LEN: usize = 256;

/// A checked grant assertion: whom it is about, and its one-time id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantAssertion {
    /// `sub`.
    pub sub: String,
    /// The `jti` and `exp`, for the replay check.
    pub id: AssertionId,
}

/// Checks the claims of a grant assertion: `iss` the trusted issuer, a `sub` (1 to
/// [`MAX_SUBJECT_LEN`] bytes), an accepted `aud`, bounded times and a `jti`.
pub fn check_grant_assertion(
    claims: &Map<String, Value>,
    rules: &GrantRules<'_>,
) -> Result<GrantAssertion, AssertionRefusal> {
    let text = |n: &str| claims.get(n).and_then(Value::as_str);
    let sub = text("sub").filter(|s| !s.is_empty() && s.len() <= MAX_SUBJECT_LEN);
    let (true, Some(sub)) = (text("iss") == Some(rules.issuer), sub) else {
        return Err(AssertionRefusal::Subject);
    };
    let id = check_common(
        claims,
        &AssertionRules {
            client_id: "",
            audiences: rules.audiences,
            now: rules.now,
            leeway: rules.leeway,
            max_lifetime: rules.max_lifetime,
        },
    )?;
    Ok(GrantAssertion {
        sub: sub.to_owned(),
        id,
    })
}

/// The checks both kinds share: the audience, the times and the `jti`.
fn check_common(
    claims: &Map<String, Value>,
    rules: &AssertionRules<'_>,
) -> Result<AssertionId, AssertionRefusal> {
    let text = |n: &str| claims.get(n).and_then(Value::as_str);
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => rules.audiences.contains(&a.as_str()),
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(Value::as_str)
            .any(|a| rules.audiences.contains(&a)),
        _ => false,
    };
    if !aud_ok {
        return Err(AssertionRefusal::Audience);
    }
    let exp = int(claims, "exp").ok_or(AssertionRefusal::Expired)?;
    if exp.saturating_add(rules.leeway) <= rules.now {
        return Err(AssertionRefusal::Expired);
    }
    if exp
        > rules
            .now
            .saturating_add(rules.max_lifetime)
            .saturating_add(rules.leeway)
    {
        return Err(AssertionRefusal::TooLong);
    }
    for name in ["iat", "nbf"] {
        match claims.get(name) {
            None => {}
            Some(v) => {
                let t = v.as_i64().ok_or(AssertionRefusal::NotYetValid)?;
                if t > rules.now.saturating_add(rules.leeway) {
                    return Err(AssertionRefusal::NotYetValid);
                }
            }
        }
    }
    if let Some(iat) = int(claims, "iat") {
        // An assertion made long before it is used is not short-lived, whatever its exp says.
        if iat
            < rules
                .now
                .saturating_sub(rules.max_lifetime)
                .saturating_sub(rules.leeway)
        {
            return Err(AssertionRefusal::NotYetValid);
        }
    }
    let jti = text("jti")
        .filter(|j| !j.is_empty() && j.len() <= MAX_JTI_LEN)
        .ok_or(AssertionRefusal::Jti)?;
    Ok(AssertionId {
        jti: jti.to_owned(),
        exp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;

    fn rules() -> AssertionRules<'static> {
        AssertionRules {
            client_id: "c1",
            audiences: &["https://as.example", "https://as.example/oauth/token"],
            now: NOW,
            leeway: 30,
            max_lifetime: 300,
        }
    }

    fn check(v: Value) -> Result<AssertionId, AssertionRefusal> {
        check_assertion(v.as_object().unwrap(), &rules())
    }

    fn good() -> Value {
        json!({"iss": "c1", "sub": "c1", "aud": "https://as.example", "exp": NOW + 60, "iat": NOW, "jti": "j1"})
    }

    fn with(k: &str, v: Value) -> Value {
        let mut g = good();
        g[k] = v;
        g
    }

    #[test]
    fn a_good_assertion_passes() {
        assert_eq!(
            check(good()).unwrap(),
            AssertionId {
                jti: "j1".into(),
                exp: NOW + 60
            }
        );
        assert!(check(with("aud", json!(["x", "https://as.example/oauth/token"]))).is_ok());
    }

    #[test]
    fn a_grant_assertion_names_its_subject_and_comes_from_the_issuer() {
        let rules = GrantRules {
            issuer: "https://idp.example",
            audiences: &["https://as.example"],
            now: NOW,
            leeway: 30,
            max_lifetime: 300,
        };
        let good = json!({"iss": "https://idp.example", "sub": "alice", "aud": "https://as.example",
            "exp": NOW + 60, "iat": NOW, "jti": "j1"});
        let check = |v: &Value| check_grant_assertion(v.as_object().unwrap(), &rules);
        assert_eq!(check(&good).unwrap().sub, "alice");
        let with = |k: &str, v: Value| {
            let mut g = good.clone();
            g[k] = v;
            g
        };
        use AssertionRefusal::*;
        assert_eq!(
            check(&with("iss", json!("https://evil.example"))),
            Err(Subject)
        );
        assert_eq!(check(&with("sub", json!(""))), Err(Subject));
        assert_eq!(check(&with("sub", json!("x".repeat(300)))), Err(Subject));
        assert_eq!(check(&with("sub", json!(7))), Err(Subject));
        assert_eq!(
            check(&with("aud", json!("https://other.example"))),
            Err(Audience)
        );
        assert_eq!(check(&with("exp", json!(NOW + 3600))), Err(TooLong));
        assert_eq!(check(&with("exp", json!(NOW - 100))), Err(Expired));
        assert_eq!(check(&with("iat", json!(NOW + 600))), Err(NotYetValid));
        assert_eq!(check(&with("jti", json!(null))), Err(Jti));
    }

    #[test]
    fn each_claim_is_checked() {
        use AssertionRefusal::*;
        assert_eq!(check(with("iss", json!("c2"))), Err(Subject));
        assert_eq!(check(with("sub", json!("c2"))), Err(Subject));
        assert_eq!(
            check(with("aud", json!("https://other.example"))),
            Err(Audience)
        );
        assert_eq!(
            check(with("aud", json!(["https://other.example"]))),
            Err(Audience)
        );
        assert_eq!(check(with("exp", json!(NOW - 31))), Err(Expired));
        assert_eq!(check(with("exp", json!("soon"))), Err(Expired));
        assert_eq!(check(with("exp", json!(NOW + 3600))), Err(TooLong));
        assert_eq!(check(with("iat", json!(NOW + 120))), Err(NotYetValid));
        assert_eq!(check(with("nbf", json!(NOW + 120))), Err(NotYetValid));
        assert_eq!(check(with("iat", json!(NOW - 3600))), Err(NotYetValid));
        assert_eq!(check(with("jti", json!(""))), Err(Jti));
        let mut no_exp = good();
        no_exp.as_object_mut().unwrap().remove("exp");
        assert_eq!(check(no_exp), Err(Expired));
        let mut no_jti = good();
        no_jti.as_object_mut().unwrap().remove("jti");
        assert_eq!(check(no_jti), Err(Jti));
    }
}
