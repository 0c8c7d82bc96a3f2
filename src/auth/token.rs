//! Verifying a Docker registry bearer token (docker/distribution `registry/auth/token`, docs/protocol.md §8).
//!
//! A token is a JWT signed with ES256 or RS256 by a key the operator trusts: either the leaf of
//! an `x5c` certificate chain that ends at a certificate of the configured bundle, or a bundle
//! certificate's key named by `kid` (libtrust's key ID). Decoding and the time and issuer checks
//! are `jsonwebtoken`'s; the chain is verified by `rustls-webpki`, as TLS certificates are.

use std::collections::BTreeSet;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rustls::pki_types::{CertificateDer, TrustAnchor, UnixTime};
use serde::Deserialize;
use webpki::{ExtendedKeyUsageValidator, KeyPurposeIdIter, VerifiedPath};
use x509_parser::prelude::{FromDer, X509Certificate};

/// How far `exp` and `nbf` may be off, as the reference allows.
pub const LEEWAY_SECONDS: u64 = 60;
/// Longest `x5c` chain accepted.
const MAX_CHAIN: usize = 4;

/// Why a token was refused; shown to the client only as `invalid_token`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    /// Not a JWT, or a header we cannot use.
    #[error("malformed token: {0}")]
    Malformed(String),
    /// No trusted key signed it.
    #[error("token not signed by a trusted key: {0}")]
    Untrusted(String),
    /// Signature, time, issuer or audience check failed.
    #[error("token rejected: {0}")]
    Rejected(String),
}

/// One entry of the token's `access` claim.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Grant {
    /// `repository` or `registry`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The GUN, or `catalog`.
    pub name: String,
    /// Granted actions; `*` grants all.
    #[serde(default)]
    pub actions: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Claims {
    #[serde(default)]
    access: Vec<Grant>,
}

/// The trust configuration: issuer, audience and the certificates that may sign.
#[derive(Debug, Clone)]
pub struct Verifier {
    issuer: String,
    service: String,
    /// Each bundle certificate.
    roots: Vec<CertificateDer<'static>>,
    /// The same certificates as webpki's trust anchors.
    anchors: Vec<TrustAnchor<'static>>,
}

impl Verifier {
    /// A verifier trusting the certificates of `bundle_pem` (at least one).
    pub fn new(issuer: &str, service: &str, bundle_pem: &[u8]) -> Result<Verifier, String> {
        let mut roots = Vec::new();
        let mut anchors = Vec::new();
        for pem in x509_parser::pem::Pem::iter_from_buffer(bundle_pem) {
            let pem = pem.map_err(|e| format!("root certificate bundle: {e}"))?;
            X509Certificate::from_der(&pem.contents)
                .map_err(|e| format!("root certificate bundle: {e}"))?;
            let der = CertificateDer::from(pem.contents);
            anchors.push(
                webpki::anchor_from_trusted_cert(&der)
                    .map_err(|e| format!("root certificate bundle: {e}"))?
                    .to_owned(),
            );
            roots.push(der);
        }
        if roots.is_empty() {
            return Err("the root certificate bundle holds no certificate".into());
        }
        Ok(Verifier {
            issuer: issuer.to_owned(),
            service: service.to_owned(),
            roots,
            anchors,
        })
    }

    /// The grants of a valid token.
    pub fn verify(&self, token: &str) -> Result<Vec<Grant>, TokenError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| TokenError::Malformed(e.to_string()))?;
        if !matches!(header.alg, Algorithm::ES256 | Algorithm::RS256) {
            return Err(TokenError::Malformed(format!(
                "algorithm {:?} is not accepted (ES256, RS256)",
                header.alg
            )));
        }
        let signer = match (&header.x5c, &header.kid) {
            (Some(chain), _) if !chain.is_empty() => {
                self.chain_leaf(chain, jsonwebtoken::get_current_timestamp())?
            }
            (_, Some(kid)) => self.root_by_kid(kid)?,
            _ => {
                return Err(TokenError::Untrusted(
                    "the token names its key neither by x5c nor by kid".into(),
                ))
            }
        };
        let key = decoding_key(&signer, header.alg)?;
        let mut validation = Validation::new(header.alg);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.service]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let data = jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map_err(|e| TokenError::Rejected(e.to_string()))?;
        Ok(data.claims.access)
    }

    /// The leaf of an `x5c` chain (leaf first), once it is verified up to a bundle certificate.
    ///
    /// A leaf that is itself a bundle certificate is trusted as it is, within its validity (as
    /// Go's `x509.Certificate.Verify` does for a leaf found among the roots: this is how the
    /// built-in token service and single-certificate setups sign). Any other chain is verified
    /// by `rustls-webpki` against the bundle as trust anchors: signatures, validity at `now`,
    /// CA basicConstraints and path lengths of every issuer; and here, on top, keyCertSign in
    /// the keyUsage of every intermediate that carries one (RFC 5280 §4.2.1.3, which webpki
    /// leaves to the caller).
    fn chain_leaf(&self, chain: &[String], now: u64) -> Result<Vec<u8>, TokenError> {
        if chain.len() > MAX_CHAIN {
            return Err(TokenError::Malformed("x5c chain too long".into()));
        }
        let ders: Vec<CertificateDer<'static>> = chain
            .iter()
            .map(|c| STANDARD.decode(c).map(CertificateDer::from))
            .collect::<Result<_, _>>()
            .map_err(|_| TokenError::Malformed("x5c is not base64".into()))?;
        let (leaf, intermediates) = ders
            .split_first()
            .ok_or_else(|| TokenError::Malformed("empty x5c".into()))?;
        if self.roots.iter().any(|root| root == leaf) {
            let (_, cert) = X509Certificate::from_der(leaf).map_err(|_| {
                TokenError::Malformed("x5c holds a certificate that does not parse".into())
            })?;
            let at = i64::try_from(now).unwrap_or(i64::MAX);
            let validity = cert.validity();
            if validity.not_before.timestamp() > at || validity.not_after.timestamp() < at {
                return Err(TokenError::Untrusted(
                    "the signing certificate is outside its validity".into(),
                ));
            }
            return Ok(leaf.to_vec());
        }
        let end_entity = webpki::EndEntityCert::try_from(leaf).map_err(|e| {
            TokenError::Malformed(format!("the x5c leaf certificate does not parse: {e}"))
        })?;
        end_entity
            .verify_for_usage(
                webpki::ALL_VERIFICATION_ALGS,
                &self.anchors,
                intermediates,
                UnixTime::since_unix_epoch(std::time::Duration::from_secs(now)),
                AnyUsage,
                None,
                Some(&intermediates_may_sign),
            )
            .map_err(|e| TokenError::Untrusted(format!("x5c chain does not verify: {e}")))?;
        Ok(leaf.to_vec())
    }

    /// The bundle certificate whose key has libtrust key ID `kid`.
    fn root_by_kid(&self, kid: &str) -> Result<Vec<u8>, TokenError> {
        self.roots
            .iter()
            .find(|der| {
                X509Certificate::from_der(der)
                    .is_ok_and(|(_, c)| libtrust_key_id(c.public_key().raw) == kid)
            })
            .map(|der| der.to_vec())
            .ok_or_else(|| {
                TokenError::Untrusted(format!("no bundle certificate has key ID {kid:?}"))
            })
    }
}

