//! Reading a policy file: the I/O around `policy::Policy::parse` (the file itself, and the PEM
//! files its rules name, relative to the policy's directory).

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::policy::Policy;

/// The largest policy file read.
const MAX_POLICY_BYTES: u64 = 1 << 20;

/// Each loaded policy gets a new generation, so decisions made under another are not reused.
static GENERATION: AtomicU64 = AtomicU64::new(1);

/// A policy with where it came from.
#[derive(Debug, Clone)]
pub struct LoadedPolicy {
    /// The rules.
    pub policy: Policy,
    /// The file (or `command line`), for messages.
    pub origin: String,
    /// This load's generation.
    pub generation: u64,
}

impl LoadedPolicy {
    /// A policy made in code (the command line's flags), under a new generation.
    pub fn new(policy: Policy, origin: impl Into<String>) -> LoadedPolicy {
        LoadedPolicy {
            policy,
            origin: origin.into(),
            generation: GENERATION.fetch_add(1, Ordering::Relaxed),
        }
    }
}

/// Reads and parses the policy at `path`; the message names the file, the line and what is
/// wrong.
pub fn load_policy(path: &Path) -> Result<LoadedPolicy, String> {
    let origin = path.display().to_string();
    let text = read_bounded(path).map_err(|e| format!("{origin}: {e}"))?;
    let text = String::from_utf8(text).map_err(|_| format!("{origin}: not UTF-8 text"))?;
    let base: PathBuf = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let read = |file: &Path| -> std::io::Result<Vec<u8>> {
        let full = if file.is_absolute() {
            file.to_path_buf()
        } else {
            base.join(file)
        };
        read_bounded(&full)
    };
    let policy = Policy::parse(&text, &origin, &read).map_err(|e| e.to_string())?;
    Ok(LoadedPolicy::new(policy, origin))
}

fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let mut out = Vec::new();
    file.take(MAX_POLICY_BYTES + 1).read_to_end(&mut out)?;
    if out.len() as u64 > MAX_POLICY_BYTES {
        return Err(std::io::Error::other(format!(
            "larger than {MAX_POLICY_BYTES} bytes"
        )));
    }
    Ok(out)
}
