//! What each command does. Secrets are printed to standard output once and never logged.
#![expect(clippy::print_stdout, reason = "a command answers on standard output")]

use crate::cli::{Cli, ClientsCommand, Command, CreateClient, KeysCommand};
use anyhow::{anyhow, bail, Context};
use castellan_core::Environment;
use castellan_crypto::{Algorithm, Clock, SystemClock};
use castellan_server::audit::{record_in, Caller, Kind};
use castellan_server::management::clients::{build_client, ClientDraft, TenantEntry};
use castellan_server::platform::bootstrap::{ensure_bootstrap_client, ADMIN_SCOPE};
use castellan_server::platform::config::Config;
use castellan_store::Store;
use chrono::Duration;
use std::sync::Arc;

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::load(cli.global.config.as_deref(), &cli.global)?;
    init_tracing(&config);
    match cli.command {
        Command::Serve => serve(config).await,
        Command::Init { json } => init(config, json).await,
        Command::Migrate => {
            castellan_store::migrate(&config.database)
                .await
                .context("migrating the database")?;
            println!("migrations applied");
            Ok(())
        }
        Command::Clients(ClientsCommand::Create(args)) => create_client(config, *args).await,
        Command::Clients(ClientsCommand::Read(command)) => {
            crate::clients::run(&config, command).await
        }
        Command::Clients(ClientsCommand::RotateSecret(args)) => {
            crate::client_secret::rotate(config, args).await
        }
        Command::Keys(KeysCommand::Rotate { alg }) => rotate_keys(config, alg).await,
        Command::Users(crate::people::UsersCommand::Create(args)) => {
            crate::people::create_user(open_existing_store(&config).await?.as_ref(), args).await
        }
        Command::Users(crate::people::UsersCommand::Read(command)) => {
            crate::people_read::run_users(open_existing_store(&config).await?.as_ref(), command)
                .await
        }
        Command::Users(crate::people::UsersCommand::SetAdmin { user, admin }) => {
            crate::people::set_admin(open_existing_store(&config).await?.as_ref(), &user, admin)
                .await
        }
        Command::Orgs(command) => {
            crate::people::run_orgs(open_existing_store(&config).await?.as_ref(), command).await
        }
        Command::ApiKeys(command) => {
            crate::api_keys::run(&config, open_existing_store(&config).await?, command).await
        }
        Command::Backup { to } => backup(&config, &to).await,
        Command::Audit(command) => {
            crate::audit::run(open_existing_store(&config).await?.as_ref(), command).await
        }
        Command::Doctor { credential, need } => {
            crate::doctor::run(&config, credential.expose(), need.as_deref()).await
        }
    }
}

fn init_tracing(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log.level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if config.log.json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// The database of a command that works on an existing one: a SQLite file that does not
/// exist is an error naming where it was looked for, never a new empty database.
pub async fn open_existing_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let options = castellan_store::ConnectOptions {
        create: false,
        ..castellan_store::ConnectOptions::default()
    };
    match castellan_store::connect_with(&config.database, options).await {
        Ok(store) => Ok(store),
        Err(e) => match missing_sqlite_file(&config.database) {
            Some(path) => bail!(
                "no database at {} (a relative path is relative to the working directory): run \
                 `castellan migrate` or `castellan serve` there first, or name it with --database",
                path.display()
            ),
            None => Err(anyhow::Error::new(e).context("opening the database")),
        },
    }
}

/// The absolute path of the SQLite file `database` names, when that file does not exist.
fn missing_sqlite_file(database: &str) -> Option<std::path::PathBuf> {
    if database.starts_with("postgres") || database.contains(":memory:") {
        return None;
    }
    let path = database
        .strip_prefix("sqlite://")
        .or_else(|| database.strip_prefix("sqlite:"))
        .unwrap_or(database);
    let path = std::path::Path::new(path.split('?').next().unwrap_or(path));
    let absolute = std::env::current_dir().ok()?.join(path);
    (!absolute.exists()).then_some(absolute)
}

