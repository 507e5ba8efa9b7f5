//! Why the guard refused a request, and the answer it gives:
//! 401 with `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750 §3) and
//! `resource_metadata` (RFC 9728 §5.1), or with a `DPoP` challenge naming the accepted `algs`
//! for the DPoP failures (RFC 9449 §7.1); 403 for scope, role, organization, tenant and
//! disabled keys; 503 when Castellan cannot be asked. The JSON body says what to do in plain
//! words.

use crate::api_key::ApiKeyError;
use crate::identity::Role;
use crate::path::UnsafePath;
use axum::response::{IntoResponse, Response};
use castellan_core::token::Inactive;
use castellan_crypto::DpopError;
use http::{header, HeaderValue, StatusCode};
use serde_json::json;
use std::borrow::Cow;
use std::sync::Arc;

/// The URL of this resource's RFC 9728 metadata, carried in request extensions so that
/// extractor rejections can name it too.
#[derive(Debug, Clone)]
pub struct ResourceMetadata(pub Arc<str>);

/// Every reason the guard refuses a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// No credential, on a route that needs one.
    #[error("no credentials")]
    MissingCredentials,
    /// More than one credential (two headers, or a repeated one).
    #[error("more than one credential")]
    AmbiguousCredentials,
    /// An `Authorization` header that is not `Bearer <token>`.
    #[error("malformed Authorization header")]
    MalformedAuthorization,
    /// An API key that fails the syntactic check.
    #[error("malformed API key: {0}")]
    MalformedApiKey(ApiKeyError),
    /// A bearer token that is neither a JWT nor an opaque token.
    #[error("malformed access token")]
    MalformedToken,
    /// An API key Castellan does not know.
    #[error("unknown API key")]
    UnknownApiKey,
    /// An API key past its expiry (reason `expired`, as an expired token).
    #[error("API key expired")]
    ApiKeyExpired,
    /// An API key of another environment.
    #[error("API key of another environment")]
    ApiKeyWrongEnvironment,
    /// A token refused for the given reason (expired, revoked, another environment …).
    #[error("token not accepted: {}", .0.describe())]
    Token(Inactive),
    /// A JWT signed with an algorithm that is not accepted.
    #[error("token algorithm not accepted")]
    Algorithm,
    /// A token introspection says is not active.
    #[error("token not active")]
    TokenNotActive,
    /// A token issued for another audience.
    #[error("token audience not accepted")]
    WrongAudience,
    /// A kind of credential this guard is not configured to check (opaque tokens and API keys
    /// need introspection).
    #[error("credential kind not accepted")]
    UnsupportedCredential,
    /// The caller lacks `needed` (RFC 6750 §3.1 `insufficient_scope`).
    #[error("insufficient scope: {needed} needed")]
    InsufficientScope {
        /// The scope the route requires.
        needed: String,
        /// Whether the credential is an API key (the answer says "key", not "token").
        api_key: bool,
    },
    /// The caller's role in the organization is below `needed`.
    #[error("role too low: {needed} needed")]
    RoleTooLow {
        /// The lowest role the route accepts.
        needed: Role,
        /// The caller's role, if it has one in the organization.
        actual: Option<Role>,
    },
    /// The request names an organization other than the caller's.
    #[error("wrong organization")]
    WrongOrganization,
    /// A disabled or revoked API key: it exists but may not be used.
    #[error("API key disabled")]
    ApiKeyDisabled,
    /// A tenant header that does not match the token's brand or venue.
    #[error("tenant header {header} does not match the token")]
    TenantMismatch {
        /// The header that does not match.
        header: &'static str,
    },
    /// The JWKS could not be fetched, so no JWT can be verified.
    #[error("signing keys unavailable")]
    KeysUnavailable,
    /// Castellan's introspection endpoint could not be asked.
    #[error("introspection unavailable")]
    IntrospectionUnavailable,
    /// The revocation feed has not been read for longer than allowed: JWTs are refused
    /// rather than accepted without knowing whether they were revoked.
    #[error("revocation feed unavailable")]
    RevocationsUnavailable,
    /// A path that some server behind the proxy could read as another path.
    #[error("request path refused: {0}")]
    UnsafePath(UnsafePath),
    /// A DPoP-bound token (`cnf.jkt`) presented as `Bearer`: whoever holds it without the
    /// key must not use it (RFC 9449 §7.1).
    #[error("DPoP-bound token presented as Bearer")]
    DpopBoundAsBearer,
    /// `Authorization: DPoP` with a token that is not bound to a key.
    #[error("token presented with DPoP is not DPoP-bound")]
    NotDpopBound,
    /// The `DPoP` proof is missing, repeated, invalid for this request, of another key than
    /// the token's, or replayed (RFC 9449 §7.1 `invalid_dpop_proof`).
    #[error("invalid DPoP proof: {0}")]
    InvalidDpopProof(DpopProblem),
    /// Redis could not say whether a DPoP proof was used before: refused rather than let a
    /// replay through.
    #[error("replay check unavailable")]
    ReplayCheckUnavailable,
}

