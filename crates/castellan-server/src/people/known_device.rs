//! Known devices (OWASP authentication cheat sheet, "device cookies"): a browser that signed
//! in to an account before is counted apart from everyone else guessing at that account.
//!
//! After a successful sign-in on the login page the browser gets a device cookie: a JWS signed
//! with the server's access-token key (so every replica can check it and nothing is stored),
//! of type `castellan-device+jwt`, naming the account by a hash (never the email), the
//! account's password by a hash of its stored hash (so a new password forgets every device
//! known before it), and a random device id, for [`LIFETIME_DAYS`]. A later sign-in to the same account that presents it is
//! counted per device only (`login_throttle`), so an attacker spreading guesses over many
//! addresses can keep the account-wide delay running without ever delaying the person whose
//! account it is on their own browser. A cookie for another account, an altered or expired one,
//! or one signed by a key that has since been retired is simply not recognised: the attempt is
//! then counted per account and address like any other.
//!
//! Outside `local` the cookie is named `__Host-castellan_device` (Secure, exact host); it is
//! HttpOnly and SameSite=Lax like the session cookie. A browser keeps one, for the last account
//! it signed in to.

use crate::people::sessions::set_cookie;
use crate::platform::state::AppState;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use castellan_core::Environment;
use castellan_crypto::{jws, KeySet, SigningKey};
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
/// Label separating the password tag from every other hash of a password hash.
const PASSWORD_LABEL: &str = "castellan known device under password:";

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
    /// The password's tag ([`password_tag`]).
    pwd: String,
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

/// The password as the cookie names it: a labelled SHA-256 of its stored Argon2id hash (itself
/// salted), so a password change, which changes the stored hash, forgets every known device.
fn password_tag(password_hash: &str) -> String {
    URL_SAFE_NO_PAD
        .encode(castellan_crypto::hash_secret(&format!("{PASSWORD_LABEL}{password_hash}")).0)
}

/// The `Set-Cookie` that makes this browser a known device of `account` under its current
/// password (`password_hash`, as stored), a new device id each time; `None` when no signing
/// key is at hand (the sign-in goes on without it).
pub fn issue(
    state: &AppState,
    account: &str,
    password_hash: &str,
    now: DateTime<Utc>,
) -> Option<String> {
    let keys = state.keys.keys();
    let key = keys.signer(state.access_alg)?;
    let value = sign(key, &state.config.issuer, account, password_hash, now)?;
    let max_age = u32::try_from(Duration::days(LIFETIME_DAYS).num_seconds()).ok();
    Some(set_cookie(
        state,
        cookie_name(state.config.environment),
        &value,
        max_age,
    ))
}

/// The device id of a cookie this server issued for `account` under its current password
/// (`password_hash`, as stored) and that has not expired.
pub fn recognise(
    state: &AppState,
    cookie: &str,
    account: &str,
    password_hash: &str,
    now: DateTime<Utc>,
) -> Option<String> {
    let keys = state.keys.keys();
    verify(
        &keys,
        &state.config.issuer,
        cookie,
        account,
        password_hash,
        now,
    )
}

/// A device cookie's value: signed claims of `account` under `password_hash`, from `issuer`.
fn sign(
    key: &SigningKey,
    issuer: &str,
    account: &str,
    password_hash: &str,
    now: DateTime<Utc>,
) -> Option<String> {
    let claims = DeviceClaims {
        iss: issuer.to_owned(),
        sub: account_tag(account),
        pwd: password_tag(password_hash),
        jti: castellan_crypto::generate_secret().expose().to_owned(),
        iat: now.timestamp(),
        exp: (now + Duration::days(LIFETIME_DAYS)).timestamp(),
    };
    jws::sign(key, TYP, &claims).ok()
}

/// The device id of `cookie` when `keys` verify it as a device cookie of `issuer` for
/// `account` under `password_hash`, not expired at `now`.
fn verify(
    keys: &KeySet,
    issuer: &str,
    cookie: &str,
    account: &str,
    password_hash: &str,
    now: DateTime<Utc>,
) -> Option<String> {
    let verified = jws::verify(cookie, Some(TYP), |kid| keys.verifier(kid)).ok()?;
    let claims: DeviceClaims =
        serde_json::from_value(serde_json::Value::Object(verified.claims)).ok()?;
    let same = |a: &str, b: &str| -> bool { a.as_bytes().ct_eq(b.as_bytes()).into() };
    let ok = same(&claims.sub, &account_tag(account))
        && same(&claims.pwd, &password_tag(password_hash))
        && claims.exp > now.timestamp()
        && claims.iss == issuer
        && !claims.jti.is_empty();
    ok.then_some(claims.jti)
}

#[cfg(test)]
mod tests {
    use super::*;
    use castellan_crypto::Algorithm;

    fn keys() -> KeySet {
        let (key, _) = SigningKey::generate(Algorithm::Es256, "k1".into()).unwrap();
        let public = key.verifying_key().unwrap();
        KeySet::new(vec![key], vec![public])
    }

    #[test]
    fn a_cookie_is_recognised_only_for_its_account_password_issuer_and_lifetime() {
        let keys = keys();
        let key = keys.signer(Algorithm::Es256).unwrap();
        let now = Utc::now();
        let iss = "https://auth.example.com";
        let cookie = sign(key, iss, "ola@example.com", "$argon2id$one", now).unwrap();
        let id = verify(&keys, iss, &cookie, "ola@example.com", "$argon2id$one", now).unwrap();
        assert_eq!(id.len(), 43);
        // Another account, a changed password, another issuer: not recognised.
        assert!(verify(&keys, iss, &cookie, "eve@example.com", "$argon2id$one", now).is_none());
        assert!(verify(&keys, iss, &cookie, "ola@example.com", "$argon2id$two", now).is_none());
        assert!(verify(
            &keys,
            "https://other",
            &cookie,
            "ola@example.com",
            "$argon2id$one",
            now
        )
        .is_none());
        // Expired after its lifetime.
        let later = now + Duration::days(LIFETIME_DAYS) + Duration::seconds(1);
        assert!(verify(
            &keys,
            iss,
            &cookie,
            "ola@example.com",
            "$argon2id$one",
            later
        )
        .is_none());
        // Another key's signature, or an access token of the same key, is not a device cookie.
        assert!(verify(
            &self::keys(),
            iss,
            &cookie,
            "ola@example.com",
            "$argon2id$one",
            now
        )
        .is_none());
        let at = jws::sign(key, "at+jwt", &serde_json::json!({"sub": "x"})).unwrap();
        assert!(verify(&keys, iss, &at, "ola@example.com", "$argon2id$one", now).is_none());
    }
}
