//! Canonical JSON exactly as notary signs and verifies it (docker/go `canonical/json`, docs/protocol.md §5).
//!
//! Notary verifies a signature over its *re-encoding* of the decoded `signed` object, never over
//! the bytes that travelled. So this module keeps a small value tree whose numbers are source
//! text and writes it with the reference's rules:
//!
//! - object members sorted by the raw UTF-8 bytes of the unescaped key (Go string `<`); when a
//!   key appears twice the last member wins (Go decodes into a map);
//! - no whitespace; strings escape only `"` and `\`, every other byte is written raw (control
//!   characters, `<>&`, U+2028, non-ASCII) and nothing is Unicode-normalised;
//! - every number goes through float64 and is written as the decimal int64 of that float:
//!   `2.0` → `2`, `1e3` → `1000`, `-0` → `0`, `9007199254740993` → `9007199254740992`; a
//!   fractional or non-finite value is an error (`json: unsupported value: 2.5`).
//!
//! This is deliberately not OLPC canonical JSON (`olpc-cjson`), whose key order and number rules
//! differ and break verification of real client files (docs/protocol.md §5.5).

mod parser;
mod tree;
mod writer;

pub use parser::{scan, Scalar, Visitor};
pub use tree::parse;
pub use writer::CanonicalWriter;

use crate::tuf::error::Error;

/// Deepest nesting of arrays and objects accepted by [`parse`] and [`encode`].
///
/// Real metadata nests about five levels (plus whatever a target's `custom` holds); the bound
/// keeps recursion, and so stack use, small on hostile input.
pub const MAX_DEPTH: usize = 64;

/// A decoded JSON value, as notary's verifier sees it before re-encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, kept as its source text.
    Number(Number),
    /// A string, unescaped.
    String(String),
    /// An array, in order.
    Array(Vec<Value>),
    /// An object's members in source order. The parser refuses duplicate names; for values
    /// built otherwise, the last one wins when encoding or looking up, as in Go's decoding.
    Object(Vec<(String, Value)>),
}

/// A JSON number literal, kept byte-for-byte so it can be re-checked and re-written.
///
/// Equality compares the literal, so `2` and `2.0` differ here although they encode alike.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Number(String);

impl Number {
    /// Checks `text` against the JSON number grammar and float64 range (Go's decoder rejects
    /// numbers that overflow float64).
    pub fn parse(text: &str) -> Result<Number, Error> {
        if !is_json_number(text.as_bytes()) {
            return Err(Error::Json {
                offset: 0,
                reason: "not a JSON number",
            });
        }
        let number = Number(text.to_owned());
        if !number.as_f64().is_finite() {
            return Err(Error::Json {
                offset: 0,
                reason: "number out of range",
            });
        }
        Ok(number)
    }

    /// The literal as it appeared.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The value as Go's decoder holds it: the nearest float64 (correctly rounded).
    pub fn as_f64(&self) -> f64 {
        // Every Number was checked against the JSON grammar, which Rust's float parser accepts;
        // NaN (never produced by such text) makes the canonical check below fail.
        self.0.parse::<f64>().unwrap_or(f64::NAN)
    }

    /// The integer canonical JSON writes for this number (the float64 rule of docs/protocol.md §5.1).
    ///
    /// Off-spec: Go's conversion of floats beyond int64 is undefined; those are rejected here.
    pub fn canonical(&self) -> Result<i64, Error> {
        canonical_integer(&self.0)
    }
}

/// [`Number::canonical`] of a literal that passed the JSON number grammar.
fn canonical_integer(text: &str) -> Result<i64, Error> {
    const LIMIT: f64 = 9_223_372_036_854_775_808.0; // 2^63
    let f = text.parse::<f64>().unwrap_or(f64::NAN);
    if !f.is_finite() || f.fract() != 0.0 || !(-LIMIT..LIMIT).contains(&f) {
        return Err(Error::UnsupportedValue(crate::tuf::error::excerpt(text)));
    }
    // In range and integral, so the conversion is exact; -0.0 becomes 0.
    Ok(f as i64)
}

impl From<i64> for Number {
    fn from(n: i64) -> Number {
        Number(n.to_string())
    }
}

impl From<u64> for Number {
    fn from(n: u64) -> Number {
        Number(n.to_string())
    }
}

impl std::fmt::Display for Number {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Value {
    /// Builds an object from `(key, value)` pairs, for server-generated metadata.
    pub fn object<K: Into<String>>(members: Vec<(K, Value)>) -> Value {
        Value::Object(members.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// Builds a string value.
    pub fn string(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }

    /// Builds an integer value.
    pub fn int(n: i64) -> Value {
        Value::Number(Number::from(n))
    }

    /// The member `key` of an object (the last one if repeated, like Go's map decoding).
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(members) => members.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The text of a string value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The members of an object, in source order.
    pub fn as_object(&self) -> Option<&[(String, Value)]> {
        match self {
            Value::Object(members) => Some(members),
            _ => None,
        }
    }

    /// The items of an array.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }
}

/// Writes `value` as canonical JSON (docs/protocol.md §5.1): the bytes notary signs.
///
/// Fails on numbers canonical JSON cannot represent and on nesting deeper than [`MAX_DEPTH`].
pub fn encode(value: &Value) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    write_value(value, &mut out, 0)?;
    Ok(out)
}

/// Writes `s` as an ordinary JSON string literal (quotes, `\"`, `\\` and `\u00XX` for control
/// characters) — for transport envelopes, which must be valid JSON, not for signed bytes.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The members of an object as canonical JSON writes them: sorted by raw key bytes, one per key,
/// the last occurrence winning.
pub fn canonical_members(members: &[(String, Value)]) -> Vec<&(String, Value)> {
    let mut sorted: Vec<&(String, Value)> = members.iter().collect();
    // Stable, so equal keys keep source order and the last of each run is the last in source.
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut out: Vec<&(String, Value)> = Vec::with_capacity(sorted.len());
    for member in sorted {
        match out.last_mut() {
            Some(last) if last.0 == member.0 => *last = member,
            _ => out.push(member),
        }
    }
    out
}

fn write_value(value: &Value, out: &mut Vec<u8>, depth: usize) -> Result<(), Error> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => out.extend_from_slice(n.canonical()?.to_string().as_bytes()),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            if depth >= MAX_DEPTH {
                return Err(Error::TooDeep(MAX_DEPTH));
            }
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out, depth + 1)?;
            }
            out.push(b']');
        }
        Value::Object(members) => {
            if depth >= MAX_DEPTH {
                return Err(Error::TooDeep(MAX_DEPTH));
            }
            out.push(b'{');
            for (i, (key, item)) in canonical_members(members).into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(key, out);
                out.push(b':');
                write_value(item, out, depth + 1)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

/// Canonical strings escape only `"` and `\`; every other byte goes out raw.
fn write_string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for &b in s.as_bytes() {
        if b == b'"' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
}

/// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, the whole of `text`.
fn is_json_number(text: &[u8]) -> bool {
    parser::number_len(text) == Some(text.len())
}

#[cfg(test)]
mod tests;
