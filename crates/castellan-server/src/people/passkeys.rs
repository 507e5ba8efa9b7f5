//! Passkeys (WebAuthn Level 2, through `webauthn-rs`): a person registers one or more from the
//! account area, then signs in with one instead of a password (a discoverable credential: the
//! passkey says whose it is), or uses one as the second factor after the password.
//!
//! The relying party id is the issuer's host and the only origin the issuer's origin, so a
//! deployment whose issuer is an IP address (WebAuthn allows only domain names) offers no
//! passkeys. Every passkey is asked for user verification (a PIN or biometric on the
//! authenticator) at registration and at each use; attestation `none` is asked for and any
//! format accepted, since Castellan trusts no particular maker. Registration asks for a
//! discoverable (resident) credential, which username-less sign-in needs.
//!
//! A ceremony's two halves meet through storage: the options half stores the library's state
//! (the challenge and what it expects) under a random id for [`CEREMONY_SECONDS`], and the
//! answer takes it (deletes it) before checking anything, so each challenge is answered once
//! whatever the outcome, on any replica. A passkey's signature counter and flags are updated at
//! each use; a counter that goes backwards (a cloned authenticator) is refused.

use crate::platform::state::AppState;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use castellan_core::authn::Method;
use castellan_core::user::User;
use castellan_store::factors::{Ceremony, CeremonyKind, StoredPasskey};
use castellan_store::StoreError;
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, DiscoverableKey, Passkey, PasskeyAuthentication,
    PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential, Url, Uuid, Webauthn,
    WebauthnBuilder, WebauthnError,
};

/// How long a ceremony can be answered (the authenticator's own timeout is the same).
pub const CEREMONY_SECONDS: i64 = 300;
/// Longest name a passkey can be given.
pub const MAX_NAME_CHARS: usize = 64;
/// Longest answer (a credential as JSON) read; real ones are a few kilobytes at most.
pub const MAX_CREDENTIAL_BYTES: usize = 12 * 1024;

/// Why a passkey ceremony failed. The messages are shown to the person.
#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    /// The issuer is not a domain name (or not a URL): WebAuthn cannot be offered.
    #[error("Passkeys are not offered here: the server's address is not a domain name.")]
    Unavailable,
    /// The answer is not a WebAuthn credential, or the name is not usable.
    #[error("{0}")]
    Malformed(&'static str),
    /// No such ceremony waits: expired, answered already, or started for someone else.
    #[error("That passkey request expired or was already answered; try again.")]
    NoCeremony,
    /// The answer did not verify (origin, relying party, challenge, signature, counter…).
    #[error("{0}")]
    Refused(&'static str),
    /// The passkey is not registered here (or not to this person).
    #[error("This passkey is not registered here.")]
    UnknownPasskey,
    /// The passkey is registered already.
    #[error("This passkey is registered already.")]
    Duplicate,
    /// The passkey's person is disabled.
    #[error("This account is disabled; ask an administrator")]
    Disabled,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl PasskeyError {
    /// What the person is told (no value from the request in it).
    pub fn message(&self) -> &'static str {
        match self {
            PasskeyError::Unavailable => {
                "Passkeys are not offered here: the server's address is not a domain name."
            }
            PasskeyError::Malformed(m) | PasskeyError::Refused(m) => m,
            PasskeyError::NoCeremony => {
                "That passkey request expired or was already answered; try again."
            }
            PasskeyError::UnknownPasskey => "This passkey is not registered here.",
            PasskeyError::Duplicate => "This passkey is registered already.",
            PasskeyError::Disabled => "This account is disabled; ask an administrator",
            PasskeyError::Store(_) => "The passkey could not be checked; try again.",
        }
    }
}

/// The relying party of this deployment: its id is the issuer's host, its origin the issuer's;
/// `None` when the issuer's host is not a domain name.
fn relying_party(state: &AppState) -> Option<Webauthn> {
    let issuer = Url::parse(&state.config.issuer).ok()?;
    let rp_id = issuer.domain()?.to_owned();
    let origin = Url::parse(&issuer.origin().ascii_serialization()).ok()?;
    WebauthnBuilder::new(&rp_id, &origin)
        .ok()?
        .rp_name(&rp_id)
        .build()
        .ok()
}

/// Whether this deployment offers passkeys (its issuer is a domain name).
pub fn offered(state: &AppState) -> bool {
    relying_party(state).is_some()
}

/// A credential id as stored: base64url without padding.
fn credential_key(id: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(id)
}

/// The signature counter of the credential as the library stores it.
fn signature_counter(passkey: &Passkey) -> u32 {
    serde_json::to_value(passkey)
        .ok()
        .and_then(|v| v["cred"]["counter"].as_u64())
        .and_then(|c| u32::try_from(c).ok())
        .unwrap_or(0)
}

/// Whether the credential as the library stores it may be synced by its authenticator.
fn backup_eligible(passkey: &Passkey) -> bool {
    serde_json::to_value(passkey)
        .ok()
        .and_then(|v| v["cred"]["backup_eligible"].as_bool())
        .unwrap_or(false)
}

/// What a refusal of the library means, as a sentence (never a value from the answer).
fn refusal(e: &WebauthnError) -> &'static str {
    tracing::info!(reason = ?e, "a passkey's answer was refused");
    match e {
        WebauthnError::InvalidRPOrigin => "The passkey was refused: it answered another site.",
        WebauthnError::InvalidRPIDHash => {
            "The passkey was refused: it was made for another relying party."
        }
        WebauthnError::MismatchedChallenge => {
            "The passkey was refused: it answered another request."
        }
        WebauthnError::UserNotVerified => {
            "The passkey was refused: the authenticator did not verify you (PIN or biometric)."
        }
        WebauthnError::UserNotPresent => {
            "The passkey was refused: the authenticator did not see you."
        }
        WebauthnError::CredentialPossibleCompromise => {
            "The passkey was refused: its signature counter went backwards (a copied authenticator?)."
        }
        WebauthnError::InvalidClientDataType => {
            "The passkey was refused: it answered another kind of request."
        }
        _ => "The passkey was refused: its answer did not verify.",
    }
}

