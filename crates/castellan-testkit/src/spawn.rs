//! A real server on `127.0.0.1:0` for one test: started on a fresh database with its bootstrap
//! admin client, stopped when dropped.

use castellan_crypto::Clock;
use castellan_server::platform::config::Config;
use castellan_server::platform::state::AppState;
use castellan_store::Store;
use std::sync::Arc;

use crate::database::fresh_database;

/// A running server.
pub struct TestApp {
    /// The server's address, e.g. `http://127.0.0.1:41234`.
    pub base: String,
    /// The gateway check's own listener, when `gateway.listen` is set (e.g. `127.0.0.1:0`);
    /// `/forward-auth` is then 404 on `base`.
    pub gateway_base: Option<String>,
    /// The server's state, for reading its configuration or calling its functions directly.
    pub state: AppState,
    /// The server's storage, for setting up data directly.
    pub store: Arc<dyn Store>,
    /// The bootstrap admin client's id.
    pub admin_id: String,
    /// The bootstrap admin client's secret.
    pub admin_secret: String,
    /// An HTTP client that does not follow redirects.
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

    /// Starts a server whose issuer is its own address (`http://127.0.0.1:<port>`), for clients
    /// that follow the URLs of the metadata (an MCP host, an OpenID Connect library).
    /// Its [`replica`](Self::replica)s would need the same address: it has none.
    pub async fn spawn_as_issuer(edit: impl FnOnce(&mut Config)) -> TestApp {
        let issuer = format!("http://127.0.0.1:{}", crate::database::free_port());
        Self::spawn_with(|c| {
            c.issuer = issuer;
            edit(c);
        })
        .await
    }

    /// Starts a server whose issuer is `http://localhost:<port>` (listening on 127.0.0.1): a
    /// domain name, as WebAuthn asks of a relying party, so that it offers passkeys. Its
    /// [`TestApp::base`] stays the IP address.
    pub async fn spawn_as_localhost_issuer(edit: impl FnOnce(&mut Config)) -> TestApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let issuer = format!("http://localhost:{port}");
        Self::spawn_on(
            |c| {
                c.issuer = issuer;
                edit(c);
            },
            Arc::new(castellan_crypto::SystemClock),
            Some(listener),
        )
        .await
    }

    /// Starts a server with a given clock (e.g. a [`ManualClock`](crate::ManualClock)).
    pub async fn spawn_full(edit: impl FnOnce(&mut Config), clock: Arc<dyn Clock>) -> TestApp {
        Self::spawn_on(edit, clock, None).await
    }

    /// Starts a server on `listener` (else as [`TestApp::serve`] chooses).
    async fn spawn_on(
        edit: impl FnOnce(&mut Config),
        clock: Arc<dyn Clock>,
        listener: Option<tokio::net::TcpListener>,
    ) -> TestApp {
        let (url, dir) = fresh_database().await;
        let mut config = Config {
            database: url.clone().into(),
            ..Config::default()
        };
        edit(&mut config);
        config.validate().expect("test config is valid");
        let store: Arc<dyn Store> =
            castellan_store::connect_with(&config.database, config.store_options())
                .await
                .expect("store");
        let (admin_id, admin_secret) =
            castellan_server::platform::bootstrap::ensure_bootstrap_client(
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
            listener,
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
            Arc::clone(&self.store),
            Arc::clone(&self.state.clock),
            self.admin_id.clone(),
            self.admin_secret.clone(),
            None,
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
        listener: Option<tokio::net::TcpListener>,
    ) -> TestApp {
        // A server whose issuer is a loopback address listens there; any other on a free port
        // (or the listener it was given).
        let listener = match listener {
            Some(l) => l,
            None => {
                let own = config
                    .issuer
                    .strip_prefix("http://")
                    .filter(|a| a.starts_with("127.0.0.1:"))
                    .unwrap_or("127.0.0.1:0")
                    .to_owned();
                tokio::net::TcpListener::bind(own).await.expect("bind")
            }
        };
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
        let state = castellan_server::start(config, Arc::clone(&store), clock)
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

    /// The URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
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
