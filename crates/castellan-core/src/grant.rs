//! Which scopes a client receives (RFC 6749 §3.3): the scope asked for within the allowed
//! patterns, the client's default scope when it asks for none, and the `client_credentials` rule.

use crate::client::{Client, ClientKind};
use crate::error::OAuthError;
use crate::scope::{allowed_by, is_client_only, Scope, ScopePattern, ScopeSet};
use crate::user::User;

/// Scopes granted to `client` for `requested` (`None` or empty: its default scopes).
///
/// Every requested scope must match one of the client's allowed patterns, else
/// `invalid_scope` naming the first that does not.
pub fn grant_scopes(client: &Client, requested: Option<&ScopeSet>) -> Result<ScopeSet, OAuthError> {
    match requested {
        Some(req) if !req.is_empty() => {
            if let Some(bad) = req.iter().find(|s| !allowed_by(&client.scope, s)) {
                return Err(OAuthError::invalid_scope(format!(
                    "the client is not allowed the scope `{bad}`"
                )));
            }
            Ok(req.clone())
        }
        _ => Ok(default_scopes(client)),
    }
}

/// Scopes granted to a person through `client` (password grant, authorization code): like
/// [`grant_scopes`], but a client-only scope (`introspect`, see
/// [`crate::scope::CLIENT_ONLY_SCOPES`]) is never granted to a person: asking for one is
/// `invalid_scope`, and one among the client's default scopes is left out.
pub fn person_scopes(
    client: &Client,
    requested: Option<&ScopeSet>,
) -> Result<ScopeSet, OAuthError> {
    if let Some(bad) = requested.and_then(first_client_only) {
        return Err(client_only_error(bad));
    }
    grant_scopes(client, requested).map(|s| without_client_only(&s))
}

/// The first client-only scope of `set`, if any.
pub fn first_client_only(set: &ScopeSet) -> Option<&Scope> {
    set.iter().find(|s| is_client_only(s))
}

/// `set` without its client-only scopes.
pub fn without_client_only(set: &ScopeSet) -> ScopeSet {
    set.iter().filter(|s| !is_client_only(s)).cloned().collect()
}

/// The refusal of a client-only scope asked for a person.
pub fn client_only_error(scope: &Scope) -> OAuthError {
    OAuthError::invalid_scope(format!(
        "the scope `{scope}` is for clients only and is never granted to a person"
    ))
}

/// The scopes a person's grant may carry: `scope` without the administrative
/// ones unless the person has the admin flag. Whatever the client is allowed, a person who is
/// not an administrator never holds `manage_*`, `introspect` and the like.
pub fn for_person(user: &User, scope: &ScopeSet) -> ScopeSet {
    if user.is_admin {
        scope.clone()
    } else {
        scope.without_administrative()
    }
}

/// What a client receives when it names no scope.
pub fn default_scopes(client: &Client) -> ScopeSet {
    match &client.default_scope {
        Some(d) => d.clone(),
        None => client
            .scope
            .iter()
            .filter_map(ScopePattern::as_scope)
            .collect(),
    }
}

/// Whether `scope` names a market (`market:<kind>:<value>`, e.g. `market:id:xYZkjABcde`).
pub fn is_market_scope(scope: &Scope) -> bool {
    scope.name() == "market" && scope.segments().count() >= 3
}

