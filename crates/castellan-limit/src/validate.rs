//! Validation rules shared by policies and the config tree. Each rule reports the full dotted
//! config key it refuses, so an operator can find the line to fix.

use crate::error::ConfigError;
use crate::window::Window;

/// Largest accepted window: one year (365 days), in seconds.
pub const MAX_WINDOW_SECONDS: u64 = 31_536_000;
/// Largest accepted limit per window.
pub const MAX_LIMIT: u64 = 1_000_000_000;
/// Most windows one policy may have (each one is a counter to update per check).
pub const MAX_WINDOWS: usize = 8;
/// Longest policy, tier or prefix name.
pub const MAX_NAME_LEN: usize = 64;

/// Names end up in HTTP headers (as structured-field strings) and in Redis key names, so they
/// are restricted to characters that need no escaping in either.
pub(crate) fn check_name(key: &str, name: &str, errors: &mut Vec<ConfigError>) {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if !ok {
        errors.push(ConfigError::new(
            key,
            format!(
                "name must be 1 to {MAX_NAME_LEN} characters from A-Z a-z 0-9 _ - . (got {name:?})"
            ),
        ));
    }
}

/// Rules for the windows of one policy; `key` is e.g. `rate_limit.policies.default`.
pub(crate) fn check_windows(key: &str, windows: &[Window], errors: &mut Vec<ConfigError>) {
    if windows.is_empty() {
        errors.push(ConfigError::new(
            format!("{key}.windows"),
            "must contain at least one window",
        ));
        return;
    }
    if windows.len() > MAX_WINDOWS {
        errors.push(ConfigError::new(
            format!("{key}.windows"),
            format!("must contain at most {MAX_WINDOWS} windows"),
        ));
    }
    for (i, w) in windows.iter().enumerate() {
        if w.limit == 0 || w.limit > MAX_LIMIT {
            errors.push(ConfigError::new(
                format!("{key}.windows[{i}].limit"),
                format!("must be between 1 and {MAX_LIMIT}"),
            ));
        }
        if w.seconds == 0 || w.seconds > MAX_WINDOW_SECONDS {
            errors.push(ConfigError::new(
                format!("{key}.windows[{i}].seconds"),
                format!("must be between 1 and {MAX_WINDOW_SECONDS}"),
            ));
        }
        if let Some(j) = windows[..i].iter().position(|o| o.seconds == w.seconds) {
            errors.push(ConfigError::new(
                format!("{key}.windows[{i}].seconds"),
                format!(
                    "duplicates {key}.windows[{j}].seconds ({}); each window length may appear once",
                    w.seconds
                ),
            ));
        }
    }
}
