//! The audit log (SPEC 11.3): security events recorded where they happen — clients and API
//! keys created, changed, rotated, disabled, revoked or deleted; refresh-token reuse that
//! revoked a family; sign-ins that succeeded or failed; consents given and revoked; members'
//! roles changed or removed; sessions signed out and passwords changed; people disabled,
//! enabled and made administrators; signing keys rotated — with who (a person, a client, an operator or Castellan
//! itself), from which address, on which organization, on what, and the outcome.
//!
//! An event holds ids and short plain details only: never a secret, a token, a password or
//! what someone typed into a sign-in form. Recording never stops the action it records: a
//! storage failure is logged (`audit_failed`) and counted, and the action's answer stands.
//! Events older than `audit.retention_days` are purged by the upkeep. [`http`] serves them.

pub mod http;

use castellan_store::audit::{ActorKind, AuditEvent, Outcome};
use castellan_store::Store;
use chrono::{DateTime, Utc};
use std::net::IpAddr;

/// What happened: the catalogue of event kinds, by the name stored and filtered on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A client was created (management API or registration).
    ClientCreated,
    /// A client's settings were changed.
    ClientUpdated,
    /// A client's secret was rotated.
    ClientSecretRotated,
    /// A client was deleted.
    ClientDeleted,
    /// An API key was created.
    ApiKeyCreated,
    /// An API key was disabled.
    ApiKeyDisabled,
    /// An API key was enabled again.
    ApiKeyEnabled,
    /// An API key was revoked.
    ApiKeyRevoked,
    /// An API key was replaced by a new one.
    ApiKeyRotated,
    /// A refresh token was used twice: its whole family was revoked.
    RefreshReuseDetected,
    /// A person signed in.
    SignInSucceeded,
    /// A sign-in was refused (wrong password, unknown account, disabled account).
    SignInFailed,
    /// A person let a client act for them.
    ConsentGiven,
    /// A person took a client's access back.
    ConsentRevoked,
    /// A member's role was set.
    MemberRoleChanged,
    /// A member was removed from an organization.
    MemberRemoved,
    /// An OWNER invited someone to an organization.
    MemberInvited,
    /// An invitation was withdrawn.
    InvitationWithdrawn,
    /// A person joined an organization through an invitation.
    MemberJoined,
    /// A person proved they receive mail at their address.
    EmailVerified,
    /// A person signed out sessions of theirs other than the one they used.
    SessionsEnded,
    /// A person's password was changed.
    PasswordChanged,
    /// An operator disabled a person.
    PersonDisabled,
    /// An operator enabled a person again.
    PersonEnabled,
    /// An operator gave a person the admin flag, or took it away.
    PersonAdminChanged,
    /// A new signing key took over.
    SigningKeyRotated,
    /// A person confirmed an authenticator app as their second factor.
    SecondFactorEnrolled,
    /// A person removed their authenticator app.
    SecondFactorRemoved,
    /// An operator removed a person's second factors (`castellan users reset-mfa`).
    SecondFactorReset,
    /// A second-factor code was refused.
    SecondFactorFailed,
    /// A recovery code was used.
    RecoveryCodeUsed,
    /// A person replaced their recovery codes.
    RecoveryCodesRenewed,
    /// An OWNER required a second factor of an organization's members, or stopped requiring it.
    SecondFactorPolicyChanged,
}

impl Kind {
    /// Every kind, in the catalogue's order.
    pub const ALL: [Kind; 33] = [
        Kind::ClientCreated,
        Kind::ClientUpdated,
        Kind::ClientSecretRotated,
        Kind::ClientDeleted,
        Kind::ApiKeyCreated,
        Kind::ApiKeyDisabled,
        Kind::ApiKeyEnabled,
        Kind::ApiKeyRevoked,
        Kind::ApiKeyRotated,
        Kind::RefreshReuseDetected,
        Kind::SignInSucceeded,
        Kind::SignInFailed,
        Kind::ConsentGiven,
        Kind::ConsentRevoked,
        Kind::MemberRoleChanged,
        Kind::MemberRemoved,
        Kind::MemberInvited,
        Kind::InvitationWithdrawn,
        Kind::MemberJoined,
        Kind::EmailVerified,
        Kind::SessionsEnded,
        Kind::PasswordChanged,
        Kind::PersonDisabled,
        Kind::PersonEnabled,
        Kind::PersonAdminChanged,
        Kind::SigningKeyRotated,
        Kind::SecondFactorEnrolled,
        Kind::SecondFactorRemoved,
        Kind::SecondFactorReset,
        Kind::SecondFactorFailed,
        Kind::RecoveryCodeUsed,
        Kind::RecoveryCodesRenewed,
        Kind::SecondFactorPolicyChanged,
    ];

