//! Property tests: the guard's parsers of untrusted input never panic, and the API-key
//! checksum accepts exactly the keys it should.

use castellan_guard::api_key::{api_key_checksum, api_key_checksum_ok, parse_api_key};
use castellan_guard::config::RouteRules;
use castellan_guard::credential::{parse_bearer, presented, token_shape};
use castellan_guard::routes::RouteTable;
use castellan_guard::{RequestPath, RouteConfig};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn api_key_parser_never_panics(s in ".{0,300}", prefix in "[a-z]{0,5}") {
        let _ = parse_api_key(&s, &prefix);
        let mut parts = s.splitn(3, '_');
        let _ = api_key_checksum_ok(parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    }

    #[test]
    fn well_formed_keys_parse_and_any_change_breaks_them(body in "[A-Za-z0-9-]{1,64}", pos in 0usize..64, c in "[A-Za-z0-9-]") {
        let key = format!("csb_{body}_{:08x}", api_key_checksum("csb", &body));
        let parts = parse_api_key(&key, "csb").unwrap();
        prop_assert_eq!(parts.body, body.as_str());
        // Changing one body character is caught by the checksum.
        let i = pos % body.len();
        let mut changed: Vec<char> = body.chars().collect();
        if changed[i].to_string() != c {
            changed[i] = c.chars().next().unwrap();
            let changed: String = changed.into_iter().collect();
            let bad = format!("csb_{changed}_{}", parts.checksum);
            prop_assert!(parse_api_key(&bad, "csb").is_err());
        }
    }

    #[test]
    fn header_parsers_never_panic(value in proptest::collection::vec(any::<u8>(), 0..200), which in 0usize..4) {
        let _ = parse_bearer(&String::from_utf8_lossy(&value));
        if let Ok(v) = HeaderValue::from_bytes(&value) {
            let name = ["authorization", "x-api-key", "x-token", "x-other"][which];
            let mut h = HeaderMap::new();
            h.insert(name, v);
            let _ = presented(&h, &HeaderName::from_static("x-api-key"), which == 2);
        }
    }

    #[test]
    fn token_shape_never_panics(s in ".{0,200}") {
        let _ = token_shape(&s);
        let _ = castellan_crypto::jws::parse(&s);
    }

    #[test]
    fn route_matching_never_panics(path in "(/[a-z{}*]{0,4}){0,6}", pattern in "(/([a-z]{1,3}|\\*|\\{p\\})){1,4}") {
        if let (Ok(t), Ok(path)) = (
            RouteTable::new(&[RouteConfig::new("GET", &pattern, RouteRules::default())], None),
            RequestPath::parse(&path),
        ) {
            let _ = t.find(&Method::GET, &path);
        }
    }

    /// An accepted path is already canonical, and no segment of it can be read as `.` or `..`
    /// by a server that decodes escapes or `;parameters`.
    #[test]
    fn accepted_paths_are_canonical_and_have_no_dot_segments(path in "(/([a-zA-Z0-9.;~]|%[0-9a-fA-F]{2}|\\\\){0,5}){0,5}") {
        if let Ok(p) = RequestPath::parse(&path) {
            let again = RequestPath::parse(p.as_str()).unwrap();
            prop_assert_eq!(again.as_str(), p.as_str());
            for segment in p.as_str()[1..].split('/') {
                let decoded = percent_decode(segment);
                let name = decoded.split(';').next().unwrap_or_default();
                prop_assert!(name != "." && name != "..", "{} from {}", p.as_str(), path);
                prop_assert!(!decoded.contains(['/', '\\', '\0']), "{} from {}", p.as_str(), path);
            }
        }
    }
}

/// Decodes every escape (what a lenient server behind the proxy would do).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
