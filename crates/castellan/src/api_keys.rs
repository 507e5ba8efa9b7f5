//! `castellan api-keys …`: create, list, show, disable, enable, revoke and rotate API
//! keys on the configured database, through the same service functions as the management API
//! (`/api-keys`), so its rules (scopes at most the creator's, configured tiers, expiry bounds,
//! revoked is final, rotation in one transaction) live in one place.
//!
//! Who creates a key: by default the operator, who holds the database and so acts with full
//! authority (any well-formed scope; recorded as `createdBy: "castellan-cli"`). With
//! `--client <id>` the key is created as that client acting for itself: its scopes must match
//! the client's allowed scope patterns, and `createdBy` is the client's id. With `--user <id or
//! email> --organization <id>` it is created as that person, as on their account page: they
//! must be a member of the organization, and their role there bounds the scopes
//! (`scopes_a_member_may_give`); `createdBy` is their user id.
//!
//! The key is printed once, in the output of `create` and `rotate`, and never logged.
#![expect(clippy::print_stdout, reason = "a command answers on standard output")]

use anyhow::{anyhow, bail, Context};
use castellan_core::query::truncate_for_message;
use castellan_core::user::normalize_email;
use castellan_core::{ScopePattern, ScopeSet};
use castellan_crypto::{Clock, SystemClock};
use castellan_server::audit::Caller;
use castellan_server::management::api_keys::{
    self as service, scopes_a_member_may_give, CreateError, Creator, KeyDraft, RotateError,
};
use castellan_server::management::http::api_keys::{ApiKeyRepresentation, SHOWN_ONCE_NOTE};
use castellan_server::platform::config::Config;
use castellan_server::platform::state::AppState;
use castellan_store::api_keys::{ApiKeyOwner, ApiKeyStatus};
use castellan_store::Store;
use clap::{Args, Subcommand};
use std::sync::Arc;

/// `createdBy` of a key the operator creates without `--client`. Client and user ids are
/// alphanumeric, so this cannot name one of them.
pub const OPERATOR: &str = "castellan-cli";

#[derive(Debug, Subcommand)]
pub enum ApiKeysCommand {
    /// Create an API key; the key is printed only this once.
    Create(CreateKey),
    /// List API keys (never the keys themselves: their visible prefix and last four characters).
    List(ListKeys),
    /// Show one API key (without the key).
    Show(KeyId),
    /// Refuse a key until it is enabled again.
    Disable(KeyId),
    /// Accept a disabled key again (a revoked key stays revoked).
    Enable(KeyId),
    /// Refuse a key for good.
    Revoke(KeyId),
    /// Replace a key by a new one with the same settings; the new key is printed only this
    /// once and the old one is revoked in the same transaction.
    Rotate(KeyId),
}

#[derive(Debug, Args)]
pub struct CreateKey {
    /// Name of the key (1 to 200 characters), e.g. the job or service using it.
    #[arg(long)]
    pub name: String,
    /// Space-separated scopes the key carries.
    #[arg(long)]
    pub scope: String,
    /// Organization the key belongs to.
    #[arg(long, visible_alias = "org")]
    pub organization: Option<String>,
    /// Rate-limit tier, one of [rate_limit.tiers] (default: api_keys.default_tier).
    #[arg(long)]
    pub tier: Option<String>,
    /// The key expires this many days from now (1 to 3650); without it, it never expires.
    #[arg(long, allow_negative_numbers = true)]
    pub expires_in_days: Option<u32>,
    /// Create the key as this client acting for itself: the scopes must match the client's
    /// allowed scopes. Without --client or --user, the operator creates the key with full
    /// authority.
    #[arg(long, conflicts_with = "user")]
    pub client: Option<String>,
    /// Create the key as this person (id or email), a member of --organization: their role
    /// there bounds the scopes, as on their account page.
    #[arg(long, requires = "organization")]
    pub user: Option<String>,
    /// Print the key as JSON (the same fields as the management API).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ListKeys {
    /// Only the keys of this organization.
    #[arg(long, visible_alias = "org", conflicts_with = "created_by")]
    pub organization: Option<String>,
    /// Only the keys this client or user created (`castellan-cli` for the operator's).
    #[arg(long)]
    pub created_by: Option<String>,
    /// Most keys to list (1 to 500).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=500))]
    pub limit: u32,
    /// Keys to skip (at most 10000).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=10_000))]
    pub offset: u32,
    /// Print {limit, offset, count, total, results} as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct KeyId {
    /// The key's id (`key_…`), not the key.
    pub id: String,
    /// Print the key as JSON.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(
    config: &Config,
    store: Arc<dyn Store>,
    command: ApiKeysCommand,
) -> anyhow::Result<()> {
    let state = castellan_server::start(config.clone(), store, Arc::new(SystemClock))
        .await
        .context("preparing the API-key service")?;
    match command {
        ApiKeysCommand::Create(args) => create(&state, args).await,
        ApiKeysCommand::List(args) => list(&state, args).await,
        ApiKeysCommand::Show(KeyId { id, json }) => {
            let key = state
                .store
                .get_api_key(&id)
                .await?
                .ok_or_else(|| not_found(&id))?;
            print_key(
                &ApiKeyRepresentation::new(&key, None, SystemClock.now()),
                json,
            )
        }
        ApiKeysCommand::Disable(k) => change_status(&state, k, ApiKeyStatus::Disabled).await,
        ApiKeysCommand::Enable(k) => change_status(&state, k, ApiKeyStatus::Active).await,
        ApiKeysCommand::Revoke(k) => change_status(&state, k, ApiKeyStatus::Revoked).await,
        ApiKeysCommand::Rotate(k) => rotate(&state, k).await,
    }
}

