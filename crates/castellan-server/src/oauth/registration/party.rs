//! Who is registering (RFC 7591 §3: the optional initial access token): the mode in
//! force decides whether a bearer access token is required, and a valid one names the party
//! that the `software_id` rule matches repeated registrations against: `client:<client_id>`
//! for a client's own token, `client:<client_id>:user:<subject>` for a person's token.
//!
//! The person is part of the party because everyone signed in through one portal client holds
//! a token of that client: were the party the client alone, a second person re-registering the
//! first one's `software_id` would be handed the first one's client, a fresh secret for it and
//! the consents its users gave.

use crate::error::OAuthFailure;
use crate::oauth::tokens::{check_access_token, Audience};
use crate::platform::config::RegistrationMode;
use crate::platform::state::AppState;
use castellan_core::scope::grants_permission;
use castellan_core::{OAuthError, OAuthErrorCode, ScopeSet};

/// The scope an initial access token needs in `token` mode.
pub const REGISTER_SCOPE: &str = "register_clients";

/// An authenticated registrant, as stored in `Registration::registered_by`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party(String);

impl Party {
    /// A client registering for itself.
    pub fn of_client(client_id: &str) -> Self {
        Party(format!("client:{client_id}"))
    }

    /// The party of an access token of `client_id` about `subject`: the client for its own
    /// token (the subject is the client), else that person through that client.
    pub fn of_token(client_id: &str, subject: &str) -> Self {
        if subject == client_id {
            Party::of_client(client_id)
        } else {
            Party(format!("client:{client_id}:user:{subject}"))
        }
    }

    /// The party as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The bearer token a request presented (RFC 6750 §2.1): `None` without an `Authorization`
/// header, `Err` for one that is not a single `Bearer <token>` of a plausible size.
pub type PresentedBearer<'a> = Result<Option<&'a str>, OAuthError>;

/// Who registers with a token: the party, and the DPoP key the token is bound to (the HTTP
/// handler then requires a proof of it, RFC 9449 §7).
#[derive(Debug)]
pub struct Registrant {
    /// The party the token names.
    pub party: Party,
    /// The key the token is bound to (`cnf.jkt`), if any.
    pub jkt: Option<String>,
}

/// Applies the registration mode to a request: `None` is an anonymous registrant (open mode
/// without a token). A token, when sent, must be valid in every mode.
pub async fn registrant(
    state: &AppState,
    presented: PresentedBearer<'_>,
) -> Result<Option<Registrant>, OAuthFailure> {
    let mode = state.config.registration_mode();
    if mode == RegistrationMode::Disabled {
        return Err(OAuthError::new(
            OAuthErrorCode::AccessDenied,
            "dynamic client registration is disabled on this server",
        )
        .into());
    }
    let Some(token) = presented? else {
        return match mode {
            RegistrationMode::Open => Ok(None),
            RegistrationMode::Token | RegistrationMode::Disabled => {
                Err(OAuthError::invalid_token(
                    "registration requires an initial access token: send `Authorization: Bearer <access token>` with the register_clients scope",
                )
                .into())
            }
        };
    };
    let checked =
        match check_access_token(state, token, state.clock.now(), Audience::Castellan).await? {
            Ok(c) => c,
            Err(reason) => {
                return Err(OAuthError::invalid_token(format!(
                    "the access token is not valid: {}",
                    reason.describe()
                ))
                .into())
            }
        };
    if mode == RegistrationMode::Token {
        let scopes = ScopeSet::parse(checked.scope()).unwrap_or_default();
        if !grants_permission(&scopes, REGISTER_SCOPE, &state.config.project_key) {
            return Err(OAuthError::insufficient_scope(
                "the access token lacks the register_clients scope",
            )
            .into());
        }
    }
    Ok(Some(Registrant {
        party: Party::of_token(checked.client_id(), checked.subject()),
        jkt: checked.jkt().map(str::to_owned),
    }))
}

#[cfg(test)]
mod tests {
    use super::Party;

    #[test]
    fn people_of_one_client_are_parties_of_their_own() {
        assert_eq!(
            Party::of_token("portal", "portal").as_str(),
            "client:portal"
        );
        let alice = Party::of_token("portal", "u-alice");
        let bob = Party::of_token("portal", "u-bob");
        assert_eq!(alice.as_str(), "client:portal:user:u-alice");
        assert_ne!(alice, bob);
        assert_ne!(alice, Party::of_client("portal"));
    }
}
