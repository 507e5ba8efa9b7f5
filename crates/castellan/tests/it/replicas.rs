//! The replica recipe of `deploy/`, run: three `castellan serve` on one PostgreSQL and one
//! Redis, configured by `deploy/castellan.toml`, behind a real nginx configured by
//! `deploy/nginx.conf` (with the test's ports, without TLS). They behave as one server: a
//! client created through one is used through the others, a revocation is seen by all within
//! `token.check_cache_seconds`, a tier's limit holds across them exactly, a signing-key
//! rotation is used by all within `keys.reload_seconds`, a person signs in on one and consents
//! on another, and the APIs behind nginx are guarded by whichever replica nginx asks.
//!
//! Needs nginx (`CASTELLAN_TEST_NGINX=1` makes a missing one a failure), PostgreSQL
//! (`CASTELLAN_TEST_POSTGRES_URL`) and Redis (`CASTELLAN_TEST_REDIS_URL`); without the
//! variables it says so and does not run.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap or expect, with its location"
)]

use castellan_testkit::nginx::Nginx;
use castellan_testkit::pages::{page, Page};
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::server::{serve, Server};
use crate::support::{env_on, run, stderr, stdout, Env};

/// `keys.reload_seconds` of the test (the recipe's 30 s, shortened to keep the test short).
const RELOAD_SECONDS: u64 = 2;
/// `token.check_cache_seconds` as the recipe sets it.
const CHECK_CACHE_SECONDS: u64 = 5;
/// The limit of the tier the test gives a client.
const TIER_LIMIT: usize = 6;
const EMAIL: &str = "robin@example.com";
const PASSWORD: &str = "a long enough password";
const REDIRECT: &str = "https://app.example/cb";

fn deploy(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy")
        .join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Replaces `from` (which must occur exactly once) with `to`.
fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(text.matches(from).count(), 1, "`{from}` once in the recipe");
    text.replace(from, to)
}

#[expect(clippy::print_stderr, reason = "says why the test did not run")]
fn services() -> Option<(String, String)> {
    let pg = std::env::var("CASTELLAN_TEST_POSTGRES_URL").ok();
    let redis = std::env::var("CASTELLAN_TEST_REDIS_URL").ok();
    match (pg, redis) {
        (Some(pg), Some(redis)) => Some((pg, redis)),
        _ => {
            eprintln!(
                "CASTELLAN_TEST_POSTGRES_URL and CASTELLAN_TEST_REDIS_URL not both set; \
                 the replica recipe is not run"
            );
            None
        }
    }
}

/// `deploy/castellan.toml` with the test's issuer (nginx, plain http, so environment
/// `testing`), Redis, a shorter key reload, a small tier and a gateway route.
fn castellan_toml(issuer: &str, redis: &str, prefix: &str) -> String {
    let toml = deploy("castellan.toml");
    let toml = replace_once(
        &toml,
        "issuer = \"https://auth.example.com\"",
        &format!("issuer = \"{issuer}\""),
    );
    let toml = replace_once(
        &toml,
        "environment = \"production\"",
        "environment = \"testing\"",
    );
    let toml = replace_once(
        &toml,
        "backend = \"redis\"",
        &format!("backend = \"redis\"\nredis_url = \"{redis}\"\nredis_key_prefix = \"{prefix}\""),
    );
    // A Redis check given time enough on a loaded machine: a timed-out check would admit an
    // uncounted request (redis_failure = "open") and blur the exact count across replicas.
    let toml = replace_once(&toml, "redis_timeout_ms = 50", "redis_timeout_ms = 2000");
    let toml = replace_once(
        &toml,
        "reload_seconds = 30",
        &format!("reload_seconds = {RELOAD_SECONDS}"),
    );
    format!(
        "{toml}\n\
         [rate_limit.policies.small]\n\
         windows = [{{ limit = {TIER_LIMIT}, seconds = 31536000 }}]\n\
         [rate_limit.tiers]\n\
         small = \"small\"\n\
         [[gateway.routes]]\n\
         method = \"GET\"\n\
         path = \"/products/*\"\n\
         scope = \"products:read\"\n\
         [[gateway.routes]]\n\
         method = \"GET\"\n\
         path = \"/search\"\n\
         public = true\n"
    )
}

