//! Validation of an authorization request (RFC 6749 §4.1.1 and §4.1.2.1, RFC 7636, RFC 8707,
//! RFC 9207, RFC 9700 §2.1 and §4.1).
//!
//! Order matters: the client and its redirect URI are established first. Until they are, no
//! error may be sent anywhere but an error page (an unknown client or unregistered redirect URI
//! would make the server an open redirector). Once they are, every other error goes back to the
//! client at its redirect URI with `error`, `error_description`, `state` and `iss`.

use crate::platform::state::AppState;
use castellan_core::client::{Client, ClientKind, GrantType};
use castellan_core::grant;
use castellan_core::ids::is_plausible_client_id;
use castellan_core::pkce::CodeChallenge;
use castellan_core::redirect::redirect_uri_matches;
use castellan_core::resource::Audience;
use castellan_core::scope::allowed_by;
use castellan_core::{OAuthError, OAuthErrorCode, ScopeSet};
use castellan_store::StoreError;
use std::collections::BTreeMap;

/// Longest authorization request (query string) accepted.
pub const MAX_QUERY_LEN: usize = 8 * 1024;
/// Most parameters in one request.
const MAX_PARAMS: usize = 32;
const MAX_STATE_LEN: usize = 2048;
const MAX_NONCE_LEN: usize = 512;

/// `prompt` (OIDC Core §3.1.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    /// `none`: answer without showing any page, or fail.
    None,
    /// `login`: ask the person to sign in again.
    Login,
    /// `consent`: ask the person to consent again.
    Consent,
}

/// A valid authorization request.
#[derive(Debug, Clone)]
pub struct AuthorizeRequest {
    /// The client asking.
    pub client: Client,
    /// The redirect URI in force: the one sent, or the client's only one.
    pub redirect_uri: String,
    /// Whether the request named it (then the token request must repeat it, RFC 6749 §4.1.3).
    pub redirect_uri_given: bool,
    /// The scopes granted if the person consents.
    pub scope: ScopeSet,
    /// The client's `state`, returned with the answer.
    pub state: Option<String>,
    /// The PKCE challenge (RFC 7636).
    pub code_challenge: Option<CodeChallenge>,
    /// The OIDC `nonce`, put in the ID token.
    pub nonce: Option<String>,
    /// The OIDC `prompt`.
    pub prompt: Option<Prompt>,
    /// The OIDC `max_age` (seconds): a sign-in older than this must be made again (OIDC Core
    /// §3.1.2.1).
    pub max_age: Option<u32>,
    /// The OIDC `acr_values`: the authentication context classes asked for, space-separated in
    /// order of preference (see `castellan_core::authn`).
    pub acr_values: Option<String>,
    /// The resources the tokens are for (RFC 8707); `None`: the default audience.
    pub resources: Option<Audience>,
    /// The request's parameters re-encoded, to carry it through the login and consent forms
    /// (for a pushed request: `client_id` and `request_uri` only).
    pub query: String,
    /// The pushed request it came from (RFC 9126), used up when a code is issued.
    pub pushed: Option<PushedRef>,
    /// The DPoP key the code is bound to (`dpop_jkt`, RFC 9449 §10): its redemption must prove
    /// it.
    pub dpop_jkt: Option<String>,
}

/// The pushed authorization request an authorization request came from.
#[derive(Debug, Clone)]
pub struct PushedRef {
    /// SHA-256 of its `request_uri`.
    pub hash: [u8; 32],
    /// When it was pushed: a sign-in after this satisfies its `prompt=login`.
    pub pushed_at: chrono::DateTime<chrono::Utc>,
}

/// Where an error goes back to the client (RFC 6749 §4.1.2.1).
#[derive(Debug, Clone)]
pub struct ErrorRedirect {
    /// The client's redirect URI.
    pub redirect_uri: String,
    /// The error told.
    pub error: OAuthError,
    /// The client's `state`, returned with the error.
    pub state: Option<String>,
}

/// Why an authorization request is refused.
#[derive(Debug)]
pub enum AuthorizeError {
    /// The client or redirect URI cannot be trusted: an error page, never a redirect.
    Untrusted(String),
    /// Told to the client at its redirect URI.
    Redirect(ErrorRedirect),
    /// Storage failed.
    Store(StoreError),
}

