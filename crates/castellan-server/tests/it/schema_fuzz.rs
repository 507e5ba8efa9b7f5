//! Schema fuzzing: schemathesis (PyPI) generates requests from `/openapi.json` for every
//! documented operation, with the admin client's token, and checks that no answer is a server
//! error (5xx) and that every answer matches the documented schema. Destructive operations
//! (deleting, rotating) run in a pass of their own after the others, since the fuzzer may delete
//! or rotate the very client whose token it holds. Generation is deterministic, so a run is
//! repeatable.
//!
//! Runs when `CASTELLAN_TEST_SCHEMATHESIS` names the `st` executable (`.ci/run` installs
//! schemathesis in a virtual environment outside the clone and sets it); otherwise it says it
//! was not asked to run.
#![expect(
    clippy::expect_used,
    reason = "a test fails on an expect, with its location"
)]
#![expect(
    clippy::print_stdout,
    reason = "says when it was not asked to run, and shows schemathesis's report"
)]

use castellan_testkit::TestApp;
use std::process::Command;

/// The `st` executable, when the test is asked to run.
fn schemathesis() -> Option<String> {
    match std::env::var("CASTELLAN_TEST_SCHEMATHESIS") {
        Ok(path) => {
            assert!(
                std::path::Path::new(&path).is_file(),
                "CASTELLAN_TEST_SCHEMATHESIS={path} is not a file (pip install schemathesis)"
            );
            Some(path)
        }
        Err(_) => {
            println!("schema fuzzing not asked to run (set CASTELLAN_TEST_SCHEMATHESIS to st)");
            None
        }
    }
}

/// One schemathesis run over the operations `selection` picks; panics with its report unless
/// it passed.
fn run(st: &str, app: &TestApp, token: &str, selection: &[&str]) {
    // schemathesis keeps a cache in its working directory: a temporary one, not the clone.
    let cwd = tempfile::tempdir().expect("temp dir");
    let out = Command::new(st)
        .current_dir(cwd.path())
        .args(["run", &app.url("/openapi.json"), "--url", &app.base])
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .args([
            "--checks",
            "not_a_server_error,response_schema_conformance",
            "--phases",
            "coverage,fuzzing",
            "--max-examples",
            "25",
            "--generation-deterministic",
            "--seed",
            "1",
            "--workers",
            "1",
        ])
        .args(selection)
        .env("NO_COLOR", "1")
        .output()
        .expect("schemathesis runs");
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "schemathesis found problems:\n{report}"
    );
    // Something was tested: the summary counts the generated cases.
    let generated = report
        .lines()
        .find_map(|l| {
            l.trim()
                .split_once(" generated, ")
                .and_then(|(n, _)| n.trim().parse::<u64>().ok())
        })
        .unwrap_or(0);
    assert!(generated > 0, "no test case ran:\n{report}");
    println!("{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_documented_operation_survives_schema_fuzzing() {
    let Some(st) = schemathesis() else {
        return;
    };
    let app = std::sync::Arc::new(TestApp::spawn().await);
    // Everything but deleting and rotating first, then deletions, then rotations: each pass
    // with a fresh token, since a pass may delete or rotate the client that holds it.
    let passes: [&[&str]; 3] = [
        &[
            "--exclude-method",
            "DELETE",
            "--exclude-path-regex",
            "rotate",
        ],
        &["--include-method", "DELETE"],
        &["--include-path-regex", "rotate"],
    ];
    for selection in passes {
        // The pass before may have deleted the admin client: a new one, stored directly.
        let draft = castellan_server::management::clients::ClientDraft {
            name: "fuzzer".into(),
            scope: castellan_server::platform::bootstrap::ADMIN_SCOPE.into(),
            ..Default::default()
        };
        let (client, secret) = castellan_server::management::clients::build_client(
            draft,
            &app.state.config,
            chrono::Utc::now(),
        )
        .unwrap();
        app.store.insert_client(&client).await.unwrap();
        let token = app
            .token_for(&client.id, secret.unwrap().expose(), None)
            .await;
        let (st, app) = (st.clone(), std::sync::Arc::clone(&app));
        tokio::task::spawn_blocking(move || run(&st, &app, &token, selection))
            .await
            .unwrap();
    }
}
