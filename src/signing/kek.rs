//! The key-encryption key (KEK) that seals server-managed private keys at rest.
//!
//! AES-256-GCM from ring, a fresh random 96-bit nonce per seal, and the key's identity
//! (GUN, role, key ID) as associated data, so a sealed key copied onto another row fails to open.
//!
//! Every buffer here that holds a KEK or an opened key is wiped when dropped. ring's AES key
//! schedule inside [`Kek`] is not: ring wipes none of its key types, and no safe code reaches
//! into them.

use std::fmt;
use std::path::Path;

use base64::Engine as _;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

/// Length of a KEK in bytes.
pub const KEK_LEN: usize = 32;

/// Errors of sealing and opening; never carry key material.
#[derive(Debug, thiserror::Error)]
pub enum KekError {
    /// The configured KEK is not 32 bytes of standard base64.
    #[error("the key-encryption key must be {KEK_LEN} bytes in standard base64")]
    Format,
    /// A sealed key did not open: wrong KEK, or the row was altered.
    #[error("a stored private key could not be decrypted (wrong key-encryption key?)")]
    Open,
    /// The random number generator failed.
    #[error("the system random number generator failed")]
    Random,
    /// Reading or writing the KEK file failed.
    #[error("key-encryption key file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// A key-encryption key. Its `Debug` never shows the key.
pub struct Kek {
    key: LessSafeKey,
}

impl fmt::Debug for Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Kek(<redacted>)")
    }
}

impl Kek {
    /// A KEK from its base64 text (surrounding whitespace ignored).
    pub fn from_base64(text: &str) -> Result<Kek, KekError> {
        let bytes = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .map_err(|_| KekError::Format)?,
        );
        if bytes.len() != KEK_LEN {
            return Err(KekError::Format);
        }
        let unbound = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| KekError::Format)?;
        Ok(Kek {
            key: LessSafeKey::new(unbound),
        })
    }

    /// Reads the KEK from `path`, or, when the file does not exist and `create` is set,
    /// generates one there with mode 0600 (development mode).
    pub fn load_or_create(path: &Path, create: bool) -> Result<Kek, KekError> {
        let io = |source| KekError::Io {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read_to_string(path).map(Zeroizing::new) {
            Ok(text) => Kek::from_base64(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
                let mut bytes = Zeroizing::new([0u8; KEK_LEN]);
                SystemRandom::new()
                    .fill(&mut bytes[..])
                    .map_err(|_| KekError::Random)?;
                let text =
                    Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(&bytes[..]));
                write_private_file(path, text.as_bytes()).map_err(io)?;
                Kek::from_base64(&text)
            }
            Err(e) => Err(io(e)),
        }
    }

    /// Seals `plaintext`; the output is nonce ‖ ciphertext ‖ tag.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, KekError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| KekError::Random)?;
        // Ciphertext once sealed, but the plaintext until then (and if sealing fails).
        let mut out = Zeroizing::new(plaintext.to_vec());
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut *out,
            )
            .map_err(|_| KekError::Random)?;
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&out);
        Ok(sealed)
    }

    /// Opens what [`Kek::seal`] produced with the same associated data, into a buffer wiped
    /// when dropped.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, KekError> {
        if sealed.len() < NONCE_LEN {
            return Err(KekError::Open);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| KekError::Open)?;
        let mut buf = Zeroizing::new(ciphertext.to_vec());
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(aad), &mut buf)
            .map_err(|_| KekError::Open)?
            .len();
        buf.truncate(plain);
        Ok(buf)
    }
}

/// Writes a file readable by its owner only.
pub(crate) fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()?;
    // The new directory entry must survive a power cut too, or a fresh key could replace it.
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kek() -> Kek {
        Kek::from_base64(&base64::engine::general_purpose::STANDARD.encode([7u8; 32]))
            .expect("32 bytes is a valid KEK")
    }

    #[test]
    fn seal_open_round_trip_and_binding() {
        let kek = kek();
        let sealed = kek.seal(b"secret", b"gun|timestamp|id").expect("seal");
        assert_eq!(
            kek.open(&sealed, b"gun|timestamp|id").expect("open")[..],
            b"secret"[..]
        );
        kek.open(&sealed, b"other|timestamp|id")
            .expect_err("a sealed key must not open for another GUN");
        let mut tampered = sealed;
        tampered[NONCE_LEN] ^= 1;
        kek.open(&tampered, b"gun|timestamp|id")
            .expect_err("an altered ciphertext must not open");
    }

    #[test]
    fn refuses_short_keys_and_hides_itself() {
        Kek::from_base64("c2hvcnQ=").expect_err("a 5-byte KEK is refused");
        assert_eq!(format!("{:?}", kek()), "Kek(<redacted>)");
    }
}
