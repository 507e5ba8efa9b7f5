//! Row ↔ domain mapping: the stored representation of clients, keys and tokens.
//!
//! Instants are Unix milliseconds, `last_used_at` is days since 1970-01-01, hashes are raw
//! 32-byte blobs, booleans are 0/1, scope patterns and grant types are space-separated, and
//! redirect URIs, metadata and tenants are JSON. Reading a row that breaks these rules is
//! `Corrupt`.

use crate::{OpaqueToken, StoreError, StoreResult, StoredKey};
use castellan_core::client::{
    AuthMethod, Client, ClientKind, GrantType, PreviousSecret, Registration, SecretHash,
    TokenFormat,
};
use castellan_core::resource::Audience;
use castellan_core::scope::{parse_patterns, patterns_to_string, ScopeSet};
use castellan_core::Secret;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use sqlx::any::AnyRow;
use sqlx::Row;

pub(crate) mod people;

/// The columns of `clients`, in the order [`client_from_row`] reads them by name.
pub(crate) const CLIENT_COLUMNS: &str = "id, name, kind, secret_hash, scope, default_scope, \
    grant_types, redirect_uris, auth_method, token_format, public_client_credentials, \
    access_token_validity_seconds, refresh_token_validity_seconds, created_at, last_used_at, \
    delete_at, software_id, registered_by, registration_token_hash, metadata, tier, tenants, \
    previous_secret_hash, previous_secret_expires_at";

pub(crate) const KEY_COLUMNS: &str = "kid, alg, private_pkcs8, created_at, retired_at, expires_at";

pub(crate) const TOKEN_COLUMNS: &str =
    "hash, client_id, subject, scope, audience, claims, issued_at, expires_at, revoked";

/// `num_days_from_ce` of 1970-01-01.
const EPOCH_DAYS_FROM_CE: i64 = 719_163;

pub(crate) fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn days(d: NaiveDate) -> i64 {
    i64::from(d.num_days_from_ce()) - EPOCH_DAYS_FROM_CE
}

pub(crate) fn from_millis(ms: i64, column: &str) -> StoreResult<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| corrupt(column, format!("{ms} is not a valid instant")))
}

pub(crate) fn from_days(d: i64, column: &str) -> StoreResult<NaiveDate> {
    d.checked_add(EPOCH_DAYS_FROM_CE)
        .and_then(|ce| i32::try_from(ce).ok())
        .and_then(NaiveDate::from_num_days_from_ce_opt)
        .ok_or_else(|| corrupt(column, format!("{d} is not a valid day")))
}

fn corrupt(column: &str, what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{column}: {what}"))
}

pub(crate) fn get<'r, T>(row: &'r AnyRow, column: &str) -> StoreResult<T>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get(column).map_err(|e| corrupt(column, e))
}

/// A list of resources stored as one text column, separated by spaces (a URI holds none);
/// NULL for none.
fn audience(row: &AnyRow, column: &str) -> StoreResult<Option<Audience>> {
    let text: Option<String> = get(row, column)?;
    Ok(text.as_deref().and_then(Audience::from_text))
}

/// The text stored for a list of resources ([`audience`]).
pub(crate) fn audience_text(aud: Option<&Audience>) -> Option<String> {
    aud.map(Audience::to_text)
}

fn hash32(bytes: Vec<u8>, column: &str) -> StoreResult<[u8; 32]> {
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| corrupt(column, format!("expected 32 bytes, got {}", bytes.len())))
}

fn flag(v: i64, column: &str) -> StoreResult<bool> {
    match v {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(corrupt(column, format!("expected 0 or 1, got {other}"))),
    }
}

fn json_object(
    text: &str,
    column: &str,
) -> StoreResult<serde_json::Map<String, serde_json::Value>> {
    serde_json::from_str(text).map_err(|e| corrupt(column, e))
}

fn to_json<T: serde::Serialize>(value: &T, what: &str) -> StoreResult<String> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::Corrupt(format!("cannot encode {what} as JSON: {e}")))
}

/// A client in its stored representation, ready to bind.
pub(crate) struct ClientRow {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub secret_hash: Option<Vec<u8>>,
    pub scope: String,
    pub default_scope: Option<String>,
    pub grant_types: String,
    pub redirect_uris: String,
    pub auth_method: String,
    pub token_format: String,
    pub public_client_credentials: i16,
    pub access_token_validity_seconds: Option<i64>,
    pub refresh_token_validity_seconds: Option<i64>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub delete_at: Option<i64>,
    pub software_id: Option<String>,
    pub registered_by: Option<String>,
    pub registration_token_hash: Option<Vec<u8>>,
    pub metadata: String,
    pub tier: Option<String>,
    pub tenants: String,
    pub previous_secret_hash: Option<Vec<u8>>,
    pub previous_secret_expires_at: Option<i64>,
}

