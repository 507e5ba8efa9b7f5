//! API keys as presented: any text is parsed or refused, never a panic; an accepted key's parts
//! are slices of it.
#![no_main]

use castellan_core::api_key;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|key: &str| {
    if let Ok(parsed) = api_key::parse_any(key) {
        assert!(key.starts_with(parsed.prefix));
    }
});
