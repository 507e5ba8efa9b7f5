//! Resource indicators (RFC 8707) and the audience (`aud`) they give an access token.
//!
//! A request may name one or more resources (`resource`, repeated): each an absolute URI without
//! a fragment (RFC 8707 §2). A grant keeps the resources it was given; a token request under it
//! may narrow them (a subset), never widen them (`invalid_target`). The access token's `aud` is
//! its resources: a string for one, an array for several (RFC 7519 §4.1.3, RFC 9068 §2.2).

use crate::{OAuthError, OAuthErrorCode};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;

/// Most resources one request may name.
pub const MAX_RESOURCES: usize = 16;
/// Longest resource URI accepted.
pub const MAX_RESOURCE_LEN: usize = 2048;

/// The audience of an access token: one resource or several, in the order first named, without
/// repeats. Serialized as a JSON string for one and an array for several.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audience(AudienceInner);

#[derive(Debug, Clone, PartialEq, Eq)]
enum AudienceInner {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    /// An audience of one resource.
    pub fn one(aud: impl Into<String>) -> Audience {
        Audience(AudienceInner::One(aud.into()))
    }

    /// An audience of the resources in `list` (repeats dropped); `None` when it is empty.
    pub fn from_list<I: IntoIterator<Item = String>>(list: I) -> Option<Audience> {
        let mut out: Vec<String> = Vec::new();
        for r in list {
            if !out.contains(&r) {
                out.push(r);
            }
        }
        match out.len() {
            0 => None,
            1 => out.pop().map(Audience::one),
            _ => Some(Audience(AudienceInner::Many(out))),
        }
    }

    /// The resources, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        let slice: &[String] = match &self.0 {
            AudienceInner::One(s) => std::slice::from_ref(s),
            AudienceInner::Many(v) => v,
        };
        slice.iter().map(String::as_str)
    }

    /// How many resources it names.
    pub fn len(&self) -> usize {
        match &self.0 {
            AudienceInner::One(_) => 1,
            AudienceInner::Many(v) => v.len(),
        }
    }

    /// Whether it names none (only an audience read from a token can: `"aud": []`).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `aud` is one of its resources.
    pub fn contains(&self, aud: &str) -> bool {
        self.iter().any(|a| a == aud)
    }

    /// Whether any of its resources is accepted by `accepts`.
    pub fn any(&self, accepts: impl Fn(&str) -> bool) -> bool {
        self.iter().any(accepts)
    }

    /// The resources separated by spaces (a URI holds none, RFC 3986 §2), as stored.
    pub fn to_text(&self) -> String {
        match &self.0 {
            AudienceInner::One(s) => s.clone(),
            AudienceInner::Many(v) => v.join(" "),
        }
    }

    /// The audience stored as [`Audience::to_text`]; `None` when the text names none.
    pub fn from_text(text: &str) -> Option<Audience> {
        Audience::from_list(text.split_whitespace().map(str::to_owned))
    }

    /// The single resource, when it names exactly one.
    pub fn single(&self) -> Option<&str> {
        match &self.0 {
            AudienceInner::One(s) => Some(s),
            AudienceInner::Many(_) => None,
        }
    }
}

impl From<String> for Audience {
    fn from(s: String) -> Self {
        Audience::one(s)
    }
}

impl From<&str> for Audience {
    fn from(s: &str) -> Self {
        Audience::one(s)
    }
}

