//! Second factors: an authenticator app (TOTP, RFC 6238) and its recovery codes.
//!
//! A person with a confirmed authenticator signs in in two steps. The password alone does not
//! start a session: it earns a *pending sign-in* cookie, claims naming the person and their
//! password (by a hash of its stored hash, so a password change voids it), valid for
//! [`PENDING_SECONDS`], under an HMAC-SHA-256 keyed with the secret derived from the signing
//! keys (shared by every replica, never published: nothing signed with a published key, which
//! a careless resource server might take for a token). The second-factor page then takes a code from the app (six digits,
//! accepted within one step either side and once) or a recovery code (used up), and only then
//! starts the session, with `amr` `pwd otp`. Attempts are counted and delayed per person as
//! password attempts are (`login_throttle`, under the account `second-factor:<user id>`), a
//! right code does not clear those delays, and after [`MAX_FAILED_CODES`] wrong codes in a row
//! the app's codes are refused until a recovery code is used.
//!
//! A person's passkeys (`people::passkeys`) are second factors too: after the password, the
//! second-factor page offers them besides the app's codes.
//!
//! A policy can require a second factor, of any kind or a passkey: deployment-wide
//! (`pages.require_second_factor`, `pages.require_passkey`) or by an organization's OWNER for
//! its members. A session that does not meet it then counts for nothing
//! ([`session_meets_policy`], applied where a page reads its session), and a person without
//! what it asks sets it up right after their password, before any session starts.
//!
//! Enrolment stores a new secret unconfirmed, shows it as a QR code and as text, and counts it
//! only once a first code from the app confirms it; ten recovery codes are then shown once and
//! stored as hashes. Removing the app needs a fresh code or a recovery code.

use crate::people::login_throttle::LoginDelayed;
use crate::people::sessions::set_cookie;
use crate::platform::state::AppState;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use castellan_core::authn::SecondFactorPolicy;
use castellan_core::user::User;
use castellan_core::{Environment, Secret};
use castellan_crypto::{recovery_code, totp};
use castellan_store::people::Session;
use castellan_store::StoreResult;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// How long the password step of a two-step sign-in stays good.
pub const PENDING_SECONDS: i64 = 300;
/// The pending sign-in cookie's name in `local`.
pub const PENDING_COOKIE: &str = "castellan_pending";
/// Its name everywhere else (Secure, exact host).
pub const HOST_PENDING_COOKIE: &str = "__Host-castellan_pending";
/// What the MAC of a pending sign-in is keyed for: no other value this server MACs with the
/// same secret (device user codes) can pass for one.
const PENDING_LABEL: &[u8] = b"castellan pending sign-in\0";
/// Label separating the password tag from every other hash of a password hash.
const PASSWORD_LABEL: &str = "castellan pending sign-in under password:";

/// The pending sign-in cookie's name in `env`.
pub fn pending_cookie_name(env: Environment) -> &'static str {
    if env == Environment::Local {
        PENDING_COOKIE
    } else {
        HOST_PENDING_COOKIE
    }
}

/// Whether the person has a second factor: a confirmed authenticator app or a passkey (then
/// every sign-in with their password asks for one).
pub async fn has_second_factor(state: &AppState, user_id: &str) -> StoreResult<bool> {
    Ok(has_app(state, user_id).await? || has_passkey(state, user_id).await?)
}

/// Whether the person has a confirmed authenticator app.
pub async fn has_app(state: &AppState, user_id: &str) -> StoreResult<bool> {
    Ok(state
        .store
        .get_totp(user_id)
        .await?
        .is_some_and(|f| f.confirmed_at.is_some()))
}

/// Whether the person has a passkey.
pub async fn has_passkey(state: &AppState, user_id: &str) -> StoreResult<bool> {
    Ok(!state.store.list_passkeys(user_id).await?.is_empty())
}

/// Which second factors the second-factor page offers a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Factors {
    /// Codes of their authenticator app and recovery codes (not when a policy asks for a
    /// passkey).
    pub app: bool,
    /// Their passkeys (when the deployment offers passkeys).
    pub passkey: bool,
}

/// The second factors to offer the person.
pub async fn factors_to_offer(state: &AppState, user_id: &str) -> StoreResult<Factors> {
    let passkey_only = second_factor_policy(state, user_id).await? == SecondFactorPolicy::Passkey;
    let passkey = has_passkey(state, user_id).await?;
    Ok(Factors {
        // Under a passkeys-only policy the app only leads a person without a passkey on to
        // registering one.
        app: (!passkey_only || !passkey) && has_app(state, user_id).await?,
        passkey: crate::people::passkeys::offered(state) && passkey,
    })
}

