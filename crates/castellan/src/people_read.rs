//! `castellan users list|show|set-password|disable|enable` and `castellan orgs
//! list|show|members`: people and organizations read from the command line, a person's
//! password replaced (Argon2id; every session of theirs ends), and a person disabled (no
//! sign-in, no grant: their sessions and grants end at once) or enabled again. Never a
//! password or its hash in the output.
#![expect(clippy::print_stdout, reason = "a command answers on standard output")]

use crate::people::{find_user, read_password};
use anyhow::{anyhow, bail};
use castellan_core::text::printable;
use castellan_core::user::{Organization, Role, User};
use castellan_core::Secret;
use castellan_crypto::{Clock, SystemClock};
use castellan_server::audit::{record_in, Caller, Kind};
use castellan_server::people::passwords::hash_password;
use castellan_store::Store;
use clap::{Args, Subcommand};
use serde_json::{json, Value};

/// Most rows one `list` shows.
const MAX_LIMIT: u32 = 500;

/// The read commands of `castellan users`, and `set-password`.
#[derive(Debug, Subcommand)]
pub enum ReadUsers {
    /// List users, by email (never their passwords).
    List(Page),
    /// Show a user (by id or email) and their organizations.
    Show(Named),
    /// Replace a user's password (Argon2id); every session of theirs ends.
    SetPassword(SetPassword),
    /// Disable a user: they can no longer sign in, and their sessions and grants (refresh
    /// and access tokens) end at once.
    Disable(Named),
    /// Enable a disabled user again (their ended sessions and grants stay ended).
    Enable(Named),
    /// Remove a user's second factors (authenticator app, recovery codes and passkeys), for a
    /// person who lost them: they sign in with their password alone until they set one up again.
    ResetMfa(Named),
}

/// The read commands of `castellan orgs`.
#[derive(Debug, Subcommand)]
pub enum ReadOrgs {
    /// List organizations, by name.
    List(Page),
    /// Show an organization and how many members it has.
    Show(Named),
    /// List an organization's members with their roles.
    Members(Named),
}