impl From<StoreError> for AuthorizeError {
    fn from(e: StoreError) -> Self {
        AuthorizeError::Store(e)
    }
}

/// The parameters of an authorization request: one value per name, except `resource`.
#[derive(Debug, Default)]
pub struct Parameters {
    /// Each parameter's value (empty values count as absent, RFC 6749 §3.1).
    pub map: BTreeMap<String, String>,
    /// Every `resource`, in order (RFC 8707 §2: one per resource).
    pub resources: Vec<String>,
    /// The first name given twice, if any (`resource` aside).
    pub repeated: Option<String>,
}

impl Parameters {
    /// The parameters re-encoded as a query string (names in order, then the resources).
    pub fn encode(&self) -> String {
        let mut out = form_urlencoded::Serializer::new(String::new());
        out.extend_pairs(self.map.iter());
        for r in &self.resources {
            out.append_pair("resource", r);
        }
        out.finish()
    }
}

/// The parameters of a query string: empty values count as absent (RFC 6749 §3.1); notes the
/// first repeated name, if any (`resource` may be repeated).
pub fn parameters(raw: &str) -> Result<Parameters, String> {
    let (map, resources, repeated) = parameter_parts(raw)?;
    Ok(Parameters {
        map,
        resources,
        repeated,
    })
}

type Parts = (BTreeMap<String, String>, Vec<String>, Option<String>);

fn parameter_parts(raw: &str) -> Result<Parts, String> {
    if raw.len() > MAX_QUERY_LEN {
        return Err(format!(
            "The authorization request is longer than {MAX_QUERY_LEN} characters."
        ));
    }
    let mut map = BTreeMap::new();
    let mut resources = Vec::new();
    let mut repeated = None;
    for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
        if map.len() + resources.len() >= MAX_PARAMS {
            return Err("The authorization request has too many parameters.".to_owned());
        }
        if v.is_empty() {
            continue;
        }
        if k == "resource" {
            resources.push(v.into_owned());
            continue;
        }
        if map.contains_key(k.as_ref()) {
            repeated.get_or_insert_with(|| k.clone().into_owned());
            continue;
        }
        map.insert(k.into_owned(), v.into_owned());
    }
    Ok((map, resources, repeated))
}

/// Re-encodes a query string, dropping `prompt=login` and `max_age` (used once the person has
/// signed in, so that the continued request does not ask them to sign in again: with
/// `max_age=0`, any sign-in is already too old a second later). `None` when the query is not
/// a plausible authorization request.
pub fn continue_query(raw: &str) -> Option<String> {
    let mut params = parameters(raw).ok()?;
    params.map.contains_key("client_id").then_some(())?;
    if params.map.get("prompt").is_some_and(|p| p == "login") {
        params.map.remove("prompt");
    }
    params.map.remove("max_age");
    Some(params.encode())
}

/// Longest `acr_values` accepted.
const MAX_ACR_VALUES_LEN: usize = 1024;

/// The `acr_values` parameter: space-separated visible ASCII values, at most
/// [`MAX_ACR_VALUES_LEN`] long; empty means none.
fn acr_values_of(value: Option<&str>) -> Result<Option<String>, OAuthError> {
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if value.len() > MAX_ACR_VALUES_LEN {
        return Err(OAuthError::invalid_request(format!(
            "acr_values is longer than {MAX_ACR_VALUES_LEN} characters"
        )));
    }
    if !value.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) {
        return Err(OAuthError::invalid_request(
            "acr_values must be space-separated visible ASCII values",
        ));
    }
    Ok(Some(value.to_owned()))
}

/// The `max_age` parameter: a whole number of seconds below 2^32 (digits only: `parse` would
/// also take a leading `+`).
fn max_age_of(value: Option<&str>) -> Result<Option<u32>, OAuthError> {
    let Some(v) = value else {
        return Ok(None);
    };
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(OAuthError::invalid_request(
            "max_age must be a whole number of seconds",
        ));
    }
    v.parse::<u32>()
        .map(Some)
        .map_err(|_| OAuthError::invalid_request("max_age is too large"))
}

