//! Public keys as notary writes them, their key IDs, and signature verification (docs/protocol.md §4.8, §4.9).

mod algorithms;
mod keytype;
mod memo;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::tuf::cjson::Value;
use crate::tuf::error::{excerpt, Error};

pub use keytype::KeyType;

/// A key ID: lowercase hex SHA-256 of the key's canonical JSON (docs/protocol.md §4.8).
///
/// Only 64 lowercase hex digits are accepted, so IDs compare and sort as plain strings and can be
/// used in paths and logs without escaping.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(String);

impl KeyId {
    /// Validates `s` as a key ID.
    pub fn parse(s: &str) -> Result<KeyId, Error> {
        let ok = s.len() == 64
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if ok {
            Ok(KeyId(s.to_owned()))
        } else {
            Err(Error::InvalidKeyId(excerpt(s)))
        }
    }

    /// The 64 hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for KeyId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for KeyId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        KeyId::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A public key as it appears in root `keys` and `delegations.keys`.
///
/// `public` is kept decoded; because base64 is decoded strictly (canonical padding and trailing
/// bits), re-encoding gives back exactly the string that was signed and hashed into the ID.
#[derive(Clone)]
pub struct PublicKey {
    keytype: KeyType,
    public: Vec<u8>,
    public_b64: String,
    id: KeyId,
    derived: Arc<Derived>,
}

/// What is read out of a key's bytes (its certificates, above all), worked out the first time
/// it is asked for and shared by the key's clones. A key never changes, so nothing here can go
/// stale; a root kept parsed between requests keeps these too, and a verification of it parses
/// no certificate again.
#[derive(Default)]
struct Derived {
    /// [`algorithms::spki_der`], for `-x509` keys.
    spki: OnceLock<Result<Vec<u8>, Error>>,
    /// [`PublicKey::verifying_material`].
    material: OnceLock<Result<Vec<u8>, Error>>,
    /// [`PublicKey::canonical_id`].
    canonical: OnceLock<Result<KeyId, Error>>,
    /// [`crate::tuf::cert::RootCerts::read`].
    root_certs: OnceLock<Result<crate::tuf::cert::RootCerts, Error>>,
}

/// Equal keys: the same type and the same bytes (everything else follows from them).
impl PartialEq for PublicKey {
    fn eq(&self, other: &PublicKey) -> bool {
        self.keytype == other.keytype && self.public == other.public
    }
}

impl Eq for PublicKey {}

/// One worked-out value, or its error.
fn derived<T>(
    cell: &OnceLock<Result<T, Error>>,
    work: impl FnOnce() -> Result<T, Error>,
) -> Result<&T, Error> {
    cell.get_or_init(work).as_ref().map_err(Clone::clone)
}

impl PublicKey {
    /// Wraps public bytes (DER SPKI, certificate PEM text or a raw Ed25519 key, per `keytype`).
    pub fn new(keytype: KeyType, public: Vec<u8>) -> PublicKey {
        let public_b64 = STANDARD.encode(&public);
        let id = compute_id(keytype, &public_b64);
        PublicKey {
            keytype,
            public,
            public_b64,
            id,
            derived: Arc::default(),
        }
    }

    /// The key's type.
    pub fn keytype(&self) -> KeyType {
        self.keytype
    }

    /// The decoded `public` value.
    pub fn public_bytes(&self) -> &[u8] {
        &self.public
    }

    /// The `public` value as written on the wire (standard padded base64).
    pub fn public_base64(&self) -> &str {
        &self.public_b64
    }

    /// The key ID computed from the content (docs/protocol.md §4.8); for `-x509` keys this hashes the PEM.
    pub fn id(&self) -> KeyId {
        self.id.clone()
    }

    /// The key as it appears inside signed metadata (canonical order puts `private` first).
    pub fn to_value(&self) -> Value {
        Value::object(vec![
            ("keytype", Value::string(self.keytype.as_str())),
            (
                "keyval",
                Value::object(vec![
                    ("private", Value::Null),
                    ("public", Value::string(self.public_b64.as_str())),
                ]),
            ),
        ])
    }

    /// The body of `GET/POST …/{timestamp,snapshot}.key`: Go struct order
    /// `{"keytype":…,"keyval":{"public":…,"private":null}}`, no trailing newline (docs/protocol.md §6.1).
    pub fn to_response_json(&self) -> Vec<u8> {
        // Both strings are plain ASCII (a fixed type name and base64), so no escaping is needed.
        format!(
            "{{\"keytype\":\"{}\",\"keyval\":{{\"public\":\"{}\",\"private\":null}}}}",
            self.keytype.as_str(),
            self.public_b64
        )
        .into_bytes()
    }

