//! [`CanonicalWriter`]: canonical JSON written while a document is scanned, without a tree.
//!
//! A tree of a large targets file takes several times the file's size (each small object is a
//! few allocations); this writer holds only its output and, per open object, where each member
//! starts in it. Members are written as they come; an object whose names did not arrive in
//! canonical order (clients normally send them sorted) is put in order when it closes.

use std::cmp::Ordering;

use crate::tuf::cjson::parser::{Scalar, Visitor};
use crate::tuf::cjson::{canonical_integer, write_string};
use crate::tuf::error::Error;

/// A [`Visitor`] that writes the canonical JSON of what it is shown: the bytes
/// [`encode`](super::encode) writes for the [`parse`](super::parse) of the same document.
#[derive(Debug, Default)]
pub struct CanonicalWriter {
    out: Vec<u8>,
    /// The open containers; entries past `depth` are kept to reuse their lists.
    open: Vec<Open>,
    depth: usize,
    /// The first number canonical JSON cannot write, in document order.
    error: Option<Error>,
}

#[derive(Debug, Default)]
struct Open {
    /// An object (else an array).
    object: bool,
    /// Where the container's contents start in the output (just after `[` or `{`).
    start: usize,
    /// Values written so far (arrays).
    items: usize,
    /// Where each member starts (at its name's quote) and ends (objects).
    members: Vec<(usize, usize)>,
    /// Whether the members arrived in canonical order so far.
    sorted: bool,
}

impl CanonicalWriter {
    /// A writer with nothing written.
    pub fn new() -> CanonicalWriter {
        CanonicalWriter::default()
    }

    /// The canonical bytes, or the first number canonical JSON cannot represent.
    pub fn finish(self) -> Result<Vec<u8>, Error> {
        match self.error {
            Some(error) => Err(error),
            None => Ok(self.out),
        }
    }

    /// The separator before a value: a comma between array items (members get theirs in `key`).
    fn before_value(&mut self) {
        let Some(open) = self.depth.checked_sub(1).map(|i| &mut self.open[i]) else {
            return;
        };
        if !open.object {
            if open.items > 0 {
                self.out.push(b',');
            }
            open.items += 1;
        }
    }

    fn begin(&mut self, object: bool) {
        self.before_value();
        self.out.push(if object { b'{' } else { b'[' });
        if self.open.len() == self.depth {
            self.open.push(Open::default());
        }
        let open = &mut self.open[self.depth];
        open.object = object;
        open.start = self.out.len();
        open.items = 0;
        open.members.clear();
        open.sorted = true;
        self.depth += 1;
    }
}

impl Visitor for CanonicalWriter {
    fn scalar(&mut self, scalar: Scalar<'_>) {
        self.before_value();
        match scalar {
            Scalar::Null => self.out.extend_from_slice(b"null"),
            Scalar::Bool(true) => self.out.extend_from_slice(b"true"),
            Scalar::Bool(false) => self.out.extend_from_slice(b"false"),
            Scalar::Number(text) => match canonical_integer(text) {
                Ok(n) => self.out.extend_from_slice(n.to_string().as_bytes()),
                Err(e) => {
                    self.error.get_or_insert(e);
                }
            },
            Scalar::String(text) => write_string(text, &mut self.out),
        }
    }

    fn begin_array(&mut self) {
        self.begin(false);
    }

    fn end_array(&mut self) {
        self.depth = self.depth.saturating_sub(1);
        self.out.push(b']');
    }

    fn begin_object(&mut self) {
        self.begin(true);
    }

    fn key(&mut self, key: &str) {
        let Some(open) = self.depth.checked_sub(1).map(|i| &mut self.open[i]) else {
            return;
        };
        if let Some(last) = open.members.last_mut() {
            last.1 = self.out.len();
            self.out.push(b',');
        }
        let start = self.out.len();
        write_string(key, &mut self.out);
        self.out.push(b':');
        if let Some(&(previous, _)) = open.members.last() {
            if compare_names(&self.out[previous..], &self.out[start..]) != Ordering::Less {
                open.sorted = false;
            }
        }
        open.members.push((start, usize::MAX));
    }

