//! A real MCP host connects through Castellan: the official MCP TypeScript SDK
//! (`tests/mcp/client.mjs`) calls a tool on a small MCP server (`tests/mcp/server.mjs`) that
//! asks Castellan's forward-auth about every request, as nginx `auth_request` would. The host
//! is refused, discovers Castellan from the 401 (RFC 9728, RFC 8414), identifies itself with a
//! client ID metadata document served by this test on loopback, is authorized by a person
//! (PKCE, `resource`), and calls the tool with a token for exactly that resource.
//!
//! Needs Node.js and `npm ci` in `tests/mcp` (`.ci/run` does both); asked to run with
//! `CASTELLAN_TEST_MCP=1`, it fails rather than skips when they are missing.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails on an unwrap or expect, with its location"
)]
#![expect(
    clippy::print_stdout,
    reason = "the scripts' other lines and a skipped run are shown in the test's output"
)]

use crate::support::doc_server::{Answer, DocServer};
use crate::support::gateway::route;
use crate::support::pages::{add_person, decide, sign_in, Browser, PASSWORD};
use castellan_server::platform::config::ScopeEntry;
use castellan_testkit::database::free_port;
use castellan_testkit::oauth::claims;
use castellan_testkit::TestApp;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

fn asked_to_run() -> bool {
    let asked = std::env::var("CASTELLAN_TEST_MCP").as_deref() == Ok("1");
    if !asked {
        println!(
            "MCP SDK test not asked to run (set CASTELLAN_TEST_MCP=1 after `npm ci` in tests/mcp)"
        );
    }
    asked
}

fn mcp_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/mcp")
}

/// A Node.js script of `tests/mcp`, killed when dropped, its stdout read line by line.
struct Node {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Node {
    fn start(script: &str, args: &[&str]) -> Node {
        let dir = mcp_dir();
        assert!(
            dir.join("node_modules/@modelcontextprotocol/sdk").is_dir(),
            "run `npm ci` in {} first",
            dir.display()
        );
        let mut child = Command::new("node")
            .arg(script)
            .args(args)
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node must be installed");
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Node { child, lines }
    }

    /// The rest of the first line that starts with `prefix` (other lines are printed).
    async fn line(&mut self, prefix: &str) -> String {
        let wait = async {
            loop {
                let Some(line) = self.lines.next_line().await.unwrap() else {
                    panic!("the script ended before printing {prefix}");
                };
                if let Some(rest) = line.strip_prefix(prefix) {
                    return rest.trim().to_owned();
                }
                println!("node: {line}");
            }
        };
        tokio::time::timeout(Duration::from_secs(60), wait)
            .await
            .unwrap_or_else(|_| panic!("no {prefix} line within 60 s"))
    }

