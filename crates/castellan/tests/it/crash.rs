//! Crash safety: a `castellan serve` killed with SIGKILL while it creates clients and API keys,
//! rotates refresh tokens and records consents (password grants). After a restart on the same
//! database every write that was answered 2xx is there, nothing half-written is visible, and no
//! refresh family has two valid tokens.
//!
//! On SQLite this is a single node's file; with `CASTELLAN_TEST_BACKEND=postgres` (the second
//! pass of `.ci/run`) it is a replica of a PostgreSQL deployment.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap or expect, with its location"
)]

use serde_json::{json, Value};
use sqlx::Row;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::server::{banner_credentials, serve, Server};
use crate::support::{env_with_config, run, stderr, Env};

/// Limits roomy enough that the load is never refused (year-long windows, no boundary inside
/// the test).
const CONFIG: &str = r"
[rate_limit.policies.default]
windows = [{ limit = 10000000, seconds = 31536000 }]
[rate_limit.policies.token]
windows = [{ limit = 10000000, seconds = 31536000 }]
[rate_limit.policies.login]
windows = [{ limit = 10000000, seconds = 31536000 }]
";

const EMAIL: &str = "pat@example.com";
const PASSWORD: &str = "a long enough password";

/// What the load was answered, shared by its tasks.
#[derive(Default)]
struct Answered {
    clients: Vec<String>,
    api_keys: Vec<String>,
    families: Vec<Family>,
    grants: usize,
    rotations: usize,
}

/// A refresh family as its client knows it: the last refresh token it was answered, and
/// whether a rotation of it was sent but never answered (the crash came in between).
#[derive(Debug, Clone)]
struct Family {
    latest: String,
    in_flight: bool,
}

struct Setup {
    base: String,
    http: reqwest::Client,
    admin: String,
    password_client: (String, String),
    key_manager: String,
}

async fn post_json(s: &Setup, bearer: &str, path: &str, body: Value) -> reqwest::Result<Value> {
    let res = s
        .http
        .post(format!("{}{path}", s.base))
        .bearer_auth(bearer)
        .json(&body)
        .send()
        .await?;
    assert_eq!(res.status(), 201, "{path}");
    res.json().await
}

async fn token(s: &Setup, id: &str, secret: &str, form: &[(&str, &str)]) -> reqwest::Result<Value> {
    let res = s
        .http
        .post(format!("{}/oauth/token", s.base))
        .basic_auth(id, Some(secret))
        .form(form)
        .send()
        .await?;
    let status = res.status();
    let body: Value = res.json().await?;
    assert_eq!(status, 200, "{body}");
    Ok(body)
}

