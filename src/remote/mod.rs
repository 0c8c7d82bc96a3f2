//! A Notary v1 client over HTTPS: reads a repository's trust data from any notary server
//! (Notarium, the Go notary-server, a hosted notary) as the notary client does, with registry
//! token auth and a local cache that remembers what was trusted. Knows nothing of the server
//! in this crate; verification is `policy`'s.

#![warn(missing_docs)]

pub mod cache;
pub mod credentials;

use std::path::PathBuf;
use std::time::Duration;

use crate::policy::TrustData;
use crate::tuf::role::RoleName;

pub use cache::{CachedRepo, TrustCache};
pub use credentials::Credentials;

/// Where and how to reach one trust server.
#[derive(Debug, Clone)]
pub struct RemoteConfig {
    /// Base URL, e.g. `https://notary.example.com:4443`.
    pub server: String,
    /// A PEM bundle of CAs to trust for the server (instead of the system's roots).
    pub ca: Option<PathBuf>,
    /// Credentials for the token service, when given explicitly (flags or env).
    pub credentials: Option<Credentials>,
    /// The Docker config directory whose `config.json` may hold credentials.
    pub docker_config: Option<PathBuf>,
    /// Time limit of one request.
    pub timeout: Duration,
}

/// Why a read failed; shown to people, never carrying a credential or token.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The configuration cannot work (bad URL, unreadable CA file).
    #[error("{0}")]
    Config(String),
    /// The repository has no trust data on the server.
    #[error("no trust data for {0}")]
    NotFound(String),
    /// Anything else the server or network did.
    #[error("{0}")]
    Fetch(String),
}

/// A client of one trust server.
#[derive(Debug, Clone)]
pub struct Remote {
    config: RemoteConfig,
}

impl Remote {
    /// A client for `config`.
    pub fn new(config: RemoteConfig) -> Result<Remote, RemoteError> {
        Ok(Remote { config })
    }

    /// Reads `gun`'s trust data: the timestamp, the snapshot it lists, the root chain from the
    /// remembered root in `cached` (or from version 1), `targets` and the `wanted` delegations,
    /// each by the checksum its parent lists; files already in `cached` are not downloaded.
    pub async fn fetch(
        &self,
        gun: &str,
        wanted: &[RoleName],
        cached: &CachedRepo,
    ) -> Result<TrustData, RemoteError> {
        let _ = (gun, wanted, cached, &self.config);
        unimplemented!()
    }
}