    /// Verifies `sig` over `msg` with signature `method` (compared lower-cased), per docs/protocol.md §4.9.
    ///
    /// A method that does not fit the key type is an error, as is any signature that does not
    /// verify; callers counting a threshold treat every error as "skip this signature".
    ///
    /// A signature that verified once in this process is not checked again (see `memo`).
    pub fn verify(&self, method: &str, msg: &[u8], sig: &[u8]) -> Result<(), Error> {
        let method = lowercase(method);
        let entry = memo::entry(&self.id, &method, msg, sig);
        self.verify_with_entry(&method, msg, sig, entry)
    }

    /// [`PublicKey::verify`] of a message whose SHA-256 the caller already holds (a parse keeps
    /// that of its canonical bytes), so the memo is looked up without hashing the message. The
    /// caller must pass the SHA-256 of exactly `msg`: the memo answers by that digest.
    pub(crate) fn verify_digested(
        &self,
        method: &str,
        msg: &[u8],
        msg_sha256: &[u8; 32],
        sig: &[u8],
    ) -> Result<(), Error> {
        let method = lowercase(method);
        let entry = memo::entry_digested(&self.id, &method, msg_sha256, sig);
        self.verify_with_entry(&method, msg, sig, Some(entry))
    }

    /// Checks `sig` unless the memo holds `entry`, and remembers `entry` when it verified.
    fn verify_with_entry(
        &self,
        method: &str,
        msg: &[u8],
        sig: &[u8],
        entry: Option<[u8; 32]>,
    ) -> Result<(), Error> {
        if entry.as_ref().is_some_and(memo::known) {
            return Ok(());
        }
        algorithms::verify(self, method, msg, sig)?;
        if let Some(entry) = entry {
            memo::remember(entry);
        }
        Ok(())
    }

    /// Records that `sig` over `msg` with `method` verifies under this key, without checking:
    /// for the signer, which has just made `sig` with this key's private half, so that the
    /// enforcer does not check again what this process signed itself. The caller must hold
    /// the private half of exactly this key.
    pub(crate) fn remember_own_signature(&self, method: &str, msg: &[u8], sig: &[u8]) {
        if let Some(entry) = memo::entry(&self.id, method, msg, sig) {
            memo::remember(entry);
        }
    }

    /// The key that actually checks signatures: SubjectPublicKeyInfo DER for ECDSA and RSA
    /// (taken out of the certificate for `-x509` types, out of the PEM for PEM-wrapped RSA), the
    /// raw 32 bytes for Ed25519. Two entries with equal material are one signer, which lets a
    /// threshold count a key once even when it is listed under two IDs.
    pub fn verifying_material(&self) -> Result<Vec<u8>, Error> {
        self.material().map(<[u8]>::to_vec)
    }

    /// [`PublicKey::verifying_material`], borrowed from where it is kept.
    pub(crate) fn material(&self) -> Result<&[u8], Error> {
        derived(&self.derived.material, || algorithms::material(self)).map(Vec::as_slice)
    }

    /// The SubjectPublicKeyInfo DER of an ECDSA or RSA key (see [`algorithms::spki_der`]); for
    /// a certificate key read out of its certificate once.
    fn spki(&self) -> Result<&[u8], Error> {
        if !self.keytype.is_x509() {
            return Ok(&self.public);
        }
        derived(&self.derived.spki, || {
            algorithms::spki_der(self.keytype, &self.public)
        })
        .map(Vec::as_slice)
    }

    /// What the root-key checks read of this key's certificates (see
    /// [`crate::tuf::cert::usable_root_key`]), read once. The leaf's key, found on the way, is
    /// kept for [`PublicKey::spki`], so that a root key's certificates are parsed once.
    pub(crate) fn root_certs(&self) -> Result<&crate::tuf::cert::RootCerts, Error> {
        derived(&self.derived.root_certs, || {
            let (certs, leaf_spki) = crate::tuf::cert::RootCerts::read(self)?;
            if self.keytype.is_x509() {
                // The first block is the leaf's, as `spki_der` reads it: the same answer.
                let _ = self.derived.spki.set(Ok(leaf_spki));
            }
            Ok(certs)
        })
    }

    /// The ID notary calls canonical: that of the bare key, for a certificate key the key
    /// inside its (first) certificate. `notary key list` prints it for root keys, while root
    /// metadata lists the certificate's ID; a pin may name either.
    pub fn canonical_id(&self) -> Result<KeyId, Error> {
        let bare = match self.keytype {
            KeyType::EcdsaX509 => KeyType::Ecdsa,
            KeyType::RsaX509 => KeyType::Rsa,
            _ => return Ok(self.id()),
        };
        derived(&self.derived.canonical, || {
            Ok(PublicKey::new(bare, self.spki()?.to_vec()).id())
        })
        .cloned()
    }

