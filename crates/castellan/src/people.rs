//! `castellan users …` and `castellan orgs …`: create people and organizations and put people
//! in organizations with a role (OWNER, MANAGER or VIEWER). A password is hashed with Argon2id
//! before it is stored and is never printed or logged.
#![expect(clippy::print_stdout, reason = "a command answers on standard output")]

use anyhow::{anyhow, bail, Context};
use castellan_core::ids::alphanumeric_id;
use castellan_core::text::printable;
use castellan_core::user::{normalize_email, Membership, Organization, Role, User};
use castellan_core::Secret;
use castellan_crypto::{random_bytes, Clock, SystemClock};
use castellan_server::audit::{record_in, Caller, Kind};
use castellan_server::people::passwords::hash_password;
use castellan_store::{Store, StoreError};
use clap::{Args, Subcommand};
use std::io::BufRead;

/// Length of generated user and organization ids.
const ID_LEN: usize = 24;

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a user who can sign in with an email and a password.
    Create(CreateUser),
    /// Give a user the admin flag, or take it away: only an administrator's grants may carry
    /// administrative scopes (`manage_*`, `introspect` …).
    SetAdmin {
        /// User id or email.
        #[arg(long)]
        user: String,
        /// true or false.
        #[arg(long, action = clap::ArgAction::Set)]
        admin: bool,
    },
    #[command(flatten)]
    Read(crate::people_read::ReadUsers),
}

