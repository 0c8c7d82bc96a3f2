//! The policy file: rules that say, per repository name, where its trust data lives, which
//! root to trust and who must have signed. YAML, as the Kubernetes world writes policy.

mod budget;
mod check;
mod wire;

use std::path::{Path, PathBuf};

use super::glob;
use crate::tuf::key::{KeyId, PublicKey};
use crate::tuf::role::RoleName;

/// The largest policy text read, so a mistaken path (a disk image, say) fails fast.
const TEXT_MAX: usize = 1 << 20;
/// The most rules a policy may hold; matching walks them all for each image.
const RULES_MAX: usize = 10_000;

/// What a matching rule does with its verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A denied image is refused.
    Enforce,
    /// A denied image is admitted, with the reasons as warnings.
    Warn,
    /// The image is admitted without looking at trust data (system images, say).
    Allow,
}

/// Which root a repository's trust data must chain to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RootTrust {
    /// Root key IDs, as `docker trust inspect` or `notary key list` print them: the
    /// certificate's ID that root metadata lists, or the canonical ID of the key inside it.
    pub key_ids: Vec<KeyId>,
    /// Root keys given as PEM (a certificate or a public key), compared by key material.
    pub keys: Vec<PublicKey>,
    /// Trust the first root seen, and follow its rotations from then on. Only when no key is
    /// pinned; never implied.
    pub tofu: bool,
}

/// One signer a rule requires: the delegation `targets/NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    /// The name as written (`alice`, or `team/alice` for a nested delegation).
    pub name: String,
    /// `targets/NAME`.
    pub role: RoleName,
    /// When not empty, only signatures by these keys count for this signer.
    pub key_ids: Vec<KeyId>,
}

/// One rule of a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The anchored glob matched against the normalised name, as written (`match:`).
    pub pattern: String,
    /// The trust server; `None`: the local store when served, the CLI's server otherwise.
    pub server: Option<String>,
    /// A CA bundle for the trust server's TLS certificate.
    pub ca: Option<PathBuf>,
    /// The root to trust.
    pub root: RootTrust,
    /// Required signers; empty means Docker's pull rule (`targets/releases`, else `targets`).
    pub signers: Vec<Signer>,
    /// How many of `signers` must have signed; `None` means all of them.
    pub threshold: Option<u32>,
    /// What to do with the verdict.
    pub mode: Mode,
    /// Whether the admission webhook's break-glass annotation may admit what this rule denies
    /// (always audited). Off unless the policy says `break_glass: true`.
    pub break_glass: bool,
}

/// A loaded policy: its rules, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// The rules as written.
    pub rules: Vec<Rule>,
}

/// Why a policy was refused at load: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The file does not say what a policy must.
    #[error("{origin}{}: {message}", location(*line, *column))]
    Invalid {
        /// The file (or other origin) the text came from.
        origin: String,
        /// 1-based line, when known.
        line: Option<usize>,
        /// 1-based column, when known.
        column: Option<usize>,
        /// What is wrong, naming the rule and field.
        message: String,
    },
}

fn location(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(":{l}:{c}"),
        (Some(l), None) => format!(":{l}"),
        _ => String::new(),
    }
}

impl Policy {
    /// Parses a policy from YAML `text` read from `origin`. Certificate files named in
    /// `root.certs` are read through `read`, so this stays free of I/O; a `ca:` path is kept
    /// as written, for the trust source to open.
    pub fn parse(
        text: &str,
        origin: &str,
        read: &dyn Fn(&Path) -> std::io::Result<Vec<u8>>,
    ) -> Result<Policy, PolicyError> {
        if text.len() > TEXT_MAX {
            return Err(PolicyError::Invalid {
                origin: origin.to_owned(),
                line: None,
                column: None,
                message: format!(
                    "the policy is {} bytes long; at most {TEXT_MAX} are read",
                    text.len()
                ),
            });
        }
        wire::parse(text, origin, read)
    }

    /// The rule for the normalised repository `name`: the most specific match, if any. Of
    /// equally specific matches the first in the file wins.
    pub fn rule_for(&self, name: &str) -> Option<&Rule> {
        let mut best: Option<(glob::Specificity, &Rule)> = None;
        for rule in &self.rules {
            if !glob::matches(&rule.pattern, name) {
                continue;
            }
            let specificity = glob::specificity(&rule.pattern);
            match &best {
                Some((so_far, _)) if *so_far >= specificity => {}
                _ => best = Some((specificity, rule)),
            }
        }
        best.map(|(_, rule)| rule)
    }
}

#[cfg(test)]
mod tests;
