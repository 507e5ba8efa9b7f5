//! The resources (RFC 8707) a request names and the audience (`aud`) they give its access
//! tokens: the authorization, PAR and token requests name them, checked against
//! `token.resources` when that is configured; a grant keeps the ones it was given and its token
//! requests may narrow them, never widen them. No resource named means the default audience.

use crate::platform::state::AppState;
use castellan_core::resource::{self, Audience};
use castellan_core::OAuthError;

/// The resources `asked` names, checked (`invalid_target` for a malformed one, or one outside
/// `token.resources` when configured); `None` when it names none.
pub fn requested(state: &AppState, asked: &[String]) -> Result<Option<Audience>, OAuthError> {
    resource::requested(asked, &state.config.token.resources)
}

/// The default audience (`token.default_audience`, else the issuer).
pub fn default_audience(state: &AppState) -> Audience {
    Audience::one(state.config.default_audience())
}

/// The audience of a token asked for outside any grant (client credentials, password): the
/// resources asked, or the default audience.
pub fn audience(state: &AppState, asked: &[String]) -> Result<Audience, OAuthError> {
    Ok(requested(state, asked)?.unwrap_or_else(|| default_audience(state)))
}

/// The resources of a grant as stored (`None` for a grant given none: the default audience).
pub fn granted(state: &AppState, stored: Option<&Audience>) -> Audience {
    stored.cloned().unwrap_or_else(|| default_audience(state))
}

/// The audience of a token under a grant for `granted`: the resources asked when they are a
/// subset of the grant's, all of them when none are asked; `invalid_target` otherwise.
pub fn narrowed(granted: &Audience, asked: &[String]) -> Result<Audience, OAuthError> {
    if asked.is_empty() {
        return Ok(granted.clone());
    }
    // Shape only: the grant's resources were checked against the configuration when granted.
    let asked = resource::requested(asked, &[])?;
    resource::narrow(granted, asked.as_ref())
}
