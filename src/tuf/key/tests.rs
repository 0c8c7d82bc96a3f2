use base64::engine::general_purpose::STANDARD;
use ring::digest::{digest, SHA256};
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256, RSA_PSS_SHA256};

use super::*;
use crate::tuf::cjson;
use crate::tuf::fixtures::{self, TestKey};

/// PKCS#1 RSAPrivateKey (test-only key made with `openssl genpkey`).
const RSA_PKCS1: &[u8] = include_bytes!("../testdata/rsa2048.pkcs1.der");
const RSA_SPKI: &[u8] = include_bytes!("../testdata/rsa2048.spki.der");
const P384_SPKI: &[u8] = include_bytes!("../testdata/p384.spki.der");
const P384_SIG: &[u8] = include_bytes!("../testdata/p384-sha256.sig");
const P384_MSG: &[u8] = b"notarium p-384 test message";

fn flip(sig: &[u8]) -> Vec<u8> {
    let mut sig = sig.to_vec();
    sig[10] ^= 0x01;
    sig
}

fn rsa_sign(scheme: &'static dyn ring::signature::RsaEncoding, msg: &[u8]) -> Vec<u8> {
    let pair = RsaKeyPair::from_der(RSA_PKCS1).expect("test key");
    let mut sig = vec![0; pair.public().modulus_len()];
    pair.sign(scheme, &ring::rand::SystemRandom::new(), msg, &mut sig)
        .expect("signs");
    sig
}

#[test]
fn every_fixture_key_id_is_the_hash_of_its_canonical_json() {
    let mut checked = 0;
    for fixture in fixtures::all()
        .iter()
        .filter(|f| f.role == "root" || f.role.starts_with("targets"))
    {
        let document = cjson::parse(&fixture.bytes).expect("parses");
        let signed = document.get("signed").expect("signed");
        let maps = [
            signed.get("keys"),
            signed.get("delegations").and_then(|d| d.get("keys")),
        ];
        for (listed, value) in maps
            .into_iter()
            .flatten()
            .filter_map(cjson::Value::as_object)
            .flatten()
        {
            let bytes = cjson::encode(value).expect("encodes");
            assert_eq!(&hex::encode(digest(&SHA256, &bytes)), listed);
            let key: PublicKey = serde_json::from_slice(&bytes).expect("key parses");
            assert_eq!(key.id().as_str(), listed);
            assert_eq!(canonical_bytes(&key), bytes);
            checked += 1;
        }
    }
    assert!(checked >= 30, "only {checked} keys");
}

#[test]
fn ed25519_key_id_from_the_plain_fixture() {
    let public = STANDARD
        .decode("i2icTWlKceBjW4f+OXAFFKUdO6yEwZF0e6S94mY1r78=")
        .expect("b64");
    let key = PublicKey::new(KeyType::Ed25519, public);
    assert_eq!(
        key.id().as_str(),
        "cf104ae6c3ed48db68f297d91ed6881da3c35dd8fc1e4767c50f829f825d3b56"
    );
    assert_eq!(
        canonical_bytes(&key),
        br#"{"keytype":"ed25519","keyval":{"private":null,"public":"i2icTWlKceBjW4f+OXAFFKUdO6yEwZF0e6S94mY1r78="}}"#
    );
    assert_eq!(
        key.to_response_json(),
        br#"{"keytype":"ed25519","keyval":{"public":"i2icTWlKceBjW4f+OXAFFKUdO6yEwZF0e6S94mY1r78=","private":null}}"#
    );
}