/// What the policies ask of the person's sign-ins: the strongest of the deployment's
/// (`pages.require_passkey`, `pages.require_second_factor`) and their organizations'.
pub async fn second_factor_policy(
    state: &AppState,
    user_id: &str,
) -> StoreResult<SecondFactorPolicy> {
    let pages = &state.config.pages;
    let deployment = if pages.require_passkey {
        SecondFactorPolicy::Passkey
    } else if pages.require_second_factor {
        SecondFactorPolicy::Any
    } else {
        SecondFactorPolicy::Optional
    };
    if deployment == SecondFactorPolicy::Passkey {
        return Ok(deployment);
    }
    Ok(deployment.max(state.store.second_factor_policy_for(user_id).await?))
}

/// Whether a session counts under the policies: one whose sign-in meets what they ask of its
/// person.
pub async fn session_meets_policy(state: &AppState, session: &Session) -> StoreResult<bool> {
    if session.amr.has_passkey() {
        return Ok(true);
    }
    Ok(second_factor_policy(state, &session.user_id)
        .await?
        .met_by(session.amr))
}

#[derive(Serialize, Deserialize)]
struct PendingClaims {
    /// The person.
    sub: String,
    /// The password's tag ([`password_tag`]).
    pwd: String,
    /// A random id: no two pending sign-ins are the same value.
    jti: String,
    exp: i64,
    /// Whether a code of the person's app was proved besides the password (a person who must
    /// register a passkey and has an app proves the app first).
    #[serde(default)]
    otp: bool,
}

/// A pending sign-in: who proved their password, and whether a code of their app too.
pub struct Pending {
    /// The person.
    pub user: User,
    /// Whether a code of their authenticator app was proved too.
    pub otp: bool,
}

fn password_tag(password_hash: &str) -> String {
    URL_SAFE_NO_PAD
        .encode(castellan_crypto::hash_secret(&format!("{PASSWORD_LABEL}{password_hash}")).0)
}

/// The MAC of a pending sign-in's claims (`payload`, base64url) under `secret`.
fn pending_mac(secret: &[u8; 32], payload: &str) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    mac.update(PENDING_LABEL);
    mac.update(payload.as_bytes());
    mac.finalize().into_bytes().into()
}

/// The `Set-Cookie` of a pending sign-in of `user`, whose password was proved at `now` (and a
/// code of their app, when `otp`).
pub fn issue_pending(
    state: &AppState,
    user: &User,
    now: DateTime<Utc>,
    otp: bool,
) -> Option<String> {
    let claims = PendingClaims {
        sub: user.id.clone(),
        pwd: password_tag(&user.password_hash),
        jti: castellan_crypto::random_id(22),
        exp: (now + Duration::seconds(PENDING_SECONDS)).timestamp(),
        otp,
    };
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).ok()?);
    let mac = pending_mac(&state.keys.derived_secret(), &payload);
    let value = format!("{payload}.{}", URL_SAFE_NO_PAD.encode(mac));
    Some(set_cookie(
        state,
        pending_cookie_name(state.config.environment),
        &value,
        u32::try_from(PENDING_SECONDS).ok(),
    ))
}

/// The pending sign-in of a cookie this server issued (its MAC checks under the secret derived
/// from the signing keys, or the one before it), unexpired at `now`, of a person still under
/// their current password, and not disabled.
pub async fn read_pending(
    state: &AppState,
    cookie: &str,
    now: DateTime<Utc>,
) -> StoreResult<Option<Pending>> {
    let Some((payload, mac)) = cookie.split_once('.') else {
        return Ok(None);
    };
    let Ok(mac) = URL_SAFE_NO_PAD.decode(mac) else {
        return Ok(None);
    };
    let (secret, previous) = state.keys.derived_secrets();
    let authentic = std::iter::once(secret)
        .chain(previous)
        .any(|k| bool::from(pending_mac(&k, payload).ct_eq(mac.as_slice())));
    if !authentic {
        return Ok(None);
    }
    let Some(claims) = URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|json| serde_json::from_slice::<PendingClaims>(&json).ok())
    else {
        return Ok(None);
    };
    if claims.exp <= now.timestamp() {
        return Ok(None);
    }
    let Some(user) = state.store.get_user(&claims.sub).await? else {
        return Ok(None);
    };
    let same: bool = claims
        .pwd
        .as_bytes()
        .ct_eq(password_tag(&user.password_hash).as_bytes())
        .into();
    Ok((same && user.disabled_at.is_none()).then_some(Pending {
        user,
        otp: claims.otp,
    }))
}

