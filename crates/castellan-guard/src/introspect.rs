//! Opaque tokens and API keys, checked through Castellan's introspection endpoint (RFC 7662
//! §2) with a short cache of both answers: active ones until the sooner of their `exp` and the
//! active TTL, inactive ones for the inactive TTL. A failed call is never cached and never
//! allows: the request answers 503.

use crate::config::ClientSecret;
use crate::failure::Failure;
use crate::identity::{CredentialKind, Identity, Role};
use crate::ttl::{cache_key, until, PerEntry, Timed};
use castellan_core::token::Inactive;
use castellan_core::Environment;
use serde::Deserialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The fields of an introspection answer the guard reads.
#[derive(Debug, Deserialize)]
struct Answer {
    active: bool,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    exp: Option<i64>,
    #[serde(default)]
    iss: Option<String>,
    /// One audience or several (RFC 7662 §2.2).
    #[serde(default)]
    aud: Option<serde_json::Value>,
    #[serde(default)]
    env: Option<String>,
    #[serde(default)]
    org: Option<String>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    brand: Option<String>,
    #[serde(default)]
    venue: Option<String>,
    /// For API keys: `active`, `disabled`, `revoked`, `expired`.
    #[serde(default)]
    status: Option<String>,
    /// The rate-limit tier: an API key's, or an access token's client's.
    #[serde(default)]
    tier: Option<String>,
    /// The key a DPoP-bound token is bound to (RFC 9449 §6.2: `{"jkt": …}`).
    #[serde(default)]
    cnf: Option<serde_json::Value>,
}

#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    Active {
        identity: Arc<Identity>,
        tier: Option<Arc<str>>,
        jkt: Option<Arc<str>>,
        iss: Option<String>,
        aud: Option<serde_json::Value>,
        env: Option<String>,
    },
    Inactive {
        why: NotActive,
    },
}

/// Why introspection called a credential inactive, as far as the answer says (its `status`
/// extension, given for API keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotActive {
    /// Disabled or revoked: 403 for an API key, which exists but may not be used.
    Disabled,
    /// Past its expiry: 401 `expired`, as forward-auth answers.
    Expired,
    /// Unknown, or no reason given.
    Unknown,
}

