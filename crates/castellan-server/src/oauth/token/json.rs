//! JSON written by hand for every token: the access token's claims, exactly what
//! `serde_json` writes for [`castellan_core::token::AccessClaims`] (property-tested), without
//! its intermediate strings and without `serde_json`'s byte-by-byte escaping when a string
//! needs none, which is nearly always: tokens are base64url and dots, scopes exclude `"` and
//! `\` (RFC 6749 §3.3), ids are the server's own. The token answer's JSON
//! (`crate::oauth::http::token_answer`) is written with the same [`string`].

use castellan_core::authn::Amr;
use castellan_core::resource::Audience;

/// An access token's claims, borrowed: the fields of
/// [`castellan_core::token::AccessClaims`], in its order.
pub struct ClaimsRef<'a> {
    /// The issuer.
    pub iss: &'a str,
    /// The subject.
    pub sub: &'a str,
    /// The audience: a string for one resource, an array for several.
    pub aud: &'a Audience,
    /// Expiry, in Unix seconds.
    pub exp: i64,
    /// Issue time, in Unix seconds.
    pub iat: i64,
    /// The token's unique id.
    pub jti: &'a str,
    /// The client it was issued to.
    pub client_id: &'a str,
    /// Space-separated granted scopes.
    pub scope: &'a str,
    /// The environment that minted it.
    pub env: &'a str,
    /// The organization it is bound to, if any.
    pub org: Option<&'a str>,
    /// Its token family, if any.
    pub gid: Option<&'a str>,
    /// The thumbprint of the DPoP key it is bound to (`cnf.jkt`), if any.
    pub jkt: Option<&'a str>,
    /// Its client's rate-limit tier, if the client has one.
    pub tier: Option<&'a str>,
    /// The actor, for a token obtained by token exchange (RFC 8693 §4.1).
    pub act: Option<&'a serde_json::Value>,
    /// When and how the person signed in (`auth_time`, `acr`, `amr`), for a token of a
    /// sign-in at this server.
    pub sign_in: Option<(i64, Amr)>,
}

/// `serde_json::to_vec` of the [`castellan_core::token::AccessClaims`] holding `c`, written
/// directly.
pub fn claims_json(c: &ClaimsRef<'_>) -> Vec<u8> {
    let strings = [c.iss, c.sub, c.jti, c.client_id, c.scope, c.env];
    let len = 160
        + strings.iter().map(|s| s.len()).sum::<usize>()
        + c.aud.iter().map(|s| s.len() + 3).sum::<usize>()
        + c.org.map_or(0, str::len)
        + c.gid.map_or(0, str::len)
        + c.jkt.map_or(0, |j| j.len() + 16)
        + c.tier.map_or(0, |t| t.len() + 10);
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(b"{\"iss\":");
    string(&mut out, c.iss);
    out.extend_from_slice(b",\"sub\":");
    string(&mut out, c.sub);
    out.extend_from_slice(b",\"aud\":");
    audience(&mut out, c.aud);
    out.extend_from_slice(b",\"exp\":");
    out.extend_from_slice(itoa::Buffer::new().format(c.exp).as_bytes());
    out.extend_from_slice(b",\"iat\":");
    out.extend_from_slice(itoa::Buffer::new().format(c.iat).as_bytes());
    out.extend_from_slice(b",\"jti\":");
    string(&mut out, c.jti);
    out.extend_from_slice(b",\"client_id\":");
    string(&mut out, c.client_id);
    out.extend_from_slice(b",\"scope\":");
    string(&mut out, c.scope);
    out.extend_from_slice(b",\"env\":");
    string(&mut out, c.env);
    if let Some(org) = c.org {
        out.extend_from_slice(b",\"org\":");
        string(&mut out, org);
    }
    if let Some(gid) = c.gid {
        out.extend_from_slice(b",\"gid\":");
        string(&mut out, gid);
    }
    if let Some(jkt) = c.jkt {
        out.extend_from_slice(b",\"cnf\":{\"jkt\":");
        string(&mut out, jkt);
        out.push(b'}');
    }
    if let Some(tier) = c.tier {
        out.extend_from_slice(b",\"tier\":");
        string(&mut out, tier);
    }
    if let Some(act) = c.act {
        out.extend_from_slice(b",\"act\":");
        // Writing a value into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut out, act);
    }
    if let Some((auth_time, amr)) = c.sign_in {
        if let (Some(acr), Some(names)) = (amr.acr(), amr.claim()) {
            out.extend_from_slice(b",\"auth_time\":");
            out.extend_from_slice(itoa::Buffer::new().format(auth_time).as_bytes());
            out.extend_from_slice(b",\"acr\":");
            string(&mut out, acr);
            out.extend_from_slice(b",\"amr\":[");
            for (i, name) in names.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                string(&mut out, name);
            }
            out.push(b']');
        }
    }
    out.push(b'}');
    out
}

/// An audience: a JSON string for one resource, an array of them for several.
fn audience(out: &mut Vec<u8>, aud: &Audience) {
    if let Some(one) = aud.single() {
        string(out, one);
        return;
    }
    out.push(b'[');
    for (i, a) in aud.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        string(out, a);
    }
    out.push(b']');
}

