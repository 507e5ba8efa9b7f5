//! `GET /oauth/revocations?since=<cursor>&limit=<n>`: the revocation feed that
//! resource servers checking JWTs locally (the guard) poll to learn what was revoked. Needs a
//! client's bearer token with the `introspect` scope. See `docs/api.md`.

use crate::error::ApiError;
use crate::oauth::bearer::Bearer;
use crate::oauth::revocation_feed::horizon;
use crate::platform::state::AppState;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use castellan_core::scope::INTROSPECT;
use castellan_store::Revocation;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// Entries answered when `limit` is not given, and the most one page holds.
pub const DEFAULT_LIMIT: u32 = 100;
/// The most entries one page may ask for.
pub const MAX_LIMIT: u32 = 1000;

/// `GET /oauth/revocations`: one page of the revocation feed.
pub async fn get_revocations(
    State(state): State<AppState>,
    bearer: Bearer,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    if bearer.token.family().is_some() || !bearer.scopes.contains_str(INTROSPECT) {
        return Err(ApiError::Forbidden {
            needed: INTROSPECT.to_owned(),
        });
    }
    let (since, limit) = parameters(query.as_deref().unwrap_or(""))?;
    let entries = state.store.revocations_since(since, limit).await?;
    let next = entries.last().map_or(since, |e| e.cursor);
    let horizon = horizon(&state);
    let body = json!({
        "entries": entries.iter().map(|e| entry(e, horizon)).collect::<Vec<_>>(),
        "next": next,
    });
    let mut res = Json(body).into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

fn entry(e: &Revocation, horizon: chrono::Duration) -> Value {
    let expires: DateTime<Utc> = e.expires_at.unwrap_or(e.created_at + horizon);
    let mut v = json!({
        "cursor": e.cursor,
        "kind": e.revoked.kind(),
        "value": e.revoked.value(),
        "revoked_at": e.created_at.timestamp(),
        "expires_at": expires.timestamp(),
    });
    if let (Some(subject), Some(obj)) = (e.revoked.subject(), v.as_object_mut()) {
        obj.insert("subject".into(), subject.into());
    }
    v
}

/// `since` (a cursor, default 0) and `limit` (1 to [`MAX_LIMIT`], default [`DEFAULT_LIMIT`]).
fn parameters(query: &str) -> Result<(i64, u32), ApiError> {
    let mut since = None;
    let mut limit = None;
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        let slot = match &*k {
            "since" => &mut since,
            "limit" => &mut limit,
            _ => continue,
        };
        if slot.is_some() {
            return Err(ApiError::invalid_input(format!("`{k}` is given twice.")));
        }
        *slot = Some(v.into_owned());
    }
    let since = match since {
        None => 0,
        Some(s) => s
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0 && s.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| {
                ApiError::invalid_input("`since` must be a cursor: a whole number, 0 or more.")
            })?,
    };
    let limit = match limit {
        None => DEFAULT_LIMIT,
        Some(s) => s
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n) && s.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| {
                ApiError::invalid_input(format!("`limit` must be between 1 and {MAX_LIMIT}."))
            })?,
    };
    Ok((since, limit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_have_defaults_and_bounds() {
        assert_eq!(parameters("").unwrap(), (0, DEFAULT_LIMIT));
        assert_eq!(parameters("since=12&limit=5").unwrap(), (12, 5));
        assert_eq!(parameters("other=1&since=0").unwrap(), (0, DEFAULT_LIMIT));
        for bad in [
            "since=-1",
            "since=x",
            "since=%2B3",
            "since=1&since=2",
            "limit=0",
            "limit=1001",
            "limit=",
        ] {
            assert!(parameters(bad).is_err(), "{bad}");
        }
    }
}
