//! Where a protected resource's metadata document is (RFC 9728 §3.1): the well-known segment
//! goes between the host and the resource's path, a final `/` dropped, so `https://a.example/mcp`
//! has its document at `/.well-known/oauth-protected-resource/mcp` and a resource without a
//! path at `/.well-known/oauth-protected-resource`. Pure; Castellan serves the documents at
//! these paths, and both forward-auth and the guard name them in `resource_metadata=`.

/// The root of the protected-resource metadata documents.
pub const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// The path of `resource`'s metadata document (RFC 9728 §3.1).
pub fn metadata_path(resource: &str) -> String {
    let path = url::Url::parse(resource)
        .ok()
        .filter(|u| !u.cannot_be_a_base())
        .map(|u| u.path().trim_end_matches('/').to_owned())
        .unwrap_or_default();
    format!("{WELL_KNOWN}{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_well_known_segment_goes_between_host_and_path() {
        assert_eq!(
            metadata_path("https://a.example/mcp"),
            format!("{WELL_KNOWN}/mcp")
        );
        assert_eq!(
            metadata_path("https://a.example/x/y/"),
            format!("{WELL_KNOWN}/x/y")
        );
        assert_eq!(metadata_path("https://a.example/"), WELL_KNOWN);
        assert_eq!(metadata_path("https://a.example"), WELL_KNOWN);
        assert_eq!(metadata_path("urn:x"), WELL_KNOWN);
    }
}
