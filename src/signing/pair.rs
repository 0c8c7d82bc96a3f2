//! Opened private keys and the algorithms the server signs with.
//!
//! A [`SigningKey`] keeps the private key only in its stored form, in a buffer it wipes when it
//! is dropped, and opens it with ring for each signature. ring's key-pair types hold their
//! private scalars (Ed25519, ECDSA) or primes (RSA) in memory it never wipes and that no safe
//! code can reach, so they live only for the length of one signature; keeping them opened in a
//! long-lived cache would leave one unwiped copy per key behind every eviction. Opening adds
//! about 30 µs to an Ed25519 or ECDSA signature (which itself took 40 to 110 µs on a shared
//! development machine), far less than a publish's commit; RSA keys (only ever imported) cost
//! more and are signed on the blocking pool.

use std::sync::Arc;

use ring::rand::SystemRandom;
use ring::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING,
    RSA_PSS_SHA256,
};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::error::SigningError;
use crate::tuf::key::{KeyId, KeyType, PublicKey};
use crate::tuf::metadata::Signature;

/// The algorithm names stored with each key (notary-signer's names for them).
pub mod algorithm {
    /// Sealed: ring's PKCS#8 (made here) or the 64-byte seed ‖ public key (notary's form);
    /// public: the raw 32 bytes.
    pub const ED25519: &str = "ed25519";
    /// Sealed: PKCS#8 of a P-256 key; public: DER SubjectPublicKeyInfo.
    pub const ECDSA: &str = "ecdsa";
    /// Sealed: PKCS#1 DER; public: DER SubjectPublicKeyInfo.
    pub const RSA: &str = "rsa";
}

/// The metadata key type of a stored algorithm name.
pub(super) fn key_type(algorithm: &str) -> KeyType {
    match algorithm {
        algorithm::ECDSA => KeyType::Ecdsa,
        algorithm::RSA => KeyType::Rsa,
        _ => KeyType::Ed25519,
    }
}

/// The algorithms a [`SigningKey`] can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Algorithm {
    Ed25519,
    Ecdsa,
    Rsa,
}

/// An opened private key of one of the algorithms the server signs with; lives for one
/// signature (see the module documentation).
enum Pair {
    Ed25519(Ed25519KeyPair),
    Ecdsa(EcdsaKeyPair),
    Rsa(RsaKeyPair),
}

/// A private key ready for signing. Its `Debug` shows only the key ID; the private bytes are
/// wiped when it is dropped.
pub struct SigningKey {
    key_id: KeyId,
    algorithm: Algorithm,
    /// The stored form of the private key (see [`algorithm`]), wiped when dropped.
    secret: Zeroizing<Vec<u8>>,
    /// The public half, derived from the private key, when it is the key `key_id` names: what
    /// a signature is recorded under as known good (`PublicKey::remember_own_signature`), so
    /// that the enforcer does not check again what this process signed. Ed25519 only (the
    /// server's own keys); imported ECDSA and RSA keys record nothing.
    public: Option<PublicKey>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.key_id)
    }
}

impl Zeroize for SigningKey {
    /// Wipes the private bytes; the key signs nothing after.
    fn zeroize(&mut self) {
        self.secret.zeroize();
    }
}

/// Its only secret is `secret`, which wipes itself on drop.
impl ZeroizeOnDrop for SigningKey {}

impl SigningKey {
    /// Takes stored private bytes of `algorithm` (see [`algorithm`]) for the key `key_id`,
    /// checking that they open.
    pub(super) fn open(
        key_id: KeyId,
        algorithm: &str,
        secret: Zeroizing<Vec<u8>>,
    ) -> Result<SigningKey, SigningError> {
        let algorithm = match algorithm {
            algorithm::ED25519 => Algorithm::Ed25519,
            algorithm::ECDSA => Algorithm::Ecdsa,
            algorithm::RSA => Algorithm::Rsa,
            _ => return Err(SigningError::Key("stored key has an unknown algorithm")),
        };
        let mut key = SigningKey {
            key_id,
            algorithm,
            secret,
            public: None,
        };
        if let Pair::Ed25519(pair) = key.pair()? {
            let public = PublicKey::new(KeyType::Ed25519, pair.public_key().as_ref().to_vec());
            key.public = (public.id() == key.key_id).then_some(public);
        }
        Ok(key)
    }

    /// A P-256 key in PKCS#8 (with its public key inside, as ring reads it), for signing
    /// under `key_id`: a client key from a trust directory.
    pub fn open_ecdsa(
        key_id: KeyId,
        pkcs8: Zeroizing<Vec<u8>>,
    ) -> Result<SigningKey, SigningError> {
        SigningKey::open(key_id, algorithm::ECDSA, pkcs8)
    }

    /// The ID of the public half.
    pub fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    /// Whether signing is slow enough for the blocking pool whatever the message size.
    fn slow(&self) -> bool {
        self.algorithm == Algorithm::Rsa
    }

