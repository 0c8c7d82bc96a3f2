//! File meta: hashes and length of a target or of another role's file (docs/protocol.md §4.5, §4.10).
//!
//! A targets file lists one of these per target, often hundreds of thousands, so the form is
//! compact: the two digests clients check are held in place (no map, no allocation per entry
//! when their sizes are right), and other hash names, which notary clients never write, in a
//! map only when there are some.

use std::collections::BTreeMap;
use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::tuf::cjson::{Number, Value};
use crate::tuf::digest::{sha256, sha512};
use crate::tuf::error::{excerpt, Error};

/// `{"hashes":{"sha256":…,"sha512":…},"length":n,"custom":…}`.
///
/// Hash values are decoded from standard base64 (every value, whatever its name, as Go does);
/// names other than `sha256`/`sha512` are kept but never checked. `custom` is allowed and
/// ignored here (it stays covered by the signature through the canonical bytes).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FileMeta {
    /// Algorithm name → raw digest.
    pub hashes: Hashes,
    /// Length in bytes as listed.
    pub length: i64,
}

/// The `hashes` of a [`FileMeta`]: algorithm name → raw digest, in name order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hashes {
    sha256: Option<Digest<32>>,
    sha512: Option<Digest<64>>,
    /// Every other name (rare: kept so that two entries compare as listed).
    #[expect(
        clippy::box_collection,
        reason = "rarely present: one word in every target entry instead of a map's three"
    )]
    other: Option<Box<BTreeMap<String, Vec<u8>>>>,
}

/// A listed digest: in place when it has the algorithm's size, else as listed (it then never
/// matches, and validation reports its size).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Digest<const N: usize> {
    Sized([u8; N]),
    Odd(Box<[u8]>),
}

impl<const N: usize> Digest<N> {
    fn new(bytes: &[u8]) -> Digest<N> {
        match <[u8; N]>::try_from(bytes) {
            Ok(sized) => Digest::Sized(sized),
            Err(_) => Digest::Odd(bytes.into()),
        }
    }

    fn as_slice(&self) -> &[u8] {
        match self {
            Digest::Sized(sized) => sized,
            Digest::Odd(odd) => odd,
        }
    }
}

impl Hashes {
    /// The digest listed under `name`.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        match name {
            "sha256" => self.sha256.as_ref().map(Digest::as_slice),
            "sha512" => self.sha512.as_ref().map(Digest::as_slice),
            _ => self.other.as_ref()?.get(name).map(Vec::as_slice),
        }
    }

    /// Lists `digest` under `name`, replacing what was listed there.
    pub fn insert(&mut self, name: &str, digest: &[u8]) {
        match name {
            "sha256" => self.sha256 = Some(Digest::new(digest)),
            "sha512" => self.sha512 = Some(Digest::new(digest)),
            _ => {
                self.other
                    .get_or_insert_with(Box::default)
                    .insert(name.to_owned(), digest.to_vec());
            }
        }
    }

    /// Removes what is listed under `name`; whether there was something.
    pub fn remove(&mut self, name: &str) -> bool {
        match name {
            "sha256" => self.sha256.take().is_some(),
            "sha512" => self.sha512.take().is_some(),
            _ => {
                let removed = self
                    .other
                    .as_mut()
                    .is_some_and(|other| other.remove(name).is_some());
                if self.other.as_ref().is_some_and(|other| other.is_empty()) {
                    self.other = None;
                }
                removed
            }
        }
    }

    /// Every listed name and digest, in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        let known = [
            ("sha256", self.sha256.as_ref().map(Digest::as_slice)),
            ("sha512", self.sha512.as_ref().map(Digest::as_slice)),
        ]
        .into_iter()
        .filter_map(|(name, digest)| Some((name, digest?)));
        let other = self
            .other
            .iter()
            .flat_map(|other| other.iter())
            .map(|(name, digest)| (name.as_str(), digest.as_slice()));
        let mut all: Vec<(&str, &[u8])> = known.chain(other).collect();
        all.sort_unstable_by(|a, b| a.0.cmp(b.0));
        all.into_iter()
    }

    /// Whether nothing is listed.
    pub fn is_empty(&self) -> bool {
        self.sha256.is_none() && self.sha512.is_none() && self.other.is_none()
    }
}

