//! Image references as Docker reads them (`distribution/reference`): `reg/org/app:tag`,
//! `reg/org/app@sha256:…`, `reg/org/app:tag@sha256:…`, and the short forms Docker expands
//! (`nginx` → `docker.io/library/nginx:latest`). The normalised name is the repository's GUN.

use std::fmt;

/// A sha256 image digest (of a manifest or an index).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// `sha256:` and 64 lowercase hex digits.
    pub fn parse(s: &str) -> Result<Digest, ReferenceError> {
        unimplemented!("{s}")
    }

    /// The 64 hex digits.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex())
    }
}

/// A normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    name: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

/// Why a reference was refused; shown to the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// Anything that does not parse; the message says what.
    #[error("invalid image reference {reference:?}: {reason}")]
    Invalid {
        /// The reference as given (shortened when long).
        reference: String,
        /// What is wrong.
        reason: String,
    },
}

impl ImageRef {
    /// Parses and normalises `s` as Docker does. Without a tag or digest the tag is `latest`.
    pub fn parse(s: &str) -> Result<ImageRef, ReferenceError> {
        unimplemented!("{s}")
    }

    /// The normalised repository name, e.g. `docker.io/library/nginx`: the GUN.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The tag, if any (`latest` when the reference named neither tag nor digest).
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if the reference carried one.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// `NAME:TAG@sha256:DIGEST` (or `NAME@sha256:DIGEST` without a tag): the reference pinned
    /// to `digest`, as `docker pull` takes it.
    pub fn pinned(&self, digest: &Digest) -> String {
        match &self.tag {
            Some(tag) => format!("{}:{tag}@{digest}", self.name),
            None => format!("{}@{digest}", self.name),
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}