/// Whether a pending sign-in may register a passkey, a policy asking for one: only a person
/// without one, and, who has an authenticator app, only once a code of it was proved. A
/// password alone never adds a factor to a person who has one.
pub async fn may_register_passkey(state: &AppState, pending: &Pending) -> StoreResult<bool> {
    let id = &pending.user.id;
    Ok(
        second_factor_policy(state, id).await? == SecondFactorPolicy::Passkey
            && !has_passkey(state, id).await?
            && (pending.otp || !has_app(state, id).await?),
    )
}

/// Which kind of code was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeUsed {
    /// A code from the authenticator app.
    App,
    /// A recovery code (now used up).
    Recovery,
}

/// Why a second-factor code was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum CodeError {
    /// Not a current code of the app, nor an unused recovery code.
    #[error("That code is not valid")]
    Invalid,
    /// Too many wrong codes since the last right one: the app's codes are refused until a
    /// recovery code is used.
    #[error("Too many wrong codes; use a recovery code")]
    Locked,
    /// A delay runs for this person's second factor; the code was not checked.
    #[error("Too many attempts; wait and try again")]
    Throttled(LoginDelayed),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] castellan_store::StoreError),
}

/// Longest code a form's field is read to; anything longer is no code.
pub const MAX_CODE_LEN: usize = 64;

/// Wrong codes since the last right one after which the app's codes are refused until a
/// recovery code is used (NIST SP 800-63B §5.2.2 allows at most 100; six digits call for far
/// fewer).
pub const MAX_FAILED_CODES: u32 = 10;

/// The throttle account of a person's second factor. It has no `@` and does not start with
/// `not-an-email:`, so no typed sign-in name is counted under it (see
/// `people::login::throttle_account`).
fn throttle_account(user_id: &str) -> String {
    format!("second-factor:{user_id}")
}

/// Checks a code typed as `user_id`'s second factor at `now` from address `ip`, counting the
/// attempt first (and refusing it while a delay runs): six digits are a code of the app,
/// anything else a recovery code. An accepted code is used up.
pub async fn check_code(
    state: &AppState,
    user_id: &str,
    typed: &str,
    ip: &str,
    now: DateTime<Utc>,
) -> Result<CodeUsed, CodeError> {
    let limiting = &state.rate_limiting;
    let account = throttle_account(user_id);
    limiting
        .login
        .attempt(&limiting.limiter, &account, ip)
        .await
        .map_err(CodeError::Throttled)?;
    // A right code clears only its address's count, not the account-wide one (as a right
    // password does): whoever guesses codes would get the free attempts back each time the
    // person signs in.
    match use_code(state, user_id, typed, now).await? {
        Some(used) => {
            limiting
                .login
                .succeeded_at_address(&limiting.limiter, &account, ip)
                .await;
            Ok(used)
        }
        None => {
            let failed = state.store.record_failed_code(user_id).await?;
            Err(if failed >= MAX_FAILED_CODES {
                CodeError::Locked
            } else {
                CodeError::Invalid
            })
        }
    }
}

/// Uses up `typed` as a code of `user_id`'s confirmed app or one of their recovery codes.
async fn use_code(
    state: &AppState,
    user_id: &str,
    typed: &str,
    now: DateTime<Utc>,
) -> StoreResult<Option<CodeUsed>> {
    let digits: String = typed.chars().filter(|c| !c.is_whitespace()).collect();
    if digits.len() == totp::DIGITS && digits.bytes().all(|b| b.is_ascii_digit()) {
        let Some(factor) = state.store.get_totp(user_id).await? else {
            return Ok(None);
        };
        if factor.confirmed_at.is_none() {
            return Ok(None);
        }
        let Some(step) = totp::matching_step(
            factor.secret.expose(),
            &digits,
            now.timestamp(),
            factor.last_step,
        ) else {
            return Ok(None);
        };
        let used = state
            .store
            .use_totp_step(user_id, step, MAX_FAILED_CODES, now)
            .await?;
        return Ok(used.then_some(CodeUsed::App));
    }
    let Some(hash) = recovery_code::hash_recovery_code(typed) else {
        return Ok(None);
    };
    let used = state.store.use_recovery_code(user_id, &hash.0, now).await?;
    Ok(used.then_some(CodeUsed::Recovery))
}

/// New recovery codes: as shown (once), and their hashes (as stored).
pub fn new_recovery_codes() -> (Vec<Secret>, Vec<[u8; 32]>) {
    (0..recovery_code::COUNT)
        .map(|_| {
            let code = recovery_code::generate_recovery_code();
            let hash = recovery_code::hash_recovery_code(code.expose()).map_or([0; 32], |h| h.0);
            (code, hash)
        })
        .unzip()
}

