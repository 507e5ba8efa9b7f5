//! The command line (clap). Global flags override the TOML file and `CASTELLAN_*` variables.

use castellan_core::Secret;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use serde::Serialize;
use std::path::PathBuf;

/// The global options, listed once in `castellan --help` (clap would repeat them under every
/// command's own options).
const GLOBAL_OPTIONS: &str = "\
Global options (every command takes them, before or after its name):
      --config <PATH>           TOML configuration file (also CASTELLAN_CONFIG)
      --database <URL>          Storage: sqlite://castellan.db (default), a file path, or
                                postgres://… (also CASTELLAN_DATABASE)
      --listen <ADDR>           Address to listen on, e.g. 127.0.0.1:8000 (also CASTELLAN_LISTEN)
      --issuer <URL>            Issuer URL, e.g. https://auth.example.com (also CASTELLAN_ISSUER)
      --environment <ENV>       production, testing or local (also CASTELLAN_ENVIRONMENT)
      --rate-limit <REDIS_URL>  Share rate-limit counters between replicas through Redis,
                                e.g. redis://127.0.0.1:6379";

/// What each command's help says of the global options.
const GLOBAL_OPTIONS_NOTE: &str = "Global options (--config, --database, --listen, --issuer, \
--environment, --rate-limit): see `castellan --help`.";

#[derive(Debug, Parser)]
#[command(
    name = "castellan",
    version,
    about = "OAuth 2.0 / OpenID Connect authorization server and API-credential platform",
    after_help = GLOBAL_OPTIONS
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Settings every command accepts; each also comes from the config file and the environment.
/// `Debug` hides passwords in the database and Redis URLs.
#[derive(Args, Serialize, Default)]
pub struct GlobalArgs {
    /// TOML configuration file (also CASTELLAN_CONFIG).
    #[arg(long, global = true, hide = true, env = "CASTELLAN_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Storage URL: sqlite://castellan.db (default), a file path, or postgres://… (also CASTELLAN_DATABASE).
    #[arg(long, global = true, hide = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// Address to listen on, e.g. 127.0.0.1:8000 (also CASTELLAN_LISTEN).
    #[arg(long, global = true, hide = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// Issuer URL, e.g. https://auth.example.com (also CASTELLAN_ISSUER).
    #[arg(long, global = true, hide = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// production, testing or local (also CASTELLAN_ENVIRONMENT).
    #[arg(long, global = true, hide = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Share rate-limit counters between replicas through Redis, e.g. redis://127.0.0.1:6379
    /// (sets rate_limit.backend = "redis" and rate_limit.redis_url).
    #[arg(
        long = "rate-limit",
        global = true,
        hide = true,
        value_name = "REDIS_URL"
    )]
    #[serde(
        rename = "rate_limit",
        skip_serializing_if = "Option::is_none",
        serialize_with = "redis_rate_limit"
    )]
    pub rate_limit: Option<String>,
}

impl std::fmt::Debug for GlobalArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |u: &Option<String>| u.as_deref().map(castellan_store::redacted_url);
        f.debug_struct("GlobalArgs")
            .field("config", &self.config)
            .field("database", &hidden(&self.database))
            .field("listen", &self.listen)
            .field("issuer", &self.issuer)
            .field("environment", &self.environment)
            .field("rate_limit", &hidden(&self.rate_limit))
            .finish()
    }
}

