//! A small kit that builds and signs notary-dialect metadata with throwaway keys.
//!
//! Canonical bytes come from our own TUF model (`notarium::tuf::cjson`), and every time they are
//! also compared with a second, independent encoding (serde_json, whose maps are sorted by key
//! bytes and which, for the ASCII, integer-only data made here, writes notary's canonical form),
//! so the kit cannot share a bug with the encoder it tests. The floats of the non-canonical
//! attacks are the exception: those files must carry the float as written, so they are built
//! and signed from serde_json's bytes.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ring::digest::{digest, SHA256, SHA512};
use ring::rand::SystemRandom;
use ring::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING,
};
use serde_json::{json, Value};

/// A signing key and its public key JSON as it appears in metadata.
pub struct TestKey {
    signer: Signer,
    pub keytype: &'static str,
    pub public_b64: String,
}

enum Signer {
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// SubjectPublicKeyInfo DER prefix for an uncompressed P-256 point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

impl TestKey {
    /// A plain `ecdsa` P-256 key, like the client's targets and snapshot keys.
    pub fn ecdsa() -> TestKey {
        let rng = SystemRandom::new();
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("keygen");
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .expect("parse generated key");
        let mut spki = P256_SPKI_PREFIX.to_vec();
        spki.extend_from_slice(pair.public_key().as_ref());
        TestKey {
            signer: Signer::Ecdsa(pair),
            keytype: "ecdsa",
            public_b64: B64.encode(spki),
        }
    }

    /// An `ecdsa-x509` root key: a self-signed P-256 certificate with CN = `gun`, valid for
    /// `days` from `not_before_days_ago` days ago.
    pub fn root_cert(gun: &str) -> TestKey {
        TestKey::cert(gun, 1, 3650)
    }

    /// A certificate key with chosen validity (negative `days` gives an expired cert).
    pub fn cert(cn: &str, not_before_days_ago: i64, days: i64) -> TestKey {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("keygen");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        let now = time_now();
        params.not_before = now - time::Duration::days(not_before_days_ago);
        params.not_after =
            now - time::Duration::days(not_before_days_ago) + time::Duration::days(days);
        let cert = params.self_signed(&key).expect("self-signed cert");
        let rng = SystemRandom::new();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &key.serialize_der(), &rng)
                .expect("rcgen key is PKCS#8");
        TestKey {
            signer: Signer::Ecdsa(pair),
            keytype: "ecdsa-x509",
            public_b64: B64.encode(cert.pem()),
        }
    }

    /// One P-256 key in two encodings: as a plain `ecdsa` key and inside an `ecdsa-x509`
    /// certificate for `cn`. Their key IDs differ; a threshold must still count them once.
    pub fn ecdsa_plain_and_cert(cn: &str) -> (TestKey, TestKey) {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("keygen");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        let cert = params.self_signed(&key).expect("self-signed cert");
        let rng = SystemRandom::new();
        let pair = || {
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &key.serialize_der(), &rng)
                .expect("rcgen key is PKCS#8")
        };
        let plain = pair();
        let mut spki = P256_SPKI_PREFIX.to_vec();
        spki.extend_from_slice(plain.public_key().as_ref());
        (
            TestKey {
                signer: Signer::Ecdsa(plain),
                keytype: "ecdsa",
                public_b64: B64.encode(spki),
            },
            TestKey {
                signer: Signer::Ecdsa(pair()),
                keytype: "ecdsa-x509",
                public_b64: B64.encode(cert.pem()),
            },
        )
    }

    /// An `ed25519` key.
    pub fn ed25519() -> TestKey {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).expect("keygen");
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("parse");
        let public_b64 = B64.encode(pair.public_key().as_ref());
        TestKey {
            signer: Signer::Ed25519(pair),
            keytype: "ed25519",
            public_b64,
        }
    }

    /// The key as metadata lists it.
    pub fn public_json(&self) -> Value {
        key_json(self.keytype, &self.public_b64)
    }

    /// Notary's key ID.
    pub fn id(&self) -> String {
        key_id(&self.public_json())
    }

    /// A signature object over `msg`.
    pub fn sign(&self, msg: &[u8]) -> Value {
        let (method, sig) = match &self.signer {
            Signer::Ecdsa(pair) => (
                "ecdsa",
                pair.sign(&SystemRandom::new(), msg)
                    .expect("sign")
                    .as_ref()
                    .to_vec(),
            ),
            Signer::Ed25519(pair) => ("eddsa", pair.sign(msg).as_ref().to_vec()),
        };
        json!({"keyid": self.id(), "method": method, "sig": B64.encode(sig)})
    }
}

fn time_now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

/// `{"keytype":…,"keyval":{"private":null,"public":…}}`.
pub fn key_json(keytype: &str, public_b64: &str) -> Value {
    json!({"keytype": keytype, "keyval": {"private": null, "public": public_b64}})
}

/// Hex SHA-256 of the canonical key JSON.
pub fn key_id(key: &Value) -> String {
    hex::encode(digest(&SHA256, &canonical(key)))
}