async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let store = castellan_store::connect_with(&config.database, config.store_options())
        .await
        .context("opening the database")?;
    Ok(store)
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store = open_store(&config).await?;
    if config.environment == Environment::Production {
        // In production standard output is usually a container's log, kept and shipped where
        // a secret must not go. `castellan init` creates the bootstrap client instead and
        // prints its secret to the operator's terminal.
        if !store
            .client_exists(None)
            .await
            .context("looking for clients")?
        {
            tracing::warn!(
                "no client exists yet; in production `serve` does not create the bootstrap admin client (its secret would go to standard output): run `castellan init` once against this database, which creates it and prints its secret once"
            );
        }
    } else if let Some((id, secret)) =
        ensure_bootstrap_client(store.as_ref(), &config, clock.now()).await?
    {
        println!("Created the bootstrap admin client. Its secret is shown only this once:");
        println!("  client_id:     {id}");
        println!("  client_secret: {}", secret.expose());
        println!("  scope:         {ADMIN_SCOPE}");
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let local = listener.local_addr()?;
    let gateway = match config.gateway.listen {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("listening on {addr} (gateway.listen)"))?,
        ),
        None => None,
    };
    if let Some(g) = &gateway {
        tracing::info!(address = %g.local_addr()?, "the gateway check is served on its own listener");
    }
    let issuer = config.issuer.clone();
    let env = config.environment;
    let state = castellan_server::start(config, store, clock).await?;
    tracing::info!(address = %local, issuer = %issuer, environment = %env, "Castellan is serving");
    let shutdown = shutdown_signal();
    castellan_server::serve_split(listener, gateway, state, shutdown).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Installs the SIGTERM handler now, before the server answers anything, and answers the
/// future that resolves on SIGTERM or Ctrl-C. Installed lazily (on the future's first poll,
/// in a task of its own), a SIGTERM sent as soon as the first answer arrived could still meet
/// the default action and end the process at once, in-flight requests and all.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    async move {
        let ctrl_c = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        #[cfg(unix)]
        let term = async move {
            match term {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            () = ctrl_c => {},
            () = term => {},
        }
        tracing::info!("shutting down: finishing in-flight requests");
    }
}

async fn init(config: Config, json: bool) -> anyhow::Result<()> {
    let store = open_store(&config).await?;
    let now = SystemClock.now();
    castellan_server::start(config.clone(), Arc::clone(&store), Arc::new(SystemClock)).await?;
    match ensure_bootstrap_client(store.as_ref(), &config, now).await? {
        Some((id, secret)) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"client_id": id, "client_secret": secret.expose()})
                );
            } else {
                println!("client_id:     {id}");
                println!("client_secret: {}", secret.expose());
            }
            Ok(())
        }
        None => Err(anyhow!(
            "this database was initialised before; its bootstrap secret was shown then. \
             Create another admin client with `castellan clients create --admin --name …`"
        )),
    }
}

async fn create_client(config: Config, args: CreateClient) -> anyhow::Result<()> {
    let scope = if args.admin {
        format!("{ADMIN_SCOPE} {}", args.scope)
    } else {
        args.scope
    };
    let draft = ClientDraft {
        name: args.name,
        scope,
        access_token_validity_seconds: args.access_token_validity_seconds,
        refresh_token_validity_seconds: args.refresh_token_validity_seconds,
        delete_days_after_creation: args.delete_days_after_creation,
        client_kind: args.kind,
        grant_types: args.grant_types,
        redirect_uris: args.redirect_uris,
        post_logout_redirect_uris: args.post_logout_redirect_uris,
        backchannel_logout_uri: None,
        backchannel_logout_session_required: false,
        logout_revokes_refresh_tokens: false,
        token_endpoint_auth_method: args.token_endpoint_auth_method,
        jwks: args.jwks_file.as_deref().map(read_jwks_file).transpose()?,
        jwks_uri: args.jwks_uri,
        token_format: args.token_format,
        default_scope: args.default_scope,
        public_client_credentials: args.public_client_credentials,
        require_pushed_authorization_requests: args.require_pushed_authorization_requests,
        dpop_bound_access_tokens: args.dpop_bound_access_tokens,
        tier: args.tier,
        tenants: args
            .tenants
            .iter()
            .map(|t| tenant_flag(t))
            .collect::<anyhow::Result<_>>()?,
    };
    let (client, secret) =
        build_client(draft, &config, SystemClock.now()).map_err(|e| anyhow!("{e}"))?;
    let store = open_existing_store(&config).await?;
    store
        .insert_client(&client)
        .await
        .context("storing the client")?;
    let event = Caller::operator()
        .did(Kind::ClientCreated)
        .target(&client.id)
        .detail(format!(
            "scope {}",
            castellan_core::scope::patterns_to_string(&client.scope)
        ));
    record_in(store.as_ref(), SystemClock.now(), event).await;
    let rep = castellan_server::management::http::clients::ClientRepresentation::new(
        &client,
        secret.map(castellan_core::Secret::into_exposed),
        SystemClock.now(),
    );
    if args.json {
        let mut v = serde_json::to_value(&rep)?;
        if let Some(obj) = v.as_object_mut() {
            obj.insert("client_id".into(), client.id.clone().into());
            if let Some(s) = obj.get("secret").cloned() {
                obj.insert("client_secret".into(), s);
            }
        }
        println!("{v}");
    } else {
        println!("client_id:     {}", rep.id);
        if let Some(s) = &rep.secret {
            println!("client_secret: {s}   (shown only this once)");
        }
        println!("scope:         {}", rep.scope);
        println!("auth method:   {}", rep.token_endpoint_auth_method);
        if rep.dpop_bound_access_tokens {
            println!("dpop-bound:    its access tokens must be bound to a DPoP key");
        }
        for t in &rep.tenants {
            println!("tenant:        {}:{}", t.brand, t.venues.join(","));
        }
    }
    Ok(())
}