/// Stores a ceremony's state for `user_id` (none: a discoverable sign-in); answers its id.
async fn store_ceremony(
    state: &AppState,
    kind: CeremonyKind,
    user_id: Option<&str>,
    ceremony_state: &impl serde::Serialize,
    now: DateTime<Utc>,
) -> Result<String, PasskeyError> {
    let id = castellan_crypto::random_id(32);
    let ceremony = Ceremony {
        id: id.clone(),
        kind,
        user_id: user_id.map(str::to_owned),
        state: serde_json::to_string(ceremony_state)
            .map_err(|_| PasskeyError::Malformed("The passkey request could not be prepared."))?,
        expires_at: now + Duration::seconds(CEREMONY_SECONDS),
    };
    state.store.put_ceremony(&ceremony).await?;
    Ok(id)
}

/// Takes the ceremony `id` of `kind` started for `user_id`; anything else is no ceremony.
async fn take_ceremony(
    state: &AppState,
    id: &str,
    kind: CeremonyKind,
    user_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<String, PasskeyError> {
    if id.is_empty() || id.len() > 64 {
        return Err(PasskeyError::NoCeremony);
    }
    match state.store.take_ceremony(id, kind, now).await? {
        Some(c) if c.user_id.as_deref() == user_id => Ok(c.state),
        _ => Err(PasskeyError::NoCeremony),
    }
}

/// The options of a ceremony as the page's script reads them: `{"ceremony": id, "publicKey":
/// {…}}`.
fn options(ceremony: String, challenge: &impl serde::Serialize) -> Result<Value, PasskeyError> {
    let mut value = serde_json::to_value(challenge)
        .map_err(|_| PasskeyError::Malformed("The passkey request could not be prepared."))?;
    let public_key = value
        .get_mut("publicKey")
        .map(Value::take)
        .ok_or(PasskeyError::Malformed(
            "The passkey request could not be prepared.",
        ))?;
    Ok(serde_json::json!({ "ceremony": ceremony, "publicKey": public_key }))
}

/// A passkey's name as typed: trimmed, one to [`MAX_NAME_CHARS`] characters, no control
/// characters.
pub fn passkey_name(typed: &str) -> Result<String, PasskeyError> {
    let name = typed.trim();
    if name.is_empty() {
        return Err(PasskeyError::Malformed("Give the passkey a name."));
    }
    if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(PasskeyError::Malformed(
            "A passkey's name is at most 64 characters, without control characters.",
        ));
    }
    Ok(name.to_owned())
}

/// The person's passkeys, as the library reads them (unreadable rows left out, logged).
fn library_passkeys(stored: &[StoredPasskey]) -> Vec<Passkey> {
    stored
        .iter()
        .filter_map(|p| match serde_json::from_str::<Passkey>(&p.credential) {
            Ok(k) => Some(k),
            Err(_) => {
                tracing::error!(passkey_id = %p.id, "a stored passkey could not be read");
                None
            }
        })
        .collect()
}

