//! Test kit: a real Castellan server on `127.0.0.1:0` with a fresh database, and helpers to
//! talk to it over HTTP. Used by the integration tests of every crate.
//!
//! The backend comes from the environment: `CASTELLAN_TEST_BACKEND=postgres` (with
//! `CASTELLAN_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`) runs on a
//! fresh PostgreSQL schema; otherwise a temporary SQLite file. A test asked to use PostgreSQL
//! that cannot reach it fails.

use castellan_crypto::Clock;
use castellan_server::config::Config;
use castellan_server::state::AppState;
use castellan_store::Store;
use serde_json::Value;
use std::sync::Arc;

pub use castellan_crypto::clock::ManualClock;

/// Which storage backend the tests of this process use.
/// A TCP port on 127.0.0.1 free at the time of the call, for a child process (a `castellan
/// serve`, nginx, chromedriver) that must be told its port before it starts.
#[allow(clippy::expect_used)]
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port on 127.0.0.1")
        .port()
}

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

/// A running server.
pub struct TestApp {
    pub base: String,
    /// The gateway check's own listener, when `gateway.listen` is set (e.g. `127.0.0.1:0`);
    /// `/forward-auth` is then 404 on `base`.
    pub gateway_base: Option<String>,
    pub state: AppState,
    pub store: Arc<dyn Store>,
    pub admin_id: String,
    pub admin_secret: String,
    pub http: reqwest::Client,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _dir: Option<tempfile::TempDir>,
}

impl TestApp {
    /// Starts a server with the default configuration.
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    /// Starts a server after `edit` adjusts the configuration.
    pub async fn spawn_with(edit: impl FnOnce(&mut Config)) -> TestApp {
        Self::spawn_full(edit, Arc::new(castellan_crypto::SystemClock)).await
    }

    /// Starts a server with a given clock (e.g. a [`ManualClock`]).
    pub async fn spawn_full(edit: impl FnOnce(&mut Config), clock: Arc<dyn Clock>) -> TestApp {
        let (url, dir) = fresh_database().await;
        let mut config = Config {
            database: url.clone().into(),
            ..Config::default()
        };
        edit(&mut config);
        config.validate().expect("test config is valid");
        let store: Arc<dyn Store> = castellan_store::connect(&config.database)
            .await
            .expect("store");
        let (admin_id, admin_secret) = castellan_server::bootstrap::ensure_bootstrap_client(
            store.as_ref(),
            &config,
            clock.now(),
        )
        .await
        .expect("bootstrap")
        .expect("fresh database has no bootstrap client");
        Self::serve(
            config,
            store,
            clock,
            admin_id,
            admin_secret.into_exposed(),
            dir,
        )
        .await
    }

    /// A second server (another replica) on the same database, with its own caches; `edit`
    /// adjusts a copy of this server's configuration.
    pub async fn replica(&self, edit: impl FnOnce(&mut Config)) -> TestApp {
        let mut config = self.state.config.clone();
        edit(&mut config);
        config.validate().expect("test config is valid");
        Self::serve(
            config,
            self.store.clone(),
            self.state.clock.clone(),
            self.admin_id.clone(),
            self.admin_secret.clone(),
            None,
        )
        .await
    }

    async fn serve(
        config: Config,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        admin_id: String,
        admin_secret: String,
        dir: Option<tempfile::TempDir>,
    ) -> TestApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let gateway = match config.gateway.listen {
            Some(g) => Some(
                tokio::net::TcpListener::bind(g)
                    .await
                    .expect("bind gateway"),
            ),
            None => None,
        };
        let gateway_base = gateway
            .as_ref()
            .map(|g| format!("http://{}", g.local_addr().expect("gateway addr")));
        let state = castellan_server::start(config, store.clone(), clock)
            .await
            .expect("start");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(castellan_server::serve_split(
            listener,
            gateway,
            state.clone(),
            async move {
                let _ = rx.await;
            },
        ));
        TestApp {
            base: format!("http://{addr}"),
            gateway_base,
            state,
            store,
            admin_id,
            admin_secret,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            shutdown: Some(tx),
            handle: Some(handle),
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A `client_credentials` token for the bootstrap admin client.
    pub async fn admin_token(&self) -> String {
        self.token_for(&self.admin_id.clone(), &self.admin_secret.clone(), None)
            .await
    }

    /// A `client_credentials` token (Basic authentication), panicking unless 200.
    pub async fn token_for(&self, id: &str, secret: &str, scope: Option<&str>) -> String {
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(s) = scope {
            form.push(("scope", s));
        }
        let res = self
            .http
            .post(self.url("/oauth/token"))
            .basic_auth(id, Some(secret))
            .form(&form)
            .send()
            .await
            .expect("token request");
        let status = res.status();
        let body: Value = res.json().await.expect("json");
        assert_eq!(status, 200, "token request failed: {body}");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// Creates a client through the management API; answers its representation (with secret).
    pub async fn create_client(&self, draft: Value) -> Value {
        let token = self.admin_token().await;
        let res = self
            .http
            .post(self.url("/api-clients"))
            .bearer_auth(token)
            .json(&draft)
            .send()
            .await
            .expect("create client");
        let status = res.status();
        let body: Value = res.json().await.expect("json");
        assert_eq!(status, 201, "create client failed: {body}");
        body
    }

    /// Stops the server, letting in-flight requests finish.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            let _ = h.await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
