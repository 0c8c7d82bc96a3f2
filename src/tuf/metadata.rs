//! Notary's TUF metadata dialect (docs/protocol.md §4): typed roles, signatures, and the canonical bytes
//! the signatures cover.
//!
//! A file is read twice: once by the scanner ([`crate::tuf::cjson::scan`]), which checks it and writes the
//! canonical bytes of `signed` (what every signature covers, docs/protocol.md §5.2) without
//! building a tree (see `read`), and once by serde into typed structs. Field names are matched
//! exactly; names Go would match case-insensitively are refused (see `shape`).

mod build;
mod expires;
mod file_meta;
mod read;
mod roles;
mod shape;

use std::sync::{Mutex, OnceLock};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Deserialize;

pub use build::{envelope_bytes, snapshot_value, timestamp_value};
pub use expires::Expires;
pub use file_meta::{FileMeta, Hashes};
pub use roles::{DelegatedRole, Delegations, RoleKeys, Root, Snapshot, Targets, Timestamp};

use crate::tuf::cjson::Value;
use crate::tuf::error::{excerpt, Error};
use crate::tuf::key::KeyId;

/// The `_type` a role's `signed` object must carry (exact case).
pub trait RoleType {
    /// `Root`, `Targets` (also for delegations), `Snapshot` or `Timestamp`.
    const TYPE: &'static str;

    /// Works out now what every verification of this content asks its keys for (each key keeps
    /// its answers): for a parse about to be kept, so that the verification of a
    /// just-published image does not pay for them. Nothing for roles without keys.
    fn warm(&self) {}
}

impl RoleType for Root {
    const TYPE: &'static str = "Root";

    fn warm(&self) {
        for key in self.keys.values() {
            if key.keytype().is_x509() {
                let _ = key.root_certs();
            }
            let _ = key.material();
            let _ = key.canonical_id();
        }
    }
}

impl RoleType for Targets {
    const TYPE: &'static str = "Targets";

    fn warm(&self) {
        for key in self.delegations.keys.values() {
            let _ = key.material();
        }
    }
}

impl RoleType for Snapshot {
    const TYPE: &'static str = "Snapshot";
}

impl RoleType for Timestamp {
    const TYPE: &'static str = "Timestamp";
}

/// One entry of `signatures`: `{"keyid":…,"method":…,"sig":…}` (docs/protocol.md §4.1).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "WireSignature")]
pub struct Signature {
    /// The signing key's ID.
    pub keyid: KeyId,
    /// The signature method, lower-cased on decode as notary does (`ECDSA` → `ecdsa`).
    pub method: String,
    /// The raw signature bytes (standard padded base64 on the wire).
    pub sig: Vec<u8>,
}

#[derive(Deserialize)]
struct WireSignature {
    keyid: KeyId,
    method: String,
    sig: String,
}

impl TryFrom<WireSignature> for Signature {
    type Error = String;

    fn try_from(wire: WireSignature) -> Result<Self, Self::Error> {
        let sig = STANDARD
            .decode(&wire.sig)
            .map_err(|e| format!("signature \"sig\" is not valid base64: {e}"))?;
        Ok(Signature {
            keyid: wire.keyid,
            method: wire.method.to_lowercase(),
            sig,
        })
    }
}

impl Signature {
    /// `{"keyid":…,"method":…,"sig":…}` as a value (base64 re-encoded).
    pub fn to_value(&self) -> Value {
        Value::object(vec![
            ("keyid", Value::string(self.keyid.as_str())),
            ("method", Value::string(self.method.as_str())),
            ("sig", Value::string(STANDARD.encode(&self.sig))),
        ])
    }
}

