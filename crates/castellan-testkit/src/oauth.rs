//! Tokens, introspection and the public JSON documents (metadata, JWKS), asked as a client of
//! the test server.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use castellan_crypto::VerifyingKey;
use serde_json::Value;

use crate::TestApp;

impl TestApp {
    /// A `client_credentials` token for the bootstrap admin client.
    pub async fn admin_token(&self) -> String {
        self.token_for(&self.admin_id.clone(), &self.admin_secret.clone(), None)
            .await
    }

    /// A `client_credentials` token (Basic authentication), panicking unless 200.
    pub async fn token_for(&self, id: &str, secret: &str, scope: Option<&str>) -> String {
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(s) = scope {
            form.push(("scope", s));
        }
        let res = self
            .http
            .post(self.url("/oauth/token"))
            .basic_auth(id, Some(secret))
            .form(&form)
            .send()
            .await
            .expect("token request");
        let status = res.status();
        let body: Value = res.json().await.expect("json");
        assert_eq!(status, 200, "token request failed: {body}");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// A `client_credentials` token (Basic authentication) for `resource` (RFC 8707).
    pub async fn token_for_resource(&self, id: &str, secret: &str, resource: &str) -> String {
        let res = self
            .http
            .post(self.url("/oauth/token"))
            .basic_auth(id, Some(secret))
            .form(&[("grant_type", "client_credentials"), ("resource", resource)])
            .send()
            .await
            .expect("token request");
        let body: Value = res.json().await.expect("json");
        body["access_token"].as_str().expect("a token").to_owned()
    }

    /// The introspection answer (JSON) for `token`, asked by the bootstrap admin client with
    /// Basic authentication.
    pub async fn introspect(&self, token: &str) -> Value {
        self.http
            .post(self.url("/oauth/introspect"))
            .basic_auth(&self.admin_id, Some(&self.admin_secret))
            .form(&[("token", token)])
            .send()
            .await
            .expect("introspection request")
            .json()
            .await
            .expect("json")
    }

    /// The JSON answer to `GET path` (no credentials), whatever its status.
    pub async fn get_json(&self, path: &str) -> Value {
        self.http
            .get(self.url(path))
            .send()
            .await
            .expect("GET request")
            .json()
            .await
            .expect("json")
    }

    /// The server's published signing keys (`/.well-known/jwks.json`).
    pub async fn jwks(&self) -> Vec<VerifyingKey> {
        let doc = self.get_json("/.well-known/jwks.json").await;
        doc["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .map(|k| VerifyingKey::from_jwk(k).expect("a usable JWK"))
            .collect()
    }
}

/// The claims of a JWT, unverified (for reading what a test had minted).
pub fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a JWT has a payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url"))
        .expect("JSON claims")
}
