//! Certificates as root and delegation keys (`trustpinning/certs.go`, `tuf/utils/x509.go`;
//! docs/protocol.md §3 steps 2.3 and 3.1).

use chrono::{DateTime, TimeDelta, Utc};
use x509_parser::prelude::X509Certificate;
use x509_parser::public_key::PublicKey as ParsedKey;

use crate::tuf::der::{modulus_bits, parse_certificate};
use crate::tuf::error::{excerpt, Error};
use crate::tuf::key::{KeyType, PublicKey};
use crate::tuf::pem;

pub use crate::tuf::der::MIN_RSA_BITS;

/// Signature algorithms notary refuses in certificates: SHA-1 with RSA (both OIDs Go maps to
/// `SHA1WithRSA`), DSA with SHA-1, ECDSA with SHA-1.
const SHA1_SIGNATURES: [&str; 4] = [
    "1.2.840.113549.1.1.5",
    "1.3.14.3.2.29",
    "1.2.840.10040.4.3",
    "1.2.840.10045.4.1",
];

/// Whether a certificate's validity period is checked against the current time.
///
/// Notary checks it for the root being uploaded and not for the stored root that authorises a
/// rotation (its certificates may have expired since).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiryCheck {
    /// `now ≤ NotAfter` and `NotBefore ≤ now + 1 day` are required.
    Enforce,
    /// Validity against `now` is not checked (NotBefore < NotAfter still is).
    Ignore,
}

/// Checks that `key` can act as a root key for `gun` (docs/protocol.md §3 step 2.3).
///
/// The key must be `ecdsa-x509`/`rsa-x509` whose PEM bundle holds exactly one leaf (non-CA)
/// certificate, first, followed only by CA certificates; the leaf's Common Name must equal the
/// GUN, or end in `*` with the GUN starting with the CN minus its trailing `*`s. The leaf must
/// pass [`ExpiryCheck`]-dependent validity checks, intermediates always with expiry enforced
/// (the reference drops invalid intermediates, which changes the rebuilt key's ID).
///
/// Notary verifies root signatures with keys rebuilt from the parsed certificates, so the PEM in
/// the file must be byte-identical to its canonical re-encoding, or the IDs would not match.
pub fn usable_root_key(
    key: &PublicKey,
    gun: &str,
    now: DateTime<Utc>,
    expiry: ExpiryCheck,
) -> Result<(), Error> {
    if !key.keytype().is_x509() {
        return Err(cert_error(format!(
            "root keys must be certificates (ecdsa-x509 or rsa-x509), not {}",
            key.keytype()
        )));
    }
    let certs = key.root_certs()?;
    if !cn_matches_gun(&certs.cn, gun) {
        return Err(cert_error(format!(
            "common name {:?} does not match the GUN {:?}",
            excerpt(&certs.cn),
            excerpt(gun)
        )));
    }
    let Some((leaf, intermediates)) = certs.validity.split_first() else {
        return Err(cert_error("no certificate found".to_owned()));
    };
    leaf.check((expiry == ExpiryCheck::Enforce).then_some(now))?;
    for intermediate in intermediates {
        intermediate.check(Some(now))?;
    }
    Ok(())
}

/// What [`usable_root_key`] checks of a key that depends on neither the GUN nor the time, read
/// from its certificates once per key (`PublicKey::root_certs` keeps it).
#[derive(Debug, Clone)]
pub(crate) struct RootCerts {
    /// The leaf's Common Name.
    cn: String,
    /// The leaf's validity, then each intermediate's.
    validity: Vec<Validity>,
}

/// One certificate's part of notary's `ValidateCertificate`: the checks that do not depend on
/// the time, done, and the validity window to check the time against.
#[derive(Debug, Clone)]
struct Validity {
    /// The Common Name, shortened, for messages.
    cn: String,
    /// `NotBefore` and `NotAfter`, or why the certificate is refused whatever the time.
    window: Result<(DateTime<Utc>, DateTime<Utc>), Error>,
}

impl RootCerts {
    /// Reads `key`'s PEM bundle as a root key's (see [`usable_root_key`]): exactly one leaf,
    /// first, then CA certificates only, in canonical PEM, its key of the key's type. Answers
    /// also the leaf's SubjectPublicKeyInfo, so that the certificate is not parsed again for it.
    pub(crate) fn read(key: &PublicKey) -> Result<(RootCerts, Vec<u8>), Error> {
        let blocks = pem::blocks(key.public_bytes());
        if blocks.is_empty() {
            return Err(cert_error("no PEM certificate found".to_owned()));
        }
        if blocks.iter().any(|b| b.label != "CERTIFICATE") {
            return Err(cert_error(
                "PEM bundle holds a block that is not a CERTIFICATE".to_owned(),
            ));
        }
        let canonical: String = blocks
            .iter()
            .map(|b| pem::encode("CERTIFICATE", &b.der))
            .collect();
        if canonical.as_bytes() != key.public_bytes() {
            return Err(cert_error(
                "PEM is not in canonical form (64-column base64, \\n line ends, nothing else)"
                    .to_owned(),
            ));
        }
        let certs = blocks
            .iter()
            .map(|b| parse_certificate(&b.der))
            .collect::<Result<Vec<_>, _>>()?;
        let Some((leaf, intermediates)) = certs.split_first() else {
            return Err(cert_error("no certificate found".to_owned()));
        };
        if is_ca(leaf)? {
            return Err(cert_error(
                "the first certificate must be a leaf (non-CA) certificate".to_owned(),
            ));
        }
        for intermediate in intermediates {
            if !is_ca(intermediate)? {
                return Err(cert_error(
                    "more than one leaf certificate in the bundle".to_owned(),
                ));
            }
        }
        let key_is_ec = matches!(leaf.public_key().parsed(), Ok(ParsedKey::EC(_)));
        if key_is_ec != (key.keytype() == KeyType::EcdsaX509) {
            return Err(cert_error(format!(
                "certificate key does not match key type {}",
                key.keytype()
            )));
        }
        let read = RootCerts {
            cn: common_name(leaf).unwrap_or_default().to_owned(),
            validity: certs.iter().map(Validity::of).collect(),
        };
        Ok((read, leaf.public_key().raw.to_vec()))
    }
}

