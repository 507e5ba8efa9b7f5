//! A token request read once into typed values (RFC 6749 §3.2): the grant type, then the
//! parameters of that grant. A new grant is one more [`TokenRequest`] variant, one more arm of
//! [`GrantRequest::parse`] and one grant function.
//!
//! Errors come in two layers, answered where today's order puts them: a missing or unknown
//! `grant_type` is answered before the client is authenticated; a grant's own missing or
//! malformed parameter only after the client has authenticated and is found allowed that
//! grant ([`GrantRequest::request`]), so that an unauthenticated or unauthorized caller learns
//! nothing more from a half-written request.

use crate::oauth::params::OAuthParams;
use castellan_core::client::GrantType;
use castellan_core::{OAuthError, ScopeSet, Secret};

/// Grants this server answers at the token endpoint.
pub const SUPPORTED_GRANTS: [GrantType; 7] = [
    GrantType::ClientCredentials,
    GrantType::AuthorizationCode,
    GrantType::RefreshToken,
    GrantType::Password,
    GrantType::TokenExchange,
    GrantType::JwtBearer,
    GrantType::DeviceCode,
];

/// Longest subject or actor token read; anything longer is not a token Castellan issued.
pub const MAX_EXCHANGED_TOKEN_LEN: usize = 8192;

/// What a token request asks for, by grant. `Debug` shows no secret (codes, verifiers,
/// refresh tokens and passwords are [`Secret`]s).
#[derive(Debug)]
pub enum TokenRequest {
    /// RFC 6749 §4.4.
    ClientCredentials(ClientCredentialsRequest),
    /// RFC 6749 §4.1.3 with RFC 7636 §4.5.
    AuthorizationCode(CodeRequest),
    /// RFC 6749 §6.
    RefreshToken(RefreshRequest),
    /// RFC 6749 §4.3.
    Password(PasswordRequest),
    /// RFC 8693 §2.1.
    TokenExchange(ExchangeRequest),
    /// RFC 7523 §2.1.
    JwtBearer(AssertionRequest),
    /// RFC 8628 §3.4.
    DeviceCode(DeviceCodeRequest),
}

/// A device's poll (RFC 8628 §3.4).
#[derive(Debug)]
pub struct DeviceCodeRequest {
    /// The device code.
    pub device_code: Secret,
}

/// A JWT bearer grant request (RFC 7523 §2.1).
#[derive(Debug)]
pub struct AssertionRequest {
    /// The signed assertion.
    pub assertion: Secret,
    /// The scopes asked (the client's default, or an ID-JAG's `scope`, when `None`).
    pub scope: Option<ScopeSet>,
    /// RFC 8707: the resources the token is for.
    pub resources: Vec<String>,
    /// The organization to bind a person's token to (required for a person in several).
    pub organization_id: Option<String>,
}

/// A token exchange request (RFC 8693 §2.1).
#[derive(Debug)]
pub struct ExchangeRequest {
    /// The token the new one is for (its subject), and its type.
    pub subject: PresentedToken,
    /// The token of the party acting, and its type, if any.
    pub actor: Option<PresentedToken>,
    /// The scopes asked (the subject token's when `None`).
    pub scope: Option<ScopeSet>,
    /// RFC 8707 `resource` and RFC 8693 `audience` values: the new token's audiences (none:
    /// the default audience).
    pub resources: Vec<String>,
}

/// A token presented for an exchange, with the type the client says it is.
#[derive(Debug)]
pub struct PresentedToken {
    /// The token.
    pub token: Secret,
    /// Its `*_token_type`.
    pub token_type: String,
}

/// A `client_credentials` request.
#[derive(Debug)]
pub struct ClientCredentialsRequest {
    /// The scopes asked (the client's default scopes when `None`).
    pub scope: Option<ScopeSet>,
    /// RFC 8707: the resources asked (`resource`, repeatable; none: the default audience).
    pub resources: Vec<String>,
}

/// An `authorization_code` request.
#[derive(Debug)]
pub struct CodeRequest {
    /// The authorization code.
    pub code: Secret,
    /// Required, and identical, when the authorization request had one.
    pub redirect_uri: Option<String>,
    /// The PKCE verifier (RFC 7636).
    pub code_verifier: Option<Secret>,
    /// RFC 8707: a narrower set of the code's resources (all of them when empty).
    pub resources: Vec<String>,
}