async fn admin_token(base: &str, http: &reqwest::Client, id: &str, secret: &str) -> String {
    let res = http
        .post(format!("{base}/oauth/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

async fn set_up(server: &mut Server, env: &Env) -> Setup {
    let (id, secret) = banner_credentials(&server.lines(8));
    let out = run(
        env,
        &[
            "users",
            "create",
            "--email",
            EMAIL,
            "--name",
            "Pat",
            "--password",
            PASSWORD,
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let base = format!("http://127.0.0.1:{}", server.port);
    let http = reqwest::Client::new();
    let admin = admin_token(&base, &http, &id, &secret).await;
    let mut setup = Setup {
        base,
        http,
        admin,
        password_client: (String::new(), String::new()),
        key_manager: String::new(),
    };
    let c = post_json(
        &setup,
        &setup.admin,
        "/api-clients",
        json!({"name": "First-party CLI", "scope": "openid offline_access products:read",
               "grantTypes": ["password", "refresh_token"]}),
    )
    .await
    .unwrap();
    setup.password_client = (
        c["id"].as_str().unwrap().to_owned(),
        c["secret"].as_str().unwrap().to_owned(),
    );
    let m = post_json(
        &setup,
        &setup.admin,
        "/api-clients",
        json!({"name": "key manager", "scope": "manage_api_keys view_api_keys products:read"}),
    )
    .await
    .unwrap();
    setup.key_manager = admin_token(
        &setup.base,
        &setup.http,
        m["id"].as_str().unwrap(),
        m["secret"].as_str().unwrap(),
    )
    .await;
    setup
}

/// A password grant (a consent recorded and a refresh family begun).
async fn password_grant(s: &Setup) -> reqwest::Result<String> {
    let (id, secret) = &s.password_client;
    let body = token(
        s,
        id,
        secret,
        &[
            ("grant_type", "password"),
            ("username", EMAIL),
            ("password", PASSWORD),
            ("scope", "openid offline_access products:read"),
        ],
    )
    .await?;
    Ok(body["refresh_token"].as_str().unwrap().to_owned())
}

/// Until the server stops answering: clients created, API keys created, or refresh families
/// rotated round robin with a new password grant every tenth turn.
async fn ask(s: Arc<Setup>, answered: Arc<Mutex<Answered>>, kind: usize) {
    let mut n = 0usize;
    loop {
        n += 1;
        let ok = match kind {
            0 => post_json(
                &s,
                &s.admin,
                "/api-clients",
                json!({"name": format!("crash {n}"), "scope": "products:read"}),
            )
            .await
            .map(|c| {
                answered
                    .lock()
                    .unwrap()
                    .clients
                    .push(c["id"].as_str().unwrap().into());
            }),
            1 => post_json(
                &s,
                &s.key_manager,
                "/api-keys",
                json!({"name": format!("key {n}"), "scope": "products:read"}),
            )
            .await
            .map(|k| {
                answered
                    .lock()
                    .unwrap()
                    .api_keys
                    .push(k["id"].as_str().unwrap().into());
            }),
            _ => rotate_or_grant(&s, &answered, n).await,
        };
        if ok.is_err() {
            return;
        }
    }
}

async fn rotate_or_grant(s: &Setup, answered: &Mutex<Answered>, n: usize) -> reqwest::Result<()> {
    let picked = {
        let mut a = answered.lock().unwrap();
        let free: Vec<usize> = (0..a.families.len())
            .filter(|&i| !a.families[i].in_flight)
            .collect();
        if n % 10 == 0 || free.is_empty() {
            None
        } else {
            let i = free[n % free.len()];
            a.families[i].in_flight = true;
            Some((i, a.families[i].latest.clone()))
        }
    };
    let Some((i, presented)) = picked else {
        let refresh = password_grant(s).await?;
        let mut a = answered.lock().unwrap();
        a.grants += 1;
        a.families.push(Family {
            latest: refresh,
            in_flight: false,
        });
        return Ok(());
    };
    let (id, secret) = &s.password_client;
    let body = token(
        s,
        id,
        secret,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", presented.as_str()),
        ],
    )
    .await?;
    let mut a = answered.lock().unwrap();
    a.rotations += 1;
    a.families[i] = Family {
        latest: body["refresh_token"].as_str().unwrap().to_owned(),
        in_flight: false,
    };
    Ok(())
}

async fn rows(pool: &sqlx::AnyPool, sql: &str) -> Vec<String> {
    sqlx::query(sql)
        .fetch_all(pool)
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get::<String, _>(0).unwrap())
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_write_keeps_every_answered_write_and_no_half_written_one() {
    let env = env_with_config(CONFIG).await;
    let mut server = serve(&env);
    let setup = Arc::new(set_up(&mut server, &env).await);
    let answered = Arc::new(Mutex::new(Answered::default()));
    for _ in 0..2 {
        let refresh = password_grant(&setup).await.unwrap();
        answered.lock().unwrap().families.push(Family {
            latest: refresh,
            in_flight: false,
        });
    }

    let mut load = tokio::task::JoinSet::new();
    for kind in [0, 1, 2, 2] {
        load.spawn(ask(Arc::clone(&setup), Arc::clone(&answered), kind));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    tokio::task::block_in_place(|| server.kill9());
    while let Some(done) = load.join_next().await {
        done.unwrap();
    }
    let answered = Arc::try_unwrap(answered)
        .ok()
        .unwrap()
        .into_inner()
        .unwrap();
    assert!(!answered.clients.is_empty(), "clients were created");
    assert!(!answered.api_keys.is_empty(), "keys were created");
    assert!(answered.grants > 0, "grants were recorded under load");
    assert!(answered.rotations > 0, "refresh tokens were rotated");

    // The database as the crash left it, before anything opens it again.
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&env.database).await.unwrap();
    if env.database.starts_with("sqlite") {
        assert_eq!(rows(&pool, "PRAGMA integrity_check").await, ["ok"]);
    }
    for (what, sql) in [
        (
            "families with two valid tokens",
            "SELECT family_id FROM refresh_tokens WHERE rotated_at IS NULL \
             GROUP BY family_id HAVING COUNT(*) > 1",
        ),
        // A family without a token is a legal state (a grant with no refresh token, or one
        // whose family was stored and whose answer the crash cut off: nothing was handed out),
        // but a token outside any family would escape revocation.
        (
            "tokens without a family",
            "SELECT t.family_id FROM refresh_tokens t WHERE NOT EXISTS \
             (SELECT 1 FROM refresh_families f WHERE f.id = t.family_id)",
        ),
        (
            "families without a consent",
            "SELECT f.id FROM refresh_families f WHERE NOT EXISTS \
             (SELECT 1 FROM consents c WHERE c.id = f.consent_id)",
        ),
    ] {
        let found = rows(&pool, sql).await;
        assert!(found.is_empty(), "{what}: {found:?}");
    }
    for family in &answered.families {
        let hash = castellan_crypto::refresh_token_key(&family.latest);
        let row = sqlx::query("SELECT rotated_at FROM refresh_tokens WHERE hash = $1")
            .bind(hash.to_vec())
            .fetch_optional(&pool)
            .await
            .unwrap();
        let row = row.unwrap_or_else(|| panic!("answered refresh token {} lost", hex(&hash)));
        // A rotation in flight at the crash may have been written without its answer.
        if !family.in_flight {
            let rotated: Option<i64> = row.try_get(0).unwrap();
            assert_eq!(rotated, None, "an answered token is still current");
        }
    }
    pool.close().await;

    // Restarted on the same database: every answered write is served.
    let server = serve(&env);
    let base = format!("http://127.0.0.1:{}", server.port);
    let http = reqwest::Client::new();
    let get = |bearer: String, path: String| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let res = http
                .get(format!("{base}{path}"))
                .bearer_auth(bearer)
                .send()
                .await
                .unwrap();
            res.status().as_u16()
        }
    };
    for id in &answered.clients {
        assert_eq!(
            get(setup.admin.clone(), format!("/api-clients/{id}")).await,
            200
        );
    }
    for id in &answered.api_keys {
        assert_eq!(
            get(setup.key_manager.clone(), format!("/api-keys/{id}")).await,
            200
        );
    }
    let restarted = Setup {
        base: base.clone(),
        http: http.clone(),
        admin: setup.admin.clone(),
        password_client: setup.password_client.clone(),
        key_manager: setup.key_manager.clone(),
    };
    let (id, secret) = &setup.password_client;
    for family in answered.families.iter().filter(|f| !f.in_flight) {
        token(
            &restarted,
            id,
            secret,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", family.latest.as_str()),
            ],
        )
        .await
        .unwrap();
    }
    let (clean, _, err) = server.stop();
    assert!(clean, "{err}");
}