/// The `client_credentials` rule (RFC 6749 §4.4): confidential clients get the
/// scopes they ask for within their allowed set; a public client only when it opted in as a
/// sales channel, and only with a scope naming a market.
pub fn client_credentials_scopes(
    client: &Client,
    requested: Option<&ScopeSet>,
) -> Result<ScopeSet, OAuthError> {
    if client.kind == ClientKind::Public {
        if !client.public_client_credentials {
            return Err(OAuthError::unauthorized_client(
                "public clients may not use client_credentials unless enabled as a sales channel",
            ));
        }
        let names_market = requested.is_some_and(|r| r.iter().any(is_market_scope));
        if !names_market {
            return Err(OAuthError::invalid_scope(
                "a public client must put a market in scope, e.g. market:id:{id}",
            ));
        }
    }
    grant_scopes(client, requested)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{AuthMethod, GrantType, TokenFormat};
    use crate::scope::parse_patterns;
    use chrono::Utc;

    fn client(kind: ClientKind, scope: &str, sales: bool) -> Client {
        Client {
            id: "c".into(),
            name: "c".into(),
            kind,
            secret_hash: None,
            previous_secret: None,
            scope: parse_patterns(scope).unwrap(),
            default_scope: None,
            grant_types: vec![GrantType::ClientCredentials],
            redirect_uris: vec![],
            auth_method: AuthMethod::None,
            token_format: TokenFormat::Jwt,
            public_client_credentials: sales,
            access_token_validity_seconds: None,
            refresh_token_validity_seconds: None,
            created_at: Utc::now(),
            last_used_at: None,
            delete_at: None,
            registration: None,
            metadata: Default::default(),
            tier: None,
            tenants: Vec::new(),
        }
    }

    fn set(s: &str) -> ScopeSet {
        ScopeSet::parse(s).unwrap()
    }

    #[test]
    fn confidential_gets_defaults_or_what_it_may() {
        let c = client(ClientKind::Confidential, "market:all market:id:*", false);
        assert_eq!(
            client_credentials_scopes(&c, None).unwrap().to_string(),
            "market:all"
        );
        assert_eq!(
            client_credentials_scopes(&c, Some(&set("market:id:abc")))
                .unwrap()
                .to_string(),
            "market:id:abc"
        );
        let e = client_credentials_scopes(&c, Some(&set("orders:write"))).unwrap_err();
        assert_eq!(e.code, crate::OAuthErrorCode::InvalidScope);
        assert!(e.description().contains("orders:write"));
    }

    #[test]
    fn a_person_never_gets_a_client_only_scope() {
        let c = client(
            ClientKind::Confidential,
            "openid orders:read introspect",
            false,
        );
        assert_eq!(
            person_scopes(&c, None).unwrap().to_string(),
            "openid orders:read"
        );
        let e = person_scopes(&c, Some(&set("openid introspect"))).unwrap_err();
        assert_eq!(e.code, crate::OAuthErrorCode::InvalidScope);
        assert!(e.description().contains("introspect"));
        assert_eq!(
            person_scopes(&c, Some(&set("orders:read")))
                .unwrap()
                .to_string(),
            "orders:read"
        );
        // A client acting for itself keeps it.
        assert!(grant_scopes(&c, None).unwrap().contains_str("introspect"));
    }

    #[test]
    fn a_person_holds_administrative_scopes_only_with_the_flag() {
        let mut person = User {
            id: "u".into(),
            email: "u@example.com".into(),
            name: "U".into(),
            password_hash: String::new(),
            created_at: Utc::now(),
            is_admin: false,
            disabled_at: None,
            email_verified_at: None,
        };
        let asked = set("openid manage_api_keys products:read introspect");
        assert_eq!(
            for_person(&person, &asked).to_string(),
            "openid products:read"
        );
        person.is_admin = true;
        assert_eq!(for_person(&person, &asked), asked);
    }

    #[test]
    fn sales_channel_must_name_a_market() {
        let c = client(ClientKind::Public, "market:id:*", true);
        assert!(client_credentials_scopes(&c, Some(&set("market:id:xYZkjABcde"))).is_ok());
        assert_eq!(
            client_credentials_scopes(&c, None).unwrap_err().code,
            crate::OAuthErrorCode::InvalidScope
        );
        let not_opted = client(ClientKind::Public, "market:id:*", false);
        assert_eq!(
            client_credentials_scopes(&not_opted, Some(&set("market:id:x")))
                .unwrap_err()
                .code,
            crate::OAuthErrorCode::UnauthorizedClient
        );
    }
}
