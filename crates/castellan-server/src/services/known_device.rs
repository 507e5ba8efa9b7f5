//! Known devices (OWASP authentication cheat sheet, "device cookies"): a browser that signed
//! in to an account before is counted apart from everyone else guessing at that account.
//!
//! After a successful sign-in on the login page the browser gets a device cookie: a JWS signed
//! with the server's access-token key (so every replica can check it and nothing is stored),
//! of type `castellan-device+jwt`, naming the account by a hash (never the email) and a random
//! device id, for [`LIFETIME_DAYS`]. A later sign-in to the same account that presents it is
//! counted per device only (`login_throttle`), so an attacker spreading guesses over many
//! addresses can keep the account-wide delay running without ever delaying the person whose
//! account it is on their own browser. A cookie for another account, an altered or expired one,
//! or one signed by a key that has since been retired is simply not recognised: the attempt is
//! then counted per account and address like any other.
//!
//! Outside `local` the cookie is named `__Host-castellan_device` (Secure, exact host); it is
//! HttpOnly and SameSite=Lax like the session cookie. A browser keeps one, for the last account
//! it signed in to.

use crate::services::sessions::set_cookie;
use crate::state::AppState;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use castellan_core::Environment;
use castellan_crypto::jws;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

/// The device cookie's name in `local` (plain http allowed, so no `__Host-` prefix).
pub const DEVICE_COOKIE: &str = "castellan_device";
/// The device cookie's name everywhere else.
pub const HOST_DEVICE_COOKIE: &str = "__Host-castellan_device";
/// How long a browser stays known after its last successful sign-in.
pub const LIFETIME_DAYS: i64 = 90;
/// The JWS type of a device cookie: no other token of this server verifies as one.
const TYP: &str = "castellan-device+jwt";
/// Label separating the account tag from every other hash of an email.
const ACCOUNT_LABEL: &str = "castellan known device of account:";

/// The device cookie's name in `env`.
pub fn cookie_name(env: Environment) -> &'static str {
    if env == Environment::Local {
        DEVICE_COOKIE
    } else {
        HOST_DEVICE_COOKIE
    }
}

#[derive(Serialize, Deserialize)]
struct DeviceClaims {
    iss: String,
    /// The account's tag ([`account_tag`]).
    sub: String,
    /// The device id.
    jti: String,
    iat: i64,
    exp: i64,
}

/// The account as the cookie names it: a labelled SHA-256 of the throttle account (the
/// normalised email), so the cookie does not carry the email.
fn account_tag(account: &str) -> String {
    URL_SAFE_NO_PAD.encode(castellan_crypto::hash_secret(&format!("{ACCOUNT_LABEL}{account}")).0)
}

/// The `Set-Cookie` that makes this browser a known device of `account` (a new device id each
/// time), or `None` when no signing key is at hand (the sign-in goes on without it).
pub fn issue(state: &AppState, account: &str, now: DateTime<Utc>) -> Option<String> {
    let keys = state.keys.keys();
    let key = keys.signer(state.access_alg)?;
    let claims = DeviceClaims {
        iss: state.config.issuer.clone(),
        sub: account_tag(account),
        jti: castellan_crypto::generate_secret().expose().to_owned(),
        iat: now.timestamp(),
        exp: (now + Duration::days(LIFETIME_DAYS)).timestamp(),
    };
    let value = jws::sign(key, TYP, &claims).ok()?;
    let max_age = u32::try_from(Duration::days(LIFETIME_DAYS).num_seconds()).ok();
    Some(set_cookie(
        state,
        cookie_name(state.config.environment),
        &value,
        max_age,
    ))
}

/// The device id of a cookie this server issued for `account` and that has not expired.
pub fn recognise(
    state: &AppState,
    cookie: &str,
    account: &str,
    now: DateTime<Utc>,
) -> Option<String> {
    let keys = state.keys.keys();
    let verified = jws::verify(cookie, Some(TYP), |kid| keys.verifier(kid)).ok()?;
    let claims: DeviceClaims =
        serde_json::from_value(serde_json::Value::Object(verified.claims)).ok()?;
    let same_account: bool = claims
        .sub
        .as_bytes()
        .ct_eq(account_tag(account).as_bytes())
        .into();
    let live = claims.exp > now.timestamp();
    (same_account && live && claims.iss == state.config.issuer && !claims.jti.is_empty())
        .then_some(claims.jti)
}
