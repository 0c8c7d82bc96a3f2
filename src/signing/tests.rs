//! Carried-over keys, end to end: checked, sealed, opened and signing.

use ring::rand::SystemRandom;
use ring::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING,
};

use super::stored::{aad, public_key};
use super::*;
use crate::gun::Gun;

fn kek() -> Kek {
    Kek::from_base64("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").expect("kek")
}

fn imported(algorithm: &str, public: Vec<u8>, private: Vec<u8>) -> ImportedKey {
    ImportedKey {
        role: ServerRole::Timestamp,
        algorithm: algorithm.to_owned(),
        public,
        private,
        created_at: chrono::DateTime::UNIX_EPOCH,
    }
}

/// Carried-over keys are checked against their public half, sealed for their GUN and
/// role, and sign with notary's method for their algorithm.
#[test]
fn imported_keys_seal_open_and_sign() {
    let rng = SystemRandom::new();
    let gun = Gun::parse("example.com/app").expect("gun");
    let ecdsa_pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("ecdsa key");
    let ecdsa =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, ecdsa_pkcs8.as_ref(), &rng)
            .expect("ecdsa pair");
    let ecdsa_spki = crate::tuf::fixtures::p256_spki(ecdsa.public_key().as_ref());
    // notary's Ed25519 form: the 32-byte seed followed by the public key.
    let seed = [42u8; 32];
    let ed = Ed25519KeyPair::from_seed_unchecked(&seed).expect("ed25519");
    let ed_public = ed.public_key().as_ref().to_vec();
    let cases = [
        (
            algorithm::ECDSA,
            ecdsa_spki,
            ecdsa_pkcs8.as_ref().to_vec(),
            "ecdsa",
        ),
        (
            algorithm::ED25519,
            ed_public.clone(),
            [&seed[..], &ed_public].concat(),
            "eddsa",
        ),
    ];
    for (algorithm, public, private, method) in cases {
        let key = imported(algorithm, public.clone(), private.clone());
        let (id, stored) = seal_imported(&kek(), &gun, 3, &key).expect("imports");
        assert_eq!(stored.generation, 3);
        assert_eq!(id.as_str(), stored.key_id);
        assert!(stored.sealed_private != private, "sealed, not in clear");
        let opened = kek()
            .open(
                &stored.sealed_private,
                &aad(gun.as_str(), "timestamp", &stored.key_id),
            )
            .expect("opens under its GUN and role");
        let signer = SigningKey::open(id, algorithm, opened).expect("opens");
        let sig = signer.sign(b"canonical").expect("signs");
        assert_eq!(sig.method, method);
        public_key(&stored)
            .verify(&sig.method, b"canonical", &sig.sig)
            .expect("verifies with the listed public key");
    }
    // A private key that is not the listed key's is refused.
    let other = imported(
        algorithm::ED25519,
        vec![1; 32],
        [&seed[..], &ed_public].concat(),
    );
    assert!(seal_imported(&kek(), &gun, 0, &other).is_err());
    let garbage = imported(algorithm::ECDSA, vec![1; 91], vec![0; 40]);
    assert!(seal_imported(&kek(), &gun, 0, &garbage).is_err());
}
