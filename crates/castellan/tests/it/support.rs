//! Helpers shared by the tests of the `castellan` binary: a fresh database and working
//! directory, the binary itself, and plain HTTP/1.1 to a `castellan serve` it started.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap or expect, with its location"
)]

use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

/// The `castellan` binary, without the test harness's own variables (they are not
/// configuration).
pub fn castellan() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_castellan"));
    c.env_remove("CASTELLAN_TEST_BACKEND")
        .env_remove("CASTELLAN_TEST_POSTGRES_URL")
        .env_remove("CASTELLAN_TEST_REDIS_URL")
        .env_remove("CASTELLAN_CONFIG");
    c
}

/// A fresh database and a temporary working directory for one test (and, when given, a
/// configuration file in it).
pub struct Env {
    pub dir: tempfile::TempDir,
    pub database: String,
    pub config: Option<PathBuf>,
    _db_dir: Option<tempfile::TempDir>,
}

pub async fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    // A fresh database of the backend the tests run on (CASTELLAN_TEST_BACKEND), migrated as
    // `castellan migrate` would: commands other than serve, init and migrate create none.
    let (database, db_dir) = castellan_testkit::fresh_database().await;
    castellan_store::migrate(&database).await.unwrap();
    Env {
        dir,
        database,
        config: None,
        _db_dir: db_dir,
    }
}

/// [`env`] with `castellan.toml` holding `toml`, passed as `--config` to every command.
pub async fn env_with_config(toml: &str) -> Env {
    let mut env = env().await;
    let path = env.dir.path().join("castellan.toml");
    std::fs::write(&path, toml).unwrap();
    env.config = Some(path);
    env
}

/// A temporary working directory for commands on `database` (not created here), with
/// `castellan.toml` holding `toml`.
pub fn env_on(database: String, toml: &str) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("castellan.toml");
    std::fs::write(&path, toml).unwrap();
    Env {
        dir,
        database,
        config: Some(path),
        _db_dir: None,
    }
}

/// `castellan --database … [--config …]`, run in the test's directory.
pub fn command(env: &Env) -> Command {
    let mut c = castellan();
    c.current_dir(env.dir.path())
        .arg("--database")
        .arg(&env.database);
    if let Some(config) = &env.config {
        c.arg("--config").arg(config);
    }
    c
}

pub fn run(env: &Env, args: &[&str]) -> Output {
    command(env).args(args).output().unwrap()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// One HTTP/1.1 exchange over a fresh connection; answers status and body.
pub fn http(port: u16, method: &str, path: &str, content_type: &str, body: &str) -> (u16, String) {
    let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    conn.write_all(req.as_bytes()).unwrap();
    read_answer(&mut conn)
}

pub fn read_answer(conn: &mut TcpStream) -> (u16, String) {
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status: u16 = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {text}"));
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (status, body)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
    out
}

/// `POST /oauth/introspect` of `token`, the client's credentials in the body; the answer must
/// be 200.
pub fn introspect(port: u16, id: &str, secret: &str, token: &str) -> Value {
    let (s, body) = http(
        port,
        "POST",
        "/oauth/introspect",
        "application/x-www-form-urlencoded",
        &format!("client_id={id}&client_secret={secret}&token={token}"),
    );
    assert_eq!(s, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}
