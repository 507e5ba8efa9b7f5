//! Second factors: a person's authenticator app and recovery codes. Each acceptance of a code
//! is one conditional UPDATE, so of two uses of the same code only one succeeds.

use super::SqlStore;
use crate::error::{store_error, write_error_naming};
use crate::factors::{
    Ceremony, CeremonyKind, FactorStore, RecoveryCodes, StoredPasskey, TotpFactor,
};
use crate::rows::{from_millis, get, millis};
use crate::StoreResult;
use async_trait::async_trait;
use castellan_core::authn::SecondFactorPolicy;
use chrono::{DateTime, Utc};
use sqlx::{Any, Transaction};

const MISSING: &str = "the person does not exist";

/// The columns of a [`StoredPasskey`].
const PASSKEY_COLUMNS: &str = "id, user_id, user_handle, credential_id, name, credential, \
     CAST(backup_eligible AS BIGINT) AS backup_eligible, created_at, last_used_at";

/// The policy of its level: the sum of `second_factor_required` and `passkeys_only`.
fn policy_of(level: i64) -> SecondFactorPolicy {
    match level {
        0 => SecondFactorPolicy::Optional,
        1 => SecondFactorPolicy::Any,
        _ => SecondFactorPolicy::Passkey,
    }
}

/// A row of `passkeys`.
fn passkey_row(row: &sqlx::any::AnyRow) -> StoreResult<StoredPasskey> {
    Ok(StoredPasskey {
        id: get(row, "id")?,
        user_id: get(row, "user_id")?,
        user_handle: get(row, "user_handle")?,
        credential_id: get(row, "credential_id")?,
        name: get(row, "name")?,
        credential: get(row, "credential")?,
        backup_eligible: get::<i64>(row, "backup_eligible")? == 1,
        created_at: from_millis(get(row, "created_at")?, "created_at")?,
        last_used_at: get::<Option<i64>>(row, "last_used_at")?
            .map(|t| from_millis(t, "last_used_at"))
            .transpose()?,
    })
}

/// Deletes the person's recovery codes in `tx`.
async fn delete_codes_in(tx: &mut Transaction<'static, Any>, user_id: &str) -> StoreResult<()> {
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut **tx)
        .await
        .map_err(store_error)?;
    Ok(())
}

/// Replaces the person's recovery codes by `recovery` in `tx`.
async fn replace_codes_in(
    tx: &mut Transaction<'static, Any>,
    user_id: &str,
    recovery: &[[u8; 32]],
    now: DateTime<Utc>,
) -> StoreResult<()> {
    delete_codes_in(tx, user_id).await?;
    for hash in recovery {
        sqlx::query("INSERT INTO recovery_codes (user_id, hash, created_at) VALUES ($1, $2, $3)")
            .bind(user_id)
            .bind(&hash[..])
            .bind(millis(now))
            .execute(&mut **tx)
            .await
            .map_err(|e| write_error_naming(e, "a recovery code repeats", MISSING))?;
    }
    Ok(())
}

#[async_trait]
impl FactorStore for SqlStore {
    async fn start_totp(
        &self,
        user_id: &str,
        secret: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM totp_factors WHERE user_id = $1 AND confirmed_at IS NULL")
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        let started = sqlx::query(
            "INSERT INTO totp_factors (user_id, secret, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id) DO NOTHING",
        )
        .bind(user_id)
        .bind(secret)
        .bind(millis(now))
        .execute(&mut *tx)
        .await
        .map_err(|e| write_error_naming(e, "an authenticator is enrolled", MISSING))?
        .rows_affected();
        tx.commit().await.map_err(store_error)?;
        Ok(started == 1)
    }

