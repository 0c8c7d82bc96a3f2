//! Role names: the four base roles and `targets/…` delegations, validated once (docs/protocol.md §4.11).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::tuf::error::{excerpt, Error};

/// A role name notary accepts: `root`, `targets`, `snapshot`, `timestamp`, or a delegation.
///
/// Notary (`tuf/data/roles.go`): a delegation starts with `targets/`, matches
/// `^[-a-z0-9_/]+$`, is shorter than 256 bytes and is already path-clean (no empty, `.` or `..`
/// segment, no trailing `/`). Holding a `RoleName` means all of that was checked, so it can be
/// used as a storage key or in a URL without further escaping.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RoleName(String);

/// The four roles every root must define.
const BASE_ROLES: [&str; 4] = ["root", "targets", "snapshot", "timestamp"];

impl RoleName {
    /// Validates `s` as a role name.
    pub fn parse(s: &str) -> Result<RoleName, Error> {
        if BASE_ROLES.contains(&s) || is_delegation(s) {
            Ok(RoleName(s.to_owned()))
        } else {
            Err(Error::InvalidRole(excerpt(s)))
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is a `targets/…` delegation rather than a base role.
    pub fn is_delegation(&self) -> bool {
        self.0.starts_with("targets/")
    }

    /// The role whose metadata declares this delegation: `targets/a/b` → `targets/a`,
    /// `targets/a` → `targets`; base roles have none.
    pub fn parent(&self) -> Option<RoleName> {
        if !self.is_delegation() {
            return None;
        }
        self.0
            .rsplit_once('/')
            .map(|(parent, _)| RoleName(parent.to_owned()))
    }

    /// Number of `/`-separated segments: 1 for base roles, 2 for `targets/a`, and so on.
    pub fn depth(&self) -> usize {
        self.0.split('/').count()
    }

    /// `root`.
    pub fn root() -> RoleName {
        RoleName("root".to_owned())
    }

    /// `targets`.
    pub fn targets() -> RoleName {
        RoleName("targets".to_owned())
    }

    /// `targets/releases`: the delegation `docker trust` signs into, and that a content-trust
    /// pull reads before `targets`.
    pub fn releases() -> RoleName {
        RoleName("targets/releases".to_owned())
    }

    /// `snapshot`.
    pub fn snapshot() -> RoleName {
        RoleName("snapshot".to_owned())
    }

    /// `timestamp`.
    pub fn timestamp() -> RoleName {
        RoleName("timestamp".to_owned())
    }
}

/// Notary's `IsDelegation`.
fn is_delegation(s: &str) -> bool {
    let allowed =
        |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'/');
    // Path-clean: with only these characters, `path.Clean(s) == s` means no empty segment
    // (`//`, trailing `/`) and no `.`/`..` segment (which the charset already excludes).
    s.starts_with("targets/")
        && s.len() < 256
        && s.bytes().all(allowed)
        && s.split('/').all(|segment| !segment.is_empty())
}

impl fmt::Display for RoleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for RoleName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Serialize for RoleName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for RoleName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        RoleName::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_base_roles_and_clean_delegations() {
        for name in [
            "root",
            "targets",
            "snapshot",
            "timestamp",
            "targets/releases",
            "targets/a-b_c/9",
        ] {
            assert_eq!(RoleName::parse(name).expect("valid").as_str(), name);
        }
    }

    #[test]
    fn rejects_what_notary_rejects() {
        let long = format!("targets/{}", "a".repeat(248));
        assert_eq!(long.len(), 256);
        for name in [
            "",
            "Root",
            "targets/",
            "targets//a",
            "targets/a/",
            "targets/./a",
            "targets/../a",
            "targets/A",
            "targets/a b",
            "targets/é",
            "target/a",
            "/targets/a",
            "snapshot/a",
            "timestamp.json",
            long.as_str(),
        ] {
            assert!(RoleName::parse(name).is_err(), "{name:?} must be rejected");
        }
        assert!(
            RoleName::parse(&long[..255]).is_ok(),
            "255 bytes is allowed"
        );
    }

    #[test]
    fn parent_and_depth() {
        let role = |s| RoleName::parse(s).expect("valid");
        assert_eq!(role("targets/a/b").parent(), Some(role("targets/a")));
        assert_eq!(role("targets/a").parent(), Some(RoleName::targets()));
        assert_eq!(RoleName::targets().parent(), None);
        assert_eq!(RoleName::root().parent(), None);
        assert_eq!(RoleName::root().depth(), 1);
        assert_eq!(role("targets/a/b").depth(), 3);
        assert!(role("targets/a").is_delegation());
        assert!(!RoleName::targets().is_delegation());
    }

    #[test]
    fn serde_validates() {
        let ok: RoleName = serde_json::from_str("\"targets/x\"").expect("valid");
        assert_eq!(ok.to_string(), "targets/x");
        assert!(serde_json::from_str::<RoleName>("\"targets/X\"").is_err());
        assert_eq!(
            serde_json::to_string(&ok).expect("serializes"),
            "\"targets/x\""
        );
    }
}
