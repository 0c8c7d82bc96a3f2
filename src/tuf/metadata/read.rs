//! The first reading of a metadata file: one pass of the scanner that checks the field names
//! (`shape`), finds `signed._type` and writes the canonical bytes of `signed`, without a tree.
//!
//! A tree of a targets file of many entries takes about eight times the file; this pass holds
//! the canonical bytes (about the file's size) and a few words per member of the largest open
//! object, so that the typed parse after it is the only large thing a file costs.

use crate::tuf::cjson::{self, CanonicalWriter, Scalar, Visitor};
use crate::tuf::error::Error;
use crate::tuf::metadata::shape::{self, Shape};

/// What the pass found, each check's first failure kept in document order.
pub(super) struct Outline {
    /// The first field name Go would read differently.
    pub shape: Result<(), Error>,
    /// Whether the top-level object has a `signed` member.
    pub has_signed: bool,
    /// `signed._type`, if `signed` is an object whose `_type` is a string.
    pub signed_type: Option<String>,
    /// The canonical bytes of `signed` (empty without one), or the first number they cannot
    /// hold.
    pub canonical: Result<Vec<u8>, Error>,
}

/// Scans `bytes`, checking names against the layout of a `type_name` file; fails only on what
/// [`cjson::parse`] refuses.
pub(super) fn outline(bytes: &[u8], type_name: &str) -> Result<Outline, Error> {
    let mut reader = Reader {
        envelope: shape::envelope(type_name),
        open: Vec::new(),
        next: None,
        shape: Ok(()),
        route: Route::Before,
        has_signed: false,
        type_next: false,
        signed_type: None,
        writer: CanonicalWriter::new(),
    };
    cjson::scan(bytes, &mut reader)?;
    Ok(Outline {
        shape: reader.shape,
        has_signed: reader.has_signed,
        signed_type: reader.signed_type,
        canonical: reader.writer.finish(),
    })
}

/// Where the reader is relative to the top-level `signed` member.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Route {
    /// Not reached yet (or reached and passed: names are unique).
    Before,
    /// Its name was just read: the next value is it.
    Next,
    /// Inside it: it opened when this many containers were open.
    Inside(usize),
}

/// An open container and the shape it is checked against (`None`: anything goes).
struct Open {
    object: bool,
    shape: Option<&'static Shape>,
}

struct Reader {
    envelope: &'static Shape,
    open: Vec<Open>,
    /// The shape of the value of the member whose name was just read.
    next: Option<&'static Shape>,
    shape: Result<(), Error>,
    route: Route,
    has_signed: bool,
    /// Whether the next value is `signed._type`.
    type_next: bool,
    signed_type: Option<String>,
    writer: CanonicalWriter,
}

impl Reader {
    /// The shape the value starting now is checked against.
    fn value_shape(&mut self) -> Option<&'static Shape> {
        self.type_next = false;
        match self.open.last() {
            None => Some(self.envelope),
            Some(Open { object: true, .. }) => self.next.take(),
            Some(Open { shape, .. }) => shape.and_then(Shape::item),
        }
    }

    /// Whether the writer is to see the value starting now, entering `signed` if it is it.
    fn enter(&mut self) -> bool {
        match self.route {
            Route::Next => {
                self.route = Route::Inside(self.open.len());
                true
            }
            Route::Inside(_) => true,
            Route::Before => false,
        }
    }

    /// Closes the innermost container; whether the writer saw it.
    fn close(&mut self) -> bool {
        self.open.pop();
        match self.route {
            Route::Inside(at) => {
                if self.open.len() == at {
                    self.route = Route::Before;
                }
                true
            }
            _ => false,
        }
    }

    fn begin(&mut self, object: bool) -> bool {
        let shape = self
            .value_shape()
            .and_then(|s| if object { s.of_object() } else { s.of_array() });
        let write = self.enter();
        self.open.push(Open { object, shape });
        write
    }
}