impl FileMeta {
    /// The meta the server lists for bytes it stores: sha256, sha512 and the length.
    pub fn of(bytes: &[u8]) -> FileMeta {
        let mut hashes = Hashes::default();
        hashes.insert("sha256", &sha256(bytes));
        hashes.insert("sha512", &sha512(bytes));
        FileMeta {
            hashes,
            length: byte_length(bytes.len()),
        }
    }

    /// Checks `bytes` against this meta: every listed `sha256`/`sha512` must match (a digest of
    /// the wrong size never matches), at least one of them must be listed, and with
    /// `check_length` the length must match too (the reference skips it; docs/protocol.md §10.3.2).
    pub fn check(&self, bytes: &[u8], check_length: bool) -> Result<(), Error> {
        self.check_digested(bytes, || sha256(bytes), check_length)
    }

    /// [`FileMeta::check`], with the SHA-256 of `bytes` from `sha256` (asked for only when
    /// this meta lists one): for a caller that has it already.
    pub fn check_digested(
        &self,
        bytes: &[u8],
        sha256: impl FnOnce() -> [u8; 32],
        check_length: bool,
    ) -> Result<(), Error> {
        self.check_by_digests(bytes.len(), sha256, || sha512(bytes), check_length)
    }

    /// [`FileMeta::check`] of a file known by its length and digests, each asked for only when
    /// this meta lists it: for a caller that keeps them.
    pub fn check_by_digests(
        &self,
        length: usize,
        sha256: impl FnOnce() -> [u8; 32],
        sha512: impl FnOnce() -> [u8; 64],
        check_length: bool,
    ) -> Result<(), Error> {
        let mismatch = |algorithm, listed: &[u8]| Error::ChecksumMismatch {
            algorithm,
            expected: excerpt(&hex::encode(listed)),
        };
        let mut supported = 0;
        if let Some(listed) = self.sha256() {
            supported += 1;
            if listed != sha256().as_slice() {
                return Err(mismatch("sha256", listed));
            }
        }
        if let Some(listed) = self.sha512() {
            supported += 1;
            if listed != sha512().as_slice() {
                return Err(mismatch("sha512", listed));
            }
        }
        if supported == 0 {
            return Err(Error::NoSupportedChecksum);
        }
        if check_length && self.length != byte_length(length) {
            return Err(Error::LengthMismatch {
                listed: self.length,
                actual: length,
            });
        }
        Ok(())
    }

    /// Checks that a client could verify a file against this meta at all: the length is not
    /// negative, a listed `sha256` has 32 bytes and a listed `sha512` 64, and at least one of
    /// the two is listed (other names are kept but never checked). The reference stores such
    /// target entries; every client then fails on them, so the server refuses them up front.
    pub fn check_verifiable(&self) -> Result<(), String> {
        if self.length < 0 {
            return Err(format!("length {} is negative", self.length));
        }
        let mut supported = 0;
        for (algorithm, size, listed) in
            [("sha256", 32, self.sha256()), ("sha512", 64, self.sha512())]
        {
            if let Some(listed) = listed {
                if listed.len() != size {
                    return Err(format!(
                        "{algorithm} checksum invalid: {} bytes, expected {size}",
                        listed.len()
                    ));
                }
                supported += 1;
            }
        }
        if supported == 0 {
            return Err(Error::NoSupportedChecksum.to_string());
        }
        Ok(())
    }

    /// `{"hashes":{…},"length":n}` for server-generated snapshot and timestamp metadata.
    pub fn to_value(&self) -> Value {
        let hashes = self
            .hashes
            .iter()
            .map(|(name, digest)| (name.to_owned(), Value::string(STANDARD.encode(digest))))
            .collect();
        Value::object(vec![
            ("hashes", Value::Object(hashes)),
            ("length", Value::Number(Number::from(self.length))),
        ])
    }

    /// The listed SHA-256 digest, if any.
    pub fn sha256(&self) -> Option<&[u8]> {
        self.hashes.sha256.as_ref().map(Digest::as_slice)
    }

    /// The listed SHA-512 digest, if any.
    pub fn sha512(&self) -> Option<&[u8]> {
        self.hashes.sha512.as_ref().map(Digest::as_slice)
    }
}

fn byte_length(len: usize) -> i64 {
    i64::try_from(len).unwrap_or(i64::MAX)
}

