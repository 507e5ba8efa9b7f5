//! The `castellan` binary: `init`, `clients create`, `migrate`, `serve`
//! (bootstrap credentials printed once, /healthz, graceful SIGTERM) and `keys rotate`.
//! Runs on SQLite, or on PostgreSQL when `CASTELLAN_TEST_BACKEND=postgres`.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap or expect, with its location"
)]

use castellan_store::ClientStore;
use serde_json::Value;
use std::io::Write;
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::server::{banner_credentials, serve, serve_with};
use crate::support::{env, http, introspect, read_answer, run, stderr, stdout};

fn get_json(port: u16, path: &str) -> Value {
    let (s, body) = http(port, "GET", path, "text/plain", "");
    assert_eq!(s, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

fn token(port: u16, id: &str, secret: &str) -> String {
    let (s, body) = http(
        port,
        "POST",
        "/oauth/token",
        "application/x-www-form-urlencoded",
        &format!("grant_type=client_credentials&client_id={id}&client_secret={secret}"),
    );
    assert_eq!(s, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["access_token"].as_str().unwrap().to_owned()
}

fn kid(token: &str) -> String {
    castellan_crypto::jws::parse(token)
        .unwrap()
        .header
        .kid
        .unwrap()
}

fn jwks_kids(port: u16) -> Vec<String> {
    get_json(port, "/.well-known/jwks.json")["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn init_prints_the_bootstrap_credentials_once() {
    let env = env().await;
    let first = run(&env, &["init", "--json"]);
    assert!(first.status.success(), "{}", stderr(&first));
    let v: Value = serde_json::from_str(stdout(&first).trim()).unwrap();
    let id = v["client_id"].as_str().unwrap();
    let secret = v["client_secret"].as_str().unwrap();
    assert!(!id.is_empty());
    assert!(secret.len() >= 43);
    assert_eq!(v.as_object().unwrap().len(), 2, "{v}");
    assert!(
        !stderr(&first).contains(secret),
        "the secret reached the log"
    );

    let second = run(&env, &["init", "--json"]);
    assert!(!second.status.success());
    assert!(!stdout(&second).contains(secret));
    assert!(!stderr(&second).contains(secret));
    assert!(
        stderr(&second).contains("initialised before"),
        "{}",
        stderr(&second)
    );

    // The credentials work against a server on that database, which prints nothing new.
    let mut server = serve(&env);
    let t = token(server.port, id, secret);
    assert_eq!(introspect(server.port, id, secret, &t)["active"], true);
    assert!(server.lines(0).iter().all(|l| !l.contains("client_secret")));
    let (ok, out, err) = server.stop();
    assert!(ok);
    assert!(!out.contains("client_secret"), "{out}");
    assert!(!err.contains(secret));
}

#[tokio::test]
async fn migrate_and_clients_create() {
    let env = env().await;
    let m = run(&env, &["migrate"]);
    assert!(m.status.success(), "{}", stderr(&m));
    assert!(stdout(&m).contains("migrations applied"));
    // Again: nothing to do, still fine.
    let m = run(&env, &["migrate"]);
    assert!(m.status.success(), "{}", stderr(&m));

    let init = run(&env, &["init", "--json"]);
    assert!(init.status.success(), "{}", stderr(&init));
    let admin: Value = serde_json::from_str(stdout(&init).trim()).unwrap();

    let c = run(
        &env,
        &[
            "clients", "create", "--name", "x", "--scope", "a:read", "--json",
        ],
    );
    assert!(c.status.success(), "{}", stderr(&c));
    let v: Value = serde_json::from_str(stdout(&c).trim()).unwrap();
    assert_eq!(v["name"], "x");
    assert_eq!(v["scope"], "a:read");
    let id = v["client_id"].as_str().unwrap().to_owned();
    let secret = v["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(v["id"], id.as_str());
    assert!(secret.len() >= 43);
    assert!(!stderr(&c).contains(&secret));

    let bad = run(
        &env,
        &[
            "clients",
            "create",
            "--name",
            "y",
            "--scope",
            "a:read",
            "--access-token-validity-seconds",
            "10",
            "--json",
        ],
    );
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).contains("accessTokenValiditySeconds"),
        "{}",
        stderr(&bad)
    );

    // A tier: tier `default` when none is given; an unconfigured one is refused.
    assert_eq!(v["tier"], "default");
    let tiered = run(
        &env,
        &[
            "clients", "create", "--name", "t", "--scope", "a:read", "--tier", "default", "--json",
        ],
    );
    assert!(tiered.status.success(), "{}", stderr(&tiered));
    let t: Value = serde_json::from_str(stdout(&tiered).trim()).unwrap();
    assert_eq!(t["tier"], "default");
    let unknown = run(
        &env,
        &[
            "clients", "create", "--name", "u", "--scope", "a:read", "--tier", "gold", "--json",
        ],
    );
    assert!(!unknown.status.success());
    assert!(
        stderr(&unknown).contains("tier `gold` is not configured"),
        "{}",
        stderr(&unknown)
    );
    // Configured, it is given and stored.
    let config = env.dir.path().join("tiers.toml");
    std::fs::write(&config, "[rate_limit.tiers]\ngold = \"default\"\n").unwrap();
    let gold = run(
        &env,
        &[
            "--config",
            config.to_str().unwrap(),
            "clients",
            "create",
            "--name",
            "g",
            "--scope",
            "a:read",
            "--tier",
            "gold",
            "--json",
        ],
    );
    assert!(gold.status.success(), "{}", stderr(&gold));
    let g: Value = serde_json::from_str(stdout(&gold).trim()).unwrap();
    assert_eq!(g["tier"], "gold");

    let admin2 = run(
        &env,
        &["clients", "create", "--name", "ops", "--admin", "--json"],
    );
    assert!(admin2.status.success(), "{}", stderr(&admin2));
    let a2: Value = serde_json::from_str(stdout(&admin2).trim()).unwrap();
    assert!(a2["scope"].as_str().unwrap().contains("manage_api_clients"));

    // Tenants for POST /auth: `--tenant BRAND:VENUE[,VENUE…]`, repeatable.
    let venue = run(
        &env,
        &[
            "clients",
            "create",
            "--name",
            "pos",
            "--tenant",
            "openapitest:1,2",
            "--tenant",
            "other:9",
            "--json",
        ],
    );
    assert!(venue.status.success(), "{}", stderr(&venue));
    let pos: Value = serde_json::from_str(stdout(&venue).trim()).unwrap();
    assert_eq!(
        pos["tenants"],
        serde_json::json!([
            {"brand": "openapitest", "venues": ["1", "2"]},
            {"brand": "other", "venues": ["9"]},
        ])
    );
    assert_eq!(v["tenants"], serde_json::json!([]));
    // Without a method the secret may come either way; one named is kept.
    assert_eq!(v["tokenEndpointAuthMethod"], "client_secret_basic_or_post");
    let post = run(
        &env,
        &[
            "clients",
            "create",
            "--name",
            "p",
            "--token-endpoint-auth-method",
            "client_secret_post",
            "--json",
        ],
    );
    assert!(post.status.success(), "{}", stderr(&post));
    let p: Value = serde_json::from_str(stdout(&post).trim()).unwrap();
    assert_eq!(p["tokenEndpointAuthMethod"], "client_secret_post");
    for bad in ["openapitest", "openapitest:", ":1"] {
        let o = run(
            &env,
            &[
                "clients", "create", "--name", "bad", "--tenant", bad, "--json",
            ],
        );
        assert!(!o.status.success(), "--tenant {bad}");
        assert!(stderr(&o).contains("tenant"), "{}", stderr(&o));
    }

    let server = serve(&env);
    let (pos_id, pos_secret) = (
        pos["client_id"].as_str().unwrap(),
        pos["client_secret"].as_str().unwrap(),
    );
    for (brand, venue, status) in [("openapitest", "2", 200), ("other", "1", 400)] {
        let body =
            format!("client_id={pos_id}&client_secret={pos_secret}&brand={brand}&venue_id={venue}");
        let (got, answer) = http(
            server.port,
            "POST",
            "/auth",
            "application/x-www-form-urlencoded",
            &body,
        );
        assert_eq!(got, status, "{brand}/{venue}: {answer}");
    }
    let t = token(server.port, &id, &secret);
    let info = introspect(
        server.port,
        admin["client_id"].as_str().unwrap(),
        admin["client_secret"].as_str().unwrap(),
        &t,
    );
    assert_eq!(info["active"], true, "{info}");
    assert_eq!(info["scope"], "a:read");
    assert_eq!(info["client_id"], id.as_str());
    // The second admin client can introspect as well.
    let info = introspect(
        server.port,
        a2["client_id"].as_str().unwrap(),
        a2["client_secret"].as_str().unwrap(),
        &t,
    );
    assert_eq!(info["active"], true);
    let (ok, _, _) = server.stop();
    assert!(ok);
}

#[tokio::test]
async fn serve_prints_credentials_once_and_stops_gracefully_on_sigterm() {
    let env = env().await;
    let mut server = serve(&env);
    let lines = server.lines(3);
    let (id, secret) = banner_credentials(&lines);
    let health = get_json(server.port, "/healthz");
    assert_eq!(health["status"], "ok");
    let ready = get_json(server.port, "/readyz");
    assert_eq!(ready["status"], "ready");
    let t = token(server.port, &id, &secret);
    assert_eq!(introspect(server.port, &id, &secret, &t)["active"], true);

    // A request in flight: head sent, body half sent.
    let port = server.port;
    let body = format!("grant_type=client_credentials&client_id={id}&client_secret={secret}");
    let (first, rest) = body.split_at(body.len() / 2);
    let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        conn,
        "POST /oauth/token HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{first}",
        body.len()
    )
    .unwrap();
    conn.flush().unwrap();
    // The server has the connection once another request on a new one is answered.
    assert_eq!(get_json(port, "/healthz")["status"], "ok");

    server.sigterm();
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(Instant::now() < deadline, "still accepting after SIGTERM");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "exited with a request in flight"
    );
    conn.write_all(rest.as_bytes()).unwrap();
    let (status, answer) = read_answer(&mut conn);
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("access_token"));

    let (ok, out, err) = server.stop();
    assert!(ok, "serve did not exit successfully after SIGTERM: {err}");
    assert_eq!(out.matches(&secret).count(), 1, "{out}");
    assert!(!err.contains(&secret), "the secret reached the log");

    // A second start prints no credentials.
    let again = serve(&env);
    assert_eq!(get_json(again.port, "/healthz")["status"], "ok");
    let (ok, out, err) = again.stop();
    assert!(ok, "serve did not exit successfully after SIGTERM: {err}");
    assert!(!out.contains("client_secret"), "{out}");
    assert!(!out.contains(&secret) && !err.contains(&secret));
}

