//! Server-managed timestamp and snapshot keys: creation, lookup, rotation and signing.
//!
//! Keys made here are Ed25519 (what notary-server's local signer makes). Keys carried over
//! from a notary-signer by `notarium import` keep their algorithm: Ed25519, ECDSA P-256 or RSA.
//! Every key is scoped to one GUN and role, stored sealed under the KEK, and opened only here.
//! Large messages are signed on the blocking pool, off the async runtime.
//!
//! `pair` holds keys ready to sign and the signing algorithms, `stored` what every stored key
//! shares, `import` seals carried-over keys, `keys` runs the lifecycle of the server's own keys,
//! [`kek`] seals at rest and [`admin`] is the operators' view; this module only names them.
//! Private key bytes are kept only in buffers wiped when dropped.

pub mod admin;
mod error;
mod import;
pub mod kek;
mod keys;
mod pair;
mod stored;

pub use error::SigningError;
pub use import::{seal_imported, ImportedKey};
pub use kek::Kek;
pub use keys::{ServerKeys, OPENED_KEYS_MAX};
pub use pair::{algorithm, sign_all, SigningKey};
pub use stored::ServerRole;

#[cfg(test)]
mod tests;
