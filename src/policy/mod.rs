//! The pure core of enforcement: image references, policy rules, and the verdict a rule gives
//! on a repository's trust data. No I/O and no clock: trust sources bring the bytes (`remote`,
//! the local store, which brings its parse of them too), callers pass `now`. Depends on `tuf`
//! only.

#![warn(missing_docs)]

mod glob;
pub mod reference;
pub mod rules;
pub mod trust;
pub mod verdict;

pub use reference::{Digest, ImageRef, ReferenceError};
pub use rules::{Mode, Policy, PolicyError, RootTrust, Rule, Signer};
pub use trust::{
    needed_roles, verify, verify_parsed, Parsed, Refusal, Seen, TrustData, Trusted, TrustedRole,
};
pub use verdict::{decide, judge, SignedBy, Verdict};

#[cfg(test)]
mod tests;
