//! Dynamic client registration (RFC 7591 §3) and the management of a registration
//! (RFC 7592 §2): a client created from checked metadata, the `software_id` rule,
//! and reading, replacing and deleting a registration.
//!
//! The `software_id` rule: a registration by an authenticated party (the client of the bearer
//! access token presented and, for a person's token, that person; see [`party`]) with a
//! `software_id` that party registered before answers
//! the same client, updated like an RFC 7592 replace, with a new secret and registration access
//! token (only hashes are stored, so fresh ones must be issued to be returned). Anonymous
//! registrations have no party and always create a new client, so one party's client is never
//! handed to another.

pub mod access;
pub mod party;
pub mod response;

use crate::audit::{self, Caller, Kind};
use crate::error::OAuthFailure;
use crate::management::clients::new_client_id;
use crate::platform::config::ADMIN_SCOPE_NAMES;
use crate::platform::state::AppState;
use castellan_core::client::{Client, Registration, TokenFormat};
use castellan_core::registration::{parse_metadata, same_scope, ClientMetadata, MetadataRules};
use castellan_core::scope::{patterns_to_string, ScopePattern};
use castellan_core::{OAuthError, Secret};
use castellan_crypto::{generate_secret, hash_secret, verify_secret};
use party::Party;
use serde_json::Value;
use std::net::IpAddr;

/// Name of a client that registered without `client_name` or `software_id`.
const DEFAULT_NAME: &str = "Registered client";

/// A registration's outcome: the client, and the credentials issued by this request.
pub struct Registered {
    /// The registered client.
    pub client: Client,
    /// Its client secret, when this request issued one.
    pub secret: Option<Secret>,
    /// Its registration access token (RFC 7592), when this request issued one.
    pub access_token: Option<Secret>,
    /// `false` when an earlier registration of the same party and `software_id` was reused.
    pub created: bool,
}

fn checked_metadata(state: &AppState, body: &Value) -> Result<ClientMetadata, OAuthError> {
    let open = open_scopes(state);
    let meta = parse_metadata(
        body,
        &MetadataRules {
            environment: state.config.environment,
            open_scopes: &open,
            admin_scope_names: &ADMIN_SCOPE_NAMES,
        },
    )?;
    if let Some(jwks) = meta.extra.get(castellan_core::client_keys::JWKS) {
        crate::oauth::client_keys::check_jwks(jwks)
            .map_err(|e| OAuthError::invalid_client_metadata(format!("jwks: {e}")))?;
    }
    Ok(meta)
}

