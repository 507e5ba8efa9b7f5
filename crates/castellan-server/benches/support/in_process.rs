//! Castellan in process for the benchmarks: its whole router on a fresh SQLite database with
//! rate limits too high to refuse, and one client (`products:read`), driven without sockets
//! through `tower::ServiceExt::oneshot`.

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use castellan_crypto::{Clock, SystemClock};
use castellan_server::management::clients::{build_client, ClientDraft};
use castellan_server::platform::config::Config;
use castellan_server::platform::edge::Edge;
use castellan_store::Store;
use std::net::SocketAddr;
use std::sync::Arc;

/// The configuration every in-process benchmark starts from: nothing it sends is refused by a
/// rate limit.
const CONFIG: &str = r#"
environment = "local"
[log]
level = "warn"
[rate_limit.policies.unlimited]
windows = [{ limit = 1000000000, seconds = 60 }]
[rate_limit.tiers]
default = "unlimited"
[rate_limit.per_ip]
token = "unlimited"
"#;

/// A running Castellan: its router and the HTTP Basic credentials of its one client.
pub struct InProcess {
    /// The router behind its edge, as `castellan serve` answers.
    pub router: Edge,
    /// `base64(client_id:secret)`.
    pub basic: String,
    /// Its storage and configuration, to add clients.
    pub store: Arc<dyn Store>,
    /// Its configuration.
    pub config: Config,
    /// Keeps the database's directory for the run.
    _dir: tempfile::TempDir,
}

/// Castellan with [`CONFIG`] followed by `extra` (TOML).
pub fn start(rt: &tokio::runtime::Runtime, extra: &str) -> InProcess {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let (router, basic, store, config) = rt.block_on(async {
        let config =
            Config::from_toml_str(&format!("database = \"{url}\"\n{CONFIG}\n{extra}")).unwrap();
        let store: Arc<dyn Store> = castellan_store::connect(&url).await.unwrap();
        let (client, secret) = build_client(
            ClientDraft {
                name: "bench".into(),
                scope: "products:read".into(),
                ..ClientDraft::default()
            },
            &config,
            SystemClock.now(),
        )
        .unwrap();
        store.insert_client(&client).await.unwrap();
        let state =
            castellan_server::start(config.clone(), Arc::clone(&store), Arc::new(SystemClock))
                .await
                .unwrap();
        let basic = STANDARD.encode(format!("{}:{}", client.id, secret.unwrap().expose()));
        (castellan_server::app(state), basic, store, config)
    });
    InProcess {
        router,
        basic,
        store,
        config,
        _dir: dir,
    }
}

impl InProcess {
    /// Adds a client made from `draft`; answers its HTTP Basic credentials.
    pub fn add_client(&self, rt: &tokio::runtime::Runtime, draft: ClientDraft) -> String {
        let (client, secret) = build_client(draft, &self.config, SystemClock.now()).unwrap();
        rt.block_on(self.store.insert_client(&client)).unwrap();
        STANDARD.encode(format!("{}:{}", client.id, secret.unwrap().expose()))
    }
}

/// `req` as the edge sees a request from a local peer.
pub fn from_peer(mut req: Request<Body>) -> Request<Body> {
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
    req
}