#[test]
fn deserialization_rules() {
    let parse = |json: &str| serde_json::from_str::<PublicKey>(json);
    let key =
        parse(r#"{"keytype":"ed25519","keyval":{"public":"AAAA","private":null}}"#).expect("ok");
    assert_eq!(key.public_bytes(), &[0, 0, 0]);
    assert_eq!(key.public_base64(), "AAAA");
    parse(r#"{"keytype":"ed25519","keyval":{"public":"AAAA"}}"#).expect("absent private is null");
    for bad in [
        r#"{"keytype":"ed25519","keyval":{"public":"AAAA","private":"AAAA"}}"#,
        r#"{"keytype":"ed25519","keyval":{"public":"AAAA","private":""}}"#,
        r#"{"keytype":"ed25519","keyval":{"public":"AAB=","private":null}}"#,
        r#"{"keytype":"ed25519","keyval":{"public":"AA\nAA","private":null}}"#,
        r#"{"keytype":"dsa","keyval":{"public":"AAAA","private":null}}"#,
        r#"{"keytype":"ECDSA","keyval":{"public":"AAAA","private":null}}"#,
    ] {
        assert!(parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn key_ids_are_64_lowercase_hex() {
    KeyId::parse(&"0a".repeat(32)).expect("valid");
    for bad in [
        "",
        "0A".repeat(32).as_str(),
        "0".repeat(63).as_str(),
        "g".repeat(64).as_str(),
    ] {
        assert!(KeyId::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn ecdsa_p256_raw_signatures() {
    let key = TestKey::p256();
    let public = key.public();
    let sig = key.sign(b"msg");
    assert_eq!(sig.len(), 64);
    public.verify("ecdsa", b"msg", &sig).expect("valid");
    public
        .verify("ECDSA", b"msg", &sig)
        .expect("method is lower-cased");
    assert!(public.verify("ecdsa", b"other", &sig).is_err());
    assert!(public.verify("ecdsa", b"msg", &flip(&sig)).is_err());
    assert!(
        public.verify("ecdsa", b"msg", &sig[..63]).is_err(),
        "wrong length"
    );
    let der = super::algorithms::raw_to_der(&sig[..32], &sig[32..]);
    assert!(
        public.verify("ecdsa", b"msg", &der).is_err(),
        "0.7.0 refuses DER signatures"
    );
    assert!(
        public.verify("eddsa", b"msg", &sig).is_err(),
        "wrong method for the key type"
    );
    assert!(public.verify("rsapss", b"msg", &sig).is_err());
    assert!(
        public.verify("hmac-sha256", b"msg", &sig).is_err(),
        "unknown method"
    );
}

#[test]
fn raw_signature_halves_become_minimal_der_integers() {
    let der = super::algorithms::raw_to_der(&[0, 0x80], &[0, 1]);
    assert_eq!(der, [0x30, 0x07, 0x02, 0x02, 0x00, 0x80, 0x02, 0x01, 0x01]);
    assert_eq!(
        super::algorithms::raw_to_der(&[0, 0], &[5]),
        [0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x05]
    );
}

#[test]
fn ecdsa_p384_is_hashed_with_sha256() {
    let public = PublicKey::new(KeyType::Ecdsa, P384_SPKI.to_vec());
    public
        .verify("ecdsa", P384_MSG, P384_SIG)
        .expect("valid (made with openssl dgst -sha256)");
    assert!(public.verify("ecdsa", P384_MSG, &flip(P384_SIG)).is_err());
    assert!(public.verify("ecdsa", P384_MSG, &P384_SIG[..95]).is_err());
    assert!(public.verify("ecdsa", b"other", P384_SIG).is_err());
}

#[test]
fn rsa_pss_and_pkcs1v15() {
    let public = PublicKey::new(KeyType::Rsa, RSA_SPKI.to_vec());
    let pss = rsa_sign(&RSA_PSS_SHA256, b"msg");
    let pkcs1 = rsa_sign(&RSA_PKCS1_SHA256, b"msg");
    public.verify("rsapss", b"msg", &pss).expect("pss");
    public
        .verify("rsapkcs1v15", b"msg", &pkcs1)
        .expect("pkcs1v15");
    assert!(public.verify("rsapss", b"msg", &pkcs1).is_err());
    assert!(public.verify("rsapkcs1v15", b"msg", &pss).is_err());
    assert!(public.verify("rsapss", b"msg", &flip(&pss)).is_err());
    assert!(public.verify("rsapss", b"msg", &pss[1..]).is_err());
    assert!(
        public.verify("ecdsa", b"msg", &pss).is_err(),
        "wrong method for the key type"
    );
    assert!(
        public.verify("pycrypto-pkcs#1 pss", b"msg", &pss).is_err(),
        "needs a PEM key"
    );

    let pem = crate::tuf::pem::encode("PUBLIC KEY", RSA_SPKI);
    let legacy = PublicKey::new(KeyType::Rsa, pem.into_bytes());
    legacy
        .verify("pycrypto-pkcs#1 pss", b"msg", &pss)
        .expect("legacy PSS with a PEM key");
    assert_eq!(legacy.verifying_material(), public.verifying_material());
}

#[test]
fn eddsa() {
    let key = TestKey::ed25519();
    let public = key.public();
    let sig = key.sign(b"msg");
    public.verify("eddsa", b"msg", &sig).expect("valid");
    assert!(public.verify("eddsa", b"msg", &flip(&sig)).is_err());
    assert!(public.verify("eddsa", b"msg", &sig[..63]).is_err());
    assert!(
        public.verify("ecdsa", b"msg", &sig).is_err(),
        "wrong method for the key type"
    );
    let short = PublicKey::new(KeyType::Ed25519, vec![1; 31]);
    assert!(short.verify("eddsa", b"msg", &sig).is_err());
}

#[test]
fn certificate_keys_verify_with_their_subject_key() {
    let root = fixtures::root("plain", 1);
    let cert_key = root
        .signed
        .keys
        .values()
        .find(|k| k.keytype() == KeyType::EcdsaX509)
        .expect("root cert");
    let sig = &root.signatures[0];
    cert_key
        .verify(&sig.method, root.canonical_signed(), &sig.sig)
        .expect("fixture root signature");
    assert!(cert_key
        .verify("rsapss", root.canonical_signed(), &sig.sig)
        .is_err());

    let pair = rcgen::KeyPair::generate().expect("keygen");
    let params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    let cert = params.self_signed(&pair).expect("cert");
    let x509 = PublicKey::new(
        KeyType::EcdsaX509,
        crate::tuf::pem::encode("CERTIFICATE", cert.der()).into_bytes(),
    );
    let bare = PublicKey::new(
        KeyType::Ecdsa,
        rcgen::PublicKeyData::subject_public_key_info(&pair),
    );
    assert_ne!(x509.id(), bare.id());
    assert_eq!(
        x509.verifying_material().expect("cert"),
        bare.verifying_material().expect("spki")
    );
}

/// The memo of checked signatures answers only for exactly the bytes that verified: another
/// message, another signature, another key or another method is checked in full and fails.
#[test]
fn a_remembered_signature_covers_only_its_own_bytes() {
    for key in [TestKey::p256(), TestKey::ed25519()] {
        let public = key.public();
        let msg = format!("memo test {:?}", public.id());
        let sig = key.sign(msg.as_bytes());
        public
            .verify(key.method(), msg.as_bytes(), &sig)
            .expect("verifies");
        // Now remembered; the same check again answers the same.
        public
            .verify(key.method(), msg.as_bytes(), &sig)
            .expect("verifies again");
        assert!(public
            .verify(key.method(), b"another message", &sig)
            .is_err());
        assert!(public
            .verify(key.method(), msg.as_bytes(), &flip(&sig))
            .is_err());
        assert!(public.verify("rsapss", msg.as_bytes(), &sig).is_err());
        let other = TestKey::ed25519().public();
        assert!(other.verify(key.method(), msg.as_bytes(), &sig).is_err());
    }
}

/// What the signer records as its own signature is taken as checked (the record is consulted:
/// the bytes recorded here are no real signature), and only for that key and those bytes.
#[test]
fn a_signers_own_record_is_bound_to_key_and_bytes() {
    let public = TestKey::ed25519().public();
    let recorded = [7u8; 64];
    assert!(public.verify("eddsa", b"signed here", &recorded).is_err());
    public.remember_own_signature("eddsa", b"signed here", &recorded);
    public
        .verify("eddsa", b"signed here", &recorded)
        .expect("the record answers");
    let other = TestKey::ed25519().public();
    assert!(other.verify("eddsa", b"signed here", &recorded).is_err());
    assert!(public.verify("eddsa", b"signed herE", &recorded).is_err());
    assert!(public.verify("eddsa", b"signed here", &[8u8; 64]).is_err());
    // A caller that holds the message's digest meets the same record, and only with it.
    let sha256 = crate::tuf::digest::sha256;
    public
        .verify_digested("EdDSA", b"signed here", &sha256(b"signed here"), &recorded)
        .expect("the record answers a digested check");
    assert!(public
        .verify_digested("eddsa", b"signed herE", &sha256(b"signed herE"), &recorded)
        .is_err());
    assert!(other
        .verify_digested("eddsa", b"signed here", &sha256(b"signed here"), &recorded)
        .is_err());
}

/// A message over the memo's limit is checked every time, and still verifies.
#[test]
fn large_messages_are_checked_without_the_memo() {
    let key = TestKey::ed25519();
    let public = key.public();
    let msg = vec![b'x'; memo::MAX_MESSAGE + 1];
    assert!(memo::entry(
        &KeyId::parse(&"a".repeat(64)).expect("id"),
        "eddsa",
        &msg,
        b"sig"
    )
    .is_none());
    let sig = key.sign(&msg);
    public.verify("eddsa", &msg, &sig).expect("verifies");
    let mut other = msg;
    other[0] = b'y';
    assert!(public.verify("eddsa", &other, &sig).is_err());
}
