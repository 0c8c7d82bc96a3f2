//! The verdict: a rule applied to a repository's verified trust data for one image.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::reference::{Digest, ImageRef};
use super::rules::{Mode, Rule, Signer};
use super::trust::{self, Seen, TrustData, Trusted, TrustedRole};
use crate::tuf::role::RoleName;

/// One role that signed the image's digest, and the keys that signed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignedBy {
    /// `targets`, `targets/releases`, `targets/alice`, …
    pub role: String,
    /// The key IDs whose signatures counted.
    pub keys: Vec<String>,
}

/// The outcome for one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Whether the image is allowed by its rule (a `warn` rule's denial is `false` here; the
    /// caller admits it with the reasons as warnings).
    pub allowed: bool,
    /// The signed digest, when one was found.
    pub digest: Option<Digest>,
    /// The reference pinned to the signed digest (`NAME:TAG@sha256:…`).
    pub pinned: Option<String>,
    /// The roles that signed it.
    pub signers: Vec<SignedBy>,
    /// The earliest expiry of the metadata the decision rests on.
    pub expires: Option<DateTime<Utc>>,
    /// Why, in words; for a denial at least one.
    pub reasons: Vec<String>,
    /// The rule's mode.
    pub mode: Mode,
    /// Whether the rule lets the admission webhook's break-glass annotation admit a denial.
    pub break_glass: bool,
}

/// Decides whether `image` is signed as `rule` demands, by `data` verified from the anchor in
/// `rule` and `seen`, at `now`. Returns the verdict and, when the data verified, what to
/// remember for next time (also when the image itself is denied: the data was still trusted).
pub fn decide(
    image: &ImageRef,
    rule: &Rule,
    data: &TrustData,
    seen: &Seen,
    now: DateTime<Utc>,
) -> (Verdict, Option<Seen>) {
    if rule.mode == Mode::Allow {
        return (allowed_unverified(rule), None);
    }
    match trust::verify(image.name(), &rule.root, data, seen, now) {
        Ok(trusted) => {
            let verdict = judge(image, rule, &trusted);
            (verdict, Some(trusted.seen))
        }
        Err(refusal) => (denied(rule, vec![refusal.0]), None),
    }
}

/// The verdict of a rule that admits without looking at trust data.
pub fn allowed_unverified(rule: &Rule) -> Verdict {
    Verdict {
        allowed: true,
        digest: None,
        pinned: None,
        signers: Vec::new(),
        expires: None,
        reasons: vec![format!(
            "allowed without verification by the rule for {:?}",
            rule.pattern
        )],
        mode: rule.mode,
        break_glass: rule.break_glass,
    }
}

/// A denial for `reasons`.
pub fn denied(rule: &Rule, reasons: Vec<String>) -> Verdict {
    Verdict {
        mode: rule.mode,
        break_glass: rule.break_glass,
        ..refused(reasons)
    }
}

/// A denial that no rule's mode softens (no rule matched, the reference did not parse).
pub fn refused(reasons: Vec<String>) -> Verdict {
    Verdict {
        allowed: false,
        digest: None,
        pinned: None,
        signers: Vec::new(),
        expires: None,
        reasons,
        mode: Mode::Enforce,
        break_glass: false,
    }
}

/// What one role says of the image: the digest it lists for the tag (or that it lists the
/// given digest).
fn lookup(role: &TrustedRole, image: &ImageRef) -> Option<Digest> {
    match image.tag() {
        Some(tag) => {
            if !role.may_sign(tag) {
                return None;
            }
            let meta = role.targets.targets.get(tag)?;
            let sha = meta.sha256()?;
            <[u8; 32]>::try_from(sha).ok().map(Digest)
        }
        None => {
            let wanted = image.digest()?;
            role.targets
                .targets
                .iter()
                .filter(|(name, _)| role.may_sign(name))
                .any(|(_, meta)| meta.sha256() == Some(&wanted.0[..]))
                .then_some(*wanted)
        }
    }
}

