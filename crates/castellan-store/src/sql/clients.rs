//! Clients: registration, lookup, the query API, use tracking, deletion and the
//! one-time bootstrap claim.

use super::revocations::record_in;
use super::{bind_all, AnyQuery, SqlStore};
use crate::error::{store_error, write_error};
use crate::predicate::{render_order, render_predicate, Bind, Rendered};
use crate::rows::{client_from_row, days, millis, ClientRow, CLIENT_COLUMNS};
use crate::{ClientStore, Page, StoreError, StoreResult};
use async_trait::async_trait;
use castellan_core::client::{Client, PreviousSecret, SecretHash};
use castellan_core::query::{ClientQuery, Predicate};
use castellan_core::revocation::Revoked;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::Row;

/// The `meta` row whose insertion claims the bootstrap client.
const BOOTSTRAP_CLAIM: &str = "bootstrap_client";

pub(super) const CLIENT_TAKEN: &str = "a client with this id exists";

pub(super) fn insert_sql() -> String {
    format!(
        "INSERT INTO clients ({CLIENT_COLUMNS}) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24)"
    )
}

/// Binds a row in [`CLIENT_COLUMNS`] order.
pub(super) fn bind_insert<'q>(q: AnyQuery<'q>, r: &'q ClientRow) -> AnyQuery<'q> {
    q.bind(r.id.as_str())
        .bind(r.name.as_str())
        .bind(r.kind.as_str())
        .bind(r.secret_hash.as_deref())
        .bind(r.scope.as_str())
        .bind(r.default_scope.as_deref())
        .bind(r.grant_types.as_str())
        .bind(r.redirect_uris.as_str())
        .bind(r.auth_method.as_str())
        .bind(r.token_format.as_str())
        .bind(r.public_client_credentials)
        .bind(r.access_token_validity_seconds)
        .bind(r.refresh_token_validity_seconds)
        .bind(r.created_at)
        .bind(r.last_used_at)
        .bind(r.delete_at)
        .bind(r.software_id.as_deref())
        .bind(r.registered_by.as_deref())
        .bind(r.registration_token_hash.as_deref())
        .bind(r.metadata.as_str())
        .bind(r.tier.as_deref())
        .bind(r.tenants.as_str())
        .bind(r.previous_secret_hash.as_deref())
        .bind(r.previous_secret_expires_at)
}

/// ` WHERE …` for an optional predicate (empty when there is none).
fn where_clause(predicate: Option<&Predicate>) -> StoreResult<Rendered> {
    let mut out = Rendered::default();
    if let Some(p) = predicate {
        out.sql.push_str(" WHERE ");
        render_predicate(p, &mut out)?;
    }
    Ok(out)
}

#[async_trait]
impl ClientStore for SqlStore {
    async fn insert_client(&self, client: &Client) -> StoreResult<()> {
        let row = ClientRow::from_client(client)?;
        let sql = insert_sql();
        bind_insert(sqlx::query(&sql), &row)
            .execute(self.timed())
            .await
            .map_err(|e| write_error(e, CLIENT_TAKEN))?;
        Ok(())
    }

