//! The audit log: security events (who did what, when, from where, on which organization,
//! with what outcome), kept for the configured retention and read back with filters and
//! paging. An event never holds a secret, a token or a password: what it names are ids.

use crate::StoreResult;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// Who caused an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActorKind {
    /// A person (a session on a page, or a token issued to them).
    Person,
    /// A client acting for itself (its own token).
    Client,
    /// An operator at the command line.
    Operator,
    /// Castellan itself (the reuse of a refresh token it detected, an unknown sign-in).
    System,
}

impl ActorKind {
    /// The name stored and shown (`person`, `client`, `operator`, `system`).
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::Person => "person",
            ActorKind::Client => "client",
            ActorKind::Operator => "operator",
            ActorKind::System => "system",
        }
    }

    /// The kind named `s`.
    pub fn parse(s: &str) -> Option<ActorKind> {
        Some(match s {
            "person" => ActorKind::Person,
            "client" => ActorKind::Client,
            "operator" => ActorKind::Operator,
            "system" => ActorKind::System,
            _ => return None,
        })
    }
}

/// Whether what an event records succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It was done.
    Success,
    /// It was attempted and refused (a failed sign-in, a reused refresh token).
    Failure,
}

impl Outcome {
    /// The name stored and shown (`success`, `failure`).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        }
    }

    /// The outcome named `s`.
    pub fn parse(s: &str) -> Option<Outcome> {
        match s {
            "success" => Some(Outcome::Success),
            "failure" => Some(Outcome::Failure),
            _ => None,
        }
    }
}

/// One security event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// Its id (`evt_…`).
    pub id: String,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// What happened, from the server's catalogue (`client.created`, `sign_in.failed` …).
    pub kind: String,
    /// Who caused it.
    pub actor_kind: ActorKind,
    /// Their id: a person's or a client's id, an operator's name; empty when unknown.
    pub actor_id: String,
    /// The organization it concerns, if any.
    pub organization_id: Option<String>,
    /// The address the request came from (none for the command line).
    pub address: Option<String>,
    /// Whether it succeeded.
    pub outcome: Outcome,
    /// The id of what was acted on (a client, a key, a person, a consent …), if any.
    pub target: Option<String>,
    /// A short plain-text detail (a role, a scope list, a count); never a secret.
    pub detail: String,
}

/// A filter on the audit log; every field given must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Exact event kinds (any of them); empty: every kind.
    pub kinds: Vec<String>,
    /// The actor's id.
    pub actor_id: Option<String>,
    /// The organization.
    pub organization_id: Option<String>,
    /// The organizations, any of them (a person's page: those they own); `None`: no filter.
    pub organizations: Option<Vec<String>>,
    /// Events at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// Events before this instant.
    pub until: Option<DateTime<Utc>>,
}

/// The audit log.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends an event. `Conflict` when its id is taken.
    async fn record_audit_event(&self, event: &AuditEvent) -> StoreResult<()>;
    /// One page of the events matching `query`, newest first, and how many match in all.
    async fn list_audit_events(
        &self,
        query: &AuditQuery,
        limit: u32,
        offset: u32,
    ) -> StoreResult<(Vec<AuditEvent>, u64)>;
    /// Deletes events older than `before`; answers how many.
    async fn purge_audit_events(&self, before: DateTime<Utc>) -> StoreResult<u64>;
}