/// Canonical bytes of a value, by our TUF model, checked against serde_json's.
pub fn canonical(value: &Value) -> Vec<u8> {
    let independent = serde_json::to_vec(value).expect("serialize");
    if has_float(value) {
        // The non-canonical attacks: the file must carry the float as written (3.0, 1.5),
        // which canonical JSON would rewrite or refuse.
        return independent;
    }
    let parsed = notarium::tuf::cjson::parse(&independent).expect("serde_json writes valid JSON");
    let ours = notarium::tuf::cjson::encode(&parsed).expect("integer-only values encode");
    assert_eq!(
        ours, independent,
        "our canonical JSON and the independent encoding disagree"
    );
    ours
}

fn has_float(value: &Value) -> bool {
    match value {
        Value::Number(n) => n.is_f64(),
        Value::Array(items) => items.iter().any(has_float),
        Value::Object(members) => members.values().any(has_float),
        _ => false,
    }
}

/// A signed file: `{"signed":…,"signatures":[…]}` signed by every key in `keys`.
pub fn sign(signed: &Value, keys: &[&TestKey]) -> Vec<u8> {
    let bytes = canonical(signed);
    let signatures: Vec<Value> = keys.iter().map(|k| k.sign(&bytes)).collect();
    let mut out = b"{\"signed\":".to_vec();
    out.extend_from_slice(&bytes);
    out.extend_from_slice(b",\"signatures\":");
    out.extend_from_slice(&canonical(&Value::Array(signatures)));
    out.push(b'}');
    out
}

/// Snapshot/timestamp file meta of exact bytes.
pub fn file_meta(bytes: &[u8]) -> Value {
    json!({
        "hashes": {
            "sha256": B64.encode(digest(&SHA256, bytes)),
            "sha512": B64.encode(digest(&SHA512, bytes)),
        },
        "length": bytes.len(),
    })
}

/// An expiry `days` from now, in Go's format.
pub fn expires_in(days: i64) -> String {
    use notarium::clock::Clock as _;
    let t = notarium::clock::SystemClock.now() + chrono::Duration::days(days);
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The keys of one client-side repository.
pub struct Repo {
    pub root: TestKey,
    pub targets: TestKey,
    pub snapshot: TestKey,
    /// The server's timestamp key as `GET timestamp.key` returned it.
    pub timestamp: Value,
    /// The server's snapshot key, when the server holds snapshot.
    pub server_snapshot: Option<Value>,
}

impl Repo {
    /// Keys for a new repository whose timestamp key the server gave as `timestamp`.
    pub fn new(gun: &str, timestamp: Value) -> Repo {
        Repo {
            root: TestKey::root_cert(gun),
            targets: TestKey::ecdsa(),
            snapshot: TestKey::ecdsa(),
            timestamp,
            server_snapshot: None,
        }
    }

    /// The `signed` part of root.
    pub fn root_signed(&self, version: u64) -> Value {
        let snapshot_key = self
            .server_snapshot
            .clone()
            .unwrap_or_else(|| self.snapshot.public_json());
        let ids = [
            ("root", self.root.public_json()),
            ("targets", self.targets.public_json()),
            ("snapshot", snapshot_key),
            ("timestamp", self.timestamp.clone()),
        ];
        let mut keys = serde_json::Map::new();
        let mut roles = serde_json::Map::new();
        for (role, key) in ids {
            let id = key_id(&key);
            keys.insert(id.clone(), key);
            roles.insert(role.to_owned(), json!({"keyids": [id], "threshold": 1}));
        }
        json!({
            "_type": "Root",
            "consistent_snapshot": false,
            "expires": expires_in(3650),
            "keys": keys,
            "roles": roles,
            "version": version,
        })
    }

    /// A root file of `version` signed by the root key.
    pub fn root_file(&self, version: u64) -> Vec<u8> {
        sign(&self.root_signed(version), &[&self.root])
    }

    /// A targets-type `signed` part.
    pub fn targets_signed(version: u64, targets: Value, delegations: Value) -> Value {
        json!({
            "_type": "Targets",
            "delegations": delegations,
            "expires": expires_in(1095),
            "targets": targets,
            "version": version,
        })
    }

    /// A top-level targets file listing `targets`.
    pub fn targets_file(&self, version: u64, targets: Value) -> Vec<u8> {
        let signed = Repo::targets_signed(version, targets, json!({"keys": {}, "roles": []}));
        sign(&signed, &[&self.targets])
    }

    /// A snapshot file listing exact bytes of each role.
    pub fn snapshot_file(&self, version: u64, roles: &[(&str, &[u8])]) -> Vec<u8> {
        let meta: serde_json::Map<String, Value> = roles
            .iter()
            .map(|(name, bytes)| ((*name).to_owned(), file_meta(bytes)))
            .collect();
        let signed = json!({"_type": "Snapshot", "expires": expires_in(1095), "meta": meta, "version": version});
        sign(&signed, &[&self.snapshot])
    }
}

/// One target entry as `notary add` writes it.
pub fn target(content: &[u8]) -> Value {
    let meta = file_meta(content);
    json!({"hashes": meta["hashes"], "length": content.len()})
}
