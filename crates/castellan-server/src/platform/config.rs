//! Castellan's configuration: one typed tree, validated once at start-up and passed explicitly.
//! Every key is documented, with its default, in `config/example.toml` (a test parses it).
//!
//! Sources, later ones winning: built-in defaults, the TOML file, `CASTELLAN_*` environment
//! variables (nested keys joined by `__`, e.g. `CASTELLAN_TOKEN__ACCESS_TOKEN_SECONDS`), then
//! command-line flags.

use castellan_core::client::LifetimeBounds;
use castellan_core::Environment;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// Castellan's configuration, as read from its TOML file and the environment.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address and port to listen on.
    pub listen: SocketAddr,
    /// The issuer identifier (RFC 8414 §2): an https URL (http allowed outside production)
    /// with no query or fragment. Endpoint URLs are built from it.
    pub issuer: String,
    /// `production`, `testing` or `local`: tokens carry it (`env`) and another environment refuses
    /// them.
    pub environment: Environment,
    /// Storage URL: `sqlite://path.db`, a bare file path, or `postgres://…`.
    pub database: DatabaseUrl,
    /// Project key accepted in `/{projectKey}/api-clients` and as the qualifier of
    /// `manage_api_clients:{projectKey}` / `view_api_clients:{projectKey}`.
    pub project_key: String,
    /// The scope catalogue: every scope a person may be asked to consent to, in plain words
    /// (`[[scopes]] name = "products:read" description = "…"`). `:write` scopes are shown as
    /// elevated; every `:read` scope is open to self-registered clients.
    pub scopes: Vec<ScopeEntry>,
    /// Token lifetimes, signing algorithms, audiences and the token check cache.
    pub token: TokenConfig,
    /// Client lifetime bounds and the client cache.
    pub clients: ClientsConfig,
    /// Dynamic client registration.
    pub registration: RegistrationConfig,
    /// Signing keys.
    pub keys: KeysConfig,
    /// Request limits, timeouts and trusted proxies.
    pub http: HttpConfig,
    /// Logging.
    pub log: LogConfig,
    /// The people-facing pages (login, consent, account).
    pub pages: PagesConfig,
    /// Rate limits: policies, tiers, per-IP policies, backend. Every key is in
    /// `config/example.toml` and `docs/rate-limits.md`.
    #[serde(default)]
    pub rate_limit: castellan_limit::RateLimitConfig,
    /// API keys: prefix and lookup cache.
    pub api_keys: crate::gateway::config::ApiKeysConfig,
    /// Forward-auth route policies, protected-resource metadata, tenant tokens.
    pub gateway: crate::gateway::config::GatewayConfig,
    /// Documents the operator publishes under `/.well-known/` (`[[well_known]]`).
    pub well_known: Vec<crate::platform::well_known::WellKnownEntry>,
    /// `[par]`: pushed authorization requests (RFC 9126).
    pub par: ParConfig,
    /// `[dpop]`: DPoP proofs at the token and PAR endpoints and at forward-auth (RFC 9449).
    pub dpop: DpopConfig,
    /// `[token_exchange]`: who may exchange other clients' tokens (RFC 8693).
    pub token_exchange: TokenExchangeConfig,
    /// `[jwt_bearer]`: the issuers whose assertions the JWT bearer grant takes (RFC 7523).
    pub jwt_bearer: crate::oauth::trusted_issuers::JwtBearerConfig,
    /// `[device]`: device authorization (RFC 8628).
    pub device: DeviceConfig,
    /// How documents named by clients (metadata documents, `jwks_uri`) are fetched and cached.
    pub client_metadata: crate::oauth::metadata_document::config::ClientMetadataConfig,
    /// `[audit]`: how long the audit log keeps its events.
    pub audit: AuditConfig,
    /// `[mail]`: the SMTP server invitations and links go through.
    pub mail: crate::platform::mail::MailConfig,
}

/// The storage URL. It may carry a password, so `Debug` shows it with the password and the
/// query replaced by `[redacted]`; read it as a `&str` through `Deref`.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct DatabaseUrl(pub String);

impl std::ops::Deref for DatabaseUrl {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<&str> for DatabaseUrl {
    fn from(s: &str) -> Self {
        DatabaseUrl(s.to_owned())
    }
}

impl From<String> for DatabaseUrl {
    fn from(s: String) -> Self {
        DatabaseUrl(s)
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("DatabaseUrl")
            .field(&castellan_store::redacted_url(&self.0))
            .finish()
    }
}

/// One scope of the catalogue.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScopeEntry {
    /// The scope, e.g. `products:read`.
    pub name: String,
    /// What it lets an app do, in plain words.
    pub description: String,
}