/// Validates an authorization request given as its raw query string.
///
/// A request naming a `request_uri` is a pushed one (RFC 9126 §4): its parameters are the ones
/// pushed ([`crate::oauth::par::resolve`]); any other parameter sent with it is ignored.
pub async fn validate(state: &AppState, raw: &str) -> Result<AuthorizeRequest, AuthorizeError> {
    let params = parameters(raw).map_err(AuthorizeError::Untrusted)?;
    if params.map.contains_key("request_uri") {
        return crate::oauth::par::resolve(state, &params).await;
    }
    let client = client_of(state, &params).await?;
    check(state, client, params, None)
}

/// The client an authorization request names, known and active; an error page otherwise (and
/// when `client_id` or `redirect_uri` is repeated). Every way into the authorization endpoint
/// finds its client here.
pub async fn client_of(state: &AppState, params: &Parameters) -> Result<Client, AuthorizeError> {
    if let Some(name) = params
        .repeated
        .as_deref()
        .filter(|n| *n == "client_id" || *n == "redirect_uri")
    {
        return Err(AuthorizeError::Untrusted(format!(
            "The parameter {name} is repeated."
        )));
    }
    find_client(state, params.map.get("client_id").map(String::as_str)).await
}

/// Checks the parameters of an authorization request of `client`: sent directly
/// (`pushed: None`) or pushed before (RFC 9126), then answered as [`AuthorizeRequest`].
pub fn check(
    state: &AppState,
    client: Client,
    params: Parameters,
    pushed: Option<PushedRef>,
) -> Result<AuthorizeRequest, AuthorizeError> {
    let Parameters {
        map,
        resources,
        repeated,
    } = params;
    let redirect_uri = redirect_uri_of(&client, map.get("redirect_uri").map(String::as_str))?;

    let client_state = map
        .get("state")
        .filter(|s| s.len() <= MAX_STATE_LEN)
        .cloned();
    let fail = |error: OAuthError| {
        AuthorizeError::Redirect(ErrorRedirect {
            redirect_uri: redirect_uri.clone(),
            error,
            state: client_state.clone(),
        })
    };
    if let Some(name) = repeated {
        return Err(fail(OAuthError::invalid_request(format!(
            "the parameter `{}` is repeated",
            castellan_core::query::truncate_for_message(&name)
        ))));
    }
    if map.get("state").is_some_and(|s| s.len() > MAX_STATE_LEN) {
        return Err(fail(OAuthError::invalid_request(format!(
            "state is longer than {MAX_STATE_LEN} characters"
        ))));
    }
    if map.contains_key("request") {
        return Err(fail(OAuthError::new(
            OAuthErrorCode::RequestNotSupported,
            "request objects (the request parameter) are not supported; push the parameters \
             to the pushed authorization request endpoint instead",
        )));
    }
    if pushed.is_none() && crate::oauth::par::required_for(state, &client) {
        return Err(fail(OAuthError::invalid_request(
            "this client must push its authorization requests first (PAR, RFC 9126) and send \
             only client_id and request_uri here",
        )));
    }
    match map.get("response_type").map(String::as_str) {
        Some("code") => {}
        None => {
            return Err(fail(OAuthError::invalid_request(
                "response_type is required",
            )))
        }
        Some(_) => {
            return Err(fail(OAuthError::new(
                OAuthErrorCode::UnsupportedResponseType,
                "only response_type=code is supported",
            )))
        }
    }
    if !client.allows_grant(GrantType::AuthorizationCode) {
        return Err(fail(OAuthError::unauthorized_client(
            "this client may not use the authorization_code grant",
        )));
    }
    let code_challenge = pkce(&client, &map).map_err(fail)?;
    let scope = scope_of(&client, map.get("scope").map(String::as_str)).map_err(fail)?;
    let prompt = match map.get("prompt").map(String::as_str) {
        None => None,
        Some("none") => Some(Prompt::None),
        Some("login") => Some(Prompt::Login),
        Some("consent") => Some(Prompt::Consent),
        Some(_) => {
            return Err(fail(OAuthError::invalid_request(
                "prompt must be none, login or consent",
            )))
        }
    };
    let max_age = max_age_of(map.get("max_age").map(String::as_str)).map_err(fail)?;
    let acr_values = acr_values_of(map.get("acr_values").map(String::as_str)).map_err(fail)?;
    let nonce = map.get("nonce").cloned();
    if nonce.as_ref().is_some_and(|n| n.len() > MAX_NONCE_LEN) {
        return Err(fail(OAuthError::invalid_request(format!(
            "nonce is longer than {MAX_NONCE_LEN} characters"
        ))));
    }
    let resources = crate::oauth::resources::requested(state, &resources).map_err(fail)?;
    let dpop_jkt = map.get("dpop_jkt").cloned();
    if dpop_jkt
        .as_deref()
        .is_some_and(|j| !crate::oauth::dpop::is_thumbprint(j))
    {
        return Err(fail(OAuthError::invalid_request(
            "dpop_jkt must be a JWK SHA-256 thumbprint: 43 base64url characters",
        )));
    }
    let redirect_uri_given = map.contains_key("redirect_uri");
    let query = Parameters {
        map,
        resources: resources
            .iter()
            .flat_map(|a| a.iter().map(str::to_owned))
            .collect(),
        repeated: None,
    }
    .encode();
    Ok(AuthorizeRequest {
        redirect_uri_given,
        client,
        redirect_uri,
        scope,
        state: client_state,
        code_challenge,
        nonce,
        prompt,
        max_age,
        acr_values,
        resources,
        query,
        pushed,
        dpop_jkt,
    })
}

