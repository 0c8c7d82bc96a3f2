//! Notary's signature methods over `ring` (`tuf/signed/verifiers.go`, docs/protocol.md §4.9).

use ring::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use x509_parser::prelude::{FromDer, SubjectPublicKeyInfo};
use x509_parser::public_key::PublicKey as ParsedKey;

use super::keytype::KeyType;
use super::PublicKey;
use crate::tuf::der::{modulus_bits, parse_certificate, MIN_RSA_BITS};
use crate::tuf::error::Error;
use crate::tuf::pem;

const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_P384: &str = "1.3.132.0.34";
const OID_RSA: &str = "1.2.840.113549.1.1.1";

/// Dispatches on the (already lower-cased) method and the type of `key`.
pub(super) fn verify(key: &PublicKey, method: &str, msg: &[u8], sig: &[u8]) -> Result<(), Error> {
    use KeyType::*;
    let (keytype, public) = (key.keytype, key.public.as_slice());
    match (method, keytype) {
        ("ecdsa", Ecdsa | EcdsaX509) => ecdsa(key.spki()?, msg, sig),
        ("rsapss", Rsa | RsaX509) => {
            rsa(key.spki()?, &signature::RSA_PSS_2048_8192_SHA256, msg, sig)
        }
        ("rsapkcs1v15", Rsa | RsaX509) => rsa(
            key.spki()?,
            &signature::RSA_PKCS1_2048_8192_SHA256,
            msg,
            sig,
        ),
        // Legacy: an `rsa` key whose public value is a PEM "PUBLIC KEY" block.
        ("pycrypto-pkcs#1 pss", Rsa) => {
            let block = pem::first_block(public)
                .ok_or_else(|| invalid_key("pycrypto-pkcs#1 pss needs a PEM public key"))?;
            rsa(&block.der, &signature::RSA_PSS_2048_8192_SHA256, msg, sig)
        }
        ("eddsa", Ed25519) => ed25519(public, msg, sig),
        ("ecdsa" | "rsapss" | "rsapkcs1v15" | "pycrypto-pkcs#1 pss" | "eddsa", keytype) => {
            Err(Error::InvalidSignature(format!(
                "method {method} cannot be used with {keytype} keys"
            )))
        }
        _ => Err(Error::InvalidSignature(format!(
            "unknown signature method {:?}",
            crate::tuf::error::excerpt(method)
        ))),
    }
}

/// The key itself, whatever its encoding (what `PublicKey::verifying_material` answers). An RSA
/// key is its modulus and exponent (its SubjectPublicKeyInfo may carry NULL parameters or none),
/// an ECDSA key its curve and point, wherever they were found (bare, PEM, certificate).
pub(super) fn material(key: &PublicKey) -> Result<Vec<u8>, Error> {
    let public = key.public.as_slice();
    let der = match key.keytype {
        KeyType::Ed25519 => return Ok([b"ed25519:", public].concat()),
        KeyType::Rsa => match pem::first_block(public) {
            Some(block) => block.der,
            None => public.to_vec(),
        },
        _ => key.spki()?.to_vec(),
    };
    let spki = parse_spki(&der)?;
    let trim = |n: &[u8]| {
        n.iter()
            .skip_while(|&&b| b == 0)
            .copied()
            .collect::<Vec<u8>>()
    };
    match spki.parsed() {
        Ok(ParsedKey::RSA(rsa)) => {
            Ok([&b"rsa:"[..], &trim(rsa.modulus), b":", &trim(rsa.exponent)].concat())
        }
        Ok(ParsedKey::EC(point)) => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .map(|p| p.data.to_vec())
                .unwrap_or_default();
            Ok([&b"ec:"[..], &curve, b":", point.data()].concat())
        }
        _ => Ok(der),
    }
}

/// The SubjectPublicKeyInfo DER of an ECDSA/RSA key: the bytes themselves for bare keys, the
/// subject key of the first PEM certificate for `-x509` keys (as Go's `pem.Decode` +
/// `x509.ParseCertificate` do).
pub(super) fn spki_der(keytype: KeyType, public: &[u8]) -> Result<Vec<u8>, Error> {
    if !keytype.is_x509() {
        return Ok(public.to_vec());
    }
    let block = pem::first_block(public)
        .ok_or_else(|| invalid_key("certificate key holds no PEM block"))?;
    let cert = parse_certificate(&block.der)?;
    Ok(cert.public_key().raw.to_vec())
}

