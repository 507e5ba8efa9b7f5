//! The audience rule of the gateway check (RFC 7519 §4.1.3, RFC 8707 §2, RFC 9068 §4): a
//! token's `aud` is one string or an array of strings (a token for several resources), and
//! the token is accepted when one of them is an audience this API accepts. Pure; used for
//! JWTs and for the `aud` of introspection answers alike.

use serde_json::Value;

/// Longest `aud` array looked at: more resources than any token request may name.
pub const MAX_AUDIENCES: usize = 64;

/// An `aud` that is neither a string nor a non-empty array of at most [`MAX_AUDIENCES`]
/// strings: a malformed token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("aud is not a string or an array of strings")]
pub struct MalformedAudience;

/// Whether `aud` names one of `accepted`: `Ok(false)` when absent or naming none of them.
pub fn accepts(aud: Option<&Value>, accepted: &[String]) -> Result<bool, MalformedAudience> {
    match aud {
        None => Ok(false),
        Some(Value::String(a)) => Ok(accepted.iter().any(|e| e == a)),
        Some(Value::Array(list)) if !list.is_empty() && list.len() <= MAX_AUDIENCES => {
            let mut found = false;
            for a in list {
                let Value::String(a) = a else {
                    return Err(MalformedAudience);
                };
                found |= accepted.iter().any(|e| e == a);
            }
            Ok(found)
        }
        Some(_) => Err(MalformedAudience),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_string_or_an_array_naming_an_accepted_audience() {
        let ok = ["https://api.example".to_owned()];
        let yes = |v: Value| accepts(Some(&v), &ok);
        assert_eq!(yes(json!("https://api.example")), Ok(true));
        assert_eq!(yes(json!("https://other.example")), Ok(false));
        assert_eq!(
            yes(json!(["https://other.example", "https://api.example"])),
            Ok(true)
        );
        assert_eq!(yes(json!(["https://other.example"])), Ok(false));
        assert_eq!(accepts(None, &ok), Ok(false));
        for bad in [
            json!([]),
            json!(["https://api.example", 7]),
            json!(7),
            json!({"aud": "https://api.example"}),
            json!(vec!["x"; MAX_AUDIENCES + 1]),
        ] {
            assert_eq!(yes(bad.clone()), Err(MalformedAudience), "{bad}");
        }
    }
}