/// A `refresh_token` request.
#[derive(Debug)]
pub struct RefreshRequest {
    /// The refresh token.
    pub refresh_token: Secret,
    /// A narrower scope for the new access token (the grant's when `None` or empty).
    pub scope: Option<ScopeSet>,
    /// RFC 8707: a narrower set of the grant's resources for the new access token (all of
    /// them when empty).
    pub resources: Vec<String>,
}

/// A `password` request.
#[derive(Debug)]
pub struct PasswordRequest {
    /// The person's email address.
    pub username: String,
    /// Their password.
    pub password: Secret,
    /// The organization to bind the token to (required for a person in several).
    pub organization_id: Option<String>,
    /// The scopes asked for (the client's default when `None`).
    pub scope: Option<ScopeSet>,
    /// RFC 8707: the resources the access token is for (none: the default audience).
    pub resources: Vec<String>,
}

impl TokenRequest {
    /// The grant this request is for.
    pub fn grant_type(&self) -> GrantType {
        match self {
            TokenRequest::ClientCredentials(_) => GrantType::ClientCredentials,
            TokenRequest::AuthorizationCode(_) => GrantType::AuthorizationCode,
            TokenRequest::RefreshToken(_) => GrantType::RefreshToken,
            TokenRequest::Password(_) => GrantType::Password,
            TokenRequest::TokenExchange(_) => GrantType::TokenExchange,
            TokenRequest::JwtBearer(_) => GrantType::JwtBearer,
            TokenRequest::DeviceCode(_) => GrantType::DeviceCode,
        }
    }
}

/// A request's supported grant type and its parameters read for that grant, or why they
/// cannot be (answered after client authentication, see the module's note).
#[derive(Debug)]
pub struct GrantRequest {
    /// The grant type.
    pub grant: GrantType,
    /// Its parameters, or why they cannot be read.
    pub request: Result<TokenRequest, OAuthError>,
}

impl GrantRequest {
    /// Reads `params` (the client's credentials already taken out of them): `Err` for a
    /// missing or unsupported `grant_type`.
    pub fn parse(mut params: OAuthParams) -> Result<GrantRequest, OAuthError> {
        let grant = params
            .get("grant_type")
            .ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?;
        let grant = GrantType::parse(grant)
            .filter(|g| SUPPORTED_GRANTS.contains(g))
            .ok_or_else(|| {
                OAuthError::unsupported_grant_type(format!(
                    "supported grant types: {}",
                    SUPPORTED_GRANTS.map(GrantType::as_str).join(", ")
                ))
            })?;
        let request = read(grant, &mut params);
        Ok(GrantRequest { grant, request })
    }
}

/// The parameters of `grant`, required ones first, then the scope.
fn read(grant: GrantType, params: &mut OAuthParams) -> Result<TokenRequest, OAuthError> {
    Ok(match grant {
        GrantType::ClientCredentials => TokenRequest::ClientCredentials(ClientCredentialsRequest {
            scope: scope(params)?,
            resources: params.take_all("resource"),
        }),
        GrantType::AuthorizationCode => TokenRequest::AuthorizationCode(CodeRequest {
            code: params
                .take("code")
                .map(Secret::new)
                .ok_or_else(|| OAuthError::invalid_request("code is required"))?,
            redirect_uri: params.take("redirect_uri"),
            code_verifier: params.take("code_verifier").map(Secret::new),
            resources: params.take_all("resource"),
        }),
        GrantType::RefreshToken => {
            let refresh_token = params
                .take("refresh_token")
                .map(Secret::new)
                .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
            TokenRequest::RefreshToken(RefreshRequest {
                refresh_token,
                scope: scope(params)?,
                resources: params.take_all("resource"),
            })
        }
        GrantType::Password => {
            let (Some(username), Some(password)) =
                (params.take("username"), params.take("password"))
            else {
                return Err(OAuthError::invalid_request(
                    "username and password are required",
                ));
            };
            TokenRequest::Password(PasswordRequest {
                username,
                password: Secret::new(password),
                organization_id: params.take("organization_id"),
                scope: scope(params)?,
                resources: params.take_all("resource"),
            })
        }
        GrantType::TokenExchange => TokenRequest::TokenExchange(exchange(params)?),
        GrantType::JwtBearer => TokenRequest::JwtBearer(AssertionRequest {
            assertion: params
                .take("assertion")
                .map(Secret::new)
                .ok_or_else(|| OAuthError::invalid_request("assertion is required"))?,
            scope: scope(params)?,
            resources: params.take_all("resource"),
            organization_id: params.take("organization_id"),
        }),
        GrantType::DeviceCode => TokenRequest::DeviceCode(DeviceCodeRequest {
            device_code: params
                .take("device_code")
                .map(Secret::new)
                .ok_or_else(|| OAuthError::invalid_request("device_code is required"))?,
        }),
    })
}

