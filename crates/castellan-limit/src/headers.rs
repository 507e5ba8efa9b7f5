//! Rendering a [`Decision`] as HTTP response headers, on every limited answer and not only on
//! a 429.
//!
//! Default style ([`HeaderStyle::Draft03`], the shape of draft-ietf-httpapi-ratelimit-headers-03
//! that API clients most often read):
//!
//! ```text
//! RateLimit-Policy: 300;w=60, 10000;w=86400
//! RateLimit-Limit: 300              (most restrictive window)
//! RateLimit-Remaining: 12
//! RateLimit-Reset: 7                (seconds from now)
//! ```
//!
//! Structured style ([`HeaderStyle::Structured`], draft-ietf-httpapi-ratelimit-headers-10,
//! September 2025: both fields are Structured Field Lists whose items are quoted policy names
//! with `q` (quota), `w` (window seconds), `r` (remaining) and `t` (seconds to reset)):
//!
//! ```text
//! RateLimit-Policy: "default";q=300;w=60, "default";q=10000;w=86400
//! RateLimit: "default";r=12;t=7     (most restrictive window)
//! ```
//!
//! Both styles add the legacy `X-RateLimit-Limit`, `X-RateLimit-Remaining` and
//! `X-RateLimit-Reset` (absolute Unix seconds) for the most restrictive window, and
//! `Retry-After` (seconds) only when the request is refused. A degraded decision (Redis could
//! not be asked) carries only `RateLimit-Policy` (and `Retry-After` when refused): its counters
//! are unknown, and made-up numbers would mislead clients.

use std::fmt::Write;

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::decision::Decision;
use serde::{Deserialize, Serialize};

/// Canonical-case header names, as they appear in documentation and tests.
pub mod names {
    /// `RateLimit-Policy`.
    pub const POLICY: &str = "RateLimit-Policy";
    /// `RateLimit` (structured style).
    pub const RATELIMIT: &str = "RateLimit";
    /// `RateLimit-Limit` (draft-03 style).
    pub const LIMIT: &str = "RateLimit-Limit";
    /// `RateLimit-Remaining` (draft-03 style).
    pub const REMAINING: &str = "RateLimit-Remaining";
    /// `RateLimit-Reset` (draft-03 style), relative seconds.
    pub const RESET: &str = "RateLimit-Reset";
    /// `X-RateLimit-Limit`.
    pub const X_LIMIT: &str = "X-RateLimit-Limit";
    /// `X-RateLimit-Remaining`.
    pub const X_REMAINING: &str = "X-RateLimit-Remaining";
    /// `X-RateLimit-Reset`, absolute Unix seconds.
    pub const X_RESET: &str = "X-RateLimit-Reset";
    /// `Retry-After`, seconds.
    pub const RETRY_AFTER: &str = "Retry-After";
}

/// The headers for `decision`, names in canonical case, in a stable order.
pub fn headers(decision: &Decision, style: HeaderStyle) -> Vec<(&'static str, String)> {
    let mut out = Vec::with_capacity(8);
    out.push((names::POLICY, policy_value(decision, style)));
    if let (false, Some(w)) = (decision.is_degraded(), decision.most_restrictive()) {
        match style {
            HeaderStyle::Draft03 => {
                out.push((names::LIMIT, w.limit.to_string()));
                out.push((names::REMAINING, w.remaining.to_string()));
                out.push((names::RESET, w.reset_after_seconds.to_string()));
            }
            HeaderStyle::Structured => {
                out.push((
                    names::RATELIMIT,
                    format!(
                        "\"{}\";r={};t={}",
                        decision.policy, w.remaining, w.reset_after_seconds
                    ),
                ));
            }
        }
        out.push((names::X_LIMIT, w.limit.to_string()));
        out.push((names::X_REMAINING, w.remaining.to_string()));
        out.push((names::X_RESET, w.reset_at.to_string()));
    }
    if let (false, Some(s)) = (decision.allowed, decision.retry_after_seconds) {
        out.push((names::RETRY_AFTER, s.to_string()));
    }
    out
}

/// As [`headers`], typed for `http`/axum: `response.headers_mut().extend(http_headers(..))`.
/// Numbers become header values directly and names are constants, so an answer costs one
/// formatted string (the policy) instead of one per header.
pub fn http_headers(decision: &Decision, style: HeaderStyle) -> Vec<(HeaderName, HeaderValue)> {
    let mut map = HeaderMap::with_capacity(8);
    write_headers(decision, style, &mut map);
    map.into_iter()
        .filter_map(|(name, value)| name.map(|n| (n, value)))
        .collect()
}

