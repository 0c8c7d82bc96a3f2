//! Globally unique names (GUNs) of trusted collections, checked once at the edge.
//!
//! Notary accepts any GUN its route regex lets through (control characters, 300-byte names).
//! Off-spec: we accept only what real clients produce, so a GUN can be logged, stored in a
//! `varchar(255)` column and compared to a certificate CN without surprises.

use std::fmt;

/// The longest GUN accepted, in bytes; the storage schema allows 255.
pub const MAX_GUN_LEN: usize = 255;

/// A validated GUN such as `registry.example.com/org/app`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Gun(String);

/// Why a GUN was refused; the message is shown to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GunError {
    /// Empty, or longer than [`MAX_GUN_LEN`].
    #[error("GUN must be between 1 and {MAX_GUN_LEN} bytes long")]
    Length,
    /// A character outside the allowed set.
    #[error("GUN contains a character that is not allowed: {0:?}")]
    Character(char),
    /// An empty, `.`, `..` or `_trust` segment, or a leading or trailing `/`. (`_trust` would
    /// make `/v2/{gun}/_trust/tuf/…` ambiguous.)
    #[error("GUN has an empty, '.', '..' or '_trust' path segment")]
    Segment,
}

impl Gun {
    /// Checks `name` and wraps it.
    ///
    /// Allowed: ASCII letters and digits and `. _ - : / @ + ~` — enough for every Docker
    /// reference (`host:port/path`, digests are never part of a GUN) and notary's own names.
    pub fn parse(name: &str) -> Result<Gun, GunError> {
        if name.is_empty() || name.len() > MAX_GUN_LEN {
            return Err(GunError::Length);
        }
        if let Some(c) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "._-:/@+~".contains(*c)))
        {
            return Err(GunError::Character(c));
        }
        if name.split('/').any(|segment| {
            segment.is_empty() || segment == "." || segment == ".." || segment == "_trust"
        }) {
            return Err(GunError::Segment);
        }
        Ok(Gun(name.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Maps keyed by GUN can be searched by name (the derived hash is the name's hash).
impl std::borrow::Borrow<str> for Gun {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Gun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_docker_references() {
        for ok in [
            "docker.io/library/alpine",
            "localhost:5000/org/app",
            "registry.example.com/a/b_c-d.e",
            "x",
        ] {
            Gun::parse(ok).expect("a docker reference is a valid GUN");
        }
    }

    #[test]
    fn refuses_hostile_names() {
        let long = "a".repeat(256);
        for (bad, why) in [
            ("", GunError::Length),
            (long.as_str(), GunError::Length),
            ("a/../b", GunError::Segment),
            ("a//b", GunError::Segment),
            ("/a", GunError::Segment),
            ("a/", GunError::Segment),
            ("a/./b", GunError::Segment),
            ("a/_trust/tuf/b", GunError::Segment),
            ("a\nb", GunError::Character('\n')),
            ("a b", GunError::Character(' ')),
            ("a*b", GunError::Character('*')),
            ("ünï", GunError::Character('ü')),
        ] {
            assert_eq!(Gun::parse(bad), Err(why), "{bad:?} must be refused");
        }
    }
}
