//! A Notary v1 client over HTTPS: reads a repository's trust data from any notary server
//! (Notarium, the Go notary-server, a hosted notary) as the notary client does, with registry
//! token auth and a local cache that remembers what was trusted. Knows nothing of the server
//! in this crate; verification is `policy`'s.
//!
//! The pieces: `transport` sends one GET (bounded body, one authenticated retry), `auth`
//! parses challenges and keeps tokens, `read` walks timestamp → snapshot → roots → targets
//! (docs/protocol.md §9, "the read path"), `credentials` finds a user and password, `cache`
//! is the trust directory.

#![warn(missing_docs)]

pub(crate) mod auth;
pub mod cache;
pub mod changes;
pub mod credentials;
pub mod keystore;
pub mod publish;
mod read;
pub(crate) mod transport;
mod versions;

use std::path::PathBuf;
use std::time::Duration;

use crate::gun::Gun;
use crate::policy::TrustData;
use crate::tuf::role::RoleName;

pub use cache::{CachedRepo, TrustCache};
pub use changes::Change;
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
    transport: transport::Transport,
}

impl Remote {
    /// A client for `config`.
    pub fn new(config: RemoteConfig) -> Result<Remote, RemoteError> {
        let transport = transport::Transport::new(&config)?;
        Ok(Remote { config, transport })
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
        let gun = Gun::parse(gun)
            .map_err(|e| RemoteError::Config(format!("cannot read trust data for {gun:?}: {e}")))?;
        let session = auth::Session::new(&self.config, &self.transport, &gun);
        read::read(&self.transport, &session, &gun, wanted, cached).await
    }
}

/// The registry host a GUN names in its first component, as Docker reads an image name: a
/// component with a `.` or `:`, or `localhost`. Docker Hub's names go by `docker.io`.
fn registry_host(gun: &Gun) -> Option<&str> {
    let first = gun.as_str().split('/').next()?;
    let looks_like_host = first.contains('.') || first.contains(':') || first == "localhost";
    (looks_like_host && gun.as_str().contains('/')).then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gun(name: &str) -> Gun {
        Gun::parse(name).expect("valid GUN")
    }

    #[test]
    fn registry_host_is_the_first_component_when_it_looks_like_one() {
        assert_eq!(
            registry_host(&gun("registry.example.com/org/app")),
            Some("registry.example.com")
        );
        assert_eq!(
            registry_host(&gun("localhost:5000/app")),
            Some("localhost:5000")
        );
        assert_eq!(
            registry_host(&gun("docker.io/library/alpine")),
            Some("docker.io")
        );
        assert_eq!(registry_host(&gun("org/app")), None);
        assert_eq!(registry_host(&gun("example.com")), None);
    }

    #[test]
    fn bad_urls_are_config_errors() {
        for server in [
            "ftp://example.com",
            "not a url",
            "https://user:pw@example.com",
            "https://example.com/?q=1",
        ] {
            let config = RemoteConfig {
                server: server.to_owned(),
                ca: None,
                credentials: None,
                docker_config: None,
                timeout: Duration::from_secs(5),
            };
            let err = Remote::new(config).expect_err("refused");
            assert!(matches!(err, RemoteError::Config(_)), "{server}: {err:?}");
            assert!(!err.to_string().contains("pw"), "{err}");
        }
    }
}