    /// A key from PEM text, as an operator hands one over to pin: a `CERTIFICATE` block (the
    /// first, as `ecdsa-x509`/`rsa-x509`) or a `PUBLIC KEY` block (as `ecdsa`/`rsa`). Compare
    /// pins by [`PublicKey::verifying_material`], which ignores the wrapping.
    pub fn from_pem(text: &[u8]) -> Result<PublicKey, Error> {
        let block = crate::tuf::pem::first_block(text)
            .ok_or_else(|| Error::InvalidKey("no PEM block found".to_owned()))?;
        let (x509, der) = match block.label.as_str() {
            "CERTIFICATE" => (true, block.der.clone()),
            "PUBLIC KEY" => (false, block.der.clone()),
            other => {
                return Err(Error::InvalidKey(format!(
                    "a PEM {} block is neither a CERTIFICATE nor a PUBLIC KEY",
                    excerpt(other)
                )))
            }
        };
        let keytype = algorithms::keytype_of(&der, x509)?;
        let public = if x509 {
            crate::tuf::pem::encode("CERTIFICATE", &block.der).into_bytes()
        } else {
            der
        };
        let key = PublicKey::new(keytype, public);
        key.verifying_material()?;
        Ok(key)
    }
}

/// `sha256` of `{"keytype":…,"keyval":{"private":null,"public":…}}` in canonical JSON.
fn compute_id(keytype: KeyType, public_b64: &str) -> KeyId {
    use ring::digest::{digest, SHA256};
    // Built by hand: the form is fixed, and base64 plus the type names need no escaping, so
    // these are exactly the canonical bytes (tests compare with cjson::encode).
    let canonical = format!(
        "{{\"keytype\":\"{}\",\"keyval\":{{\"private\":null,\"public\":\"{}\"}}}}",
        keytype.as_str(),
        public_b64
    );
    KeyId(hex::encode(digest(&SHA256, canonical.as_bytes())))
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("keytype", &self.keytype)
            .field("id", &self.id.0)
            .finish()
    }
}

/// The JSON form of a key, before checks.
#[derive(Deserialize)]
struct WireKey {
    keytype: KeyType,
    keyval: WireKeyVal,
}

#[derive(Deserialize)]
struct WireKeyVal {
    public: String,
    /// Only `null` (or absence) is accepted.
    #[serde(default)]
    private: Option<IgnoredAny>,
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = WireKey::deserialize(deserializer)?;
        if wire.keyval.private.is_some() {
            return Err(serde::de::Error::custom(
                "a public key must not carry private key material (\"private\" must be null)",
            ));
        }
        let public = STANDARD.decode(&wire.keyval.public).map_err(|e| {
            serde::de::Error::custom(format!("key \"public\" is not valid base64: {e}"))
        })?;
        Ok(PublicKey::new(wire.keytype, public))
    }
}

/// Deserializes a `keys` map, rejecting entries whose map key is not the key's computed ID.
///
/// Notary itself does not check this at parse time, but a signature by such a key fails hard
/// later (`key ID is not valid for key content`); refusing the file up front is simpler.
pub(crate) fn deserialize_key_map<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<KeyId, PublicKey>, D::Error> {
    // Go writes a nil map as `null`.
    let raw = Option::<BTreeMap<String, PublicKey>>::deserialize(deserializer)?.unwrap_or_default();
    let mut keys = BTreeMap::new();
    for (listed, key) in raw {
        let computed = key.id();
        if listed != computed.as_str() {
            return Err(serde::de::Error::custom(Error::KeyIdMismatch {
                keyid: excerpt(&listed),
                computed: computed.0,
            }));
        }
        keys.insert(computed, key);
    }
    Ok(keys)
}

/// Whether the process-wide memo holds a check of `sig` by `method` under the key with ID `key`
/// that succeeded, over the message whose SHA-256 is `msg_sha256`.
pub(crate) fn checked_before(key: &KeyId, method: &str, msg_sha256: &[u8; 32], sig: &[u8]) -> bool {
    memo::known(&memo::entry_digested(
        key,
        &lowercase(method),
        msg_sha256,
        sig,
    ))
}

/// `method` lower-cased, borrowed when it has no upper-case letter (as every parsed signature's
/// method has: the parser lower-cases it), so a check allocates nothing for it.
fn lowercase(method: &str) -> std::borrow::Cow<'_, str> {
    if method.chars().any(char::is_uppercase) {
        std::borrow::Cow::Owned(method.to_lowercase())
    } else {
        std::borrow::Cow::Borrowed(method)
    }
}

/// Canonical JSON bytes of a key (used by tests to cross-check [`PublicKey::id`]).
#[cfg(test)]
pub(crate) fn canonical_bytes(key: &PublicKey) -> Vec<u8> {
    crate::tuf::cjson::encode(&key.to_value()).unwrap_or_default()
}

#[cfg(test)]
mod tests;
