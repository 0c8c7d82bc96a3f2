//! A small strict JSON scanner that reports a document's parts to a [`Visitor`] as it reads
//! them, without building anything itself: [`parse`](super::parse) builds a tree from them,
//! [`CanonicalWriter`](super::CanonicalWriter) writes canonical JSON straight from them.
//!
//! Stricter than Go's decoder, on purpose and documented:
//! - invalid UTF-8 and lone surrogate escapes are rejected (Go replaces them with U+FFFD, which
//!   would make the signed bytes differ from what a byte-preserving store holds);
//! - anything but whitespace after the first value is rejected (Go reads the first value and
//!   ignores the rest);
//! - a member name given twice in one object is rejected (Go keeps the last, other decoders the
//!   first, so a signed file with duplicates could mean different things to different readers);
//! - nesting is limited to [`MAX_DEPTH`] (Go allows 10000).

use std::borrow::Cow;

use crate::tuf::cjson::MAX_DEPTH;
use crate::tuf::error::Error;

/// A value that holds no other values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scalar<'s> {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number literal, checked against the JSON grammar and float64 range.
    Number(&'s str),
    /// A string, unescaped.
    String(&'s str),
}

/// Told the parts of a document in order by [`scan`]. Every object member is `key` followed by
/// its value; containers are bracketed by their `begin_`/`end_` calls. A document [`scan`]
/// refuses may have been partly shown: what a visitor gathered is then to be thrown away.
pub trait Visitor {
    /// A scalar value.
    fn scalar(&mut self, scalar: Scalar<'_>);
    /// The start of an array.
    fn begin_array(&mut self);
    /// The end of the innermost array.
    fn end_array(&mut self);
    /// The start of an object.
    fn begin_object(&mut self);
    /// The (unescaped) name of the next member of the innermost object.
    fn key(&mut self, key: &str);
    /// The end of the innermost object, whose names were all distinct.
    fn end_object(&mut self);
}

/// Reads one JSON document, showing it to `visitor`. Leading and trailing whitespace is allowed,
/// nothing else.
pub fn scan<V: Visitor>(bytes: &[u8], visitor: &mut V) -> Result<(), Error> {
    let mut parser = Parser {
        bytes,
        pos: 0,
        names: Vec::new(),
    };
    parser.value(0, visitor)?;
    parser.skip_whitespace();
    if parser.pos != bytes.len() {
        return Err(parser.error("unexpected data after the JSON value"));
    }
    Ok(())
}

/// Length of the JSON number at the start of `bytes`, if one is there.
pub(super) fn number_len(bytes: &[u8]) -> Option<usize> {
    let digits = |from: usize| {
        bytes[from..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count()
    };
    let mut pos = 0;
    if bytes.first() == Some(&b'-') {
        pos += 1;
    }
    match bytes.get(pos) {
        Some(b'0') => pos += 1,
        Some(b'1'..=b'9') => pos += digits(pos),
        _ => return None,
    }
    if bytes.get(pos) == Some(&b'.') {
        let n = digits(pos + 1);
        if n == 0 {
            return None;
        }
        pos += 1 + n;
    }
    if matches!(bytes.get(pos), Some(b'e' | b'E')) {
        pos += 1;
        if matches!(bytes.get(pos), Some(b'+' | b'-')) {
            pos += 1;
        }
        let n = digits(pos);
        if n == 0 {
            return None;
        }
        pos += n;
    }
    Some(pos)
}

struct Parser<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// The member names of the open objects, one list per nesting level, kept for the
    /// duplicate check and reused from one object to the next. Borrowed from the input unless
    /// they held escapes.
    names: Vec<Vec<Cow<'a, str>>>,
}

impl<'a> Parser<'a> {
    fn error(&self, reason: &'static str) -> Error {
        Error::Json {
            offset: self.pos,
            reason,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, byte: u8, reason: &'static str) -> Result<(), Error> {
        self.skip_whitespace();
        if self.peek() != Some(byte) {
            return Err(self.error(reason));
        }
        self.pos += 1;
        Ok(())
    }

    /// One value; `depth` counts the arrays and objects around it.
    fn value<V: Visitor>(&mut self, depth: usize, visitor: &mut V) -> Result<(), Error> {
        self.skip_whitespace();
        match self.peek() {
            None => Err(self.error("unexpected end of input")),
            Some(b'{') => self.object(Self::deeper(depth)?, visitor),
            Some(b'[') => self.array(Self::deeper(depth)?, visitor),
            Some(b'"') => {
                let text = self.string()?;
                visitor.scalar(Scalar::String(&text));
                Ok(())
            }
            Some(b't') => self.literal("true", Scalar::Bool(true), visitor),
            Some(b'f') => self.literal("false", Scalar::Bool(false), visitor),
            Some(b'n') => self.literal("null", Scalar::Null, visitor),
            Some(b'-' | b'0'..=b'9') => self.number(visitor),
            Some(_) => Err(self.error("unexpected character")),
        }
    }

    fn deeper(depth: usize) -> Result<usize, Error> {
        if depth >= MAX_DEPTH {
            return Err(Error::TooDeep(MAX_DEPTH));
        }
        Ok(depth + 1)
    }

    fn literal<V: Visitor>(
        &mut self,
        word: &'static str,
        value: Scalar<'static>,
        visitor: &mut V,
    ) -> Result<(), Error> {
        if !self.bytes[self.pos..].starts_with(word.as_bytes()) {
            return Err(self.error("invalid literal"));
        }
        self.pos += word.len();
        visitor.scalar(value);
        Ok(())
    }

    fn number<V: Visitor>(&mut self, visitor: &mut V) -> Result<(), Error> {
        let rest = &self.bytes[self.pos..];
        let len = number_len(rest).ok_or_else(|| self.error("invalid number"))?;
        // The grammar admits only ASCII, so this cannot fail.
        let text = std::str::from_utf8(&rest[..len]).map_err(|_| self.error("invalid number"))?;
        // Go's decoder refuses numbers that overflow float64.
        if !text.parse::<f64>().is_ok_and(f64::is_finite) {
            return Err(self.error("number out of range"));
        }
        self.pos += len;
        visitor.scalar(Scalar::Number(text));
        Ok(())
    }

    fn array<V: Visitor>(&mut self, depth: usize, visitor: &mut V) -> Result<(), Error> {
        self.pos += 1; // '['
        visitor.begin_array();
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.pos += 1;
            visitor.end_array();
            return Ok(());
        }
        loop {
            self.value(depth, visitor)?;
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    visitor.end_array();
                    return Ok(());
                }
                _ => return Err(self.error("expected ',' or ']'")),
            }
        }
    }

    fn object<V: Visitor>(&mut self, depth: usize, visitor: &mut V) -> Result<(), Error> {
        self.pos += 1; // '{'
        visitor.begin_object();
        // `depth` is at least 1 inside an object: level `depth - 1` holds its names.
        let level = depth - 1;
        if self.names.len() <= level {
            self.names.resize_with(level + 1, Vec::new);
        }
        let mut names = std::mem::take(&mut self.names[level]);
        names.clear();
        let result = self.members(depth, visitor, &mut names);
        self.names[level] = names;
        result
    }

    fn members<V: Visitor>(
        &mut self,
        depth: usize,
        visitor: &mut V,
        names: &mut Vec<Cow<'a, str>>,
    ) -> Result<(), Error> {
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            visitor.end_object();
            return Ok(());
        }
        loop {
            self.skip_whitespace();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a string key"));
            }
            let key = self.string()?;
            visitor.key(&key);
            names.push(key);
            self.expect(b':', "expected ':'")?;
            self.value(depth, visitor)?;
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    if has_duplicates(names) {
                        return Err(self.error("duplicate member name"));
                    }
                    visitor.end_object();
                    return Ok(());
                }
                _ => return Err(self.error("expected ',' or '}'")),
            }
        }
    }

    /// A string starting at the opening quote: borrowed from the input when it holds no
    /// escapes, as nearly every string in metadata does.
    fn string(&mut self) -> Result<Cow<'a, str>, Error> {
        self.pos += 1; // '"'
        let mut out: Option<String> = None;
        loop {
            let start = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            // Runs end at ASCII bytes, which never split a UTF-8 sequence, so checking each run
            // on its own is the same as checking the whole string.
            let bytes = self.bytes;
            let run = std::str::from_utf8(&bytes[start..self.pos]).map_err(|e| Error::Json {
                offset: start + e.valid_up_to(),
                reason: "invalid UTF-8 in string",
            })?;
            match self.peek() {
                None => return Err(self.error("unterminated string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(match out {
                        None => Cow::Borrowed(run),
                        Some(mut text) => {
                            text.push_str(run);
                            Cow::Owned(text)
                        }
                    });
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let c = self.escape()?;
                    let text = out.get_or_insert_with(String::new);
                    text.push_str(run);
                    text.push(c);
                }
                Some(_) => return Err(self.error("control character in string")),
            }
        }
    }

    /// The character of an escape whose backslash was just consumed.
    fn escape(&mut self) -> Result<char, Error> {
        let byte = self
            .peek()
            .ok_or_else(|| self.error("unterminated string"))?;
        self.pos += 1;
        Ok(match byte {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => return self.unicode_escape(),
            _ => return Err(self.error("invalid escape")),
        })
    }

    /// `\uXXXX`, or a surrogate pair `\uD8xx\uDCxx`; a lone surrogate is an error.
    fn unicode_escape(&mut self) -> Result<char, Error> {
        let high = self.hex4()?;
        let code = match high {
            0xD800..=0xDBFF => {
                if !self.bytes[self.pos..].starts_with(b"\\u") {
                    return Err(self.error("lone surrogate in \\u escape"));
                }
                self.pos += 2;
                let low = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&low) {
                    return Err(self.error("lone surrogate in \\u escape"));
                }
                0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
            }
            0xDC00..=0xDFFF => return Err(self.error("lone surrogate in \\u escape")),
            _ => high,
        };
        char::from_u32(code).ok_or_else(|| self.error("invalid \\u escape"))
    }

    fn hex4(&mut self) -> Result<u32, Error> {
        let digits = self
            .bytes
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.error("truncated \\u escape"))?;
        let mut code = 0;
        for &d in digits {
            let v = char::from(d)
                .to_digit(16)
                .ok_or_else(|| self.error("invalid \\u escape"))?;
            code = code * 16 + v;
        }
        self.pos += 4;
        Ok(code)
    }
}

/// Whether two of `names` are equal (sorts them).
fn has_duplicates(names: &mut [Cow<'_, str>]) -> bool {
    if names.len() < 2 {
        return false;
    }
    names.sort_unstable();
    names.windows(2).any(|pair| pair[0] == pair[1])
}
