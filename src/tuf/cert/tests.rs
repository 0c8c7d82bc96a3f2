use rcgen::{date_time_ymd, BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

use super::*;
use crate::tuf::fixtures;
use crate::tuf::metadata::{self, Targets};

const SHA1_ECDSA_PEM: &str = include_str!("../testdata/sha1-ecdsa.pem");
const RSA1024_PEM: &str = include_str!("../testdata/rsa1024.pem");

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("valid time")
        .with_timezone(&Utc)
}

fn now() -> DateTime<Utc> {
    at("2027-01-01T00:00:00Z")
}

/// A certificate made for a test, with what is needed to issue others from it.
struct Made {
    pem: String,
    params: CertificateParams,
    key: KeyPair,
}

type Date = (i32, u8, u8);

const FROM: Date = (2026, 11, 1);
const TO: Date = (2036, 11, 1);

fn make(cn: &str, ca: bool, from: Date, to: Date, issuer: Option<&Made>) -> Made {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.distinguished_name.push(DnType::CommonName, cn);
    params.not_before = date_time_ymd(from.0, from.1, from.2);
    params.not_after = date_time_ymd(to.0, to.1, to.2);
    params.is_ca = if ca {
        IsCa::Ca(BasicConstraints::Unconstrained)
    } else {
        IsCa::ExplicitNoCa
    };
    let key = KeyPair::generate().expect("keygen");
    let cert = match issuer {
        None => params.self_signed(&key),
        Some(issuer) => params.signed_by(&key, &Issuer::from_params(&issuer.params, &issuer.key)),
    }
    .expect("certificate");
    Made {
        pem: pem::encode("CERTIFICATE", cert.der()),
        params,
        key,
    }
}

fn x509(pem: &str) -> PublicKey {
    PublicKey::new(KeyType::EcdsaX509, pem.as_bytes().to_vec())
}

fn root_cert_keys(set: &str) -> Vec<PublicKey> {
    let mut keys = Vec::new();
    for version in 1..=4 {
        let path_exists = fixtures::all()
            .iter()
            .any(|f| f.set == set && f.role == "root" && f.version == version);
        if !path_exists {
            continue;
        }
        let root = fixtures::root(set, version).signed;
        for id in &root.roles["root"].keyids {
            keys.push(root.keys[id].clone());
        }
    }
    keys
}

#[test]
fn fixture_roots_are_usable_for_their_gun_only() {
    for set in fixtures::SETS {
        let gun = fixtures::gun(set);
        for key in root_cert_keys(set) {
            usable_root_key(&key, &gun, now(), ExpiryCheck::Enforce)
                .expect("fixture root key is usable");
            for other in [
                "fixtures.example.com/plain/app608",
                "fixtures.example.com/plain/app60890",
                "",
            ] {
                if other != gun {
                    assert!(
                        usable_root_key(&key, other, now(), ExpiryCheck::Ignore).is_err(),
                        "{set} vs {other}"
                    );
                }
            }
        }
    }
    let plain = root_cert_keys("plain");
    assert!(usable_root_key(
        &plain[0],
        &fixtures::gun("deleg"),
        now(),
        ExpiryCheck::Enforce
    )
    .is_err());
}

/// The certificates are read once per key, and shared by its clones; what depends on the GUN
/// and the time is still checked on every call, and a refusal stays a refusal.
#[test]
fn a_keys_certificates_are_read_once_and_checked_each_time() {
    let fresh = || root_cert_keys("plain").remove(0);
    let key = fresh();
    let gun = fixtures::gun("plain");
    let later = at("2037-01-01T00:00:00Z");
    for _ in 0..2 {
        let copy = key.clone();
        usable_root_key(&copy, &gun, now(), ExpiryCheck::Enforce).expect("usable");
        assert!(usable_root_key(&copy, &gun, later, ExpiryCheck::Enforce).is_err());
        usable_root_key(&copy, &gun, later, ExpiryCheck::Ignore).expect("expiry ignored");
        assert!(usable_root_key(&copy, "other/gun", now(), ExpiryCheck::Ignore).is_err());
    }
    // What the certificate read kept for the key is what reading it anew gives.
    assert_eq!(key.verifying_material(), fresh().verifying_material());
    assert_eq!(key.canonical_id(), fresh().canonical_id());
    let not_canonical = x509(&key_pem(&key).replace('\n', "\r\n"));
    let first = usable_root_key(&not_canonical, &gun, now(), ExpiryCheck::Ignore);
    assert!(first.is_err());
    assert_eq!(
        first,
        usable_root_key(&not_canonical, &gun, now(), ExpiryCheck::Ignore)
    );
}

