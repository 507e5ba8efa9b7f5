//! Human passwords: Argon2id, computed on the blocking thread pool so a login never
//! stalls the async runtime.
//!
//! At most one Argon2id computation per core runs at a time (others wait their turn), and each
//! reuses a memory block from a pool of at most that many, so a burst of logins costs at most
//! `cores × 19 MiB` and that memory is not allocated again per login. Without the bound, 32
//! concurrent logins held 2.4 GiB and ran slower in total than one at a time.
//!
//! Parameters: Argon2id, m = 19 456 KiB, t = 2, p = 1 (OWASP's recommended minimum for
//! Argon2id). On this project's reference machine that is tens of milliseconds per hash on one
//! core: slow enough to make offline guessing expensive, fast enough for interactive logins.
//! Measured figures are in bench/RESULTS.md.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use castellan_core::Secret;
use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::Semaphore;

/// Longest password accepted (bytes); longer input is refused before hashing.
pub const MAX_PASSWORD_LEN: usize = 1024;
/// Shortest password accepted when setting one.
pub const MIN_PASSWORD_LEN: usize = 8;

/// Why a password could not be hashed.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// The password is shorter or longer than allowed.
    #[error("passwords must be {MIN_PASSWORD_LEN} to {MAX_PASSWORD_LEN} bytes")]
    Length,
    /// Argon2 failed.
    #[error("password hashing failed")]
    Hash,
}

/// Memory cost (KiB, i.e. Argon2 blocks), time cost and parallelism of new hashes.
const M_COST: u32 = 19_456;
const T_COST: u32 = 2;
const P_COST: u32 = 1;

fn argon2() -> Argon2<'static> {
    // The constants are valid Argon2 parameters; `default()` is the fallback that cannot fail.
    let params = Params::new(M_COST, T_COST, P_COST, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The process-wide bound on concurrent Argon2id work, and the memory blocks it reuses.
struct Slots {
    permits: Arc<Semaphore>,
    memory: Mutex<Vec<Vec<Block>>>,
}

fn slots() -> &'static Slots {
    static SLOTS: OnceLock<Slots> = OnceLock::new();
    SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Slots {
            permits: Arc::new(Semaphore::new(cores)),
            memory: Mutex::new(Vec::new()),
        }
    })
}

/// Runs `work` on the blocking pool once a slot is free, with a reused memory block. The slot
/// is held until `work` ends, even if the caller stops waiting.
async fn in_slot<T: Send + 'static>(
    work: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
) -> Option<T> {
    let slots = slots();
    let permit = Arc::clone(&slots.permits).acquire_owned().await.ok()?;
    tokio::task::spawn_blocking(move || {
        let pooled = slots.memory.lock().ok().and_then(|mut pool| pool.pop());
        let mut memory = pooled.unwrap_or_else(|| vec![Block::default(); M_COST as usize]);
        let result = work(&mut memory);
        if let Ok(mut pool) = slots.memory.lock() {
            pool.push(memory);
        }
        drop(permit);
        result
    })
    .await
    .ok()
}

/// Hashes a new password into a PHC string.
pub async fn hash_password(password: Secret) -> Result<String, PasswordError> {
    let len = password.expose().len();
    if !(MIN_PASSWORD_LEN..=MAX_PASSWORD_LEN).contains(&len) {
        return Err(PasswordError::Length);
    }
    in_slot(move |_| {
        let salt = SaltString::generate(&mut OsRng);
        argon2()
            .hash_password(password.expose().as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|_| PasswordError::Hash)
    })
    .await
    .unwrap_or(Err(PasswordError::Hash))
}

/// Checks a password against a stored PHC string. Anything malformed is simply `false`.
pub async fn verify_password(password: Secret, phc: String) -> bool {
    if password.expose().len() > MAX_PASSWORD_LEN {
        return false;
    }
    in_slot(move |memory| verify_in(memory, password.expose().as_bytes(), &phc))
        .await
        .unwrap_or(false)
}

/// Recomputes the Argon2id hash of `password` with the stored hash's own parameters and salt
/// in `memory` (grown if a stored hash asks for more), and compares in constant time.
fn verify_in(memory: &mut Vec<Block>, password: &[u8], phc: &str) -> bool {
    let Ok(stored) = PasswordHash::new(phc) else {
        return false;
    };
    if stored.algorithm != argon2::ARGON2ID_IDENT {
        return false;
    }
    let (Ok(params), Some(salt), Some(expected)) =
        (Params::try_from(&stored), stored.salt, stored.hash)
    else {
        return false;
    };
    let version = match stored.version.map(Version::try_from) {
        None => Version::V0x13,
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    if memory.len() < params.block_count() {
        memory.resize(params.block_count(), Block::default());
    }
    let mut out = [0u8; 64];
    let Some(out) = out.get_mut(..expected.len()) else {
        return false;
    };
    let hasher = Argon2::new(Algorithm::Argon2id, version, params);
    if hasher
        .hash_password_into_with_memory(password, salt, &mut *out, memory.as_mut_slice())
        .is_err()
    {
        return false;
    }
    // `Output`'s equality is constant-time.
    Output::new(out).is_ok_and(|computed| computed == expected)
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
        // Another algorithm, a truncated hash, a changed salt: refused.
        let argon2i = h.replacen("argon2id", "argon2i", 1);
        assert!(!verify_password(Secret::new("correct horse"), argon2i).await);
        assert!(!verify_password(Secret::new("correct horse"), h[..h.len() - 4].into()).await);
    }

    /// Hashes made with other parameters (or by the library's own verifier) still verify, and
    /// many concurrent checks all get the right answer through the bounded slots.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn other_parameters_and_concurrency() {
        let salt = SaltString::generate(&mut OsRng);
        let small = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8_192, 1, 1, None).unwrap(),
        )
        .hash_password(b"pass phrase", &salt)
        .unwrap()
        .to_string();
        let big = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(32_768, 1, 2, None).unwrap(),
        )
        .hash_password(b"pass phrase", &salt)
        .unwrap()
        .to_string();
        let mut checks = Vec::new();
        for i in 0..12 {
            let phc = if i % 2 == 0 {
                small.clone()
            } else {
                big.clone()
            };
            let pw = if i % 3 == 0 {
                "wrong phrase"
            } else {
                "pass phrase"
            };
            checks.push(tokio::spawn(async move {
                (i, verify_password(Secret::new(pw), phc).await)
            }));
        }
        for c in checks {
            let (i, ok) = c.await.unwrap();
            assert_eq!(ok, i % 3 != 0, "check {i}");
        }
    }
}