#[derive(Debug, Args)]
pub struct Page {
    /// Most rows to list (1 to 500).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_LIMIT)))]
    pub limit: u32,
    /// Rows to skip.
    #[arg(long, default_value_t = 0)]
    pub offset: u32,
    /// Print {limit, offset, count, total, results} as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct Named {
    /// The id (for a user, the id or the email).
    pub id: String,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SetPassword {
    /// User id or email.
    pub user: String,
    /// The password (visible in the process list and shell history: prefer --password-stdin).
    #[arg(long, conflicts_with = "password_stdin")]
    pub password: Option<Secret>,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    pub password_stdin: bool,
    /// Also end every grant of theirs (the refresh tokens of every app they allowed) and
    /// disable the API keys they created, as after a stolen password.
    #[arg(long)]
    pub end_grants: bool,
    /// Print the person and what ended as JSON.
    #[arg(long)]
    pub json: bool,
}

fn user_json(u: &User) -> Value {
    json!({"id": u.id, "email": u.email, "name": u.name, "isAdmin": u.is_admin,
        "createdAt": u.created_at.to_rfc3339(),
        "disabledAt": u.disabled_at.map(|d| d.to_rfc3339())})
}

fn org_json(o: &Organization) -> Value {
    json!({"id": o.id, "name": o.name, "createdAt": o.created_at.to_rfc3339()})
}

fn page_json(page: &Page, results: Vec<Value>, total: u64) -> Value {
    json!({"limit": page.limit, "offset": page.offset, "count": results.len(), "total": total,
        "results": results})
}

/// Runs a `users` read command or `set-password`.
pub async fn run_users(store: &dyn Store, command: ReadUsers) -> anyhow::Result<()> {
    match command {
        ReadUsers::List(page) => {
            let (users, total) = store.list_users(page.limit, page.offset).await?;
            if page.json {
                let rows = users.iter().map(user_json).collect();
                println!("{}", page_json(&page, rows, total));
                return Ok(());
            }
            for u in &users {
                let admin = if u.is_admin { "  admin" } else { "" };
                println!(
                    "{}  {}  {}{admin}",
                    printable(&u.id),
                    printable(&u.email),
                    printable(&u.name)
                );
            }
            println!("{} of {total} shown", users.len());
            Ok(())
        }
        ReadUsers::Show(Named { id, json }) => {
            let user = find_user(store, &id).await?;
            let orgs = store.organizations_of_user(&user.id).await?;
            if json {
                let mut v = user_json(&user);
                v["organizations"] = orgs
                    .iter()
                    .map(|(o, r)| json!({"id": o.id, "name": o.name, "role": r.as_str()}))
                    .collect();
                println!("{v}");
                return Ok(());
            }
            println!("id:      {}", printable(&user.id));
            println!("email:   {}", printable(&user.email));
            println!("name:    {}", printable(&user.name));
            println!("admin:   {}", user.is_admin);
            if let Some(d) = user.disabled_at {
                println!("disabled: since {}", d.to_rfc3339());
            }
            println!("created: {}", user.created_at.to_rfc3339());
            for (o, r) in &orgs {
                println!(
                    "member:  {} of {} ({})",
                    r.as_str(),
                    printable(&o.name),
                    printable(&o.id)
                );
            }
            Ok(())
        }
        ReadUsers::Disable(Named { id, json }) => {
            set_disabled(store, &id, Some(SystemClock.now()), json).await
        }
        ReadUsers::Enable(Named { id, json }) => set_disabled(store, &id, None, json).await,
        ReadUsers::ResetMfa(Named { id, json }) => reset_mfa(store, &id, json).await,
        ReadUsers::SetPassword(args) => {
            let user = find_user(store, &args.user).await?;
            let password = read_password(args.password.as_ref(), args.password_stdin)?;
            let hash = hash_password(password).await.map_err(|e| anyhow!("{e}"))?;
            let now = SystemClock.now();
            let end_grants = args.end_grants.then_some(now);
            if !store
                .set_user_password(&user.id, &hash, None, end_grants)
                .await?
            {
                bail!("no such user");
            }
            tracing::info!(user_id = %user.id, by = "cli", end_grants = args.end_grants, "password replaced; sessions ended");
            let ended = if args.end_grants {
                "every session, grant and API key ended"
            } else {
                "every session ended"
            };
            let event = Caller::operator()
                .did(Kind::PasswordChanged)
                .target(&user.id)
                .detail(format!("by an operator; {ended}"));
            record_in(store, now, event).await;
            if args.json {
                let mut v = user_json(&user);
                if let Some(obj) = v.as_object_mut() {
                    obj.insert("sessionsEnded".into(), true.into());
                    obj.insert("grantsEnded".into(), args.end_grants.into());
                }
                println!("{v}");
                return Ok(());
            }
            println!(
                "password of {} replaced; {}",
                printable(&user.email),
                if args.end_grants {
                    "their sessions and grants have ended and their API keys are disabled"
                } else {
                    "their sessions have ended"
                }
            );
            Ok(())
        }
    }
}

/// Removes the second factors of the user named by id or email.
async fn reset_mfa(store: &dyn Store, named: &str, json: bool) -> anyhow::Result<()> {
    let user = find_user(store, named).await?;
    let app = store.remove_totp(&user.id).await?;
    let passkeys = store.remove_passkeys(&user.id).await?;
    let removed = app || passkeys > 0;
    if removed {
        tracing::info!(user_id = %user.id, by = "cli", "second factors removed");
        let event = Caller::operator()
            .did(Kind::SecondFactorReset)
            .target(&user.id)
            .detail(format!(
                "removed by an operator: {}{passkeys} passkey(s)",
                if app {
                    "authenticator app and recovery codes, "
                } else {
                    ""
                }
            ));
        record_in(store, SystemClock.now(), event).await;
    }
    if json {
        let mut v = user_json(&user);
        if let Some(obj) = v.as_object_mut() {
            obj.insert("secondFactorRemoved".into(), removed.into());
            obj.insert("passkeysRemoved".into(), passkeys.into());
        }
        println!("{v}");
    } else if removed {
        println!(
            "{} has no second factor any more: their password alone signs them in until they set one up again",
            printable(&user.email)
        );
    } else {
        println!("{} had no second factor", printable(&user.email));
    }
    Ok(())
}

/// Disables (`Some(now)`) or enables (`None`) the user named by id or email.
async fn set_disabled(
    store: &dyn Store,
    named: &str,
    at: Option<chrono::DateTime<chrono::Utc>>,
    json: bool,
) -> anyhow::Result<()> {
    let user = find_user(store, named).await?;
    if !store.set_user_disabled(&user.id, at).await? {
        bail!("no such user");
    }
    let user = store
        .get_user(&user.id)
        .await?
        .ok_or_else(|| anyhow!("no such user"))?;
    let what = if at.is_some() { "disabled" } else { "enabled" };
    tracing::info!(user_id = %user.id, by = "cli", "user {what}");
    let kind = if at.is_some() {
        Kind::PersonDisabled
    } else {
        Kind::PersonEnabled
    };
    let event = Caller::operator().did(kind).target(&user.id);
    record_in(store, SystemClock.now(), event).await;
    if json {
        println!("{}", user_json(&user));
    } else if at.is_some() {
        println!(
            "{} is disabled: they cannot sign in, and their sessions and grants have ended",
            printable(&user.email)
        );
    } else {
        println!(
            "{} is enabled: they can sign in again",
            printable(&user.email)
        );
    }
    Ok(())
}

/// Runs an `orgs` read command.
pub async fn run_orgs(store: &dyn Store, command: ReadOrgs) -> anyhow::Result<()> {
    match command {
        ReadOrgs::List(page) => {
            let (orgs, total) = store.list_organizations(page.limit, page.offset).await?;
            if page.json {
                let rows = orgs.iter().map(org_json).collect();
                println!("{}", page_json(&page, rows, total));
                return Ok(());
            }
            for o in &orgs {
                println!("{}  {}", printable(&o.id), printable(&o.name));
            }
            println!("{} of {total} shown", orgs.len());
            Ok(())
        }
        ReadOrgs::Show(Named { id, json }) => {
            let org = find_org(store, &id).await?;
            let members = store.members_of(&org.id).await?;
            let owners = members.iter().filter(|(_, r)| *r == Role::Owner).count();
            if json {
                let mut v = org_json(&org);
                v["members"] = members.len().into();
                v["owners"] = owners.into();
                println!("{v}");
                return Ok(());
            }
            println!("id:      {}", printable(&org.id));
            println!("name:    {}", printable(&org.name));
            println!("created: {}", org.created_at.to_rfc3339());
            println!("members: {} ({owners} owners)", members.len());
            Ok(())
        }
        ReadOrgs::Members(Named { id, json }) => {
            let org = find_org(store, &id).await?;
            let members = store.members_of(&org.id).await?;
            if json {
                let rows: Vec<Value> = members
                    .iter()
                    .map(|(u, r)| json!({"userId": u.id, "email": u.email, "name": u.name, "role": r.as_str()}))
                    .collect();
                println!(
                    "{}",
                    json!({"organizationId": org.id, "count": rows.len(), "results": rows})
                );
                return Ok(());
            }
            for (u, r) in &members {
                println!(
                    "{:<8} {}  {}  {}",
                    r.as_str(),
                    printable(&u.id),
                    printable(&u.email),
                    printable(&u.name)
                );
            }
            Ok(())
        }
    }
}

async fn find_org(store: &dyn Store, id: &str) -> anyhow::Result<Organization> {
    if castellan_core::text::check(id).is_err() {
        bail!("the organization id must not contain control characters");
    }
    store
        .get_organization(id)
        .await?
        .ok_or_else(|| anyhow!("no organization with id `{}`", printable(id)))
}