/// `--rate-limit <url>` as the `[rate_limit]` keys it stands for.
#[expect(
    clippy::ref_option,
    reason = "serde's `serialize_with` passes the field by reference"
)]
fn redis_rate_limit<S: serde::Serializer>(url: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct RedisBackend<'a> {
        backend: &'static str,
        redis_url: &'a str,
    }
    match url {
        Some(url) => RedisBackend {
            backend: "redis",
            redis_url: url,
        }
        .serialize(s),
        None => s.serialize_none(),
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (creates and migrates the database, and the bootstrap admin client on
    /// first start).
    Serve,
    /// Create and migrate the database and the bootstrap admin client, without serving.
    Init {
        /// Print {"client_id", "client_secret"} as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Apply pending database migrations.
    Migrate,
    /// Manage clients.
    #[command(subcommand)]
    Clients(ClientsCommand),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage users (people who sign in).
    #[command(subcommand)]
    Users(crate::people::UsersCommand),
    /// Manage organizations and their members.
    #[command(subcommand)]
    Orgs(crate::people::OrgsCommand),
    /// Manage API keys (create, list, show, disable, enable, revoke, rotate).
    #[command(subcommand)]
    ApiKeys(crate::api_keys::ApiKeysCommand),
    /// Read the audit log of security events.
    #[command(subcommand)]
    Audit(crate::audit::AuditCommand),
    /// Copy a SQLite database, consistently, while Castellan runs (PostgreSQL: use pg_dump).
    Backup {
        /// The file to write (it must not exist); restore by putting it in place of the
        /// database with every server stopped.
        #[arg(long)]
        to: PathBuf,
    },
    /// Explain offline why an API key or token would be refused (exits non-zero if so).
    Doctor {
        /// The API key or access token (never printed back).
        credential: Secret,
        /// A scope the credential must carry.
        #[arg(long)]
        need: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// Create a client; its secret is printed once.
    Create(Box<CreateClient>),
    /// Give a confidential client a new secret, printed once; the current one is still
    /// accepted for the overlap (clients.secret_overlap_seconds unless --overlap-seconds).
    RotateSecret(RotateSecret),
    #[command(flatten)]
    Read(crate::clients::ReadClients),
}

#[derive(Debug, Args)]
pub struct RotateSecret {
    /// The client's id.
    pub id: String,
    /// How long the current secret is still accepted, in seconds (0 to 2592000; 0 ends it at
    /// once, as after a leak).
    #[arg(long)]
    pub overlap_seconds: Option<u32>,
    /// Print the client as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CreateClient {
    /// Name of the client.
    #[arg(long)]
    pub name: String,
    /// Space-separated allowed scopes (patterns may end in `:*`).
    #[arg(long, default_value = "")]
    pub scope: String,
    /// Give the client the administrative scopes (manage and view clients and API keys,
    /// register clients, introspect, manage organizations, read the audit log).
    #[arg(long)]
    pub admin: bool,
    /// confidential (default) or public.
    #[arg(long)]
    pub kind: Option<String>,
    /// Grant types, comma-separated (default client_credentials).
    #[arg(long, value_delimiter = ',')]
    pub grant_types: Option<Vec<String>>,
    /// Redirect URI (repeatable).
    #[arg(long = "redirect-uri")]
    pub redirect_uris: Vec<String>,
    /// Where a sign-out at /oauth/logout may send the person afterwards (repeatable).
    #[arg(long = "post-logout-redirect-uri")]
    pub post_logout_redirect_uris: Vec<String>,
    /// How a confidential client authenticates: client_secret_basic (HTTP Basic only),
    /// client_secret_post (the body only), client_secret_basic_or_post (either; default), or
    /// private_key_jwt (an assertion signed with its own key; no secret; needs --jwks-file or
    /// --jwks-uri).
    #[arg(long)]
    pub token_endpoint_auth_method: Option<String>,
    /// A JSON file holding the client's public keys as a JWK Set (`{"keys": [...]}`), for
    /// private_key_jwt.
    #[arg(long, value_name = "PATH", conflicts_with = "jwks_uri")]
    pub jwks_file: Option<PathBuf>,
    /// The https URL of the client's JWK Set, for private_key_jwt.
    #[arg(long, value_name = "URL")]
    pub jwks_uri: Option<String>,
    /// jwt (default) or opaque access tokens.
    #[arg(long)]
    pub token_format: Option<String>,
    /// Scopes given when a request names none.
    #[arg(long)]
    pub default_scope: Option<String>,
    /// Let a public client use client_credentials with a market scope (sales channel).
    #[arg(long)]
    pub public_client_credentials: bool,
    /// The client must push its authorization requests (PAR, RFC 9126) to /oauth/par.
    #[arg(long)]
    pub require_pushed_authorization_requests: bool,
    /// Its access tokens must be bound to a DPoP key (RFC 9449): token requests without a DPoP
    /// proof are refused.
    #[arg(long)]
    pub dpop_bound_access_tokens: bool,
    /// Rate-limit tier (`rate_limit.tiers`) of its token requests and gateway calls; default
    /// `default`.
    #[arg(long)]
    pub tier: Option<String>,
    /// A brand and its venues the client may ask tenant tokens for at POST /auth, as
    /// `BRAND:VENUE[,VENUE…]` (repeatable; the brand is everything before the last `:`).
    #[arg(long = "tenant", value_name = "BRAND:VENUES")]
    pub tenants: Vec<String>,
    #[arg(long)]
    pub access_token_validity_seconds: Option<u32>,
    #[arg(long)]
    pub refresh_token_validity_seconds: Option<u32>,
    #[arg(long)]
    pub delete_days_after_creation: Option<u32>,
    /// Print the client as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Introduce a new signing key; the previous one stays in the JWKS until every token it
    /// signed has expired.
    Rotate {
        /// ES256, EdDSA or RS256 (default: the configured access-token algorithm).
        #[arg(long)]
        alg: Option<String>,
    },
}

/// Parses the command line; a bad one, or `--help`, exits with clap's answer.
pub fn parse() -> Cli {
    let matches = with_global_note(Cli::command()).get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// `cmd` with every command below it pointing at the global options.
fn with_global_note(cmd: clap::Command) -> clap::Command {
    cmd.mut_subcommands(|s| with_global_note(s.after_help(GLOBAL_OPTIONS_NOTE)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn rate_limit_flag_stands_for_the_redis_backend() {
        let cli = Cli::try_parse_from([
            "castellan",
            "serve",
            "--rate-limit",
            "redis://127.0.0.1:6379",
        ])
        .unwrap();
        let v = serde_json::to_value(&cli.global).unwrap();
        assert_eq!(
            v["rate_limit"],
            serde_json::json!({"backend": "redis", "redis_url": "redis://127.0.0.1:6379"})
        );
        let cli = Cli::try_parse_from(["castellan", "serve"]).unwrap();
        let v = serde_json::to_value(&cli.global).unwrap();
        assert!(v.get("rate_limit").is_none(), "{v}");
    }

    #[test]
    fn debug_shows_no_password_credential_or_url_password() {
        let cli = Cli::try_parse_from([
            "castellan",
            "--database",
            "postgres://app:SECRETdb@db.example/castellan",
            "--rate-limit",
            "redis://:SECRETredis@cache.example:6379",
            "users",
            "create",
            "--email",
            "a@example.com",
            "--name",
            "A",
            "--password",
            "SECRETpassword",
        ])
        .unwrap();
        let shown = format!("{cli:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.contains("db.example"), "{shown}");
        let cli = Cli::try_parse_from(["castellan", "doctor", "ck_test_SECRETkey_1234"]).unwrap();
        let shown = format!("{cli:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
    }
}
