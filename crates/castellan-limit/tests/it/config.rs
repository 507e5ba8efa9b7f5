//! Parsing the `[rate_limit]` table and refusing absurd values with the exact key named.

// Test helpers may unwrap: a panic there is a failed assertion with a clear location.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap or expect, with its location"
)]

use castellan_limit::{
    Backend, BackendSettings, FailureMode, HeaderStyle, Policy, RateLimitConfig, Window,
};

#[derive(serde::Deserialize)]
struct Root {
    rate_limit: RateLimitConfig,
}

fn parse(toml_text: &str) -> RateLimitConfig {
    toml::from_str::<Root>(toml_text).unwrap().rate_limit
}

fn errors(toml_text: &str) -> Vec<String> {
    parse(toml_text)
        .validate()
        .unwrap_err()
        .errors()
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn defaults_are_the_documented_policies() {
    let limits = RateLimitConfig::default().validate().unwrap();
    let p = limits.tier_or_default("no-such-tier");
    assert_eq!(p.name(), "default");
    assert_eq!(
        p.windows(),
        [Window::new(300, 60), Window::new(10_000, 86_400)]
    );
    assert_eq!(
        limits.per_ip.registration.windows(),
        [Window::new(10, 3_600)]
    );
    assert_eq!(limits.header_style, HeaderStyle::Draft03);
    assert!(matches!(
        limits.backend,
        BackendSettings::InProcess {
            max_keys: 1_000_000
        }
    ));
}

#[test]
fn full_table_parses() {
    let cfg = parse(
        r#"
        [rate_limit]
        backend = "redis"
        redis_url = "redis://127.0.0.1:6379"
        redis_failure = "closed"
        redis_timeout_ms = 25
        header_style = "structured"

        [rate_limit.policies.default]
        windows = [{ limit = 300, seconds = 60 }, { limit = 10000, seconds = 86400 }]

        [rate_limit.policies.gold]
        windows = [{ limit = 3000, seconds = 60 }]

        [rate_limit.tiers]
        gold = "gold"

        [rate_limit.per_ip]
        registration = "registration"
        "#,
    );
    assert_eq!(cfg.backend, Backend::Redis);
    let limits = cfg.validate().unwrap();
    assert_eq!(
        limits.tier("gold").unwrap().windows(),
        [Window::new(3000, 60)]
    );
    assert_eq!(limits.tier("default").unwrap().name(), "default");
    assert_eq!(limits.header_style, HeaderStyle::Structured);
    let BackendSettings::Redis(redis) = &limits.backend else {
        panic!("expected redis backend");
    };
    assert_eq!(redis.failure, FailureMode::Closed);
    assert_eq!(redis.timeout.as_millis(), 25);
    assert_eq!(redis.key_prefix, "castellan:rl");
    assert_eq!(format!("{:?}", redis.url), "RedisUrl(<redacted>)");
}

#[test]
fn absurd_windows_are_refused_naming_the_key() {
    let errs = errors(
        r"
        [rate_limit.policies.default]
        windows = [{ limit = 300, seconds = 60 }, { limit = 10, seconds = 0 }]
        [rate_limit.policies.big]
        windows = [{ limit = 0, seconds = 31536001 }, { limit = 1000000001, seconds = 60 }]
        [rate_limit.policies.dup]
        windows = [{ limit = 1, seconds = 60 }, { limit = 2, seconds = 60 }]
        [rate_limit.policies.none]
        windows = []
        ",
    );
    assert_eq!(
        errs,
        [
            "rate_limit.policies.big.windows[0].limit must be between 1 and 1000000000",
            "rate_limit.policies.big.windows[0].seconds must be between 1 and 31536000",
            "rate_limit.policies.big.windows[1].limit must be between 1 and 1000000000",
            "rate_limit.policies.default.windows[1].seconds must be between 1 and 31536000",
            "rate_limit.policies.dup.windows[1].seconds duplicates rate_limit.policies.dup.windows[0].seconds (60); each window length may appear once",
            "rate_limit.policies.none.windows must contain at least one window",
        ]
    );
}

#[test]
fn unknown_policy_references_are_refused() {
    let errs = errors(
        r#"
        [rate_limit.tiers]
        gold = "golden"
        [rate_limit.per_ip]
        login = "nope"
        "#,
    );
    assert_eq!(
        errs,
        [
            "rate_limit.tiers.gold refers to unknown policy \"golden\"",
            "rate_limit.per_ip.login refers to unknown policy \"nope\"",
        ]
    );
}

#[test]
fn backend_settings_are_checked() {
    let errs = errors(
        r#"
        [rate_limit]
        backend = "redis"
        redis_timeout_ms = 0
        max_keys = 3
        "#,
    );
    assert_eq!(
        errs,
        [
            "rate_limit.redis_timeout_ms must be between 1 and 10000",
            "rate_limit.redis_url is required when rate_limit.backend = \"redis\"",
            "rate_limit.max_keys must be between 1024 and 100000000",
        ]
    );
    let errs = errors(
        r#"
        [rate_limit]
        backend = "redis"
        redis_url = "http://user:secret@host"
        "#,
    );
    assert_eq!(errs.len(), 1);
    assert!(errs[0].starts_with("rate_limit.redis_url is not a valid Redis URL"));
    assert!(!errs[0].contains("secret"));
}

#[test]
fn unknown_keys_and_values_are_parse_errors() {
    let e = toml::from_str::<Root>("[rate_limit]\nheader_styl = \"structured\"\n").err();
    assert!(e.unwrap().to_string().contains("header_styl"));
    let e = toml::from_str::<Root>("[rate_limit]\nredis_failure = \"maybe\"\n").err();
    assert!(e.unwrap().to_string().contains("maybe"));
}

#[test]
fn policy_new_validates_and_policy_deserialises_through_it() {
    let e = Policy::new("bad name", vec![Window::new(1, 1)]).unwrap_err();
    assert!(e
        .to_string()
        .starts_with("rate_limit.policies.bad name name must be"));
    let p: Policy =
        toml::from_str("name = \"x\"\nwindows = [{ limit = 5, seconds = 10 }]").unwrap();
    assert_eq!(p.windows(), [Window::new(5, 10)]);
    let bad = toml::from_str::<Policy>("name = \"x\"\nwindows = [{ limit = 5, seconds = 0 }]");
    assert!(bad
        .unwrap_err()
        .to_string()
        .contains("rate_limit.policies.x.windows[0].seconds must be between 1 and 31536000"));
}

#[test]
fn a_tier_set_to_off_is_not_limited() {
    let limits = parse(
        r#"
[rate_limit.tiers]
internal = "off"
"#,
    )
    .validate()
    .unwrap();
    assert!(limits.tier_exists("internal"));
    assert!(limits.tier("internal").is_none());
    assert!(limits.tier_limit("internal").is_none());
    // Unknown tiers still fall back to tier default; configured ones keep their policy.
    assert_eq!(limits.tier_limit("nope").unwrap().name(), "default");
    assert_eq!(limits.tier_limit("default").unwrap().name(), "default");
    assert!(!limits.tier_exists("nope"));
}

#[test]
fn off_is_reserved_and_not_for_tier_default() {
    let errs = errors(
        r#"
[rate_limit.policies.off]
windows = [{ limit = 1, seconds = 1 }]
[rate_limit.tiers]
default = "off"
"#,
    );
    assert!(
        errs.iter()
            .any(|e| e.starts_with("rate_limit.policies.off")),
        "{errs:?}"
    );
    assert!(
        errs.iter()
            .any(|e| e.starts_with("rate_limit.tiers.default")),
        "{errs:?}"
    );
}
