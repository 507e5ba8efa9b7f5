//! A form-encoded OAuth request body (RFC 6749 §3.2): any bytes are parsed or refused, never a
//! panic; what is accepted holds no repeated name (but `resource`) and no empty value.
#![no_main]

use castellan_core::params::OAuthParams;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    if let Ok(params) = OAuthParams::parse_form(body) {
        let mut names: Vec<&str> = params.pairs().map(|(k, _)| k).collect();
        assert!(params.pairs().all(|(_, v)| !v.is_empty()));
        names.retain(|n| *n != "resource");
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), count, "a repeated parameter was accepted");
    }
});
