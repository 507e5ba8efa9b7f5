//! The token endpoint's success answer written as JSON by hand: exactly what `serde_json`
//! writes for [`TokenResponse`], without its byte-by-byte escaping of the access token (a
//! JWT of several hundred characters) when a string needs no escaping, which is nearly always:
//! tokens are base64url and dots, scopes exclude `"` and `\` (RFC 6749 §3.3).

use crate::services::client_credentials::TokenResponse;

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

    proptest! {
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