/// The `[token]` section.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TokenConfig {
    /// Lifetime of access tokens for clients that set none (seconds).
    pub access_token_seconds: u32,
    /// Lifetime of refresh tokens for clients that set none (seconds, restarts at each use).
    pub refresh_token_seconds: u32,
    /// Signing algorithm of access tokens: `ES256`, `EdDSA` or `RS256`.
    pub access_token_algorithm: String,
    /// `aud` of access tokens issued without a `resource` parameter.
    pub default_audience: Option<String>,
    /// Resource indicators (RFC 8707) clients may ask for; empty accepts any absolute URI.
    pub resources: Vec<String>,
    /// Clock skew tolerated when checking `iat`/`nbf` of presented JWTs (seconds).
    pub leeway_seconds: u32,
    /// Lifetime of authorization codes (seconds; RFC 6749 §4.1.2 recommends at most 600).
    pub authorization_code_seconds: u32,
    /// Signing algorithm of ID tokens (OIDC): `RS256` (what every relying party supports),
    /// `ES256` or `EdDSA`.
    pub id_token_algorithm: String,
    /// Whether a refresh answers a new ID token when `openid` was granted (OIDC Core §12.2
    /// allows either). `false` spares the refresh grant the ID token's signature, RS256's
    /// being the costliest work it does; a relying party keeps the ID token of the sign-in.
    pub id_token_on_refresh: bool,
    /// How long a replica trusts what it learned about a presented access token: that a JWT's
    /// signature checked out, and whether its `jti` or family was revoked (seconds; 0 turns
    /// the cache off). A revocation made on another replica is seen within this bound; one
    /// made on this replica at once.
    pub check_cache_seconds: u32,
    /// Most tokens, `jti`s and families held in that cache (each).
    pub check_cache_capacity: u64,
}

/// The longest overlap a client secret rotation may give the previous secret: 30 days.
pub const MAX_SECRET_OVERLAP_SECONDS: u32 = 2_592_000;

/// The `[clients]` section.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ClientsConfig {
    /// Bounds of `accessTokenValiditySeconds` / `refreshTokenValiditySeconds`.
    pub lifetime_bounds: LifetimeBounds,
    /// How long a replica may serve a cached client before reading it again (seconds). A
    /// deleted client or rotated secret reaches every replica within this bound.
    pub cache_seconds: u32,
    /// Most clients held in the cache.
    pub cache_capacity: u64,
    /// How long a client's previous secret is still accepted after a rotation (seconds,
    /// 0..2592000), unless the rotation names its own overlap.
    pub secret_overlap_seconds: u32,
}

/// Who may register clients dynamically.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationMode {
    /// Anyone may register (RFC 7591 open registration).
    Open,
    /// An access token carrying the `register_clients` scope is required.
    Token,
    /// Dynamic registration is switched off.
    Disabled,
}

/// The `[registration]` section.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RegistrationConfig {
    /// `open`, `token` or `disabled`; when unset: `open` in local and testing, `token` in
    /// production.
    pub mode: Option<RegistrationMode>,
    /// Scopes (patterns allowed) open to self-registered clients. Administrative scopes
    /// (`manage_*`, `view_api_clients`, `register_clients`, `introspect`) are never open.
    pub open_scopes: Vec<String>,
}

/// The `[keys]` section.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct KeysConfig {
    /// How often a replica re-reads the signing keys from storage (seconds).
    pub reload_seconds: u32,
}

/// The `[http]` section.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Largest request body accepted on any endpoint (bytes).
    pub max_body_bytes: usize,
    /// Longest time a request may take before it is answered 503 (milliseconds).
    pub request_timeout_ms: u64,
    /// Longest time in-flight requests get to finish after SIGTERM (seconds).
    pub shutdown_grace_seconds: u64,
    /// Peers (addresses or CIDR networks) whose `client_ip_header` is believed. Empty: the
    /// client address is always the TCP peer.
    pub trusted_proxies: Vec<String>,
    /// Header a trusted proxy puts the client address in (`x-forwarded-for`, `x-real-ip`,
    /// or `forwarded` for RFC 7239).
    pub client_ip_header: String,
}

/// The `[pages]` section.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PagesConfig {
    /// Lifetime of a browser session after signing in (seconds).
    pub session_seconds: u32,
    /// Growing delays on sign-in attempts (`POST /login` and the password grant).
    pub login_throttle: LoginThrottleConfig,
    /// Whether every person must sign in with a second factor (those without one set it up
    /// at their next sign-in).
    pub require_second_factor: bool,
    /// Whether every person must sign in with a passkey (those without one register one at
    /// their next sign-in, after their password).
    pub require_passkey: bool,
}

impl Default for PagesConfig {
    fn default() -> Self {
        PagesConfig {
            session_seconds: 43_200,
            require_second_factor: false,
            require_passkey: false,
            login_throttle: LoginThrottleConfig::default(),
        }
    }
}