/// Starts registering a passkey for `user`: the options for `navigator.credentials.create`.
/// Their passkeys are excluded (an authenticator holding one says so instead of making a
/// second), and a discoverable credential with user verification is asked for.
pub async fn start_registration(
    state: &AppState,
    user: &User,
    now: DateTime<Utc>,
) -> Result<Value, PasskeyError> {
    let rp = relying_party(state).ok_or(PasskeyError::Unavailable)?;
    let existing = state.store.list_passkeys(&user.id).await?;
    let handle = existing
        .first()
        .and_then(|p| Uuid::parse_str(&p.user_handle).ok())
        .unwrap_or_else(|| Uuid::from_bytes(castellan_crypto::random_bytes::<16>()));
    let exclude = library_passkeys(&existing)
        .iter()
        .map(|k| k.cred_id().clone())
        .collect::<Vec<_>>();
    let (mut challenge, registration) = rp
        .start_passkey_registration(handle, &user.email, &user.name, Some(exclude))
        .map_err(|_| PasskeyError::Malformed("The passkey request could not be prepared."))?;
    // Username-less sign-in needs the authenticator to keep the credential (a resident key).
    if let Some(selection) = challenge.public_key.authenticator_selection.as_mut() {
        selection.resident_key = Some(webauthn_rs_proto::ResidentKeyRequirement::Required);
        selection.require_resident_key = true;
    }
    let id = store_ceremony(
        state,
        CeremonyKind::Register,
        Some(&user.id),
        &Registering {
            handle: handle.to_string(),
            registration,
        },
        now,
    )
    .await?;
    options(id, &challenge)
}

/// What a registration ceremony keeps: the library's state and the user handle it gave.
#[derive(serde::Serialize, serde::Deserialize)]
struct Registering {
    handle: String,
    registration: PasskeyRegistration,
}

/// Finishes registering a passkey for `user` named `name` from the browser's answer
/// `credential` (JSON) to the ceremony `ceremony`.
pub async fn finish_registration(
    state: &AppState,
    user: &User,
    ceremony: &str,
    credential: &str,
    name: &str,
    now: DateTime<Utc>,
) -> Result<StoredPasskey, PasskeyError> {
    let rp = relying_party(state).ok_or(PasskeyError::Unavailable)?;
    let name = passkey_name(name)?;
    // The ceremony is used up first, whatever comes of the answer.
    let kept = take_ceremony(state, ceremony, CeremonyKind::Register, Some(&user.id), now).await?;
    let kept: Registering = serde_json::from_str(&kept).map_err(|_| PasskeyError::NoCeremony)?;
    if credential.len() > MAX_CREDENTIAL_BYTES {
        return Err(PasskeyError::Malformed("The passkey's answer is too long."));
    }
    let answer: RegisterPublicKeyCredential = serde_json::from_str(credential)
        .map_err(|_| PasskeyError::Malformed("The passkey's answer could not be read."))?;
    // A passkey registered already (the options excluded the person's own; the library refuses
    // those as if their algorithm had changed): said as it is.
    if state
        .store
        .passkey_by_credential(&credential_key(&answer.raw_id))
        .await?
        .is_some()
    {
        return Err(PasskeyError::Duplicate);
    }
    let passkey = rp
        .finish_passkey_registration(&answer, &kept.registration)
        .map_err(|e| PasskeyError::Refused(refusal(&e)))?;
    let stored = StoredPasskey {
        id: format!("pk_{}", castellan_crypto::random_id(22)),
        user_id: user.id.clone(),
        user_handle: kept.handle,
        credential_id: credential_key(passkey.cred_id()),
        name,
        credential: serde_json::to_string(&passkey)
            .map_err(|_| PasskeyError::Malformed("The passkey could not be stored."))?,
        backup_eligible: backup_eligible(&passkey),
        created_at: now,
        last_used_at: None,
    };
    match state.store.add_passkey(&stored).await {
        Ok(()) => Ok(stored),
        Err(StoreError::Conflict(_)) => Err(PasskeyError::Duplicate),
        Err(e) => Err(e.into()),
    }
}

/// What a sign-in ceremony keeps: for a person (a second factor, a step-up) or anyone.
#[derive(serde::Serialize, serde::Deserialize)]
enum SigningIn {
    Person(PasskeyAuthentication),
    Anyone(DiscoverableAuthentication),
}

/// Starts a sign-in with a passkey: for `person` (who proved their password, or is signed in
/// and steps up) with one of their passkeys, else for whoever's passkey answers (a
/// discoverable credential). The options for `navigator.credentials.get`.
pub async fn start_sign_in(
    state: &AppState,
    person: Option<&User>,
    now: DateTime<Utc>,
) -> Result<Value, PasskeyError> {
    let rp = relying_party(state).ok_or(PasskeyError::Unavailable)?;
    let prepare = |_| PasskeyError::Malformed("The passkey request could not be prepared.");
    match person {
        Some(user) => {
            let keys = library_passkeys(&state.store.list_passkeys(&user.id).await?);
            if keys.is_empty() {
                return Err(PasskeyError::UnknownPasskey);
            }
            let (challenge, auth) = rp.start_passkey_authentication(&keys).map_err(prepare)?;
            let kept = SigningIn::Person(auth);
            let id =
                store_ceremony(state, CeremonyKind::SignIn, Some(&user.id), &kept, now).await?;
            options(id, &challenge)
        }
        None => {
            let (challenge, auth) = rp.start_discoverable_authentication().map_err(prepare)?;
            let kept = SigningIn::Anyone(auth);
            let id = store_ceremony(state, CeremonyKind::SignIn, None, &kept, now).await?;
            // Not `mediation: conditional`: the page asks when the person presses its button.
            options(id, &challenge)
        }
    }
}

