//! OAuth errors by their RFC names (RFC 6749 §4.1.2.1 and §5.2, RFC 7591 §3.2.2, RFC 6750 §3,
//! RFC 7009 §2.2.1, RFC 9449 §7.1). The server maps each code to a status and body; the
//! description is written for a developer and never contains a secret.
//!
//! RFC 6749 §5.2 lets `error` and `error_description` hold only %x20-21 / %x23-5B / %x5D-7E
//! (printable ASCII without `"` and `\`). Codes are fixed ASCII names; a description is
//! sanitised when the error is built (see [`error_text`]), so no path can send another
//! character, whatever input it quotes.

use serde::Serialize;
use std::borrow::Cow;
use std::fmt;

/// The `error` codes Castellan answers with, each from the RFC that defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OAuthErrorCode {
    /// A missing, repeated or malformed parameter (RFC 6749 §5.2).
    InvalidRequest,
    /// Client authentication failed (RFC 6749 §5.2).
    InvalidClient,
    /// A code, refresh token or credential that is invalid, expired, revoked or another client's (RFC 6749 §5.2).
    InvalidGrant,
    /// The client may not use this grant type (RFC 6749 §5.2).
    UnauthorizedClient,
    /// A grant type Castellan does not support (RFC 6749 §5.2).
    UnsupportedGrantType,
    /// A scope that is malformed or beyond what the client may have (RFC 6749 §5.2).
    InvalidScope,
    /// The user or Castellan refused the request (RFC 6749 §4.1.2.1).
    AccessDenied,
    /// A `response_type` other than `code` (RFC 6749 §4.1.2.1).
    UnsupportedResponseType,
    /// Castellan failed unexpectedly (RFC 6749 §4.1.2.1).
    ServerError,
    /// Castellan cannot handle the request now (RFC 6749 §4.1.2.1).
    TemporarilyUnavailable,
    /// A redirect URI refused at registration (RFC 7591 §3.2.2).
    InvalidRedirectUri,
    /// A client metadata value refused at registration (RFC 7591 §3.2.2).
    InvalidClientMetadata,
    /// An access token that is malformed, expired or revoked (RFC 6750 §3.1).
    InvalidToken,
    /// The access token lacks a scope the request needs (RFC 6750 §3.1).
    InsufficientScope,
    /// A token type that cannot be revoked (RFC 7009 §2.2.1).
    UnsupportedTokenType,
    /// A DPoP proof that does not verify or does not match (RFC 9449 §7.1).
    InvalidDpopProof,
    /// The DPoP proof must carry the server's current nonce, given in `DPoP-Nonce` (RFC 9449
    /// §8).
    UseDpopNonce,
    /// A resource indicator that is malformed or not allowed (RFC 8707 §2).
    InvalidTarget,
    /// A request object (`request`, JAR) where none is supported (OIDC Core §3.1.2.6).
    RequestNotSupported,
    /// A device polling faster than allowed (RFC 8628 §3.5).
    SlowDown,
    /// The person has not decided yet (RFC 8628 §3.5).
    AuthorizationPending,
    /// The device code expired before the person decided (RFC 8628 §3.5).
    ExpiredToken,
    /// `access_denied` at the token endpoint: the person denied a device (RFC 8628 §3.5),
    /// answered 400 as every token endpoint error (RFC 6749 §5.2), not 403.
    DeviceAccessDenied,
}