/// Writes the headers of `decision` into `map` (replacing values of the same names), the
/// way an answer is built without an intermediate list.
pub fn write_headers(decision: &Decision, style: HeaderStyle, map: &mut HeaderMap) {
    let [policy, ratelimit, limit, remaining, reset, x_limit, x_remaining, x_reset, retry_after] =
        HEADER_NAMES;
    // Rendered once per policy. Policy names are validated (token characters), so the value
    // is always a valid header; the `if let` only avoids a panic path.
    if let Some(v) = decision.policy_values.get(style) {
        map.insert(policy, v.clone());
    }
    if let (false, Some(w)) = (decision.is_degraded(), decision.most_restrictive()) {
        match style {
            HeaderStyle::Draft03 => {
                map.insert(limit, limit_value(decision, w.limit));
                map.insert(remaining, HeaderValue::from(w.remaining));
                map.insert(reset, HeaderValue::from(w.reset_after_seconds));
            }
            HeaderStyle::Structured => {
                let v = format!(
                    "\"{}\";r={};t={}",
                    decision.policy, w.remaining, w.reset_after_seconds
                );
                if let Ok(v) = HeaderValue::try_from(v) {
                    map.insert(ratelimit, v);
                }
            }
        }
        map.insert(x_limit, limit_value(decision, w.limit));
        map.insert(x_remaining, HeaderValue::from(w.remaining));
        map.insert(x_reset, HeaderValue::from(w.reset_at));
    }
    if let (false, Some(s)) = (decision.allowed, decision.retry_after_seconds) {
        map.insert(retry_after, HeaderValue::from(s));
    }
}

/// Refreshes the rate-limit headers `map` already carries, written earlier by
/// [`write_headers`] for an allowed decision under the same policy and style, with the values
/// of `decision`: an answer's fixed part (names, order, `RateLimit-Policy`) is reused and only
/// what changed is rendered (a value equal to the one there is kept, not rebuilt).
///
/// Returns false when `decision` is refused or degraded, or `map` does not hold exactly the
/// headers an allowed decision has in `style`; the map is then to be discarded and the headers
/// written with [`write_headers`].
pub fn refresh_headers(decision: &Decision, style: HeaderStyle, map: &mut HeaderMap) -> bool {
    let (true, false, Some(w), Some(policy)) = (
        decision.allowed,
        decision.is_degraded(),
        decision.most_restrictive(),
        decision.policy_values.get(style),
    ) else {
        return false;
    };
    let mut found = 0;
    for (name, value) in map.iter_mut() {
        match (name.as_str(), style) {
            ("ratelimit-policy", _) => {
                if value != policy {
                    *value = policy.clone();
                }
            }
            ("ratelimit-limit", HeaderStyle::Draft03) | ("x-ratelimit-limit", _) => {
                if !same_number(value, w.limit) {
                    *value = limit_value(decision, w.limit);
                }
            }
            ("ratelimit-remaining", HeaderStyle::Draft03) | ("x-ratelimit-remaining", _) => {
                set_number(value, w.remaining);
            }
            ("ratelimit-reset", HeaderStyle::Draft03) => set_number(value, w.reset_after_seconds),
            ("x-ratelimit-reset", _) => set_number(value, w.reset_at),
            ("ratelimit", HeaderStyle::Structured) => {
                let v = format!(
                    "\"{}\";r={};t={}",
                    decision.policy, w.remaining, w.reset_after_seconds
                );
                match HeaderValue::try_from(v) {
                    Ok(v) => *value = v,
                    Err(_) => return false,
                }
            }
            // A header of the other style, or of a refusal.
            (
                "ratelimit"
                | "ratelimit-limit"
                | "ratelimit-remaining"
                | "ratelimit-reset"
                | "retry-after",
                _,
            ) => return false,
            _ => continue,
        }
        found += 1;
    }
    found
        == match style {
            HeaderStyle::Draft03 => 7,
            HeaderStyle::Structured => 5,
        }
}

/// Whether `value` is `n` in decimal.
fn same_number(value: &HeaderValue, n: u64) -> bool {
    value.as_bytes() == itoa::Buffer::new().format(n).as_bytes()
}

/// Sets `value` to `n` in decimal, unless it already is.
fn set_number(value: &mut HeaderValue, n: u64) {
    if !same_number(value, n) {
        *value = HeaderValue::from(n);
    }
}