/// What is wrong with a request's DPoP proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DpopProblem {
    /// No `DPoP` header.
    #[error("no DPoP proof")]
    Missing,
    /// More than one `DPoP` header.
    #[error("more than one DPoP proof")]
    Repeated,
    /// The proof itself (shape, signature, `htm`, `htu`, `iat`, `ath` …).
    #[error("{0}")]
    Proof(DpopError),
    /// The proof's key is not the one the token is bound to.
    #[error("the DPoP proof's key is not the token's")]
    KeyMismatch,
    /// The proof's `jti` was already used within its window.
    #[error("the DPoP proof was already used")]
    Replayed,
}

impl Failure {
    /// The HTTP status the failure is answered with: 401, 403 or 503.
    pub fn status(&self) -> StatusCode {
        match self {
            Failure::MissingCredentials
            | Failure::MalformedAuthorization
            | Failure::MalformedApiKey(_)
            | Failure::MalformedToken
            | Failure::UnknownApiKey
            | Failure::ApiKeyExpired
            | Failure::ApiKeyWrongEnvironment
            | Failure::Token(_)
            | Failure::Algorithm
            | Failure::TokenNotActive
            | Failure::WrongAudience
            | Failure::UnsupportedCredential
            | Failure::DpopBoundAsBearer
            | Failure::NotDpopBound
            | Failure::InvalidDpopProof(_) => StatusCode::UNAUTHORIZED,
            Failure::AmbiguousCredentials | Failure::UnsafePath(_) => StatusCode::BAD_REQUEST,
            Failure::InsufficientScope { .. }
            | Failure::RoleTooLow { .. }
            | Failure::WrongOrganization
            | Failure::ApiKeyDisabled
            | Failure::TenantMismatch { .. } => StatusCode::FORBIDDEN,
            Failure::KeysUnavailable
            | Failure::IntrospectionUnavailable
            | Failure::RevocationsUnavailable
            | Failure::ReplayCheckUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The RFC 6750 §3.1 error code, when the failure has one.
    pub fn oauth_error(&self) -> Option<&'static str> {
        match self {
            Failure::MissingCredentials => None,
            Failure::AmbiguousCredentials => Some("invalid_request"),
            Failure::MalformedAuthorization
            | Failure::MalformedApiKey(_)
            | Failure::MalformedToken
            | Failure::UnknownApiKey
            | Failure::ApiKeyExpired
            | Failure::ApiKeyWrongEnvironment
            | Failure::Token(_)
            | Failure::Algorithm
            | Failure::TokenNotActive
            | Failure::WrongAudience
            | Failure::UnsupportedCredential
            | Failure::DpopBoundAsBearer
            | Failure::NotDpopBound => Some("invalid_token"),
            Failure::InvalidDpopProof(_) => Some("invalid_dpop_proof"),
            Failure::InsufficientScope { .. } => Some("insufficient_scope"),
            Failure::RoleTooLow { .. }
            | Failure::WrongOrganization
            | Failure::ApiKeyDisabled
            | Failure::TenantMismatch { .. }
            | Failure::KeysUnavailable
            | Failure::IntrospectionUnavailable
            | Failure::RevocationsUnavailable
            | Failure::ReplayCheckUnavailable
            | Failure::UnsafePath(_) => None,
        }
    }

    /// The body's `error`: the RFC code when there is one, else a name of this guard.
    pub fn error_code(&self) -> &'static str {
        match self {
            Failure::MissingCredentials => "invalid_token",
            Failure::RoleTooLow { .. } => "insufficient_role",
            Failure::WrongOrganization => "wrong_organization",
            Failure::ApiKeyDisabled => "api_key_disabled",
            Failure::TenantMismatch { .. } => "tenant_mismatch",
            Failure::KeysUnavailable
            | Failure::IntrospectionUnavailable
            | Failure::RevocationsUnavailable
            | Failure::ReplayCheckUnavailable => "temporarily_unavailable",
            Failure::UnsafePath(_) => "invalid_request",
            Failure::AmbiguousCredentials
            | Failure::MalformedAuthorization
            | Failure::MalformedApiKey(_)
            | Failure::MalformedToken
            | Failure::UnknownApiKey
            | Failure::ApiKeyExpired
            | Failure::ApiKeyWrongEnvironment
            | Failure::Token(_)
            | Failure::Algorithm
            | Failure::TokenNotActive
            | Failure::WrongAudience
            | Failure::UnsupportedCredential
            | Failure::DpopBoundAsBearer
            | Failure::NotDpopBound
            | Failure::InvalidDpopProof(_)
            | Failure::InsufficientScope { .. } => self.oauth_error().unwrap_or("invalid_token"),
        }
    }

