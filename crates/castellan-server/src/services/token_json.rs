//! JSON the token endpoint writes for every token, by hand: its success answer and the
//! access token's claims, exactly what `serde_json` writes for [`TokenResponse`] and
//! [`castellan_core::token::AccessClaims`] (property-tested), without their intermediate
//! strings and without `serde_json`'s byte-by-byte escaping when a string needs none, which is
//! nearly always: tokens are base64url and dots, scopes exclude `"` and `\` (RFC 6749 §3.3),
//! ids are the server's own.

use crate::services::client_credentials::TokenResponse;

/// An access token's claims, borrowed: the fields of
/// [`castellan_core::token::AccessClaims`], in its order.
pub struct ClaimsRef<'a> {
    pub iss: &'a str,
    pub sub: &'a str,
    pub aud: &'a str,
    pub exp: i64,
    pub iat: i64,
    pub jti: &'a str,
    pub client_id: &'a str,
    pub scope: &'a str,
    pub env: &'a str,
    pub org: Option<&'a str>,
    pub gid: Option<&'a str>,
}

/// `serde_json::to_vec` of the [`castellan_core::token::AccessClaims`] holding `c`, written
/// directly.
pub fn claims_json(c: &ClaimsRef<'_>) -> Vec<u8> {
    let strings = [c.iss, c.sub, c.aud, c.jti, c.client_id, c.scope, c.env];
    let len = 160
        + strings.iter().map(|s| s.len()).sum::<usize>()
        + c.org.map_or(0, str::len)
        + c.gid.map_or(0, str::len);
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(b"{\"iss\":");
    string(&mut out, c.iss);
    out.extend_from_slice(b",\"sub\":");
    string(&mut out, c.sub);
    out.extend_from_slice(b",\"aud\":");
    string(&mut out, c.aud);
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
    out.push(b'}');
    out
}

/// `serde_json::to_vec(answer)`, written directly.
pub fn token_json(answer: &TokenResponse) -> Vec<u8> {
    let optional = [
        ("refresh_token", &answer.refresh_token),
        ("id_token", &answer.id_token),
        ("organization_id", &answer.organization_id),
        ("user_id", &answer.user_id),
    ];
    let len = 96
        + answer.access_token.len()
        + answer.scope.len()
        + optional
            .iter()
            .map(|(k, v)| v.as_ref().map_or(0, |v| k.len() + v.len() + 8))
            .sum::<usize>();
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(b"{\"access_token\":");
    string(&mut out, &answer.access_token);
    out.extend_from_slice(b",\"token_type\":");
    string(&mut out, answer.token_type);
    out.extend_from_slice(b",\"expires_in\":");
    out.extend_from_slice(itoa::Buffer::new().format(answer.expires_in).as_bytes());
    out.extend_from_slice(b",\"scope\":");
    string(&mut out, &answer.scope);
    out.extend_from_slice(b",\"created_at\":");
    out.extend_from_slice(itoa::Buffer::new().format(answer.created_at).as_bytes());
    for (key, value) in optional {
        if let Some(value) = value {
            out.extend_from_slice(b",\"");
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(b"\":");
            string(&mut out, value);
        }
    }
    out.push(b'}');
    out
}

/// A JSON string: copied as it is when nothing in it needs escaping, else through
/// `serde_json`.
fn string(out: &mut Vec<u8>, s: &str) {
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
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn answer(token: &str, scope: &str, extra: Option<&str>) -> TokenResponse {
        TokenResponse {
            access_token: token.into(),
            token_type: "Bearer",
            expires_in: 172_800,
            scope: scope.into(),
            created_at: 1_796_083_200,
            refresh_token: extra.map(Into::into),
            id_token: extra.map(|e| format!("{e}.id")),
            organization_id: None,
            user_id: extra.map(|e| format!("user {e}")),
        }
    }

    #[test]
    fn equals_serde_json_for_tokens_and_escapes() {
        for (token, scope, extra) in [
            (
                "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJjIn0.c2ln",
                "products:read",
                None,
            ),
            ("opaque-token_value", "", Some("refresh")),
            ("quote\"back\\slash", "a\nb", Some("tab\there")),
            ("ünïcode ☃", "market:id:1 view_products:p", Some("\u{1}")),
        ] {
            let a = answer(token, scope, extra);
            assert_eq!(
                String::from_utf8(token_json(&a)).unwrap(),
                serde_json::to_string(&a).unwrap()
            );
        }
    }

    fn claims_serde(c: &ClaimsRef<'_>) -> String {
        serde_json::to_string(&castellan_core::token::AccessClaims {
            iss: c.iss.into(),
            sub: c.sub.into(),
            aud: c.aud.into(),
            exp: c.exp,
            iat: c.iat,
            jti: c.jti.into(),
            client_id: c.client_id.into(),
            scope: c.scope.into(),
            env: c.env.into(),
            org: c.org.map(Into::into),
            gid: c.gid.map(Into::into),
        })
        .unwrap()
    }

    #[test]
    fn claims_equal_serde_json() {
        let c = ClaimsRef {
            iss: "http://localhost:8000",
            sub: "Zn4R5z4zUqLrVFEqILXGkJoM",
            aud: "http://localhost:8000",
            exp: 1_796_036_924,
            iat: 1_796_033_324,
            jti: "hO2bCnfT0ZqRCDdtIrzaeD",
            client_id: "Zn4R5z4zUqLrVFEqILXGkJoM",
            scope: "products:read",
            env: "local",
            org: None,
            gid: Some("fam\"ily"),
        };
        assert_eq!(
            String::from_utf8(claims_json(&c)).unwrap(),
            claims_serde(&c)
        );
    }

    proptest! {
        #[test]
        fn claims_equal_serde_json_for_any_values(
            strings in proptest::collection::vec(".{0,30}", 7),
            exp in any::<i64>(),
            iat in any::<i64>(),
            org in proptest::option::of(".{0,20}"),
            gid in proptest::option::of(".{0,20}"),
        ) {
            let c = ClaimsRef {
                iss: &strings[0],
                sub: &strings[1],
                aud: &strings[2],
                exp,
                iat,
                jti: &strings[3],
                client_id: &strings[4],
                scope: &strings[5],
                env: &strings[6],
                org: org.as_deref(),
                gid: gid.as_deref(),
            };
            prop_assert_eq!(String::from_utf8(claims_json(&c)).unwrap(), claims_serde(&c));
        }

        #[test]
        fn equals_serde_json_for_any_strings(
            token in ".{0,80}",
            scope in ".{0,40}",
            extra in proptest::option::of(".{0,20}"),
        ) {
            let a = answer(&token, &scope, extra.as_deref());
            prop_assert_eq!(
                String::from_utf8(token_json(&a)).unwrap(),
                serde_json::to_string(&a).unwrap()
            );
        }
    }
}
