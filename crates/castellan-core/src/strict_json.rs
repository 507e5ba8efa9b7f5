//! JSON read strictly, for documents an outsider writes (DPoP proofs, client metadata
//! documents, key sets): no object may repeat a member at any level (`serde_json` would keep
//! the last, so two readers could see two documents), and nesting is bounded, checked by a scan
//! before parsing so that a deeply nested document costs that pass and nothing more.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// Why a document was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StrictJsonError {
    /// Nested deeper than allowed.
    #[error("the JSON is nested too deeply")]
    TooDeep,
    /// Not JSON, or an object repeats a member.
    #[error("the JSON is malformed or repeats a member")]
    Malformed,
}

/// Parses `json`, refusing repeated members anywhere and nesting deeper than `max_depth`
/// (an object or array at the top is depth 1).
pub fn parse(json: &[u8], max_depth: usize) -> Result<Value, StrictJsonError> {
    if json_depth(json) > max_depth {
        return Err(StrictJsonError::TooDeep);
    }
    serde_json::from_slice::<Strict>(json)
        .map(|Strict(v)| v)
        .map_err(|_| StrictJsonError::Malformed)
}

/// The deepest nesting of `[` and `{` in `json`, outside strings (a scan before parsing, so a
/// deeply nested document costs nothing but this pass).
fn json_depth(json: &[u8]) -> usize {
    let (mut depth, mut max, mut in_str, mut escaped) = (0usize, 0usize, false, false);
    for &b in json {
        if in_str {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// A JSON value whose objects, at every level, have no repeated member.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value without repeated members")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            let Strict(v) = map.next_value()?;
            if out.insert(k, v).is_some() {
                return Err(de::Error::custom("repeated member"));
            }
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn repeated_members_are_refused_at_any_level() {
        assert!(parse(br#"{"a":1,"b":2}"#, 4).is_ok());
        for doc in [
            &br#"{"a":1,"a":2}"#[..],
            br#"{"x":{"a":1,"a":1}}"#,
            br#"[{"k":[],"k":[]}]"#,
        ] {
            assert_eq!(parse(doc, 4), Err(StrictJsonError::Malformed));
        }
    }

    #[test]
    fn depth_is_bounded_and_strings_do_not_count() {
        assert_eq!(parse(b"[[[1]]]", 3).unwrap(), serde_json::json!([[[1]]]));
        assert_eq!(parse(b"[[[[1]]]]", 3), Err(StrictJsonError::TooDeep));
        assert!(parse(br#"{"a":"[[[[[[{{{{\"]]"}"#, 1).is_ok());
        let deep = "[".repeat(100_000);
        assert_eq!(parse(deep.as_bytes(), 16), Err(StrictJsonError::TooDeep));
    }

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            ".{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map(".{0,4}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
            ]
        })
    }

    proptest! {
        /// Whatever serde_json writes (never a repeated member) reads back the same.
        #[test]
        fn any_written_value_reads_back(v in value()) {
            let text = serde_json::to_vec(&v).unwrap();
            prop_assert_eq!(parse(&text, 64).unwrap(), v);
        }

        /// Any bytes: an answer, never a panic.
        #[test]
        fn any_bytes_are_answered(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse(&bytes, 8);
        }
    }
}
