//! Where a test's data lives: the backend this process tests, a fresh database per test, and
//! free ports for child processes.

/// A TCP port on 127.0.0.1 free at the time of the call, for a child process (a `castellan
/// serve`, nginx, chromedriver) that must be told its port before it starts.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port on 127.0.0.1")
        .port()
}

/// Which storage backend the tests of this process use.
pub fn backend_from_env() -> &'static str {
    match std::env::var("CASTELLAN_TEST_BACKEND").as_deref() {
        Ok("postgres") => "postgres",
        _ => "sqlite",
    }
}

/// A fresh, empty database URL for one test (and the temp dir keeping a SQLite file alive).
pub async fn fresh_database() -> (String, Option<tempfile::TempDir>) {
    if backend_from_env() == "postgres" {
        let base = std::env::var("CASTELLAN_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
        (
            castellan_store::testing::fresh_postgres_url(&base).await,
            None,
        )
    } else {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("castellan.db").display());
        (url, Some(dir))
    }
}
