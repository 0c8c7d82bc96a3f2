//! Client-side metadata for the benchmark: keys and signed roles in notary's dialect, made with
//! the server's own canonical JSON encoder so the bytes are what a notary client would send.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ring::digest::{digest, SHA256, SHA512};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};

use notarium::tuf::cjson;

const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// A P-256 signing key and its key JSON.
pub struct Key {
    pair: EcdsaKeyPair,
    public: Value,
    id: String,
}

impl Key {
    fn from_pkcs8(pkcs8: &[u8], keytype: &str, public_b64: Option<String>) -> Key {
        let rng = SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &rng)
            .expect("a generated P-256 key");
        let public_b64 = public_b64.unwrap_or_else(|| {
            let mut spki = P256_SPKI_PREFIX.to_vec();
            spki.extend_from_slice(pair.public_key().as_ref());
            B64.encode(spki)
        });
        let public = json!({"keytype": keytype, "keyval": {"private": null, "public": public_b64}});
        let id = hex::encode(digest(&SHA256, &canonical(&public)));
        Key { pair, public, id }
    }

    /// A plain `ecdsa` key (targets, snapshot).
    pub fn ecdsa() -> Key {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .expect("keygen");
        Key::from_pkcs8(pkcs8.as_ref(), "ecdsa", None)
    }

    /// An `ecdsa-x509` root key: a self-signed certificate whose CN is the GUN.
    pub fn root(gun: &str) -> Key {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("keygen");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, gun);
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(1);
        params.not_after = now + time::Duration::days(3650);
        let cert = params.self_signed(&key).expect("certificate");
        Key::from_pkcs8(
            &key.serialize_der(),
            "ecdsa-x509",
            Some(B64.encode(cert.pem())),
        )
    }

    fn sign(&self, msg: &[u8]) -> Value {
        let sig = self.pair.sign(&SystemRandom::new(), msg).expect("sign");
        json!({"keyid": self.id, "method": "ecdsa", "sig": B64.encode(sig.as_ref())})
    }
}

/// Notary's canonical bytes of a value.
pub fn canonical(value: &Value) -> Vec<u8> {
    let bytes = serde_json::to_vec(value).expect("serialise");
    cjson::encode(&cjson::parse(&bytes).expect("valid JSON")).expect("canonical")
}

fn signed_file(signed: &Value, key: &Key) -> Vec<u8> {
    let body = canonical(signed);
    let mut out = b"{\"signed\":".to_vec();
    out.extend_from_slice(&body);
    out.extend_from_slice(b",\"signatures\":[");
    out.extend_from_slice(&canonical(&key.sign(&body)));
    out.extend_from_slice(b"]}");
    out
}

fn file_meta(bytes: &[u8]) -> Value {
    json!({
        "hashes": {"sha256": B64.encode(digest(&SHA256, bytes)), "sha512": B64.encode(digest(&SHA512, bytes))},
        "length": bytes.len(),
    })
}

fn expires(days: i64) -> String {
    (notarium::clock::Clock::now(&notarium::clock::SystemClock) + chrono::Duration::days(days))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// One target entry named `name`.
pub fn target(name: &str) -> (String, Value) {
    let content = name.as_bytes();
    (
        name.to_owned(),
        json!({"hashes": {"sha256": B64.encode(digest(&SHA256, content))}, "length": content.len()}),
    )
}

/// A client-side repository: its keys and the root it published.
pub struct Repo {
    targets_key: Key,
    snapshot_key: Key,
    pub root: Vec<u8>,
}

impl Repo {
    /// Keys and root v1 for `gun`, listing the server's `timestamp_key` (key JSON).
    pub fn new(gun: &str, timestamp_key: Value) -> Repo {
        let (root_key, targets_key, snapshot_key) = (Key::root(gun), Key::ecdsa(), Key::ecdsa());
        let mut keys = serde_json::Map::new();
        let mut roles = serde_json::Map::new();
        for (role, key) in [
            ("root", root_key.public.clone()),
            ("targets", targets_key.public.clone()),
            ("snapshot", snapshot_key.public.clone()),
            ("timestamp", timestamp_key),
        ] {
            let id = hex::encode(digest(&SHA256, &canonical(&key)));
            keys.insert(id.clone(), key);
            roles.insert(role.into(), json!({"keyids": [id], "threshold": 1}));
        }
        let signed = json!({"_type": "Root", "consistent_snapshot": false, "expires": expires(3650),
            "keys": keys, "roles": roles, "version": 1});
        let root = signed_file(&signed, &root_key);
        Repo {
            targets_key,
            snapshot_key,
            root,
        }
    }

    /// Targets `version` listing `targets`, and the snapshot of the same version.
    pub fn update(
        &self,
        version: u64,
        targets: &serde_json::Map<String, Value>,
    ) -> (Vec<u8>, Vec<u8>) {
        let signed = json!({"_type": "Targets", "delegations": {"keys": {}, "roles": []},
            "expires": expires(1095), "targets": targets, "version": version});
        let t = signed_file(&signed, &self.targets_key);
        let snapshot = json!({"_type": "Snapshot", "expires": expires(1095),
            "meta": {"root": file_meta(&self.root), "targets": file_meta(&t)}, "version": version});
        let s = signed_file(&snapshot, &self.snapshot_key);
        (t, s)
    }

    /// The parts of `notary init -p` with `targets`: root, targets v2, snapshot v2.
    pub fn init(&self, targets: &serde_json::Map<String, Value>) -> Vec<(String, Vec<u8>)> {
        let (t, s) = self.update(2, targets);
        vec![
            ("root".into(), self.root.clone()),
            ("targets".into(), t),
            ("snapshot".into(), s),
        ]
    }
}

/// A multipart body as the Go client sends it.
pub fn multipart(parts: &[(String, Vec<u8>)]) -> (String, Vec<u8>) {
    let boundary = "9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a";
    let mut body = Vec::new();
    for (name, bytes) in parts {
        body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes());
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}