impl NotActive {
    fn from_status(status: Option<&str>) -> Self {
        match status {
            Some("disabled" | "revoked") => NotActive::Disabled,
            Some("expired") => NotActive::Expired,
            _ => NotActive::Unknown,
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum CallError {
    #[error("introspection request failed: {0}")]
    Http(#[from] reqwest::Error),
    #[error("introspection answered {0}")]
    Status(reqwest::StatusCode),
}

/// An active credential, as introspection describes it.
pub(crate) struct Introspected {
    pub identity: Arc<Identity>,
    /// The rate-limit tier (API keys).
    pub tier: Option<Arc<str>>,
    /// The key a token is bound to (`cnf.jkt`).
    pub jkt: Option<Arc<str>>,
}

pub(crate) struct Introspector {
    pub url: String,
    pub client_id: String,
    pub secret: ClientSecret,
    pub http: reqwest::Client,
    pub cache: moka::future::Cache<[u8; 32], Timed<Outcome>>,
    pub active_ttl: Duration,
    pub inactive_ttl: Duration,
    pub issuer: String,
    pub environment: Environment,
    /// The audiences an opaque token must have been issued for (API keys have none).
    pub audiences: Vec<String>,
    pub calls: AtomicU64,
}

impl Introspector {
    pub fn cache(capacity: u64) -> moka::future::Cache<[u8; 32], Timed<Outcome>> {
        moka::future::Cache::builder()
            .max_capacity(capacity)
            .expire_after(PerEntry)
            .build()
    }

    pub fn call_count(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Checks an opaque token or API key at `now` (Unix seconds): the caller, the
    /// rate-limit tier introspection names (API keys) and the key a token is bound to.
    pub async fn check(
        &self,
        credential: &str,
        kind: CredentialKind,
        now: i64,
    ) -> Result<Introspected, Failure> {
        let tag = match kind {
            CredentialKind::ApiKey => 1,
            CredentialKind::OpaqueToken | CredentialKind::Jwt => 2,
        };
        let cached = self
            .cache
            .try_get_with(cache_key(tag, credential), self.call(credential, kind, now))
            .await
            .map_err(|e| {
                tracing::error!(error = %e, url = %self.url, "introspection failed");
                Failure::IntrospectionUnavailable
            })?;
        self.interpret(cached.value, kind, now)
    }

    fn interpret(
        &self,
        outcome: Outcome,
        kind: CredentialKind,
        now: i64,
    ) -> Result<Introspected, Failure> {
        match outcome {
            Outcome::Active {
                identity,
                tier,
                jkt,
                iss,
                aud,
                env,
            } => {
                if iss.is_some_and(|i| i != self.issuer) {
                    return Err(Failure::Token(Inactive::WrongIssuer));
                }
                // A malformed `aud` names no audience this API accepts.
                if kind != CredentialKind::ApiKey
                    && crate::audience::accepts(aud.as_ref(), &self.audiences) != Ok(true)
                {
                    return Err(Failure::WrongAudience);
                }
                if env.is_some_and(|e| e != self.environment.as_str()) {
                    return Err(Failure::Token(Inactive::WrongEnvironment));
                }
                if identity.expires_at.is_some_and(|exp| exp <= now) {
                    return Err(Failure::Token(Inactive::Expired));
                }
                Ok(Introspected {
                    identity,
                    tier,
                    jkt,
                })
            }
            Outcome::Inactive { why } => Err(match (kind, why) {
                (CredentialKind::ApiKey, NotActive::Disabled) => Failure::ApiKeyDisabled,
                (CredentialKind::ApiKey, NotActive::Expired) => Failure::ApiKeyExpired,
                (CredentialKind::ApiKey, NotActive::Unknown) => Failure::UnknownApiKey,
                (CredentialKind::OpaqueToken | CredentialKind::Jwt, _) => Failure::TokenNotActive,
            }),
        }
    }

    async fn call(
        &self,
        credential: &str,
        kind: CredentialKind,
        now: i64,
    ) -> Result<Timed<Outcome>, CallError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let hint = match kind {
            CredentialKind::ApiKey => "api_key",
            CredentialKind::OpaqueToken | CredentialKind::Jwt => "access_token",
        };
        let res = self
            .http
            .post(&self.url)
            .basic_auth(&self.client_id, Some(self.secret.expose()))
            .form(&[("token", credential), ("token_type_hint", hint)])
            .send()
            .await?;
        if !res.status().is_success() {
            return Err(CallError::Status(res.status()));
        }
        let a: Answer = res.json().await?;
        if !a.active {
            return Ok(Timed {
                value: Outcome::Inactive {
                    why: NotActive::from_status(a.status.as_deref()),
                },
                ttl: self.inactive_ttl,
            });
        }
        // A `cnf` without `jkt` binds the token to something this guard cannot check (a
        // certificate): refused as not active rather than let through as a bearer token.
        let Ok(jkt) = crate::jwt::bound_key(a.cnf.as_ref()) else {
            return Ok(Timed {
                value: Outcome::Inactive {
                    why: NotActive::Unknown,
                },
                ttl: self.inactive_ttl,
            });
        };
        let jkt = jkt.map(Arc::from);
        let client_id = a.client_id.unwrap_or_default();
        let identity = Identity {
            subject: a.sub.unwrap_or_else(|| client_id.clone()),
            client_id,
            organization: a.org,
            scopes: a
                .scope
                .as_deref()
                .map(Identity::scopes_from)
                .unwrap_or_default(),
            role: a.role.as_deref().and_then(Role::parse),
            kind,
            brand: a.brand,
            venue: a.venue,
            expires_at: a.exp,
        };
        Ok(Timed {
            ttl: until(a.exp, now, self.active_ttl),
            value: Outcome::Active {
                identity: Arc::new(identity),
                tier: a.tier.map(Arc::from),
                jkt,
                iss: a.iss,
                aud: a.aud,
                env: a.env,
            },
        })
    }
}