/// The most restrictive window's limit: the policy's value rendered once, or `limit` rendered
/// now for a decision made outside a policy's windows.
fn limit_value(decision: &Decision, limit: u64) -> HeaderValue {
    match decision
        .policy_values
        .limits
        .get(decision.restrictive_index)
    {
        Some(v)
            if decision
                .windows
                .get(decision.restrictive_index)
                .map(|w| w.limit)
                == Some(limit) =>
        {
            v.clone()
        }
        _ => HeaderValue::from(limit),
    }
}

/// The `RateLimit-Policy` value: every window of the policy, in configuration order.
pub fn policy_value(decision: &Decision, style: HeaderStyle) -> String {
    format_policy(
        &decision.policy,
        decision.windows.iter().map(|w| (w.limit, w.window_seconds)),
        style,
    )
}

/// `RateLimit-Policy` for a policy named `name` with `(limit, seconds)` windows.
fn format_policy(
    name: &str,
    windows: impl ExactSizeIterator<Item = (u64, u64)>,
    style: HeaderStyle,
) -> String {
    let mut s = String::with_capacity(16 * windows.len() + 8);
    for (i, (limit, seconds)) in windows.enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        // Writing to a String cannot fail.
        let _ = match style {
            HeaderStyle::Draft03 => write!(s, "{limit};w={seconds}"),
            HeaderStyle::Structured => write!(s, "\"{name}\";q={limit};w={seconds}"),
        };
    }
    s
}

/// A policy's `RateLimit-Policy` values in both styles, rendered once when the policy is
/// built and shared by every decision made under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyValues {
    draft03: Option<HeaderValue>,
    structured: Option<HeaderValue>,
    /// Each window's limit, in the policy's order (`RateLimit-Limit`, `X-RateLimit-Limit`).
    limits: Vec<HeaderValue>,
}

impl PolicyValues {
    /// The values of a policy named `name` with `(limit, seconds)` windows.
    pub(crate) fn new(name: &str, windows: &[(u64, u64)]) -> Self {
        let value = |style| {
            let text = format_policy(name, windows.iter().copied(), style);
            HeaderValue::try_from(text).ok()
        };
        PolicyValues {
            draft03: value(HeaderStyle::Draft03),
            structured: value(HeaderStyle::Structured),
            limits: windows
                .iter()
                .map(|&(limit, _)| HeaderValue::from(limit))
                .collect(),
        }
    }

    fn get(&self, style: HeaderStyle) -> Option<&HeaderValue> {
        match style {
            HeaderStyle::Draft03 => self.draft03.as_ref(),
            HeaderStyle::Structured => self.structured.as_ref(),
        }
    }
}

/// Which header syntax this module renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum HeaderStyle {
    /// `RateLimit-Policy: 300;w=60, …` plus `RateLimit-Limit/-Remaining/-Reset`
    /// (draft-ietf-httpapi-ratelimit-headers-03 style).
    #[default]
    #[serde(rename = "draft-03")]
    Draft03,
    /// `RateLimit-Policy: "default";q=300;w=60, …` plus `RateLimit: "default";r=…;t=…`
    /// (structured fields, draft-ietf-httpapi-ratelimit-headers-10).
    #[serde(rename = "structured")]
    Structured,
}

/// Every header name [`http_headers`] may write, typed (e.g. to clear them before rendering
/// another decision).
pub const HEADER_NAMES: [HeaderName; 9] = [
    HeaderName::from_static("ratelimit-policy"),
    HeaderName::from_static("ratelimit"),
    HeaderName::from_static("ratelimit-limit"),
    HeaderName::from_static("ratelimit-remaining"),
    HeaderName::from_static("ratelimit-reset"),
    HeaderName::from_static("x-ratelimit-limit"),
    HeaderName::from_static("x-ratelimit-remaining"),
    HeaderName::from_static("x-ratelimit-reset"),
    HeaderName::from_static("retry-after"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_names_are_the_canonical_names() {
        let canonical = [
            names::POLICY,
            names::RATELIMIT,
            names::LIMIT,
            names::REMAINING,
            names::RESET,
            names::X_LIMIT,
            names::X_REMAINING,
            names::X_RESET,
            names::RETRY_AFTER,
        ];
        for (typed, name) in HEADER_NAMES.iter().zip(canonical) {
            assert_eq!(typed.as_str(), name.to_ascii_lowercase());
        }
    }
}