fn key_pem(key: &PublicKey) -> String {
    String::from_utf8(key.public_bytes().to_vec()).expect("PEM text")
}

#[test]
fn expiry_is_enforced_only_when_asked() {
    let key = &root_cert_keys("plain")[0];
    let gun = fixtures::gun("plain");
    let later = at("2037-01-01T00:00:00Z");
    let err = usable_root_key(key, &gun, later, ExpiryCheck::Enforce).expect_err("expired in 2036");
    assert!(err.to_string().contains("expired"), "{err}");
    usable_root_key(key, &gun, later, ExpiryCheck::Ignore)
        .expect("expiry ignored for the trusted root");
    // NotBefore is 2026-11-22T21:40:59Z; a day of leeway is allowed.
    assert!(usable_root_key(key, &gun, at("2026-11-21T00:00:00Z"), ExpiryCheck::Enforce).is_err());
    usable_root_key(key, &gun, at("2026-11-21T22:00:00Z"), ExpiryCheck::Enforce)
        .expect("within a day");
}

#[test]
fn only_certificate_keys_in_canonical_pem() {
    let root = fixtures::root("plain", 1).signed;
    let gun = fixtures::gun("plain");
    let plain_key = root
        .keys
        .values()
        .find(|k| k.keytype() == KeyType::Ecdsa)
        .expect("targets key");
    assert!(usable_root_key(plain_key, &gun, now(), ExpiryCheck::Ignore).is_err());

    let key = &root_cert_keys("plain")[0];
    let pem = std::str::from_utf8(key.public_bytes()).expect("PEM is text");
    let block = crate::tuf::pem::first_block(key.public_bytes()).expect("block");
    let body = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &block.der);
    let wrapped_76: String = body
        .as_bytes()
        .chunks(76)
        .map(|l| format!("{}\n", std::str::from_utf8(l).expect("ASCII")))
        .collect();
    for variant in [
        pem.replace('\n', "\r\n"),
        format!("{pem}\n"),
        format!("junk\n{pem}"),
        format!("-----BEGIN CERTIFICATE-----\n{wrapped_76}-----END CERTIFICATE-----\n"),
        pem.trim_end().to_owned(),
    ] {
        let changed = PublicKey::new(KeyType::EcdsaX509, variant.clone().into_bytes());
        assert!(
            usable_root_key(&changed, &gun, now(), ExpiryCheck::Ignore).is_err(),
            "{variant:?}"
        );
    }
    let mislabelled = PublicKey::new(KeyType::RsaX509, key.public_bytes().to_vec());
    assert!(
        usable_root_key(&mislabelled, &gun, now(), ExpiryCheck::Ignore).is_err(),
        "ECDSA cert as rsa-x509"
    );
}

#[test]
fn wildcard_common_names() {
    let wild = make("fixtures.example.com/plain/*", false, FROM, TO, None);
    let key = x509(&wild.pem);
    usable_root_key(
        &key,
        "fixtures.example.com/plain/app",
        now(),
        ExpiryCheck::Enforce,
    )
    .expect("prefix");
    usable_root_key(
        &key,
        "fixtures.example.com/plain/",
        now(),
        ExpiryCheck::Enforce,
    )
    .expect("empty rest");
    assert!(usable_root_key(
        &key,
        "fixtures.example.com/other/app",
        now(),
        ExpiryCheck::Enforce
    )
    .is_err());
    let stars = x509(&make("fixtures.example.com/pl**", false, FROM, TO, None).pem);
    usable_root_key(
        &stars,
        "fixtures.example.com/plain",
        now(),
        ExpiryCheck::Enforce,
    )
    .expect("all * trimmed");
    // As in the reference, a bare `*` matches every GUN.
    let any = x509(&make("*", false, FROM, TO, None).pem);
    usable_root_key(&any, "anything/at/all", now(), ExpiryCheck::Enforce)
        .expect("reference behaviour");
}

