//! Test access to the notary 0.7 client fixtures (`tests/data/notary-0.7`, see its README).

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::tuf::key::{KeyId, PublicKey};
use crate::tuf::metadata::{self, Root, Targets};

/// The fixture sets.
pub(crate) const SETS: [&str; 3] = ["plain", "delegations", "rotations"];

/// The GUN each set's root certificate names.
pub(crate) fn gun(set: &str) -> String {
    let short = if set == "delegations" {
        "deleg"
    } else if set == "rotations" {
        "rotate"
    } else {
        set
    };
    format!("fixtures.example.com/{short}/app6089")
}

/// One fixture file.
pub(crate) struct Fixture {
    pub(crate) set: &'static str,
    pub(crate) version: u64,
    /// The role, with `-` turned back into `/` (`targets-qa` → `targets/qa`).
    pub(crate) role: String,
    pub(crate) bytes: Vec<u8>,
}

fn dir(set: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/notary-0.7"
    ))
    .join(set)
}

/// Every fixture of every set, sorted by set, role, version.
pub(crate) fn all() -> Vec<Fixture> {
    let mut out = Vec::new();
    for set in SETS {
        let entries = std::fs::read_dir(dir(set)).expect("fixture directory is readable");
        for entry in entries {
            let path = entry.expect("directory entry").path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .expect("UTF-8 name")
                .to_owned();
            let stem = name
                .strip_suffix(".json")
                .expect("fixture files end in .json");
            let (version, role) = stem.split_once('.').expect("VERSION.ROLE.json");
            out.push(Fixture {
                set,
                version: version.parse().expect("numeric version"),
                role: role.replace('-', "/"),
                bytes: std::fs::read(&path).expect("fixture is readable"),
            });
        }
    }
    out.sort_by(|a, b| (a.set, &a.role, a.version).cmp(&(b.set, &b.role, b.version)));
    out
}

/// The bytes of `set/VERSION.ROLE.json` (role with `/` written as `-`).
pub(crate) fn read(set: &str, version: u64, role: &str) -> Vec<u8> {
    let path = dir(set).join(format!("{version}.{}.json", role.replace('/', "-")));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A parsed root fixture.
pub(crate) fn root(set: &str, version: u64) -> metadata::Signed<Root> {
    metadata::parse(&read(set, version, "root")).expect("fixture root parses")
}

/// Every key any root or targets-type file of `set` lists, by ID (IDs are content hashes, so
/// pooling them is safe).
pub(crate) fn key_pool(set: &str) -> BTreeMap<KeyId, PublicKey> {
    let mut pool = BTreeMap::new();
    for fixture in all().into_iter().filter(|f| f.set == set) {
        if fixture.role == "root" {
            let root: metadata::Signed<Root> =
                metadata::parse(&fixture.bytes).expect("root parses");
            pool.extend(root.signed.keys);
        } else if fixture.role.starts_with("targets") {
            let targets: metadata::Signed<Targets> =
                metadata::parse(&fixture.bytes).expect("targets parses");
            pool.extend(targets.signed.delegations.keys);
        }
    }
    pool
}

/// A fresh signing key and its notary public key, for tests that need signatures.
pub(crate) enum TestKey {
    /// ECDSA P-256, notary keytype `ecdsa`, method `ecdsa`.
    P256(ring::signature::EcdsaKeyPair),
    /// Ed25519, keytype `ed25519`, method `eddsa`.
    Ed25519(ring::signature::Ed25519KeyPair),
}

impl TestKey {
    /// A new P-256 key.
    pub(crate) fn p256() -> TestKey {
        use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING as ALG};
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ALG, &rng).expect("keygen");
        TestKey::P256(EcdsaKeyPair::from_pkcs8(&ALG, pkcs8.as_ref(), &rng).expect("key"))
    }

    /// A new Ed25519 key.
    pub(crate) fn ed25519() -> TestKey {
        use ring::signature::Ed25519KeyPair;
        let pkcs8 =
            Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).expect("keygen");
        TestKey::Ed25519(Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("key"))
    }

    /// The notary public key.
    pub(crate) fn public(&self) -> PublicKey {
        use crate::tuf::key::KeyType;
        use ring::signature::KeyPair as _;
        match self {
            TestKey::P256(pair) => {
                PublicKey::new(KeyType::Ecdsa, p256_spki(pair.public_key().as_ref()))
            }
            TestKey::Ed25519(pair) => {
                PublicKey::new(KeyType::Ed25519, pair.public_key().as_ref().to_vec())
            }
        }
    }

    /// The notary method name.
    pub(crate) fn method(&self) -> &'static str {
        match self {
            TestKey::P256(_) => "ecdsa",
            TestKey::Ed25519(_) => "eddsa",
        }
    }

    /// Signs `msg` the way notary clients do.
    pub(crate) fn sign(&self, msg: &[u8]) -> Vec<u8> {
        match self {
            TestKey::P256(pair) => pair
                .sign(&ring::rand::SystemRandom::new(), msg)
                .expect("signs")
                .as_ref()
                .to_vec(),
            TestKey::Ed25519(pair) => pair.sign(msg).as_ref().to_vec(),
        }
    }

    /// A signature entry over `msg`.
    pub(crate) fn signature(&self, msg: &[u8]) -> metadata::Signature {
        metadata::Signature {
            keyid: self.public().id(),
            method: self.method().to_owned(),
            sig: self.sign(msg),
        }
    }
}

/// DER SubjectPublicKeyInfo of an uncompressed P-256 point.
pub(crate) fn p256_spki(point: &[u8]) -> Vec<u8> {
    let mut der = hex::decode("3059301306072a8648ce3d020106082a8648ce3d030107034200").expect("hex");
    der.extend_from_slice(point);
    der
}