#[derive(Debug, Args)]
pub struct CreateUser {
    #[arg(long)]
    pub email: String,
    #[arg(long)]
    pub name: String,
    /// The password (visible in the process list and shell history: prefer --password-stdin).
    #[arg(long, conflicts_with = "password_stdin")]
    pub password: Option<Secret>,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    pub password_stdin: bool,
    /// An administrator: their grants may carry administrative scopes.
    #[arg(long)]
    pub admin: bool,
    /// Print the user as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum OrgsCommand {
    /// Create an organization.
    Create {
        #[arg(long)]
        name: String,
        /// Print the organization as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Add a user to an organization, or change their role there.
    AddMember {
        /// Organization id.
        #[arg(long)]
        org: String,
        /// User id or email.
        #[arg(long)]
        user: String,
        /// OWNER, MANAGER or VIEWER.
        #[arg(long)]
        role: String,
        /// Print the membership as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Change a member's role (lowering it disables the API keys they created there).
    SetRole {
        /// Organization id.
        #[arg(long)]
        org: String,
        /// User id or email.
        #[arg(long)]
        user: String,
        /// OWNER, MANAGER or VIEWER.
        #[arg(long)]
        role: String,
        /// Print the membership as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a member; the API keys they created in the organization are disabled.
    RemoveMember {
        /// Organization id.
        #[arg(long)]
        org: String,
        /// User id or email.
        #[arg(long)]
        user: String,
        /// Print what was removed as JSON.
        #[arg(long)]
        json: bool,
    },
    #[command(flatten)]
    Read(crate::people_read::ReadOrgs),
}

fn new_id() -> anyhow::Result<String> {
    alphanumeric_id(&random_bytes::<64>(), ID_LEN).ok_or_else(|| anyhow!("cannot generate an id"))
}

/// The password given with `--password`, or read from the first line of standard input with
/// `--password-stdin`.
pub fn read_password(given: Option<&Secret>, from_stdin: bool) -> anyhow::Result<Secret> {
    if let Some(p) = given {
        return Ok(p.clone());
    }
    if !from_stdin {
        bail!("give --password or --password-stdin");
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    Ok(Secret::new(line.trim_end_matches(['\r', '\n'])))
}

pub async fn create_user(store: &dyn Store, args: CreateUser) -> anyhow::Result<()> {
    let email = normalize_email(&args.email).ok_or_else(|| anyhow!("--email is not an email"))?;
    let name = args.name.trim().to_owned();
    if name.is_empty() {
        bail!("--name must not be empty");
    }
    if castellan_core::text::check(&name).is_err() {
        bail!("--name must not contain control characters");
    }
    let password = read_password(args.password.as_ref(), args.password_stdin)?;
    let password_hash = hash_password(password).await.map_err(|e| anyhow!("{e}"))?;
    let user = User {
        id: new_id()?,
        email,
        name,
        password_hash,
        created_at: SystemClock.now(),
        is_admin: args.admin,
        disabled_at: None,
        email_verified_at: None,
    };
    match store.insert_user(&user).await {
        Err(StoreError::Conflict(_)) => bail!("a user with this email exists"),
        other => other.context("storing the user")?,
    }
    if args.json {
        let v = serde_json::json!({
            "id": user.id,
            "email": user.email,
            "name": user.name,
            "isAdmin": user.is_admin,
        });
        println!("{v}");
    } else {
        println!("user_id: {}", user.id);
        println!("email:   {}", user.email);
    }
    Ok(())
}

/// `users set-admin`: sets or clears the admin flag of the user named by id or email.
pub async fn set_admin(store: &dyn Store, user: &str, admin: bool) -> anyhow::Result<()> {
    let user = find_user(store, user).await?;
    if !store.set_user_admin(&user.id, admin).await? {
        bail!("no such user");
    }
    let now = if admin {
        "an administrator"
    } else {
        "not an administrator"
    };
    let event = Caller::operator()
        .did(Kind::PersonAdminChanged)
        .target(&user.id)
        .detail(if admin {
            "made an administrator"
        } else {
            "no longer an administrator"
        });
    record_in(store, SystemClock.now(), event).await;
    println!("{} is {now}", printable(&user.email));
    Ok(())
}

/// The user named by id or email.
pub async fn find_user(store: &dyn Store, user: &str) -> anyhow::Result<User> {
    if castellan_core::text::check(user).is_err() {
        bail!("--user must not contain control characters");
    }
    let found = if user.contains('@') {
        let email = normalize_email(user).ok_or_else(|| anyhow!("--user is not an email"))?;
        store.find_user_by_email(&email).await?
    } else {
        store.get_user(user).await?
    };
    found.ok_or_else(|| anyhow!("no such user"))
}

pub async fn run_orgs(store: &dyn Store, command: OrgsCommand) -> anyhow::Result<()> {
    match command {
        OrgsCommand::Read(command) => crate::people_read::run_orgs(store, command).await,
        OrgsCommand::Create { name, json } => {
            let name = name.trim().to_owned();
            if name.is_empty() {
                bail!("--name must not be empty");
            }
            if castellan_core::text::check(&name).is_err() {
                bail!("--name must not contain control characters");
            }
            let org = Organization {
                id: new_id()?,
                name,
                created_at: SystemClock.now(),
            };
            store
                .insert_organization(&org)
                .await
                .context("storing the organization")?;
            if json {
                println!("{}", serde_json::json!({"id": org.id, "name": org.name}));
            } else {
                println!("organization_id: {}", org.id);
            }
            Ok(())
        }
        OrgsCommand::RemoveMember { org, user, json } => {
            let user = find_user(store, &user).await?;
            if !store.remove_membership(&org, &user.id).await? {
                bail!(
                    "{} is not a member of {}",
                    printable(&user.email),
                    printable(&org)
                );
            }
            let event = Caller::operator()
                .did(Kind::MemberRemoved)
                .organization(Some(&org))
                .target(&user.id);
            record_in(store, SystemClock.now(), event).await;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"organizationId": org, "userId": user.id, "removed": true})
                );
                return Ok(());
            }
            println!(
                "{} is no longer a member of {}; their API keys there are disabled",
                printable(&user.email),
                printable(&org)
            );
            Ok(())
        }
        OrgsCommand::SetRole {
            org,
            user,
            role,
            json,
        }
        | OrgsCommand::AddMember {
            org,
            user,
            role,
            json,
        } => {
            let role = Role::parse(&role)
                .ok_or_else(|| anyhow!("--role must be OWNER, MANAGER or VIEWER"))?;
            let user = find_user(store, &user).await?;
            if store.get_organization(&org).await?.is_none() {
                bail!("no such organization");
            }
            store
                .upsert_membership(&Membership {
                    organization_id: org.clone(),
                    user_id: user.id.clone(),
                    role,
                })
                .await
                .context("storing the membership")?;
            let event = Caller::operator()
                .did(Kind::MemberRoleChanged)
                .organization(Some(&org))
                .target(&user.id)
                .detail(format!("role {role}"));
            record_in(store, SystemClock.now(), event).await;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"organizationId": org, "userId": user.id, "role": role.as_str()})
                );
                return Ok(());
            }
            println!(
                "{} is {role} of {}",
                printable(&user.email),
                printable(&org)
            );
            Ok(())
        }
    }
}