impl Validity {
    fn of(cert: &X509Certificate<'_>) -> Validity {
        Validity {
            cn: excerpt(common_name(cert).unwrap_or_default()),
            window: window(cert),
        }
    }

    /// The certificate is valid, and when `now` is given (expiry enforced) valid at `now`.
    fn check(&self, now: Option<DateTime<Utc>>) -> Result<(), Error> {
        let (not_before, not_after) = self.window.clone()?;
        match now {
            Some(now) => in_window(&self.cn, not_before, not_after, now),
            None => Ok(()),
        }
    }
}

/// Checks a delegation key (docs/protocol.md §3 step 3.1): if its public value holds a PEM certificate,
/// that certificate needs NotBefore < NotAfter, no SHA-1 signature and RSA ≥ 2048 bits. Expiry
/// is not checked (notary relies on the role's own expiry). Bare keys pass.
///
/// Like the reference (`LoadCertFromPEM`), this looks at the first `CERTIFICATE` block without
/// headers that parses, whatever the key type claims.
pub fn check_delegation_key(key: &PublicKey) -> Result<(), Error> {
    let blocks = pem::blocks(key.public_bytes());
    for block in blocks
        .iter()
        .filter(|b| b.label == "CERTIFICATE" && !b.has_headers)
    {
        if let Ok(cert) = parse_certificate(&block.der) {
            return window(&cert).map(drop);
        }
    }
    Ok(())
}

/// Notary's `MatchCNToGun`: exact, or a prefix match when the CN ends in `*`.
///
/// Note: a CN of just `*` therefore matches every GUN, as in the reference.
fn cn_matches_gun(cn: &str, gun: &str) -> bool {
    match cn.strip_suffix('*') {
        Some(_) => gun.starts_with(cn.trim_end_matches('*')),
        None => cn == gun,
    }
}

/// Notary's `ValidateCertificate` without the time: a validity window that is not empty
/// (answered, for [`in_window`]), no SHA-1 signature, RSA of at least 2048 bits.
fn window(cert: &X509Certificate<'_>) -> Result<(DateTime<Utc>, DateTime<Utc>), Error> {
    let cn = excerpt(common_name(cert).unwrap_or_default());
    let validity = cert.validity();
    let not_before = to_utc(validity.not_before.timestamp())?;
    let not_after = to_utc(validity.not_after.timestamp())?;
    if not_before >= not_after {
        return Err(cert_error(format!(
            "certificate {cn:?} has an invalid validity window"
        )));
    }
    let algorithm = cert.signature_algorithm.algorithm.to_id_string();
    if SHA1_SIGNATURES.contains(&algorithm.as_str()) {
        return Err(cert_error(format!(
            "certificate {cn:?} uses an invalid SHA-1 signature algorithm"
        )));
    }
    if let Ok(ParsedKey::RSA(rsa)) = cert.public_key().parsed() {
        if modulus_bits(rsa.modulus) < MIN_RSA_BITS {
            return Err(cert_error(format!(
                "certificate {cn:?} has an RSA key shorter than 2048 bits"
            )));
        }
    }
    Ok((not_before, not_after))
}

/// `now` lies within the window, with Go's day of leeway on NotBefore (clock skew between
/// signer and server); `cn` names the certificate in the message.
fn in_window(
    cn: &str,
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let tomorrow = now
        .checked_add_signed(TimeDelta::days(1))
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    if not_before > tomorrow || now > not_after {
        return Err(cert_error(format!(
            "certificate {cn:?} is expired or not yet valid"
        )));
    }
    Ok(())
}

fn to_utc(unix_seconds: i64) -> Result<DateTime<Utc>, Error> {
    DateTime::from_timestamp(unix_seconds, 0)
        .ok_or_else(|| cert_error("certificate time out of range".to_owned()))
}

/// Go's `Subject.CommonName`: the last CN attribute that is a string.
fn common_name<'a>(cert: &'a X509Certificate<'_>) -> Option<&'a str> {
    cert.subject()
        .iter_common_name()
        .last()
        .and_then(|attr| attr.as_str().ok())
}

/// Go's `IsCA`; a certificate whose basic constraints cannot be read is refused (Go's parser
/// rejects duplicate or malformed extensions).
fn is_ca(cert: &X509Certificate<'_>) -> Result<bool, Error> {
    match cert.basic_constraints() {
        Ok(constraints) => Ok(constraints.is_some_and(|c| c.value.ca)),
        Err(e) => Err(cert_error(format!("unreadable basic constraints: {e}"))),
    }
}

fn cert_error(message: String) -> Error {
    Error::Certificate(message)
}

#[cfg(test)]
mod tests;