async fn find_client(state: &AppState, id: Option<&str>) -> Result<Client, AuthorizeError> {
    let Some(id) = id else {
        return Err(AuthorizeError::Untrusted(
            "The request does not say which application is asking (client_id is missing)."
                .to_owned(),
        ));
    };
    let unknown =
        || AuthorizeError::Untrusted("The application is not known to this server.".to_owned());
    if !is_plausible_client_id(id) {
        return Err(unknown());
    }
    if let Some(url) = crate::oauth::metadata_document::url_of(state, id) {
        return match crate::oauth::metadata_document::resolve(state, &url).await {
            Ok(c) => Ok((*c).clone()),
            Err(crate::oauth::metadata_document::DocumentError::Store(e)) => {
                Err(AuthorizeError::Store(e))
            }
            Err(e) => Err(AuthorizeError::Untrusted(format!("{e}."))),
        };
    }
    match state.store.get_client(id).await? {
        Some(c) if c.is_active(state.clock.now()) => Ok(c),
        _ => Err(unknown()),
    }
}

/// RFC 9700 §4.1.3: exact string match, except the port of a loopback IP literal (RFC 8252
/// §7.3, [`redirect_uri_matches`]); the parameter may be omitted only when the client has
/// exactly one redirect URI (RFC 6749 §3.1.2.3). The URI in force is the one sent, port
/// included, and the code exchange must repeat it exactly.
fn redirect_uri_of(client: &Client, given: Option<&str>) -> Result<String, AuthorizeError> {
    match (given, client.redirect_uris.as_slice()) {
        (Some(u), uris) if uris.iter().any(|r| redirect_uri_matches(r, u)) => Ok(u.to_owned()),
        (Some(_), _) => Err(AuthorizeError::Untrusted(
            "The redirect URI is not registered for this application.".to_owned(),
        )),
        (None, [only]) => Ok(only.clone()),
        (None, _) => Err(AuthorizeError::Untrusted(
            "The request must name one of the application's registered redirect URIs.".to_owned(),
        )),
    }
}

/// RFC 7636 with RFC 9700 §2.1.1: S256 only; mandatory for public clients.
fn pkce(
    client: &Client,
    map: &BTreeMap<String, String>,
) -> Result<Option<CodeChallenge>, OAuthError> {
    let challenge = map.get("code_challenge");
    let method = map.get("code_challenge_method").map(String::as_str);
    match challenge {
        Some(c) => CodeChallenge::parse(c, method)
            .map(Some)
            .map_err(OAuthError::invalid_request),
        None if method.is_some() => Err(OAuthError::invalid_request(
            "code_challenge_method without code_challenge",
        )),
        None if client.kind == ClientKind::Public => Err(OAuthError::invalid_request(
            "PKCE is required for public clients: send code_challenge with code_challenge_method=S256",
        )),
        None => Ok(None),
    }
}

