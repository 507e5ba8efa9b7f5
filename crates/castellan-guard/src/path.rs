//! The request path a route policy is matched against, and the paths refused outright.
//!
//! The gateway check sees the path as the client sent it (nginx forwards the raw
//! `$request_uri`), while the API behind the proxy often normalises it first: it resolves `.`
//! and `..`, decodes `%2e` and `%2f`, turns `\` into `/`, or drops `;parameters`. If the check
//! matched the raw text, `/products/../orders/1` would pass as a `/products/*` request and be
//! served as `/orders/1`. So a path that *could* mean another path to some server is refused
//! with 400 before any route is looked at, and every other path is put in one canonical form
//! (RFC 3986 §6.2.2: escapes of unreserved characters decoded, other escapes in upper case) so
//! that `/%70roducts/1` is matched as the `/products/1` the API will serve.
//!
//! Refused: anything not starting with `/`; a `.` or `..` segment; an escaped `.`, `/`, `\` or
//! `%` (a server that decodes twice would see an escape again); a raw `\`; a `;`, raw or
//! escaped (servers disagree on whether `/admin;x/users` is `/admin/users`); a raw `#` (a
//! server taking it literally and one cutting the fragment see different paths); a segment
//! ending in `.` or a space (Windows servers drop them, so `/admin./users` is `/admin/users`
//! there); control characters, raw or escaped; bytes outside ASCII; escapes that do not decode
//! to UTF-8 (`%c0%ae` is an overlong `.` to a lenient decoder); an empty segment anywhere but
//! at the very end (`//`); a `%` not followed by two hex digits.

use std::borrow::Cow;

/// Why a request path is refused before any route is matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UnsafePath {
    /// Does not start with `/`.
    #[error("the path does not start with '/'")]
    NotAbsolute,
    /// Has a `.` or `..` segment.
    #[error("the path has a '.' or '..' segment")]
    DotSegment,
    /// Has an escaped `.`, `/`, `\` or `%`.
    #[error("the path has an escaped '.', '/', '\\' or '%'")]
    EscapedSeparator,
    /// Has a backslash.
    #[error("the path has a backslash")]
    Backslash,
    /// Has a control character.
    #[error("the path has a control character")]
    ControlCharacter,
    /// Has a character outside ASCII.
    #[error("the path has a character outside ASCII")]
    NotAscii,
    /// Has an empty segment (`//`).
    #[error("the path has an empty segment")]
    EmptySegment,
    /// Has a malformed percent escape.
    #[error("the path has a malformed percent escape")]
    BadEscape,
    /// Has escapes that do not decode to UTF-8.
    #[error("the path has escapes that do not decode to UTF-8")]
    NotUtf8,
    /// Has a `;` (a path parameter some servers strip).
    #[error("the path has a ';'")]
    Parameter,
    /// Has a `#`.
    #[error("the path has a '#'")]
    Fragment,
    /// Has a segment ending in `.` or a space, which some file systems drop.
    #[error("the path has a segment ending in '.' or a space")]
    TrailingDotOrSpace,
}

/// A request path that means one thing to every server: matched by the route table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestPath<'a>(Cow<'a, str>);

impl<'a> RequestPath<'a> {
    /// Checks `raw` (the path alone, no query) and puts it in canonical form. A path without
    /// escapes is borrowed as it is.
    pub fn parse(raw: &'a str) -> Result<RequestPath<'a>, UnsafePath> {
        let bytes = raw.as_bytes();
        if bytes.first() != Some(&b'/') {
            return Err(UnsafePath::NotAbsolute);
        }
        let mut canonical: Option<String> = None;
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            match b {
                b'%' => {
                    let decoded = escaped_byte(bytes, i)?;
                    let out = canonical.get_or_insert_with(|| raw[..i].to_owned());
                    push_escaped(out, decoded)?;
                    i += 3;
                    continue;
                }
                b'\\' => return Err(UnsafePath::Backslash),
                b';' => return Err(UnsafePath::Parameter),
                b'#' => return Err(UnsafePath::Fragment),
                0..0x20 | 0x7f => return Err(UnsafePath::ControlCharacter),
                0x80.. => return Err(UnsafePath::NotAscii),
                _ => {
                    if let Some(out) = canonical.as_mut() {
                        out.push(char::from(b));
                    }
                }
            }
            i += 1;
        }
        let path = match canonical {
            Some(s) => {
                check_utf8(&s)?;
                Cow::Owned(s)
            }
            None => Cow::Borrowed(raw),
        };
        check_segments(&path)?;
        Ok(RequestPath(path))
    }

