//! An organization's OAuth apps (seed 001: Settings → Developer → OAuth Apps): its members
//! see them, its OWNERs and MANAGERs register, rotate the secret of and delete them. An app is
//! a client of the authorization-code grant (with refresh tokens), confidential (a server-side
//! app: a secret, shown once) or public (a browser or mobile app: PKCE, no secret), with
//! redirect URIs under the environment's rules and scopes within what the person may give.
//! Every change is an audit event of the organization.

use crate::audit::{self, Caller, Kind};
use crate::management::api_keys::scopes_a_member_may_give;
use crate::management::client_secret::{rotate_client_secret, RotateError, Rotated};
use crate::management::clients::{build_client, ClientDraft};
use crate::platform::state::AppState;
use castellan_core::client::Client;
use castellan_core::user::Role;
use castellan_core::Secret;
use castellan_store::StoreError;

/// The OpenID Connect scopes every app may ask for, beside the catalogue's.
const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// What a person fills in to register an app.
#[derive(Debug, Clone, Default)]
pub struct AppDraft {
    /// Its name, shown on the consent page.
    pub name: String,
    /// Whether it keeps a secret (a server-side app) or not (a browser or mobile app).
    pub public: bool,
    /// Its redirect URIs, matched exactly.
    pub redirect_uris: Vec<String>,
    /// The scopes it may ask for.
    pub scopes: Vec<String>,
}

/// Why an app action was refused.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// What was sent is not acceptable (shown to the person).
    #[error("{0}")]
    Invalid(String),
    /// The person's role in the organization does not let them manage apps.
    #[error("only an OWNER or a MANAGER of the organization manages its apps")]
    NotAllowed,
    /// No such app in this organization (or no such organization of the person's).
    #[error("no such app in this organization")]
    NotFound,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Whether `role` may register, rotate and delete the organization's apps.
pub fn may_manage(role: Role) -> bool {
    role.satisfies(Role::Manager)
}

/// The scopes a person with `role` may give an app: the OpenID Connect scopes and the
/// catalogue's non-administrative scopes their role may give.
pub fn offered_scopes(state: &AppState, role: Role) -> Vec<String> {
    OIDC_SCOPES
        .iter()
        .map(|s| (*s).to_owned())
        .chain(
            scopes_a_member_may_give(&state.config, role)
                .iter()
                .map(|s| s.as_str().to_owned())
                .filter(|s| !OIDC_SCOPES.contains(&s.as_str())),
        )
        .collect()
}

/// The person's role in the organization, which must let them manage its apps.
async fn manager_role(
    state: &AppState,
    organization: &str,
    person: &str,
) -> Result<Role, AppError> {
    match state.store.role_in(organization, person).await? {
        None => Err(AppError::NotFound),
        Some(role) if may_manage(role) => Ok(role),
        Some(_) => Err(AppError::NotAllowed),
    }
}

/// The app `client_id` of the organization.
pub async fn app_of(
    state: &AppState,
    organization: &str,
    client_id: &str,
) -> Result<Client, AppError> {
    if !castellan_core::ids::is_plausible_client_id(client_id)
        || state
            .store
            .organization_of_client(client_id)
            .await?
            .as_deref()
            != Some(organization)
    {
        return Err(AppError::NotFound);
    }
    state
        .store
        .get_client(client_id)
        .await?
        .ok_or(AppError::NotFound)
}

/// Registers an app of the organization for `person` (an OWNER or a MANAGER there); answers
/// it and its secret (a confidential app's, shown once).
pub async fn register_app(
    state: &AppState,
    organization: &str,
    person: &str,
    draft: AppDraft,
    by: &Caller,
) -> Result<(Client, Option<Secret>), AppError> {
    let role = manager_role(state, organization, person).await?;
    if draft.scopes.is_empty() {
        return Err(AppError::Invalid("Choose at least one permission.".into()));
    }
    let offered = offered_scopes(state, role);
    if let Some(s) = draft.scopes.iter().find(|s| !offered.contains(s)) {
        return Err(AppError::Invalid(format!(
            "“{}” is not a permission you can give an app.",
            castellan_core::query::truncate_for_message(s)
        )));
    }
    if draft.redirect_uris.is_empty() {
        return Err(AppError::Invalid(
            "Give at least one redirect URI: where the app receives its answer.".into(),
        ));
    }
    let client_draft = ClientDraft {
        name: draft.name,
        scope: draft.scopes.join(" "),
        client_kind: Some(
            if draft.public {
                "public"
            } else {
                "confidential"
            }
            .to_owned(),
        ),
        grant_types: Some(vec![
            "authorization_code".to_owned(),
            "refresh_token".to_owned(),
        ]),
        redirect_uris: draft.redirect_uris,
        token_endpoint_auth_method: Some(
            if draft.public {
                "none"
            } else {
                "client_secret_basic_or_post"
            }
            .to_owned(),
        ),
        ..ClientDraft::default()
    };
    let now = state.clock.now();
    let (client, secret) = build_client(client_draft, &state.config, now)
        .map_err(|e| AppError::Invalid(format!("The app was not registered: {e}.")))?;
    state
        .store
        .insert_organization_client(&client, organization, person)
        .await?;
    tracing::info!(client_id = %client.id, organization_id = %organization, "OAuth app registered");
    audit::record(
        state,
        by.did(Kind::ClientCreated)
            .organization(Some(organization))
            .target(&client.id)
            .detail(format!(
                "OAuth app, scope {}",
                castellan_core::scope::patterns_to_string(&client.scope)
            )),
    )
    .await;
    Ok((client, secret))
}

/// Gives an app of the organization a new secret; the current one is still accepted for
/// `overlap` seconds (`clients.secret_overlap_seconds` when `None`).
pub async fn rotate_app_secret(
    state: &AppState,
    organization: &str,
    person: &str,
    client_id: &str,
    overlap: Option<u32>,
    by: &Caller,
) -> Result<Rotated, AppError> {
    manager_role(state, organization, person).await?;
    app_of(state, organization, client_id).await?;
    let rotated = rotate_client_secret(state, client_id, overlap, state.clock.now())
        .await
        .map_err(|e| match e {
            RotateError::NotFound => AppError::NotFound,
            RotateError::Store(e) => AppError::Store(e),
            e => AppError::Invalid(format!("The secret was not rotated: {e}.")),
        })?;
    let overlap = rotated
        .client
        .previous_secret
        .as_ref()
        .map_or(0, |p| (p.expires_at - state.clock.now()).num_seconds());
    audit::record(
        state,
        by.did(Kind::ClientSecretRotated)
            .organization(Some(organization))
            .target(client_id)
            .detail(format!("old secret accepted for {overlap} s")),
    )
    .await;
    Ok(rotated)
}

/// Deletes an app of the organization, with every grant and token of it.
pub async fn delete_app(
    state: &AppState,
    organization: &str,
    person: &str,
    client_id: &str,
    by: &Caller,
) -> Result<Client, AppError> {
    manager_role(state, organization, person).await?;
    app_of(state, organization, client_id).await?;
    let client = state
        .store
        .delete_client(client_id)
        .await?
        .ok_or(AppError::NotFound)?;
    state.clients.invalidate(client_id);
    state.usage.forget(client_id);
    tracing::info!(client_id = %client_id, organization_id = %organization, "OAuth app deleted");
    audit::record(
        state,
        by.did(Kind::ClientDeleted)
            .organization(Some(organization))
            .target(client_id),
    )
    .await;
    Ok(client)
}