/// The requested scope, every one allowed to the client; none requested means the client's
/// default scope. A client-only scope (`introspect`) is never granted to a person:
/// asking for one is `invalid_scope`, and the defaults leave it out.
fn scope_of(client: &Client, requested: Option<&str>) -> Result<ScopeSet, OAuthError> {
    let scope = match requested {
        Some(s) => {
            let set = ScopeSet::parse(s).map_err(|e| OAuthError::invalid_scope(e.to_string()))?;
            if let Some(bad) = grant::first_client_only(&set) {
                return Err(grant::client_only_error(bad));
            }
            set
        }
        None => grant::without_client_only(&grant::default_scopes(client)),
    };
    if scope.is_empty() {
        return Err(OAuthError::invalid_scope("no scope was requested"));
    }
    if let Some(s) = scope.iter().find(|s| !allowed_by(&client.scope, s)) {
        return Err(OAuthError::invalid_scope(format!(
            "the client may not ask for {}",
            castellan_core::query::truncate_for_message(s.as_str())
        )));
    }
    Ok(scope)
}

/// `redirect_uri` with `params` appended to its query.
pub fn redirect_with(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    match url::Url::parse(redirect_uri) {
        Ok(mut url) => {
            {
                let mut q = url.query_pairs_mut();
                for (k, v) in params {
                    q.append_pair(k, v);
                }
            }
            url.to_string()
        }
        Err(_) => redirect_uri.to_owned(),
    }
}

/// The error answer at the client's redirect URI, with `state` and `iss` (RFC 9207).
pub fn error_location(state: &AppState, e: &ErrorRedirect) -> String {
    let mut params = vec![
        ("error", e.error.code.as_str()),
        ("error_description", e.error.description()),
    ];
    if let Some(s) = &e.state {
        params.push(("state", s));
    }
    params.push(("iss", &state.config.issuer));
    redirect_with(&e.redirect_uri, &params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_and_continuation() {
        let p = parameters("a=1&b=&a=2&c=3&resource=https://x&resource=https://y").unwrap();
        assert_eq!(p.map.get("a").map(String::as_str), Some("1"));
        assert!(!p.map.contains_key("b"));
        assert_eq!(p.repeated.as_deref(), Some("a"));
        assert_eq!(p.resources, ["https://x", "https://y"]);
        assert_eq!(
            continue_query("client_id=x&resource=https://a&resource=https://b").as_deref(),
            Some("client_id=x&resource=https%3A%2F%2Fa&resource=https%3A%2F%2Fb")
        );
        assert_eq!(
            continue_query("client_id=x&prompt=login&state=s%20t").as_deref(),
            Some("client_id=x&state=s+t")
        );
        assert_eq!(continue_query("state=x"), None);
        assert_eq!(
            continue_query("client_id=x&max_age=0&prompt=consent").as_deref(),
            Some("client_id=x&prompt=consent")
        );
        assert!(parameters(&"a".repeat(MAX_QUERY_LEN + 1)).is_err());
    }

    #[test]
    fn acr_values_are_visible_ascii_of_bounded_length() {
        assert_eq!(acr_values_of(None).unwrap(), None);
        assert_eq!(acr_values_of(Some("")).unwrap(), None);
        assert_eq!(
            acr_values_of(Some("urn:castellan:acr:mfa urn:x")).unwrap(),
            Some("urn:castellan:acr:mfa urn:x".to_owned())
        );
        for bad in ["a\tb", "é", "a\nb", &"a".repeat(MAX_ACR_VALUES_LEN + 1)] {
            assert!(acr_values_of(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn max_age_is_a_whole_number_of_seconds() {
        assert_eq!(max_age_of(None).unwrap(), None);
        assert_eq!(max_age_of(Some("0")).unwrap(), Some(0));
        assert_eq!(max_age_of(Some("3600")).unwrap(), Some(3600));
        assert_eq!(max_age_of(Some("4294967295")).unwrap(), Some(u32::MAX));
        for bad in [
            "",
            "-1",
            "+5",
            "1.5",
            "1e3",
            " 5",
            "4294967296",
            "99999999999",
            "٣",
        ] {
            assert!(max_age_of(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn redirects_keep_the_registered_query() {
        assert_eq!(
            redirect_with(
                "https://c.example/cb?x=1",
                &[("code", "a b"), ("state", "s")]
            ),
            "https://c.example/cb?x=1&code=a+b&state=s"
        );
    }
}