/// In production `serve` prints no bootstrap secret on standard output (a
/// container's log) and creates no bootstrap client whose secret would be lost; its log says to
/// run `castellan init`, which then creates it and prints the secret once.
#[tokio::test]
async fn serve_in_production_prints_no_secret_and_points_to_init() {
    let env = env().await;
    let production = [
        "--environment",
        "production",
        "--issuer",
        "https://auth.example.com",
    ];
    let server = serve_with(&env, &production);
    assert_eq!(get_json(server.port, "/healthz")["status"], "ok");
    let (ok, out, err) = server.stop();
    assert!(ok, "{err}");
    assert!(!out.contains("client_secret"), "{out}");
    assert!(!out.contains("client_id"), "{out}");
    assert!(err.contains("castellan init"), "{err}");
    assert!(!err.contains("client_secret:"), "{err}");

    // `init` is the way: it creates the bootstrap client and prints its secret once.
    let mut args = production.to_vec();
    args.extend(["init", "--json"]);
    let init = run(&env, &args);
    assert!(init.status.success(), "{}", stderr(&init));
    let v: Value = serde_json::from_str(stdout(&init).trim()).unwrap();
    let secret = v["client_secret"].as_str().unwrap().to_owned();
    assert!(secret.len() >= 43);

    // Serving again says nothing of it, and the secret works.
    let server = serve_with(&env, &production);
    let t = token(server.port, v["client_id"].as_str().unwrap(), &secret);
    assert!(!t.is_empty());
    let (ok, out, err) = server.stop();
    assert!(ok, "{err}");
    assert!(!out.contains(&secret) && !err.contains(&secret));
    assert!(!err.contains("castellan init"), "{err}");
}

