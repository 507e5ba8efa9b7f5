//! Scope strings (RFC 6749 §3.3) and the scope patterns of the configuration: any text is
//! parsed or refused, never a panic; a parsed scope set prints back to a string that parses to
//! the same set.
#![no_main]

use castellan_core::scope::{parse_patterns, ScopeSet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(set) = ScopeSet::parse(text) {
        let printed = set.to_string();
        assert_eq!(ScopeSet::parse(&printed).ok(), Some(set));
    }
    let _ = parse_patterns(text);
});