/// Finishes a sign-in with a passkey: the browser's answer `credential` (JSON) to the ceremony
/// `ceremony` started for `person` (or anyone). The person the passkey is theirs, and the
/// method it counts as (`hwk`, or `swk` for a passkey its authenticator may sync).
pub async fn finish_sign_in(
    state: &AppState,
    ceremony: &str,
    credential: &str,
    person: Option<&User>,
    now: DateTime<Utc>,
) -> Result<(User, Method), PasskeyError> {
    let rp = relying_party(state).ok_or(PasskeyError::Unavailable)?;
    let kept = take_ceremony(
        state,
        ceremony,
        CeremonyKind::SignIn,
        person.map(|u| u.id.as_str()),
        now,
    )
    .await?;
    let kept: SigningIn = serde_json::from_str(&kept).map_err(|_| PasskeyError::NoCeremony)?;
    if credential.len() > MAX_CREDENTIAL_BYTES {
        return Err(PasskeyError::Malformed("The passkey's answer is too long."));
    }
    let answer: PublicKeyCredential = serde_json::from_str(credential)
        .map_err(|_| PasskeyError::Malformed("The passkey's answer could not be read."))?;
    let key = credential_key(answer.get_credential_id());
    let stored = state
        .store
        .passkey_by_credential(&key)
        .await?
        .ok_or(PasskeyError::UnknownPasskey)?;
    if person.is_some_and(|u| u.id != stored.user_id) {
        return Err(PasskeyError::UnknownPasskey);
    }
    let mut passkey: Passkey = serde_json::from_str(&stored.credential)
        .map_err(|_| StoreError::Corrupt("a stored passkey could not be read".into()))?;
    let result = match kept {
        SigningIn::Person(auth) if person.is_some() => {
            rp.finish_passkey_authentication(&answer, &auth)
        }
        SigningIn::Anyone(auth) if person.is_none() => {
            // The user handle the authenticator gave back must be the passkey's person's.
            let (handle, _) = rp
                .identify_discoverable_authentication(&answer)
                .map_err(|e| PasskeyError::Refused(refusal(&e)))?;
            if handle.to_string() != stored.user_handle {
                return Err(PasskeyError::UnknownPasskey);
            }
            rp.finish_discoverable_authentication(&answer, auth, &[DiscoverableKey::from(&passkey)])
        }
        _ => return Err(PasskeyError::NoCeremony),
    }
    .map_err(|e| PasskeyError::Refused(refusal(&e)))?;
    // The library compared the counter with the copy the ceremony kept when it started; the
    // stored one may have moved on since (another sign-in meanwhile): a copy of the
    // authenticator answering behind the original is caught here.
    let before = signature_counter(&passkey);
    if (result.counter() > 0 || before > 0) && result.counter() <= before {
        return Err(PasskeyError::Refused(refusal(
            &WebauthnError::CredentialPossibleCompromise,
        )));
    }
    let user = state
        .store
        .get_user(&stored.user_id)
        .await?
        .ok_or(PasskeyError::UnknownPasskey)?;
    if user.disabled_at.is_some() {
        return Err(PasskeyError::Disabled);
    }
    passkey.update_credential(&result);
    let updated = serde_json::to_string(&passkey)
        .map_err(|_| StoreError::Corrupt("a passkey could not be written".into()))?;
    // Written only over the credential read above: of two uses racing, one wins.
    if !state
        .store
        .record_passkey_use(&stored.id, &stored.credential, &updated, now)
        .await?
    {
        return Err(PasskeyError::Refused(
            "The passkey was used elsewhere at the same moment, or removed; try again.",
        ));
    }
    let method = if result.backup_eligible() {
        Method::Swk
    } else {
        Method::Hwk
    };
    Ok((user, method))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_bounded_and_printable() {
        assert_eq!(passkey_name("  Laptop ").unwrap(), "Laptop");
        assert!(passkey_name("   ").is_err());
        assert!(passkey_name(&"x".repeat(65)).is_err());
        assert!(passkey_name("a\u{0}b").is_err());
        assert_eq!(passkey_name(&"é".repeat(64)).unwrap().chars().count(), 64);
    }
}
