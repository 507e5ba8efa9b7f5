//! The one way a page's POST handler reads its form: [`CsrfForm`] checks the form's CSRF token
//! and the request's origin ([`crate::people::csrf::check`]) before the handler runs, so a new
//! page cannot forget the check. A form that fails it is answered 403 and acted on in no way.

use crate::people::csrf;
use crate::people::http::pages::PageFailure;
use crate::people::http::session::Browser;
use crate::platform::state::AppState;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Form;
use serde::de::DeserializeOwned;

/// A page's form: the fields a handler reads, with the CSRF token every form carries.
pub trait PageForm: DeserializeOwned + Send {
    /// The `csrf` field as sent (`None` when missing, or sent more than once).
    fn csrf(&self) -> Option<&str>;
}

/// A form that passed the CSRF check, and the browser that sent it.
#[derive(Debug)]
pub struct CsrfForm<T> {
    /// The browser that sent the form.
    pub browser: Browser,
    /// The form's fields.
    pub form: T,
}

impl<T: PageForm> FromRequest<AppState> for CsrfForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let browser = Browser::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let headers = parts.headers.clone();
        let Form(form) = Form::<T>::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        csrf::check(
            form_origin(&headers),
            browser.expected_csrf().as_deref(),
            form.csrf(),
        )
        .map_err(|e| PageFailure::Forbidden(e.to_string()).into_response())?;
        Ok(CsrfForm { browser, form })
    }
}

/// The `Host` and the `Origin` (else `Referer`) of a request, as [`csrf::check`] reads them.
fn form_origin(headers: &HeaderMap) -> csrf::FormOrigin<'_> {
    csrf::FormOrigin {
        host: headers.get(header::HOST).and_then(|h| h.to_str().ok()),
        claimed: headers
            .get(header::ORIGIN)
            .or_else(|| headers.get(header::REFERER))
            .map(|v| v.to_str().unwrap_or("")),
    }
}
