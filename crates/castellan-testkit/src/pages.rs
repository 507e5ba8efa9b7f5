//! Pages as a test reads them: an answer's status, `Location`, headers and HTML body, with the
//! hidden fields, radio buttons and redirect parameters a form-driving test needs.

use reqwest::{Response, StatusCode};

/// One answer of a page.
pub struct Page {
    /// Its status.
    pub status: StatusCode,
    /// Its `Location` header, if any.
    pub location: Option<String>,
    /// All its headers.
    pub headers: reqwest::header::HeaderMap,
    /// Its body as text.
    pub body: String,
}

/// Reads `res` whole; a 5xx fails the test.
pub async fn page(res: Response) -> Page {
    let status = res.status();
    let headers = res.headers().clone();
    let location = headers
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = res.text().await.unwrap();
    assert!(status.as_u16() < 500, "answered {status}: {body}");
    Page {
        status,
        location,
        headers,
        body,
    }
}

/// Decodes the HTML entities a template escaper writes (`&amp;`, `&#38;`, `&#x27;` …).
pub fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let Some(end) = tail.find(';') else {
            out.push_str(tail);
            return out;
        };
        let entity = &tail[1..end];
        let ch = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            e if e.starts_with("#x") => u32::from_str_radix(&e[2..], 16)
                .ok()
                .and_then(char::from_u32),
            e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match ch {
            Some(c) => {
                out.push(c);
                rest = &tail[end + 1..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

impl Page {
    /// The value of the hidden input `name` (first one).
    pub fn hidden(&self, name: &str) -> String {
        let needle = format!("name=\"{name}\" value=\"");
        let start = self
            .body
            .find(&needle)
            .unwrap_or_else(|| panic!("no field {name} in {}", self.body))
            + needle.len();
        let end = self.body[start..].find('"').unwrap() + start;
        unescape(&self.body[start..end])
    }

    /// Every `value` of radio buttons named `name`.
    pub fn radios(&self, name: &str) -> Vec<String> {
        let needle = format!("name=\"{name}\" value=\"");
        self.body
            .match_indices(&needle)
            .filter(|(i, _)| {
                let tag_start = self.body[..*i].rfind('<').unwrap_or(0);
                self.body[tag_start..*i].contains("type=\"radio\"")
            })
            .map(|(i, _)| {
                let start = i + needle.len();
                let end = self.body[start..].find('"').unwrap() + start;
                unescape(&self.body[start..end])
            })
            .collect()
    }

    /// The query parameters of the `Location` header.
    pub fn redirect_params(&self) -> Vec<(String, String)> {
        let url = url::Url::parse(self.location.as_deref().expect("a Location")).unwrap();
        url.query_pairs().into_owned().collect()
    }

    /// The query parameter `name` of the `Location` header, if any.
    pub fn param(&self, name: &str) -> Option<String> {
        self.redirect_params()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// Whether this is the sign-in form.
    pub fn is_login_form(&self) -> bool {
        self.body.contains("action=\"/login\"") && self.body.contains("name=\"password\"")
    }

    /// Whether this is the consent form.
    pub fn is_consent_form(&self) -> bool {
        self.body.contains("action=\"/oauth/authorize/decision\"")
    }
}
