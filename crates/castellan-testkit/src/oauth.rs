//! Tokens and introspection, asked as a client of the test server.

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
}
