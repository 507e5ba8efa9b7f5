//! The `client_credentials` grant (RFC 6749 §4.4, SPEC 4.4): one cached client lookup, one
//! hash comparison (done by the caller), one signature; no storage write for JWTs.

use crate::error::OAuthFailure;
use crate::extract::params::OAuthParams;
use crate::services::tokens::{
    issue_access_token, sign_access_token, IssueError, IssuedToken, TokenGrant,
};
use crate::state::AppState;
use castellan_core::client::{Client, GrantType};
use castellan_core::grant::client_credentials_scopes;
use castellan_core::{OAuthError, ScopeSet};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// The token endpoint's success answer (RFC 6749 §5.1, SPEC 4.2). `Debug` hides the tokens.
#[derive(Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u32,
    pub scope: String,
    pub created_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |t: &Option<String>| t.as_ref().map(|_| "[redacted]");
        f.debug_struct("TokenResponse")
            .field("access_token", &"[redacted]")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .field("created_at", &self.created_at)
            .field("refresh_token", &hidden(&self.refresh_token))
            .field("id_token", &hidden(&self.id_token))
            .field("organization_id", &self.organization_id)
            .field("user_id", &self.user_id)
            .finish()
    }
}

/// The `scope` parameter, parsed (`invalid_scope` when malformed).
pub fn requested_scope(params: &OAuthParams) -> Result<Option<ScopeSet>, OAuthError> {
    params
        .get("scope")
        .map(|s| {
            ScopeSet::parse(s).map_err(|e| {
                OAuthError::invalid_scope(format!("the scope parameter is malformed: {e}"))
            })
        })
        .transpose()
}

/// The audience from a `resource` parameter (RFC 8707), or the default.
pub fn audience(state: &AppState, params: &OAuthParams) -> Result<String, OAuthError> {
    let Some(resource) = params.get("resource") else {
        return Ok(state.config.default_audience().to_owned());
    };
    crate::config::check_resource_uri(resource).map_err(|m| {
        OAuthError::new(
            castellan_core::OAuthErrorCode::InvalidTarget,
            format!("resource {m}"),
        )
    })?;
    let allowed = &state.config.token.resources;
    if !allowed.is_empty() && !allowed.iter().any(|r| r == resource) {
        return Err(OAuthError::new(
            castellan_core::OAuthErrorCode::InvalidTarget,
            "the resource is not one this server issues tokens for",
        ));
    }
    Ok(resource.to_owned())
}

impl From<IssueError> for OAuthFailure {
    fn from(e: IssueError) -> Self {
        match e {
            IssueError::Store(s) => s.into(),
            IssueError::NoKey | IssueError::Key(_) => {
                tracing::error!(error = %e, "issuing a token failed");
                OAuthError::server_error("the token could not be signed").into()
            }
        }
    }
}

pub async fn client_credentials(
    state: &AppState,
    client: &Client,
    params: &OAuthParams,
    now: DateTime<Utc>,
) -> Result<TokenResponse, OAuthFailure> {
    let (scope, aud) = granted(state, client, params)?;
    let issued = issue_access_token(state, token_grant(client, &scope, &aud), now).await?;
    Ok(answered(state, client, &scope, issued, now))
}

/// [`client_credentials`] for a client given JWTs, without waiting: nothing is stored.
pub fn client_credentials_signed(
    state: &AppState,
    client: &Client,
    params: &OAuthParams,
    now: DateTime<Utc>,
) -> Result<TokenResponse, OAuthFailure> {
    let (scope, aud) = granted(state, client, params)?;
    let issued = sign_access_token(state, &token_grant(client, &scope, &aud), None, now)?;
    Ok(answered(state, client, &scope, issued, now))
}

/// The scope and audience `client` is granted for the request, or why it gets none.
fn granted(
    state: &AppState,
    client: &Client,
    params: &OAuthParams,
) -> Result<(ScopeSet, String), OAuthFailure> {
    if !client.allows_grant(GrantType::ClientCredentials) {
        return Err(OAuthError::unauthorized_client(
            "the client is not allowed the client_credentials grant",
        )
        .into());
    }
    let requested = requested_scope(params)?;
    let scope = client_credentials_scopes(client, requested.as_ref())?;
    let aud = audience(state, params)?;
    Ok((scope, aud))
}

/// The client's own token: it is its subject.
fn token_grant<'a>(client: &'a Client, scope: &'a ScopeSet, aud: &'a str) -> TokenGrant<'a> {
    TokenGrant {
        client,
        subject: &client.id,
        scope,
        audience: aud,
        organization: None,
    }
}

/// The answer carrying `issued`; notes the client's use today (`lastUsedAt`).
fn answered(
    state: &AppState,
    client: &Client,
    scope: &ScopeSet,
    issued: IssuedToken,
    now: DateTime<Utc>,
) -> TokenResponse {
    state
        .usage
        .record(&state.store, &client.id, now.date_naive());
    TokenResponse {
        access_token: issued.token.into_exposed(),
        token_type: "Bearer",
        expires_in: issued.expires_in,
        scope: scope.to_string(),
        created_at: issued.issued_at.timestamp(),
        refresh_token: None,
        id_token: None,
        organization_id: None,
        user_id: None,
    }
}
