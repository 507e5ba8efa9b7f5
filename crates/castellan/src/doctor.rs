//! `castellan doctor <key-or-token> [--need scope]`: explains, offline and in
//! plain words, why a credential would be refused — malformed, bad checksum, wrong prefix or
//! environment, expired, unknown signing key, missing scope. The database is read when it
//! is reachable (key status, stored signing keys), never required. Exits non-zero when the
//! credential would be refused. Never prints the credential.
#![expect(clippy::print_stdout, reason = "a command answers on standard output")]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use castellan_core::api_key::{self, KeyFormatError};
use castellan_server::platform::config::Config;
use castellan_store::Store;
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// A report: lines to print and whether the credential would be refused.
#[derive(Debug, Default)]
pub struct Report {
    pub lines: Vec<String>,
    pub refused: bool,
}

impl Report {
    fn ok(&mut self, s: impl Into<String>) {
        self.lines.push(format!("ok:      {}", s.into()));
    }
    fn info(&mut self, s: impl Into<String>) {
        self.lines.push(format!("         {}", s.into()));
    }
    fn bad(&mut self, s: impl Into<String>) {
        self.refused = true;
        self.lines.push(format!("REFUSED: {}", s.into()));
    }
}

/// The database, if it answers within two seconds (a missing SQLite file is not created).
async fn reachable_store(config: &Config) -> Option<Arc<dyn Store>> {
    let db: &str = &config.database;
    if !db.starts_with("postgres") {
        let path = db.strip_prefix("sqlite://").unwrap_or(db);
        if !std::path::Path::new(path).exists() {
            return None;
        }
    }
    // Offline: the database is read as it is, never migrated or created.
    let options = castellan_store::ConnectOptions {
        migrate: false,
        create: false,
        ..castellan_store::ConnectOptions::default()
    };
    let store = tokio::time::timeout(
        Duration::from_secs(2),
        castellan_store::connect_with(db, options),
    )
    .await
    .ok()?
    .ok()?;
    Some(store)
}

fn human(ts: i64) -> String {
    DateTime::<Utc>::from_timestamp(ts, 0)
        .map_or_else(|| format!("{ts} (not a valid time)"), |t| t.to_rfc3339())
}

/// Examines `credential` against `config` at `now`.
pub async fn examine(
    config: &Config,
    credential: &str,
    need: Option<&str>,
    now: DateTime<Utc>,
) -> Report {
    let mut r = Report::default();
    let credential = credential.trim();
    if credential.split('.').count() == 3 {
        examine_jwt(config, credential, need, now, &mut r).await;
    } else {
        examine_key(config, credential, need, now, &mut r).await;
    }
    if r.refused {
        r.lines
            .push("verdict: this credential would be REFUSED".into());
    } else {
        r.lines
            .push("verdict: this credential would be accepted".into());
    }
    r
}

async fn examine_key(
    config: &Config,
    key: &str,
    need: Option<&str>,
    now: DateTime<Utc>,
    r: &mut Report,
) {
    r.info("looks like an API key (<prefix>_<body>_<crc32>)");
    let parsed = match api_key::parse_any(key) {
        Ok(p) => p,
        Err(KeyFormatError::BadChecksum) => {
            r.ok("format: three parts, two underscores");
            return r
                .bad("checksum: the CRC-32 does not match — the key was mistyped or truncated");
        }
        Err(e) => return r.bad(format!("format: {e}")),
    };
    r.ok("format: three parts, two underscores");
    r.ok("checksum: matches");
    if parsed.prefix == config.api_keys.prefix {
        r.ok(format!("prefix: {}", parsed.prefix));
    } else {
        r.bad(format!(
            "prefix: `{}` but this server's keys start with `{}`",
            parsed.prefix, config.api_keys.prefix
        ));
    }
    if parsed.environment == config.environment {
        r.ok(format!("environment: {}", parsed.environment));
    } else {
        r.bad(format!(
            "environment: the key is for {} but this server runs in {}",
            parsed.environment, config.environment
        ));
    }
    r.info(format!("visible prefix: {}", parsed.visible_prefix()));
    let Some(store) = reachable_store(config).await else {
        r.info("offline: cannot check the key's status (database not reachable)");
        return;
    };
    match store
        .find_api_key_by_hash(&castellan_crypto::hash_secret(key).0)
        .await
    {
        Ok(None) => r.bad("status: unknown — no such key in the database"),
        Ok(Some(k)) => {
            r.info(format!("key id: {} ({})", k.id, k.name));
            match k.status.as_str() {
                "active" => r.ok("status: active"),
                s => r.bad(format!("status: {s}")),
            }
            if let Some(exp) = k.expires_at {
                if exp <= now {
                    r.bad(format!("expiry: expired at {}", exp.to_rfc3339()));
                } else {
                    r.ok(format!("expiry: {}", exp.to_rfc3339()));
                }
            }
            r.info(format!("scopes: {}", k.scope));
            check_need(need, &k.scope, r);
        }
        Err(e) => r.info(format!("database error, status not checked: {e}")),
    }
}