/// Reads `hashes` straight into [`Hashes`]: each value decoded from the borrowed text, with no
/// map or string kept per entry.
impl<'de> Deserialize<'de> for Hashes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Hashes, D::Error> {
        deserializer.deserialize_map(HashesVisitor)
    }
}

struct HashesVisitor;

impl<'de> Visitor<'de> for HashesVisitor {
    type Value = Hashes;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of hash names to base64 digests")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Hashes, A::Error> {
        let mut hashes = Hashes::default();
        while let Some(name) = map.next_key::<Text<'de>>()? {
            let Text(encoded) = map.next_value::<Text<'de>>()?;
            let mut buffer = [0u8; 96];
            // A digest of up to 96 bytes is decoded on the stack; a longer one (never a real
            // sha256 or sha512) on the heap.
            let decoded = match STANDARD.decode_slice(encoded.as_bytes(), &mut buffer) {
                Ok(n) => Ok(std::borrow::Cow::Borrowed(&buffer[..n])),
                Err(base64::DecodeSliceError::OutputSliceTooSmall) => STANDARD
                    .decode(encoded.as_bytes())
                    .map(std::borrow::Cow::Owned)
                    .map_err(|e| e.to_string()),
                Err(base64::DecodeSliceError::DecodeError(e)) => Err(e.to_string()),
            };
            let digest = decoded.map_err(|e| {
                serde::de::Error::custom(format!(
                    "hash {:?} is not valid base64: {e}",
                    excerpt(&name.0)
                ))
            })?;
            hashes.insert(&name.0, &digest);
        }
        Ok(hashes)
    }
}