    /// A machine-readable cause, finer than the RFC code (e.g. `wrong_environment`).
    pub fn reason(&self) -> &'static str {
        match self {
            Failure::MissingCredentials => "missing_credentials",
            Failure::AmbiguousCredentials => "ambiguous_credentials",
            Failure::MalformedAuthorization => "malformed_authorization",
            Failure::MalformedApiKey(_) => "malformed_api_key",
            Failure::MalformedToken => "malformed_token",
            Failure::UnknownApiKey => "unknown_api_key",
            Failure::ApiKeyExpired => "expired",
            Failure::ApiKeyWrongEnvironment => "wrong_environment",
            Failure::Token(i) => match i {
                Inactive::Malformed => "malformed_token",
                Inactive::Unknown => "unknown_token",
                Inactive::BadSignature => "bad_signature",
                Inactive::UnknownKey => "unknown_key",
                Inactive::WrongIssuer => "wrong_issuer",
                Inactive::WrongEnvironment => "wrong_environment",
                Inactive::Expired => "expired",
                Inactive::NotYetValid => "not_yet_valid",
                Inactive::Revoked => "revoked",
                Inactive::ClientGone => "client_gone",
                Inactive::WrongAudience => "wrong_audience",
            },
            Failure::Algorithm => "algorithm_not_accepted",
            Failure::TokenNotActive => "token_not_active",
            Failure::WrongAudience => "wrong_audience",
            Failure::UnsupportedCredential => "unsupported_credential",
            Failure::InsufficientScope { .. } => "insufficient_scope",
            Failure::RoleTooLow { .. } => "role_too_low",
            Failure::WrongOrganization => "wrong_organization",
            Failure::ApiKeyDisabled => "api_key_disabled",
            Failure::TenantMismatch { .. } => "tenant_mismatch",
            Failure::KeysUnavailable => "keys_unavailable",
            Failure::IntrospectionUnavailable => "introspection_unavailable",
            Failure::RevocationsUnavailable => "revocations_unavailable",
            Failure::ReplayCheckUnavailable => "replay_check_unavailable",
            Failure::UnsafePath(_) => "unsafe_path",
            Failure::DpopBoundAsBearer => "dpop_bound_token",
            Failure::NotDpopBound => "not_dpop_bound",
            Failure::InvalidDpopProof(p) => match p {
                DpopProblem::Missing => "dpop_proof_missing",
                DpopProblem::Repeated => "dpop_proof_repeated",
                DpopProblem::Proof(_) => "invalid_dpop_proof",
                DpopProblem::KeyMismatch => "dpop_key_mismatch",
                DpopProblem::Replayed => "dpop_proof_replayed",
            },
        }
    }

    /// Words a developer can act on. Never contains the credential.
    pub fn message(&self) -> Cow<'static, str> {
        match self {
            Failure::MissingCredentials => "This endpoint needs credentials: send an `Authorization: Bearer <token>` header or an API key header.".into(),
            Failure::AmbiguousCredentials => "Send one credential only: either an Authorization header or an API key, not both.".into(),
            Failure::MalformedAuthorization => "The Authorization header must be `Bearer <token>`.".into(),
            Failure::MalformedApiKey(e) => format!("Malformed API key: {e}. Copy the whole key as it was shown at creation.").into(),
            Failure::MalformedToken => "The access token is malformed: send the `access_token` value from the token response unchanged.".into(),
            Failure::ApiKeyWrongEnvironment => "This API key belongs to another environment (a testing key sent to production, or the reverse): use a key created in this environment.".into(),
            Failure::UnknownApiKey => "This API key is not known. Check that it belongs to this environment, or create a new one.".into(),
            Failure::ApiKeyExpired => "This API key has expired: create a new key (or rotate this one before it expires next time).".into(),
            Failure::Token(Inactive::Expired) => "The access token has expired: use the refresh token or request a new token.".into(),
            Failure::Token(Inactive::WrongEnvironment) => "The token belongs to another environment (a testing token sent to production, or the reverse): use a token from this environment's Castellan.".into(),
            Failure::Token(Inactive::NotYetValid) => "The token is not valid yet: check the clocks of the issuing and receiving machines.".into(),
            Failure::Token(Inactive::WrongIssuer) => "The token was issued by another authorization server than the one this API trusts.".into(),
            Failure::Token(i) => format!("The access token is not accepted: {}. Request a new token.", i.describe()).into(),
            Failure::Algorithm => "The token's signing algorithm is not accepted (`none` never is). Use a token issued by Castellan.".into(),
            Failure::TokenNotActive => "The access token is not active: it expired, was revoked or is unknown. Request a new token.".into(),
            Failure::WrongAudience => "The token was issued for another API (its `aud` does not name this one). Request a token for this resource.".into(),
            Failure::UnsupportedCredential => "This API does not accept this kind of credential; use a JWT access token.".into(),
            Failure::InsufficientScope { needed, api_key: false } => format!("The token does not carry the scope `{needed}` this endpoint requires. Request a token with scope={needed}.").into(),
            Failure::InsufficientScope { needed, api_key: true } => format!("The API key does not carry the scope `{needed}` this endpoint requires. Use a key created with that scope.").into(),
            Failure::RoleTooLow { needed, actual } => match actual {
                Some(a) => format!("Role too low: this endpoint requires {needed} or above on the organization, and the caller is {a}.").into(),
                None => format!("Role too low: this endpoint requires {needed} or above on the organization, and the credential carries no role.").into(),
            },
            Failure::WrongOrganization => "Wrong organization: the credential belongs to another organization than the one this request targets.".into(),
            Failure::ApiKeyDisabled => "API key disabled: this key was disabled or revoked. Create a new key, or ask its owner to re-enable it.".into(),
            Failure::TenantMismatch { header } => format!("The `{header}` header does not match the brand, venue or stage the token was issued for.").into(),
            Failure::KeysUnavailable => "The API cannot fetch the signing keys of its authorization server right now. Retry shortly.".into(),
            Failure::IntrospectionUnavailable => "The API cannot reach its authorization server to check this credential right now. Retry shortly.".into(),
            Failure::RevocationsUnavailable => "The API has not heard from its authorization server which tokens were revoked for too long, so it accepts no access token right now. Retry shortly.".into(),
            Failure::UnsafePath(why) => format!("The request path is refused: {why}. Send the path in its plain form: no '.' or '..' segments, no escaped '.', '/', '\\' or '%', no backslashes, no empty segments.").into(),
            Failure::ReplayCheckUnavailable => "The API cannot check right now that this DPoP proof was not used before, so it does not accept it. Retry shortly with a new proof.".into(),
            Failure::DpopBoundAsBearer => "This token is bound to a DPoP key: send it as `Authorization: DPoP <token>` with a `DPoP` proof made with that key for this request.".into(),
            Failure::NotDpopBound => "This token is not bound to a DPoP key: send it as `Authorization: Bearer <token>`.".into(),
            Failure::InvalidDpopProof(p) => format!("The DPoP proof is not accepted: {p}. Send one fresh proof per request, made with the token's key for this method and URL, with `ath` the hash of the token.").into(),
        }
    }

    /// The `WWW-Authenticate` value, when the failure has one.
    pub fn www_authenticate(&self, resource_metadata: Option<&str>) -> Option<String> {
        let mut params: Vec<(&str, Cow<'_, str>)> = Vec::with_capacity(4);
        match self.status() {
            // A refused path says nothing about the credential.
            _ if matches!(self, Failure::UnsafePath(_)) => return None,
            StatusCode::UNAUTHORIZED | StatusCode::BAD_REQUEST => {}
            _ if matches!(self, Failure::InsufficientScope { .. }) => {}
            _ => return None,
        }
        if let Some(code) = self.oauth_error() {
            params.push(("error", code.into()));
            params.push(("error_description", self.short_description().into()));
        }
        if let Failure::InsufficientScope { needed, .. } = self {
            params.push(("scope", needed.as_str().into()));
        }
        let dpop = matches!(
            self,
            Failure::DpopBoundAsBearer | Failure::NotDpopBound | Failure::InvalidDpopProof(_)
        );
        if dpop {
            params.push(("algs", DPOP_ALGS.into()));
        }
        if let Some(url) = resource_metadata {
            params.push(("resource_metadata", url.into()));
        }
        let mut out = String::from(if dpop { "DPoP" } else { "Bearer" });
        for (i, (k, v)) in params.iter().enumerate() {
            out.push_str(if i == 0 { " " } else { ", " });
            out.push_str(k);
            out.push_str("=\"");
            out.extend(
                v.chars()
                    .filter(|c| *c != '"' && *c != '\\' && !c.is_control()),
            );
            out.push('"');
        }
        Some(out)
    }

    /// A one-line description for `error_description` (RFC 6750 §3).
    fn short_description(&self) -> &'static str {
        match self {
            Failure::Token(i) => i.describe(),
            Failure::MissingCredentials => "no credentials",
            Failure::AmbiguousCredentials => "more than one credential was sent",
            Failure::MalformedAuthorization => "the Authorization header is not Bearer",
            Failure::MalformedApiKey(_) => "the API key is malformed",
            Failure::MalformedToken => "the token is malformed",
            Failure::UnknownApiKey => "the API key is not known",
            Failure::ApiKeyExpired => "the API key has expired",
            Failure::ApiKeyWrongEnvironment => "the API key belongs to another environment",
            Failure::Algorithm => "the token's algorithm is not accepted",
            Failure::TokenNotActive => "the token is not active",
            Failure::WrongAudience => "the token is for another audience",
            Failure::UnsupportedCredential => "this credential kind is not accepted",
            Failure::InsufficientScope { api_key: false, .. } => {
                "the token lacks the required scope"
            }
            Failure::InsufficientScope { api_key: true, .. } => {
                "the API key lacks the required scope"
            }
            Failure::RoleTooLow { .. } => "role too low",
            Failure::WrongOrganization => "wrong organization",
            Failure::ApiKeyDisabled => "API key disabled",
            Failure::TenantMismatch { .. } => "tenant headers do not match the token",
            Failure::KeysUnavailable
            | Failure::IntrospectionUnavailable
            | Failure::RevocationsUnavailable
            | Failure::ReplayCheckUnavailable => "temporarily unavailable",
            Failure::UnsafePath(_) => "the request path is refused",
            Failure::DpopBoundAsBearer => "the token is DPoP-bound: send it with the DPoP scheme",
            Failure::NotDpopBound => "the token is not DPoP-bound",
            Failure::InvalidDpopProof(_) => "the DPoP proof is not accepted",
        }
    }

    /// The full answer.
    pub fn to_response(&self, resource_metadata: Option<&str>) -> Response {
        let mut body = json!({
            "error": self.error_code(),
            "reason": self.reason(),
            "message": self.message(),
        });
        if let (Failure::InsufficientScope { needed, .. }, Some(obj)) = (self, body.as_object_mut())
        {
            obj.insert("needed_scope".into(), needed.clone().into());
        }
        if let (Failure::RoleTooLow { needed, .. }, Some(obj)) = (self, body.as_object_mut()) {
            obj.insert("needed_role".into(), needed.as_str().into());
        }
        let mut res = (self.status(), axum::Json(body)).into_response();
        let headers = res.headers_mut();
        if let Some(v) = self
            .www_authenticate(resource_metadata)
            .and_then(|v| HeaderValue::from_str(&v).ok())
        {
            headers.insert(header::WWW_AUTHENTICATE, v);
        }
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.status() == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        res
    }
}