/// Who creates a key, and what bounds its scopes.
struct CreatorOf {
    id: String,
    held: ScopeSet,
    allowed: Vec<ScopePattern>,
    /// Who the creator is, for a refusal ("the client given with --client").
    described: &'static str,
}

async fn creator_of(state: &AppState, args: &CreateKey) -> anyhow::Result<CreatorOf> {
    if let Some(client_id) = &args.client {
        let client =
            state.store.get_client(client_id).await?.ok_or_else(|| {
                anyhow!("no client with id '{}'", truncate_for_message(client_id))
            })?;
        return Ok(CreatorOf {
            id: client.id.clone(),
            held: ScopeSet::new(),
            allowed: client.scope.clone(),
            described: "the client given with --client is not allowed it",
        });
    }
    if let Some(user) = &args.user {
        let found = match normalize_email(user) {
            Some(email) if user.contains('@') => state.store.find_user_by_email(&email).await?,
            _ => state.store.get_user(user).await?,
        };
        let user = found.ok_or_else(|| anyhow!("no such user"))?;
        if user.disabled_at.is_some() {
            bail!(
                "{} is disabled: a disabled person creates no key",
                p(&user.email)
            );
        }
        let org = args.organization.as_deref().unwrap_or_default();
        let role = state.store.role_in(org, &user.id).await?.ok_or_else(|| {
            anyhow!(
                "{} is not a member of the organization '{}'",
                user.email,
                truncate_for_message(org)
            )
        })?;
        return Ok(CreatorOf {
            id: user.id,
            held: scopes_a_member_may_give(&state.config, role),
            allowed: Vec::new(),
            described: "the user's role in the organization does not give it",
        });
    }
    // The operator holds every scope it asks for; the service still checks the syntax.
    Ok(CreatorOf {
        id: OPERATOR.to_owned(),
        held: ScopeSet::parse(&args.scope).unwrap_or_default(),
        allowed: Vec::new(),
        described: "",
    })
}

async fn create(state: &AppState, args: CreateKey) -> anyhow::Result<()> {
    let who = creator_of(state, &args).await?;
    let creator = Creator {
        id: &who.id,
        held: &who.held,
        allowed: &who.allowed,
    };
    let draft = KeyDraft {
        name: args.name,
        scope: args.scope,
        organization_id: args.organization,
        tier: args.tier,
        expires_at: None,
        expires_in_days: args.expires_in_days,
    };
    let now = SystemClock.now();
    let created = service::create_api_key(state, draft, &creator, now, &Caller::operator())
        .await
        .map_err(|e| create_error(e, who.described))?;
    let rep = ApiKeyRepresentation::new(&created.stored, Some(created.key.into_exposed()), now);
    print_key(&rep, args.json)
}