/// The JWK Set in the file `--jwks-file` names (checked as the management API checks it when
/// the client is built).
fn read_jwks_file(path: &std::path::Path) -> anyhow::Result<serde_json::Value> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--jwks-file: cannot read {}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| {
        anyhow!(
            "--jwks-file: {} is not JSON ({e}); it must hold a JWK Set such as {{\"keys\": [...]}}",
            path.display()
        )
    })
}

/// A `--tenant BRAND:VENUE[,VENUE…]` flag as the management API's tenant entry. The brand is
/// everything before the last `:`, since venue ids are usually short numbers.
fn tenant_flag(flag: &str) -> anyhow::Result<TenantEntry> {
    let (brand, venues) = flag
        .rsplit_once(':')
        .ok_or_else(|| anyhow!("--tenant must be BRAND:VENUE[,VENUE…], e.g. openapitest:1,2"))?;
    Ok(TenantEntry {
        brand: brand.to_owned(),
        venues: venues.split(',').map(str::to_owned).collect(),
    })
}

/// `castellan backup --to FILE`: a consistent copy of a SQLite database, taken while servers
/// run on it. The file is made here, new and readable by its owner only (it holds the signing
/// keys), and SQLite fills it (`VACUUM INTO` takes an empty file); the database is opened
/// without migrating it.
async fn backup(config: &Config, to: &std::path::Path) -> anyhow::Result<()> {
    if config.database.starts_with("postgres") {
        bail!(
            "this is a PostgreSQL database: copy it with pg_dump --format=custom (see \
             docs/operations.md, Backups)"
        );
    }
    // The same refusal of a missing SQLite file as every other command, before any file is
    // made.
    if let Some(path) = missing_sqlite_file(&config.database) {
        bail!("no database at {}", path.display());
    }
    // An absolute path: SQLite would read `file:…` as a URI.
    let to = std::path::absolute(to).context("--to")?;
    let path = to
        .to_str()
        .ok_or_else(|| anyhow!("--to must be a UTF-8 path"))?
        .to_owned();
    {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&to)
            .with_context(|| format!("{} (name a new file)", to.display()))?;
    }
    let options = castellan_store::ConnectOptions {
        create: false,
        migrate: false,
        ..castellan_store::ConnectOptions::default()
    };
    let copied = async {
        let store = castellan_store::connect_with(&config.database, options)
            .await
            .context("opening the database")?;
        store
            .backup_into(&path)
            .await
            .context("copying the database")
    }
    .await;
    match copied {
        Ok(true) => {
            println!("copied the database to {}", to.display());
            Ok(())
        }
        Ok(false) => {
            let _ = std::fs::remove_file(&to);
            bail!("not a SQLite database: copy it with the database's own tools")
        }
        Err(e) => {
            let _ = std::fs::remove_file(&to);
            Err(e)
        }
    }
}

async fn rotate_keys(config: Config, alg: Option<String>) -> anyhow::Result<()> {
    let store = open_existing_store(&config).await?;
    let name = alg.unwrap_or_else(|| config.token.access_token_algorithm.clone());
    let alg = Algorithm::from_name(&name)
        .ok_or_else(|| anyhow!("--alg must be ES256, EdDSA or RS256"))?;
    // The previous key must verify every token it signed: the longest access token any
    // client may hold, plus one key-reload period (a replica may sign with it until it
    // re-reads the keys), plus a margin for clock skew.
    let keep_for = Duration::seconds(
        i64::from(config.clients.lifetime_bounds.access_max)
            + i64::from(config.keys.reload_seconds)
            + 300,
    );
    let kid =
        castellan_server::platform::keys::rotate(store.as_ref(), alg, SystemClock.now(), keep_for)
            .await?;
    let event = Caller::operator()
        .did(Kind::SigningKeyRotated)
        .target(&kid)
        .detail(format!("{alg}; the previous key stays published"));
    record_in(store.as_ref(), SystemClock.now(), event).await;
    println!(
        "new {alg} signing key: {kid}; the previous key stays published for {} s",
        keep_for.num_seconds()
    );
    Ok(())
}
