//! Chains a token may and may not be signed through, made with rcgen.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use serde_json::json;

use super::{TokenError, Verifier};

const ISSUER: &str = "issuer";
const SERVICE: &str = "service";

fn params(name: &str, is_ca: IsCa, usages: &[KeyUsagePurpose]) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = is_ca;
    params.key_usages = usages.to_vec();
    params
}

fn ca(constraint: BasicConstraints) -> IsCa {
    IsCa::Ca(constraint)
}

const CA_USAGES: &[KeyUsagePurpose] = &[KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];

type Ca = CertifiedIssuer<'static, KeyPair>;

fn root() -> Ca {
    let params = params("root", ca(BasicConstraints::Unconstrained), CA_USAGES);
    CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("root")
}

fn intermediate(name: &str, is_ca: IsCa, usages: &[KeyUsagePurpose], parent: &Ca) -> Ca {
    let params = params(name, is_ca, usages);
    CertifiedIssuer::signed_by(params, KeyPair::generate().expect("key"), parent).expect("cert")
}

/// A token signed by a new leaf under `parent`, sent with `chain` (DERs after the leaf's).
fn token(parent: &Ca, chain: &[&Ca], adjust: impl FnOnce(&mut CertificateParams)) -> String {
    let mut params = params("leaf", IsCa::NoCa, &[KeyUsagePurpose::DigitalSignature]);
    adjust(&mut params);
    let key = KeyPair::generate().expect("key");
    let leaf = params.signed_by(&key, parent).expect("leaf");
    let mut header = Header::new(Algorithm::ES256);
    let mut x5c = vec![STANDARD.encode(leaf.der())];
    x5c.extend(chain.iter().map(|c| STANDARD.encode(c.der())));
    header.x5c = Some(x5c);
    let now = jsonwebtoken::get_current_timestamp();
    let claims = json!({
        "iss": ISSUER, "aud": SERVICE, "nbf": now - 10, "exp": now + 300,
        "access": [{"type": "repository", "name": "gun", "actions": ["pull"]}],
    });
    jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_ec_der(&key.serialize_der()),
    )
    .expect("token")
}

fn verify(root: &Ca, token: &str) -> Result<usize, TokenError> {
    let verifier = Verifier::new(ISSUER, SERVICE, root.pem().as_bytes()).expect("verifier");
    verifier.verify(token).map(|grants| grants.len())
}

fn untrusted(result: Result<usize, TokenError>) -> String {
    match result {
        Err(TokenError::Untrusted(why)) => why,
        other => panic!("expected an untrusted chain, got {other:?}"),
    }
}

#[test]
fn a_chain_through_a_ca_intermediate_is_accepted() {
    let root = root();
    let mid = intermediate("mid", ca(BasicConstraints::Unconstrained), CA_USAGES, &root);
    assert_eq!(verify(&root, &token(&mid, &[&mid], |_| {})), Ok(1));
    // Sending the root along, as some token services do, changes nothing.
    assert_eq!(verify(&root, &token(&mid, &[&mid, &root], |_| {})), Ok(1));
    // A leaf signed by the root directly.
    assert_eq!(verify(&root, &token(&root, &[], |_| {})), Ok(1));
}

#[test]
fn an_intermediate_that_is_not_a_ca_is_refused() {
    let root = root();
    let mid = intermediate("mid", IsCa::NoCa, CA_USAGES, &root);
    let why = untrusted(verify(&root, &token(&mid, &[&mid], |_| {})));
    assert!(why.contains("does not verify"), "{why}");
    let explicit = intermediate("mid", IsCa::ExplicitNoCa, CA_USAGES, &root);
    untrusted(verify(&root, &token(&explicit, &[&explicit], |_| {})));
}

#[test]
fn a_violated_path_length_is_refused() {
    let root = root();
    let upper = intermediate(
        "upper",
        ca(BasicConstraints::Constrained(0)),
        CA_USAGES,
        &root,
    );
    let lower = intermediate(
        "lower",
        ca(BasicConstraints::Unconstrained),
        CA_USAGES,
        &upper,
    );
    untrusted(verify(&root, &token(&lower, &[&lower, &upper], |_| {})));
    // The same depth is fine when the constraint allows it.
    let upper = intermediate(
        "upper",
        ca(BasicConstraints::Constrained(1)),
        CA_USAGES,
        &root,
    );
    let lower = intermediate(
        "lower",
        ca(BasicConstraints::Unconstrained),
        CA_USAGES,
        &upper,
    );
    assert_eq!(
        verify(&root, &token(&lower, &[&lower, &upper], |_| {})),
        Ok(1)
    );
}

#[test]
fn an_intermediate_whose_key_usage_lacks_cert_signing_is_refused() {
    let root = root();
    let usages = [KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::CrlSign];
    let mid = intermediate("mid", ca(BasicConstraints::Unconstrained), &usages, &root);
    untrusted(verify(&root, &token(&mid, &[&mid], |_| {})));
    // Without a keyUsage extension at all, nothing restricts it.
    let bare = intermediate("bare", ca(BasicConstraints::Unconstrained), &[], &root);
    assert_eq!(verify(&root, &token(&bare, &[&bare], |_| {})), Ok(1));
}

#[test]
fn an_expired_leaf_is_refused() {
    let root = root();
    let mid = intermediate("mid", ca(BasicConstraints::Unconstrained), CA_USAGES, &root);
    let expired = token(&mid, &[&mid], |p| {
        p.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(10);
        p.not_after = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    });
    untrusted(verify(&root, &expired));
}

#[test]
fn any_extended_key_usage_of_the_leaf_is_accepted() {
    // As docker/distribution's ExtKeyUsageAny: a TLS server certificate may sign tokens.
    let root = root();
    let tls = token(&root, &[], |p| {
        p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    });
    assert_eq!(verify(&root, &tls), Ok(1));
}

#[test]
fn a_bundle_certificate_signs_as_it_is_within_its_validity() {
    let key = KeyPair::generate().expect("key");
    let mut valid = params("signer", IsCa::NoCa, &[]);
    valid.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    let mut expired = valid.clone();
    expired.not_after = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    for (params, accepted) in [(valid, true), (expired, false)] {
        let cert = params.self_signed(&key).expect("cert");
        let mut header = Header::new(Algorithm::ES256);
        header.x5c = Some(vec![STANDARD.encode(cert.der())]);
        let now = jsonwebtoken::get_current_timestamp();
        let claims = json!({"iss": ISSUER, "aud": SERVICE, "exp": now + 300});
        let signed = jsonwebtoken::encode(
            &header,
            &claims,
            &EncodingKey::from_ec_der(&key.serialize_der()),
        )
        .expect("token");
        let verifier = Verifier::new(ISSUER, SERVICE, cert.pem().as_bytes()).expect("verifier");
        assert_eq!(verifier.verify(&signed).is_ok(), accepted, "{accepted}");
    }
}
