//! The one error type of the TUF core: what was wrong with a file, a key or a signature.

/// Why metadata, a key, a signature or a certificate was rejected.
///
/// Messages are meant for a person reading a log or an `INVALID_UPDATE` detail; where notary has
/// a well-known message (`tuf: data has no signatures`, `valid signatures did not meet threshold
/// for …`, `key ID is not valid for key content`) it is reproduced so clients and users see the
/// same words. Nothing here carries key material beyond public key IDs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A certificate used as a key is unusable for the purpose asked.
    #[error("certificate: {0}")]
    Certificate(String),

    /// A listed `sha256`/`sha512` does not match the bytes (hex of the listed digest).
    #[error("{algorithm} checksum did not match: expected {expected}")]
    ChecksumMismatch {
        /// `sha256` or `sha512`.
        algorithm: &'static str,
        /// The listed digest, lowercase hex.
        expected: String,
    },

    /// The `expires` string is not an RFC 3339 time as Go writes it.
    #[error("invalid expiry time {0:?}: expected RFC 3339 such as 2029-11-21T22:16:31.2Z")]
    InvalidExpires(String),

    /// A key could not be decoded or used.
    #[error("invalid key: {0}")]
    InvalidKey(String),

    /// A key ID that is not 64 lowercase hex digits.
    #[error("invalid key ID {0:?}: expected 64 lowercase hex digits")]
    InvalidKeyId(String),

    /// A role name that notary does not accept (docs/protocol.md §4.11).
    #[error("invalid role name {0:?}")]
    InvalidRole(String),

    /// A signature that did not verify, or could not be checked with this key.
    #[error("invalid signature: {0}")]
    InvalidSignature(String),

    /// A threshold below 1 was asked for.
    #[error("invalid threshold {threshold} for {role}: must be at least 1")]
    InvalidThreshold {
        /// The role whose threshold is wrong.
        role: String,
        /// The threshold given.
        threshold: u32,
    },

    /// Bytes that are not JSON as this crate accepts it.
    #[error("invalid JSON at byte {offset}: {reason}")]
    Json {
        /// Byte offset of the problem in the input.
        offset: usize,
        /// What was wrong there.
        reason: &'static str,
    },

    /// A key's ID differs from the hash of its content: the metadata is lying about its keys.
    #[error("key ID is not valid for key content: {keyid} hashes to {computed}")]
    KeyIdMismatch {
        /// The ID the metadata used.
        keyid: String,
        /// The ID the key's content hashes to.
        computed: String,
    },

    /// The listed length differs from the number of bytes.
    #[error("length mismatch: listed {listed} bytes, got {actual}")]
    LengthMismatch {
        /// The `length` in the file meta.
        listed: i64,
        /// The actual number of bytes.
        actual: usize,
    },

    /// Metadata whose shape or content is not notary's (missing field, wrong type, bad base64…).
    #[error("malformed metadata: {0}")]
    Malformed(String),

    /// A file meta that lists neither `sha256` nor `sha512`.
    #[error("no checksums for supported algorithms were provided")]
    NoSupportedChecksum,

    /// Metadata with an empty `signatures` list.
    #[error("tuf: data has no signatures")]
    NoSignatures,

    /// Metadata that parses but breaks a structural rule of notary (docs/protocol.md §3).
    #[error("invalid {role} metadata: {reason}")]
    Structure {
        /// The role whose metadata is wrong.
        role: String,
        /// Which rule was broken.
        reason: String,
    },

    /// Fewer distinct keys signed than the role's threshold.
    #[error("valid signatures did not meet threshold for {role}")]
    Threshold {
        /// The role being verified.
        role: String,
        /// Distinct keys with a valid signature.
        valid: usize,
        /// Signatures needed.
        threshold: u32,
    },

    /// More signatures than [`crate::tuf::verify::MAX_SIGNATURES`].
    #[error("{role} carries {count} signatures, more than the 32 accepted")]
    TooManySignatures {
        /// The role being verified.
        role: String,
        /// How many signatures the file carries.
        count: usize,
    },

    /// JSON nested deeper than [`crate::tuf::cjson::MAX_DEPTH`].
    #[error("JSON nested deeper than {0} levels")]
    TooDeep(usize),

    /// A number canonical JSON cannot write (fraction, non-finite, beyond int64) — Go's message.
    #[error("json: unsupported value: {0}")]
    UnsupportedValue(String),

    /// `_type` is not the one expected for this role.
    #[error("expected metadata of type {expected}, found {found:?}")]
    WrongType {
        /// The `_type` wanted.
        expected: &'static str,
        /// What the file had (empty when absent or not a string).
        found: String,
    },
}

/// Shortens attacker-chosen text before it goes into an error message (messages end up in logs
/// and in `INVALID_UPDATE` details, which must stay small).
pub(crate) fn excerpt(text: &str) -> String {
    const MAX: usize = 80;
    if text.len() <= MAX {
        return text.to_owned();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}