/// The key type of a certificate (`x509`) or a SubjectPublicKeyInfo, both DER: ECDSA or RSA.
pub(super) fn keytype_of(der: &[u8], x509: bool) -> Result<KeyType, Error> {
    let spki = if x509 {
        parse_certificate(der)?.public_key().raw.to_vec()
    } else {
        der.to_vec()
    };
    let oid = parse_spki(&spki)?.algorithm.algorithm.to_id_string();
    match (oid.as_str(), x509) {
        (OID_EC_PUBLIC_KEY, true) => Ok(KeyType::EcdsaX509),
        (OID_EC_PUBLIC_KEY, false) => Ok(KeyType::Ecdsa),
        (OID_RSA, true) => Ok(KeyType::RsaX509),
        (OID_RSA, false) => Ok(KeyType::Rsa),
        _ => Err(invalid_key("only ECDSA and RSA keys can be pinned")),
    }
}

/// Parses a DER SubjectPublicKeyInfo with nothing after it.
fn parse_spki(der: &[u8]) -> Result<SubjectPublicKeyInfo<'_>, Error> {
    match SubjectPublicKeyInfo::from_der(der) {
        Ok(([], spki)) => Ok(spki),
        _ => Err(invalid_key("not a DER SubjectPublicKeyInfo")),
    }
}

fn ecdsa(spki_der: &[u8], msg: &[u8], sig: &[u8]) -> Result<(), Error> {
    let spki = parse_spki(spki_der)?;
    if spki.algorithm.algorithm.to_id_string() != OID_EC_PUBLIC_KEY {
        return Err(invalid_key("not an ECDSA key"));
    }
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| x509_parser::der_parser::Oid::try_from(p).ok())
        .map(|oid| oid.to_id_string());
    let point: &[u8] = &spki.subject_public_key.data;
    // Notary signs SHA-256 of the message for every curve and sends raw r‖s, each half padded
    // to the curve size; any other length is invalid (0.7.0 does not accept DER here).
    match curve.as_deref() {
        Some(OID_P256) => check(&signature::ECDSA_P256_SHA256_FIXED, point, msg, sig),
        Some(OID_P384) => {
            if sig.len() != 96 {
                return Err(bad_signature("ECDSA P-384 signatures are 96 bytes"));
            }
            let der = raw_to_der(&sig[..48], &sig[48..]);
            check(&signature::ECDSA_P384_SHA256_ASN1, point, msg, &der)
        }
        _ => Err(invalid_key("unsupported ECDSA curve (P-256 and P-384 are)")),
    }
}

/// DER `SEQUENCE { INTEGER r, INTEGER s }` from big-endian unsigned halves.
pub(super) fn raw_to_der(r: &[u8], s: &[u8]) -> Vec<u8> {
    fn integer(out: &mut Vec<u8>, bytes: &[u8]) {
        let trimmed: &[u8] = match bytes.iter().position(|&b| b != 0) {
            Some(i) => &bytes[i..],
            None => &[0],
        };
        let pad = trimmed[0] & 0x80 != 0;
        out.push(0x02);
        // At most 49 content bytes for P-384: a one-byte length always fits.
        out.push((trimmed.len() + usize::from(pad)) as u8);
        if pad {
            out.push(0);
        }
        out.extend_from_slice(trimmed);
    }
    let mut body = Vec::with_capacity(2 * (r.len() + 3));
    integer(&mut body, r);
    integer(&mut body, s);
    let mut out = vec![0x30, body.len() as u8];
    out.extend_from_slice(&body);
    out
}

fn rsa(
    spki_der: &[u8],
    algorithm: &'static dyn VerificationAlgorithm,
    msg: &[u8],
    sig: &[u8],
) -> Result<(), Error> {
    let spki = parse_spki(spki_der)?;
    if spki.algorithm.algorithm.to_id_string() != OID_RSA {
        return Err(invalid_key("not an RSA key"));
    }
    let bits = match spki.parsed() {
        Ok(ParsedKey::RSA(rsa)) => modulus_bits(rsa.modulus),
        _ => return Err(invalid_key("malformed RSA key")),
    };
    if bits < MIN_RSA_BITS {
        return Err(invalid_key("RSA keys must be at least 2048 bits"));
    }
    // ring wants the PKCS#1 RSAPublicKey, which is the SPKI's bit string.
    check(algorithm, &spki.subject_public_key.data, msg, sig)
}

fn ed25519(public: &[u8], msg: &[u8], sig: &[u8]) -> Result<(), Error> {
    if public.len() != 32 {
        return Err(invalid_key("Ed25519 public keys are 32 bytes"));
    }
    if sig.len() != 64 {
        return Err(bad_signature("Ed25519 signatures are 64 bytes"));
    }
    check(&signature::ED25519, public, msg, sig)
}

fn check(
    algorithm: &'static dyn VerificationAlgorithm,
    public: &[u8],
    msg: &[u8],
    sig: &[u8],
) -> Result<(), Error> {
    UnparsedPublicKey::new(algorithm, public)
        .verify(msg, sig)
        .map_err(|_| bad_signature("signature does not verify"))
}

fn invalid_key(reason: &str) -> Error {
    Error::InvalidKey(reason.to_owned())
}

fn bad_signature(reason: &str) -> Error {
    Error::InvalidSignature(reason.to_owned())
}
