//! Verifying a Docker registry bearer token (docker/distribution `registry/auth/token`, docs/protocol.md §8).
//!
//! A token is a JWT signed with ES256 or RS256 by a key the operator trusts: either the leaf of
//! an `x5c` certificate chain that ends at a certificate of the configured bundle, or a bundle
//! certificate's key named by `kid` (libtrust's key ID). Decoding and the time and issuer checks
//! are `jsonwebtoken`'s; certificate parsing and chain signatures are `x509-parser`'s.

use std::collections::BTreeSet;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
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
    /// DER of each bundle certificate.
    roots: Vec<Vec<u8>>,
}

impl Verifier {
    /// A verifier trusting the certificates of `bundle_pem` (at least one).
    pub fn new(issuer: &str, service: &str, bundle_pem: &[u8]) -> Result<Verifier, String> {
        let mut roots = Vec::new();
        for pem in x509_parser::pem::Pem::iter_from_buffer(bundle_pem) {
            let pem = pem.map_err(|e| format!("root certificate bundle: {e}"))?;
            X509Certificate::from_der(&pem.contents)
                .map_err(|e| format!("root certificate bundle: {e}"))?;
            roots.push(pem.contents);
        }
        if roots.is_empty() {
            return Err("the root certificate bundle holds no certificate".into());
        }
        Ok(Verifier {
            issuer: issuer.to_owned(),
            service: service.to_owned(),
            roots,
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
            (Some(chain), _) if !chain.is_empty() => self.chain_leaf(chain)?,
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

    /// The leaf of an `x5c` chain, once every link is verified up to a bundle certificate.
    fn chain_leaf(&self, chain: &[String]) -> Result<Vec<u8>, TokenError> {
        if chain.len() > MAX_CHAIN {
            return Err(TokenError::Malformed("x5c chain too long".into()));
        }
        let ders: Vec<Vec<u8>> = chain
            .iter()
            .map(|c| STANDARD.decode(c))
            .collect::<Result<_, _>>()
            .map_err(|_| TokenError::Malformed("x5c is not base64".into()))?;
        let certs: Vec<X509Certificate<'_>> = ders
            .iter()
            .map(|d| X509Certificate::from_der(d).map(|(_, c)| c))
            .collect::<Result<_, _>>()
            .map_err(|_| {
                TokenError::Malformed("x5c holds a certificate that does not parse".into())
            })?;
        for cert in &certs {
            if !cert.validity().is_valid() {
                return Err(TokenError::Untrusted(
                    "an x5c certificate is outside its validity".into(),
                ));
            }
        }
        for pair in certs.windows(2) {
            pair[0]
                .verify_signature(Some(pair[1].public_key()))
                .map_err(|_| TokenError::Untrusted("x5c chain signature does not verify".into()))?;
        }
        let last = certs
            .last()
            .ok_or_else(|| TokenError::Malformed("empty x5c".into()))?;
        let last_der = ders.last().map(Vec::as_slice).unwrap_or_default();
        let anchored = self.roots.iter().any(|root| {
            root.as_slice() == last_der
                || X509Certificate::from_der(root)
                    .is_ok_and(|(_, r)| last.verify_signature(Some(r.public_key())).is_ok())
        });
        if !anchored {
            return Err(TokenError::Untrusted(
                "x5c chain does not end at a certificate of the root bundle".into(),
            ));
        }
        Ok(ders.into_iter().next().unwrap_or_default())
    }

    /// The bundle certificate whose key has libtrust key ID `kid`.
    fn root_by_kid(&self, kid: &str) -> Result<Vec<u8>, TokenError> {
        self.roots
            .iter()
            .find(|der| {
                X509Certificate::from_der(der)
                    .is_ok_and(|(_, c)| libtrust_key_id(c.public_key().raw) == kid)
            })
            .cloned()
            .ok_or_else(|| {
                TokenError::Untrusted(format!("no bundle certificate has key ID {kid:?}"))
            })
    }
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
