//! Human passwords (SPEC 5.2): Argon2id, computed on the blocking thread pool so a login never
//! stalls the async runtime.
//!
//! Parameters: Argon2id, m = 19 456 KiB, t = 2, p = 1 (OWASP's recommended minimum for
//! Argon2id). On this project's reference machine that is tens of milliseconds per hash on one
//! core: slow enough to make offline guessing expensive, fast enough for interactive logins.
//! Measured figures are in bench/RESULTS.md.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use castellan_core::Secret;

/// Longest password accepted (bytes); longer input is refused before hashing.
pub const MAX_PASSWORD_LEN: usize = 1024;
/// Shortest password accepted when setting one.
pub const MIN_PASSWORD_LEN: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("passwords must be {MIN_PASSWORD_LEN} to {MAX_PASSWORD_LEN} bytes")]
    Length,
    #[error("password hashing failed")]
    Hash,
}

fn argon2() -> Argon2<'static> {
    // The constants are valid Argon2 parameters; `default()` is the fallback that cannot fail.
    let params = Params::new(19_456, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a new password into a PHC string.
pub async fn hash_password(password: Secret) -> Result<String, PasswordError> {
    let len = password.expose().len();
    if !(MIN_PASSWORD_LEN..=MAX_PASSWORD_LEN).contains(&len) {
        return Err(PasswordError::Length);
    }
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        argon2()
            .hash_password(password.expose().as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|_| PasswordError::Hash)
    })
    .await
    .map_err(|_| PasswordError::Hash)?
}

/// Checks a password against a stored PHC string. Anything malformed is simply `false`.
pub async fn verify_password(password: Secret, phc: String) -> bool {
    if password.expose().len() > MAX_PASSWORD_LEN {
        return false;
    }
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&phc)
            .map(|parsed| {
                argon2()
                    .verify_password(password.expose().as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

/// A PHC string of a random password, verified against when an email is unknown so that a
/// login takes as long whether or not the account exists.
pub async fn dummy_hash() -> String {
    hash_password(castellan_crypto::generate_secret())
        .await
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_and_verify() {
        let h = hash_password(Secret::new("correct horse")).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify_password(Secret::new("correct horse"), h.clone()).await);
        assert!(!verify_password(Secret::new("wrong horse"), h.clone()).await);
        assert!(!verify_password(Secret::new("x"), "garbage".into()).await);
        assert!(hash_password(Secret::new("short")).await.is_err());
    }
}
