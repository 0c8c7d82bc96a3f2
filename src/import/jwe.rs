//! Opening notary-signer's sealed private keys: JWE compact serialization with
//! `PBES2-HS256+A128KW` key wrapping and `A256GCM` content encryption (RFC 7518 §4.8, §5.3),
//! the only combination notary-signer writes.
//!
//! PBKDF2 and AES-GCM come from ring, AES key unwrap from `aes-kw`. Errors never carry the
//! passphrase or any decrypted byte.

use std::num::NonZeroU32;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use zeroize::Zeroizing;

/// The key wrapping notary-signer uses.
pub const KEYWRAP: &str = "PBES2-HS256+A128KW";
/// The content encryption notary-signer uses.
pub const ENCRYPTION: &str = "A256GCM";
/// More PBKDF2 iterations than this is refused (a hostile row could ask for billions).
const MAX_ITERATIONS: u32 = 10_000_000;

/// Why a sealed key did not open.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JweError {
    /// Not five base64url parts, or a header that is not the JSON we expect.
    #[error("not a JWE compact serialization: {0}")]
    Format(&'static str),
    /// Another algorithm than notary-signer's.
    #[error(
        "unsupported JWE algorithms {alg}/{enc} (notary-signer writes {KEYWRAP}/{ENCRYPTION})"
    )]
    Algorithm {
        /// `alg` of the header.
        alg: String,
        /// `enc` of the header.
        enc: String,
    },
    /// Wrong passphrase or altered ciphertext.
    #[error("the key did not decrypt: wrong passphrase, or the stored key was altered")]
    Decrypt,
}

#[derive(serde::Deserialize)]
struct Header {
    alg: String,
    enc: String,
    p2s: String,
    p2c: u32,
    #[serde(default)]
    zip: Option<String>,
}

