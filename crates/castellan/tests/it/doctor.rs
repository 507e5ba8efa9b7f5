//! `castellan doctor`: offline explanations, non-zero exit when refused.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap or expect, with its location"
)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use castellan_core::api_key::generate;
use castellan_core::Environment;

/// Runs doctor with a database that does not exist (offline) in the local environment.
fn doctor(args: &[&str]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("absent.db");
    let out = crate::support::castellan()
        .arg("--database")
        .arg(format!("sqlite://{}", db.display()))
        .arg("doctor")
        .args(args)
        .output()
        .unwrap();
    assert!(!db.exists(), "doctor never creates a database");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn a_good_key_passes_offline() {
    let k = generate("csb", Environment::Local, &[1; 32]).unwrap();
    let (ok, out) = doctor(&[&k]);
    assert!(ok, "{out}");
    assert!(out.contains("checksum: matches"), "{out}");
    assert!(out.contains("offline"), "{out}");
    assert!(!out.contains(&k), "the key is never printed");
}

#[test]
fn malformed_and_mistyped_keys_are_refused() {
    let (ok, out) = doctor(&["csb_only_two_parts_x"]);
    assert!(!ok);
    assert!(out.contains("REFUSED: format"), "{out}");
    let k = generate("csb", Environment::Local, &[1; 32]).unwrap();
    let mut typo = k.clone();
    let c = if &k[6..7] == "a" { "b" } else { "a" };
    typo.replace_range(6..7, c);
    let (ok, out) = doctor(&[&typo]);
    assert!(!ok);
    assert!(out.contains("checksum"), "{out}");
}

#[test]
fn a_key_of_another_environment_is_refused() {
    let k = generate("csb", Environment::Production, &[1; 32]).unwrap();
    let (ok, out) = doctor(&[&k]);
    assert!(!ok);
    assert!(
        out.contains("environment: the key is for production"),
        "{out}"
    );
}

fn jwt(claims: serde_json::Value) -> String {
    let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"ES256","kid":"k1","typ":"at+jwt"}"#);
    let p = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{h}.{p}.c2ln")
}

#[test]
fn jwts_are_explained() {
    let now = chrono::Utc::now().timestamp();
    let good = jwt(
        serde_json::json!({"iss": "http://localhost:8000", "sub": "c1",
        "client_id": "c1", "scope": "products:read", "env": "local", "exp": now + 600}),
    );
    let (ok, out) = doctor(&[&good, "--need", "products:read"]);
    assert!(ok, "{out}");
    assert!(out.contains("alg=ES256 kid=k1 typ=at+jwt"), "{out}");
    assert!(out.contains("offline: cannot check signature"), "{out}");
    let (ok, out) = doctor(&[&good, "--need", "products:write"]);
    assert!(!ok);
    assert!(out.contains("scope products:write: missing"), "{out}");
    let expired = jwt(
        serde_json::json!({"iss": "http://localhost:8000", "sub": "c1",
        "scope": "", "env": "testing", "exp": now - 10}),
    );
    let (ok, out) = doctor(&[&expired]);
    assert!(!ok);
    assert!(out.contains("expiry: expired at"), "{out}");
    assert!(
        out.contains("environment: the token is for testing"),
        "{out}"
    );
}

/// Offline means offline: an existing database is read as it is, never migrated.
#[tokio::test]
async fn doctor_never_migrates_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("empty.db");
    std::fs::write(&db, b"").unwrap();
    let url = format!("sqlite://{}", db.display());
    let k = generate("csb", Environment::Local, &[1; 32]).unwrap();
    let out = crate::support::castellan()
        .args(["--database", &url, "doctor", &k])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("checksum: matches"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let options = castellan_store::ConnectOptions {
        migrate: false,
        create: false,
        ..castellan_store::ConnectOptions::default()
    };
    let store = castellan_store::connect_with(&url, options).await.unwrap();
    let tables: i64 = sqlx::query_scalar("SELECT count(*) FROM sqlite_master")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(tables, 0, "doctor created tables");
    store.close().await;
}