/// The parameters of a token exchange (RFC 8693 §2.1): `subject_token` and its type required,
/// `actor_token` and `actor_token_type` together or not at all, `requested_token_type` (if
/// sent) an access token, since that is what is issued.
fn exchange(params: &mut OAuthParams) -> Result<ExchangeRequest, OAuthError> {
    let subject = match (
        params.take("subject_token"),
        params.take("subject_token_type"),
    ) {
        (Some(token), Some(token_type)) => PresentedToken {
            token: Secret::new(token),
            token_type,
        },
        _ => {
            return Err(OAuthError::invalid_request(
                "subject_token and subject_token_type are required",
            ))
        }
    };
    let actor = match (params.take("actor_token"), params.take("actor_token_type")) {
        (None, None) => None,
        (Some(token), Some(token_type)) => Some(PresentedToken {
            token: Secret::new(token),
            token_type,
        }),
        _ => {
            return Err(OAuthError::invalid_request(
                "actor_token and actor_token_type go together",
            ))
        }
    };
    if let Some(t) = params.get("requested_token_type") {
        if t != castellan_core::exchange::ACCESS_TOKEN_TYPE {
            return Err(OAuthError::invalid_request(format!(
                "requested_token_type: only {} is issued",
                castellan_core::exchange::ACCESS_TOKEN_TYPE
            )));
        }
    }
    let mut resources = params.take_all("resource");
    resources.extend(params.take_all("audience"));
    Ok(ExchangeRequest {
        subject,
        actor,
        scope: scope(params)?,
        resources,
    })
}

