//! The `keytype` names notary writes. Kept apart from the key itself so that the signature
//! algorithms, which dispatch on it, do not import the key module that calls them.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The `keytype` of a key. Unknown types are rejected when parsing (notary keeps them as
/// "unknown" keys that can never verify; refusing them early gives a clearer error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum KeyType {
    /// `ecdsa`: DER SubjectPublicKeyInfo (P-256 in practice).
    #[serde(rename = "ecdsa")]
    Ecdsa,
    /// `ecdsa-x509`: PEM text of a certificate holding an ECDSA key.
    #[serde(rename = "ecdsa-x509")]
    EcdsaX509,
    /// `ed25519`: the raw 32-byte key (the server's timestamp/snapshot keys).
    #[serde(rename = "ed25519")]
    Ed25519,
    /// `rsa`: DER SubjectPublicKeyInfo (or PEM, for the legacy pycrypto method).
    #[serde(rename = "rsa")]
    Rsa,
    /// `rsa-x509`: PEM text of a certificate holding an RSA key.
    #[serde(rename = "rsa-x509")]
    RsaX509,
}

impl KeyType {
    /// The wire name, as in `keytype`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Ecdsa => "ecdsa",
            KeyType::EcdsaX509 => "ecdsa-x509",
            KeyType::Ed25519 => "ed25519",
            KeyType::Rsa => "rsa",
            KeyType::RsaX509 => "rsa-x509",
        }
    }

    /// Whether the public value is a PEM certificate (bundle) rather than a bare key.
    pub fn is_x509(self) -> bool {
        matches!(self, KeyType::EcdsaX509 | KeyType::RsaX509)
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
