//! Step 5: the timestamp the server signs for every accepted update.

use super::{
    held_role_keys, Current, ErrorKind, GeneratedTimestamp, HeldKeys, Loaded, ValidationError,
};
use crate::tuf::metadata::Root;

/// The next timestamp, signed with the held keys `root` lists for the timestamp role.
pub(super) fn plan_timestamp(
    root: &Loaded<Root>,
    current: &Current,
    held: &HeldKeys,
) -> Result<GeneratedTimestamp, ValidationError> {
    let keys = held_role_keys(&root.signed.signed, "timestamp", &held.timestamp);
    if keys.is_empty() {
        return Err(ValidationError::new(
            ErrorKind::BadRoot,
            "no timestamp keys exist on the server",
        ));
    }
    Ok(GeneratedTimestamp {
        version: current
            .timestamp
            .as_ref()
            .map_or(1, |t| t.signed.signed.version + 1),
        keys,
    })
}