    /// The path, as checked.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The byte a `%XX` escape at `at` stands for.
fn escaped_byte(bytes: &[u8], at: usize) -> Result<u8, UnsafePath> {
    let hex = |b: Option<&u8>| b.and_then(|b| char::from(*b).to_digit(16));
    match (hex(bytes.get(at + 1)), hex(bytes.get(at + 2))) {
        // Two hex digits make at most 0xff.
        (Some(h), Some(l)) => Ok(u8::try_from(h * 16 + l).unwrap_or(u8::MAX)),
        _ => Err(UnsafePath::BadEscape),
    }
}

/// Writes an escaped byte in canonical form: unreserved characters decoded, the rest escaped
/// in upper case; refuses the bytes that could change the path's segments.
fn push_escaped(out: &mut String, b: u8) -> Result<(), UnsafePath> {
    match b {
        b'.' | b'/' | b'\\' | b'%' => Err(UnsafePath::EscapedSeparator),
        b';' => Err(UnsafePath::Parameter),
        0..0x20 | 0x7f => Err(UnsafePath::ControlCharacter),
        b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'~' => {
            out.push(char::from(b));
            Ok(())
        }
        _ => {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
            Ok(())
        }
    }
}

fn check_segments(path: &str) -> Result<(), UnsafePath> {
    let rest = &path[1..];
    let count = rest.split('/').count();
    for (i, segment) in rest.split('/').enumerate() {
        // `/` alone and a trailing slash leave one empty last segment, which names nothing else.
        if segment.is_empty() && i + 1 < count {
            return Err(UnsafePath::EmptySegment);
        }
        if segment == "." || segment == ".." {
            return Err(UnsafePath::DotSegment);
        }
        if segment.ends_with('.') || segment.ends_with("%20") {
            return Err(UnsafePath::TrailingDotOrSpace);
        }
    }
    Ok(())
}

/// Refuses a canonical path whose remaining escapes (all of bytes that stay escaped) do not
/// decode to UTF-8: a lenient decoder could read an overlong form as `.` or `/`.
fn check_utf8(canonical: &str) -> Result<(), UnsafePath> {
    let bytes = canonical.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            decoded.push(escaped_byte(bytes, i)?);
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    std::str::from_utf8(&decoded)
        .map(|_| ())
        .map_err(|_| UnsafePath::NotUtf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_are_kept_as_they_are() {
        for p in [
            "/",
            "/products",
            "/products/",
            "/products/1",
            "/a.b/c..d/.well-known/x",
            "/a-b_c~d/e:f@g!$&'()*+,=",
        ] {
            let parsed = RequestPath::parse(p).unwrap();
            assert_eq!(parsed.as_str(), p);
            assert!(matches!(parsed.0, Cow::Borrowed(_)), "{p}");
        }
    }

    #[test]
    fn escapes_are_put_in_one_form() {
        for (raw, canonical) in [
            ("/%70roducts/1", "/products/1"),
            ("/products/%31", "/products/1"),
            ("/a%20b", "/a%20b"),
            ("/a%3fb", "/a%3Fb"),
            ("/%7e%7E", "/~~"),
            ("/caf%c3%a9", "/caf%C3%A9"),
        ] {
            assert_eq!(
                RequestPath::parse(raw).unwrap().as_str(),
                canonical,
                "{raw}"
            );
        }
    }

    #[test]
    fn ambiguous_paths_are_refused() {
        use UnsafePath::*;
        for (raw, why) in [
            ("", NotAbsolute),
            ("products/1", NotAbsolute),
            ("http://x/products", NotAbsolute),
            ("/products/../orders/1", DotSegment),
            ("/products/./orders", DotSegment),
            ("/./products", DotSegment),
            ("/products/..", DotSegment),
            ("/products/..;/orders/1", Parameter),
            ("/products/.;x/1", Parameter),
            ("/admin;x/users", Parameter),
            ("/admin%3bx/users", Parameter),
            ("/admin%3B/users", Parameter),
            ("/orders;v=1/1", Parameter),
            ("/public#/../admin", Fragment),
            ("/public#x", Fragment),
            ("/admin./users", TrailingDotOrSpace),
            ("/admin../users", TrailingDotOrSpace),
            ("/admin.../users", TrailingDotOrSpace),
            ("/admin%20/users", TrailingDotOrSpace),
            ("/admin%20", TrailingDotOrSpace),
            ("/products/%c0%ae%c0%ae/orders", NotUtf8),
            ("/products/%e0%80%ae", NotUtf8),
            ("/products/%ff", NotUtf8),
            ("/products/%c3", NotUtf8),
            ("/products/%2e%2e/orders/1", EscapedSeparator),
            ("/products/%2E%2E/orders/1", EscapedSeparator),
            ("/products/.%2e/orders/1", EscapedSeparator),
            ("/products/a%2eb", EscapedSeparator),
            ("/products/..%2forders/1", EscapedSeparator),
            ("/products%2F..%2Forders", EscapedSeparator),
            ("/products/%5c..%5corders/1", EscapedSeparator),
            ("/products/%252e%252e/orders", EscapedSeparator),
            ("/products/..\\orders/1", Backslash),
            ("/products\\1", Backslash),
            ("/products/\0", ControlCharacter),
            ("/products/%00", ControlCharacter),
            ("/products/%0a", ControlCharacter),
            ("/products/%7f", ControlCharacter),
            ("/products/\t1", ControlCharacter),
            ("/products/é", NotAscii),
            ("//orders/1", EmptySegment),
            ("/products//1", EmptySegment),
            ("/products/%", BadEscape),
            ("/products/%2", BadEscape),
            ("/products/%zz", BadEscape),
        ] {
            assert_eq!(RequestPath::parse(raw), Err(why), "{raw:?}");
        }
    }
}
