//! [`parse`]: a whole document as a [`Value`] tree, for the small documents whose values are
//! looked at one by one (tests, keys, configuration). Large metadata is never held as a tree:
//! see [`CanonicalWriter`](super::CanonicalWriter).

use crate::tuf::cjson::parser::{scan, Scalar, Visitor};
use crate::tuf::cjson::{Number, Value};
use crate::tuf::error::Error;

/// Parses one JSON document (see [`scan`] for how strict it is) into a tree that keeps number
/// literals.
pub fn parse(bytes: &[u8]) -> Result<Value, Error> {
    let mut builder = Builder::default();
    scan(bytes, &mut builder)?;
    // A document that scanned holds exactly one value.
    builder.done.ok_or(Error::Json {
        offset: 0,
        reason: "unexpected end of input",
    })
}

/// An open container, with the name of its next member if it is an object.
enum Open {
    Array(Vec<Value>),
    Object(Vec<(String, Value)>, String),
}

#[derive(Default)]
struct Builder {
    open: Vec<Open>,
    done: Option<Value>,
}

impl Builder {
    fn add(&mut self, value: Value) {
        match self.open.last_mut() {
            None => self.done = Some(value),
            Some(Open::Array(items)) => items.push(value),
            Some(Open::Object(members, key)) => members.push((std::mem::take(key), value)),
        }
    }
}

impl Visitor for Builder {
    fn scalar(&mut self, scalar: Scalar<'_>) {
        self.add(match scalar {
            Scalar::Null => Value::Null,
            Scalar::Bool(b) => Value::Bool(b),
            // The scanner checked the literal, as `Number::parse` would.
            Scalar::Number(text) => Value::Number(Number(text.to_owned())),
            Scalar::String(text) => Value::String(text.to_owned()),
        });
    }

    fn begin_array(&mut self) {
        self.open.push(Open::Array(Vec::new()));
    }

    fn end_array(&mut self) {
        if let Some(Open::Array(items)) = self.open.pop() {
            self.add(Value::Array(items));
        }
    }

    fn begin_object(&mut self) {
        self.open.push(Open::Object(Vec::new(), String::new()));
    }

    fn key(&mut self, key: &str) {
        if let Some(Open::Object(_, next)) = self.open.last_mut() {
            key.clone_into(next);
        }
    }

    fn end_object(&mut self) {
        if let Some(Open::Object(members, _)) = self.open.pop() {
            self.add(Value::Object(members));
        }
    }
}