impl Serialize for Audience {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            AudienceInner::One(a) => s.serialize_str(a),
            AudienceInner::Many(v) => v.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Audience {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Audience;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Audience, E> {
                Ok(Audience::one(v))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Audience, E> {
                Ok(Audience::one(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Audience, A::Error> {
                let mut v: Vec<String> = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    if v.len() >= MAX_RESOURCES * 4 {
                        return Err(de::Error::custom("too many audiences"));
                    }
                    v.push(s);
                }
                Ok(match v.len() {
                    1 => Audience::one(v.swap_remove(0)),
                    _ => Audience(AudienceInner::Many(v)),
                })
            }
        }
        d.deserialize_any(V)
    }
}

fn invalid_target(msg: impl Into<std::borrow::Cow<'static, str>>) -> OAuthError {
    OAuthError::new(OAuthErrorCode::InvalidTarget, msg)
}

/// Checks one resource indicator: an absolute URI without a fragment (RFC 8707 §2), of at most
/// [`MAX_RESOURCE_LEN`] characters.
pub fn check_uri(s: &str) -> Result<(), &'static str> {
    if s.len() > MAX_RESOURCE_LEN {
        return Err("must be at most 2048 characters");
    }
    match url::Url::parse(s) {
        Ok(u) if u.fragment().is_none() && !u.cannot_be_a_base() && !s.contains('#') => Ok(()),
        Ok(_) => Err("must be an absolute URI without a fragment"),
        Err(_) => Err("must be an absolute URI"),
    }
}

/// The resources a request names, checked: each an absolute URI without a fragment and, when
/// `known` is not empty, one of `known`; at most [`MAX_RESOURCES`]. `None` when it names none.
pub fn requested(asked: &[String], known: &[String]) -> Result<Option<Audience>, OAuthError> {
    if asked.len() > MAX_RESOURCES {
        return Err(invalid_target(format!(
            "at most {MAX_RESOURCES} resources may be named"
        )));
    }
    for r in asked {
        check_uri(r).map_err(|m| invalid_target(format!("each resource {m}")))?;
        if !known.is_empty() && !known.contains(r) {
            return Err(invalid_target(
                "a resource is not one this server issues tokens for",
            ));
        }
    }
    Ok(Audience::from_list(asked.iter().cloned()))
}

/// The audience of a token under a grant for `granted`: `asked` when it is a subset (narrowing),
/// all of `granted` when nothing is asked; `invalid_target` when it would widen the grant.
pub fn narrow(granted: &Audience, asked: Option<&Audience>) -> Result<Audience, OAuthError> {
    match asked {
        None => Ok(granted.clone()),
        Some(a) if a.iter().all(|r| granted.contains(r)) => Ok(a.clone()),
        Some(_) => Err(invalid_target(
            "a token request may narrow the resources of its grant, never widen them",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn audiences_serialize_as_a_string_or_an_array() {
        let one = Audience::one("https://a.example");
        assert_eq!(
            serde_json::to_string(&one).unwrap(),
            "\"https://a.example\""
        );
        let many = Audience::from_list(list(&["https://a", "https://b", "https://a"])).unwrap();
        assert_eq!(many.len(), 2);
        assert_eq!(
            serde_json::to_string(&many).unwrap(),
            r#"["https://a","https://b"]"#
        );
        let back: Audience = serde_json::from_str(r#"["https://a","https://b"]"#).unwrap();
        assert_eq!(back, many);
        let back: Audience = serde_json::from_str(r#"["https://a"]"#).unwrap();
        assert_eq!(back, Audience::one("https://a"));
        assert!(serde_json::from_str::<Audience>("5").is_err());
        assert!(serde_json::from_str::<Audience>("[1]").is_err());
        assert_eq!(Audience::from_text(&many.to_text()), Some(many));
        assert_eq!(Audience::from_text("  "), None);
    }

    #[test]
    fn resources_are_checked_and_narrowed() {
        assert!(requested(&list(&["https://a.example/x"]), &[]).is_ok());
        for bad in ["relative/path", "https://a.example/#frag", "urn", ""] {
            let e = requested(&list(&[bad]), &[]).unwrap_err();
            assert_eq!(e.code, OAuthErrorCode::InvalidTarget, "{bad}");
        }
        let known = list(&["https://a", "https://b"]);
        assert!(requested(&list(&["https://c"]), &known).is_err());
        assert_eq!(requested(&[], &known).unwrap(), None);
        let too_many: Vec<String> = (0..=MAX_RESOURCES)
            .map(|i| format!("https://r{i}"))
            .collect();
        assert!(requested(&too_many, &[]).is_err());

        let granted = Audience::from_list(known.clone()).unwrap();
        assert_eq!(narrow(&granted, None).unwrap(), granted);
        let a = Audience::one("https://a");
        assert_eq!(narrow(&granted, Some(&a)).unwrap(), a);
        let c = Audience::one("https://c");
        assert_eq!(
            narrow(&granted, Some(&c)).unwrap_err().code,
            OAuthErrorCode::InvalidTarget
        );
        assert!(narrow(&a, Some(&granted)).is_err());
    }
}
