//! `castellan audit list`: the audit log, newest first, filtered by event type (or family,
//! `api_key.*`), actor, organization and time range, one page at a time; `--json` prints the
//! same representation as `GET /audit-events`.
#![expect(clippy::print_stdout, reason = "a command answers on standard output")]

use anyhow::{anyhow, bail};
use castellan_core::text::printable;
use castellan_server::audit::http::{AuditEventRepresentation, PagedAuditEvents};
use castellan_server::audit::Kind;
use castellan_store::audit::AuditQuery;
use castellan_store::Store;
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// List security events, newest first.
    List(ListAudit),
}

#[derive(Debug, Args)]
pub struct ListAudit {
    /// One event type (`api_key.revoked`) or a family (`api_key.*`).
    #[arg(long = "type")]
    pub kind: Option<String>,
    /// Only events caused by this person, client or operator (their id or name).
    #[arg(long)]
    pub actor: Option<String>,
    /// Only events about this organization.
    #[arg(long)]
    pub organization: Option<String>,
    /// Only events at or after this instant (RFC 3339, e.g. 2026-12-01T00:00:00Z).
    #[arg(long)]
    pub since: Option<String>,
    /// Only events before this instant (RFC 3339).
    #[arg(long)]
    pub until: Option<String>,
    /// Most events printed (1 to 500).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=500))]
    pub limit: u32,
    /// Events skipped before the first printed.
    #[arg(long, default_value_t = 0)]
    pub offset: u32,
    /// Print the page as JSON (`{limit, offset, count, total, results}`).
    #[arg(long)]
    pub json: bool,
}

fn instant(flag: &str, value: Option<&str>) -> anyhow::Result<Option<DateTime<Utc>>> {
    value
        .map(|v| {
            DateTime::parse_from_rfc3339(v)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| {
                    anyhow!("--{flag} must be an RFC 3339 instant such as 2026-12-01T00:00:00Z")
                })
        })
        .transpose()
}

pub async fn run(store: &dyn Store, command: AuditCommand) -> anyhow::Result<()> {
    let AuditCommand::List(args) = command;
    let kinds = match args.kind.as_deref() {
        Some(k) => match Kind::matching(k) {
            Some(names) => names.into_iter().map(str::to_owned).collect(),
            None => bail!(
                "--type must name an event type or a family such as `api_key.*`; known types: {}",
                Kind::ALL.map(Kind::as_str).join(", ")
            ),
        },
        None => Vec::new(),
    };
    let query = AuditQuery {
        kinds,
        actor_id: args.actor,
        organization_id: args.organization,
        since: instant("since", args.since.as_deref())?,
        until: instant("until", args.until.as_deref())?,
        ..AuditQuery::default()
    };
    let (events, total) = store
        .list_audit_events(&query, args.limit, args.offset.min(10_000))
        .await?;
    let results: Vec<AuditEventRepresentation> = events.into_iter().map(Into::into).collect();
    if args.json {
        let page = PagedAuditEvents {
            limit: args.limit,
            offset: args.offset,
            count: results.len(),
            total,
            results,
        };
        println!("{}", serde_json::to_string(&page)?);
        return Ok(());
    }
    if results.is_empty() {
        println!("no events (of {total} matching)");
        return Ok(());
    }
    for e in &results {
        println!(
            "{}  {:<28} {:<7} {}:{}  org={}  from={}  on={}  {}",
            e.at,
            e.kind,
            e.outcome,
            e.actor.kind,
            printable(&e.actor.id),
            printable(e.organization_id.as_deref().unwrap_or("-")),
            printable(e.address.as_deref().unwrap_or("-")),
            printable(e.target.as_deref().unwrap_or("-")),
            printable(&e.detail),
        );
    }
    println!(
        "{} of {total} matching (offset {})",
        results.len(),
        args.offset
    );
    Ok(())
}