    fn end_object(&mut self) {
        let Some(level) = self.depth.checked_sub(1) else {
            return;
        };
        let open = &mut self.open[level];
        if let Some(last) = open.members.last_mut() {
            last.1 = self.out.len();
        }
        if !open.sorted {
            reorder(&mut self.out, open.start, &mut open.members);
        }
        self.depth = level;
        self.out.push(b'}');
    }
}

/// Rewrites the members of the object whose contents start at `start` (and run to the end of
/// `out`) in canonical order.
fn reorder(out: &mut Vec<u8>, start: usize, members: &mut [(usize, usize)]) {
    let written = out.split_off(start);
    let at = |(from, to): (usize, usize)| &written[from - start..to - start];
    // The scanner refused duplicate names, so no two compare equal.
    members.sort_unstable_by(|&a, &b| compare_names(at(a), at(b)));
    for (i, &member) in members.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(at(member));
    }
}

/// Orders two written members by their names' unescaped bytes, as canonical JSON sorts them.
/// Each slice starts at the opening quote of a name that [`write_string`] wrote.
fn compare_names(a: &[u8], b: &[u8]) -> Ordering {
    name_bytes(a).cmp(name_bytes(b))
}

/// The unescaped bytes of the written name at the start of `member`.
fn name_bytes(member: &[u8]) -> impl Iterator<Item = u8> + '_ {
    let mut bytes = member.iter().copied().skip(1);
    std::iter::from_fn(move || match bytes.next()? {
        b'"' => None,
        b'\\' => bytes.next(),
        b => Some(b),
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::tuf::cjson::{encode, parse, quote, scan, Value};
    use crate::tuf::fixtures;

    fn written(bytes: &[u8]) -> Result<Vec<u8>, Error> {
        let mut writer = CanonicalWriter::new();
        scan(bytes, &mut writer)?;
        writer.finish()
    }

    /// `value` as ordinary JSON, members in the order given.
    fn text(value: &Value, out: &mut String) {
        match value {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Number(n) => out.push_str(n.as_str()),
            Value::String(s) => out.push_str(&quote(s)),
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    text(item, out);
                }
                out.push(']');
            }
            Value::Object(members) => {
                out.push_str("{ ");
                for (i, (key, item)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&quote(key));
                    out.push(':');
                    text(item, out);
                }
                out.push('}');
            }
        }
    }

    #[test]
    fn writes_what_encode_writes_for_every_fixture() {
        for fixture in fixtures::all() {
            let tree = encode(&parse(&fixture.bytes).expect("parses")).expect("encodes");
            assert_eq!(written(&fixture.bytes).expect("writes"), tree);
        }
    }

    #[test]
    fn unsorted_and_escaped_names_are_put_in_order() {
        let input = br#"{"z":{"b":[1,{"y":2,"x":[]}],"a":null},"a\"q":4,"a":"\u003c\n","a!":[]}"#;
        let expected = "{\"a\":\"<\n\",\"a!\":[],\"a\\\"q\":4,\"z\":{\"a\":null,\"b\":[1,{\"x\":[],\"y\":2}]}}";
        assert_eq!(written(input).expect("writes"), expected.as_bytes());
        assert_eq!(
            written(br#"{"b":1,"a":2.5,"c":1.5}"#).expect_err("fractions"),
            Error::UnsupportedValue("2.5".into()),
            "the first in document order"
        );
    }

    /// Values whose objects list distinct names in any order.
    fn unsorted_value() -> impl Strategy<Value = Value> {
        let key = prop_oneof![any::<String>(), "[ab!\"\\\\ ]{0,3}"];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i32>().prop_map(|n| Value::int(n.into())),
            any::<String>().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((key.clone(), inner), 0..6).prop_map(|mut members| {
                    let mut seen = std::collections::BTreeSet::new();
                    members.retain(|(k, _)| seen.insert(k.clone()));
                    Value::Object(members)
                }),
            ]
        })
    }

    proptest! {
        /// Writing while scanning gives the bytes of encoding the parsed tree.
        #[test]
        fn equals_encode_of_the_tree(value in unsorted_value()) {
            let mut json = String::new();
            text(&value, &mut json);
            let tree = encode(&parse(json.as_bytes()).expect("valid JSON")).expect("encodes");
            prop_assert_eq!(written(json.as_bytes()).expect("writes"), tree);
        }
    }
}