impl OAuthErrorCode {
    /// The code as sent in `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            OAuthErrorCode::InvalidRequest => "invalid_request",
            OAuthErrorCode::InvalidClient => "invalid_client",
            OAuthErrorCode::InvalidGrant => "invalid_grant",
            OAuthErrorCode::UnauthorizedClient => "unauthorized_client",
            OAuthErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            OAuthErrorCode::InvalidScope => "invalid_scope",
            OAuthErrorCode::AccessDenied => "access_denied",
            OAuthErrorCode::UnsupportedResponseType => "unsupported_response_type",
            OAuthErrorCode::ServerError => "server_error",
            OAuthErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            OAuthErrorCode::InvalidRedirectUri => "invalid_redirect_uri",
            OAuthErrorCode::InvalidClientMetadata => "invalid_client_metadata",
            OAuthErrorCode::InvalidToken => "invalid_token",
            OAuthErrorCode::InsufficientScope => "insufficient_scope",
            OAuthErrorCode::UnsupportedTokenType => "unsupported_token_type",
            OAuthErrorCode::InvalidDpopProof => "invalid_dpop_proof",
            OAuthErrorCode::UseDpopNonce => "use_dpop_nonce",
            OAuthErrorCode::InvalidTarget => "invalid_target",
            OAuthErrorCode::RequestNotSupported => "request_not_supported",
            OAuthErrorCode::SlowDown => "slow_down",
            OAuthErrorCode::AuthorizationPending => "authorization_pending",
            OAuthErrorCode::ExpiredToken => "expired_token",
            OAuthErrorCode::DeviceAccessDenied => "access_denied",
        }
    }
}

impl fmt::Display for OAuthErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The longest `error_description`, in characters, once sanitised.
pub const MAX_DESCRIPTION_CHARS: usize = 300;

/// Whether RFC 6749 §5.2 allows `c` in `error` or `error_description`.
pub fn is_error_char(c: char) -> bool {
    matches!(c, '\u{20}'..='\u{21}' | '\u{23}'..='\u{5B}' | '\u{5D}'..='\u{7E}')
}

/// `text` made fit for `error_description`: `"` becomes `'`, `\` becomes `/`, `…` becomes
/// `...` (and `§`, curly quotes and dashes of Castellan's own messages their ASCII readings),
/// any other character outside the allowed set becomes `?`, and the result is cut to
/// [`MAX_DESCRIPTION_CHARS`] (ending in `...` when cut). Text that already fits is kept as is.
pub fn error_text(text: Cow<'static, str>) -> Cow<'static, str> {
    if text.len() <= MAX_DESCRIPTION_CHARS && text.chars().all(is_error_char) {
        return text;
    }
    let mut out = String::with_capacity(text.len().min(MAX_DESCRIPTION_CHARS));
    for c in text.chars() {
        match c {
            '"' => out.push('\''),
            '\\' => out.push('/'),
            '\u{2026}' => out.push_str("..."),
            // Typography of Castellan's own messages, kept readable.
            '\u{a7}' => out.push_str("section "),
            '\u{2018}' | '\u{2019}' | '\u{201c}' | '\u{201d}' => out.push('\''),
            '\u{2013}' | '\u{2014}' => out.push('-'),
            c if is_error_char(c) => out.push(c),
            _ => out.push('?'),
        }
        if out.len() > MAX_DESCRIPTION_CHARS {
            break;
        }
    }
    if out.len() > MAX_DESCRIPTION_CHARS {
        // Only ASCII remains, so byte positions are character positions.
        out.truncate(MAX_DESCRIPTION_CHARS - 3);
        out.push_str("...");
    }
    Cow::Owned(out)
}

/// An OAuth error: a code from the RFCs and a description a developer can act on. The
/// description holds only the characters RFC 6749 §5.2 allows (see [`error_text`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    /// The error code.
    pub code: OAuthErrorCode,
    description: Cow<'static, str>,
}

impl OAuthError {
    /// An error with `code` and a description, sanitised for `error_description`.
    pub fn new(code: OAuthErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        OAuthError {
            code,
            description: error_text(description.into()),
        }
    }

