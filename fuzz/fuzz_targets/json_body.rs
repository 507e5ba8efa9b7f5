//! JSON request bodies: the OAuth parameters of a JSON body (one flat object) and the strict
//! JSON of the management API and registration (no repeated member, bounded depth). Any bytes
//! are parsed or refused, never a panic or a stack overflow.
#![no_main]

use castellan_core::params::OAuthParams;
use castellan_core::strict_json;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let _ = OAuthParams::parse_json(body);
    if let Ok(value) = strict_json::parse(body, 32) {
        // What was accepted serialises again into JSON that is accepted too (numbers may move
        // by a unit in the last place: serde_json parses floats fast, not exactly).
        let again = serde_json::to_vec(&value).expect("serialisable");
        assert!(strict_json::parse(&again, 32).is_ok());
    }
});
