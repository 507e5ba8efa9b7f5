//! The management API's `where` predicates and `sort` expressions: any text is parsed or
//! refused, never a panic or a stack overflow (nesting is bounded).
#![no_main]

use castellan_core::query::{parse_predicate, parse_sort};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = parse_predicate(text);
    let _ = parse_sort(text);
});
