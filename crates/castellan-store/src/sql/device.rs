//! Device authorizations (RFC 8628), by the hashes of their device and user codes.

use super::purge::BATCH;
use super::SqlStore;
use crate::device::{DeviceApproval, DeviceAuthorization, DeviceStatus, DeviceStore};
use crate::error::{store_error, write_error};
use crate::rows::{audience_text, device_from_row, millis};
use crate::StoreResult;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

const COLUMNS: &str = "device_hash, user_code_hash, client_id, scope, resources, status, \
    user_id, organization_id, consent_id, family_id, auth_time, created_at, expires_at, amr";

#[async_trait]
impl DeviceStore for SqlStore {
    async fn insert_device(&self, d: &DeviceAuthorization) -> StoreResult<()> {
        let a = d.approval.as_ref();
        sqlx::query(&format!(
            "INSERT INTO device_authorizations ({COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        ))
        .bind(&d.device_hash[..])
        .bind(&d.user_code_hash[..])
        .bind(d.client_id.as_str())
        .bind(d.scope.as_str())
        .bind(audience_text(d.resources.as_ref()))
        .bind(d.status.as_str())
        .bind(a.map(|a| a.user_id.as_str()))
        .bind(a.and_then(|a| a.organization_id.as_deref()))
        .bind(a.map(|a| a.consent_id.as_str()))
        .bind(a.map(|a| a.family_id.as_str()))
        .bind(a.map(|a| millis(a.auth_time)))
        .bind(millis(d.created_at))
        .bind(millis(d.expires_at))
        .bind(a.map(|a| a.amr.stored()))
        .execute(self.timed())
        .await
        .map_err(|e| write_error(e, "a device authorization with this code exists"))?;
        Ok(())
    }

    async fn pending_device(
        &self,
        user_code_hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<DeviceAuthorization>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM device_authorizations \
             WHERE user_code_hash = $1 AND status = 'pending' AND expires_at > $2"
        ))
        .bind(&user_code_hash[..])
        .bind(millis(now))
        .fetch_optional(self.timed())
        .await
        .map_err(store_error)?;
        row.as_ref().map(device_from_row).transpose()
    }

    async fn get_device(&self, device_hash: &[u8; 32]) -> StoreResult<Option<DeviceAuthorization>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM device_authorizations WHERE device_hash = $1"
        ))
        .bind(&device_hash[..])
        .fetch_optional(self.timed())
        .await
        .map_err(store_error)?;
        row.as_ref().map(device_from_row).transpose()
    }

    async fn decide_device(
        &self,
        user_code_hash: &[u8; 32],
        approval: Option<&DeviceApproval>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        // The conditional UPDATE is the single decision: of two, only one finds it pending.
        let status = match approval {
            Some(_) => DeviceStatus::Approved,
            None => DeviceStatus::Denied,
        };
        let decided = sqlx::query(
            "UPDATE device_authorizations SET status = $2, user_id = $3, organization_id = $4, \
             consent_id = $5, family_id = $6, auth_time = $8, amr = $9 \
             WHERE user_code_hash = $1 AND status = 'pending' AND expires_at > $7",
        )
        .bind(&user_code_hash[..])
        .bind(status.as_str())
        .bind(approval.map(|a| a.user_id.as_str()))
        .bind(approval.and_then(|a| a.organization_id.as_deref()))
        .bind(approval.map(|a| a.consent_id.as_str()))
        .bind(approval.map(|a| a.family_id.as_str()))
        .bind(millis(now))
        .bind(approval.map(|a| millis(a.auth_time)))
        .bind(approval.map(|a| a.amr.stored()))
        .execute(self.timed())
        .await
        .map_err(store_error)?
        .rows_affected();
        Ok(decided == 1)
    }

    async fn redeem_device(&self, device_hash: &[u8; 32], now: DateTime<Utc>) -> StoreResult<bool> {
        let used = sqlx::query(
            "UPDATE device_authorizations SET status = 'used' \
             WHERE device_hash = $1 AND status = 'approved' AND expires_at > $2",
        )
        .bind(&device_hash[..])
        .bind(millis(now))
        .execute(self.timed())
        .await
        .map_err(store_error)?
        .rows_affected();
        Ok(used == 1)
    }

    async fn purge_devices(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        self.purge_batched(
            "device_authorizations",
            "expires_at <= $1",
            &[millis(now)],
            BATCH,
        )
        .await
    }
}
