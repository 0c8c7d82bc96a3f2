//! Signatures this process has already checked, so that the same signature over the same bytes
//! is checked once.
//!
//! A signature check is a pure function of the key, the method, the message and the
//! signature; a positive answer stays true. The enforcer verifies a repository's whole chain
//! on a decision-cache miss, most of which the server checked when the client uploaded it
//! (root, targets, delegations) or made itself (timestamp, snapshot) moments before; with this
//! memo those checks are lookups. Nothing is trusted on anyone's word: an entry is keyed by a
//! SHA-256 over all four inputs, the key by its ID (itself the SHA-256 of the key's type and
//! full public bytes, which a [`super::PublicKey`] computes once, so a lookup does not hash a
//! certificate again), so bytes that differ anywhere (a tampered row, another key) never meet
//! an entry and are checked in full.
//! Only successes are kept: a failing signature costs its check every time, as before.
//!
//! Bounded: [`CAPACITY`] entries of 32 bytes. Messages over [`MAX_MESSAGE`] whose digest the
//! caller does not have are not kept: for them hashing the message, which the check does
//! anyway, costs more than the check itself.

use std::sync::OnceLock;

use ring::digest::{Context, SHA256};

use super::KeyId;

/// Entries kept; quick_cache's eviction picks which go.
const CAPACITY: usize = 1 << 16;

/// The largest message whose checks are remembered.
pub(super) const MAX_MESSAGE: usize = 256 << 10;

/// Tells the memo's entries from any other SHA-256 over the same bytes.
const DOMAIN: &[u8] = b"notarium signature memo v2\0";

fn memo() -> &'static quick_cache::sync::Cache<[u8; 32], ()> {
    static MEMO: OnceLock<quick_cache::sync::Cache<[u8; 32], ()>> = OnceLock::new();
    MEMO.get_or_init(|| quick_cache::sync::Cache::new(CAPACITY))
}

/// The entry for one check, or `None` when the message is too large to be worth keeping.
pub(super) fn entry(key: &KeyId, method: &str, msg: &[u8], sig: &[u8]) -> Option<[u8; 32]> {
    if msg.len() > MAX_MESSAGE {
        return None;
    }
    Some(entry_digested(
        key,
        method,
        &crate::tuf::digest::sha256(msg),
        sig,
    ))
}

/// The entry for one check of a message whose SHA-256 is `msg_sha256`.
pub(super) fn entry_digested(
    key: &KeyId,
    method: &str,
    msg_sha256: &[u8; 32],
    sig: &[u8],
) -> [u8; 32] {
    let mut ctx = Context::new(&SHA256);
    ctx.update(DOMAIN);
    // Every variable-length part is preceded by its length, so no two inputs run together.
    for part in [
        key.as_str().as_bytes(),
        method.as_bytes(),
        msg_sha256.as_slice(),
        sig,
    ] {
        ctx.update(&(part.len() as u64).to_be_bytes());
        ctx.update(part);
    }
    let mut out = [0; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// Whether the check `entry` stands for succeeded before.
pub(super) fn known(entry: &[u8; 32]) -> bool {
    memo().get(entry).is_some()
}

/// Remembers that the check `entry` stands for succeeded.
pub(super) fn remember(entry: [u8; 32]) {
    memo().insert(entry, ());
}
