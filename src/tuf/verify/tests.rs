use std::collections::BTreeMap;

use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

use super::*;
use crate::tuf::cjson;
use crate::tuf::fixtures::TestKey;
use crate::tuf::key::KeyType;
use crate::tuf::metadata::{
    self, envelope_bytes, snapshot_value, Expires, FileMeta, Signature, Snapshot,
};

/// Canonical bytes of a small snapshot body: what the test signatures cover.
fn body() -> Vec<u8> {
    let expires = Expires::parse("2030-01-01T00:00:00Z").expect("valid");
    let meta = BTreeMap::from([
        ("root".to_owned(), FileMeta::of(b"r")),
        ("targets".to_owned(), FileMeta::of(b"t")),
    ]);
    cjson::encode(&snapshot_value(3, &expires, &meta)).expect("encodes")
}

fn signed(signatures: &[Signature]) -> Signed<Snapshot> {
    metadata::parse(&envelope_bytes(&body(), signatures)).expect("envelope parses")
}

fn role(keys: &[&TestKey]) -> (BTreeMap<KeyId, PublicKey>, Vec<KeyId>) {
    let map: BTreeMap<_, _> = keys.iter().map(|k| (k.public().id(), k.public())).collect();
    let ids = map.keys().cloned().collect();
    (map, ids)
}

#[test]
fn no_signatures() {
    let a = TestKey::p256();
    let (keys, ids) = role(&[&a]);
    let err = verify_threshold(&signed(&[]), "snapshot", &keys, &ids, 1).expect_err("unsigned");
    assert_eq!(err.to_string(), "tuf: data has no signatures");
}

#[test]
fn threshold_must_be_positive() {
    let a = TestKey::p256();
    let (keys, ids) = role(&[&a]);
    let doc = signed(&[a.signature(&body())]);
    verify_threshold(&doc, "snapshot", &keys, &ids, 1).expect("one valid signature");
    assert!(matches!(
        verify_threshold(&doc, "snapshot", &keys, &ids, 0),
        Err(Error::InvalidThreshold { .. })
    ));
}

#[test]
fn below_threshold() {
    let (a, b) = (TestKey::p256(), TestKey::ed25519());
    let (keys, ids) = role(&[&a, &b]);
    let doc = signed(&[a.signature(&body())]);
    let err = verify_threshold(&doc, "snapshot", &keys, &ids, 2).expect_err("one of two");
    assert_eq!(
        err.to_string(),
        "valid signatures did not meet threshold for snapshot"
    );
    let both = signed(&[a.signature(&body()), b.signature(&body())]);
    verify_threshold(&both, "snapshot", &keys, &ids, 2).expect("two distinct keys");
}

#[test]
fn duplicate_signatures_count_once() {
    let (a, b) = (TestKey::p256(), TestKey::ed25519());
    let (keys, ids) = role(&[&a, &b]);
    let doc = signed(&[
        a.signature(&body()),
        a.signature(&body()),
        a.signature(&body()),
    ]);
    verify_threshold(&doc, "snapshot", &keys, &ids, 2)
        .expect_err("duplicate signature must not count twice");
}

#[test]
fn unknown_keys_are_ignored() {
    let (a, stranger) = (TestKey::p256(), TestKey::p256());
    let (keys, ids) = role(&[&a]);
    let doc = signed(&[stranger.signature(&body())]);
    verify_threshold(&doc, "snapshot", &keys, &ids, 1)
        .expect_err("a stranger's signature counts for nothing");
    let doc = signed(&[stranger.signature(&body()), a.signature(&body())]);
    verify_threshold(&doc, "snapshot", &keys, &ids, 1).expect("the role key's signature counts");

    // In `keys` but not among the role's key IDs: ignored as well.
    let mut all_keys = keys.clone();
    all_keys.insert(stranger.public().id(), stranger.public());
    let doc = signed(&[stranger.signature(&body())]);
    verify_threshold(&doc, "snapshot", &all_keys, &ids, 1).expect_err("not a key of this role");
    // Among the key IDs but with no key: ignored.
    let mut more_ids = ids;
    more_ids.push(stranger.public().id());
    verify_threshold(&doc, "snapshot", &keys, &more_ids, 1).expect_err("no key to verify with");
}

#[test]
fn bad_signatures_and_unknown_methods_are_skipped() {
    let (a, b, c) = (TestKey::p256(), TestKey::ed25519(), TestKey::p256());
    let (keys, ids) = role(&[&a, &b, &c]);
    let mut broken = a.signature(&body());
    broken.sig[5] ^= 1;
    let mut odd_method = b.signature(&body());
    odd_method.method = "hmac".to_owned();
    let doc = signed(&[broken, odd_method, c.signature(&body())]);
    verify_threshold(&doc, "snapshot", &keys, &ids, 1).expect("c's good signature suffices");
    verify_threshold(&doc, "snapshot", &keys, &ids, 2).expect_err("only one good signature");
}

#[test]
fn each_key_id_gets_one_attempt() {
    let a = TestKey::p256();
    let (keys, ids) = role(&[&a]);
    let mut broken = a.signature(&body());
    broken.sig[5] ^= 1;
    let good = a.signature(&body());
    // A flood of bogus signatures naming a listed key costs one verification, not one each.
    let doc = signed(&[broken.clone(), good.clone()]);
    verify_threshold(&doc, "snapshot", &keys, &ids, 1).expect_err("a's one attempt failed");
    let doc = signed(&[good, broken]);
    verify_threshold(&doc, "snapshot", &keys, &ids, 1).expect("a's one attempt succeeded");
}

