//! The configuration shown in docs/guard.md parses and validates.

use castellan_guard::{Guard, GuardConfig, Role};

#[tokio::test]
async fn the_documented_configuration_is_valid() {
    let doc = include_str!("../../../../docs/guard.md");
    let start = doc.find("```toml\n").unwrap() + "```toml\n".len();
    let end = start + doc[start..].find("```").unwrap();
    let config: GuardConfig = toml::from_str(&doc[start..end]).unwrap();
    assert_eq!(config.routes.len(), 4);
    assert_eq!(config.routes[2].min_role, Some(Role::Manager));
    assert_eq!(config.api_key.header, "X-API-Key");
    assert_eq!(
        config.dpop.public_base_url.as_deref(),
        Some("https://api.example.com")
    );
    assert!(
        !format!("{config:?}").contains('…'),
        "the secret is redacted"
    );
    Guard::new(config).unwrap();
}
