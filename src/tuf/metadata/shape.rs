//! Refuses field names that Go would read differently from us (docs/protocol.md §5.5 "Decoding
//! notes"), checked name by name as the scanner reads a file (see `read`).
//!
//! Go's decoder matches struct fields case-insensitively (`"Version"` fills `version`; even the
//! Kelvin sign folds to `k` and the long s to `s`), while this crate's typed parsing matches
//! exactly. A file with `"version":2,"Version":9` would mean version 2 here and 9 to a Go
//! client, so any key that folds to a known field without being it is malformed (a field given
//! twice is refused already by the scanner, as every repeated name is). Only the objects that Go decodes into structs are checked; maps
//! (`targets`, `keys`, `meta`, …) and `custom` keep arbitrary keys.

use crate::tuf::error::{excerpt, Error};

/// The struct layout of a part of the document.
pub(super) enum Shape {
    /// A Go struct: its JSON field names and their shapes.
    Struct(&'static [(&'static str, Shape)]),
    /// A map with arbitrary keys whose values have this shape.
    Map(&'static Shape),
    /// An array whose items have this shape.
    List(&'static Shape),
    /// Anything (scalars, raw `custom` JSON, hash maps).
    Any,
}

use Shape::{Any, List, Map, Struct};

const SIGNATURE: Shape = Struct(&[("keyid", Any), ("method", Any), ("sig", Any)]);
const KEY: Shape = Struct(&[
    ("keytype", Any),
    ("keyval", Struct(&[("private", Any), ("public", Any)])),
]);
const ROLE_KEYS: Shape = Struct(&[("keyids", Any), ("threshold", Any)]);
const FILE_META: Shape = Struct(&[("custom", Any), ("hashes", Any), ("length", Any)]);
const DELEGATED_ROLE: Shape = Struct(&[
    ("keyids", Any),
    ("name", Any),
    ("paths", Any),
    ("threshold", Any),
]);
const ROOT: Shape = Struct(&[
    ("_type", Any),
    ("consistent_snapshot", Any),
    ("expires", Any),
    ("keys", Map(&KEY)),
    ("roles", Map(&ROLE_KEYS)),
    ("version", Any),
]);
const TARGETS: Shape = Struct(&[
    ("_type", Any),
    (
        "delegations",
        Struct(&[("keys", Map(&KEY)), ("roles", List(&DELEGATED_ROLE))]),
    ),
    ("expires", Any),
    ("targets", Map(&FILE_META)),
    ("version", Any),
]);
/// Snapshot and timestamp share a layout.
const META_ROLE: Shape = Struct(&[
    ("_type", Any),
    ("expires", Any),
    ("meta", Map(&FILE_META)),
    ("version", Any),
]);

const ROOT_ENVELOPE: Shape = Struct(&[("signatures", List(&SIGNATURE)), ("signed", ROOT)]);
const TARGETS_ENVELOPE: Shape = Struct(&[("signatures", List(&SIGNATURE)), ("signed", TARGETS)]);
const META_ENVELOPE: Shape = Struct(&[("signatures", List(&SIGNATURE)), ("signed", META_ROLE)]);

/// The shape of a whole file whose `signed._type` should be `type_name`.
pub(super) fn envelope(type_name: &str) -> &'static Shape {
    match type_name {
        "Root" => &ROOT_ENVELOPE,
        "Targets" => &TARGETS_ENVELOPE,
        _ => &META_ENVELOPE,
    }
}

impl Shape {
    /// What an object of this shape is checked against: itself, if it describes objects.
    pub(super) fn of_object(&'static self) -> Option<&'static Shape> {
        matches!(self, Struct(_) | Map(_)).then_some(self)
    }

    /// What an array of this shape is checked against: itself, if it describes arrays.
    pub(super) fn of_array(&'static self) -> Option<&'static Shape> {
        matches!(self, List(_)).then_some(self)
    }

    /// The shape of member `key` of an object of this shape (`None`: anything goes), or the
    /// error if Go would take `key` for a field it is not. Wrong JSON types are left to the
    /// typed parser, which reports them precisely; duplicate names never get here (the
    /// scanner refuses them).
    pub(super) fn member(&'static self, key: &str) -> Result<Option<&'static Shape>, Error> {
        match self {
            Struct(fields) => {
                if let Some((_, shape)) = fields.iter().find(|(name, _)| *name == key) {
                    return Ok(shape.described());
                }
                match fields.iter().find(|(name, _)| folds_to(key, name)) {
                    Some((name, _)) => Err(malformed(format!(
                        "field {:?} differs from {name:?} only in case",
                        excerpt(key)
                    ))),
                    None => Ok(None),
                }
            }
            Map(inner) => Ok(inner.described()),
            List(_) | Any => Ok(None),
        }
    }

    /// The shape of the items of an array of this shape.
    pub(super) fn item(&'static self) -> Option<&'static Shape> {
        match self {
            List(inner) => inner.described(),
            _ => None,
        }
    }

    /// `None` for [`Any`], which nothing needs to be checked against.
    fn described(&'static self) -> Option<&'static Shape> {
        (!matches!(self, Any)).then_some(self)
    }
}

/// Whether Go's field matching would take `key` for the (lower-case ASCII) field `name`.
fn folds_to(key: &str, name: &str) -> bool {
    let folded = key.chars().map(|c| match c {
        '\u{212A}' => 'k', // KELVIN SIGN
        '\u{17F}' => 's',  // LATIN SMALL LETTER LONG S
        c => c.to_ascii_lowercase(),
    });
    folded.eq(name.chars())
}

fn malformed(message: String) -> Error {
    Error::Malformed(message)
}
