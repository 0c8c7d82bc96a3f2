//! The one threshold-signature check, used for root, targets, delegations and snapshot
//! (`tuf/signed/verify.go`, docs/protocol.md §5.3).

use std::collections::{BTreeMap, BTreeSet};

use crate::tuf::error::Error;
use crate::tuf::key::{KeyId, PublicKey};
use crate::tuf::metadata::Signed;

/// The most signatures one file may carry. Real clients write one per key that signs (a root
/// rotation: two); each is a public-key operation over the whole file.
pub const MAX_SIGNATURES: usize = 32;

/// Checks that at least `threshold` distinct keys of `role` signed `signed`'s canonical bytes.
///
/// The role's keys are those of `keyids` found in `keys`. Following notary:
/// 1. no signatures at all, or a threshold below 1, fails;
/// 2. a signature by a key ID outside the role is ignored;
/// 3. a role key whose computed ID differs from the signature's `keyid` fails outright
///    (`key ID is not valid for key content`);
/// 4. an unknown method or a signature that does not verify is skipped;
/// 5. each key counts once, however many valid signatures it made.
///
/// Off-spec, stricter: keys count by their verifying material too (see
/// [`PublicKey::verifying_material`]), so one key listed under two IDs (say, the same key in two
/// certificates) cannot meet a threshold of two on its own. And the work one file can ask for
/// is bounded: more than [`MAX_SIGNATURES`] signatures are refused, and each key ID is tried
/// once, so a flood of bogus signatures naming a listed key costs one verification.
pub fn verify_threshold<T>(
    signed: &Signed<T>,
    role: &str,
    keys: &BTreeMap<KeyId, PublicKey>,
    keyids: &[KeyId],
    threshold: u32,
) -> Result<(), Error> {
    valid_signers(signed, role, keys, keyids, threshold).map(drop)
}

/// [`verify_threshold`], answering which keys' signatures counted (one ID per distinct key, in
/// signature order): what a verifier reports as "signed by", and checks pins against.
pub fn valid_signers<T>(
    signed: &Signed<T>,
    role: &str,
    keys: &BTreeMap<KeyId, PublicKey>,
    keyids: &[KeyId],
    threshold: u32,
) -> Result<Vec<KeyId>, Error> {
    if signed.signatures.is_empty() {
        return Err(Error::NoSignatures);
    }
    if signed.signatures.len() > MAX_SIGNATURES {
        return Err(Error::TooManySignatures {
            role: role.to_owned(),
            count: signed.signatures.len(),
        });
    }
    if threshold < 1 {
        return Err(Error::InvalidThreshold {
            role: role.to_owned(),
            threshold,
        });
    }
    let mut tried: BTreeSet<&KeyId> = BTreeSet::new();
    let mut valid_material: BTreeSet<&[u8]> = BTreeSet::new();
    let mut counted = Vec::new();
    for sig in &signed.signatures {
        if !keyids.contains(&sig.keyid) {
            continue;
        }
        let Some(key) = keys.get(&sig.keyid) else {
            continue;
        };
        let computed = key.id();
        if computed != sig.keyid {
            return Err(Error::KeyIdMismatch {
                keyid: sig.keyid.to_string(),
                computed: computed.to_string(),
            });
        }
        if !tried.insert(&sig.keyid) {
            continue;
        }
        if !signed.was_checked(sig) {
            if key
                .verify_digested(
                    &sig.method,
                    signed.canonical_signed(),
                    signed.canonical_sha256(),
                    &sig.sig,
                )
                .is_err()
            {
                continue;
            }
            signed.mark_checked(sig);
        }
        let Ok(material) = key.material() else {
            continue;
        };
        if valid_material.insert(material) {
            counted.push(sig.keyid.clone());
        }
    }
    let valid = valid_material.len();
    if valid < threshold as usize {
        return Err(Error::Threshold {
            role: role.to_owned(),
            valid,
            threshold,
        });
    }
    Ok(counted)
}

#[cfg(test)]
mod tests;