/// `deploy/nginx.conf` with the replicas' and the API's addresses and the test's ports.
fn nginx_conf(replicas: &[u16], api: &str, auth_port: u16, api_port: u16) -> String {
    let mut conf = deploy("nginx.conf");
    for (n, port) in replicas.iter().enumerate() {
        conf = replace_once(
            &conf,
            &format!("server 127.0.0.1:800{} max_fails", n + 1),
            &format!("server 127.0.0.1:{port} max_fails"),
        );
    }
    conf = replace_once(&conf, "server 127.0.0.1:9000;", &format!("server {api};"));
    conf = replace_once(
        &conf,
        "ssl_certificate     /etc/ssl/private/example.com.fullchain.pem;",
        "",
    );
    conf = replace_once(
        &conf,
        "ssl_certificate_key /etc/ssl/private/example.com.key;",
        "",
    );
    // The test's names are 127.0.0.1 on two ports; the catch-all shares Castellan's port.
    conf = replace_once(
        &conf,
        "listen 443 ssl default_server;",
        &format!("listen 127.0.0.1:{auth_port} default_server;"),
    );
    conf = replace_once(
        &conf,
        "listen 443 ssl;\n    server_name auth.example.com;",
        &format!("listen 127.0.0.1:{auth_port};\n    server_name 127.0.0.1;"),
    );
    replace_once(
        &conf,
        "listen 443 ssl;\n    server_name api.example.com;",
        &format!("listen 127.0.0.1:{api_port};\n    server_name 127.0.0.1;"),
    )
}

/// The API behind nginx: answers 200 with the request head it received.
async fn spawn_api() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    head.len()
                );
                let _ = conn.write_all(answer.as_bytes()).await;
                let _ = conn.write_all(&head).await;
            });
        }
    });
    addr
}

/// Three replicas, nginx in front, the bootstrap credentials.
struct Deployment {
    replicas: Vec<Server>,
    nginx: Nginx,
    api: String,
    admin: (String, String),
    http: reqwest::Client,
    env: Env,
}

impl Deployment {
    fn replica(&self, n: usize) -> String {
        format!("http://127.0.0.1:{}", self.replicas[n].port)
    }