    async fn get_totp(&self, user_id: &str) -> StoreResult<Option<TotpFactor>> {
        let row = sqlx::query(
            "SELECT user_id, secret, created_at, confirmed_at, last_step, last_used_at, \
             failed_codes FROM totp_factors WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_optional(self.timed())
        .await
        .map_err(store_error)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let optional = |c: &str| -> StoreResult<Option<DateTime<Utc>>> {
            get::<Option<i64>>(&row, c)?
                .map(|t| from_millis(t, c))
                .transpose()
        };
        Ok(Some(TotpFactor {
            user_id: get(&row, "user_id")?,
            secret: castellan_core::Secret::new(get::<String>(&row, "secret")?),
            created_at: from_millis(get(&row, "created_at")?, "created_at")?,
            confirmed_at: optional("confirmed_at")?,
            last_step: get(&row, "last_step")?,
            last_used_at: optional("last_used_at")?,
            failed_codes: u32::try_from(get::<i64>(&row, "failed_codes")?).unwrap_or(u32::MAX),
        }))
    }

    async fn confirm_totp(
        &self,
        user_id: &str,
        secret: &str,
        step: i64,
        recovery: &[[u8; 32]],
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let confirmed = sqlx::query(
            "UPDATE totp_factors SET confirmed_at = $3, last_step = $4, last_used_at = $3 \
             WHERE user_id = $1 AND secret = $2 AND confirmed_at IS NULL",
        )
        .bind(user_id)
        .bind(secret)
        .bind(millis(now))
        .bind(step)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?
        .rows_affected();
        if confirmed != 1 {
            return Ok(false);
        }
        replace_codes_in(&mut tx, user_id, recovery, now).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(true)
    }

    async fn use_totp_step(
        &self,
        user_id: &str,
        step: i64,
        max_failed: u32,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let used = sqlx::query(
            "UPDATE totp_factors SET last_step = $2, last_used_at = $3, failed_codes = 0 \
             WHERE user_id = $1 AND confirmed_at IS NOT NULL AND last_step < $2 \
             AND failed_codes < $4",
        )
        .bind(user_id)
        .bind(step)
        .bind(millis(now))
        .bind(i64::from(max_failed))
        .execute(self.timed())
        .await
        .map_err(store_error)?
        .rows_affected();
        Ok(used == 1)
    }

    async fn record_failed_code(&self, user_id: &str) -> StoreResult<u32> {
        let count: Option<i64> = sqlx::query_scalar(
            "UPDATE totp_factors SET failed_codes = failed_codes + 1 WHERE user_id = $1 \
             RETURNING failed_codes",
        )
        .bind(user_id)
        .fetch_optional(self.timed())
        .await
        .map_err(store_error)?;
        Ok(count.map_or(0, |c| u32::try_from(c).unwrap_or(u32::MAX)))
    }

    async fn remove_totp(&self, user_id: &str) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let removed = sqlx::query("DELETE FROM totp_factors WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?
            .rows_affected();
        delete_codes_in(&mut tx, user_id).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(removed == 1)
    }

    async fn use_recovery_code(
        &self,
        user_id: &str,
        hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let used = sqlx::query(
            "UPDATE recovery_codes SET used_at = $3 \
             WHERE user_id = $1 AND hash = $2 AND used_at IS NULL",
        )
        .bind(user_id)
        .bind(&hash[..])
        .bind(millis(now))
        .execute(self.timed())
        .await
        .map_err(store_error)?
        .rows_affected();
        if used == 1 {
            sqlx::query("UPDATE totp_factors SET failed_codes = 0 WHERE user_id = $1")
                .bind(user_id)
                .execute(self.timed())
                .await
                .map_err(store_error)?;
        }
        Ok(used == 1)
    }

    async fn replace_recovery_codes(
        &self,
        user_id: &str,
        recovery: &[[u8; 32]],
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let enrolled: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM totp_factors WHERE user_id = $1 AND confirmed_at IS NOT NULL",
        )
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(store_error)?;
        if enrolled.is_none() {
            return Ok(false);
        }
        replace_codes_in(&mut tx, user_id, recovery, now).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(true)
    }

    async fn set_second_factor_policy(
        &self,
        organization_id: &str,
        policy: SecondFactorPolicy,
    ) -> StoreResult<bool> {
        let (required, passkeys_only) = match policy {
            SecondFactorPolicy::Optional => (0_i16, 0_i16),
            SecondFactorPolicy::Any => (1, 0),
            SecondFactorPolicy::Passkey => (1, 1),
        };
        let changed = sqlx::query(
            "UPDATE organizations SET second_factor_required = $2, passkeys_only = $3 \
             WHERE id = $1",
        )
        .bind(organization_id)
        .bind(required)
        .bind(passkeys_only)
        .execute(self.timed())
        .await
        .map_err(store_error)?
        .rows_affected();
        Ok(changed == 1)
    }

    async fn organization_second_factor_policy(
        &self,
        organization_id: &str,
    ) -> StoreResult<SecondFactorPolicy> {
        let level: Option<i64> = sqlx::query_scalar(
            "SELECT CAST(second_factor_required + passkeys_only AS BIGINT) FROM organizations \
             WHERE id = $1",
        )
        .bind(organization_id)
        .fetch_optional(self.timed())
        .await
        .map_err(store_error)?;
        Ok(policy_of(level.unwrap_or(0)))
    }

    async fn second_factor_policy_for(&self, user_id: &str) -> StoreResult<SecondFactorPolicy> {
        let level: Option<i64> = sqlx::query_scalar(
            "SELECT CAST(MAX(o.second_factor_required + o.passkeys_only) AS BIGINT) \
             FROM memberships m JOIN organizations o ON o.id = m.organization_id \
             WHERE m.user_id = $1",
        )
        .bind(user_id)
        .fetch_one(self.timed())
        .await
        .map_err(store_error)?;
        Ok(policy_of(level.unwrap_or(0)))
    }

