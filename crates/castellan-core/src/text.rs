//! Plain text from outside (names, ids, filters): control characters are refused, never
//! stored, and escaped whenever a stored value is printed. Bad input must answer a 4xx, never a
//! 5xx, and PostgreSQL refuses NUL in text: a NUL that reached it would fail the query.

use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fmt::Write;

/// Text refused for holding a control character (Unicode `Cc`: NUL, C0, DEL, C1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("contains a control character")]
pub struct ControlCharacter;

/// Refuses text holding a control character.
pub fn check(s: &str) -> Result<(), ControlCharacter> {
    if s.chars().any(char::is_control) {
        Err(ControlCharacter)
    } else {
        Ok(())
    }
}

/// `s` with each control character written as `\u{…}`, for printing a stored value on a
/// terminal or in a log; unchanged (borrowed) when it has none.
pub fn printable(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A string without control characters; deserialising one that has any fails.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PlainText(String);

impl PlainText {
    /// `s`, unless it has a control character.
    pub fn new(s: impl Into<String>) -> Result<Self, ControlCharacter> {
        let s = s.into();
        check(&s)?;
        Ok(PlainText(s))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The text, consuming the wrapper.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl TryFrom<String> for PlainText {
    type Error = ControlCharacter;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        PlainText::new(s)
    }
}

impl From<PlainText> for String {
    fn from(t: PlainText) -> String {
        t.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_refused_and_escaped() {
        for bad in ["\0", "a\0b", "\x1b[31m", "\t", "\n", "\x7f", "\u{85}"] {
            assert_eq!(check(bad), Err(ControlCharacter), "{bad:?}");
            assert!(PlainText::new(bad).is_err());
            assert!(!printable(bad).chars().any(char::is_control), "{bad:?}");
        }
        assert_eq!(printable("\x1b[31mred"), "\\u{1b}[31mred");
        assert!(matches!(printable("plain é"), Cow::Borrowed("plain é")));
        assert!(check("Ünïcode name – fine").is_ok());
        let t: Result<PlainText, _> = serde_json::from_str("\"a\\u0000b\"");
        assert!(t.is_err());
    }
}
