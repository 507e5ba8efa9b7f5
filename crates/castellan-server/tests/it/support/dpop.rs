//! A DPoP client's key: makes proofs (RFC 9449 §4) for the tests.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap, with its location"
)]

use castellan_crypto::dpop::{jwk_thumbprint, make_proof};
use castellan_crypto::{Algorithm, SigningKey};

/// A client's DPoP key.
pub struct Prover {
    /// The key.
    pub key: SigningKey,
    /// Its RFC 7638 thumbprint (the `cnf.jkt` of tokens bound to it).
    pub jkt: String,
}

impl Prover {
    /// A fresh ES256 key.
    pub fn new() -> Prover {
        Prover::of(Algorithm::Es256)
    }

    /// A fresh key of `alg`.
    pub fn of(alg: Algorithm) -> Prover {
        let (key, _) = SigningKey::generate(alg, "dpop".into()).unwrap();
        let jwk = key.verifying_key().unwrap().jwk().clone();
        let jkt = jwk_thumbprint(jwk.as_object().unwrap()).unwrap();
        Prover { key, jkt }
    }

    /// A fresh proof for `htm` `htu`, made now.
    pub fn proof(&self, htm: &str, htu: &str) -> String {
        self.proof_with(htm, htu, now(), None, None)
    }

    /// A fresh proof carrying `ath` of `token`.
    pub fn proof_for(&self, htm: &str, htu: &str, token: &str) -> String {
        self.proof_with(htm, htu, now(), Some(token), None)
    }

    /// A proof with every part chosen.
    pub fn proof_with(
        &self,
        htm: &str,
        htu: &str,
        iat: i64,
        token: Option<&str>,
        nonce: Option<&str>,
    ) -> String {
        make_proof(&self.key, htm, htu, iat, &jti(), token, nonce).unwrap()
    }
}

/// Now, in Unix seconds.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A `jti` never used before (random, as a client makes them).
pub fn jti() -> String {
    castellan_crypto::generate_secret().expose()[..22].to_owned()
}

/// POSTs `form` to the token endpoint as `client` (its secret in the body), with `proof` as
/// the `DPoP` header when given; answers the status and the JSON body.
pub async fn post_token(
    app: &castellan_testkit::TestApp,
    client: &castellan_testkit::Cred,
    proof: Option<String>,
    form: &[(&str, &str)],
) -> (reqwest::StatusCode, serde_json::Value) {
    let mut body = vec![
        ("client_id", client.id.as_str()),
        ("client_secret", client.secret.as_str()),
    ];
    body.extend_from_slice(form);
    let mut req = app.http.post(app.url("/oauth/token")).form(&body);
    if let Some(p) = proof {
        req = req.header("DPoP", p);
    }
    let res = req.send().await.unwrap();
    (res.status(), res.json().await.unwrap())
}