/// The scope patterns open to self-registered clients, without repeats (also those of
/// metadata-document clients).
pub fn open_scopes(state: &AppState) -> Vec<ScopePattern> {
    let mut out: Vec<ScopePattern> = Vec::new();
    for p in state.config.registration_scopes() {
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

fn client_name(meta: &ClientMetadata) -> String {
    meta.client_name
        .clone()
        .or_else(|| meta.software_id.clone())
        .unwrap_or_else(|| DEFAULT_NAME.to_owned())
}

/// Registers a client (RFC 7591 §3.1), or answers the party's earlier registration of the same
/// `software_id`, updated.
pub async fn register(
    state: &AppState,
    party: Option<Party>,
    body: &Value,
    address: IpAddr,
) -> Result<Registered, OAuthFailure> {
    let by = match &party {
        Some(p) => Caller::client(p.as_str(), Some(address)),
        None => Caller::system(Some(address)),
    };
    let meta = checked_metadata(state, body)?;
    if let (Some(party), Some(software_id)) = (&party, &meta.software_id) {
        let earlier = state
            .store
            .find_registered_client(software_id, party.as_str())
            .await?;
        if let Some(client) = earlier {
            return reregister(state, client, meta, &by).await;
        }
    }
    let now = state.clock.now();
    let kind = meta.kind();
    let secret = meta.issues_secret().then(generate_secret);
    let access_token = generate_secret();
    let name = client_name(&meta);
    let client = Client {
        id: new_client_id(),
        name,
        kind,
        secret_hash: secret.as_ref().map(|s| hash_secret(s.expose())),
        previous_secret: None,
        scope: meta.scope.unwrap_or_else(|| open_scopes(state)),
        default_scope: None,
        grant_types: meta.grant_types,
        redirect_uris: meta.redirect_uris,
        auth_method: meta.auth_method,
        token_format: TokenFormat::Jwt,
        public_client_credentials: false,
        access_token_validity_seconds: None,
        refresh_token_validity_seconds: None,
        created_at: now,
        last_used_at: None,
        delete_at: None,
        registration: Some(Registration {
            software_id: meta.software_id,
            registered_by: party.map(|p| p.as_str().to_owned()),
            access_token_hash: hash_secret(access_token.expose()),
        }),
        metadata: meta.extra,
        tier: None,
        tenants: Vec::new(),
    };
    state.store.insert_client(&client).await?;
    tracing::info!(
        client_id = %client.id,
        registered_by = client.registration.as_ref().and_then(|r| r.registered_by.as_deref()).unwrap_or("anonymous"),
        "client registered"
    );
    audit::record(
        state,
        by.did(Kind::ClientCreated)
            .target(&client.id)
            .detail("dynamic registration"),
    )
    .await;
    Ok(Registered {
        client,
        secret,
        access_token: Some(access_token),
        created: true,
    })
}

/// A repeated registration: replaces the metadata and rotates the secret and the registration
/// access token.
async fn reregister(
    state: &AppState,
    mut client: Client,
    meta: ClientMetadata,
    by: &Caller,
) -> Result<Registered, OAuthFailure> {
    let secret = apply(&mut client, meta, true)?;
    let access_token = generate_secret();
    if let Some(reg) = client.registration.as_mut() {
        reg.access_token_hash = hash_secret(access_token.expose());
    }
    save(state, &client).await?;
    tracing::info!(client_id = %client.id, "client re-registered; secret and registration token rotated");
    audit::record(
        state,
        by.did(Kind::ClientSecretRotated)
            .target(&client.id)
            .detail("registered again: metadata replaced, secret and registration token rotated"),
    )
    .await;
    Ok(Registered {
        client,
        secret,
        access_token: Some(access_token),
        created: false,
    })
}

/// Replaces a registration's metadata (RFC 7592 §2.2).
pub async fn update(
    state: &AppState,
    mut client: Client,
    body: &Value,
    address: IpAddr,
) -> Result<Registered, OAuthFailure> {
    let meta = checked_metadata(state, body)?;
    if meta.client_id.as_deref() != Some(client.id.as_str()) {
        return Err(OAuthError::invalid_request(
            "an update must include client_id, equal to the client's id (RFC 7592 §2.2)",
        )
        .into());
    }
    if let Some(presented) = &meta.client_secret {
        let matches = client
            .secret_hash
            .as_ref()
            .is_some_and(|h| verify_secret(presented.expose(), h));
        if !matches {
            return Err(OAuthError::invalid_client_metadata(
                "client_secret does not match the client's current secret; it cannot be chosen by the client",
            )
            .into());
        }
    }
    let secret = apply(&mut client, meta, false)?;
    save(state, &client).await?;
    tracing::info!(client_id = %client.id, "client registration updated");
    audit::record(
        state,
        Caller::client(&client.id, Some(address))
            .did(Kind::ClientUpdated)
            .target(&client.id)
            .detail("registration updated (RFC 7592)"),
    )
    .await;
    Ok(Registered {
        client,
        secret,
        access_token: None,
        created: false,
    })
}

/// Deletes a registered client (RFC 7592 §2.3).
pub async fn delete(
    state: &AppState,
    client: &Client,
    address: IpAddr,
) -> Result<(), OAuthFailure> {
    state.store.delete_client(&client.id).await?;
    state.clients.invalidate(&client.id);
    state.usage.forget(&client.id);
    tracing::info!(client_id = %client.id, "client registration deleted");
    audit::record(
        state,
        Caller::client(&client.id, Some(address))
            .did(Kind::ClientDeleted)
            .target(&client.id)
            .detail("registration deleted (RFC 7592)"),
    )
    .await;
    Ok(())
}

async fn save(state: &AppState, client: &Client) -> Result<(), OAuthFailure> {
    let found = state.store.update_client(client).await?;
    state.clients.invalidate(&client.id);
    if found {
        Ok(())
    } else {
        // Deleted concurrently: its registration access token no longer names a client.
        Err(OAuthError::invalid_token("the client registration no longer exists").into())
    }
}

/// Applies replacement metadata to `client`; scope and `software_id` never change. Answers the
/// new secret when one is issued: on `rotate`, or when a public client becomes confidential.
fn apply(
    client: &mut Client,
    meta: ClientMetadata,
    rotate: bool,
) -> Result<Option<Secret>, OAuthError> {
    if let Some(requested) = &meta.scope {
        if !same_scope(requested, &client.scope) {
            return Err(OAuthError::invalid_client_metadata(format!(
                "scope cannot change after registration; the client's scope is `{}`",
                patterns_to_string(&client.scope)
            )));
        }
    }
    let current_software = client
        .registration
        .as_ref()
        .and_then(|r| r.software_id.as_deref());
    if meta.software_id.is_some() && meta.software_id.as_deref() != current_software {
        return Err(OAuthError::invalid_client_metadata(
            "software_id cannot change after registration",
        ));
    }
    let kind = meta.kind();
    // A secret replaced here ends at once: no previous one stays accepted.
    let secret = if !meta.issues_secret() {
        client.secret_hash = None;
        client.previous_secret = None;
        None
    } else if rotate || client.secret_hash.is_none() {
        let s = generate_secret();
        client.secret_hash = Some(hash_secret(s.expose()));
        client.previous_secret = None;
        Some(s)
    } else {
        None
    };
    let fallback_name = current_software.map(str::to_owned);
    client.name = meta
        .client_name
        .or(fallback_name)
        .unwrap_or_else(|| DEFAULT_NAME.to_owned());
    client.kind = kind;
    client.grant_types = meta.grant_types;
    client.redirect_uris = meta.redirect_uris;
    client.auth_method = meta.auth_method;
    client.metadata = meta.extra;
    Ok(secret)
}