/// The rule applied to trusted data: what [`decide`] answers once the data verified. Callers that
/// keep verified data (the same repository state, the same root anchor) judge further images
/// against it without verifying again.
pub fn judge(image: &ImageRef, rule: &Rule, trusted: &Trusted) -> Verdict {
    // What was asked for, in words: only a denial says it, so it is written only then.
    let what = || match image.tag() {
        Some(tag) => format!("tag {tag:?}"),
        None => format!(
            "digest {}",
            image.digest().map(ToString::to_string).unwrap_or_default()
        ),
    };
    // (role, the digest it lists) for every role that counts and holds the image.
    let mut found: Vec<(String, Digest, Vec<String>)> = Vec::new();
    let mut reasons = Vec::new();
    if rule.signers.is_empty() {
        // Docker's pull rule: targets/releases, else targets. A releases role that is there
        // but did not verify fails the decision rather than falling back.
        let releases = RoleName::releases();
        if let Some(why) = trusted.untrusted.get(&releases) {
            return denied(rule, vec![format!("{releases} is not trusted: {why}")]);
        }
        for role in [releases, RoleName::targets()] {
            if let Some(trusted_role) = trusted.roles.get(&role) {
                if let Some(digest) = lookup(trusted_role, image) {
                    found.push((role.to_string(), digest, trusted_role.signed_by.clone()));
                }
            }
        }
        if found.is_empty() {
            return denied(
                rule,
                vec![format!(
                    "{} of {} is not signed: neither targets/releases nor targets lists it",
                    what(),
                    image.name()
                )],
            );
        }
    } else {
        let needed = rule.threshold.map_or(rule.signers.len(), |k| k as usize);
        for signer in &rule.signers {
            match signer_says(signer, image, trusted) {
                Ok((digest, keys)) => found.push((signer.role.to_string(), digest, keys)),
                Err(why) => reasons.push(why),
            }
        }
        if found.len() < needed {
            let mut all = vec![format!(
                "{} of {} is signed by {} of the {} required signers ({} needed)",
                what(),
                image.name(),
                found.len(),
                rule.signers.len(),
                needed
            )];
            all.extend(reasons);
            return denied(rule, all);
        }
    }
    let digest = found[0].1;
    if let Some(other) = found.iter().find(|(_, d, _)| *d != digest) {
        return denied(
            rule,
            vec![format!(
                "the signers disagree on the digest of {}: {} lists {digest}, {} lists {}",
                what(),
                found[0].0,
                other.0,
                other.1
            )],
        );
    }
    if let Some(given) = image.digest() {
        if *given != digest {
            return denied(
                rule,
                vec![format!(
                    "the signed digest of {} is {digest}, not the requested {given}",
                    what()
                )],
            );
        }
    }
    let signers: Vec<SignedBy> = found
        .iter()
        .map(|(role, _, keys)| SignedBy {
            role: role.clone(),
            keys: keys.clone(),
        })
        .collect();
    reasons.insert(
        0,
        format!(
            "signed by {}",
            signers
                .iter()
                .map(|s| s.role.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    Verdict {
        allowed: true,
        digest: Some(digest),
        pinned: Some(image.pinned(&digest)),
        signers,
        expires: Some(trusted.expires),
        reasons,
        mode: rule.mode,
        break_glass: rule.break_glass,
    }
}

/// What one required signer says of the image: its digest and the keys that signed, or why it
/// does not count.
fn signer_says(
    signer: &Signer,
    image: &ImageRef,
    trusted: &Trusted,
) -> Result<(Digest, Vec<String>), String> {
    let role = &signer.role;
    let Some(trusted_role) = trusted.roles.get(role) else {
        // The first link of the chain that failed, or that is missing.
        let mut link = Some(role.clone());
        while let Some(r) = link {
            if let Some(why) = trusted.untrusted.get(&r) {
                return Err(format!("{} ({r}) is not trusted: {why}", signer.name));
            }
            link = r.parent();
        }
        return Err(format!(
            "{} has not signed: the repository has no delegation {role}",
            signer.name
        ));
    };
    let Some(digest) = lookup(trusted_role, image) else {
        return Err(format!("{} ({role}) has not signed it", signer.name));
    };
    if !signer.key_ids.is_empty() {
        let pinned = trusted_role
            .signed_by
            .iter()
            .filter(|id| signer_key_pinned(id, signer, trusted))
            .count();
        let needed = trusted
            .roles
            .get(&role.parent().unwrap_or_else(RoleName::targets))
            .and_then(|p| p.targets.delegation(role))
            .map_or(1, |d| d.threshold as usize);
        if pinned < needed {
            return Err(format!(
                "{} ({role}) is not signed by the pinned key(s) {}",
                signer.name,
                signer
                    .key_ids
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    Ok((digest, trusted_role.signed_by.clone()))
}

/// Whether the key listed as `id` that signed the signer's role is one of its pinned keys
/// (by listed or canonical ID).
fn signer_key_pinned(id: &str, signer: &Signer, trusted: &Trusted) -> bool {
    if signer.key_ids.iter().any(|k| k.as_str() == id) {
        return true;
    }
    let parent = signer.role.parent().unwrap_or_else(RoleName::targets);
    let Some(key) = trusted.roles.get(&parent).and_then(|p| {
        p.targets
            .delegations
            .keys
            .iter()
            .find(|(k, _)| k.as_str() == id)
            .map(|(_, key)| key)
    }) else {
        return false;
    };
    key.canonical_id()
        .is_ok_and(|c| signer.key_ids.contains(&c))
}
