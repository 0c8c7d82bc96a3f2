//! DER parsing that both keys and certificates need: one certificate, and an RSA modulus's
//! size.
//!
//! It sits below [`crate::tuf::cert`] and [`crate::tuf::key`] so that certificate checks can
//! use key types and key verification can read certificates without the two modules importing
//! each other.

use x509_parser::prelude::{FromDer, X509Certificate};

use crate::tuf::error::Error;

/// Notary refuses RSA keys below this many bits (`minRSAKeySizeBit`, `MinRSABitSize`).
pub const MIN_RSA_BITS: usize = 2048;

/// Parses one DER certificate with nothing after it (Go rejects trailing data).
pub(crate) fn parse_certificate(der: &[u8]) -> Result<X509Certificate<'_>, Error> {
    match X509Certificate::from_der(der) {
        Ok(([], cert)) => Ok(cert),
        Ok(_) => Err(Error::Certificate(
            "trailing data after the certificate".to_owned(),
        )),
        Err(e) => Err(Error::Certificate(format!("cannot parse certificate: {e}"))),
    }
}

/// Bit length of a big-endian unsigned modulus (leading zero bytes ignored).
pub(crate) fn modulus_bits(modulus: &[u8]) -> usize {
    match modulus.iter().position(|&b| b != 0) {
        Some(i) => (modulus.len() - i) * 8 - modulus[i].leading_zeros() as usize,
        None => 0,
    }
}