    async fn write_line(&mut self, line: &str) {
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
        stdin.flush().await.unwrap();
    }
}

/// What a host's connection showed: the token answer it saved and the tool's answer, and the
/// consent page the person saw.
struct Connected {
    tokens: Value,
    identity: Value,
    tools: Value,
    consent: String,
}

/// A Castellan whose gateway fronts the MCP server at `mcp_url` (route `/mcp`, scope
/// `mcp:tools`, a scope open to self-registered and metadata-document clients).
async fn castellan_for(mcp_url: &str) -> TestApp {
    let resource = mcp_url.to_owned();
    TestApp::spawn_as_issuer(|c| {
        c.scopes.push(ScopeEntry {
            name: "mcp:tools".into(),
            description: "Use the test tools".into(),
        });
        c.registration.open_scopes.push("mcp:tools".into());
        c.gateway.resource = resource;
        c.gateway.scopes_supported = vec!["mcp:tools".into()];
        let mut mcp = route("*", "/mcp");
        mcp.scope = Some("mcp:tools".into());
        c.gateway.routes = vec![mcp];
    })
    .await
}

/// Runs the MCP server and host; a person signs in and approves; answers what the host saw.
/// `client` is the host's metadata document URL, or `-` to register dynamically.
async fn connect(app: &TestApp, mcp_port: u16, client: &str, redirect: &str) -> Connected {
    let mcp_url = format!("http://127.0.0.1:{mcp_port}/mcp");
    let mut server = Node::start("server.mjs", &[&mcp_port.to_string(), &app.base]);
    server.line("READY").await;
    let mut host = Node::start("client.mjs", &[&mcp_url, client, redirect]);

    // The host was refused, found Castellan and sends its user to the authorization endpoint.
    let authorize = host.line("AUTHORIZE ").await;
    let query: Vec<(String, String)> = url::Url::parse(&authorize)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    assert!(
        authorize.starts_with(&app.url("/oauth/authorize?")),
        "{authorize}"
    );
    assert_eq!(param("resource").as_deref(), Some(mcp_url.as_str()));
    assert_eq!(param("code_challenge_method").as_deref(), Some("S256"));
    if client != "-" {
        assert_eq!(param("client_id").as_deref(), Some(client));
    }

    // A person signs in and approves.
    let b = Browser::new(app);
    let login = b.get(&authorize).await;
    let consent = sign_in(&b, &login, "agent-owner@example.com", PASSWORD).await;
    let back = decide(&b, &consent, "approve", None).await;
    let location = back.location.clone().expect("a redirect to the host");
    assert!(location.starts_with(redirect), "{location}");
    let code = url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("a code");
    host.write_line(&code).await;

    // The host exchanged the code and called the tool.
    let tokens: Value = serde_json::from_str(&host.line("TOKENS ").await).unwrap();
    let result: Value = serde_json::from_str(&host.line("RESULT ").await).unwrap();
    let text = result["result"]["content"][0]["text"].as_str().unwrap();
    Connected {
        tokens,
        identity: serde_json::from_str(text).unwrap(),
        tools: result["tools"].clone(),
        consent: consent.body.clone(),
    }
}

/// The token is for exactly the MCP server, the person and the host; the tool saw them.
fn assert_bound(c: &Connected, mcp_url: &str, user_id: &str) {
    let client_id = c.tokens["client_id"].as_str().unwrap();
    let access = claims(c.tokens["access_token"].as_str().unwrap());
    assert_eq!(access["aud"], mcp_url);
    assert_eq!(access["client_id"], client_id);
    assert_eq!(access["sub"], user_id);
    assert_eq!(c.tools, json!(["whoami"]));
    assert_eq!(c.identity["subject"], user_id);
    assert_eq!(c.identity["client"], client_id);
    assert!(
        c.identity["scopes"].as_str().unwrap().contains("mcp:tools"),
        "{}",
        c.identity
    );
}

#[tokio::test]
async fn an_mcp_host_without_a_metadata_document_registers_and_calls_a_tool() {
    if !asked_to_run() {
        return;
    }
    let mcp_port = free_port();
    let mcp_url = format!("http://127.0.0.1:{mcp_port}/mcp");
    let app = castellan_for(&mcp_url).await;
    let (user_id, _) = add_person(&app, "agent-owner@example.com", &[]).await;
    let redirect = format!("http://127.0.0.1:{}/callback", free_port());
    let connected = connect(&app, mcp_port, "-", &redirect).await;
    assert_bound(&connected, &mcp_url, &user_id);
    app.stop().await;
}

/// The host identifies itself with a client ID metadata document served by the test on
/// loopback (`http://127.0.0.1:…`, accepted in `local`): nothing is registered beforehand, the
/// consent page names the document's host, the token's `client_id` is the document's URL, and
/// the document is fetched once for the authorization and the token request together.
#[tokio::test]
async fn an_mcp_host_with_a_metadata_document_calls_a_tool() {
    if !asked_to_run() {
        return;
    }
    let mcp_port = free_port();
    let mcp_url = format!("http://127.0.0.1:{mcp_port}/mcp");
    let app = castellan_for(&mcp_url).await;
    let (user_id, _) = add_person(&app, "agent-owner@example.com", &[]).await;
    let redirect = format!("http://127.0.0.1:{}/callback", free_port());
    let docs = DocServer::start().await;
    let document_url = docs.url("/oauth/client.json");
    docs.set(
        "/oauth/client.json",
        Answer::json(
            json!({
                "client_id": document_url,
                "client_name": "Castellan MCP test host",
                "redirect_uris": [redirect],
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "none",
                "scope": "mcp:tools",
            })
            .to_string(),
        )
        .with("cache-control", "max-age=600"),
    );
    let connected = connect(&app, mcp_port, &document_url, &redirect).await;
    assert_eq!(connected.tokens["client_id"], document_url.as_str());
    assert_bound(&connected, &mcp_url, &user_id);
    assert!(
        connected.consent.contains("127.0.0.1"),
        "the consent page names the document's host"
    );
    assert_eq!(docs.hits(), 1, "one fetch, then the cached document");
    app.stop().await;
}