#[test]
fn too_many_signatures_are_refused() {
    let a = TestKey::p256();
    let (keys, ids) = role(&[&a]);
    let sig = a.signature(&body());
    let doc = signed(&vec![sig; MAX_SIGNATURES + 1]);
    assert!(matches!(
        verify_threshold(&doc, "snapshot", &keys, &ids, 1),
        Err(Error::TooManySignatures { count: 33, .. })
    ));
}

#[test]
fn key_id_content_mismatch_is_fatal() {
    let (a, b) = (TestKey::p256(), TestKey::ed25519());
    // The role lists a's ID but maps it to b's key content.
    let keys = BTreeMap::from([(a.public().id(), b.public())]);
    let ids = vec![a.public().id()];
    let lying = Signature {
        keyid: a.public().id(),
        method: "eddsa".to_owned(),
        sig: b.sign(&body()),
    };
    let err =
        verify_threshold(&signed(&[lying]), "snapshot", &keys, &ids, 1).expect_err("mismatch");
    assert!(
        err.to_string()
            .starts_with("key ID is not valid for key content"),
        "{err}"
    );
}

#[test]
fn one_key_under_two_ids_counts_once() {
    let pair = rcgen::KeyPair::generate().expect("keygen");
    let cert = rcgen::CertificateParams::new(Vec::<String>::new())
        .expect("params")
        .self_signed(&pair)
        .expect("cert");
    let rng = ring::rand::SystemRandom::new();
    let signer = EcdsaKeyPair::from_pkcs8(
        &ECDSA_P256_SHA256_FIXED_SIGNING,
        &pair.serialize_der(),
        &rng,
    )
    .expect("key");
    let bare = PublicKey::new(
        KeyType::Ecdsa,
        rcgen::PublicKeyData::subject_public_key_info(&pair),
    );
    let x509 = PublicKey::new(
        KeyType::EcdsaX509,
        crate::tuf::pem::encode("CERTIFICATE", cert.der()).into_bytes(),
    );
    let sig = signer.sign(&rng, &body()).expect("signs").as_ref().to_vec();
    let entry = |key: &PublicKey| Signature {
        keyid: key.id(),
        method: "ecdsa".to_owned(),
        sig: sig.clone(),
    };
    let doc = signed(&[entry(&bare), entry(&x509)]);
    let keys = BTreeMap::from([(bare.id(), bare), (x509.id(), x509)]);
    let ids: Vec<KeyId> = keys.keys().cloned().collect();
    verify_threshold(&doc, "root", &keys, &ids, 1).expect("both signatures are valid");
    verify_threshold(&doc, "root", &keys, &ids, 2)
        .expect_err("one key under two IDs must count once");
}

#[test]
fn one_rsa_key_in_two_encodings_is_one_key() {
    // The RSA certificate of the fixtures' targets/qa, and the same key as a bare public key
    // whose AlgorithmIdentifier omits the NULL parameters (a second valid DER encoding).
    let cert_key = crate::tuf::fixtures::key_pool("delegations")
        .into_values()
        .find(|k| k.keytype() == KeyType::RsaX509)
        .expect("the fixtures hold an RSA certificate");
    let block = crate::tuf::pem::first_block(cert_key.public_bytes()).expect("PEM");
    let (_, cert) = x509_parser::parse_x509_certificate(&block.der).expect("certificate");
    let spki = cert.public_key().raw.to_vec();
    const WITH_NULL: &[u8] = b"\x30\x0d\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01\x05\x00";
    const WITHOUT: &[u8] = b"\x30\x0b\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01";
    assert_eq!(
        &spki[4..4 + WITH_NULL.len()],
        WITH_NULL,
        "SEQUENCE, long form, then the algorithm"
    );
    let outer = u16::from_be_bytes([spki[2], spki[3]]) - 2;
    let mut other = vec![0x30, 0x82];
    other.extend_from_slice(&outer.to_be_bytes());
    other.extend_from_slice(WITHOUT);
    other.extend_from_slice(&spki[4 + WITH_NULL.len()..]);
    let bare = PublicKey::new(
        KeyType::Rsa,
        crate::tuf::pem::encode("PUBLIC KEY", &other).into_bytes(),
    );
    assert_ne!(bare.id(), cert_key.id());
    assert_eq!(
        bare.verifying_material().expect("parses"),
        cert_key.verifying_material().expect("parses"),
        "one key, however it is encoded, counts once"
    );
}

/// A parse remembers the signatures it passed, each under its own key only: the same parse
/// checked again counts them without a check, a changed signature or another key's role is
/// checked in full, and a clone keeps what the parse passed.
#[test]
fn a_parse_remembers_only_the_checks_it_passed() {
    let (a, b) = (TestKey::p256(), TestKey::ed25519());
    let (keys, ids) = role(&[&a]);
    let doc = signed(&[a.signature(&body())]);
    assert!(!doc.was_checked(&doc.signatures[0]));
    verify_threshold(&doc, "snapshot", &keys, &ids, 1).expect("signed by a");
    assert!(doc.was_checked(&doc.signatures[0]));
    verify_threshold(&doc, "snapshot", &keys, &ids, 1).expect("again, from the record");

    // Under another role's keys the record counts for nothing: b's role has no key a.
    let (b_keys, b_ids) = role(&[&b]);
    verify_threshold(&doc, "snapshot", &b_keys, &b_ids, 1).expect_err("a is not b");

    // A clone keeps the record; a signature changed on it is not the recorded one.
    let mut tampered = doc.clone();
    assert!(tampered.was_checked(&tampered.signatures[0]));
    tampered.signatures[0].sig[0] ^= 1;
    assert!(!tampered.was_checked(&tampered.signatures[0]));
    verify_threshold(&tampered, "snapshot", &keys, &ids, 1).expect_err("a changed signature");
    verify_threshold(&doc, "snapshot", &keys, &ids, 1).expect("the original is untouched");
}