/// The plaintext of `compact`, sealed under `passphrase`. The plaintext is a private key: it
/// and every key derived on the way live in buffers wiped when dropped.
pub fn open(compact: &str, passphrase: &[u8]) -> Result<Zeroizing<Vec<u8>>, JweError> {
    let parts: Vec<&str> = compact.trim().split('.').collect();
    let [header_b64, wrapped, iv, ciphertext, tag] = parts[..] else {
        return Err(JweError::Format("expected five dot-separated parts"));
    };
    let decode = |part: &str, what| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| JweError::Format(what))
    };
    let header: Header = serde_json::from_slice(&decode(header_b64, "header is not base64url")?)
        .map_err(|_| JweError::Format("header is not the expected JSON"))?;
    if header.alg != KEYWRAP || header.enc != ENCRYPTION {
        return Err(JweError::Algorithm {
            alg: header.alg,
            enc: header.enc,
        });
    }
    if header.zip.is_some() {
        return Err(JweError::Format(
            "compressed payloads are not written by notary-signer",
        ));
    }
    let iterations = NonZeroU32::new(header.p2c)
        .filter(|n| n.get() <= MAX_ITERATIONS)
        .ok_or(JweError::Format("p2c out of range"))?;
    // RFC 7518 §4.8.1.1: the salt is the algorithm name, a zero byte, then p2s.
    let mut salt = KEYWRAP.as_bytes().to_vec();
    salt.push(0);
    salt.extend(decode(&header.p2s, "p2s is not base64url")?);
    let mut kek = Zeroizing::new([0u8; 16]);
    ring::pbkdf2::derive(
        ring::pbkdf2::PBKDF2_HMAC_SHA256,
        iterations,
        &salt,
        passphrase,
        &mut *kek,
    );
    let cek = Zeroizing::new(
        aes_kw::KekAes128::from(*kek)
            .unwrap_vec(&decode(wrapped, "encrypted key is not base64url")?)
            .map_err(|_| JweError::Decrypt)?,
    );
    let key = UnboundKey::new(&AES_256_GCM, &cek).map_err(|_| JweError::Decrypt)?;
    let nonce = Nonce::try_assume_unique_for_key(&decode(iv, "iv is not base64url")?)
        .map_err(|_| JweError::Format("iv is not 96 bits"))?;
    let mut sealed = Zeroizing::new(decode(ciphertext, "ciphertext is not base64url")?);
    sealed.extend(decode(tag, "tag is not base64url")?);
    // The additional data is the protected header exactly as transmitted (§5.1 step 14).
    let plain_len = LessSafeKey::new(key)
        .open_in_place(nonce, Aad::from(header_b64.as_bytes()), &mut sealed)
        .map_err(|_| JweError::Decrypt)?
        .len();
    // Opened in place: the plaintext is the front of `sealed`, which is wiped when dropped.
    sealed.truncate(plain_len);
    Ok(sealed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_other_algorithms_and_shapes() {
        let other = format!(
            "{}.a.b.c.d",
            URL_SAFE_NO_PAD
                .encode(r#"{"alg":"PBES2-HS256+A128KW","enc":"A128CBC-HS256","p2s":"AA","p2c":1}"#)
        );
        assert_eq!(
            open(&other, b"x"),
            Err(JweError::Algorithm {
                alg: KEYWRAP.into(),
                enc: "A128CBC-HS256".into()
            })
        );
        assert!(matches!(open("a.b.c", b"x"), Err(JweError::Format(_))));
        assert!(matches!(open("", b"x"), Err(JweError::Format(_))));
        assert!(matches!(open("!.!.!.!.!", b"x"), Err(JweError::Format(_))));
    }

    /// A JWE made the way notary-signer makes one, here with ring and aes-kw (the real
    /// notary-signer's output is opened by the import flow of the compat suite).
    fn seal(plain: &[u8], passphrase: &[u8], p2c: u32) -> String {
        let p2s = [7u8; 16];
        let header = format!(
            "{{\"alg\":\"{KEYWRAP}\",\"enc\":\"{ENCRYPTION}\",\"p2c\":{p2c},\"p2s\":\"{}\"}}",
            URL_SAFE_NO_PAD.encode(p2s)
        );
        let header_b64 = URL_SAFE_NO_PAD.encode(header);
        let mut salt = KEYWRAP.as_bytes().to_vec();
        salt.push(0);
        salt.extend(p2s);
        let mut kek = [0u8; 16];
        ring::pbkdf2::derive(
            ring::pbkdf2::PBKDF2_HMAC_SHA256,
            NonZeroU32::new(p2c).expect("nonzero"),
            &salt,
            passphrase,
            &mut kek,
        );
        let cek = [3u8; 32];
        let wrapped = aes_kw::KekAes128::from(kek).wrap_vec(&cek).expect("wrap");
        let iv = [5u8; 12];
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &cek).expect("key"));
        let mut data = plain.to_vec();
        let tag = key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(iv),
                Aad::from(header_b64.as_bytes()),
                &mut data,
            )
            .expect("seal");
        [
            header_b64,
            URL_SAFE_NO_PAD.encode(wrapped),
            URL_SAFE_NO_PAD.encode(iv),
            URL_SAFE_NO_PAD.encode(&data),
            URL_SAFE_NO_PAD.encode(tag.as_ref()),
        ]
        .join(".")
    }

    #[test]
    fn opens_what_was_sealed_and_nothing_else() {
        let sealed = seal(b"private key bytes", b"right", 1000);
        assert_eq!(
            open(&sealed, b"right").expect("opens").as_slice(),
            b"private key bytes"
        );
        assert_eq!(open(&sealed, b"wrong"), Err(JweError::Decrypt));
        let mut parts: Vec<String> = sealed.split('.').map(str::to_owned).collect();
        parts[3] = URL_SAFE_NO_PAD.encode(b"other ciphertext!");
        assert_eq!(open(&parts.join("."), b"right"), Err(JweError::Decrypt));
        let huge = seal(b"x", b"right", MAX_ITERATIONS + 1);
        assert!(matches!(open(&huge, b"right"), Err(JweError::Format(_))));
    }
}