impl ClientRow {
    pub(crate) fn from_client(c: &Client) -> StoreResult<Self> {
        let reg = c.registration.as_ref();
        Ok(ClientRow {
            id: c.id.clone(),
            name: c.name.clone(),
            kind: c.kind.as_str().to_owned(),
            secret_hash: c.secret_hash.as_ref().map(|h| h.0.to_vec()),
            scope: patterns_to_string(&c.scope),
            default_scope: c.default_scope.as_ref().map(ToString::to_string),
            grant_types: c
                .grant_types
                .iter()
                .map(|g| g.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            redirect_uris: to_json(&c.redirect_uris, "redirect URIs")?,
            auth_method: c.auth_method.as_str().to_owned(),
            token_format: c.token_format.as_str().to_owned(),
            public_client_credentials: i16::from(c.public_client_credentials),
            access_token_validity_seconds: c.access_token_validity_seconds.map(i64::from),
            refresh_token_validity_seconds: c.refresh_token_validity_seconds.map(i64::from),
            created_at: millis(c.created_at),
            last_used_at: c.last_used_at.map(days),
            delete_at: c.delete_at.map(millis),
            software_id: reg.and_then(|r| r.software_id.clone()),
            registered_by: reg.and_then(|r| r.registered_by.clone()),
            registration_token_hash: reg.map(|r| r.access_token_hash.0.to_vec()),
            metadata: to_json(&c.metadata, "client metadata")?,
            tier: c.tier.clone(),
            tenants: to_json(&c.tenants, "client tenants")?,
            previous_secret_hash: c.previous_secret.as_ref().map(|p| p.hash.0.to_vec()),
            previous_secret_expires_at: c.previous_secret.as_ref().map(|p| millis(p.expires_at)),
        })
    }
}

fn seconds(v: Option<i64>, column: &str) -> StoreResult<Option<u32>> {
    v.map(|s| u32::try_from(s).map_err(|_| corrupt(column, format!("{s} is out of range"))))
        .transpose()
}

pub(crate) fn client_from_row(row: &AnyRow) -> StoreResult<Client> {
    let kind: String = get(row, "kind")?;
    let scope: String = get(row, "scope")?;
    let default_scope: Option<String> = get(row, "default_scope")?;
    let grant_types: String = get(row, "grant_types")?;
    let redirect_uris: String = get(row, "redirect_uris")?;
    let auth_method: String = get(row, "auth_method")?;
    let token_format: String = get(row, "token_format")?;
    let registration_token_hash: Option<Vec<u8>> = get(row, "registration_token_hash")?;
    let metadata: String = get(row, "metadata")?;
    let secret_hash: Option<Vec<u8>> = get(row, "secret_hash")?;
    let tenants: String = get(row, "tenants")?;
    let previous_secret = match (
        get::<Option<Vec<u8>>>(row, "previous_secret_hash")?,
        get::<Option<i64>>(row, "previous_secret_expires_at")?,
    ) {
        (None, None) => None,
        (Some(h), Some(t)) => Some(PreviousSecret {
            hash: SecretHash(hash32(h, "previous_secret_hash")?),
            expires_at: from_millis(t, "previous_secret_expires_at")?,
        }),
        _ => {
            return Err(corrupt(
                "previous_secret_hash",
                "hash and expiry go together",
            ))
        }
    };

    let registration = match registration_token_hash {
        None => None,
        Some(h) => Some(Registration {
            software_id: get(row, "software_id")?,
            registered_by: get(row, "registered_by")?,
            access_token_hash: SecretHash(hash32(h, "registration_token_hash")?),
        }),
    };

    Ok(Client {
        id: get(row, "id")?,
        name: get(row, "name")?,
        kind: ClientKind::parse(&kind).ok_or_else(|| corrupt("kind", "unknown client kind"))?,
        secret_hash: secret_hash
            .map(|h| hash32(h, "secret_hash").map(SecretHash))
            .transpose()?,
        previous_secret,
        scope: parse_patterns(&scope).map_err(|e| corrupt("scope", e))?,
        default_scope: default_scope
            .map(|s| ScopeSet::parse(&s).map_err(|e| corrupt("default_scope", e)))
            .transpose()?,
        grant_types: grant_types
            .split(' ')
            .filter(|g| !g.is_empty())
            .map(|g| {
                GrantType::parse(g).ok_or_else(|| corrupt("grant_types", "unknown grant type"))
            })
            .collect::<StoreResult<_>>()?,
        redirect_uris: serde_json::from_str(&redirect_uris)
            .map_err(|e| corrupt("redirect_uris", e))?,
        auth_method: AuthMethod::parse(&auth_method)
            .ok_or_else(|| corrupt("auth_method", "unknown authentication method"))?,
        token_format: TokenFormat::parse(&token_format)
            .ok_or_else(|| corrupt("token_format", "unknown token format"))?,
        public_client_credentials: flag(
            get(row, "public_client_credentials")?,
            "public_client_credentials",
        )?,
        access_token_validity_seconds: seconds(
            get(row, "access_token_validity_seconds")?,
            "access_token_validity_seconds",
        )?,
        refresh_token_validity_seconds: seconds(
            get(row, "refresh_token_validity_seconds")?,
            "refresh_token_validity_seconds",
        )?,
        created_at: from_millis(get(row, "created_at")?, "created_at")?,
        last_used_at: get::<Option<i64>>(row, "last_used_at")?
            .map(|d| from_days(d, "last_used_at"))
            .transpose()?,
        delete_at: get::<Option<i64>>(row, "delete_at")?
            .map(|t| from_millis(t, "delete_at"))
            .transpose()?,
        registration,
        metadata: json_object(&metadata, "metadata")?,
        tier: get(row, "tier")?,
        tenants: serde_json::from_str(&tenants).map_err(|e| corrupt("tenants", e))?,
    })
}

pub(crate) fn key_from_row(row: &AnyRow) -> StoreResult<StoredKey> {
    Ok(StoredKey {
        kid: get(row, "kid")?,
        alg: get(row, "alg")?,
        private_pkcs8: Secret::new(get::<String>(row, "private_pkcs8")?),
        created_at: from_millis(get(row, "created_at")?, "created_at")?,
        retired_at: get::<Option<i64>>(row, "retired_at")?
            .map(|t| from_millis(t, "retired_at"))
            .transpose()?,
        expires_at: get::<Option<i64>>(row, "expires_at")?
            .map(|t| from_millis(t, "expires_at"))
            .transpose()?,
    })
}

pub(crate) fn token_from_row(row: &AnyRow) -> StoreResult<OpaqueToken> {
    let claims: String = get(row, "claims")?;
    Ok(OpaqueToken {
        hash: hash32(get(row, "hash")?, "hash")?,
        client_id: get(row, "client_id")?,
        subject: get(row, "subject")?,
        scope: get(row, "scope")?,
        audience: audience(row, "audience")?,
        claims: json_object(&claims, "claims")?,
        issued_at: from_millis(get(row, "issued_at")?, "issued_at")?,
        expires_at: from_millis(get(row, "expires_at")?, "expires_at")?,
        revoked: flag(get(row, "revoked")?, "revoked")?,
    })
}

/// Encodes opaque-token claims for storage.
pub(crate) fn claims_json(
    claims: &serde_json::Map<String, serde_json::Value>,
) -> StoreResult<String> {
    to_json(claims, "token claims")
}

/// A device authorization of a row of `device_authorizations`.
pub(crate) fn device_from_row(row: &AnyRow) -> StoreResult<crate::device::DeviceAuthorization> {
    use crate::device::{DeviceApproval, DeviceAuthorization, DeviceStatus};
    let status: String = get(row, "status")?;
    let user_id: Option<String> = get(row, "user_id")?;
    let consent_id: Option<String> = get(row, "consent_id")?;
    let family_id: Option<String> = get(row, "family_id")?;
    let auth_time: Option<i64> = get(row, "auth_time")?;
    let approval = match (user_id, consent_id, family_id, auth_time) {
        (Some(user_id), Some(consent_id), Some(family_id), Some(auth_time)) => {
            Some(DeviceApproval {
                user_id,
                organization_id: get(row, "organization_id")?,
                consent_id,
                family_id,
                auth_time: from_millis(auth_time, "auth_time")?,
                // Approvals stored before sign-in methods were recorded were by password.
                amr: match get::<Option<String>>(row, "amr")? {
                    Some(stored) => castellan_core::authn::Amr::parse(&stored)
                        .ok_or_else(|| corrupt("amr", "unknown method"))?,
                    None => castellan_core::authn::Amr::PASSWORD,
                },
            })
        }
        _ => None,
    };
    Ok(DeviceAuthorization {
        device_hash: hash32(get(row, "device_hash")?, "device_hash")?,
        user_code_hash: hash32(get(row, "user_code_hash")?, "user_code_hash")?,
        client_id: get(row, "client_id")?,
        scope: get(row, "scope")?,
        resources: audience(row, "resources")?,
        status: DeviceStatus::parse(&status).ok_or_else(|| corrupt("status", "unknown status"))?,
        approval,
        created_at: from_millis(get(row, "created_at")?, "created_at")?,
        expires_at: from_millis(get(row, "expires_at")?, "expires_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_count_from_the_unix_epoch() {
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        assert_eq!(days(epoch), 0);
        let d = NaiveDate::from_ymd_opt(2005, 9, 10).unwrap();
        assert_eq!(days(d), 13036);
        assert_eq!(from_days(13036, "x").unwrap(), d);
        assert_eq!(
            from_days(-1, "x").unwrap(),
            NaiveDate::from_ymd_opt(1969, 12, 31).unwrap()
        );
        assert!(from_days(i64::MAX, "x").is_err());
    }
}
