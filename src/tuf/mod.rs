//! The pure TUF core: notary's metadata dialect, canonical JSON, keys, signatures and
//! certificates. No I/O and no clock: callers pass bytes in and `now` where time matters.

#![warn(missing_docs)]

pub mod cert;
pub mod cjson;
pub mod digest;
pub mod error;
pub mod key;
pub mod metadata;
pub mod role;
pub mod verify;

mod der;
pub(crate) mod pem;

#[cfg(test)]
pub(crate) mod fixtures;

pub use error::Error;
