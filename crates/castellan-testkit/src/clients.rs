//! Clients created through the management API, as the bootstrap admin client.

use serde_json::Value;

use crate::TestApp;

/// A client's credentials (`secret` empty for a public client).
#[derive(Debug, Clone)]
pub struct Cred {
    /// The client id.
    pub id: String,
    /// The client secret.
    pub secret: String,
}

impl TestApp {
    /// Creates a client through the management API; answers its representation (with secret).
    pub async fn create_client(&self, draft: Value) -> Value {
        let token = self.admin_token().await;
        let res = self
            .http
            .post(self.url("/api-clients"))
            .bearer_auth(token)
            .json(&draft)
            .send()
            .await
            .expect("create client");
        let status = res.status();
        let body: Value = res.json().await.expect("json");
        assert_eq!(status, 201, "create client failed: {body}");
        body
    }

    /// Creates a client through the management API; answers its credentials.
    pub async fn new_client(&self, draft: Value) -> Cred {
        let c = self.create_client(draft).await;
        Cred {
            id: c["id"].as_str().expect("client id").to_owned(),
            secret: c["secret"].as_str().unwrap_or_default().to_owned(),
        }
    }

    /// A `client_credentials` token of a new client made from `draft` (no scope asked: all of
    /// the client's).
    pub async fn client_token(&self, draft: Value) -> String {
        let c = self.new_client(draft).await;
        self.token_of(&c).await
    }

    /// A `client_credentials` token of `client` (no scope asked).
    pub async fn token_of(&self, client: &Cred) -> String {
        self.token_for(&client.id, &client.secret, None).await
    }
}
