//! A software passkey for the HTTP tests: an ES256 key pair answering WebAuthn registration
//! and authentication options as a browser and its authenticator would (attestation `none`,
//! user present and verified), with knobs to answer wrongly (another origin, another relying
//! party, a tampered signature).
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails on an unwrap or expect, with its location"
)]

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ciborium::Value as Cbor;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Flags of authenticator data (WebAuthn §6.1).
const UP: u8 = 0x01;
const UV: u8 = 0x04;
const BE: u8 = 0x08;
const BS: u8 = 0x10;
const AT: u8 = 0x40;

/// A passkey held in software.
pub struct SoftPasskey {
    key: EcdsaKeyPair,
    /// The credential id.
    pub id: Vec<u8>,
    /// The user handle it was registered with.
    pub user_handle: Vec<u8>,
    counter: u32,
    /// Whether it says it may be synced (backup-eligible and backed up).
    pub synced: bool,
    /// Whether it says the user was verified.
    pub verified: bool,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl SoftPasskey {
    pub fn new() -> SoftPasskey {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let key =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).unwrap();
        SoftPasskey {
            key,
            id: castellan_crypto::random_bytes::<16>().to_vec(),
            user_handle: Vec::new(),
            counter: 0,
            synced: false,
            verified: true,
        }
    }

    fn flags(&self) -> u8 {
        let mut f = UP;
        if self.verified {
            f |= UV;
        }
        if self.synced {
            f |= BE | BS;
        }
        f
    }

    /// The public key as COSE (EC2, P-256, ES256).
    fn cose_key(&self) -> Vec<u8> {
        let point = self.key.public_key().as_ref();
        assert_eq!(point.len(), 65);
        let map = Cbor::Map(vec![
            (Cbor::Integer(1.into()), Cbor::Integer(2.into())),
            (Cbor::Integer(3.into()), Cbor::Integer((-7).into())),
            (Cbor::Integer((-1).into()), Cbor::Integer(1.into())),
            (
                Cbor::Integer((-2).into()),
                Cbor::Bytes(point[1..33].to_vec()),
            ),
            (
                Cbor::Integer((-3).into()),
                Cbor::Bytes(point[33..].to_vec()),
            ),
        ]);
        let mut out = Vec::new();
        ciborium::ser::into_writer(&map, &mut out).unwrap();
        out
    }

    fn client_data(kind: &str, challenge: &str, origin: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "type": kind,
            "challenge": challenge,
            "origin": origin,
            "crossOrigin": false,
        }))
        .unwrap()
    }

    /// Answers registration options (`{"ceremony", "publicKey"}`) for `rp_id` from `origin`:
    /// the credential as `PublicKeyCredential.toJSON()` gives it.
    pub fn register(&mut self, options: &Value, rp_id: &str, origin: &str) -> Value {
        let public_key = &options["publicKey"];
        let challenge = public_key["challenge"].as_str().expect("a challenge");
        self.user_handle = URL_SAFE_NO_PAD
            .decode(public_key["user"]["id"].as_str().expect("a user id"))
            .unwrap();
        let client_data = Self::client_data("webauthn.create", challenge, origin);
        let mut auth_data = Sha256::digest(rp_id.as_bytes()).to_vec();
        auth_data.push(self.flags() | AT);
        auth_data.extend_from_slice(&self.counter.to_be_bytes());
        auth_data.extend_from_slice(&[0; 16]);
        auth_data.extend_from_slice(&u16::try_from(self.id.len()).unwrap().to_be_bytes());
        auth_data.extend_from_slice(&self.id);
        auth_data.extend_from_slice(&self.cose_key());
        let attestation = Cbor::Map(vec![
            (Cbor::Text("fmt".into()), Cbor::Text("none".into())),
            (Cbor::Text("attStmt".into()), Cbor::Map(Vec::new())),
            (Cbor::Text("authData".into()), Cbor::Bytes(auth_data)),
        ]);
        let mut attestation_object = Vec::new();
        ciborium::ser::into_writer(&attestation, &mut attestation_object).unwrap();
        json!({
            "id": b64(&self.id),
            "rawId": b64(&self.id),
            "type": "public-key",
            "response": {
                "attestationObject": b64(&attestation_object),
                "clientDataJSON": b64(&client_data),
                "transports": ["internal"],
            },
            "clientExtensionResults": {},
        })
    }

    /// Sets its signature counter back by `by`, as a copy of it made earlier would be.
    pub fn rewind(&mut self, by: u32) {
        self.counter -= by;
    }

    /// Answers authentication options for `rp_id` from `origin` (the user handle given back,
    /// as a discoverable credential does). `tamper` flips a bit of the signature.
    pub fn sign_in(&mut self, options: &Value, rp_id: &str, origin: &str, tamper: bool) -> Value {
        let challenge = options["publicKey"]["challenge"]
            .as_str()
            .expect("a challenge");
        self.counter += 1;
        let client_data = Self::client_data("webauthn.get", challenge, origin);
        let mut auth_data = Sha256::digest(rp_id.as_bytes()).to_vec();
        auth_data.push(self.flags());
        auth_data.extend_from_slice(&self.counter.to_be_bytes());
        let mut signed = auth_data.clone();
        signed.extend_from_slice(&Sha256::digest(&client_data));
        let mut signature = self
            .key
            .sign(&SystemRandom::new(), &signed)
            .unwrap()
            .as_ref()
            .to_vec();
        if tamper {
            let last = signature.len() - 1;
            signature[last] ^= 1;
        }
        json!({
            "id": b64(&self.id),
            "rawId": b64(&self.id),
            "type": "public-key",
            "response": {
                "authenticatorData": b64(&auth_data),
                "clientDataJSON": b64(&client_data),
                "signature": b64(&signature),
                "userHandle": b64(&self.user_handle),
            },
            "clientExtensionResults": {},
        })
    }
}
