//! A budget on what reading a policy may allocate. Aliases let a short text stand for a large
//! value (every alias is read as a fresh copy), so each string and key ID read is charged, and
//! a policy cannot grow, once read, far beyond the size of its text.

use std::cell::Cell;

use serde::de::{self, Deserializer};
use serde::Deserialize;

use crate::tuf::key::KeyId;

/// The most bytes of strings and key IDs a policy may hold with its aliases expanded.
const EXPANDED_MAX: usize = 16 << 20;
/// What each value read costs beyond its bytes: the container that holds it.
const VALUE_OVERHEAD: usize = 32;

thread_local! {
    /// Bytes charged by the parse running on this thread; see [`charge`].
    static SPENT: Cell<usize> = const { Cell::new(0) };
}

/// The budget of one parse: starts it at zero, and clears it however the parse ends.
pub(super) struct Budget;

impl Budget {
    pub(super) fn start() -> Budget {
        SPENT.set(0);
        Budget
    }
}

impl Drop for Budget {
    fn drop(&mut self) {
        SPENT.set(0);
    }
}

/// Charges a value of `bytes` to the running parse.
pub(super) fn charge<E: de::Error>(bytes: usize) -> Result<(), E> {
    let spent = SPENT
        .get()
        .saturating_add(bytes)
        .saturating_add(VALUE_OVERHEAD);
    SPENT.set(spent);
    if spent > EXPANDED_MAX {
        return Err(E::custom(format!(
            "with its aliases expanded the policy holds more than {EXPANDED_MAX} bytes; \
             write the values out or share fewer"
        )));
    }
    Ok(())
}

/// A string, charged to the budget.
#[derive(Debug)]
pub(super) struct Text(pub(super) String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        charge(text.len())?;
        Ok(Text(text))
    }
}

/// A key ID, charged to the budget.
#[derive(Debug)]
pub(super) struct WireKeyId(pub(super) KeyId);

impl<'de> Deserialize<'de> for WireKeyId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let id = KeyId::deserialize(deserializer)?;
        charge(id.as_str().len())?;
        Ok(WireKeyId(id))
    }
}