/// A parsed metadata file: the typed `signed` object, its signatures, the canonical bytes of
/// `signed` that the signatures must cover, and the SHA-256 of the file it was parsed from.
///
/// Digests a verifier asks for again and again (the SHA-256 of the canonical bytes, the SHA-512
/// of the file) are worked out on first need and kept with the parse: a service keeps its
/// parses between requests, so each is computed once per file rather than once per request.
pub struct Signed<T> {
    /// The role's content.
    pub signed: T,
    /// The signatures as listed (not yet verified).
    pub signatures: Vec<Signature>,
    canonical: Vec<u8>,
    source: [u8; 32],
    /// The bytes parsed, when they were shared ([`parse_shared`]): immutable and kept alive
    /// here, so a slice at the same address and of the same length is these bytes.
    origin: Option<Bytes>,
    canonical_sha256: OnceLock<[u8; 32]>,
    source_sha512: OnceLock<[u8; 64]>,
    /// The signatures found valid over `canonical`, each under the key its `keyid` names: a
    /// parse kept between requests is verified again and again (by the validator when it was
    /// uploaded, by the enforcer on every decision that needs it), and a check it passed
    /// before is then a comparison, not a check nor a lookup in the process-wide memo. Only
    /// signatures of this parse are kept, each once, so it holds at most [`MAX_SIGNATURES`].
    ///
    /// [`MAX_SIGNATURES`]: crate::tuf::verify::MAX_SIGNATURES
    checked: Mutex<Vec<Signature>>,
}

impl<T: Clone> Clone for Signed<T> {
    fn clone(&self) -> Signed<T> {
        Signed {
            signed: self.signed.clone(),
            signatures: self.signatures.clone(),
            canonical: self.canonical.clone(),
            source: self.source,
            origin: self.origin.clone(),
            canonical_sha256: self.canonical_sha256.clone(),
            source_sha512: self.source_sha512.clone(),
            checked: Mutex::new(self.checked()),
        }
    }
}