/// Starts enrolling an authenticator app for `user_id`: the new secret (base32), or `None`
/// when they have a confirmed one already.
pub async fn start_enrolment(
    state: &AppState,
    user_id: &str,
    now: DateTime<Utc>,
) -> StoreResult<Option<Secret>> {
    let secret = totp::generate_totp_secret();
    let started = state
        .store
        .start_totp(user_id, secret.expose(), now)
        .await?;
    Ok(started.then_some(secret))
}

/// What confirming an enrolment came to.
pub enum Confirmed {
    /// The app counts from now on: its recovery codes, to show once.
    Yes(Vec<Secret>),
    /// The code is not the app's (nothing changed).
    WrongCode,
    /// No enrolment waits (finished meanwhile, or never started).
    NothingWaiting,
}

/// Confirms `user_id`'s waiting enrolment of `secret` (as the form showing it carried it
/// back) with a first code from the app. Another secret than the one waiting is nothing
/// waiting: a form can only confirm the enrolment it showed.
pub async fn confirm_enrolment(
    state: &AppState,
    user_id: &str,
    secret: &str,
    typed: &str,
    now: DateTime<Utc>,
) -> StoreResult<Confirmed> {
    let Some(factor) = state.store.get_totp(user_id).await? else {
        return Ok(Confirmed::NothingWaiting);
    };
    let same: bool = factor
        .secret
        .expose()
        .as_bytes()
        .ct_eq(secret.as_bytes())
        .into();
    if factor.confirmed_at.is_some() || !same {
        return Ok(Confirmed::NothingWaiting);
    }
    let digits: String = typed.chars().filter(|c| !c.is_whitespace()).collect();
    let Some(step) = totp::matching_step(factor.secret.expose(), &digits, now.timestamp(), 0)
    else {
        return Ok(Confirmed::WrongCode);
    };
    let (codes, hashes) = new_recovery_codes();
    let confirmed = state
        .store
        .confirm_totp(user_id, factor.secret.expose(), step, &hashes, now)
        .await?;
    Ok(if confirmed {
        Confirmed::Yes(codes)
    } else {
        Confirmed::NothingWaiting
    })
}

/// An enrolment waiting for its first code, as the person sees it.
pub struct Enrolling {
    /// The QR code of the `otpauth://` link, an SVG element of this server's making.
    pub qr_svg: String,
    /// The secret as text, in groups of four.
    pub secret: String,
    /// The secret as the confirming form carries it back (only a form carrying the secret it
    /// was shown confirms it, so no other session of the account is ever shown it).
    pub raw: String,
}

/// How authenticator apps name this server: the issuer's host (and port), so two deployments
/// are told apart.
fn issuer_label(state: &AppState) -> String {
    url::Url::parse(&state.config.issuer)
        .ok()
        .and_then(|u| {
            u.host_str().map(|h| {
                u.port()
                    .map_or_else(|| h.to_owned(), |p| format!("{h}:{p}"))
            })
        })
        .unwrap_or_else(|| "Castellan".to_owned())
}

/// The enrolment view of `secret` for the person with address `email`.
pub fn enrolling(state: &AppState, email: &str, secret: &Secret) -> Option<Enrolling> {
    let uri = totp::otpauth_uri(secret.expose(), &issuer_label(state), email);
    let grouped = secret
        .expose()
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    Some(Enrolling {
        qr_svg: qr_svg(&uri)?,
        secret: grouped,
        raw: secret.expose().to_owned(),
    })
}

/// The QR code of an `otpauth://` link, as an `<svg>` element to put in a page (dark modules
/// on white, with the quiet zone the standard asks for; no XML declaration).
pub fn qr_svg(uri: &str) -> Option<String> {
    let code = qrcode::QrCode::new(uri.as_bytes()).ok()?;
    let document = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .dark_color(qrcode::render::svg::Color("#000000"))
        .light_color(qrcode::render::svg::Color("#ffffff"))
        .build();
    let start = document.find("<svg")?;
    Some(document[start..].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_are_ten_distinct_codes_hashed_as_typed() {
        let (codes, hashes) = new_recovery_codes();
        assert_eq!(codes.len(), 10);
        let mut distinct = hashes.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), 10);
        for (code, hash) in codes.iter().zip(&hashes) {
            assert_eq!(
                recovery_code::hash_recovery_code(code.expose()).map(|h| h.0),
                Some(*hash)
            );
        }
    }

    #[test]
    fn the_qr_code_is_an_svg_document() {
        let svg = qr_svg("otpauth://totp/Castellan:ana%40example.com?secret=ABC").unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..40]);
        assert!(svg.trim_end().ends_with("</svg>"));
    }
}