/// A string borrowed from the input when it holds no escapes (serde's `Cow` always copies).
struct Text<'de>(std::borrow::Cow<'de, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Text<'de>, D::Error> {
        struct TextVisitor;

        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(std::borrow::Cow::Borrowed(text)))
            }

            fn visit_str<E>(self, text: &str) -> Result<Text<'de>, E> {
                Ok(Text(std::borrow::Cow::Owned(text.to_owned())))
            }

            fn visit_string<E>(self, text: String) -> Result<Text<'de>, E> {
                Ok(Text(std::borrow::Cow::Owned(text)))
            }
        }

        deserializer.deserialize_str(TextVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn of_then_check() {
        let meta = FileMeta::of(b"abc");
        assert_eq!(meta.length, 3);
        assert_eq!(meta.sha256().map(<[u8]>::len), Some(32));
        assert_eq!(meta.sha512().map(<[u8]>::len), Some(64));
        meta.check(b"abc", true).expect("matches");
        assert!(matches!(
            meta.check(b"abd", false),
            Err(Error::ChecksumMismatch { .. })
        ));
    }

    #[test]
    fn every_listed_hash_must_match() {
        let mut meta = FileMeta::of(b"abc");
        meta.hashes.insert("sha512", &[0; 64]);
        let err = meta.check(b"abc", false).expect_err("sha512 is wrong");
        assert!(
            err.to_string().starts_with("sha512 checksum did not match"),
            "{err}"
        );
    }

    #[test]
    fn wrong_size_unsupported_only_and_length() {
        let mut meta = FileMeta::of(b"abc");
        let good = meta.sha256().expect("listed").to_vec();
        meta.hashes.insert("sha256", &good[..31]);
        assert!(
            meta.check(b"abc", false).is_err(),
            "truncated digest must not match"
        );

        let mut md5_only = FileMeta {
            hashes: Hashes::default(),
            length: 3,
        };
        md5_only.hashes.insert("md5", &[1, 2, 3]);
        assert_eq!(
            md5_only.check(b"abc", false),
            Err(Error::NoSupportedChecksum)
        );

        let mut wrong_length = FileMeta::of(b"abc");
        wrong_length.length = 4;
        wrong_length.check(b"abc", false).expect("length ignored");
        assert!(matches!(
            wrong_length.check(b"abc", true),
            Err(Error::LengthMismatch { .. })
        ));
    }

    #[test]
    fn verifiable_entries_only() {
        FileMeta::of(b"abc")
            .check_verifiable()
            .expect("sha256 and sha512");
        let mut sha512_only = FileMeta::of(b"abc");
        sha512_only.hashes.remove("sha256");
        sha512_only
            .check_verifiable()
            .expect("sha512 alone suffices");
        let mut with_md5 = FileMeta::of(b"");
        with_md5.hashes.insert("md5", &[1]);
        with_md5
            .check_verifiable()
            .expect("extra names are ignored");

        let refused = |change: &dyn Fn(&mut FileMeta)| {
            let mut meta = FileMeta::of(b"abc");
            change(&mut meta);
            meta.check_verifiable().expect_err("unverifiable")
        };
        assert_eq!(refused(&|m| m.length = -1), "length -1 is negative",);
        assert_eq!(
            refused(&|m| {
                let short = m.sha256().expect("listed")[..31].to_vec();
                m.hashes.insert("sha256", &short);
            }),
            "sha256 checksum invalid: 31 bytes, expected 32"
        );
        assert_eq!(
            refused(&|m| {
                let short = m.sha512().expect("listed")[..32].to_vec();
                m.hashes.insert("sha512", &short);
            }),
            "sha512 checksum invalid: 32 bytes, expected 64"
        );
        assert_eq!(
            refused(&|m| {
                m.hashes = Hashes::default();
                m.hashes.insert("md5", &[0; 16]);
            }),
            "no checksums for supported algorithms were provided"
        );
        assert_eq!(
            refused(&|m| m.hashes = Hashes::default()),
            "no checksums for supported algorithms were provided"
        );
    }

    #[test]
    fn deserializes_and_rejects_bad_base64() {
        let ok: FileMeta =
            serde_json::from_str(r#"{"hashes":{"sha256":"AAAA"},"length":3,"custom":{"x":1}}"#)
                .expect("ok");
        assert_eq!(ok.sha256(), Some(&[0u8, 0, 0][..]));
        assert!(
            serde_json::from_str::<FileMeta>(r#"{"hashes":{"sha256":"AAA"},"length":3}"#).is_err()
        );
        assert!(serde_json::from_str::<FileMeta>(r#"{"hashes":{"x":"!!"},"length":3}"#).is_err());
        assert!(serde_json::from_str::<FileMeta>(r#"{"hashes":{},"length":3.0}"#).is_err());
    }

    /// A targets file lists one per target: the form must stay small and allocate nothing for
    /// the usual digests.
    #[test]
    fn an_entry_is_small() {
        assert!(std::mem::size_of::<FileMeta>() <= 128);
        let meta = FileMeta::of(b"abc");
        assert!(matches!(meta.hashes.sha256, Some(Digest::Sized(_))));
        assert!(matches!(meta.hashes.sha512, Some(Digest::Sized(_))));
        assert!(meta.hashes.other.is_none());
    }

    #[test]
    fn other_names_are_kept_in_order_and_compared() {
        let read = |json: &str| serde_json::from_str::<FileMeta>(json).expect("reads");
        let meta = read(r#"{"hashes":{"sha512":"AAAA","md5":"AQID","sha256":"AA=="},"length":1}"#);
        let listed: Vec<(&str, &[u8])> = meta.hashes.iter().collect();
        assert_eq!(
            listed,
            [
                ("md5", &[1u8, 2, 3][..]),
                ("sha256", &[0][..]),
                ("sha512", &[0, 0, 0][..])
            ]
        );
        assert_eq!(
            meta.sha256(),
            Some(&[0u8][..]),
            "odd sizes are kept as listed"
        );
        assert_ne!(
            meta,
            read(r#"{"hashes":{"sha512":"AAAA","md5":"AQIE","sha256":"AA=="},"length":1}"#),
            "another md5"
        );
        let mut fewer = meta.clone();
        assert!(fewer.hashes.remove("md5"));
        assert!(!fewer.hashes.remove("md5"));
        assert_eq!(
            fewer,
            read(r#"{"hashes":{"sha512":"AAAA","sha256":"AA=="},"length":1}"#)
        );
        let escaped = read(r#"{"hashes":{"sha\u0032\u00356":"AA\u003d\u003d"},"length":1}"#);
        assert_eq!(
            escaped.sha256(),
            Some(&[0u8][..]),
            "escaped names and values"
        );
        let long = read(&format!(
            r#"{{"hashes":{{"x":"{}"}},"length":1}}"#,
            "AAAA".repeat(40)
        ));
        assert_eq!(long.hashes.get("x").map(<[u8]>::len), Some(120));
        assert!(serde_json::from_str::<FileMeta>(r#"{"hashes":null,"length":1}"#).is_err());
    }
}
