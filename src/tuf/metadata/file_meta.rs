//! File meta: hashes and length of a target or of another role's file (docs/protocol.md §4.5, §4.10).

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ring::digest::{digest, SHA256, SHA512};
use serde::{Deserialize, Deserializer};

use crate::tuf::cjson::{Number, Value};
use crate::tuf::error::{excerpt, Error};

/// `{"hashes":{"sha256":…,"sha512":…},"length":n,"custom":…}`.
///
/// Hash values are decoded from standard base64 (every value, whatever its name, as Go does);
/// names other than `sha256`/`sha512` are kept but never checked. `custom` is allowed and
/// ignored here (it stays covered by the signature through the canonical bytes).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FileMeta {
    /// Algorithm name → raw digest.
    #[serde(deserialize_with = "deserialize_hashes")]
    pub hashes: BTreeMap<String, Vec<u8>>,
    /// Length in bytes as listed.
    pub length: i64,
}

impl FileMeta {
    /// The meta the server lists for bytes it stores: sha256, sha512 and the length.
    pub fn of(bytes: &[u8]) -> FileMeta {
        let mut hashes = BTreeMap::new();
        hashes.insert(
            "sha256".to_owned(),
            digest(&SHA256, bytes).as_ref().to_vec(),
        );
        hashes.insert(
            "sha512".to_owned(),
            digest(&SHA512, bytes).as_ref().to_vec(),
        );
        FileMeta {
            hashes,
            length: byte_length(bytes),
        }
    }

    /// Checks `bytes` against this meta: every listed `sha256`/`sha512` must match (a digest of
    /// the wrong size never matches), at least one of them must be listed, and with
    /// `check_length` the length must match too (the reference skips it; docs/protocol.md §10.3.2).
    pub fn check(&self, bytes: &[u8], check_length: bool) -> Result<(), Error> {
        let mut supported = 0;
        for (name, listed) in &self.hashes {
            let (algorithm, actual) = match name.as_str() {
                "sha256" => ("sha256", digest(&SHA256, bytes)),
                "sha512" => ("sha512", digest(&SHA512, bytes)),
                _ => continue,
            };
            supported += 1;
            if listed.as_slice() != actual.as_ref() {
                return Err(Error::ChecksumMismatch {
                    algorithm,
                    expected: excerpt(&hex::encode(listed)),
                });
            }
        }
        if supported == 0 {
            return Err(Error::NoSupportedChecksum);
        }
        if check_length && self.length != byte_length(bytes) {
            return Err(Error::LengthMismatch {
                listed: self.length,
                actual: bytes.len(),
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
        for (algorithm, size) in [("sha256", 32), ("sha512", 64)] {
            if let Some(listed) = self.hashes.get(algorithm) {
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
            .map(|(name, digest)| (name.clone(), Value::string(STANDARD.encode(digest))))
            .collect();
        Value::object(vec![
            ("hashes", Value::Object(hashes)),
            ("length", Value::Number(Number::from(self.length))),
        ])
    }

    /// The listed SHA-256 digest, if any.
    pub fn sha256(&self) -> Option<&[u8]> {
        self.hashes.get("sha256").map(Vec::as_slice)
    }

    /// The listed SHA-512 digest, if any.
    pub fn sha512(&self) -> Option<&[u8]> {
        self.hashes.get("sha512").map(Vec::as_slice)
    }
}

fn byte_length(bytes: &[u8]) -> i64 {
    i64::try_from(bytes.len()).unwrap_or(i64::MAX)
}

fn deserialize_hashes<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, Vec<u8>>, D::Error> {
    let raw = BTreeMap::<String, String>::deserialize(deserializer)?;
    raw.into_iter()
        .map(|(name, b64)| match STANDARD.decode(&b64) {
            Ok(digest) => Ok((name, digest)),
            Err(e) => Err(serde::de::Error::custom(format!(
                "hash {:?} is not valid base64: {e}",
                excerpt(&name)
            ))),
        })
        .collect()
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
        meta.hashes.insert("sha512".to_owned(), vec![0; 64]);
        let err = meta.check(b"abc", false).expect_err("sha512 is wrong");
        assert!(
            err.to_string().starts_with("sha512 checksum did not match"),
            "{err}"
        );
    }

    #[test]
    fn wrong_size_unsupported_only_and_length() {
        let mut meta = FileMeta::of(b"abc");
        let good = meta.hashes.remove("sha256").expect("listed");
        meta.hashes.insert("sha256".to_owned(), good[..31].to_vec());
        assert!(
            meta.check(b"abc", false).is_err(),
            "truncated digest must not match"
        );

        let md5_only = FileMeta {
            hashes: BTreeMap::from([("md5".to_owned(), vec![1, 2, 3])]),
            length: 3,
        };
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
        with_md5.hashes.insert("md5".to_owned(), vec![1]);
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
            refused(&|m| m.hashes.get_mut("sha256").expect("listed").truncate(31)),
            "sha256 checksum invalid: 31 bytes, expected 32"
        );
        assert_eq!(
            refused(&|m| m.hashes.get_mut("sha512").expect("listed").truncate(32)),
            "sha512 checksum invalid: 32 bytes, expected 64"
        );
        assert_eq!(
            refused(&|m| m.hashes = BTreeMap::from([("md5".to_owned(), vec![0; 16])])),
            "no checksums for supported algorithms were provided"
        );
        assert_eq!(
            refused(&|m| m.hashes.clear()),
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
}