/// `[pages.login_throttle]`: sign-in attempts are counted per account and per account and
/// address (on the rate-limit backend, so Redis shares them between replicas). The first
/// `*_free` attempts pass at once; each later one must wait a delay that doubles with every
/// further attempt, from `first_delay_seconds` up to the `*_max_delay_seconds` cap. A
/// successful sign-in clears both; otherwise they are forgotten `forget_seconds` after the
/// last delay ends.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LoginThrottleConfig {
    /// Attempts for one account from one address before delays start.
    pub per_address_free: u64,
    /// Longest delay for one account from one address (seconds).
    pub per_address_max_delay_seconds: u64,
    /// Attempts for one account from all addresses together before delays start.
    pub per_account_free: u64,
    /// Longest delay for one account from all addresses (seconds); kept short, because anyone
    /// can make an account wait this long by guessing, the person whose account it is too.
    pub per_account_max_delay_seconds: u64,
    /// The first delay (seconds); each further attempt doubles it.
    pub first_delay_seconds: u64,
    /// How long attempts are remembered after the last delay ends (seconds).
    pub forget_seconds: u64,
}

impl Default for LoginThrottleConfig {
    fn default() -> Self {
        LoginThrottleConfig {
            per_address_free: 5,
            per_address_max_delay_seconds: 900,
            per_account_free: 20,
            per_account_max_delay_seconds: 60,
            first_delay_seconds: 1,
            forget_seconds: 900,
        }
    }
}

/// The `[log]` section.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `tracing` filter, e.g. `info` or `castellan=debug,info`.
    pub level: String,
    /// Log lines as JSON objects instead of text.
    pub json: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8000)),
            issuer: "http://localhost:8000".to_owned(),
            environment: Environment::Local,
            database: DatabaseUrl::from("sqlite://castellan.db"),
            project_key: "castellan".to_owned(),
            scopes: Vec::new(),
            token: TokenConfig::default(),
            clients: ClientsConfig::default(),
            registration: RegistrationConfig::default(),
            keys: KeysConfig::default(),
            http: HttpConfig::default(),
            log: LogConfig::default(),
            pages: PagesConfig::default(),
            rate_limit: castellan_limit::RateLimitConfig::default(),
            api_keys: Default::default(),
            gateway: Default::default(),
            well_known: Vec::new(),
            par: Default::default(),
            dpop: Default::default(),
            token_exchange: Default::default(),
            jwt_bearer: Default::default(),
            device: Default::default(),
            audit: Default::default(),
            mail: Default::default(),
            client_metadata: Default::default(),
        }
    }
}

/// Longest `par.lifetime_seconds` (RFC 9126 §2.2: short-lived; ten minutes at most).
pub const MAX_PAR_LIFETIME_SECONDS: u32 = 600;

/// `[par]`: pushed authorization requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ParConfig {
    /// How long a `request_uri` may be used (seconds, 1 ..= 600).
    pub lifetime_seconds: u32,
    /// Whether every client must push its authorization requests (RFC 9126 §5,
    /// `require_pushed_authorization_requests` in the metadata).
    pub required: bool,
}

/// `[audit]`: the audit log of security events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// How many days an event is kept (1 ..= 3650); older ones are purged by the upkeep.
    pub retention_days: u32,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            retention_days: 365,
        }
    }
}

/// `[device]`: device authorization (RFC 8628).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeviceConfig {
    /// How long a device code and its user code live, in seconds (60 ..= 1800).
    pub code_seconds: u32,
    /// How long a device waits between polls at first, in seconds (1 ..= 60); each poll that
    /// comes sooner is answered `slow_down` and adds 5 seconds.
    pub interval_seconds: u32,
}

impl Default for DeviceConfig {
    fn default() -> Self {
        DeviceConfig {
            code_seconds: 600,
            interval_seconds: 5,
        }
    }
}

/// `[token_exchange]`: token exchange (RFC 8693). Without a rule, a client may exchange only
/// tokens issued to it, tokens whose `aud` names it, or tokens whose `may_act` names it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenExchangeConfig {
    /// `[[token_exchange.delegations]]`: which client may act for tokens of which clients.
    pub delegations: Vec<DelegationConfig>,
    /// Whether Castellan's ID tokens are taken as subject tokens (by confidential clients,
    /// while the ID token's grant is live, within the person's consent behind it).
    pub id_token_subjects: bool,
    /// Whether an exchange under a delegation rule whose scope holds `offline_access` gives a
    /// refresh token (to a client allowed the refresh_token grant), in a family revoked with
    /// the subject token's grant.
    pub refresh_tokens: bool,
}

