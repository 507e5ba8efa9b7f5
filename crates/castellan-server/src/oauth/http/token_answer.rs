//! The token endpoint's answer (RFC 6749 §5.1, §5.2): everything it needs in one place. The
//! issued tokens' JSON, written by hand ([`token_json`]: exactly what `serde_json` writes for
//! [`IssuedTokens`], property-tested, without its byte-by-byte escaping when a string needs
//! none); the headers every token answer carries, kept from the first answer and copied by the
//! later ones (`token_answer`); and the refusals, each showing its rate-limit decision
//! ([`write_answer`]).

use crate::error::rate_limit::render;
use crate::oauth::token::json::string;
use crate::oauth::token::{IssuedTokens, TokenError, TokenOutcome};
use crate::platform::state::AppState;
use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use castellan_limit::{Decision, HeaderStyle};

/// The answer of a token request's outcome, with the rate-limit headers of the decision it
/// shows.
pub fn write_answer(state: &AppState, outcome: TokenOutcome) -> Response {
    let style = state.rate_limiting.limits.header_style;
    match outcome {
        TokenOutcome::Issued { tokens, limit } => token_answer(state, &tokens, &limit, style),
        TokenOutcome::Refused { error, limit } => {
            let mut res = match error {
                TokenError::OAuth(e) => e.into_response(),
                TokenError::Delayed(delayed) => delayed.into_response(),
            };
            render(&mut res, &limit, style);
            res
        }
        // A refusal shows the decision that refused.
        TokenOutcome::Limited(refused) => refused.into_response(),
    }
}

/// A token answer (RFC 6749 §5.1): the JSON body, `Cache-Control: no-store`, `Pragma:
/// no-cache` and the rate-limit headers (the edge adds the security headers, as to every
/// answer). Every token answer has these headers,
/// so the first one's map is kept and later answers copy it (shared values, no rebuilt names),
/// re-rendering only the rate-limit counts; built anew when the decision needs other headers.
/// A header whose value differs between answers other than those counts (a `DPoP-Nonce`,
/// say) must be set after the copy, never kept in the map.
fn token_answer(
    state: &AppState,
    tokens: &IssuedTokens,
    shown: &Decision,
    style: HeaderStyle,
) -> Response {
    let mut res = Response::new(Body::from(token_json(tokens)));
    *res.headers_mut() = state.token_answer_headers.headers(Some(shown), style, || {
        // Room for every header, so the map grows once (and copies of it never).
        let mut h = HeaderMap::with_capacity(16);
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        castellan_limit::write_headers(shown, style, &mut h);
        h
    });
    res
}

/// `serde_json::to_vec(answer)`, written directly.
pub fn token_json(answer: &IssuedTokens) -> Vec<u8> {
    let optional = [
        ("refresh_token", &answer.refresh_token),
        ("id_token", &answer.id_token),
        ("organization_id", &answer.organization_id),
        ("user_id", &answer.user_id),
    ];
    let len = 160
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
    if let Some(t) = answer.issued_token_type {
        out.extend_from_slice(b",\"issued_token_type\":");
        string(&mut out, t);
    }
    out.push(b'}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn answer(token: &str, scope: &str, extra: Option<&str>) -> IssuedTokens {
        IssuedTokens {
            access_token: token.into(),
            token_type: "Bearer",
            expires_in: 172_800,
            scope: scope.into(),
            created_at: 1_796_083_200,
            refresh_token: extra.map(Into::into),
            id_token: extra.map(|e| format!("{e}.id")),
            organization_id: None,
            user_id: extra.map(|e| format!("user {e}")),
            issued_token_type: extra.map(|_| castellan_core::exchange::ACCESS_TOKEN_TYPE),
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
