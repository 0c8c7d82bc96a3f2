//! Refuses field names that Go would read differently from us (docs/protocol.md §5.5 "Decoding notes").
//!
//! Go's decoder matches struct fields case-insensitively (`"Version"` fills `version`; even the
//! Kelvin sign folds to `k` and the long s to `s`), while this crate's typed parsing matches
//! exactly. A file with `"version":2,"Version":9` would mean version 2 here and 9 to a Go
//! client, so any key that folds to a known field without being it is malformed, and so is a
//! known field given twice. Only the objects that Go decodes into structs are checked; maps
//! (`targets`, `keys`, `meta`, …) and `custom` keep arbitrary keys.

use crate::tuf::cjson::Value;
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

/// Checks a whole file whose `signed._type` should be `type_name`.
pub(super) fn check_envelope(document: &Value, type_name: &str) -> Result<(), Error> {
    let shape = match type_name {
        "Root" => &ROOT_ENVELOPE,
        "Targets" => &TARGETS_ENVELOPE,
        _ => &META_ENVELOPE,
    };
    check(document, shape)
}

fn check(value: &Value, shape: &Shape) -> Result<(), Error> {
    match (shape, value) {
        (Struct(fields), Value::Object(members)) => {
            let mut seen = vec![false; fields.len()];
            for (key, item) in members {
                match fields.iter().position(|(name, _)| name == key) {
                    Some(i) => {
                        if std::mem::replace(&mut seen[i], true) {
                            return Err(malformed(format!("duplicate field {key:?}")));
                        }
                        check(item, &fields[i].1)?;
                    }
                    None => {
                        if let Some((name, _)) = fields.iter().find(|(name, _)| folds_to(key, name))
                        {
                            return Err(malformed(format!(
                                "field {:?} differs from {name:?} only in case",
                                excerpt(key)
                            )));
                        }
                    }
                }
            }
            Ok(())
        }
        (Map(inner), Value::Object(members)) => {
            members.iter().try_for_each(|(_, item)| check(item, inner))
        }
        (List(inner), Value::Array(items)) => items.iter().try_for_each(|item| check(item, inner)),
        // Wrong JSON types are left to the typed parser, which reports them precisely.
        _ => Ok(()),
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
