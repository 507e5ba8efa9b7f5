//! A signed-in browser for the load generators: signs in over HTTP, approves the consent
//! once, then asks for authorization codes and builds the code-exchange and refresh requests.

use crate::http1::{form, get, hidden, post, query_value, Answer, Conn, Error};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;

/// The PKCE verifier of every authorization request (RFC 7636 appendix B).
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

/// Who signs in, to which client. `Debug` is not derived: it holds a secret and a password.
pub struct SignIn<'a> {
    pub addr: &'a str,
    pub client_id: &'a str,
    pub client_secret: &'a str,
    pub email: &'a str,
    pub password: &'a str,
    pub redirect_uri: &'a str,
    pub scope: &'a str,
}

/// A signed-in browser: its cookies and what it needs to ask for codes.
pub struct Browser {
    cookie: String,
    authorize_path: String,
    token_auth: String,
}

impl Browser {
    /// Signs in over HTTP and approves the consent once (later requests skip the page).
    pub async fn sign_in(o: &SignIn<'_>) -> Result<Browser, Error> {
        let mut c = Conn::new(o.addr);
        let page = c.send(&get("/login", "")).await?;
        let csrf_cookie = page
            .cookies
            .iter()
            .find(|(k, _)| k == "castellan_csrf")
            .map(|(_, v)| v.clone())
            .ok_or("GET /login set no castellan_csrf cookie")?;
        let body = form(&[
            ("csrf", &csrf_cookie),
            ("email", o.email),
            ("password", o.password),
            ("request", ""),
        ]);
        let signed = c
            .send(&post(
                "/login",
                &format!("Cookie: castellan_csrf={csrf_cookie}\r\n"),
                &body,
            ))
            .await?;
        let session = signed
            .cookies
            .iter()
            .find(|(k, _)| k == "castellan_session")
            .map(|(_, v)| v.clone())
            .ok_or_else(|| format!("POST /login: {} {}", signed.status, signed.text()))?;
        let cookie = format!("castellan_csrf={csrf_cookie}; castellan_session={session}");
        let challenge = URL_SAFE_NO_PAD.encode(castellan_crypto::hash_secret(VERIFIER).0);
        let query = form(&[
            ("response_type", "code"),
            ("client_id", o.client_id),
            ("redirect_uri", o.redirect_uri),
            ("scope", o.scope),
            ("state", "bench-state"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ]);
        let authorize_path = format!("/oauth/authorize?{query}");
        let first = c.send(&get(&authorize_path, &cookie)).await?;
        match first.status {
            302 => {}
            200 => {
                let html = first.text();
                let csrf = hidden(&html, "csrf").ok_or("the consent page has no csrf field")?;
                let mut pairs = vec![
                    ("csrf", csrf.as_str()),
                    ("request", query.as_str()),
                    ("decision", "approve"),
                ];
                let org = hidden(&html, "organization");
                if let Some(org) = &org {
                    pairs.push(("organization", org.as_str()));
                }
                let decided = c
                    .send(&post(
                        "/oauth/authorize/decision",
                        &format!("Cookie: {cookie}\r\n"),
                        &form(&pairs),
                    ))
                    .await?;
                let loc = decided.location.clone().unwrap_or_default();
                if decided.status != 302 || query_value(&loc, "code").is_none() {
                    return Err(format!(
                        "consent decision: {} {loc} {}",
                        decided.status,
                        decided.text()
                    )
                    .into());
                }
            }
            s => return Err(format!("GET /oauth/authorize: {s} {}", first.text()).into()),
        }
        let basic = STANDARD.encode(format!("{}:{}", o.client_id, o.client_secret));
        Ok(Browser {
            cookie,
            authorize_path,
            token_auth: format!("Authorization: Basic {basic}\r\n"),
        })
    }

    /// One authorization request under the remembered consent: the code, or the answer.
    pub async fn code(&self, c: &mut Conn) -> Result<Result<String, Answer>, Error> {
        let a = c.send(&get(&self.authorize_path, &self.cookie)).await?;
        if a.status == 302 {
            if let Some(code) = a.location.as_deref().and_then(|l| query_value(l, "code")) {
                return Ok(Ok(code));
            }
        }
        Ok(Err(a))
    }

    pub fn exchange_request(&self, code: &str, redirect_uri: &str) -> Vec<u8> {
        post(
            "/oauth/token",
            &self.token_auth,
            &form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", redirect_uri),
                ("code_verifier", VERIFIER),
            ]),
        )
    }

    pub fn refresh_request(&self, token: &str) -> Vec<u8> {
        post(
            "/oauth/token",
            &self.token_auth,
            &form(&[("grant_type", "refresh_token"), ("refresh_token", token)]),
        )
    }
}