async fn list(state: &AppState, args: ListKeys) -> anyhow::Result<()> {
    let owner = match (args.organization, args.created_by) {
        (Some(o), _) => ApiKeyOwner::Organization(o),
        (None, Some(c)) => ApiKeyOwner::Creator(c),
        (None, None) => ApiKeyOwner::All,
    };
    let page = service::list_api_keys(state, &owner, args.limit, args.offset, true).await?;
    let now = SystemClock.now();
    let results: Vec<ApiKeyRepresentation> = page
        .results
        .iter()
        .map(|k| ApiKeyRepresentation::new(k, None, now))
        .collect();
    if args.json {
        let v = serde_json::json!({
            "limit": args.limit,
            "offset": args.offset,
            "count": results.len(),
            "total": page.total,
            "results": results,
        });
        println!("{v}");
        return Ok(());
    }
    for k in &results {
        println!(
            "{}  {:<8}  {}…{}  {:<10}  {}  [{}]",
            p(&k.id),
            k.status,
            p(&k.visible_prefix),
            p(&k.last_four),
            p(&k.tier),
            p(&k.name),
            p(&k.scope)
        );
    }
    match page.total {
        Some(total) => println!("{} of {total} keys (offset {})", results.len(), args.offset),
        None => println!("{} keys (offset {})", results.len(), args.offset),
    }
    Ok(())
}

async fn change_status(state: &AppState, k: KeyId, status: ApiKeyStatus) -> anyhow::Result<()> {
    let key = service::set_status(state, &k.id, status, &Caller::operator())
        .await?
        .ok_or_else(|| not_found(&k.id))?;
    if key.status != status {
        bail!(
            "the API key '{}' is revoked, and a revoked key stays revoked: create a new key",
            key.id
        );
    }
    print_key(
        &ApiKeyRepresentation::new(&key, None, SystemClock.now()),
        k.json,
    )
}

async fn rotate(state: &AppState, k: KeyId) -> anyhow::Result<()> {
    let now = SystemClock.now();
    let created = match service::rotate_api_key(state, &k.id, now, &Caller::operator()).await {
        Ok(c) => c,
        Err(RotateError::NotFound) => return Err(not_found(&k.id)),
        Err(RotateError::Revoked) => {
            bail!("a revoked API key cannot be rotated: create a new key")
        }
        Err(RotateError::Create(e)) => return Err(create_error(e, "")),
        Err(RotateError::Store(e)) => return Err(e.into()),
    };
    let rep = ApiKeyRepresentation::new(&created.stored, Some(created.key.into_exposed()), now);
    print_key(&rep, k.json)
}

fn not_found(id: &str) -> anyhow::Error {
    anyhow!("no API key with id '{}'", truncate_for_message(id))
}

/// The service speaks the management API's field names; say the flags instead. `described`
/// says why the creator does not hold a scope.
fn create_error(e: CreateError, described: &str) -> anyhow::Error {
    match e {
        CreateError::Invalid(m) => anyhow!(
            "{}",
            m.replace("expiresInDays", "--expires-in-days")
                .replace("organizationId", "--organization")
        ),
        CreateError::ScopeNotHeld(s) => anyhow!(
            "the scope `{}` exceeds the creator's scopes (a key carries at most its \
             creator's){}{described}",
            truncate_for_message(&s),
            if described.is_empty() { "" } else { ": " }
        ),
        CreateError::Store(e) => anyhow::Error::new(e).context("storing the API key"),
    }
}

/// A stored value as printed on a terminal: control characters escaped.
fn p(s: &str) -> std::borrow::Cow<'_, str> {
    castellan_core::text::printable(s)
}

/// Prints one key; `rep.key` is there only right after create or rotate, and is printed this
/// once.
fn print_key(rep: &ApiKeyRepresentation, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(rep)?);
        return Ok(());
    }
    let none = "-";
    println!("id:           {}", p(&rep.id));
    if let Some(key) = &rep.key {
        println!("key:          {key}");
        println!("              {SHOWN_ONCE_NOTE}");
    }
    println!("name:         {}", p(&rep.name));
    println!("status:       {}", rep.status);
    println!(
        "shown as:     {}…{}",
        p(&rep.visible_prefix),
        p(&rep.last_four)
    );
    println!("scope:        {}", p(&rep.scope));
    println!(
        "organization: {}",
        p(rep.organization_id.as_deref().unwrap_or(none))
    );
    println!("tier:         {}", p(&rep.tier));
    println!("created:      {} by {}", rep.created_at, p(&rep.created_by));
    println!(
        "expires:      {}",
        rep.expires_at.as_deref().unwrap_or("never")
    );
    println!(
        "last used:    {}",
        rep.last_used_at.as_deref().unwrap_or(none)
    );
    if let Some(old) = &rep.rotated_from {
        println!("replaces:     {} (now revoked)", p(old));
    }
    Ok(())
}