/// A delegation rule: `client` may exchange people's tokens issued to any of `for_clients`, for
/// at most `scopes` (space-separated, at least one), for the subject token's audiences or
/// `audiences`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DelegationConfig {
    /// The client that may act.
    pub client: String,
    /// The clients whose people's tokens it may exchange.
    pub for_clients: Vec<String>,
    /// The scopes the exchanged token may carry at most (required: an administrative scope
    /// passes only when named here).
    pub scopes: String,
    /// Audiences (configured resources) the exchanged token may name besides the subject
    /// token's.
    #[serde(default)]
    pub audiences: Vec<String>,
}

impl TokenExchangeConfig {
    /// The rules, their scopes parsed (checked at start-up; a rule that does not parse, or
    /// names no scope, grants nothing).
    pub fn rules(&self) -> Vec<castellan_core::exchange::Delegation> {
        self.delegations
            .iter()
            .filter_map(|d| {
                let scopes = castellan_core::ScopeSet::parse(&d.scopes).ok()?;
                (!scopes.is_empty()).then(|| castellan_core::exchange::Delegation {
                    client: d.client.clone(),
                    for_clients: d.for_clients.clone(),
                    scopes,
                    audiences: d.audiences.clone(),
                })
            })
            .collect()
    }
}

/// `[dpop]`: DPoP (RFC 9449) at the token and PAR endpoints and at forward-auth.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DpopConfig {
    /// How old a proof's `iat` may be, in seconds (1 ..= 300); its `jti` is remembered this
    /// long plus the skew.
    pub proof_max_age_seconds: u32,
    /// How far in the future a proof's `iat` may be (clock skew), in seconds (0 ..= 60).
    pub proof_max_skew_seconds: u32,
    /// Whether proofs at the token and PAR endpoints must carry a nonce the server gave out
    /// (`use_dpop_nonce`, answered with `DPoP-Nonce`, RFC 9449 §8).
    pub use_nonce: bool,
    /// How long a nonce is accepted, in seconds (10 ..= 3600); a new one is given out each
    /// period and the previous period's is still accepted.
    pub nonce_lifetime_seconds: u32,
}

impl Default for DpopConfig {
    fn default() -> Self {
        DpopConfig {
            proof_max_age_seconds: 60,
            proof_max_skew_seconds: 5,
            use_nonce: false,
            nonce_lifetime_seconds: 300,
        }
    }
}

impl Default for ParConfig {
    fn default() -> Self {
        ParConfig {
            lifetime_seconds: 60,
            required: false,
        }
    }
}

impl Default for TokenConfig {
    fn default() -> Self {
        TokenConfig {
            access_token_seconds: 3600,
            refresh_token_seconds: 17_280_000,
            access_token_algorithm: "ES256".to_owned(),
            default_audience: None,
            resources: Vec::new(),
            leeway_seconds: 60,
            authorization_code_seconds: 60,
            id_token_algorithm: "RS256".to_owned(),
            id_token_on_refresh: true,
            check_cache_seconds: 5,
            check_cache_capacity: 100_000,
        }
    }
}

impl Default for ClientsConfig {
    fn default() -> Self {
        ClientsConfig {
            lifetime_bounds: LifetimeBounds::default(),
            cache_seconds: 10,
            cache_capacity: 100_000,
            secret_overlap_seconds: 86_400,
        }
    }
}

impl Default for RegistrationConfig {
    fn default() -> Self {
        RegistrationConfig {
            mode: None,
            open_scopes: vec![
                "openid".into(),
                "profile".into(),
                "email".into(),
                "offline_access".into(),
            ],
        }
    }
}

impl Default for KeysConfig {
    fn default() -> Self {
        KeysConfig { reload_seconds: 30 }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            max_body_bytes: 64 * 1024,
            request_timeout_ms: 10_000,
            shutdown_grace_seconds: 20,
            trusted_proxies: Vec::new(),
            client_ip_header: "x-forwarded-for".to_owned(),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".to_owned(),
            json: false,
        }
    }
}

/// A configuration that could not be loaded or is invalid; the message names the key.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

fn bad(key: &str, msg: impl std::fmt::Display) -> ConfigError {
    ConfigError(format!("{key} {msg}"))
}

pub use castellan_core::scope::{is_administrative_name as is_admin_scope_name, ADMIN_SCOPE_NAMES};

