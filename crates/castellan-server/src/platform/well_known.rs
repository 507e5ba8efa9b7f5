//! Documents the operator publishes under `/.well-known/` (`[[well_known]]`), such as
//! `/.well-known/mcp.json` or `/.well-known/agent-skills/index.json`: each read once at start-up
//! from its file, served as it was read with its content type, an ETag and a cache lifetime. A
//! file that cannot be read stops start-up; a running server never answers such a path 500.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

/// Largest document served (1 MiB): these are small metadata files, held in memory.
pub const MAX_DOCUMENT_BYTES: u64 = 1024 * 1024;
/// Longest cache lifetime a document may be given (one day).
pub const MAX_CACHE_SECONDS: u32 = 86_400;
/// The well-known paths Castellan answers itself; a document cannot take one of them.
pub const RESERVED: &[&str] = &[
    "/.well-known/oauth-authorization-server",
    "/.well-known/openid-configuration",
    "/.well-known/jwks.json",
    "/.well-known/oauth-protected-resource",
];

/// One `[[well_known]]` entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct WellKnownEntry {
    /// Where it is served: `/.well-known/` and a path of letters, digits, `.`, `-`, `_` and `/`.
    pub path: String,
    /// The file it is read from at start-up (relative paths from the working directory).
    pub file: PathBuf,
    /// Its `Content-Type`, e.g. `application/json`.
    pub content_type: String,
    /// Its `Cache-Control: public, max-age` (0 ..= 86 400; default 300).
    #[serde(default = "default_cache_seconds")]
    pub cache_seconds: u32,
}

fn default_cache_seconds() -> u32 {
    300
}

/// A document as served.
#[derive(Debug)]
pub struct Document {
    /// Its path, as configured.
    pub path: String,
    /// Its content, as read at start-up.
    pub body: bytes::Bytes,
    /// Its `Content-Type`.
    pub content_type: String,
    /// A strong ETag of the content (quoted hex of its SHA-256, first 128 bits).
    pub etag: String,
    /// Its cache lifetime in seconds.
    pub cache_seconds: u32,
}

/// A `[[well_known]]` entry that cannot be served, naming the entry and key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WellKnownError(pub String);

fn bad(i: usize, key: &str, msg: impl std::fmt::Display) -> WellKnownError {
    WellKnownError(format!("well_known[{i}].{key} {msg}"))
}

/// Checks the entries' settings (not their files): path shape, no clash with Castellan's own
/// well-known paths or each other, a content type that can be a header value, the cache bound.
pub fn validate(entries: &[WellKnownEntry]) -> Result<(), WellKnownError> {
    for (i, e) in entries.iter().enumerate() {
        let rest = e
            .path
            .strip_prefix("/.well-known/")
            .ok_or_else(|| bad(i, "path", "must start with /.well-known/"))?;
        let segments_ok = !rest.is_empty()
            && rest.len() <= 200
            && rest.split('/').all(|s| {
                !s.is_empty()
                    && s != "."
                    && s != ".."
                    && s.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
            });
        if !segments_ok {
            return Err(bad(
                i,
                "path",
                "must name a file under /.well-known/ with letters, digits, '.', '-', '_' and '/' only",
            ));
        }
        if RESERVED
            .iter()
            .any(|r| e.path == *r || e.path.starts_with(&format!("{r}/")))
        {
            return Err(bad(i, "path", "is one Castellan answers itself"));
        }
        if entries[..i].iter().any(|earlier| earlier.path == e.path) {
            return Err(bad(i, "path", "is configured twice"));
        }
        let type_ok = !e.content_type.trim().is_empty()
            && e.content_type.len() <= 200
            && e.content_type.bytes().all(|b| (0x20..0x7f).contains(&b));
        if !type_ok {
            return Err(bad(
                i,
                "content_type",
                "must be a media type of printable ASCII, e.g. application/json",
            ));
        }
        if e.cache_seconds > MAX_CACHE_SECONDS {
            return Err(bad(
                i,
                "cache_seconds",
                format!("must be at most {MAX_CACHE_SECONDS}"),
            ));
        }
    }
    Ok(())
}

/// Reads every entry's file: a missing, unreadable or oversized file is a start-up error
/// naming the entry.
pub fn load(entries: &[WellKnownEntry]) -> Result<Arc<[Document]>, WellKnownError> {
    validate(entries)?;
    entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let size = std::fs::metadata(&e.file)
                .map_err(|err| bad(i, "file", format!("cannot be read: {err}")))?
                .len();
            if size > MAX_DOCUMENT_BYTES {
                return Err(bad(
                    i,
                    "file",
                    format!("is larger than {MAX_DOCUMENT_BYTES} bytes"),
                ));
            }
            let body = std::fs::read(&e.file)
                .map_err(|err| bad(i, "file", format!("cannot be read: {err}")))?;
            Ok(Document {
                path: e.path.clone(),
                etag: etag(&body),
                body: bytes::Bytes::from(body),
                content_type: e.content_type.trim().to_owned(),
                cache_seconds: e.cache_seconds,
            })
        })
        .collect()
}

fn etag(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    let mut tag = String::with_capacity(34);
    tag.push('"');
    for b in &digest[..16] {
        let _ = write!(tag, "{b:02x}");
    }
    tag.push('"');
    tag
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str) -> WellKnownEntry {
        WellKnownEntry {
            path: path.to_owned(),
            file: PathBuf::from("/nonexistent"),
            content_type: "application/json".to_owned(),
            cache_seconds: 300,
        }
    }

    #[test]
    fn paths_outside_well_known_reserved_or_odd_are_refused() {
        for path in [
            "/mcp.json",
            "/.well-known/",
            "/.well-known/../admin",
            "/.well-known/a//b",
            "/.well-known/{x}",
            "/.well-known/a*",
            "/.well-known/jwks.json",
            "/.well-known/openid-configuration",
            "/.well-known/oauth-protected-resource/api",
        ] {
            let e = validate(&[entry(path)]).expect_err(path);
            assert!(e.0.starts_with("well_known[0].path"), "{path}: {e}");
        }
        assert!(validate(&[entry("/.well-known/mcp.json")]).is_ok());
        assert!(validate(&[entry("/.well-known/agent-skills/index.json")]).is_ok());
        let twice = validate(&[
            entry("/.well-known/mcp.json"),
            entry("/.well-known/mcp.json"),
        ]);
        assert!(twice.is_err_and(|e| e.0.contains("configured twice")));
    }

    #[test]
    fn content_types_and_cache_bounds_are_checked() {
        let mut e = entry("/.well-known/mcp.json");
        e.content_type = "application/json\r\nX-Evil: 1".to_owned();
        assert!(validate(std::slice::from_ref(&e)).is_err_and(|e| e.0.contains("content_type")));
        e.content_type = "application/json".to_owned();
        e.cache_seconds = MAX_CACHE_SECONDS + 1;
        assert!(validate(&[e]).is_err_and(|e| e.0.contains("cache_seconds")));
    }

    #[test]
    fn a_missing_file_is_a_start_up_error_naming_the_entry() {
        let e = load(&[entry("/.well-known/mcp.json")]).expect_err("missing file");
        assert!(e.0.starts_with("well_known[0].file cannot be read"), "{e}");
    }

    #[test]
    fn the_etag_follows_the_content() {
        assert_eq!(etag(b"a"), etag(b"a"));
        assert_ne!(etag(b"a"), etag(b"b"));
        assert_eq!(etag(b"a").len(), 34);
    }
}
