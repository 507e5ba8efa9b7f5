//! Tenants: the brands and venues a client may ask tenant tokens for.
//!
//! A client is given a list of brands, each with the venue ids it may use there. `POST /auth`
//! mints a token only for a brand and venue the client was given; a client given none gets no
//! tenant token at all. Brands and venues are compared exactly, as stored: no wildcard and no
//! case folding, so that a grant never reaches a tenant it does not name.

use crate::client::FieldError;
use serde::{Deserialize, Serialize};

/// Longest brand or venue id.
pub const MAX_TENANT_LEN: usize = 200;

/// Most brands one client may be given.
pub const MAX_BRANDS: usize = 100;

/// Most venues one client may be given, over all its brands.
pub const MAX_VENUES: usize = 1000;

/// One brand and the venues of it a client may use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantGrant {
    /// The brand.
    pub brand: String,
    /// The venue ids of the brand the client may use.
    pub venues: Vec<String>,
}

/// Whether `grants` give `brand` and `venue` (both as the caller sent them, already trimmed).
pub fn allows_tenant(grants: &[TenantGrant], brand: &str, venue: &str) -> bool {
    grants
        .iter()
        .any(|g| g.brand == brand && g.venues.iter().any(|v| v == venue))
}

/// A brand or venue id as stored and matched: trimmed, 1 to [`MAX_TENANT_LEN`] printable
/// ASCII characters. `None` when it is not one.
pub fn tenant_value(raw: &str) -> Option<&str> {
    let v = raw.trim();
    let ok =
        !v.is_empty() && v.len() <= MAX_TENANT_LEN && v.bytes().all(|b| (0x20..0x7f).contains(&b));
    ok.then_some(v)
}

/// Checks the brands and venues a client is to be given and answers them in their stored
/// form: values trimmed, a brand named twice merged into one, a venue named twice kept once.
/// `field` names the input in errors (`tenants` in the management API).
pub fn check_tenants(
    grants: Vec<TenantGrant>,
    field: &'static str,
) -> Result<Vec<TenantGrant>, FieldError> {
    let bad_value = |what: &str| {
        FieldError::new(
            field,
            format!("every {what} must be 1 to {MAX_TENANT_LEN} printable ASCII characters"),
        )
    };
    let mut out: Vec<TenantGrant> = Vec::new();
    let mut venues_total = 0usize;
    for g in grants {
        let brand = tenant_value(&g.brand).ok_or_else(|| bad_value("brand"))?;
        if g.venues.is_empty() {
            return Err(FieldError::new(
                field,
                "every brand needs at least one venue in `venues`",
            ));
        }
        let idx = match out.iter().position(|o| o.brand == brand) {
            Some(i) => i,
            None => {
                if out.len() == MAX_BRANDS {
                    return Err(FieldError::new(
                        field,
                        format!("at most {MAX_BRANDS} brands"),
                    ));
                }
                out.push(TenantGrant {
                    brand: brand.to_owned(),
                    venues: Vec::new(),
                });
                out.len() - 1
            }
        };
        for v in &g.venues {
            let venue = tenant_value(v).ok_or_else(|| bad_value("venue"))?;
            let entry = &mut out[idx];
            if entry.venues.iter().any(|e| e == venue) {
                continue;
            }
            venues_total += 1;
            if venues_total > MAX_VENUES {
                return Err(FieldError::new(
                    field,
                    format!("at most {MAX_VENUES} venues in all"),
                ));
            }
            entry.venues.push(venue.to_owned());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(brand: &str, venues: &[&str]) -> TenantGrant {
        TenantGrant {
            brand: brand.into(),
            venues: venues.iter().map(|v| (*v).to_owned()).collect(),
        }
    }

    #[test]
    fn only_named_pairs_are_allowed() {
        let g = vec![grant("acme", &["1", "2"]), grant("other", &["9"])];
        assert!(allows_tenant(&g, "acme", "1"));
        assert!(allows_tenant(&g, "other", "9"));
        // Another brand's venue, an unknown venue, another case, no grants at all.
        assert!(!allows_tenant(&g, "acme", "9"));
        assert!(!allows_tenant(&g, "other", "1"));
        assert!(!allows_tenant(&g, "acme", "3"));
        assert!(!allows_tenant(&g, "ACME", "1"));
        assert!(!allows_tenant(&[], "acme", "1"));
    }

    #[test]
    fn values_are_trimmed_and_duplicates_merged() {
        let out = check_tenants(
            vec![
                grant(" acme ", &["1", " 2", "1"]),
                grant("acme", &["2", "3"]),
                grant("b", &["x"]),
            ],
            "tenants",
        )
        .unwrap();
        assert_eq!(
            out,
            vec![grant("acme", &["1", "2", "3"]), grant("b", &["x"])]
        );
    }

    #[test]
    fn bad_values_name_the_field() {
        for bad in [
            vec![grant("", &["1"])],
            vec![grant("acme", &[])],
            vec![grant("acme", &[" "])],
            vec![grant("ac\u{0}me", &["1"])],
            vec![grant("acme", &["caf\u{e9}"])],
            vec![grant(&"b".repeat(MAX_TENANT_LEN + 1), &["1"])],
        ] {
            let e = check_tenants(bad, "tenants").unwrap_err();
            assert_eq!(e.field, "tenants");
        }
        let many: Vec<_> = (0..=MAX_BRANDS)
            .map(|i| grant(&format!("b{i}"), &["1"]))
            .collect();
        assert!(check_tenants(many, "tenants").is_err());
        let venues: Vec<String> = (0..=MAX_VENUES).map(|i| i.to_string()).collect();
        let venues: Vec<&str> = venues.iter().map(String::as_str).collect();
        assert!(check_tenants(vec![grant("acme", &venues)], "tenants").is_err());
    }
}