impl Config {
    /// Loads defaults, then `file` (if given), then `CASTELLAN_*` variables, then `overrides`
    /// (a serialisable partial config from command-line flags), and validates the result.
    pub fn load(file: Option<&Path>, overrides: impl Serialize) -> Result<Config, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError(format!(
                    "config file {} does not exist",
                    path.display()
                )));
            }
            fig = fig.merge(Toml::file(path));
        }
        fig = fig
            .merge(
                Env::prefixed("CASTELLAN_")
                    .split("__")
                    // CASTELLAN_CONFIG names the file; CASTELLAN_TEST_* belong to the test suite.
                    .filter(|k| {
                        let k = k.as_str().to_ascii_lowercase();
                        k != "config" && !k.starts_with("test_")
                    }),
            )
            .merge(Serialized::defaults(overrides));
        let config: Config = fig
            .extract()
            .map_err(|e| ConfigError(crate::platform::config_source::describe(&e)))?;
        config.validate()?;
        Ok(config)
    }

    /// Parses a TOML document on top of the defaults (no environment), and validates it.
    pub fn from_toml_str(toml: &str) -> Result<Config, ConfigError> {
        let config: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::string(toml))
            .extract()
            .map_err(|e| ConfigError(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// How a serving node opens its store: waiting for a database connection takes at most
    /// half the request deadline, so a database that is down is answered 503 with its JSON
    /// error well before the deadline, never a request left hanging.
    pub fn store_options(&self) -> castellan_store::ConnectOptions {
        castellan_store::ConnectOptions {
            acquire_timeout: Duration::from_millis(self.http.request_timeout_ms / 2)
                .min(castellan_store::ConnectOptions::default().acquire_timeout),
            ..castellan_store::ConnectOptions::default()
        }
    }

    /// Checks every rule the settings must follow together, naming the first key that breaks one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        crate::gateway::config::validate(&self.api_keys, &self.gateway)?;
        crate::platform::well_known::validate(&self.well_known).map_err(|e| ConfigError(e.0))?;
        self.client_metadata
            .validate()
            .map_err(|(key, msg)| bad(key, msg))?;
        if self
            .gateway
            .listen
            .is_some_and(|g| g == self.listen && g.port() != 0)
        {
            return Err(bad("gateway.listen", "must differ from `listen`"));
        }
        let issuer = url::Url::parse(&self.issuer)
            .map_err(|e| bad("issuer", format!("is not a URL: {e}")))?;
        if issuer.query().is_some() || issuer.fragment().is_some() {
            return Err(bad("issuer", "must not have a query or fragment"));
        }
        match issuer.scheme() {
            "https" => {}
            "http" if self.environment != Environment::Production => {}
            _ => {
                return Err(bad(
                    "issuer",
                    "must be an https URL in production (http elsewhere)",
                ))
            }
        }
        // WebAuthn's relying party id must be a domain name: a deployment whose issuer is an
        // IP address offers no passkeys, so requiring them would lock everyone out.
        if self.pages.require_passkey && issuer.domain().is_none() {
            return Err(bad(
                "pages.require_passkey",
                "needs an issuer whose host is a domain name (passkeys cannot be offered otherwise)",
            ));
        }
        if self.issuer.ends_with('/') {
            return Err(bad("issuer", "must not end with `/`"));
        }
        if self.project_key.is_empty()
            || !self
                .project_key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(bad("project_key", "must be letters, digits, `-` or `_`"));
        }
        let b = &self.clients.lifetime_bounds;
        if b.access_min == 0 || b.access_min > b.access_max {
            return Err(bad(
                "clients.lifetime_bounds.access_min",
                "must be at least 1 and at most access_max",
            ));
        }
        if b.refresh_min == 0 || b.refresh_min > b.refresh_max {
            return Err(bad(
                "clients.lifetime_bounds.refresh_min",
                "must be at least 1 and at most refresh_max",
            ));
        }
        let t = &self.token;
        if t.access_token_seconds < 1 || t.access_token_seconds > b.access_max {
            return Err(bad(
                "token.access_token_seconds",
                format!(
                    "must be between 1 and clients.lifetime_bounds.access_max ({})",
                    b.access_max
                ),
            ));
        }
        if t.refresh_token_seconds < 1 || t.refresh_token_seconds > b.refresh_max {
            return Err(bad(
                "token.refresh_token_seconds",
                format!(
                    "must be between 1 and clients.lifetime_bounds.refresh_max ({})",
                    b.refresh_max
                ),
            ));
        }
        if castellan_crypto::Algorithm::from_name(&t.access_token_algorithm).is_none() {
            return Err(bad(
                "token.access_token_algorithm",
                "must be ES256, EdDSA or RS256",
            ));
        }
        if t.check_cache_seconds > 300 {
            return Err(bad("token.check_cache_seconds", "must be at most 300"));
        }
        if t.check_cache_capacity == 0 {
            return Err(bad("token.check_cache_capacity", "must be at least 1"));
        }
        if t.leeway_seconds > 600 {
            return Err(bad("token.leeway_seconds", "must be at most 600"));
        }
        if t.authorization_code_seconds == 0 || t.authorization_code_seconds > 600 {
            return Err(bad(
                "token.authorization_code_seconds",
                "must be between 1 and 600",
            ));
        }
        if castellan_crypto::Algorithm::from_name(&t.id_token_algorithm).is_none() {
            return Err(bad(
                "token.id_token_algorithm",
                "must be RS256, ES256 or EdDSA",
            ));
        }
        for r in &t.resources {
            check_resource_uri(r).map_err(|m| bad("token.resources", m))?;
        }
        for (i, d) in self.token_exchange.delegations.iter().enumerate() {
            let key = format!("token_exchange.delegations[{i}]");
            if d.client.is_empty() || d.for_clients.is_empty() {
                return Err(bad(&key, "needs a client and at least one of for_clients"));
            }
            let scopes = castellan_core::ScopeSet::parse(&d.scopes)
                .map_err(|e| bad(&key, format!("scopes: {e}")))?;
            if scopes.is_empty() {
                return Err(bad(&key, "scopes must name at least one scope"));
            }
            for a in &d.audiences {
                if !self.token.resources.contains(a) {
                    return Err(bad(
                        &key,
                        format!("audiences: {a} is not one of token.resources"),
                    ));
                }
            }
        }
        self.jwt_bearer
            .validate(self.environment)
            .map_err(|(key, m)| bad(&key, m))?;
        if let Some((setting, problem)) = self
            .mail
            .problem(self.environment == Environment::Production)
        {
            return Err(bad(setting, &problem));
        }
        if !(1..=3650).contains(&self.audit.retention_days) {
            return Err(bad("audit.retention_days", "must be between 1 and 3650"));
        }
        if !(60..=1800).contains(&self.device.code_seconds) {
            return Err(bad("device.code_seconds", "must be between 60 and 1800"));
        }
        if !(1..=60).contains(&self.device.interval_seconds) {
            return Err(bad("device.interval_seconds", "must be between 1 and 60"));
        }
        let d = &self.dpop;
        if d.proof_max_age_seconds == 0 || d.proof_max_age_seconds > 300 {
            return Err(bad(
                "dpop.proof_max_age_seconds",
                "must be between 1 and 300",
            ));
        }
        if d.proof_max_skew_seconds > 60 {
            return Err(bad("dpop.proof_max_skew_seconds", "must be at most 60"));
        }
        if !(10..=3600).contains(&d.nonce_lifetime_seconds) {
            return Err(bad(
                "dpop.nonce_lifetime_seconds",
                "must be between 10 and 3600",
            ));
        }
        let par = self.par.lifetime_seconds;
        if par == 0 || par > MAX_PAR_LIFETIME_SECONDS {
            return Err(bad("par.lifetime_seconds", "must be between 1 and 600"));
        }
        if self.clients.secret_overlap_seconds > MAX_SECRET_OVERLAP_SECONDS {
            return Err(bad(
                "clients.secret_overlap_seconds",
                "must be at most 2592000 (30 days)",
            ));
        }
        if self.clients.cache_seconds > 3600 {
            return Err(bad("clients.cache_seconds", "must be at most 3600"));
        }
        if self.clients.cache_capacity == 0 {
            return Err(bad("clients.cache_capacity", "must be at least 1"));
        }
        for s in &self.registration.open_scopes {
            let p = castellan_core::ScopePattern::parse(s).map_err(|e| {
                bad(
                    "registration.open_scopes",
                    format!("holds an invalid scope: {e}"),
                )
            })?;
            let name = p.as_str().split(':').next().unwrap_or_default();
            if is_admin_scope_name(name) {
                return Err(bad(
                    "registration.open_scopes",
                    format!("must not open the administrative scope {name}"),
                ));
            }
        }
        for (i, entry) in self.scopes.iter().enumerate() {
            castellan_core::Scope::parse(&entry.name).map_err(|e| {
                bad(
                    &format!("scopes[{i}].name"),
                    format!("is not a valid scope: {e}"),
                )
            })?;
            if self.scopes[..i].iter().any(|o| o.name == entry.name) {
                return Err(bad(
                    &format!("scopes[{i}].name"),
                    "repeats an earlier entry",
                ));
            }
        }
        if self.pages.session_seconds < 60 || self.pages.session_seconds > 2_592_000 {
            return Err(bad(
                "pages.session_seconds",
                "must be between 60 and 2592000",
            ));
        }
        crate::people::login_throttle::LoginThrottle::new(&self.pages.login_throttle)?;
        if self.keys.reload_seconds == 0 || self.keys.reload_seconds > 3600 {
            return Err(bad("keys.reload_seconds", "must be between 1 and 3600"));
        }
        if self.http.max_body_bytes < 1024 || self.http.max_body_bytes > 16 * 1024 * 1024 {
            return Err(bad(
                "http.max_body_bytes",
                "must be between 1024 and 16777216",
            ));
        }
        if self.http.request_timeout_ms < 100 || self.http.request_timeout_ms > 600_000 {
            return Err(bad(
                "http.request_timeout_ms",
                "must be between 100 and 600000",
            ));
        }
        if self.http.shutdown_grace_seconds > 3600 {
            return Err(bad("http.shutdown_grace_seconds", "must be at most 3600"));
        }
        self.client_ip_source()?;
        self.rate_limits()?;
        Ok(())
    }

    /// The validated `[rate_limit]` tree; the message names every bad key
    /// (`rate_limit.tiers.gold refers to unknown policy "golden"`).
    pub fn rate_limits(&self) -> Result<castellan_limit::RateLimits, ConfigError> {
        self.rate_limit
            .validate()
            .map_err(|e| ConfigError(e.to_string()))
    }

    /// How client addresses are found (`http.trusted_proxies`, `http.client_ip_header`).
    pub fn client_ip_source(
        &self,
    ) -> Result<crate::platform::http::proxies::ClientIpSource, ConfigError> {
        crate::platform::http::proxies::ClientIpSource::new(
            &self.http.trusted_proxies,
            &self.http.client_ip_header,
        )
        .map_err(|e| ConfigError(e.to_string()))
    }

    /// The registration mode in force (see [`RegistrationConfig::mode`]).
    pub fn registration_mode(&self) -> RegistrationMode {
        self.registration.mode.unwrap_or(match self.environment {
            Environment::Production => RegistrationMode::Token,
            Environment::Testing | Environment::Local => RegistrationMode::Open,
        })
    }

    /// Scope patterns a self-registered client may hold: `registration.open_scopes` plus every
    /// `:read` scope of the catalogue.
    pub fn registration_scopes(&self) -> Vec<castellan_core::ScopePattern> {
        self.registration
            .open_scopes
            .iter()
            .map(String::as_str)
            .chain(
                self.scopes
                    .iter()
                    .map(|e| e.name.as_str())
                    .filter(|n| n.ends_with(":read")),
            )
            .filter_map(|s| castellan_core::ScopePattern::parse(s).ok())
            .collect()
    }

    /// `aud` of access tokens issued without a resource indicator.
    pub fn default_audience(&self) -> &str {
        self.token
            .default_audience
            .as_deref()
            .unwrap_or(&self.issuer)
    }

    /// The longest any client's access token lives (seconds): the clients' upper bound, or the
    /// default lifetime when that is longer. A client stored with a longer lifetime (under an
    /// earlier configuration) is cut to it when a token is issued, so what was revoked stays in
    /// the revocation feed as long as any token it covers can live.
    pub fn longest_access_seconds(&self) -> u32 {
        self.clients
            .lifetime_bounds
            .access_max
            .max(self.token.access_token_seconds)
    }

    /// The gateway's own resource: `gateway.resource`, or the default audience.
    pub fn gateway_resource(&self) -> &str {
        if self.gateway.resource.is_empty() {
            self.default_audience()
        } else {
            &self.gateway.resource
        }
    }

    /// Whether Castellan's own APIs (management, userinfo, registration) accept a token issued
    /// for `aud`: the issuer, or the audience of tokens asked for without a resource.
    pub fn castellan_accepts(&self, aud: &str) -> bool {
        aud == self.issuer || aud == self.default_audience()
    }

    /// Whether forward-auth accepts a token issued for `aud`.
    pub fn gateway_accepts(&self, aud: &str) -> bool {
        aud == self.gateway_resource() || self.gateway.audiences.iter().any(|a| a == aud)
    }

    /// The URL of `path` on this server (the issuer followed by `path`).
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{}", self.issuer, path)
    }
}

