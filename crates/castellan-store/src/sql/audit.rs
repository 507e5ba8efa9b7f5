//! The audit log: appended to, read newest first with filters, purged past retention.

use super::purge::BATCH;
use super::SqlStore;
use crate::audit::{ActorKind, AuditEvent, AuditQuery, AuditStore, Outcome};
use crate::error::{store_error, write_error};
use crate::rows::{from_millis, millis};
use crate::{StoreError, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::Row;

const COLUMNS: &str =
    "id, at, kind, actor_kind, actor_id, organization_id, address, outcome, target, detail";

/// A value a filter binds.
enum Bound {
    Text(String),
    Instant(i64),
}

/// A `WHERE` clause being built and the values it binds, in order, as `$1 … $n`.
#[derive(Default)]
struct Filter {
    clauses: Vec<String>,
    binds: Vec<Bound>,
}

impl Filter {
    /// Binds `v`; answers its placeholder.
    fn mark(&mut self, v: Bound) -> String {
        self.binds.push(v);
        format!("${}", self.binds.len())
    }

    /// `column` equals one of `values` (nothing matches an empty list).
    fn any_of(&mut self, column: &str, values: &[String]) {
        if values.is_empty() {
            self.clauses.push("1 = 0".to_owned());
            return;
        }
        let marks: Vec<String> = values
            .iter()
            .map(|v| self.mark(Bound::Text(v.clone())))
            .collect();
        self.clauses
            .push(format!("{column} IN ({})", marks.join(", ")));
    }

    /// `column op value`.
    fn compare(&mut self, column: &str, op: &str, value: Bound) {
        let mark = self.mark(value);
        self.clauses.push(format!("{column} {op} {mark}"));
    }

    /// The filter of `query`.
    fn of(query: &AuditQuery) -> Filter {
        let mut f = Filter::default();
        if !query.kinds.is_empty() {
            f.any_of("kind", &query.kinds);
        }
        if let Some(orgs) = &query.organizations {
            f.any_of("organization_id", orgs);
        }
        if let Some(actor) = &query.actor_id {
            f.compare("actor_id", "=", Bound::Text(actor.clone()));
        }
        if let Some(org) = &query.organization_id {
            f.compare("organization_id", "=", Bound::Text(org.clone()));
        }
        if let Some(since) = query.since {
            f.compare("at", ">=", Bound::Instant(millis(since)));
        }
        if let Some(until) = query.until {
            f.compare("at", "<", Bound::Instant(millis(until)));
        }
        f
    }

    /// The clause (empty when it filters nothing).
    fn clause(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }
}

fn bind_all<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    binds: &'q [Bound],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for b in binds {
        q = match b {
            Bound::Text(t) => q.bind(t.as_str()),
            Bound::Instant(i) => q.bind(*i),
        };
    }
    q
}

fn event_from_row(row: &AnyRow) -> StoreResult<AuditEvent> {
    let text = |c: &str| -> StoreResult<String> {
        row.try_get(c)
            .map_err(|e| StoreError::Corrupt(format!("{c}: {e}")))
    };
    let optional = |c: &str| -> StoreResult<Option<String>> {
        row.try_get(c)
            .map_err(|e| StoreError::Corrupt(format!("{c}: {e}")))
    };
    let at: i64 = row
        .try_get("at")
        .map_err(|e| StoreError::Corrupt(format!("at: {e}")))?;
    let actor_kind = text("actor_kind")?;
    let outcome = text("outcome")?;
    Ok(AuditEvent {
        id: text("id")?,
        at: from_millis(at, "at")?,
        kind: text("kind")?,
        actor_kind: ActorKind::parse(&actor_kind)
            .ok_or_else(|| StoreError::Corrupt(format!("actor_kind: {actor_kind}")))?,
        actor_id: text("actor_id")?,
        organization_id: optional("organization_id")?,
        address: optional("address")?,
        outcome: Outcome::parse(&outcome)
            .ok_or_else(|| StoreError::Corrupt(format!("outcome: {outcome}")))?,
        target: optional("target")?,
        detail: text("detail")?,
    })
}

#[async_trait]
impl AuditStore for SqlStore {
    async fn record_audit_event(&self, e: &AuditEvent) -> StoreResult<()> {
        let sql = format!(
            "INSERT INTO audit_events ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        );
        sqlx::query(&sql)
            .bind(e.id.as_str())
            .bind(millis(e.at))
            .bind(e.kind.as_str())
            .bind(e.actor_kind.as_str())
            .bind(e.actor_id.as_str())
            .bind(e.organization_id.as_deref())
            .bind(e.address.as_deref())
            .bind(e.outcome.as_str())
            .bind(e.target.as_deref())
            .bind(e.detail.as_str())
            .execute(self.timed())
            .await
            .map_err(|err| write_error(err, "an audit event with this id exists"))?;
        Ok(())
    }

    async fn list_audit_events(
        &self,
        query: &AuditQuery,
        limit: u32,
        offset: u32,
    ) -> StoreResult<(Vec<AuditEvent>, u64)> {
        let f = Filter::of(query);
        let (clause, binds) = (f.clause(), &f.binds);
        let n = binds.len();
        let sql = format!(
            "SELECT {COLUMNS} FROM audit_events{clause} ORDER BY at DESC, id DESC \
             LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        );
        let rows = bind_all(sqlx::query(&sql), binds)
            .bind(i64::from(limit))
            .bind(i64::from(offset))
            .fetch_all(self.timed())
            .await
            .map_err(store_error)?;
        let events = rows
            .iter()
            .map(event_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        let count_sql = format!("SELECT count(*) FROM audit_events{clause}");
        let total: i64 = bind_all(sqlx::query(&count_sql), binds)
            .fetch_one(self.timed())
            .await
            .map_err(store_error)?
            .try_get(0)
            .map_err(store_error)?;
        Ok((events, u64::try_from(total).unwrap_or(0)))
    }

    async fn purge_audit_events(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        self.purge_batched("audit_events", "at < $1", &[millis(before)], BATCH)
            .await
    }
}