#[tokio::test]
async fn keys_rotate_keeps_old_tokens_valid() {
    let env = env().await;
    let init = run(&env, &["init", "--json"]);
    assert!(init.status.success(), "{}", stderr(&init));
    let v: Value = serde_json::from_str(stdout(&init).trim()).unwrap();
    let (id, secret) = (
        v["client_id"].as_str().unwrap().to_owned(),
        v["client_secret"].as_str().unwrap().to_owned(),
    );

    let server = serve(&env);
    let before = token(server.port, &id, &secret);
    let old_kid = kid(&before);
    // The access-token key (ES256) and the ID-token key (RS256).
    let first_kids = jwks_kids(server.port);
    assert_eq!(first_kids.len(), 2, "{first_kids:?}");
    assert!(first_kids.contains(&old_kid));
    let (ok, _, _) = server.stop();
    assert!(ok);

    let r = run(&env, &["keys", "rotate"]);
    assert!(r.status.success(), "{}", stderr(&r));
    let out = stdout(&r);
    assert!(out.contains("ES256"), "{out}");
    assert!(!out.contains(&old_kid), "{out}");

    let server = serve(&env);
    let kids = jwks_kids(server.port);
    assert_eq!(kids.len(), 3, "{kids:?}");
    assert!(kids.contains(&old_kid));
    let info = introspect(server.port, &id, &secret, &before);
    assert_eq!(info["active"], true, "{info}");
    let after = token(server.port, &id, &secret);
    let new_kid = kid(&after);
    assert_ne!(new_kid, old_kid);
    assert!(kids.contains(&new_kid));
    assert!(out.contains(&new_kid), "{out}");
    assert_eq!(
        introspect(server.port, &id, &secret, &after)["active"],
        true
    );
    let (ok, _, _) = server.stop();
    assert!(ok);

    let bad = run(&env, &["keys", "rotate", "--alg", "HS256"]);
    assert!(!bad.status.success());
}

