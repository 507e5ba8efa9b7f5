//! `castellan clients list|show|delete`: the stored clients, read and removed from the command
//! line. Never a secret: `list` and `show` print what the management API answers (no secret,
//! only the end of a previous secret's overlap). A deletion reaches running replicas within
//! `clients.cache_seconds`.
#![expect(clippy::print_stdout, reason = "a command answers on standard output")]

use crate::commands::open_existing_store;
use anyhow::bail;
use castellan_core::query::{truncate_for_message, ClientQuery, MAX_LIMIT, MAX_OFFSET};
use castellan_server::audit::{record_in, Caller, Kind};
// A stored value as printed on a terminal: control characters escaped.
use castellan_core::text::printable as p;
use castellan_crypto::{Clock, SystemClock};
use castellan_server::management::http::clients::{ClientRepresentation, PagedClients};
use castellan_server::platform::config::Config;
use clap::{Args, Subcommand};

/// The read and delete commands of `castellan clients`.
#[derive(Debug, Subcommand)]
pub enum ReadClients {
    /// List clients, newest first (never their secrets).
    List(ListClients),
    /// Show one client (never its secret).
    Show(ClientId),
    /// Delete a client and everything issued to it (its tokens, grants and consents).
    Delete(ClientId),
}

#[derive(Debug, Args)]
pub struct ListClients {
    /// Most clients to list (1 to 500).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_LIMIT)))]
    pub limit: u32,
    /// Clients to skip (at most 10000).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=i64::from(MAX_OFFSET)))]
    pub offset: u32,
    /// Print {limit, offset, count, total, results} as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ClientId {
    /// The client's id.
    pub id: String,
    /// Print the client as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs one of the commands.
pub async fn run(config: &Config, command: ReadClients) -> anyhow::Result<()> {
    let store = open_existing_store(config).await?;
    let now = SystemClock.now();
    match command {
        ReadClients::List(args) => {
            let query = ClientQuery {
                limit: args.limit,
                offset: args.offset,
                sort: vec![castellan_core::query::parse_sort("createdAt desc")
                    .map_err(|e| anyhow::anyhow!(e.0))?],
                ..ClientQuery::default()
            };
            let page = store.query_clients(&query).await?;
            let results: Vec<ClientRepresentation> = page
                .results
                .iter()
                .map(|c| ClientRepresentation::new(c, None, now))
                .collect();
            if args.json {
                let paged = PagedClients {
                    limit: args.limit,
                    offset: args.offset,
                    count: results.len(),
                    total: page.total,
                    results,
                };
                println!("{}", serde_json::to_string(&paged)?);
                return Ok(());
            }
            for c in &results {
                println!(
                    "{}  {:<12}  {}  [{}]",
                    p(&c.id),
                    c.client_kind,
                    p(&c.name),
                    p(&c.scope)
                );
            }
            println!(
                "{} of {} shown",
                results.len(),
                page.total.map_or_else(|| "?".to_owned(), |t| t.to_string())
            );
            Ok(())
        }
        ReadClients::Show(ClientId { id, json }) => {
            let Some(client) = store.get_client(&id).await? else {
                bail!("no client with id `{}`", truncate_for_message(&id));
            };
            print_client(&ClientRepresentation::new(&client, None, now), json)
        }
        ReadClients::Delete(ClientId { id, json }) => {
            let Some(client) = store.delete_client(&id).await? else {
                bail!("no client with id `{}`", truncate_for_message(&id));
            };
            tracing::info!(client_id = %client.id, by = "cli", "client deleted");
            record_in(
                store.as_ref(),
                now,
                Caller::operator()
                    .did(Kind::ClientDeleted)
                    .target(&client.id),
            )
            .await;
            if json {
                return print_client(&ClientRepresentation::new(&client, None, now), true);
            }
            println!(
                "deleted {} ({}); running servers stop accepting it within clients.cache_seconds",
                p(&client.id),
                p(&client.name)
            );
            Ok(())
        }
    }
}

fn print_client(rep: &ClientRepresentation, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(rep)?);
        return Ok(());
    }
    println!("id:            {}", p(&rep.id));
    println!("name:          {}", p(&rep.name));
    println!("kind:          {}", rep.client_kind);
    println!("scope:         {}", p(&rep.scope));
    println!("grant types:   {}", rep.grant_types.join(" "));
    println!("auth method:   {}", rep.token_endpoint_auth_method);
    println!("token format:  {}", rep.token_format);
    println!("tier:          {}", p(&rep.tier));
    for uri in &rep.redirect_uris {
        println!("redirect uri:  {}", p(uri));
    }
    println!("created:       {}", rep.created_at);
    if let Some(d) = &rep.last_used_at {
        println!("last used:     {d}");
    }
    if let Some(d) = &rep.delete_at {
        println!("deleted at:    {d}");
    }
    if let Some(t) = &rep.previous_secret_expires_at {
        println!("previous secret accepted until {t}");
    }
    Ok(())
}
