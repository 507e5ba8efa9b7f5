//! An organization's OAuth apps: the `organization_clients` link beside `clients`.

use super::clients::{bind_insert, insert_sql, CLIENT_TAKEN};
use super::SqlStore;
use crate::apps::AppStore;
use crate::error::{store_error, write_error_naming};
use crate::rows::{client_from_row, millis, ClientRow, CLIENT_COLUMNS};
use crate::{StoreError, StoreResult};
use async_trait::async_trait;
use castellan_core::client::Client;
use sqlx::Row;

#[async_trait]
impl AppStore for SqlStore {
    async fn insert_organization_client(
        &self,
        client: &Client,
        organization_id: &str,
        created_by: &str,
    ) -> StoreResult<()> {
        let row = ClientRow::from_client(client)?;
        let mut tx = self.begin_write().await?;
        let sql = insert_sql();
        bind_insert(sqlx::query(&sql), &row)
            .execute(&mut *tx)
            .await
            .map_err(|e| write_error_naming(e, CLIENT_TAKEN, "no such organization"))?;
        sqlx::query(
            "INSERT INTO organization_clients (client_id, organization_id, created_by, created_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(client.id.as_str())
        .bind(organization_id)
        .bind(created_by)
        .bind(millis(client.created_at))
        .execute(&mut *tx)
        .await
        .map_err(|e| write_error_naming(e, CLIENT_TAKEN, "no such organization"))?;
        tx.commit().await.map_err(store_error)?;
        Ok(())
    }

    async fn organization_clients(&self, organization_id: &str) -> StoreResult<Vec<Client>> {
        let columns = CLIENT_COLUMNS
            .split(", ")
            .map(|c| format!("c.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {columns} FROM clients c JOIN organization_clients o ON o.client_id = c.id \
             WHERE o.organization_id = $1 ORDER BY o.created_at DESC, c.id"
        );
        let rows = sqlx::query(&sql)
            .bind(organization_id)
            .fetch_all(self.timed())
            .await
            .map_err(store_error)?;
        rows.iter().map(client_from_row).collect()
    }

    async fn organization_of_client(&self, client_id: &str) -> StoreResult<Option<String>> {
        let row =
            sqlx::query("SELECT organization_id FROM organization_clients WHERE client_id = $1")
                .bind(client_id)
                .fetch_optional(self.timed())
                .await
                .map_err(store_error)?;
        row.map(|r| {
            r.try_get("organization_id")
                .map_err(|e| StoreError::Corrupt(format!("organization_clients: {e}")))
        })
        .transpose()
    }
}