/// A JSON string: copied as it is when nothing in it needs escaping, else through
/// `serde_json`.
pub fn string(out: &mut Vec<u8>, s: &str) {
    // One pass without early exit, so the compiler can compare many bytes at a time.
    let needs_escape = s.bytes().fold(false, |acc, b| {
        acc | (b < 0x20) | (b == b'"') | (b == b'\\')
    });
    if needs_escape {
        // Writing a string into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    } else {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn claims_serde(c: &ClaimsRef<'_>) -> String {
        serde_json::to_string(&castellan_core::token::AccessClaims {
            iss: c.iss.into(),
            sub: c.sub.into(),
            aud: c.aud.clone(),
            exp: c.exp,
            iat: c.iat,
            jti: c.jti.into(),
            client_id: c.client_id.into(),
            scope: c.scope.into(),
            env: c.env.into(),
            org: c.org.map(Into::into),
            gid: c.gid.map(Into::into),
            cnf: c
                .jkt
                .map(|jkt| castellan_core::token::Confirmation { jkt: jkt.into() }),
            tier: c.tier.map(Into::into),
            act: c.act.cloned(),
            may_act: None,
            auth_time: c.sign_in.and_then(|(t, a)| a.acr().map(|_| t)),
            acr: c.sign_in.and_then(|(_, a)| a.acr().map(str::to_owned)),
            amr: c.sign_in.and_then(|(_, a)| a.claim()),
        })
        .unwrap()
    }

    #[test]
    fn claims_equal_serde_json() {
        let act = serde_json::json!({"sub": "agent", "act": {"sub": "tool\"s"}});
        let c = ClaimsRef {
            iss: "http://localhost:8000",
            sub: "Zn4R5z4zUqLrVFEqILXGkJoM",
            aud: &Audience::one("http://localhost:8000"),
            exp: 1_796_036_924,
            iat: 1_796_033_324,
            jti: "hO2bCnfT0ZqRCDdtIrzaeD",
            client_id: "Zn4R5z4zUqLrVFEqILXGkJoM",
            scope: "products:read",
            env: "local",
            org: None,
            gid: Some("fam\"ily"),
            jkt: None,
            tier: None,
            act: None,
            sign_in: None,
        };
        assert_eq!(
            String::from_utf8(claims_json(&c)).unwrap(),
            claims_serde(&c)
        );
        let c = ClaimsRef {
            jkt: Some("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"),
            tier: Some("partner"),
            act: Some(&act),
            ..c
        };
        assert_eq!(
            String::from_utf8(claims_json(&c)).unwrap(),
            claims_serde(&c)
        );
        let c = ClaimsRef {
            sign_in: Some((
                1_796_030_000,
                Amr::PASSWORD.with(castellan_core::authn::Method::Hwk),
            )),
            ..c
        };
        let json = String::from_utf8(claims_json(&c)).unwrap();
        assert_eq!(json, claims_serde(&c));
        assert!(
            json.ends_with(
                r#","auth_time":1796030000,"acr":"urn:castellan:acr:mfa","amr":["pwd","hwk","mfa"]}"#
            ),
            "{json}"
        );
        // No sign-in methods: nothing said about a sign-in.
        let c = ClaimsRef {
            sign_in: Some((1, Amr::NONE)),
            ..c
        };
        assert!(!String::from_utf8(claims_json(&c))
            .unwrap()
            .contains("auth_time"));
    }

    proptest! {
        #[test]
        fn claims_equal_serde_json_for_any_values(
            strings in proptest::collection::vec(".{0,30}", 7),
            exp in any::<i64>(),
            iat in any::<i64>(),
            org in proptest::option::of(".{0,20}"),
            gid in proptest::option::of(".{0,20}"),
            jkt in proptest::option::of(".{0,20}"),
            tier in proptest::option::of(".{0,20}"),
            actor in proptest::option::of(".{0,20}"),
            signed_in in proptest::option::of((any::<i64>(), 0u8..4)),
            auds in proptest::collection::vec(".{0,20}", 1..4),
        ) {
            let Some(aud) = Audience::from_list(auds) else { return Ok(()) };
            let act = actor.map(|a| serde_json::json!({"sub": a}));
            let c = ClaimsRef {
                iss: &strings[0],
                sub: &strings[1],
                aud: &aud,
                exp,
                iat,
                jti: &strings[3],
                client_id: &strings[4],
                scope: &strings[5],
                env: &strings[6],
                org: org.as_deref(),
                gid: gid.as_deref(),
                jkt: jkt.as_deref(),
                tier: tier.as_deref(),
                act: act.as_ref(),
                sign_in: signed_in.map(|(t, m)| {
                    use castellan_core::authn::Method;
                    let amr = match m {
                        0 => Amr::NONE,
                        1 => Amr::PASSWORD,
                        2 => Amr::PASSWORD.with(Method::Otp),
                        _ => Amr::NONE.with(Method::Swk),
                    };
                    (t, amr)
                }),
            };
            prop_assert_eq!(String::from_utf8(claims_json(&c)).unwrap(), claims_serde(&c));
        }
    }
}