fn check_need(need: Option<&str>, scope: &str, r: &mut Report) {
    if let Some(n) = need {
        if scope.split_ascii_whitespace().any(|s| s == n) {
            r.ok(format!("scope {n}: carried"));
        } else {
            r.bad(format!("scope {n}: missing (403 insufficient_scope)"));
        }
    }
}

fn decode(part: &str) -> Option<Value> {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
}

async fn examine_jwt(
    config: &Config,
    token: &str,
    need: Option<&str>,
    now: DateTime<Utc>,
    r: &mut Report,
) {
    r.info("looks like a JWT");
    let mut parts = token.split('.');
    let (Some(h), Some(p)) = (parts.next().and_then(decode), parts.next().and_then(decode)) else {
        return r.bad("format: the header or claims are not base64url JSON");
    };
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    r.info(format!(
        "header: alg={} kid={} typ={}",
        s(&h, "alg").unwrap_or_else(|| "-".into()),
        s(&h, "kid").unwrap_or_else(|| "-".into()),
        s(&h, "typ").unwrap_or_else(|| "-".into())
    ));
    if s(&h, "alg").is_none_or(|a| a.eq_ignore_ascii_case("none")) {
        r.bad("alg: `none` or missing is never accepted");
    }
    for k in ["iss", "sub", "client_id", "scope", "env", "org"] {
        if let Some(v) = s(&p, k) {
            r.info(format!("{k}: {v}"));
        }
    }
    match s(&p, "iss") {
        Some(iss) if iss == config.issuer => r.ok("issuer: this server"),
        Some(iss) => r.bad(format!(
            "issuer: {iss} is not this server ({})",
            config.issuer
        )),
        None => r.bad("issuer: missing"),
    }
    match s(&p, "env") {
        Some(env) if env == config.environment.as_str() => r.ok(format!("environment: {env}")),
        Some(env) => r.bad(format!(
            "environment: the token is for {env} but this server runs in {}",
            config.environment
        )),
        None => r.bad("environment: missing env claim"),
    }
    match p.get("exp").and_then(Value::as_i64) {
        Some(exp) if exp <= now.timestamp() => r.bad(format!("expiry: expired at {}", human(exp))),
        Some(exp) => r.ok(format!("expiry: {}", human(exp))),
        None => r.bad("expiry: missing exp claim"),
    }
    check_need(need, &s(&p, "scope").unwrap_or_default(), r);
    let Some(store) = reachable_store(config).await else {
        r.info("offline: cannot check signature (database not reachable)");
        return;
    };
    match (s(&h, "kid"), store.list_signing_keys(now).await) {
        (Some(kid), Ok(keys)) if keys.iter().any(|k| k.kid == kid) => {
            r.ok(format!("signing key {kid}: stored"));
        }
        (Some(kid), Ok(_)) => r.bad(format!("signing key {kid}: not among the stored keys")),
        (None, _) => r.bad("signing key: no kid in the header"),
        (_, Err(e)) => r.info(format!("database error, signing keys not checked: {e}")),
    }
}

/// Runs the command: prints the report, fails when refused.
pub async fn run(config: &Config, credential: &str, need: Option<&str>) -> anyhow::Result<()> {
    let report = examine(config, credential, need, Utc::now()).await;
    for l in &report.lines {
        println!("{l}");
    }
    if report.refused {
        Err(anyhow::anyhow!("the credential would be refused"))
    } else {
        Ok(())
    }
}