#[test]
fn bundles_need_one_leaf_first_then_valid_cas() {
    let gun = "example.com/org/app";
    let ca = make("Example CA", true, FROM, TO, None);
    let leaf = make(gun, false, FROM, TO, Some(&ca));
    let other_leaf = make(gun, false, FROM, TO, None);
    usable_root_key(
        &x509(&format!("{}{}", leaf.pem, ca.pem)),
        gun,
        now(),
        ExpiryCheck::Enforce,
    )
    .expect("leaf, CA");
    for (bundle, why) in [
        (format!("{}{}", ca.pem, leaf.pem), "CA first"),
        (format!("{}{}", leaf.pem, other_leaf.pem), "two leaves"),
        (ca.pem, "CA only"),
        (
            make(gun, true, FROM, TO, None).pem,
            "self-signed CA as leaf",
        ),
    ] {
        assert!(
            usable_root_key(&x509(&bundle), gun, now(), ExpiryCheck::Ignore).is_err(),
            "{why}"
        );
    }
    let old_ca = make("Old CA", true, (2020, 1, 1), (2026, 12, 1), None);
    let leaf = make(gun, false, FROM, TO, Some(&old_ca));
    let bundle = x509(&format!("{}{}", leaf.pem, old_ca.pem));
    for check in [ExpiryCheck::Enforce, ExpiryCheck::Ignore] {
        assert!(
            usable_root_key(&bundle, gun, now(), check).is_err(),
            "expired intermediate, {check:?}"
        );
    }
    let instant = make(gun, false, FROM, FROM, None);
    assert!(
        usable_root_key(&x509(&instant.pem), gun, now(), ExpiryCheck::Ignore).is_err(),
        "empty window"
    );
}

#[test]
fn sha1_and_short_rsa_are_refused() {
    let gun = fixtures::gun("plain");
    let sha1 = PublicKey::new(KeyType::EcdsaX509, SHA1_ECDSA_PEM.as_bytes().to_vec());
    let err = usable_root_key(&sha1, &gun, now(), ExpiryCheck::Ignore).expect_err("SHA-1");
    assert!(err.to_string().contains("SHA-1"), "{err}");
    assert!(check_delegation_key(&sha1).is_err());
    let short = PublicKey::new(KeyType::RsaX509, RSA1024_PEM.as_bytes().to_vec());
    let err = usable_root_key(&short, &gun, now(), ExpiryCheck::Ignore).expect_err("RSA-1024");
    assert!(err.to_string().contains("2048"), "{err}");
    assert!(check_delegation_key(&short).is_err());
    // The reference looks for a certificate whatever the key type says.
    let disguised = PublicKey::new(KeyType::Ecdsa, SHA1_ECDSA_PEM.as_bytes().to_vec());
    assert!(check_delegation_key(&disguised).is_err());
}

#[test]
fn delegation_keys_ignore_expiry() {
    let targets: metadata::Signed<Targets> =
        metadata::parse(&fixtures::read("delegations", 5, "targets")).expect("parses");
    assert_eq!(targets.signed.delegations.keys.len(), 2);
    for key in targets.signed.delegations.keys.values() {
        check_delegation_key(key).expect("fixture delegation certificates (ECDSA, RSA-2048)");
    }
    let expired = make("old signer", false, (2019, 1, 1), (2020, 1, 1), None);
    check_delegation_key(&x509(&expired.pem)).expect("expiry is not checked for delegations");
    check_delegation_key(&fixtures::TestKey::p256().public()).expect("bare keys pass");
    let instant = make("x", false, FROM, FROM, None);
    assert!(check_delegation_key(&x509(&instant.pem)).is_err());
}
