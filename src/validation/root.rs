//! Step 2: an uploaded root (docs/protocol.md §3 step 2).

use std::collections::BTreeMap;

use bytes::Bytes;
use chrono::{DateTime, Utc};

use super::{role_keys, Current, ErrorKind, ValidationError};
use crate::gun::Gun;
use crate::tuf::cert::{self, ExpiryCheck};
use crate::tuf::key::{KeyId, PublicKey};
use crate::tuf::metadata::{self, Root, Signed};
use crate::tuf::verify::verify_threshold;

/// Checks an uploaded root: its version follows the stored one, its structure is notary's, it
/// is signed by a threshold of its own certificate keys for `gun` and, on a rotation, of the
/// stored root's, and it has not expired.
pub(super) fn check_root(
    gun: &Gun,
    current: &Current,
    bytes: &Bytes,
    now: DateTime<Utc>,
) -> Result<Signed<Root>, ValidationError> {
    let bad = |msg: String| ValidationError::new(ErrorKind::BadRoot, msg);
    let root: Signed<Root> = metadata::parse_shared(bytes).map_err(|e| bad(e.to_string()))?;
    let stored_version = current.root.as_ref().map_or(1, |r| r.signed.signed.version);
    let version = root.signed.version;
    if version != stored_version && version != stored_version + 1 {
        return Err(bad(format!(
            "Root modifications must increment the version. Current {stored_version}, new {version}"
        )));
    }
    root.signed
        .check_structure()
        .map_err(|e| bad(e.to_string()))?;

    // Only certificate keys for this GUN count as root keys.
    let usable = |r: &Root, expiry: ExpiryCheck| -> BTreeMap<KeyId, PublicKey> {
        r.keys
            .iter()
            .filter(|(id, key)| {
                role_keys(r, "root").contains(id)
                    && cert::usable_root_key(key, gun.as_str(), now, expiry).is_ok()
            })
            .map(|(id, key)| (id.clone(), key.clone()))
            .collect()
    };
    let new_usable = usable(&root.signed, ExpiryCheck::Enforce);
    if new_usable.is_empty() {
        return Err(bad(
            "could not validate the path to a trusted root: unable to retrieve valid leaf certificates".to_owned(),
        ));
    }
    if let Some(old) = &current.root {
        let old_root = &old.signed.signed;
        let old_usable = usable(old_root, ExpiryCheck::Ignore);
        let old_role = old_root.roles.get("root");
        let threshold = old_role.map_or(1, |r| r.threshold);
        verify_threshold(&root, "root", &old_usable, role_keys(old_root, "root"), threshold).map_err(|_| {
            bad("could not rotate trust to a new trusted root: failed to validate data with current trusted certificates".to_owned())
        })?;
    }
    let threshold = root.signed.roles.get("root").map_or(1, |r| r.threshold);
    verify_threshold(&root, "root", &new_usable, role_keys(&root.signed, "root"), threshold).map_err(|e| {
        bad(format!("could not validate the path to a trusted root: failed to validate integrity of roots: {e}"))
    })?;
    if root.signed.expires.at() < now {
        return Err(bad(format!(
            "root expired at {}",
            root.signed.expires.as_str()
        )));
    }
    Ok(root)
}