/// The proof algorithms accepted, as a DPoP challenge's `algs` (RFC 9449 §7.1).
const DPOP_ALGS: &str = "ES256 ES384 EdDSA RS256 PS256";

/// A failure with the resource metadata URL to name in its answer.
#[derive(Debug, Clone)]
pub struct FailureResponse {
    /// Why the request was refused.
    pub failure: Failure,
    /// The RFC 9728 metadata URL for `WWW-Authenticate`, when known.
    pub resource_metadata: Option<ResourceMetadata>,
}

impl IntoResponse for FailureResponse {
    fn into_response(self) -> Response {
        self.failure
            .to_response(self.resource_metadata.as_ref().map(|r| &*r.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RM: &str = "http://as/.well-known/oauth-protected-resource";

    #[test]
    fn missing_credentials_challenge_has_no_error() {
        let f = Failure::MissingCredentials;
        assert_eq!(f.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            f.www_authenticate(Some(RM)).unwrap(),
            format!("Bearer resource_metadata=\"{RM}\"")
        );
    }

    #[test]
    fn invalid_token_challenge_names_error_and_metadata() {
        let f = Failure::Token(Inactive::Expired);
        let h = f.www_authenticate(Some(RM)).unwrap();
        assert_eq!(
            h,
            format!("Bearer error=\"invalid_token\", error_description=\"the token has expired\", resource_metadata=\"{RM}\"")
        );
        assert_eq!(f.reason(), "expired");
    }

    #[test]
    fn insufficient_scope_names_the_scope() {
        let f = Failure::InsufficientScope {
            needed: "products:write".into(),
            api_key: false,
        };
        assert_eq!(f.status(), StatusCode::FORBIDDEN);
        let h = f.www_authenticate(None).unwrap();
        assert!(h.contains("error=\"insufficient_scope\""), "{h}");
        assert!(h.contains("scope=\"products:write\""), "{h}");
        assert!(f.message().contains("products:write"));
        assert!(f.message().contains("token"));
        // An API key is called a key.
        let k = Failure::InsufficientScope {
            needed: "products:write".into(),
            api_key: true,
        };
        assert!(
            k.message().starts_with("The API key does not carry"),
            "{}",
            k.message()
        );
        assert!(!k.message().contains("token"), "{}", k.message());
        assert!(k
            .www_authenticate(None)
            .unwrap()
            .contains("the API key lacks"));
    }

    #[test]
    fn the_dpop_challenge_names_every_proof_algorithm_accepted() {
        assert_eq!(DPOP_ALGS, castellan_crypto::dpop::SUPPORTED_ALGS.join(" "));
        let h = Failure::DpopBoundAsBearer
            .www_authenticate(Some(RM))
            .unwrap();
        assert_eq!(
            h,
            format!("DPoP error=\"invalid_token\", error_description=\"the token is DPoP-bound: send it with the DPoP scheme\", algs=\"{DPOP_ALGS}\", resource_metadata=\"{RM}\"")
        );
    }

    #[test]
    fn each_refusal_answers_its_documented_status() {
        use StatusCode as S;
        let rows = [
            (
                Failure::MalformedApiKey(ApiKeyError::Parts),
                S::UNAUTHORIZED,
            ),
            (Failure::UnknownApiKey, S::UNAUTHORIZED),
            (Failure::ApiKeyExpired, S::UNAUTHORIZED),
            (Failure::Token(Inactive::WrongEnvironment), S::UNAUTHORIZED),
            (Failure::Token(Inactive::Revoked), S::UNAUTHORIZED),
            (
                Failure::RoleTooLow {
                    needed: Role::Manager,
                    actual: Some(Role::Viewer),
                },
                S::FORBIDDEN,
            ),
            (Failure::WrongOrganization, S::FORBIDDEN),
            (Failure::ApiKeyDisabled, S::FORBIDDEN),
            (Failure::IntrospectionUnavailable, S::SERVICE_UNAVAILABLE),
            (Failure::RevocationsUnavailable, S::SERVICE_UNAVAILABLE),
        ];
        for (f, s) in rows {
            assert_eq!(f.status(), s, "{f:?}");
            // 403s other than scope carry no Bearer challenge: the token itself is fine.
            if s == S::FORBIDDEN {
                assert!(f.www_authenticate(Some(RM)).is_none());
            }
        }
    }
}