    async fn get_client(&self, id: &str) -> StoreResult<Option<Client>> {
        let sql = format!("SELECT {CLIENT_COLUMNS} FROM clients WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(self.timed())
            .await
            .map_err(store_error)?;
        row.as_ref().map(client_from_row).transpose()
    }

    async fn query_clients(&self, query: &ClientQuery) -> StoreResult<Page<Client>> {
        let filter = where_clause(query.predicate.as_ref())?;

        let mut page = Rendered {
            sql: String::new(),
            binds: filter.binds.clone(),
        };
        let limit = page.push(Bind::Int(i64::from(query.limit)));
        let offset = page.push(Bind::Int(i64::from(query.offset)));
        let sql = format!(
            "SELECT {CLIENT_COLUMNS} FROM clients{} ORDER BY {} LIMIT {limit} OFFSET {offset}",
            filter.sql,
            render_order(&query.sort)
        );
        let rows = bind_all(sqlx::query(&sql), &page.binds)
            .fetch_all(self.timed())
            .await
            .map_err(store_error)?;
        let results = rows
            .iter()
            .map(client_from_row)
            .collect::<StoreResult<Vec<_>>>()?;

        let total = if query.with_total {
            let sql = format!("SELECT COUNT(*) AS n FROM clients{}", filter.sql);
            let row = bind_all(sqlx::query(&sql), &filter.binds)
                .fetch_one(self.timed())
                .await
                .map_err(store_error)?;
            let n: i64 = row.try_get("n").map_err(store_error)?;
            Some(u64::try_from(n).map_err(|_| StoreError::Corrupt("negative count".into()))?)
        } else {
            None
        };
        Ok(Page { results, total })
    }

    async fn client_exists(&self, predicate: Option<&Predicate>) -> StoreResult<bool> {
        let filter = where_clause(predicate)?;
        let sql = format!("SELECT 1 AS one FROM clients{} LIMIT 1", filter.sql);
        let row = bind_all(sqlx::query(&sql), &filter.binds)
            .fetch_optional(self.timed())
            .await
            .map_err(store_error)?;
        Ok(row.is_some())
    }

    async fn delete_client(&self, id: &str) -> StoreResult<Option<Client>> {
        let mut tx = self.begin_write().await?;
        // Opaque tokens would also go by ON DELETE CASCADE; saying it here keeps the
        // behaviour independent of the connection's foreign-key setting.
        for sql in [
            "DELETE FROM opaque_tokens WHERE client_id = $1",
            "DELETE FROM revoked_jwts WHERE client_id = $1",
            // Codes, consents and refresh families (with their tokens) issued to the client.
            "DELETE FROM refresh_tokens WHERE client_id = $1",
            "DELETE FROM refresh_families WHERE consent_id IN \
             (SELECT id FROM consents WHERE client_id = $1)",
            "DELETE FROM authorization_codes WHERE client_id = $1",
            "DELETE FROM pushed_requests WHERE client_id = $1",
            "DELETE FROM consents WHERE client_id = $1",
            "DELETE FROM organization_clients WHERE client_id = $1",
        ] {
            sqlx::query(sql)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(store_error)?;
        }
        let sql = format!("DELETE FROM clients WHERE id = $1 RETURNING {CLIENT_COLUMNS}");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(store_error)?;
        let client = row.as_ref().map(client_from_row).transpose()?;
        if client.is_some() {
            // The delete has no `now` of its own; the entry's time only orders it.
            let entry = [Revoked::Client(id.to_owned())];
            record_in(&mut tx, self.backend, &entry, Utc::now(), None).await?;
        }
        tx.commit().await.map_err(store_error)?;
        Ok(client)
    }

    async fn update_client(&self, client: &Client) -> StoreResult<bool> {
        self.update_client_row(client, None).await
    }

    async fn update_client_if_secret(
        &self,
        client: &Client,
        secret_read: Option<&SecretHash>,
    ) -> StoreResult<bool> {
        self.update_client_row(client, Some(secret_read)).await
    }

    async fn rotate_client_secret(
        &self,
        id: &str,
        current: &SecretHash,
        new: &SecretHash,
        previous: Option<&PreviousSecret>,
    ) -> StoreResult<bool> {
        let result = sqlx::query(
            "UPDATE clients SET secret_hash = $3, previous_secret_hash = $4, \
             previous_secret_expires_at = $5 WHERE id = $1 AND secret_hash = $2",
        )
        .bind(id)
        .bind(&current.0[..])
        .bind(&new.0[..])
        .bind(previous.map(|p| p.hash.0.to_vec()))
        .bind(previous.map(|p| millis(p.expires_at)))
        .execute(self.timed())
        .await
        .map_err(store_error)?;
        Ok(result.rows_affected() == 1)
    }

    async fn record_client_use(&self, id: &str, day: NaiveDate) -> StoreResult<()> {
        sqlx::query(
            "UPDATE clients SET last_used_at = $2 \
             WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)",
        )
        .bind(id)
        .bind(days(day))
        .execute(self.timed())
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn purge_deleted_clients(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        let due = sqlx::query("SELECT id FROM clients WHERE delete_at <= $1")
            .bind(millis(now))
            .fetch_all(&mut *tx)
            .await
            .map_err(store_error)?
            .iter()
            .map(|r| {
                r.try_get::<String, _>("id")
                    .map(Revoked::Client)
                    .map_err(|e| StoreError::Corrupt(format!("clients.id: {e}")))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        for sql in [
            "DELETE FROM opaque_tokens WHERE client_id IN \
             (SELECT id FROM clients WHERE delete_at <= $1)",
            "DELETE FROM revoked_jwts WHERE client_id IN \
             (SELECT id FROM clients WHERE delete_at <= $1)",
        ] {
            sqlx::query(sql)
                .bind(millis(now))
                .execute(&mut *tx)
                .await
                .map_err(store_error)?;
        }
        let deleted = sqlx::query("DELETE FROM clients WHERE delete_at <= $1")
            .bind(millis(now))
            .execute(&mut *tx)
            .await
            .map_err(store_error)?
            .rows_affected();
        record_in(&mut tx, self.backend, &due, now, None).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(deleted)
    }

    async fn find_registered_client(
        &self,
        software_id: &str,
        registered_by: &str,
    ) -> StoreResult<Option<Client>> {
        let sql = format!(
            "SELECT {CLIENT_COLUMNS} FROM clients WHERE software_id = $1 AND registered_by = $2 \
             ORDER BY created_at ASC, id ASC LIMIT 1"
        );
        let row = sqlx::query(&sql)
            .bind(software_id)
            .bind(registered_by)
            .fetch_optional(self.timed())
            .await
            .map_err(store_error)?;
        row.as_ref().map(client_from_row).transpose()
    }

    async fn claim_bootstrap_client(&self, client: &Client) -> StoreResult<bool> {
        let row = ClientRow::from_client(client)?;
        let mut tx = self.begin_write().await?;
        // A concurrent claimer blocks on this key until we commit, then inserts nothing.
        let claimed = sqlx::query(
            "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
        )
        .bind(BOOTSTRAP_CLAIM)
        .bind(client.id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(store_error)?
        .rows_affected()
            > 0;
        if !claimed {
            tx.rollback().await.map_err(store_error)?;
            return Ok(false);
        }
        let sql = insert_sql();
        bind_insert(sqlx::query(&sql), &row)
            .execute(&mut *tx)
            .await
            .map_err(|e| write_error(e, CLIENT_TAKEN))?;
        tx.commit().await.map_err(store_error)?;
        Ok(true)
    }
}

impl SqlStore {
    /// Writes the mutable parts of `client`; with `secret_read`, only if its stored secret is
    /// still that one (`IS NOT DISTINCT FROM`: both backends, NULL for none).
    async fn update_client_row(
        &self,
        client: &Client,
        secret_read: Option<Option<&SecretHash>>,
    ) -> StoreResult<bool> {
        // `id`, `scope` and `created_at` are fixed at creation; `last_used_at` belongs to
        // `record_client_use`, so that an update based on an older read never lowers it.
        let r = ClientRow::from_client(client)?;
        let condition = match secret_read {
            Some(_) => " AND secret_hash IS NOT DISTINCT FROM $22",
            None => "",
        };
        let sql = format!(
            "UPDATE clients SET name = $2, kind = $3, secret_hash = $4, default_scope = $5, \
             grant_types = $6, redirect_uris = $7, auth_method = $8, token_format = $9, \
             public_client_credentials = $10, access_token_validity_seconds = $11, \
             refresh_token_validity_seconds = $12, delete_at = $13, software_id = $14, \
             registered_by = $15, registration_token_hash = $16, metadata = $17, tier = $18, \
             tenants = $19, previous_secret_hash = $20, previous_secret_expires_at = $21 \
             WHERE id = $1{condition}"
        );
        let mut query = sqlx::query(&sql)
            .bind(r.id.as_str())
            .bind(r.name.as_str())
            .bind(r.kind.as_str())
            .bind(r.secret_hash.as_deref())
            .bind(r.default_scope.as_deref())
            .bind(r.grant_types.as_str())
            .bind(r.redirect_uris.as_str())
            .bind(r.auth_method.as_str())
            .bind(r.token_format.as_str())
            .bind(r.public_client_credentials)
            .bind(r.access_token_validity_seconds)
            .bind(r.refresh_token_validity_seconds)
            .bind(r.delete_at)
            .bind(r.software_id.as_deref())
            .bind(r.registered_by.as_deref())
            .bind(r.registration_token_hash.as_deref())
            .bind(r.metadata.as_str())
            .bind(r.tier.as_deref())
            .bind(r.tenants.as_str())
            .bind(r.previous_secret_hash.as_deref())
            .bind(r.previous_secret_expires_at);
        if let Some(read) = secret_read {
            query = query.bind(read.map(|h| h.0.to_vec()));
        }
        let result = query.execute(self.timed()).await.map_err(store_error)?;
        Ok(result.rows_affected() > 0)
    }
}