impl Visitor for Reader {
    fn scalar(&mut self, scalar: Scalar<'_>) {
        let is_type = self.type_next;
        self.value_shape();
        if is_type {
            if let Scalar::String(text) = scalar {
                self.signed_type = Some(text.to_owned());
            }
        }
        if self.enter() {
            self.writer.scalar(scalar);
            if self.route == Route::Inside(self.open.len()) {
                self.route = Route::Before; // `signed` was this scalar
            }
        }
    }

    fn begin_array(&mut self) {
        if self.begin(false) {
            self.writer.begin_array();
        }
    }

    fn end_array(&mut self) {
        if self.close() {
            self.writer.end_array();
        }
    }

    fn begin_object(&mut self) {
        if self.begin(true) {
            self.writer.begin_object();
        }
    }

    fn key(&mut self, key: &str) {
        let depth = self.open.len();
        if let Some(Open {
            shape: Some(shape), ..
        }) = self.open.last()
        {
            match shape.member(key) {
                Ok(next) => self.next = next,
                Err(e) => {
                    self.next = None;
                    if self.shape.is_ok() {
                        self.shape = Err(e);
                    }
                }
            }
        } else {
            self.next = None;
        }
        match self.route {
            Route::Before if depth == 1 && key == "signed" => {
                self.has_signed = true;
                self.route = Route::Next;
            }
            Route::Inside(at) => {
                // `signed` opened with one container (the document) open.
                self.type_next = at == 1 && depth == 2 && key == "_type";
                self.writer.key(key);
            }
            _ => {}
        }
    }

    fn end_object(&mut self) {
        if self.close() {
            self.writer.end_object();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tuf::fixtures;

    #[test]
    fn canonical_signed_and_type_of_every_fixture() {
        for fixture in fixtures::all() {
            let tree = cjson::parse(&fixture.bytes).expect("parses");
            let signed = tree.get("signed").expect("signed");
            let outline = outline(&fixture.bytes, "Targets").expect("scans");
            assert!(outline.has_signed);
            assert_eq!(
                outline.signed_type.as_deref(),
                signed.get("_type").and_then(cjson::Value::as_str)
            );
            assert_eq!(
                outline.canonical.expect("writes"),
                cjson::encode(signed).expect("encodes")
            );
        }
    }

    #[test]
    fn only_the_top_level_signed_counts() {
        let doc = br#"{"x":{"signed":{"_type":"Root"}},"signatures":[{"_type":"Root"}]}"#;
        let outline = outline(doc, "Root").expect("scans");
        assert!(!outline.has_signed);
        assert_eq!(outline.signed_type, None);
        assert_eq!(outline.canonical.expect("nothing to write"), b"");

        let doc = br#"{"signed":{"a":{"_type":"Root"},"_type":7},"signatures":[]}"#;
        let outline = super::outline(doc, "Root").expect("scans");
        assert!(outline.has_signed);
        assert_eq!(outline.signed_type, None, "_type is not a string");

        let doc = br#"{"signatures":[],"signed":"text"}"#;
        let outline = super::outline(doc, "Root").expect("scans");
        assert_eq!(outline.canonical.expect("a string"), b"\"text\"");
    }

    #[test]
    fn names_are_checked_where_go_decodes_structs_only() {
        let shape = |doc: &str| outline(doc.as_bytes(), "Targets").expect("scans").shape;
        for refused in [
            r#"{"signed":{"Version":1},"signatures":[]}"#,
            r#"{"signed":{},"signatures":[{"KeyID":"x"}]}"#,
            r#"{"signed":{"targets":{"t":{"Length":1}}},"signatures":[]}"#,
            r#"{"signed":{"delegations":{"roles":[{"Paths":[]}]}},"signatures":[]}"#,
        ] {
            shape(refused).expect_err(refused);
        }
        shape(r#"{"signed":{"targets":{"Version":{"custom":{"Length":1}}}},"signatures":[]}"#)
            .expect("target names and custom are free");
        shape(r#"{"signed":{"version":[{"Version":1}]},"signatures":{"KeyID":1}}"#)
            .expect("wrong JSON types are the typed parse's to report");
    }
}
