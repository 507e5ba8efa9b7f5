//! The browser's cookies and its signed-in session: extracted once per page
//! request; a missing, malformed, unknown or expired session cookie is simply "not signed in",
//! as is a session without the second factor a policy requires of its person.

use crate::people::csrf;
use crate::people::http::pages::PageFailure;
use crate::people::second_factor::session_meets_policy;
use crate::people::sessions::{find_session, session_cookie_name};
use crate::platform::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use castellan_core::user::User;
use castellan_store::people::Session;

/// Longest cookie value looked at; longer ones are ignored (the device cookie, a signed JWS,
/// is the longest this server sets: under 800 bytes with an RS256 key).
const MAX_COOKIE_VALUE: usize = 1024;

/// The value of cookie `name`, if the browser sent one of a plausible size.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| v.len() <= MAX_COOKIE_VALUE)
}

/// The signed-in person behind a request.
#[derive(Clone)]
pub struct SignedIn {
    /// The session.
    pub session: Session,
    /// The person signed in.
    pub user: User,
    /// The cookie value (to end the session on sign-out); never logged.
    pub cookie: String,
}

/// The browser's state: its session (when signed in) and its CSRF cookie.
#[derive(Clone)]
pub struct Browser {
    /// The signed-in person, if any.
    pub signed_in: Option<SignedIn>,
    /// The CSRF cookie's value, if the browser sent one.
    pub csrf_cookie: Option<String>,
}

impl Browser {
    /// The CSRF token this browser's forms must carry ([`csrf::expected`]): bound to the
    /// session when signed in.
    pub fn expected_csrf(&self) -> Option<String> {
        csrf::expected(
            self.signed_in.as_ref().map(|s| s.cookie.as_str()),
            self.csrf_cookie.as_deref(),
        )
    }

    /// The CSRF token to put in a page's forms, and whether it is a new double-submit value
    /// (the caller then sets the cookie).
    pub fn page_csrf(&self) -> (String, bool) {
        csrf::page_token(
            self.signed_in.as_ref().map(|s| s.cookie.as_str()),
            self.csrf_cookie.as_deref(),
        )
    }
}

// The session cookie and the CSRF token are bearer secrets: `Debug` says only whether they
// are there.
impl std::fmt::Debug for SignedIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedIn")
            .field("session", &self.session)
            .field("user", &self.user.id)
            .field("cookie", &"[redacted]")
            .finish()
    }
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser")
            .field("signed_in", &self.signed_in)
            .field(
                "csrf_cookie",
                &self.csrf_cookie.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

impl FromRequestParts<AppState> for Browser {
    type Rejection = PageFailure;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let env = state.config.environment;
        let csrf_cookie = cookie(&parts.headers, csrf::cookie_name(env)).map(str::to_owned);
        let Some(value) = cookie(&parts.headers, session_cookie_name(env)) else {
            return Ok(Browser {
                signed_in: None,
                csrf_cookie,
            });
        };
        let now = state.clock.now();
        let signed_in = match find_session(state, value, now).await? {
            // A session without the second factor a policy requires counts for nothing: the
            // person signs in again, and is asked for it (or to set one up).
            Some(session) if session_meets_policy(state, &session).await? => state
                .store
                .get_user(&session.user_id)
                .await?
                .filter(|user| user.disabled_at.is_none())
                .map(|user| SignedIn {
                    session,
                    user,
                    cookie: value.to_owned(),
                }),
            _ => None,
        };
        Ok(Browser {
            signed_in,
            csrf_cookie,
        })
    }
}