    async fn add_passkey(&self, p: &StoredPasskey) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO passkeys (id, user_id, user_handle, credential_id, name, credential, \
             backup_eligible, created_at, last_used_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&p.id)
        .bind(&p.user_id)
        .bind(&p.user_handle)
        .bind(&p.credential_id)
        .bind(&p.name)
        .bind(&p.credential)
        .bind(i16::from(p.backup_eligible))
        .bind(millis(p.created_at))
        .bind(p.last_used_at.map(millis))
        .execute(self.timed())
        .await
        .map_err(|e| write_error_naming(e, "the passkey is registered already", MISSING))?;
        Ok(())
    }

    async fn list_passkeys(&self, user_id: &str) -> StoreResult<Vec<StoredPasskey>> {
        let rows = sqlx::query(&format!(
            "SELECT {PASSKEY_COLUMNS} FROM passkeys WHERE user_id = $1 ORDER BY created_at, id"
        ))
        .bind(user_id)
        .fetch_all(self.timed())
        .await
        .map_err(store_error)?;
        rows.iter().map(passkey_row).collect()
    }

    async fn passkey_by_credential(
        &self,
        credential_id: &str,
    ) -> StoreResult<Option<StoredPasskey>> {
        let row = sqlx::query(&format!(
            "SELECT {PASSKEY_COLUMNS} FROM passkeys WHERE credential_id = $1"
        ))
        .bind(credential_id)
        .fetch_optional(self.timed())
        .await
        .map_err(store_error)?;
        row.as_ref().map(passkey_row).transpose()
    }

    async fn record_passkey_use(
        &self,
        id: &str,
        previous: &str,
        credential: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let changed = sqlx::query(
            "UPDATE passkeys SET credential = $3, last_used_at = $4 \
             WHERE id = $1 AND credential = $2",
        )
        .bind(id)
        .bind(previous)
        .bind(credential)
        .bind(millis(now))
        .execute(self.timed())
        .await
        .map_err(store_error)?
        .rows_affected();
        Ok(changed == 1)
    }

    async fn rename_passkey(&self, user_id: &str, id: &str, name: &str) -> StoreResult<bool> {
        let changed = sqlx::query("UPDATE passkeys SET name = $3 WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .bind(name)
            .execute(self.timed())
            .await
            .map_err(store_error)?
            .rows_affected();
        Ok(changed == 1)
    }

    async fn remove_passkey(&self, user_id: &str, id: &str) -> StoreResult<bool> {
        let removed = sqlx::query("DELETE FROM passkeys WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .execute(self.timed())
            .await
            .map_err(store_error)?
            .rows_affected();
        Ok(removed == 1)
    }

    async fn remove_passkeys(&self, user_id: &str) -> StoreResult<u64> {
        Ok(sqlx::query("DELETE FROM passkeys WHERE user_id = $1")
            .bind(user_id)
            .execute(self.timed())
            .await
            .map_err(store_error)?
            .rows_affected())
    }

    async fn put_ceremony(&self, c: &Ceremony) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO webauthn_ceremonies (id, kind, user_id, state, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&c.id)
        .bind(c.kind.as_str())
        .bind(c.user_id.as_deref())
        .bind(&c.state)
        .bind(millis(c.expires_at))
        .execute(self.timed())
        .await
        .map_err(|e| write_error_naming(e, "the ceremony exists already", MISSING))?;
        Ok(())
    }

    async fn take_ceremony(
        &self,
        id: &str,
        kind: CeremonyKind,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Ceremony>> {
        let row = sqlx::query(
            "DELETE FROM webauthn_ceremonies WHERE id = $1 AND kind = $2 \
             RETURNING user_id, state, expires_at",
        )
        .bind(id)
        .bind(kind.as_str())
        .fetch_optional(self.timed())
        .await
        .map_err(store_error)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let expires_at = from_millis(get(&row, "expires_at")?, "expires_at")?;
        if expires_at <= now {
            return Ok(None);
        }
        Ok(Some(Ceremony {
            id: id.to_owned(),
            kind,
            user_id: get(&row, "user_id")?,
            state: get(&row, "state")?,
            expires_at,
        }))
    }

    async fn recovery_codes(&self, user_id: &str) -> StoreResult<RecoveryCodes> {
        let row = sqlx::query(
            "SELECT COUNT(*) FILTER (WHERE used_at IS NULL) AS left_over, MAX(used_at) AS last_used \
             FROM recovery_codes WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_one(self.timed())
        .await
        .map_err(store_error)?;
        let left: i64 = get(&row, "left_over")?;
        Ok(RecoveryCodes {
            left: u32::try_from(left).unwrap_or(u32::MAX),
            last_used_at: get::<Option<i64>>(&row, "last_used")?
                .map(|t| from_millis(t, "last_used"))
                .transpose()?,
        })
    }
}
