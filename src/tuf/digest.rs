//! SHA-256 and SHA-512 as fixed-size arrays: what TUF lists, memoises and compares, without a
//! `Vec` or a slice length to check at each use.

use ring::digest::{digest, SHA256, SHA512};

/// The SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0; 32];
    out.copy_from_slice(digest(&SHA256, bytes).as_ref());
    out
}

/// The SHA-512 of `bytes`.
pub fn sha512(bytes: &[u8]) -> [u8; 64] {
    let mut out = [0; 64];
    out.copy_from_slice(digest(&SHA512, bytes).as_ref());
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_answers() {
        assert_eq!(
            hex::encode(super::sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(hex::encode(super::sha512(b"abc")).starts_with("ddaf35a193617aba"));
    }
}
