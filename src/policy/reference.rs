//! Image references as Docker reads them (`distribution/reference`): `reg/org/app:tag`,
//! `reg/org/app@sha256:…`, `reg/org/app:tag@sha256:…`, and the short forms Docker expands
//! (`nginx` → `docker.io/library/nginx:latest`). The normalised name is the repository's GUN.

use std::fmt;

use crate::tuf::error::excerpt;

/// Docker's limit on a whole repository name, host included (`NameTotalLengthMax`).
const NAME_MAX: usize = 255;
/// Docker's limit on a tag (`[\w][\w.-]{0,127}`).
const TAG_MAX: usize = 128;
/// The registry short names expand to.
const DEFAULT_DOMAIN: &str = "docker.io";
/// Docker Hub's old name, which Docker rewrites to [`DEFAULT_DOMAIN`].
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";

/// A sha256 image digest (of a manifest or an index).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// `sha256:` and 64 lowercase hex digits.
    pub fn parse(s: &str) -> Result<Digest, ReferenceError> {
        parse_digest(s).map_err(|reason| invalid(s, reason))
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
        parse_reference(s).map_err(|reason| invalid(s, reason))
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

fn invalid(reference: &str, reason: String) -> ReferenceError {
    ReferenceError::Invalid {
        reference: excerpt(reference),
        reason,
    }
}

fn parse_digest(s: &str) -> Result<Digest, String> {
    let Some(hex_digits) = s.strip_prefix("sha256:") else {
        return Err(match s.split_once(':') {
            Some((algorithm, _)) => format!(
                "digest algorithm {:?} is not supported; a digest is sha256: and 64 hex digits",
                excerpt(algorithm)
            ),
            None => "a digest is sha256: and 64 hex digits".to_owned(),
        });
    };
    let lower_hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
    if hex_digits.len() != 64 || !hex_digits.bytes().all(lower_hex) {
        return Err("a sha256 digest is 64 lowercase hex digits".to_owned());
    }
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(hex_digits, &mut bytes)
        .map_err(|_| "a sha256 digest is 64 lowercase hex digits".to_owned())?;
    Ok(Digest(bytes))
}

/// `ParseNormalizedNamed` followed by `TagNameOnly`, from Docker's `distribution/reference`.
fn parse_reference(s: &str) -> Result<ImageRef, String> {
    if s.is_empty() {
        return Err("it is empty".to_owned());
    }
    // Docker refuses a bare image ID, so it is never taken for a repository name.
    if s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        return Err("a 64-digit hex string is an image ID, not a repository name".to_owned());
    }
    let (rest, digest) = match s.split_once('@') {
        Some((rest, digest)) => (rest, Some(parse_digest(digest)?)),
        None => (s, None),
    };
    // The tag follows the last `:` after the last `/`; an earlier `:` belongs to a host's port.
    let last_component = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_component..].rfind(':') {
        Some(i) => {
            let at = last_component + i;
            (&rest[..at], Some(&rest[at + 1..]))
        }
        None => (rest, None),
    };
    if let Some(tag) = tag {
        check_tag(tag)?;
    }
    if name.is_empty() {
        return Err("there is no repository name".to_owned());
    }
    let (domain, path) = split_domain(name);
    check_domain(domain)?;
    if path.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err("repository name must be lowercase".to_owned());
    }
    for component in path.split('/') {
        check_path_component(component)?;
    }
    let name = if domain == DEFAULT_DOMAIN && !path.contains('/') {
        format!("{domain}/library/{path}")
    } else {
        format!("{domain}/{path}")
    };
    if name.len() > NAME_MAX {
        return Err(format!(
            "repository name is {} bytes long; at most {NAME_MAX} are allowed",
            name.len()
        ));
    }
    let tag = match (tag, &digest) {
        (Some(tag), _) => Some(tag.to_owned()),
        (None, Some(_)) => None,
        (None, None) => Some("latest".to_owned()),
    };
    Ok(ImageRef { name, tag, digest })
}

/// Docker's `splitDockerDomain`: the first component names a registry when it holds a `.` or
/// a `:`, is `localhost`, or has an uppercase letter (a repository path never does); a name of
/// one component is always on Docker Hub.
fn split_domain(name: &str) -> (&str, &str) {
    let Some((first, rest)) = name.split_once('/') else {
        return (DEFAULT_DOMAIN, name);
    };
    if first == LEGACY_DEFAULT_DOMAIN {
        (DEFAULT_DOMAIN, rest)
    } else if first == "localhost"
        || first.contains(['.', ':'])
        || first.bytes().any(|b| b.is_ascii_uppercase())
    {
        (first, rest)
    } else {
        (DEFAULT_DOMAIN, name)
    }
}

/// `[\w][\w.-]{0,127}`.
fn check_tag(tag: &str) -> Result<(), String> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let Some(&first) = tag.as_bytes().first() else {
        return Err("the tag after `:` is empty".to_owned());
    };
    if tag.len() > TAG_MAX {
        return Err(format!(
            "the tag is {} characters long; at most {TAG_MAX} are allowed",
            tag.len()
        ));
    }
    if !word(first) || !tag.bytes().all(|b| word(b) || b == b'.' || b == b'-') {
        return Err(format!(
            "tag {:?} is not letters, digits, `_`, `.` and `-` (not starting with `.` or `-`)",
            excerpt(tag)
        ));
    }
    Ok(())
}

/// Docker's `domainAndPort`: DNS labels joined by `.` or a bracketed IPv6 address, then an
/// optional `:port`.
fn check_domain(domain: &str) -> Result<(), String> {
    let bad = || format!("{:?} is not a registry host[:port]", excerpt(domain));
    let (host, port) = if let Some(inner) = domain.strip_prefix('[') {
        let (address, after) = inner.split_once(']').ok_or_else(bad)?;
        if address.is_empty() || !address.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return Err(bad());
        }
        match after {
            "" => ("", None),
            _ => ("", Some(after.strip_prefix(':').ok_or_else(bad)?)),
        }
    } else {
        match domain.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (domain, None),
        }
    };
    let label_ok = |label: &str| {
        let bytes = label.as_bytes();
        match (bytes.first(), bytes.last()) {
            (Some(first), Some(last)) => {
                first.is_ascii_alphanumeric()
                    && last.is_ascii_alphanumeric()
                    && bytes
                        .iter()
                        .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
            }
            _ => false,
        }
    };
    if !domain.starts_with('[') && !host.split('.').all(label_ok) {
        return Err(bad());
    }
    if let Some(port) = port {
        if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
    }
    Ok(())
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`: lowercase letters and digits, with single
/// separators (`.`, `_`, `__` or a run of `-`) between them.
fn check_path_component(component: &str) -> Result<(), String> {
    if component.is_empty() {
        return Err("a path component is empty (`//`, or a `/` at either end)".to_owned());
    }
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = component.as_bytes();
    let well_formed = bytes.first().is_some_and(alnum)
        && bytes.last().is_some_and(alnum)
        && component
            .split(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            .filter(|separator| !separator.is_empty())
            .all(|separator| {
                matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-')
            });
    if well_formed {
        Ok(())
    } else {
        Err(format!(
            "path component {:?} is not lowercase letters and digits joined by `.`, `_`, `__` \
             or `-`",
            excerpt(component)
        ))
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
impl ImageRef {
    /// A reference whose "tag" is a notary target name no Docker tag could spell
    /// (`qa/build-7`), for tests of delegated paths.
    pub(crate) fn with_target_name(name: &str, target: &str) -> ImageRef {
        ImageRef {
            name: name.to_owned(),
            tag: Some(target.to_owned()),
            digest: None,
        }
    }
}
