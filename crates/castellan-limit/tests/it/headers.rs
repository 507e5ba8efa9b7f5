//! Header and 429-body rendering, string for string, for a documented example: the default
//! tier with 288 of 300 requests used.

// Test helpers may unwrap: a panic there is a failed assertion with a clear location.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap or expect, with its location"
)]

use std::sync::Arc;

use castellan_limit::{
    headers, http_headers, rate_limited_body, HeaderStyle, ManualClock, MemoryLimiter, Policy,
};

/// A day boundary (UTC), so both default windows start here.
const T0: u64 = 1_700_006_400_000;

/// The documented example's state: 288 of 300 used this minute, 53 s into it.
fn example_decision(extra: usize) -> castellan_limit::Decision {
    let clock = Arc::new(ManualClock::new(T0 + 53_000));
    let l = MemoryLimiter::with_clock(10_000, clock);
    let p = Policy::default_tier();
    let mut d = l.check(&p, "csb_key");
    for _ in 1..288 + extra {
        d = l.check(&p, "csb_key");
    }
    d
}

fn render(d: &castellan_limit::Decision, style: HeaderStyle) -> Vec<String> {
    headers(d, style)
        .into_iter()
        .map(|(n, v)| format!("{n}: {v}"))
        .collect()
}

#[test]
fn documented_example_draft03() {
    let d = example_decision(0);
    assert!(d.allowed);
    assert_eq!(
        render(&d, HeaderStyle::Draft03),
        [
            "RateLimit-Policy: 300;w=60, 10000;w=86400",
            "RateLimit-Limit: 300",
            "RateLimit-Remaining: 12",
            "RateLimit-Reset: 7",
            "X-RateLimit-Limit: 300",
            "X-RateLimit-Remaining: 12",
            "X-RateLimit-Reset: 1700006460",
        ]
    );
}

#[test]
fn documented_example_structured() {
    let d = example_decision(0);
    assert_eq!(
        render(&d, HeaderStyle::Structured),
        [
            "RateLimit-Policy: \"default\";q=300;w=60, \"default\";q=10000;w=86400",
            "RateLimit: \"default\";r=12;t=7",
            "X-RateLimit-Limit: 300",
            "X-RateLimit-Remaining: 12",
            "X-RateLimit-Reset: 1700006460",
        ]
    );
}

#[test]
fn refused_request_carries_retry_after() {
    // 300 admitted, the 301st refused, still 53 s into the minute.
    let d = example_decision(13);
    assert!(!d.allowed);
    assert_eq!(
        render(&d, HeaderStyle::Draft03),
        [
            "RateLimit-Policy: 300;w=60, 10000;w=86400",
            "RateLimit-Limit: 300",
            "RateLimit-Remaining: 0",
            "RateLimit-Reset: 7",
            "X-RateLimit-Limit: 300",
            "X-RateLimit-Remaining: 0",
            "X-RateLimit-Reset: 1700006460",
            "Retry-After: 7",
        ]
    );
    let body = serde_json::to_string(&rate_limited_body(&d)).unwrap();
    assert_eq!(
        body,
        r#"{"error":"rate_limited","message":"Rate limit exceeded for policy default: 300 requests per 60 seconds","policy":"default","retry_after":7}"#
    );
}

#[test]
fn http_headers_are_insertable() {
    let d = example_decision(13);
    let mut map = http::HeaderMap::new();
    map.extend(http_headers(&d, HeaderStyle::Draft03));
    assert_eq!(map["ratelimit-remaining"], "0");
    assert_eq!(map["retry-after"], "7");
    assert_eq!(map["x-ratelimit-reset"], "1700006460");
    assert_eq!(map.len(), 8);
}

/// The typed headers are exactly the string headers, for both styles, admitted and refused.
#[test]
fn http_headers_equal_the_string_headers() {
    for extra in [0, 13] {
        let d = example_decision(extra);
        for style in [HeaderStyle::Draft03, HeaderStyle::Structured] {
            let typed: Vec<(String, String)> = http_headers(&d, style)
                .into_iter()
                .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap().to_owned()))
                .collect();
            let strings: Vec<(String, String)> = headers(&d, style)
                .into_iter()
                .map(|(n, v)| (n.to_ascii_lowercase(), v))
                .collect();
            assert_eq!(typed, strings, "extra {extra}, {style:?}");
        }
    }
}

fn pairs(map: &http::HeaderMap) -> Vec<(String, String)> {
    map.iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap().to_owned()))
        .collect()
}

/// Headers written once and refreshed for later decisions equal headers written anew, with
/// the other headers of the answer kept; a decision that needs other headers is not refreshed.
#[test]
fn refreshed_headers_equal_written_headers() {
    use castellan_limit::{refresh_headers, write_headers};
    for style in [HeaderStyle::Draft03, HeaderStyle::Structured] {
        let clock = Arc::new(ManualClock::new(T0 + 53_000));
        let l = MemoryLimiter::with_clock(10_000, Arc::<ManualClock>::clone(&clock));
        let p = Policy::default_tier();
        let mut answer = http::HeaderMap::new();
        answer.insert("x-castellan-subject", "key_1".parse().unwrap());
        write_headers(&l.check(&p, "k"), style, &mut answer);
        for step in 0..400u64 {
            // Through the minute boundary: the reset and the reset time change too.
            clock.set_ms(T0 + 53_000 + step * 50);
            let d = l.check(&p, "k");
            let mut expected = http::HeaderMap::new();
            expected.insert("x-castellan-subject", "key_1".parse().unwrap());
            write_headers(&d, style, &mut expected);
            let mut refreshed = answer.clone();
            if d.allowed {
                assert!(
                    refresh_headers(&d, style, &mut refreshed),
                    "{style:?} {step}"
                );
                assert_eq!(pairs(&refreshed), pairs(&expected), "{style:?} {step}");
            } else {
                assert!(
                    !refresh_headers(&d, style, &mut refreshed),
                    "{style:?} {step}"
                );
            }
        }
        // Headers of the other style, or of a refusal, are not refreshed.
        let d = l.check(&Policy::default_tier(), "other");
        let other = match style {
            HeaderStyle::Draft03 => HeaderStyle::Structured,
            HeaderStyle::Structured => HeaderStyle::Draft03,
        };
        let mut wrong = http::HeaderMap::new();
        write_headers(&d, other, &mut wrong);
        assert!(!refresh_headers(&d, style, &mut wrong), "{style:?}");
        let refused = example_decision(13);
        let mut with_retry = http::HeaderMap::new();
        write_headers(&refused, style, &mut with_retry);
        assert!(!refresh_headers(&d, style, &mut with_retry), "{style:?}");
    }
}