    /// The stored name (`client.created` …).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::ClientCreated => "client.created",
            Kind::ClientUpdated => "client.updated",
            Kind::ClientSecretRotated => "client.secret_rotated",
            Kind::ClientDeleted => "client.deleted",
            Kind::ApiKeyCreated => "api_key.created",
            Kind::ApiKeyDisabled => "api_key.disabled",
            Kind::ApiKeyEnabled => "api_key.enabled",
            Kind::ApiKeyRevoked => "api_key.revoked",
            Kind::ApiKeyRotated => "api_key.rotated",
            Kind::RefreshReuseDetected => "refresh_token.reuse_detected",
            Kind::SignInSucceeded => "sign_in.succeeded",
            Kind::SignInFailed => "sign_in.failed",
            Kind::ConsentGiven => "consent.given",
            Kind::ConsentRevoked => "consent.revoked",
            Kind::MemberRoleChanged => "member.role_changed",
            Kind::MemberRemoved => "member.removed",
            Kind::MemberInvited => "member.invited",
            Kind::InvitationWithdrawn => "member.invitation_withdrawn",
            Kind::MemberJoined => "member.joined",
            Kind::EmailVerified => "person.email_verified",
            Kind::SessionsEnded => "session.ended",
            Kind::PasswordChanged => "person.password_changed",
            Kind::PersonDisabled => "person.disabled",
            Kind::PersonEnabled => "person.enabled",
            Kind::PersonAdminChanged => "person.admin_changed",
            Kind::SigningKeyRotated => "signing_key.rotated",
            Kind::SecondFactorEnrolled => "second_factor.enrolled",
            Kind::SecondFactorRemoved => "second_factor.removed",
            Kind::SecondFactorReset => "second_factor.reset",
            Kind::SecondFactorFailed => "second_factor.failed",
            Kind::RecoveryCodeUsed => "second_factor.recovery_code_used",
            Kind::RecoveryCodesRenewed => "second_factor.recovery_codes_renewed",
            Kind::SecondFactorPolicyChanged => "organization.second_factor_policy",
        }
    }

    /// Whether the kind records a refusal rather than a change.
    fn outcome(self) -> Outcome {
        match self {
            Kind::SignInFailed | Kind::RefreshReuseDetected | Kind::SecondFactorFailed => {
                Outcome::Failure
            }
            _ => Outcome::Success,
        }
    }

    /// The kinds a filter names: one kind (`api_key.revoked`) or a family (`api_key.*`);
    /// `None` when it names none of the catalogue.
    pub fn matching(filter: &str) -> Option<Vec<&'static str>> {
        let names: Vec<&'static str> = match filter.strip_suffix(".*") {
            Some(family) => Kind::ALL
                .iter()
                .map(|k| k.as_str())
                .filter(|n| n.split('.').next() == Some(family))
                .collect(),
            None => Kind::ALL
                .iter()
                .map(|k| k.as_str())
                .filter(|n| *n == filter)
                .collect(),
        };
        (!names.is_empty()).then_some(names)
    }
}

/// Who acted, and from where: built once per request by the handler and handed to what
/// records events.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Person, client, operator or Castellan itself.
    pub kind: ActorKind,
    /// The person's or client's id, the operator's name; empty when unknown.
    pub id: String,
    /// The request's address (none at the command line).
    pub address: Option<IpAddr>,
    /// The client a person acted through (their token's), said in each event's detail.
    pub via_client: Option<String>,
}

impl Caller {
    /// A person acting through a page or a token issued to them.
    pub fn person(id: &str, address: Option<IpAddr>) -> Caller {
        Caller {
            kind: ActorKind::Person,
            id: id.to_owned(),
            address,
            via_client: None,
        }
    }

    /// The caller behind an access token: its person when it was issued to one (the client
    /// they acted through is said in the detail), else the client acting for itself.
    pub fn of_token(person: Option<&str>, client_id: &str, address: Option<IpAddr>) -> Caller {
        match person {
            Some(p) => Caller {
                via_client: Some(client_id.to_owned()),
                ..Caller::person(p, address)
            },
            None => Caller::client(client_id, address),
        }
    }

    /// A client acting for itself (or a registrant, named as registration names it).
    pub fn client(id: &str, address: Option<IpAddr>) -> Caller {
        Caller {
            kind: ActorKind::Client,
            id: id.to_owned(),
            address,
            via_client: None,
        }
    }

    /// An operator at the command line (named by the system user running it).
    pub fn operator() -> Caller {
        let name = std::env::var("USER")
            .ok()
            .filter(|n| !n.is_empty() && n.len() <= 64 && castellan_core::text::check(n).is_ok())
            .unwrap_or_else(|| "cli".to_owned());
        Caller {
            kind: ActorKind::Operator,
            id: name,
            address: None,
            via_client: None,
        }
    }