/// What a token-signing certificate may be used for: anything. docker/distribution verifies
/// the chain with `x509.ExtKeyUsageAny` (registry/auth/token/token.go, `parseAndVerifyCertChain`),
/// and registries' token services sign with certificates made for TLS (serverAuth) as often as
/// with ones made for signing; no EKU names "signs registry tokens", so requiring one would
/// refuse working setups without stopping anything a trusted CA could not already sign.
struct AnyUsage;

impl ExtendedKeyUsageValidator for AnyUsage {
    fn validate(&self, iter: KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        // Any purpose is accepted, but an extension that does not parse is still refused.
        for purpose in iter {
            purpose?;
        }
        Ok(())
    }
}

/// Every intermediate of a verified path that carries a keyUsage must allow keyCertSign.
fn intermediates_may_sign(path: &VerifiedPath<'_>) -> Result<(), webpki::Error> {
    for cert in path.intermediate_certificates() {
        let der = cert.der();
        let (_, parsed) = X509Certificate::from_der(&der).map_err(|_| webpki::Error::BadDer)?;
        let usage = parsed
            .key_usage()
            .map_err(|_| webpki::Error::BadDer)?
            .map(|ext| ext.value.key_cert_sign());
        if usage == Some(false) {
            // webpki has no variant for this; the logged reason is "extension value invalid".
            return Err(webpki::Error::ExtensionValueInvalid);
        }
    }
    Ok(())
}

/// The key in `cert_der` as `jsonwebtoken` wants it for `alg`.
fn decoding_key(cert_der: &[u8], alg: Algorithm) -> Result<DecodingKey, TokenError> {
    let (_, cert) = X509Certificate::from_der(cert_der)
        .map_err(|_| TokenError::Malformed("certificate does not parse".into()))?;
    let spki = cert.public_key();
    let key_bytes = spki.subject_public_key.data.as_ref();
    let oid = spki.algorithm.algorithm.to_id_string();
    match (alg, oid.as_str()) {
        // The SEC 1 point for ECDSA, the PKCS#1 RSAPublicKey for RSA: what ring verifies with.
        (Algorithm::ES256, "1.2.840.10045.2.1") => Ok(DecodingKey::from_ec_der(key_bytes)),
        (Algorithm::RS256, "1.2.840.113549.1.1.1") => Ok(DecodingKey::from_rsa_der(key_bytes)),
        _ => Err(TokenError::Untrusted(format!(
            "the signing certificate's key does not fit {alg:?}"
        ))),
    }
}

/// libtrust's key ID: SHA-256 of the DER SubjectPublicKeyInfo, first 240 bits, base32 without
/// padding, in twelve groups of four joined by `:` (what docker/distribution puts in `kid`).
pub fn libtrust_key_id(spki_der: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let digest = ring::digest::digest(&ring::digest::SHA256, spki_der);
    let bytes = &digest.as_ref()[..30];
    let mut out = String::with_capacity(59);
    let mut buffer: u64 = 0;
    let mut bits = 0;
    let mut emitted = 0;
    for &b in bytes {
        buffer = (buffer << 8) | u64::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            if emitted > 0 && emitted % 4 == 0 {
                out.push(':');
            }
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
            emitted += 1;
        }
    }
    out
}

/// Whether `grants` give every action of `actions` on (`kind`, `name`).
pub fn allows(grants: &[Grant], kind: &str, name: &str, actions: &[&str]) -> bool {
    let granted: BTreeSet<&str> = grants
        .iter()
        .filter(|g| g.kind == kind && g.name == name)
        .flat_map(|g| g.actions.iter().map(String::as_str))
        .collect();
    granted.contains("*") || actions.iter().all(|a| granted.contains(a))
}

#[cfg(test)]
mod tests;
