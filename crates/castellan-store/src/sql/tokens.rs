//! Revoked JWTs (RFC 7009) and opaque access tokens, checked by introspection (RFC 7662).

use super::purge::BATCH;
use super::revocations::record_in;
use super::SqlStore;
use crate::error::{store_error, write_error};
use crate::rows::{claims_json, millis, token_from_row, TOKEN_COLUMNS};
use crate::{OpaqueToken, StoreResult, TokenStore};
use async_trait::async_trait;
use castellan_core::revocation::Revoked;
use chrono::{DateTime, Utc};

#[async_trait]
impl TokenStore for SqlStore {
    async fn revoke_jwt(
        &self,
        jti: &str,
        client_id: &str,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO revoked_jwts (jti, client_id, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (jti) DO NOTHING",
        )
        .bind(jti)
        .bind(client_id)
        .bind(millis(expires_at))
        .execute(&mut *tx)
        .await
        .map_err(store_error)?
        .rows_affected();
        if inserted > 0 {
            let entry = [Revoked::Jwt(jti.to_owned())];
            // A JWT entry matters until the token's `exp`; its creation time is only shown.
            let now = Utc::now().min(expires_at);
            record_in(&mut tx, self.backend, &entry, now, Some(expires_at)).await?;
        }
        tx.commit().await.map_err(store_error)?;
        Ok(())
    }

    async fn is_jwt_revoked(&self, jti: &str) -> StoreResult<bool> {
        let row = sqlx::query("SELECT 1 AS one FROM revoked_jwts WHERE jti = $1")
            .bind(jti)
            .fetch_optional(self.timed())
            .await
            .map_err(store_error)?;
        Ok(row.is_some())
    }

    async fn insert_opaque_token(&self, token: &OpaqueToken) -> StoreResult<()> {
        let sql = format!(
            "INSERT INTO opaque_tokens ({TOKEN_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        );
        sqlx::query(&sql)
            .bind(&token.hash[..])
            .bind(token.client_id.as_str())
            .bind(token.subject.as_str())
            .bind(token.scope.as_str())
            .bind(crate::rows::audience_text(token.audience.as_ref()))
            .bind(claims_json(&token.claims)?)
            .bind(millis(token.issued_at))
            .bind(millis(token.expires_at))
            .bind(i16::from(token.revoked))
            .execute(self.timed())
            .await
            .map_err(|e| write_error(e, "a token with this hash exists"))?;
        Ok(())
    }

    async fn get_opaque_token(&self, hash: &[u8; 32]) -> StoreResult<Option<OpaqueToken>> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM opaque_tokens WHERE hash = $1");
        let row = sqlx::query(&sql)
            .bind(&hash[..])
            .fetch_optional(self.timed())
            .await
            .map_err(store_error)?;
        row.as_ref().map(token_from_row).transpose()
    }

    async fn revoke_opaque_token(&self, hash: &[u8; 32], client_id: &str) -> StoreResult<bool> {
        let updated =
            sqlx::query("UPDATE opaque_tokens SET revoked = 1 WHERE hash = $1 AND client_id = $2")
                .bind(&hash[..])
                .bind(client_id)
                .execute(self.timed())
                .await
                .map_err(store_error)?
                .rows_affected();
        Ok(updated > 0)
    }

    async fn purge_expired_tokens(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let mut deleted = 0;
        for table in [
            "revoked_jwts",
            "opaque_tokens",
            "sessions",
            "webauthn_ceremonies",
        ] {
            deleted += self
                .purge_batched(table, "expires_at <= $1", &[millis(now)], BATCH)
                .await?;
        }
        // A used code stays a day past its expiry, so that presenting it again still revokes
        // what its first use issued (RFC 6749 §4.1.2); then it goes.
        let codes_before = now - chrono::Duration::days(1);
        deleted += self
            .purge_batched(
                "authorization_codes",
                "expires_at <= $1",
                &[millis(codes_before)],
                BATCH,
            )
            .await?;
        // What a session's clients were goes with the session (taken at once when it is
        // ended, here when it expired or ended without telling them).
        deleted += self
            .purge_batched(
                "session_clients",
                "NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id = session_clients.session_id)",
                &[],
                BATCH,
            )
            .await?;
        Ok(deleted)
    }
}
