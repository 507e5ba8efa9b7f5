//! Says which setting a configuration error is about in the words of where it came from: a
//! `CASTELLAN_*` variable is named as the variable (`CASTELLAN_TOKEN__ACCESS_TOKEN_SECOND`),
//! with the closest known key as a variable when the key is unknown, so a misspelt variable is
//! found at once instead of being read as a key of the file.

use figment::error::Kind;

/// The message for `e`, a figment error of loading the configuration.
pub fn describe(e: &figment::Error) -> String {
    let from_env = e
        .metadata
        .as_ref()
        .is_some_and(|m| m.name.contains("environment"));
    if !from_env {
        return e.to_string();
    }
    let path: Vec<String> = e.path.iter().map(|p| p.to_ascii_uppercase()).collect();
    match &e.kind {
        Kind::UnknownField(found, expected) => {
            // The path ends with the unknown key itself.
            let parents = &path[..path.len().saturating_sub(1)];
            let variable = |last: &str| {
                let mut parts = parents.to_vec();
                parts.push(last.to_ascii_uppercase());
                format!("CASTELLAN_{}", parts.join("__"))
            };
            let named = variable(found);
            match closest(found, expected) {
                Some(near) => format!(
                    "unknown environment variable {named}: no such setting; did you mean {}?",
                    variable(near)
                ),
                None => format!("unknown environment variable {named}: no such setting"),
            }
        }
        // The value is not repeated: a variable may hold a secret.
        Kind::InvalidType(_, expected) | Kind::InvalidValue(_, expected) => format!(
            "environment variable CASTELLAN_{}: not a valid value (expected {expected})",
            path.join("__")
        ),
        kind => format!("environment variable CASTELLAN_{}: {kind}", path.join("__")),
    }
}

/// The expected key nearest to `found`, when it is near enough to be a misspelling.
fn closest<'a>(found: &str, expected: &'a [&'static str]) -> Option<&'a str> {
    expected
        .iter()
        .map(|k| (strsim::damerau_levenshtein(found, k), *k))
        .filter(|(d, k)| *d <= 3.max(k.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearest_key_is_suggested_only_when_near() {
        let keys = ["access_token_seconds", "refresh_token_seconds", "resources"];
        assert_eq!(
            closest("access_token_second", &keys),
            Some("access_token_seconds")
        );
        assert_eq!(closest("resorces", &keys), Some("resources"));
        assert_eq!(closest("nonsense_entirely_else", &keys), None);
    }
}