    /// Castellan itself, answering a request from `address`.
    pub fn system(address: Option<IpAddr>) -> Caller {
        Caller {
            kind: ActorKind::System,
            id: String::new(),
            address,
            via_client: None,
        }
    }

    /// An event of `kind` caused by this caller.
    pub fn did(&self, kind: Kind) -> Event {
        Event {
            kind,
            caller: self.clone(),
            organization: None,
            target: None,
            detail: String::new(),
        }
    }
}

/// An event about to be recorded.
#[derive(Debug, Clone)]
pub struct Event {
    kind: Kind,
    caller: Caller,
    organization: Option<String>,
    target: Option<String>,
    detail: String,
}

impl Event {
    /// The organization it concerns.
    pub fn organization(mut self, id: Option<&str>) -> Event {
        self.organization = id.map(str::to_owned);
        self
    }

    /// The id of what was acted on.
    pub fn target(mut self, id: &str) -> Event {
        self.target = Some(id.to_owned());
        self
    }

    /// A short plain detail (a role, a scope list, a count); never a secret.
    pub fn detail(mut self, detail: impl Into<String>) -> Event {
        self.detail = detail.into();
        self
    }

    fn stored(self, at: DateTime<Utc>) -> AuditEvent {
        let detail = match (&self.caller.via_client, self.detail.is_empty()) {
            (Some(client), true) => format!("through client {client}"),
            (Some(client), false) => format!("{}; through client {client}", self.detail),
            (None, _) => self.detail,
        };
        AuditEvent {
            id: format!("evt_{}", castellan_crypto::random_id(22)),
            at,
            kind: self.kind.as_str().to_owned(),
            actor_kind: self.caller.kind,
            actor_id: self.caller.id,
            organization_id: self.organization,
            address: self.caller.address.map(|a| a.to_string()),
            outcome: self.kind.outcome(),
            target: self.target,
            detail: detail.chars().take(300).collect(),
        }
    }
}

/// Where events are recorded, and the time they are recorded at: the server's state (see
/// `platform::state`) is one.
pub trait Journal {
    /// The store events go to.
    fn audit_store(&self) -> &dyn Store;
    /// The time now.
    fn audit_now(&self) -> DateTime<Utc>;
}

/// Records `event` at the server's time. A storage failure is logged and counted, never
/// answered: the action it records has happened.
pub async fn record(journal: &impl Journal, event: Event) {
    record_in(journal.audit_store(), journal.audit_now(), event).await;
}

/// Records `event` at `at` in `store` (the command line, which has no server state).
pub async fn record_in(store: &dyn Store, at: DateTime<Utc>, event: Event) {
    let kind = event.kind.as_str();
    if let Err(e) = store.record_audit_event(&event.stored(at)).await {
        metrics::counter!(crate::platform::metrics::AUDIT_FAILURES).increment(1);
        tracing::warn!(event = "audit_failed", kind, error = %e, "an audit event could not be stored");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_have_unique_names_and_filters_name_kinds_or_families() {
        let mut names: Vec<_> = Kind::ALL.iter().map(|k| k.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Kind::ALL.len());
        assert_eq!(
            Kind::matching("api_key.*").unwrap(),
            [
                "api_key.created",
                "api_key.disabled",
                "api_key.enabled",
                "api_key.revoked",
                "api_key.rotated"
            ]
        );
        assert_eq!(
            Kind::matching("sign_in.failed").unwrap(),
            ["sign_in.failed"]
        );
        for bad in [
            "",
            "*",
            "api_key",
            "api_key.",
            "nope.*",
            "client.created'--",
            ".*",
        ] {
            assert_eq!(Kind::matching(bad), None, "{bad}");
        }
    }

    #[test]
    fn an_event_keeps_ids_and_a_short_detail() {
        let e = Caller::person("usr_1", Some([192, 0, 2, 1].into()))
            .did(Kind::ApiKeyRevoked)
            .organization(Some("org_1"))
            .target("key_1")
            .detail("x".repeat(500))
            .stored(DateTime::from_timestamp(0, 0).unwrap_or_default());
        assert_eq!(e.kind, "api_key.revoked");
        assert_eq!(e.actor_kind, ActorKind::Person);
        assert_eq!(e.address.as_deref(), Some("192.0.2.1"));
        assert_eq!(e.detail.len(), 300);
        let through = Caller::of_token(Some("usr_1"), "cli_1", None)
            .did(Kind::ConsentRevoked)
            .detail("client x")
            .stored(e.at);
        assert_eq!(
            (through.actor_id.as_str(), through.detail.as_str()),
            ("usr_1", "client x; through client cli_1")
        );
        assert_eq!(e.outcome, Outcome::Success);
        assert!(e.id.starts_with("evt_"));
        let failed = Caller::system(None).did(Kind::SignInFailed).stored(e.at);
        assert_eq!(failed.outcome, Outcome::Failure);
    }
}