    /// Opens the private bytes with ring.
    fn pair(&self) -> Result<Pair, SigningError> {
        let secret = &self.secret[..];
        match self.algorithm {
            Algorithm::Ed25519 if secret.len() == 64 => {
                Ed25519KeyPair::from_seed_and_public_key(&secret[..32], &secret[32..])
                    .map(Pair::Ed25519)
                    .map_err(|_| SigningError::Key("stored ed25519 key did not parse"))
            }
            Algorithm::Ed25519 => Ed25519KeyPair::from_pkcs8_maybe_unchecked(secret)
                .map(Pair::Ed25519)
                .map_err(|_| SigningError::Key("stored ed25519 key did not parse")),
            Algorithm::Ecdsa => EcdsaKeyPair::from_pkcs8(
                &ECDSA_P256_SHA256_FIXED_SIGNING,
                secret,
                &SystemRandom::new(),
            )
            .map(Pair::Ecdsa)
            .map_err(|_| SigningError::Key("stored ecdsa key did not parse")),
            Algorithm::Rsa => RsaKeyPair::from_der(secret)
                .map(Pair::Rsa)
                .map_err(|_| SigningError::Key("stored rsa key did not parse")),
        }
    }

    /// Signs canonical bytes with notary's method for the key: `eddsa`, `ecdsa` (r ‖ s) or
    /// `rsapss` (SHA-256).
    pub fn sign(&self, canonical: &[u8]) -> Result<Signature, SigningError> {
        let failed = |_| SigningError::Key("signing failed");
        let (method, sig) = match self.pair()? {
            Pair::Ed25519(pair) => ("eddsa", pair.sign(canonical).as_ref().to_vec()),
            Pair::Ecdsa(pair) => (
                "ecdsa",
                pair.sign(&SystemRandom::new(), canonical)
                    .map_err(failed)?
                    .as_ref()
                    .to_vec(),
            ),
            Pair::Rsa(pair) => {
                let mut sig = vec![0; pair.public().modulus_len()];
                pair.sign(&RSA_PSS_SHA256, &SystemRandom::new(), canonical, &mut sig)
                    .map_err(failed)?;
                ("rsapss", sig)
            }
        };
        if let Some(public) = &self.public {
            public.remember_own_signature(method, canonical, &sig);
        }
        Ok(Signature {
            keyid: self.key_id.clone(),
            method: method.to_owned(),
            sig,
        })
    }
}

/// A new Ed25519 key: its PKCS#8 (the stored form) and its raw public key.
///
/// ring hands the PKCS#8 back in a stack value it does not wipe; it is copied into a wiped
/// buffer at once and goes out of scope.
pub(super) fn generate_ed25519() -> Result<(Zeroizing<Vec<u8>>, Vec<u8>), SigningError> {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
        .map(|document| Zeroizing::new(document.as_ref().to_vec()))
        .map_err(|_| SigningError::Key("ed25519 key generation failed"))?;
    let pair = Ed25519KeyPair::from_pkcs8(&pkcs8)
        .map_err(|_| SigningError::Key("generated ed25519 key did not parse"))?;
    Ok((pkcs8, pair.public_key().as_ref().to_vec()))
}

/// Messages up to this size are signed in place: an Ed25519 signature over a few KiB takes
/// microseconds, less than a hop to the blocking pool.
const SIGN_INLINE_MAX: usize = 16 << 10;

/// Signs `canonical` with every key; large messages, and any RSA key, on the blocking pool.
pub async fn sign_all(
    keys: Vec<Arc<SigningKey>>,
    canonical: Vec<u8>,
) -> Result<Vec<Signature>, SigningError> {
    let slow = keys.iter().any(|k| k.slow());
    if canonical.len() <= SIGN_INLINE_MAX && !slow {
        return keys.iter().map(|k| k.sign(&canonical)).collect();
    }
    let task = tokio::task::spawn_blocking(move || {
        keys.iter()
            .map(|k| k.sign(&canonical))
            .collect::<Result<Vec<_>, _>>()
    });
    task.await
        .map_err(|_| SigningError::Key("the signing task failed"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wiped_on_drop<T: ZeroizeOnDrop>(_: &T) {}

    /// A key's private bytes are in a buffer that wipes itself on drop (checked by the bound),
    /// and wiping leaves nothing behind: a wiped key holds no private bytes and cannot sign.
    #[test]
    fn a_wiped_key_holds_nothing_and_signs_nothing() {
        let (pkcs8, public) = generate_ed25519().expect("generates");
        let id = crate::tuf::key::PublicKey::new(KeyType::Ed25519, public).id();
        let mut key = SigningKey::open(id, algorithm::ED25519, pkcs8).expect("opens");
        wiped_on_drop(&key.secret);
        key.sign(b"canonical").expect("signs before");
        key.zeroize();
        assert!(key.secret.is_empty(), "no private bytes are left");
        assert!(key.sign(b"canonical").is_err(), "a wiped key cannot sign");
        assert_eq!(format!("{key:?}"), format!("SigningKey({})", key.key_id()));
    }

    #[test]
    fn unknown_algorithms_and_garbage_do_not_open() {
        let id = crate::tuf::key::KeyId::parse(&"a".repeat(64)).expect("id");
        let garbage = || Zeroizing::new(vec![0u8; 40]);
        assert!(SigningKey::open(id.clone(), "dsa", garbage()).is_err());
        for algorithm in [algorithm::ED25519, algorithm::ECDSA, algorithm::RSA] {
            assert!(SigningKey::open(id.clone(), algorithm, garbage()).is_err());
        }
    }
}
