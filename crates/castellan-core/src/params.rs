//! The parameters of an OAuth request body, from `application/x-www-form-urlencoded`
//! (RFC 6749 §3.2) or `application/json` (as some commerce platforms send them).
//!
//! Rules applied before any handler runs: a parameter given twice is `invalid_request`
//! (RFC 6749 §3.1/§3.2), except `resource`, which may be repeated (RFC 8707 §2); a parameter with an empty value counts as absent; values must be
//! UTF-8; a JSON body must be one flat object of strings (numbers and booleans are accepted as
//! their text); the body is bounded by `http.max_body_bytes`.

use crate::OAuthError;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use std::fmt;

/// Most parameters accepted in one request.
const MAX_PARAMS: usize = 64;

/// Parameters that may be given more than once (RFC 8707 §2: one `resource` per resource).
const REPEATABLE: &[&str] = &["resource"];

/// The parameters in the order given. A request carries a handful, so a list searched
/// linearly beats hashing every name (at most `MAX_PARAMS` of them).
#[derive(Default)]
pub struct OAuthParams {
    pairs: Vec<(String, String)>,
}

/// Parameters whose values are shown by `Debug`; every other value (a secret, a code, a
/// password, a token, a verifier, or a name this list does not know) prints as `[redacted]`.
const SHOWN_IN_DEBUG: &[&str] = &[
    "grant_type",
    "response_type",
    "client_id",
    "scope",
    "redirect_uri",
    "resource",
    "audience",
    "token_type_hint",
    "code_challenge_method",
    "organization_id",
];

impl fmt::Debug for OAuthParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for (k, v) in &self.pairs {
            if SHOWN_IN_DEBUG.contains(&k.as_str()) {
                m.entry(k, v);
            } else {
                m.entry(k, &"[redacted]");
            }
        }
        m.finish()
    }
}

impl OAuthParams {
    fn position(&self, name: &str) -> Option<usize> {
        self.pairs.iter().position(|(k, _)| k == name)
    }

    /// The value of a parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.position(name).map(|i| self.pairs[i].1.as_str())
    }

    /// Removes a parameter and answers its value.
    pub fn take(&mut self, name: &str) -> Option<String> {
        self.position(name).map(|i| self.pairs.swap_remove(i).1)
    }

    /// Removes every value of a repeatable parameter ([`REPEATABLE`]), in the order given.
    pub fn take_all(&mut self, name: &str) -> Vec<String> {
        let mut out = Vec::new();
        self.pairs.retain_mut(|(k, v)| {
            if k == name {
                out.push(std::mem::take(v));
                false
            } else {
                true
            }
        });
        out
    }

    /// Every value of a repeatable parameter, in the order given.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The parameters, in the order given (repeatable ones once per value).
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Whether a parameter was given.
    pub fn contains(&self, name: &str) -> bool {
        self.position(name).is_some()
    }

    /// Parameters from name–value pairs, refusing a repeated name, too many pairs or one that is
    /// not UTF-8; empty values count as not given.
    pub fn from_pairs<I: IntoIterator<Item = (String, String)>>(
        pairs: I,
    ) -> Result<Self, OAuthError> {
        let mut params = OAuthParams { pairs: Vec::new() };
        for (k, v) in pairs {
            if params.pairs.len() >= MAX_PARAMS {
                return Err(OAuthError::invalid_request(format!(
                    "more than {MAX_PARAMS} parameters"
                )));
            }
            if k.contains('\u{FFFD}') || v.contains('\u{FFFD}') {
                return Err(OAuthError::invalid_request("parameters must be UTF-8"));
            }
            if params.contains(&k) && !REPEATABLE.contains(&k.as_str()) {
                return Err(OAuthError::invalid_request(format!(
                    "the parameter `{}` is repeated",
                    crate::query::truncate_for_message(&k)
                )));
            }
            // Checked after the repeat test so `a=&a=x` is still a repeat.
            params.pairs.push((k, v));
        }
        params.pairs.retain(|(_, v)| !v.is_empty());
        Ok(params)
    }

    /// Parameters from a form-encoded body.
    pub fn parse_form(body: &[u8]) -> Result<Self, OAuthError> {
        if std::str::from_utf8(body).is_err() {
            return Err(OAuthError::invalid_request("the body must be UTF-8"));
        }
        Self::from_pairs(
            url::form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())),
        )
    }

    /// Parameters from a JSON object body.
    pub fn parse_json(body: &[u8]) -> Result<Self, OAuthError> {
        let mut de = serde_json::Deserializer::from_slice(body);
        let pairs = de.deserialize_map(FlatObject).map_err(|e| {
            OAuthError::invalid_request(format!("the JSON body is not valid: {}", json_reason(&e)))
        })?;
        de.end()
            .map_err(|_| OAuthError::invalid_request("the JSON body has trailing data"))?;
        Self::from_pairs(pairs)
    }
}

fn json_reason(e: &serde_json::Error) -> String {
    // serde_json's messages quote no input beyond short tokens, but cap them anyway.
    crate::query::truncate_for_message(&e.to_string())
}

/// Visits a flat JSON object, keeping repeated keys so they can be refused.
struct FlatObject;

impl<'de> Visitor<'de> for FlatObject {
    type Value = Vec<(String, String)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object of string values")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(k) = access.next_key::<String>()? {
            if out.len() > MAX_PARAMS {
                return Err(de::Error::custom(format!(
                    "more than {MAX_PARAMS} parameters"
                )));
            }
            let v: serde_json::Value = access.next_value()?;
            let text = match v {
                serde_json::Value::String(s) => s,
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                serde_json::Value::Null => String::new(),
                serde_json::Value::Array(_) | serde_json::Value::Object(_) => {
                    return Err(de::Error::custom(format!(
                        "`{}` must be a string",
                        crate::query::truncate_for_message(&k)
                    )))
                }
            };
            out.push((k, text));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_refused_and_empty_values_dropped() {
        assert!(OAuthParams::parse_form(b"a=1&a=2").is_err());
        assert!(OAuthParams::parse_form(b"a=&a=2").is_err());
        let p = OAuthParams::parse_form(b"a=1&b=").unwrap();
        assert_eq!(p.get("a"), Some("1"));
        assert!(!p.contains("b"));
        assert!(OAuthParams::parse_json(br#"{"a":"1","a":"2"}"#).is_err());
        assert!(OAuthParams::parse_json(br#"{"a":{"b":1}}"#).is_err());
        assert!(OAuthParams::parse_json(br"[1]").is_err());
        assert!(OAuthParams::parse_json(br#"{"a":"1"} x"#).is_err());
        assert_eq!(
            OAuthParams::parse_json(br#"{"n":5}"#).unwrap().get("n"),
            Some("5")
        );
        assert!(OAuthParams::parse_form(b"a=%FF").is_err());
        let mut p = OAuthParams::parse_form(b"resource=https://a&x=1&resource=https://b").unwrap();
        assert_eq!(p.get_all("resource").count(), 2);
        assert_eq!(p.take_all("resource"), ["https://a", "https://b"]);
        assert!(!p.contains("resource") && p.get("x") == Some("1"));
        assert!(OAuthParams::parse_form(&[0x61, 0x3d, 0xff]).is_err());
    }
}