/// The `scope` parameter, parsed (`invalid_scope` when malformed).
fn scope(params: &OAuthParams) -> Result<Option<ScopeSet>, OAuthError> {
    params
        .get("scope")
        .map(|s| {
            ScopeSet::parse(s).map_err(|e| {
                OAuthError::invalid_scope(format!("the scope parameter is malformed: {e}"))
            })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    #![expect(
        clippy::panic,
        reason = "a test fails with a message saying what it found"
    )]
    use super::*;
    use castellan_core::OAuthErrorCode;

    fn parse(body: &str) -> Result<GrantRequest, OAuthError> {
        GrantRequest::parse(OAuthParams::parse_form(body.as_bytes()).unwrap())
    }

    fn request(body: &str) -> TokenRequest {
        parse(body).unwrap().request.unwrap()
    }

    /// The error of a request whose grant type is read but whose parameters are not.
    fn refused(body: &str) -> OAuthError {
        parse(body).unwrap().request.unwrap_err()
    }

    fn scope_text(scope: Option<&ScopeSet>) -> Option<String> {
        scope.map(ToString::to_string)
    }

    #[test]
    fn a_missing_grant_type_is_invalid_request() {
        let e = parse("scope=a").unwrap_err();
        assert_eq!(e.code, OAuthErrorCode::InvalidRequest);
        assert_eq!(e.description(), "grant_type is required");
    }

    #[test]
    fn an_unknown_or_unsupported_grant_type_names_the_supported_ones() {
        for grant in ["implicit", "urn:ietf:params:oauth:grant-type:saml2-bearer"] {
            let e = parse(&format!("grant_type={grant}")).unwrap_err();
            assert_eq!(e.code, OAuthErrorCode::UnsupportedGrantType);
            assert_eq!(
                e.description(),
                "supported grant types: client_credentials, authorization_code, refresh_token, \
                 password, urn:ietf:params:oauth:grant-type:token-exchange, \
                 urn:ietf:params:oauth:grant-type:jwt-bearer, \
                 urn:ietf:params:oauth:grant-type:device_code"
            );
        }
    }

    #[test]
    fn client_credentials_reads_scope_and_resource() {
        let r = request("grant_type=client_credentials&scope=b%20a&resource=https://api.example");
        assert_eq!(r.grant_type(), GrantType::ClientCredentials);
        let TokenRequest::ClientCredentials(ClientCredentialsRequest { scope, resources }) = r
        else {
            panic!("not client_credentials");
        };
        assert_eq!(
            scope_text(scope.as_ref()),
            Some(ScopeSet::parse("b a").unwrap().to_string())
        );
        assert_eq!(resources, ["https://api.example"]);
        let TokenRequest::ClientCredentials(ClientCredentialsRequest { scope, resources }) =
            request("grant_type=client_credentials")
        else {
            panic!("not client_credentials");
        };
        assert!(scope.is_none() && resources.is_empty());
    }

    #[test]
    fn a_malformed_scope_is_invalid_scope_for_every_grant_that_takes_one() {
        for body in [
            "grant_type=client_credentials&scope=a%22b",
            "grant_type=refresh_token&refresh_token=r&scope=a%22b",
            "grant_type=password&username=u&password=p&scope=a%22b",
        ] {
            let e = refused(body);
            assert_eq!(e.code, OAuthErrorCode::InvalidScope, "{body}");
            assert!(
                e.description()
                    .starts_with("the scope parameter is malformed: "),
                "{body}: {}",
                e.description()
            );
        }
    }

    #[test]
    fn authorization_code_reads_code_redirect_uri_and_verifier() {
        let r = request(
            "grant_type=authorization_code&code=c0de&redirect_uri=https://app/cb&code_verifier=v",
        );
        assert_eq!(r.grant_type(), GrantType::AuthorizationCode);
        let TokenRequest::AuthorizationCode(CodeRequest {
            code,
            redirect_uri,
            code_verifier,
            ..
        }) = r
        else {
            panic!("not authorization_code");
        };
        assert_eq!(code.expose(), "c0de");
        assert_eq!(redirect_uri.as_deref(), Some("https://app/cb"));
        assert_eq!(
            code_verifier.map(Secret::into_exposed).as_deref(),
            Some("v")
        );
        let TokenRequest::AuthorizationCode(CodeRequest {
            redirect_uri,
            code_verifier,
            ..
        }) = request("grant_type=authorization_code&code=c")
        else {
            panic!("not authorization_code");
        };
        assert!(redirect_uri.is_none() && code_verifier.is_none());
    }

    #[test]
    fn authorization_code_requires_the_code() {
        for body in [
            "grant_type=authorization_code",
            "grant_type=authorization_code&code=",
        ] {
            let e = refused(body);
            assert_eq!(e.code, OAuthErrorCode::InvalidRequest);
            assert_eq!(e.description(), "code is required");
        }
    }

    #[test]
    fn refresh_token_reads_the_token_scope_and_resource() {
        let r = request("grant_type=refresh_token&refresh_token=rt&scope=a&resource=https://r");
        assert_eq!(r.grant_type(), GrantType::RefreshToken);
        let TokenRequest::RefreshToken(RefreshRequest {
            refresh_token,
            scope,
            resources,
        }) = r
        else {
            panic!("not refresh_token");
        };
        assert_eq!(refresh_token.expose(), "rt");
        assert_eq!(scope_text(scope.as_ref()).as_deref(), Some("a"));
        assert_eq!(resources, ["https://r"]);
    }

    #[test]
    fn refresh_token_requires_the_token_before_the_scope_is_read() {
        for body in [
            "grant_type=refresh_token",
            "grant_type=refresh_token&scope=a%22b",
        ] {
            let e = refused(body);
            assert_eq!(e.code, OAuthErrorCode::InvalidRequest);
            assert_eq!(e.description(), "refresh_token is required");
        }
    }

    #[test]
    fn password_reads_credentials_organization_scope_and_resource() {
        let r = request(
            "grant_type=password&username=a%40b.example&password=pw&organization_id=o1&scope=a&resource=https://r",
        );
        assert_eq!(r.grant_type(), GrantType::Password);
        let TokenRequest::Password(PasswordRequest {
            username,
            password,
            organization_id,
            scope,
            resources,
        }) = r
        else {
            panic!("not password");
        };
        assert_eq!(username, "a@b.example");
        assert_eq!(password.expose(), "pw");
        assert_eq!(organization_id.as_deref(), Some("o1"));
        assert_eq!(scope_text(scope.as_ref()).as_deref(), Some("a"));
        assert_eq!(resources, ["https://r"]);
    }

    #[test]
    fn password_requires_username_and_password() {
        for body in [
            "grant_type=password",
            "grant_type=password&username=u",
            "grant_type=password&password=p",
            "grant_type=password&username=&password=p",
            "grant_type=password&scope=a%22b",
        ] {
            let e = refused(body);
            assert_eq!(e.code, OAuthErrorCode::InvalidRequest, "{body}");
            assert_eq!(e.description(), "username and password are required");
        }
    }

    #[test]
    fn no_secret_is_shown_by_debug() {
        let r = parse("grant_type=password&username=u&password=hunter2hunter2&scope=a").unwrap();
        let shown = format!("{r:?}");
        assert!(!shown.contains("hunter2hunter2"), "{shown}");
    }
}