/// Without the kept digests: whether one was asked for yet says nothing about the file.
impl<T: std::fmt::Debug> std::fmt::Debug for Signed<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signed")
            .field("signed", &self.signed)
            .field("signatures", &self.signatures)
            .field("canonical", &self.canonical)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl<T> Signed<T> {
    /// Canonical JSON of the decoded `signed` object: the bytes to verify signatures over,
    /// which differ from the transport bytes (`\u003c` escapes, whitespace, key order).
    pub fn canonical_signed(&self) -> &[u8] {
        &self.canonical
    }

    /// The SHA-256 of the exact bytes [`parse`] read, recorded by the parser itself: whoever
    /// holds a parsed file and a file's bytes can tell whether the one is the parse of the other
    /// (a verifier given both uses the parse only then).
    pub fn source_sha256(&self) -> &[u8; 32] {
        &self.source
    }

    /// Whether `bytes` are the very bytes this was parsed from, told without hashing: only for
    /// a parse made by [`parse_shared`], of `bytes` themselves (not a copy). A verifier given
    /// a file and a parse that may be its asks this first and hashes only when it says no.
    pub fn is_parse_of(&self, bytes: &[u8]) -> bool {
        self.origin
            .as_ref()
            .is_some_and(|o| o.as_ptr() == bytes.as_ptr() && o.len() == bytes.len())
    }

    fn checked(&self) -> Vec<Signature> {
        match self.checked.lock() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Whether `sig` was found valid over this parse's canonical bytes before, under the key
    /// with its `keyid` (see [`Signed::mark_checked`]).
    pub(crate) fn was_checked(&self, sig: &Signature) -> bool {
        self.checked
            .lock()
            .is_ok_and(|checked| checked.iter().any(|s| s == sig))
    }

    /// Records that `sig`, one of this parse's signatures, verified over its canonical bytes
    /// under the key with its `keyid`. The caller must just have checked exactly that.
    pub(crate) fn mark_checked(&self, sig: &Signature) {
        if let Ok(mut checked) = self.checked.lock() {
            if checked.len() < crate::tuf::verify::MAX_SIGNATURES && !checked.contains(sig) {
                checked.push(sig.clone());
            }
        }
    }

    /// Takes into this parse the checks of its signatures that the process-wide memo holds
    /// (see `tuf::key`): for a parse about to be kept, of files this process signed or
    /// validated, so that verifying them later asks the memo nothing.
    pub fn adopt_remembered_checks(&self) {
        let digest = *self.canonical_sha256();
        for sig in &self.signatures {
            if crate::tuf::key::checked_before(&sig.keyid, &sig.method, &digest, &sig.sig) {
                self.mark_checked(sig);
            }
        }
    }

    /// The SHA-256 of [`Signed::canonical_signed`].
    pub fn canonical_sha256(&self) -> &[u8; 32] {
        self.canonical_sha256
            .get_or_init(|| crate::tuf::digest::sha256(&self.canonical))
    }

    /// The SHA-512 of `bytes` when they are the bytes this was parsed from, as `bytes_sha256`
    /// (their SHA-256, which the caller has already) shows; `None` for any other bytes. The
    /// first answer is kept, so a parse held between requests hashes its file once.
    pub fn source_sha512(&self, bytes: &[u8], bytes_sha256: &[u8; 32]) -> Option<[u8; 64]> {
        if *bytes_sha256 != self.source {
            return None;
        }
        Some(
            *self
                .source_sha512
                .get_or_init(|| crate::tuf::digest::sha512(bytes)),
        )
    }
}

/// The envelope as serde reads it.
#[derive(Deserialize)]
struct Envelope<T> {
    signed: T,
    /// Absent or `null` is treated as empty, so verification reports "no signatures".
    #[serde(default)]
    signatures: Option<Vec<Signature>>,
}

/// Parses a metadata file of role type `T`.
///
/// Checks: strict JSON (see [`crate::tuf::cjson::parse`]); field names exact with no case-folded
/// duplicates; `_type` exactly `T::TYPE`; `version` an integer ≥ 1; `expires` RFC 3339;
/// each `keys` map entry under its computed key ID; signature key IDs 64 lowercase hex and
/// `sig` strict base64; and that `signed` has canonical bytes (no fractional numbers).
/// Structural rules beyond that are the `check_structure` methods; signatures are
/// [`crate::tuf::verify::verify_threshold`].
pub fn parse<T: RoleType + DeserializeOwned>(bytes: &[u8]) -> Result<Signed<T>, Error> {
    let outline = read::outline(bytes, T::TYPE)?;
    outline.shape?;
    if !outline.has_signed {
        return Err(Error::Malformed("missing \"signed\"".to_owned()));
    }
    if outline.signed_type.as_deref() != Some(T::TYPE) {
        return Err(Error::WrongType {
            expected: T::TYPE,
            found: excerpt(outline.signed_type.as_deref().unwrap_or_default()),
        });
    }
    let canonical = outline.canonical?;
    let envelope: Envelope<T> =
        serde_json::from_slice(bytes).map_err(|e| Error::Malformed(e.to_string()))?;
    Ok(Signed {
        signed: envelope.signed,
        signatures: envelope.signatures.unwrap_or_default(),
        canonical,
        source: crate::tuf::digest::sha256(bytes),
        origin: None,
        canonical_sha256: OnceLock::new(),
        source_sha512: OnceLock::new(),
        checked: Mutex::new(Vec::new()),
    })
}

/// [`parse`] of shared bytes, which the parse keeps (a reference, not a copy) so that
/// [`Signed::is_parse_of`] can tell them again without hashing.
pub fn parse_shared<T: RoleType + DeserializeOwned>(bytes: &Bytes) -> Result<Signed<T>, Error> {
    let mut signed = parse(bytes)?;
    signed.origin = Some(bytes.clone());
    Ok(signed)
}

/// The typed `signed` object of a file that passed [`parse`] when it was accepted, for a read
/// that needs a field or two (an expiry, a listed hash): serde alone, without the canonical
/// bytes, the signatures or the strict checks, about a third of the work of [`parse`].
pub fn read_stored<T: RoleType + DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    #[derive(Deserialize)]
    struct SignedOnly<T> {
        signed: T,
    }
    serde_json::from_slice::<SignedOnly<T>>(bytes)
        .map(|s| s.signed)
        .map_err(|e| Error::Malformed(e.to_string()))
}

#[cfg(test)]
mod tests;