    async fn token(&self, base: &str, id: &str, secret: &str) -> reqwest::Response {
        self.http
            .post(format!("{base}/oauth/token"))
            .basic_auth(id, Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap()
    }

    async fn access_token(&self, base: &str, id: &str, secret: &str) -> String {
        let res = self.token(base, id, secret).await;
        assert_eq!(res.status(), 200, "token at {base}");
        let body: Value = res.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    async fn admin_token(&self, base: &str) -> String {
        let (id, secret) = &self.admin;
        self.access_token(base, id, secret).await
    }

    /// A client created through `base`; answers its id and secret.
    async fn create_client(&self, base: &str, draft: Value) -> (String, String) {
        let res = self
            .http
            .post(format!("{base}/api-clients"))
            .bearer_auth(self.admin_token(base).await)
            .json(&draft)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let c: Value = res.json().await.unwrap();
        (
            c["id"].as_str().unwrap().to_owned(),
            c["secret"].as_str().unwrap().to_owned(),
        )
    }

    /// `castellan_rate_limit_backend_failures_total` of replica `n`, scraped from it directly.
    async fn redis_failures(&self, n: usize) -> u64 {
        let text = self
            .http
            .get(format!("{}/metrics", self.replica(n)))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix("castellan_rate_limit_backend_failures_total "))
            .unwrap_or_else(|| panic!("no failure counter in {text}"))
            .trim()
            .parse()
            .unwrap()
    }

    async fn active(&self, base: &str, token: &str) -> bool {
        let (id, secret) = &self.admin;
        let res = self
            .http
            .post(format!("{base}/oauth/introspect"))
            .basic_auth(id, Some(secret))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        body["active"].as_bool().unwrap()
    }
}

async fn start() -> Option<Deployment> {
    let binary = castellan_testkit::nginx::binary()?;
    let (pg, redis) = services()?;
    let database = castellan_store::testing::fresh_postgres_url(&pg).await;
    let (auth_port, api_port) = (
        castellan_testkit::free_port(),
        castellan_testkit::free_port(),
    );
    let issuer = format!("http://127.0.0.1:{auth_port}");
    let prefix = format!(
        "castellan-test:replicas:{}",
        castellan_testkit::people::new_id("r")
    );
    let env = env_on(database, &castellan_toml(&issuer, &redis, &prefix));

    // As the unit file says: `init` once, then the replicas.
    let init = run(&env, &["init", "--json"]);
    assert!(init.status.success(), "{}", stderr(&init));
    let creds: Value = serde_json::from_str(&stdout(&init)).unwrap();
    let admin = (
        creds["client_id"].as_str().unwrap().to_owned(),
        creds["client_secret"].as_str().unwrap().to_owned(),
    );
    let replicas: Vec<Server> = (0..3).map(|_| serve(&env)).collect();
    let ports: Vec<u16> = replicas.iter().map(|r| r.port).collect();
    let api = spawn_api().await;
    let nginx = Nginx::start(
        &binary,
        &nginx_conf(&ports, &api, auth_port, api_port),
        &[auth_port, api_port],
    );
    Some(Deployment {
        replicas,
        nginx,
        api: format!("http://127.0.0.1:{api_port}"),
        admin,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        env,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_behind_nginx_behave_as_one_server() {
    let Some(d) = start().await else { return };
    let front = d.nginx.base.clone();

    // A client created through replica 1 is used through the others and through nginx.
    let (id, secret) = d
        .create_client(
            &d.replica(0),
            json!({"name": "partner", "scope": "products:read"}),
        )
        .await;
    for base in [d.replica(1), d.replica(2), front.clone()] {
        d.access_token(&base, &id, &secret).await;
    }

    // A revocation made through replica 1 is seen by every replica within
    // token.check_cache_seconds (each has the token's verdict cached beforehand).
    let token = d.access_token(&front, &id, &secret).await;
    for n in 0..3 {
        assert!(d.active(&d.replica(n), &token).await);
    }
    let res = d
        .http
        .post(format!("{}/oauth/revoke", d.replica(0)))
        .basic_auth(&id, Some(&secret))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let revoked_at = Instant::now();
    assert!(
        !d.active(&d.replica(0), &token).await,
        "at once where revoked"
    );
    for n in 1..3 {
        while d.active(&d.replica(n), &token).await {
            assert!(
                revoked_at.elapsed() <= Duration::from_secs(CHECK_CACHE_SECONDS + 1),
                "replica {n} still accepts the revoked token"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    // A tier's limit holds across the replicas: exactly the limit is admitted, wherever asked.
    let (small, small_secret) = d
        .create_client(
            &front,
            json!({"name": "small", "scope": "products:read", "tier": "small"}),
        )
        .await;
    let mut admitted = 0;
    for n in 0..2 * TIER_LIMIT {
        let res = d.token(&d.replica(n % 3), &small, &small_secret).await;
        match res.status().as_u16() {
            200 => admitted += 1,
            429 => assert!(res.headers().contains_key("retry-after")),
            s => panic!("answered {s}"),
        }
    }
    assert_eq!(admitted, TIER_LIMIT);
    for n in 0..3 {
        assert_eq!(
            d.redis_failures(n).await,
            0,
            "replica {n} counted in Redis every time"
        );
    }

    // What is not for the public is not served under Castellan's name, nor any other name.
    for path in [
        "/metrics",
        "/forward-auth",
        "/forward-auth/envoy/products/1",
    ] {
        let res = d.http.get(format!("{front}{path}")).send().await.unwrap();
        assert_eq!(res.status(), 404, "{path} through nginx");
    }
    let other_name = d
        .http
        .get(format!("{front}/.well-known/openid-configuration"))
        .header("host", "castellan.attacker.example")
        .send()
        .await;
    assert!(
        other_name.is_err(),
        "answered for another name: {other_name:?}"
    );

    // The APIs behind nginx: a token passes with its identity, none is refused with
    // Castellan's own answer.
    let token = d.access_token(&front, &id, &secret).await;
    // A caller's own identity headers never reach the API, nor do they change the check.
    let res = d
        .http
        .get(format!("{}/products/1", d.api))
        .bearer_auth(&token)
        .header("x-castellan-subject", "spoofed-subject")
        .header("x-castellan-role", "OWNER")
        .header("x-castellan-organization", "spoofed-org")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let seen = res.text().await.unwrap().to_ascii_lowercase();
    assert!(
        !seen.contains("spoofed") && !seen.contains("owner"),
        "{seen}"
    );
    for header in ["x-castellan-subject", "x-castellan-client-id"] {
        assert!(
            seen.contains(&format!("{header}: {}", id.to_ascii_lowercase())),
            "{seen}"
        );
    }
    // Nor does a caller choose the request Castellan checks: a token without `products:read`
    // naming a public path in the forwarded headers is still checked for /products/1.
    let (weak, weak_secret) = d
        .create_client(&front, json!({"name": "weak", "scope": "orders:read"}))
        .await;
    let weak_token = d.access_token(&front, &weak, &weak_secret).await;
    let res = d
        .http
        .get(format!("{}/products/1", d.api))
        .bearer_auth(&weak_token)
        .header("x-forwarded-uri", "/search")
        .header("x-forwarded-method", "GET")
        .header("x-original-uri", "/search")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let res = d
        .http
        .get(format!("{}/products/1", d.api))
        .header("x-castellan-subject", "spoofed")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_token", "{body}");

    sign_in_on_one_consent_on_another(&d).await;
    key_rotation_is_used_by_all(&d).await;

    for r in d.replicas {
        let (clean, _, err) = r.stop();
        assert!(clean, "{err}");
    }
}

/// A person opens the authorization request on replica 1, signs in through nginx, sees the
/// consent page on replica 2, approves on replica 3, and the code is exchanged on replica 1.
async fn sign_in_on_one_consent_on_another(d: &Deployment) {
    let out = run(
        &d.env,
        &[
            "users",
            "create",
            "--email",
            EMAIL,
            "--name",
            "Robin",
            "--password",
            PASSWORD,
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let person: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let (client, client_secret) = d
        .create_client(
            &d.replica(0),
            json!({"name": "web app", "scope": "openid products:read",
                   "grantTypes": ["authorization_code", "refresh_token"],
                   "redirectUris": [REDIRECT]}),
        )
        .await;
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // The browser talks to nginx; the test picks the replica nginx would have passed each
    // request to, and sends it there as nginx does (the browser's Host, port included).
    let issuer = d.nginx.base.clone();
    let host = issuer.trim_start_matches("http://").to_owned();
    let get = |base: String, path: String| {
        let (browser, host) = (browser.clone(), host.clone());
        async move {
            page(
                browser
                    .get(format!("{base}{path}"))
                    .header("host", host)
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    let post = |base: String, path: &'static str, form: Vec<(&'static str, String)>| {
        let (browser, issuer, host) = (browser.clone(), issuer.clone(), host.clone());
        async move {
            page(
                browser
                    .post(format!("{base}{path}"))
                    .header("host", host)
                    .header("origin", issuer)
                    .form(&form)
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    let verifier = "a-verifier-of-enough-length-for-pkce-0123456789";
    let challenge = castellan_testkit::people::challenge(verifier);
    let authorize = format!(
        "/oauth/authorize?response_type=code&client_id={client}&redirect_uri={}\
         &scope=openid%20products%3Aread&state=s1&code_challenge={challenge}\
         &code_challenge_method=S256",
        url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>()
    );
    let login = get(d.replica(0), authorize).await;
    assert!(login.is_login_form(), "{}", login.body);
    // The sign-in goes through nginx (whichever replica it picks), which must pass the
    // browser's Host on for the form's Origin check.
    let signed_in = post(
        d.nginx.base.clone(),
        "/login",
        vec![
            ("csrf", login.hidden("csrf")),
            ("request", login.hidden("request")),
            ("email", EMAIL.to_owned()),
            ("password", PASSWORD.to_owned()),
        ],
    )
    .await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    let consent: Page = get(d.replica(1), signed_in.location.clone().unwrap()).await;
    assert!(consent.is_consent_form(), "{}", consent.body);
    let decided = post(
        d.replica(2),
        "/oauth/authorize/decision",
        vec![
            ("csrf", consent.hidden("csrf")),
            ("request", consent.hidden("request")),
            ("decision", "approve".to_owned()),
        ],
    )
    .await;
    assert_eq!(decided.status, 302, "{}", decided.body);
    assert!(decided.location.as_deref().unwrap().starts_with(REDIRECT));
    assert_eq!(decided.param("state").as_deref(), Some("s1"));
    let code = decided.param("code").unwrap();
    let res = d
        .http
        .post(format!("{}/oauth/token", d.replica(0)))
        .basic_auth(&client, Some(&client_secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let tokens: Value = res.json().await.unwrap();
    let id_token = tokens["id_token"].as_str().unwrap();
    let claims = castellan_testkit::oauth::claims(id_token);
    assert_eq!(claims["sub"], person["id"], "{claims}");
    assert_eq!(claims["iss"], issuer.as_str());
    assert_eq!(claims["aud"], client.as_str());
}

/// `castellan keys rotate`: within keys.reload_seconds every replica signs with the new key and
/// publishes it.
async fn key_rotation_is_used_by_all(d: &Deployment) {
    let out = run(&d.env, &["keys", "rotate"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // "new ES256 signing key: <kid>; the previous key stays published for … s"
    let printed = stdout(&out);
    let kid = printed
        .split_once("signing key: ")
        .and_then(|(_, rest)| rest.split_once(';'))
        .unwrap_or_else(|| panic!("no kid in {printed}"))
        .0
        .to_owned();
    let at = Instant::now();
    for n in 0..3 {
        let base = d.replica(n);
        loop {
            let token = d.admin_token(&base).await;
            let header = castellan_crypto::jws::parse(&token).unwrap().header;
            let jwks: Value = d
                .http
                .get(format!("{base}/.well-known/jwks.json"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let published = jwks["keys"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["kid"] == kid.as_str());
            if header.kid.as_deref() == Some(kid.as_str()) && published {
                break;
            }
            assert!(
                at.elapsed() <= Duration::from_secs(RELOAD_SECONDS + 2),
                "replica {n} has not taken up the rotated key"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// `deploy/castellan.toml` as written is a valid production configuration (given the Redis URL
/// its env file supplies).
#[test]
fn the_recipe_configuration_is_valid_in_production() {
    let toml = replace_once(
        &deploy("castellan.toml"),
        "backend = \"redis\"",
        "backend = \"redis\"\nredis_url = \"redis://redis.internal:6379\"",
    );
    let config = castellan_server::platform::config::Config::from_toml_str(&toml)
        .unwrap_or_else(|e| panic!("deploy/castellan.toml: {e}"));
    assert_eq!(
        config.environment,
        castellan_core::environment::Environment::Production
    );
    assert_eq!(config.http.client_ip_header.as_str(), "x-real-ip");
}