/// A `private_key_jwt` client assertion for `id`, signed by `key`, for the token endpoint
/// `aud`.
fn client_assertion(key: &castellan_crypto::SigningKey, id: &str, aud: &str) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let now = chrono::Utc::now().timestamp();
    let header = serde_json::json!({"alg": key.algorithm().name(), "kid": key.kid()});
    let claims = serde_json::json!({"iss": id, "sub": id, "aud": aud, "iat": now,
                                    "exp": now + 60, "jti": format!("cli-{now}-{id}")});
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let sig = key.sign(input.as_bytes()).unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

#[tokio::test]
async fn clients_create_with_keys_and_dpop() {
    let env = env().await;
    let init = run(&env, &["init", "--json"]);
    assert!(init.status.success(), "{}", stderr(&init));
    let (key, _) =
        castellan_crypto::SigningKey::generate(castellan_crypto::Algorithm::Es256, "cli".into())
            .unwrap();
    let set = serde_json::json!({"keys": [key.verifying_key().unwrap().jwk().clone()]});
    let keys_file = env.dir.path().join("keys.json");
    std::fs::write(&keys_file, set.to_string()).unwrap();
    let keys_path = keys_file.to_str().unwrap();
    let pkjwt = [
        "clients",
        "create",
        "--name",
        "signer",
        "--scope",
        "a:read",
        "--token-endpoint-auth-method",
        "private_key_jwt",
    ];

    let c = run(
        &env,
        &[&pkjwt[..], &["--jwks-file", keys_path, "--json"]].concat(),
    );
    assert!(c.status.success(), "{}", stderr(&c));
    let v: Value = serde_json::from_str(stdout(&c).trim()).unwrap();
    assert_eq!(v["tokenEndpointAuthMethod"], "private_key_jwt");
    assert_eq!(v["jwks"], set);
    assert_eq!(v["dpopBoundAccessTokens"], false);
    assert!(
        v.get("secret").is_none() && v.get("client_secret").is_none(),
        "no secret: {v}"
    );
    let id = v["client_id"].as_str().unwrap().to_owned();

    // A jwksUri, DPoP-bound; without --json: no secret line, the method and the binding said.
    let u = run(
        &env,
        &[
            &pkjwt[..],
            &[
                "--jwks-uri",
                "https://app.example.com/jwks",
                "--dpop-bound-access-tokens",
            ],
        ]
        .concat(),
    );
    assert!(u.status.success(), "{}", stderr(&u));
    let out = stdout(&u);
    assert!(!out.contains("client_secret"), "{out}");
    assert!(out.contains("private_key_jwt"), "{out}");
    assert!(out.contains("DPoP"), "{out}");
    let bound = run(
        &env,
        &[
            "clients",
            "create",
            "--name",
            "bound",
            "--scope",
            "a:read",
            "--dpop-bound-access-tokens",
            "--json",
        ],
    );
    assert!(bound.status.success(), "{}", stderr(&bound));
    let b: Value = serde_json::from_str(stdout(&bound).trim()).unwrap();
    assert_eq!(b["dpopBoundAccessTokens"], true);
    assert!(
        b["client_secret"].is_string(),
        "a secret client keeps its secret"
    );

    // Each mistake is a message naming what is wrong, never a panic.
    let missing = env.dir.path().join("missing.json");
    let not_json = env.dir.path().join("not.json");
    std::fs::write(&not_json, "keys: nope").unwrap();
    let mut private = set.clone();
    private["keys"][0]["d"] = serde_json::json!("AAAA");
    let private_file = env.dir.path().join("private.json");
    std::fs::write(&private_file, private.to_string()).unwrap();
    for (extra, expected) in [
        (
            vec!["--jwks-file", missing.to_str().unwrap()],
            "--jwks-file",
        ),
        (vec!["--jwks-file", not_json.to_str().unwrap()], "not JSON"),
        (
            vec!["--jwks-file", private_file.to_str().unwrap()],
            "jwks: the JWK holds private",
        ),
        (vec!["--jwks-uri", "http://app.example.com/jwks"], "jwksUri"),
        (vec![], "jwks: private_key_jwt needs"),
        (
            vec![
                "--jwks-file",
                keys_path,
                "--jwks-uri",
                "https://app.example.com/jwks",
            ],
            "cannot be used with",
        ),
    ] {
        let o = run(&env, &[&pkjwt[..], &extra[..]].concat());
        let err = stderr(&o);
        assert!(!o.status.success(), "{extra:?}");
        assert!(err.contains(expected), "{extra:?}: {err}");
        assert!(!err.contains("panicked"), "{extra:?}: {err}");
    }
    let j = run(
        &env,
        &["clients", "create", "--name", "x", "--jwks-file", keys_path],
    );
    assert!(!j.status.success());
    assert!(stderr(&j).contains("jwks: applies to"), "{}", stderr(&j));

    // The client made from the file gets a token with an assertion.
    let server = serve(&env);
    let aud = get_json(server.port, "/.well-known/openid-configuration")["token_endpoint"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = format!(
        "grant_type=client_credentials&client_id={id}&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={}",
        client_assertion(&key, &id, &aud)
    );
    let (status, answer) = http(
        server.port,
        "POST",
        "/oauth/token",
        "application/x-www-form-urlencoded",
        &body,
    );
    assert_eq!(status, 200, "{answer}");
    let (ok, _, _) = server.stop();
    assert!(ok);
}

/// `clients rotate-secret`: the new secret printed once, the previous one kept for the overlap
/// asked (or ended at once with 0), as stored; a client without a secret, an unknown client
/// and an overlap out of bounds fail with a message and change nothing.
#[tokio::test]
async fn clients_rotate_secret() {
    let env = env().await;
    let created = |name: &str, extra: &[&str]| {
        let mut args = vec![
            "clients", "create", "--name", name, "--scope", "a:read", "--json",
        ];
        args.extend_from_slice(extra);
        let o = run(&env, &args);
        assert!(o.status.success(), "{}", stderr(&o));
        let v: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
        (
            v["client_id"].as_str().unwrap().to_owned(),
            v["client_secret"].as_str().map(str::to_owned),
        )
    };
    let (id, old) = created("job", &[]);
    let old = old.unwrap();
    let o = run(
        &env,
        &[
            "clients",
            "rotate-secret",
            &id,
            "--overlap-seconds",
            "600",
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    let new = v["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert!(v["previousSecretExpiresAt"].is_string(), "{v}");
    assert!(!stderr(&o).contains(&new));

    let store = castellan_store::connect(&env.database).await.unwrap();
    let stored = store.get_client(&id).await.unwrap().unwrap();
    assert_eq!(
        stored.secret_hash,
        Some(castellan_crypto::hash_secret(&new))
    );
    let previous = stored.previous_secret.unwrap();
    assert_eq!(previous.hash, castellan_crypto::hash_secret(&old));
    let left = previous.expires_at - chrono::Utc::now();
    assert!(
        left.num_seconds() > 500 && left.num_seconds() <= 600,
        "{left}"
    );

    // Text output, and no overlap.
    let o = run(
        &env,
        &["clients", "rotate-secret", &id, "--overlap-seconds", "0"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("shown only this once"),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("previous secret no longer accepted"));
    let after = store.get_client(&id).await.unwrap().unwrap();
    assert_eq!(after.previous_secret, None);

    let (public, _) = created(
        "spa",
        &[
            "--kind",
            "public",
            "--grant-types",
            "authorization_code",
            "--redirect-uri",
            "https://app.example/cb",
        ],
    );
    for (args, says) in [
        (
            vec!["clients", "rotate-secret", public.as_str()],
            "no secret to rotate",
        ),
        (
            vec!["clients", "rotate-secret", "no-such-client"],
            "no client with id",
        ),
        (
            vec![
                "clients",
                "rotate-secret",
                &id,
                "--overlap-seconds",
                "2592001",
            ],
            "overlapSeconds must be",
        ),
        (
            vec!["clients", "rotate-secret", &id, "--overlap-seconds", "-5"],
            "-5",
        ),
    ] {
        let o = run(&env, &args);
        assert!(!o.status.success(), "{args:?}");
        assert!(stderr(&o).contains(says), "{args:?}: {}", stderr(&o));
    }
    assert_eq!(
        store.get_client(&id).await.unwrap().unwrap(),
        after,
        "nothing changed"
    );
    store.close().await;
}

/// A command that works on an existing database never creates one: a missing SQLite file (a
/// relative path resolved in the working directory) is an error naming where it was looked for.
#[test]
fn commands_other_than_serve_init_and_migrate_create_no_database() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["clients", "create", "--name", "x", "--scope", "a:read"],
        vec!["clients", "rotate-secret", "some-id"],
        vec!["keys", "rotate"],
        vec!["orgs", "create", "--name", "Acme"],
        vec!["api-keys", "list"],
    ] {
        let o = crate::support::castellan()
            .current_dir(dir.path())
            .args(["--database", "sqlite://relative.db"])
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{args:?}");
        assert!(err.contains("no database at"), "{args:?}: {err}");
        assert!(err.contains("relative.db"), "{args:?}: {err}");
        assert!(
            !dir.path().join("relative.db").exists(),
            "{args:?} created it"
        );
    }
    // migrate creates it there.
    let o = crate::support::castellan()
        .current_dir(dir.path())
        .args(["--database", "sqlite://relative.db", "migrate"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(dir.path().join("relative.db").exists());
}

/// A misspelt `CASTELLAN_*` variable stops every command, named as the variable, with the
/// closest setting as a variable; a bad value names its variable too.
#[test]
fn an_unknown_environment_variable_stops_start_up_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("c.db").display());
    for (var, value, says) in [
        ("CASTELLAN_DATABSE", "x", "unknown environment variable CASTELLAN_DATABSE: no such setting; did you mean CASTELLAN_DATABASE?"),
        ("CASTELLAN_TOKEN__ACCESS_TOKEN_SECOND", "60", "did you mean CASTELLAN_TOKEN__ACCESS_TOKEN_SECONDS?"),
        ("CASTELLAN_WHOLLY_UNRELATED", "1", "unknown environment variable CASTELLAN_WHOLLY_UNRELATED: no such setting"),
        ("CASTELLAN_TOKEN__ACCESS_TOKEN_SECONDS", "soon", "environment variable CASTELLAN_TOKEN__ACCESS_TOKEN_SECONDS: not a valid value (expected u32)"),
    ] {
        let o = crate::support::castellan()
            .env(var, value)
            .args(["--database", &db, "migrate"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{var}");
        assert!(err.contains(says), "{var}: {err}");
        assert!(!err.contains("soon"), "the value is never repeated: {err}");
    }
    assert!(!dir.path().join("c.db").exists(), "nothing ran");
}

/// The global options are listed once, in `castellan --help`; a command's help lists its own
/// options and points there; a global option is still taken after the command's name.
#[test]
fn global_options_are_shown_once() {
    let help = |args: &[&str]| {
        let o = crate::support::castellan().args(args).output().unwrap();
        assert!(o.status.success(), "{args:?}");
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let top = help(&["--help"]);
    for flag in [
        "--config <PATH>",
        "--database <URL>",
        "--listen <ADDR>",
        "--issuer <URL>",
        "--environment <ENV>",
        "--rate-limit <REDIS_URL>",
    ] {
        assert_eq!(top.matches(flag).count(), 1, "{flag}: {top}");
    }
    for args in [
        vec!["clients", "create", "--help"],
        vec!["api-keys", "list", "--help"],
        vec!["orgs", "--help"],
        vec!["serve", "--help"],
    ] {
        let text = help(&args);
        assert!(!text.contains("--database <"), "{args:?}: {text}");
        assert!(text.contains("see `castellan --help`"), "{args:?}: {text}");
    }
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("after.db").display());
    let o = crate::support::castellan()
        .args(["migrate", "--database", &db])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(dir.path().join("after.db").exists());
}

/// `clients list|show|delete`: never a secret; delete removes the client and what was issued
/// to it; an unknown id fails with a message.
#[tokio::test]
async fn clients_list_show_and_delete() {
    let env = env().await;
    let mut ids = Vec::new();
    for name in ["first", "second"] {
        let o = run(
            &env,
            &[
                "clients", "create", "--name", name, "--scope", "a:read", "--json",
            ],
        );
        assert!(o.status.success(), "{}", stderr(&o));
        let v: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
        ids.push((
            v["client_id"].as_str().unwrap().to_owned(),
            v["client_secret"].as_str().unwrap().to_owned(),
        ));
    }
    let o = run(&env, &["clients", "list", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let page: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(page["total"], 2);
    // Newest first.
    assert_eq!(page["results"][0]["name"], "second");
    let text = stdout(&run(&env, &["clients", "list"]));
    assert!(
        text.contains("first") && text.contains("2 of 2 shown"),
        "{text}"
    );
    for (_, secret) in &ids {
        assert!(!stdout(&o).contains(secret.as_str()) && !text.contains(secret.as_str()));
    }
    let (id, secret) = &ids[0];
    let o = run(&env, &["clients", "show", id, "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["name"], "first");
    assert!(v.get("secret").is_none() && !stdout(&o).contains(secret.as_str()));
    let o = run(&env, &["clients", "delete", id]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("deleted"));
    let store = castellan_store::connect(&env.database).await.unwrap();
    assert!(store.get_client(id).await.unwrap().is_none());
    store.close().await;
    for args in [
        vec!["clients", "show", id.as_str()],
        vec!["clients", "delete", id.as_str()],
    ] {
        let o = run(&env, &args);
        assert!(!o.status.success(), "{args:?}");
        assert!(stderr(&o).contains("no client with id"), "{}", stderr(&o));
    }
    let o = run(&env, &["clients", "list", "--limit", "501"]);
    assert!(!o.status.success());
}

/// A backup of a running node restores into a working server. SQLite: `castellan backup` while
/// a server writes to the database. PostgreSQL: `pg_dump` while a server runs, `pg_restore` into
/// a new database. The server on the copy takes the clients and the signing keys of the moment
/// of the copy (a token issued before introspects active there), and nothing written after it.
#[tokio::test]
async fn a_running_node_is_backed_up_and_restored_into_a_working_server() {
    let node = env().await;
    let init = run(&node, &["init", "--json"]);
    assert!(init.status.success(), "{}", stderr(&init));
    let admin: Value = serde_json::from_str(stdout(&init).trim()).unwrap();
    let (id, secret) = (
        admin["client_id"].as_str().unwrap().to_owned(),
        admin["client_secret"].as_str().unwrap().to_owned(),
    );
    let server = serve(&node);
    let before = token(server.port, &id, &secret);
    let postgres = node.database.starts_with("postgres");
    let copy = node.dir.path().join("copy.db");
    let dump = node.dir.path().join("castellan.dump");
    if postgres {
        // The test schema only (the test database holds other tests' schemas too).
        let url = url::Url::parse(&node.database).unwrap();
        let options = url
            .query_pairs()
            .find(|(k, _)| k == "options")
            .map(|(_, v)| v.into_owned())
            .unwrap();
        let schema = options.rsplit('=').next().unwrap().to_owned();
        let mut base = url.clone();
        base.set_query(None);
        let dumped = Command::new("pg_dump")
            .args(["--format=custom", "--schema", &schema, "--file"])
            .arg(&dump)
            .arg(base.as_str())
            .output()
            .unwrap();
        assert!(dumped.status.success(), "{}", stderr(&dumped));
        // The CLI says what to do instead.
        let o = run(&node, &["backup", "--to", copy.to_str().unwrap()]);
        assert!(!o.status.success());
        assert!(stderr(&o).contains("pg_dump"), "{}", stderr(&o));
    } else {
        let o = run(&node, &["backup", "--to", copy.to_str().unwrap()]);
        assert!(o.status.success(), "{}", stderr(&o));
        // Readable by its owner only: it holds the signing keys.
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&copy).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
        // An existing file is never overwritten.
        let again = run(&node, &["backup", "--to", copy.to_str().unwrap()]);
        assert!(!again.status.success());
        assert!(stderr(&again).contains("exists"), "{}", stderr(&again));
    }
    // Written after the copy: not in it.
    let late = run(&node, &["clients", "create", "--name", "late", "--json"]);
    assert!(late.status.success(), "{}", stderr(&late));
    let late: Value = serde_json::from_str(stdout(&late).trim()).unwrap();
    let (ok, _, _) = server.stop();
    assert!(ok);

    // Restore into a new database, and serve it.
    let mut restored = env().await;
    let mut new_database = None;
    if postgres {
        let url = url::Url::parse(&node.database).unwrap();
        let mut admin_url = url.clone();
        admin_url.set_query(None);
        let name = format!(
            "castellan_restore_{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        );
        let created = Command::new("psql")
            .arg(admin_url.as_str())
            .args(["-c", &format!("CREATE DATABASE {name}")])
            .output()
            .unwrap();
        assert!(created.status.success(), "{}", stderr(&created));
        let mut target = admin_url.clone();
        target.set_path(&format!("/{name}"));
        let put = Command::new("pg_restore")
            .arg(format!("--dbname={target}"))
            .arg(&dump)
            .output()
            .unwrap();
        assert!(put.status.success(), "{}", stderr(&put));
        let mut served = target.clone();
        served.set_query(url.query());
        restored.database = served.to_string();
        new_database = Some((admin_url, name));
    } else {
        restored.database = format!("sqlite://{}", copy.display());
    }
    let server = serve(&restored);
    assert_eq!(
        introspect(server.port, &id, &secret, &before)["active"],
        true,
        "a token issued before the copy"
    );
    token(server.port, &id, &secret);
    let (status, _) = http(
        server.port,
        "POST",
        "/oauth/token",
        "application/x-www-form-urlencoded",
        &format!(
            "grant_type=client_credentials&client_id={}&client_secret={}",
            late["client_id"].as_str().unwrap(),
            late["client_secret"].as_str().unwrap()
        ),
    );
    assert_eq!(status, 401, "a client created after the copy");
    let (ok, _, _) = server.stop();
    assert!(ok);
    if let Some((admin_url, name)) = new_database {
        let dropped = Command::new("psql")
            .arg(admin_url.as_str())
            .args(["-c", &format!("DROP DATABASE {name}")])
            .output()
            .unwrap();
        assert!(dropped.status.success(), "{}", stderr(&dropped));
    }
}