/// A resource indicator (RFC 8707 §2): an absolute URI without a fragment.
pub fn check_resource_uri(s: &str) -> Result<(), &'static str> {
    match url::Url::parse(s) {
        Ok(u) if u.fragment().is_none() && !u.cannot_be_a_base() => Ok(()),
        Ok(_) => Err("must be an absolute URI without a fragment"),
        Err(_) => Err("must be an absolute URI"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_parses_and_equals_defaults() {
        let text = include_str!("../../../../config/example.toml");
        let parsed = Config::from_toml_str(text).unwrap();
        assert_eq!(parsed, Config::default());
    }

    /// The example file with every commented example of a list of tables (`# [[…]]` and the
    /// `# key = value` lines after it) uncommented.
    fn with_examples_uncommented(text: &str) -> String {
        let mut out = String::new();
        let mut in_example = false;
        for line in text.lines() {
            let body = line.strip_prefix("# ");
            let header = body.is_some_and(|b| b.starts_with("[[") && b.ends_with("]]"));
            let key = body.is_some_and(|b| {
                b.split_once(" = ").is_some_and(|(k, _)| {
                    !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                })
            });
            in_example = header || (in_example && key);
            out.push_str(if in_example {
                body.unwrap_or(line)
            } else {
                line
            });
            out.push('\n');
        }
        out
    }

    #[test]
    fn every_example_of_the_example_config_can_be_uncommented() {
        let text = with_examples_uncommented(include_str!("../../../../config/example.toml"));
        let parsed = Config::from_toml_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(parsed.scopes.len(), 2);
        assert_eq!(parsed.well_known.len(), 1);
        assert_eq!(parsed.gateway.routes.len(), 2);
        assert_eq!(parsed.token_exchange.delegations.len(), 1);
        assert_eq!(parsed.jwt_bearer.issuers.len(), 1);
        // Everything else is still the default.
        let mut rest = parsed.clone();
        let defaults = Config::default();
        rest.scopes = defaults.scopes.clone();
        rest.well_known = defaults.well_known.clone();
        rest.gateway.routes = defaults.gateway.routes.clone();
        rest.token_exchange.delegations = defaults.token_exchange.delegations.clone();
        rest.jwt_bearer.issuers = defaults.jwt_bearer.issuers.clone();
        assert_eq!(rest, defaults);
    }

    #[test]
    fn bad_values_name_the_key() {
        let e = Config::from_toml_str("[token]\naccess_token_seconds = 0\n").unwrap_err();
        assert!(e.to_string().contains("token.access_token_seconds"), "{e}");
        let e = Config::from_toml_str("issuer = \"ftp://x\"\n").unwrap_err();
        assert!(e.to_string().contains("issuer"), "{e}");
        let e = Config::from_toml_str("[registration]\nopen_scopes = [\"manage_api_clients\"]\n")
            .unwrap_err();
        assert!(e.to_string().contains("registration.open_scopes"), "{e}");

        let e = Config::from_toml_str("nonsense = 1\n").unwrap_err();
        assert!(e.to_string().contains("nonsense"), "{e}");
    }

    #[test]
    fn passkeys_are_required_only_where_they_can_be_offered() {
        let e = Config::from_toml_str(
            "issuer = \"http://127.0.0.1:8000\"\n[pages]\nrequire_passkey = true\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("pages.require_passkey"), "{e}");
        let c = Config::from_toml_str(
            "issuer = \"https://auth.example.com\"\n[pages]\nrequire_passkey = true\n",
        )
        .unwrap();
        assert!(c.pages.require_passkey);
    }

    /// No administrative scope can be opened to self-registered clients,
    /// the `manage_*` family included, nor a wildcard or qualified form of one.
    #[test]
    fn open_scopes_refuse_every_administrative_scope() {
        for admin in [
            "manage_api_clients",
            "view_api_keys",
            "register_clients",
            "introspect",
            "manage_project:castellan",
            "manage_orders",
            "manage_orders:*",
            "manage_my_profile",
            "manage_api_keys:castellan",
        ] {
            let e =
                Config::from_toml_str(&format!("[registration]\nopen_scopes = [\"{admin}\"]\n"))
                    .unwrap_err();
            assert!(
                e.to_string().contains("registration.open_scopes"),
                "{admin}: {e}"
            );
            assert!(e.to_string().contains("administrative"), "{admin}: {e}");
        }
        for open in [
            "openid",
            "products:read",
            "market:id:*",
            "view_products",
            "managers:read",
        ] {
            Config::from_toml_str(&format!("[registration]\nopen_scopes = [\"{open}\"]\n"))
                .unwrap_or_else(|e| panic!("{open}: {e}"));
        }
    }

    #[test]
    fn rate_limit_and_proxy_errors_name_the_key() {
        let e = Config::from_toml_str("[rate_limit.tiers]\ngold = \"golden\"\n").unwrap_err();
        assert!(e.to_string().contains("rate_limit.tiers.gold"), "{e}");
        let e = Config::from_toml_str(
            "[rate_limit.policies.default]\nwindows = [{ limit = 0, seconds = 60 }]\n",
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("rate_limit.policies.default.windows[0].limit"),
            "{e}"
        );
        let e = Config::from_toml_str("[rate_limit]\nbackend = \"redis\"\n").unwrap_err();
        assert!(e.to_string().contains("rate_limit.redis_url"), "{e}");
        let e = Config::from_toml_str("[rate_limit]\nbogus = 1\n").unwrap_err();
        assert!(e.to_string().contains("bogus"), "{e}");
        let e = Config::from_toml_str("[http]\ntrusted_proxies = [\"10.0.0.0/8\", \"nope\"]\n")
            .unwrap_err();
        assert!(e.to_string().contains("http.trusted_proxies[1]"), "{e}");
        let e = Config::from_toml_str("[http]\nclient_ip_header = \"a b\"\n").unwrap_err();
        assert!(e.to_string().contains("http.client_ip_header"), "{e}");
        let ok = Config::from_toml_str(
            "[rate_limit]\nbackend = \"redis\"\nredis_url = \"redis://127.0.0.1:6379\"\n",
        )
        .unwrap();
        assert_eq!(ok.rate_limit.backend, castellan_limit::Backend::Redis);
    }
}
