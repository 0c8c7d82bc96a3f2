//! Reads beyond the client's read path, for copying a repository (`notarium mirror`): one
//! role at one version (`{version}.{role}.json`), and the public key the server holds for a
//! role (`{role}.key`). Nothing read here is trusted; the caller verifies it.

use bytes::Bytes;

use crate::gun::Gun;

use super::auth::{Freshness, GetError, Session};
use super::{Remote, RemoteError};

/// No stored version of a role is read past this size.
const VERSION_LIMIT: usize = 64 << 20;
/// A public key answer is small.
const KEY_LIMIT: usize = 64 << 10;

impl Remote {
    /// The server this client reads, as configured.
    pub fn server(&self) -> &str {
        &self.config.server
    }

    /// `role` of `gun` at `version`, or `None` when the server answers 404 (it keeps no such
    /// version, or never did).
    pub async fn role_version(
        &self,
        gun: &Gun,
        role: &str,
        version: u64,
    ) -> Result<Option<Bytes>, RemoteError> {
        let url = self
            .transport
            .role_url(gun, &format!("{version}.{role}.json"));
        let session = Session::new(&self.config, &self.transport, gun);
        match session.get(&url, VERSION_LIMIT, Freshness::Any).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(GetError::NotFound(_)) => Ok(None),
            Err(GetError::Failed(why)) => Err(RemoteError::Fetch(why)),
        }
    }

    /// The body of `GET {role}.key` for `gun` (a public key as JSON), or `None` on 404.
    pub async fn server_key(&self, gun: &Gun, role: &str) -> Result<Option<Bytes>, RemoteError> {
        let url = self.transport.role_url(gun, &format!("{role}.key"));
        let session = Session::new(&self.config, &self.transport, gun);
        match session.get(&url, KEY_LIMIT, Freshness::Fresh).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(GetError::NotFound(_)) => Ok(None),
            Err(GetError::Failed(why)) => Err(RemoteError::Fetch(why)),
        }
    }
}
