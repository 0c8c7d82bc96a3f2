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

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
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
}

impl RoleType for Root {
    const TYPE: &'static str = "Root";
}

impl RoleType for Targets {
    const TYPE: &'static str = "Targets";
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
#[derive(Debug, Clone)]
pub struct Signed<T> {
    /// The role's content.
    pub signed: T,
    /// The signatures as listed (not yet verified).
    pub signatures: Vec<Signature>,
    canonical: Vec<u8>,
    source: [u8; 32],
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
    let mut source = [0; 32];
    source.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref());
    Ok(Signed {
        signed: envelope.signed,
        signatures: envelope.signatures.unwrap_or_default(),
        canonical,
        source,
    })
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
