//! The `client_credentials` grant (RFC 6749 §4.4): one cached client lookup, one hash
//! comparison (done by client authentication), one signature; no storage write for JWTs, so a
//! JWT is signed without waiting.

use crate::error::OAuthFailure;
use crate::oauth::token::request::ClientCredentialsRequest;
use crate::oauth::token::IssuedTokens;
use crate::oauth::tokens::{issue_access_token, IssueError, IssuedToken, TokenGrant};
use crate::platform::state::AppState;
use castellan_core::client::Client;
use castellan_core::grant::client_credentials_scopes;
use castellan_core::resource::Audience;
use castellan_core::{OAuthError, ScopeSet};
use chrono::{DateTime, Utc};

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

/// The client's own token for the scope and resource `asked`. A
/// client given JWTs gets one signed at once; an opaque token is stored (boxed: that future is
/// large, and inline it would make every token request's as large).
pub async fn client_credentials(
    state: &AppState,
    client: &Client,
    asked: &ClientCredentialsRequest,
    jkt: Option<&str>,
    now: DateTime<Utc>,
) -> Result<IssuedTokens, OAuthFailure> {
    let scope = client_credentials_scopes(client, asked.scope.as_ref())?;
    let aud = crate::oauth::resources::audience(state, &asked.resources)?;
    let grant = token_grant(client, &scope, &aud, jkt);
    let issued = issue_access_token(state, grant, now).await?;
    Ok(answered(state, client, &scope, issued, jkt, now))
}

/// The client's own token: it is its subject.
fn token_grant<'a>(
    client: &'a Client,
    scope: &'a ScopeSet,
    aud: &'a Audience,
    jkt: Option<&'a str>,
) -> TokenGrant<'a> {
    TokenGrant {
        client,
        subject: &client.id,
        scope,
        audience: aud,
        organization: None,
        jkt,
        act: None,
        expires_by: None,
        sign_in: None,
    }
}

/// The answer carrying `issued`, a token with no person behind it; notes the client's use
/// today (`lastUsedAt`).
pub(crate) fn answered(
    state: &AppState,
    client: &Client,
    scope: &ScopeSet,
    issued: IssuedToken,
    jkt: Option<&str>,
    now: DateTime<Utc>,
) -> IssuedTokens {
    state
        .usage
        .record(&state.store, &client.id, now.date_naive());
    IssuedTokens {
        access_token: issued.token.into_exposed(),
        token_type: crate::oauth::token::grant_tokens::token_type(jkt),
        expires_in: issued.expires_in,
        scope: scope.to_string(),
        created_at: issued.issued_at.timestamp(),
        refresh_token: None,
        id_token: None,
        organization_id: None,
        user_id: None,
        issued_token_type: None,
    }
}