    /// The sanitised description, for `error_description`.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// `invalid_request` with description `d`.
    pub fn invalid_request(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(OAuthErrorCode::InvalidRequest, d)
    }
    /// `invalid_client` with description `d`.
    pub fn invalid_client(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(OAuthErrorCode::InvalidClient, d)
    }
    /// `invalid_grant` with description `d`.
    pub fn invalid_grant(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(OAuthErrorCode::InvalidGrant, d)
    }
    /// `unauthorized_client` with description `d`.
    pub fn unauthorized_client(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(OAuthErrorCode::UnauthorizedClient, d)
    }
    /// `unsupported_grant_type` with description `d`.
    pub fn unsupported_grant_type(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(OAuthErrorCode::UnsupportedGrantType, d)
    }
    /// `invalid_scope` with description `d`.
    pub fn invalid_scope(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(OAuthErrorCode::InvalidScope, d)
    }
    /// `invalid_redirect_uri` with description `d`.
    pub fn invalid_redirect_uri(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(OAuthErrorCode::InvalidRedirectUri, d)
    }
    /// `invalid_client_metadata` with description `d`.
    pub fn invalid_client_metadata(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(OAuthErrorCode::InvalidClientMetadata, d)
    }
    /// `invalid_token` with description `d`.
    pub fn invalid_token(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(OAuthErrorCode::InvalidToken, d)
    }
    /// `insufficient_scope` with description `d`.
    pub fn insufficient_scope(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(OAuthErrorCode::InsufficientScope, d)
    }
    /// `server_error` with description `d`.
    pub fn server_error(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(OAuthErrorCode::ServerError, d)
    }
    /// `temporarily_unavailable` with description `d`.
    pub fn temporarily_unavailable(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(OAuthErrorCode::TemporarilyUnavailable, d)
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.description)
    }
}

impl std::error::Error for OAuthError {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn quotes_backslashes_and_ellipses_are_replaced() {
        let e = OAuthError::invalid_request("a \"b\" c\\d e\u{2026} \u{e9}\n\u{0}");
        assert_eq!(e.description(), "a 'b' c/d e... ???");
    }

    #[test]
    fn castellan_typography_reads_as_ascii() {
        let e =
            OAuthError::invalid_scope("outside RFC 6749 \u{a7}3.3 \u{201c}x\u{201d} \u{2014} y");
        assert_eq!(e.description(), "outside RFC 6749 section 3.3 'x' - y");
    }

    #[test]
    fn text_that_fits_is_kept_as_is() {
        let e = OAuthError::invalid_grant("the code is unknown");
        assert_eq!(e.description(), "the code is unknown");
        assert!(matches!(e.description, Cow::Borrowed(_)));
    }

    #[test]
    fn long_text_is_cut_to_the_maximum_and_says_so() {
        let e = OAuthError::invalid_request("x".repeat(1000));
        assert_eq!(e.description().len(), MAX_DESCRIPTION_CHARS);
        assert!(e.description().ends_with("..."));
        let e = OAuthError::invalid_request("\u{2026}".repeat(500));
        assert_eq!(e.description().len(), MAX_DESCRIPTION_CHARS);
    }

    #[test]
    fn every_code_is_made_of_allowed_characters() {
        for code in [
            OAuthErrorCode::InvalidRequest,
            OAuthErrorCode::InvalidDpopProof,
            OAuthErrorCode::UseDpopNonce,
            OAuthErrorCode::SlowDown,
        ] {
            assert!(code.as_str().chars().all(is_error_char));
        }
    }

    proptest! {
        #[test]
        fn any_description_holds_only_allowed_characters(s in any::<String>()) {
            let e = OAuthError::invalid_request(s);
            prop_assert!(e.description().chars().all(is_error_char), "{:?}", e.description());
            prop_assert!(e.description().chars().count() <= MAX_DESCRIPTION_CHARS);
        }

        #[test]
        fn allowed_text_is_unchanged(s in "[ !#-\\[\\]-~]{0,300}") {
            let e = OAuthError::invalid_request(s.clone());
            prop_assert_eq!(e.description(), s.as_str());
        }
    }
}
