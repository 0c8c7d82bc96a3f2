//! The trust directory: per repository, what was last trusted (for rollback protection and as
//! the root anchor across runs) and the files it came from (so a warm run downloads only the
//! timestamp).
//!
//! Layout: `{dir}/{gun}/seen.json` and `{dir}/{gun}/files/{sha256}.json`, one directory per
//! GUN segment. Every write is a temporary file, fsynced and renamed into place, so a crash
//! leaves the old state or the new one, never half of either. `seen.json` is written after
//! the files it goes with and is the only thing whose loss or damage matters: a damaged one is
//! an error, never an empty start, which would forget the remembered root and versions and
//! reopen rollback.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use ring::digest::{digest, SHA256};

use crate::gun::Gun;
use crate::policy::{Seen, TrustData};

use super::RemoteError;

/// The largest file loaded back (the largest [`Remote::fetch`](super::Remote::fetch) reads).
const FILE_LIMIT: u64 = 64 << 20;
/// Distinguishes the temporary files of concurrent writers in one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// What the trust directory holds for one repository.
#[derive(Debug, Clone, Default)]
pub struct CachedRepo {
    /// What was last trusted.
    pub seen: Seen,
    /// Files of the last trusted read, by lowercase hex sha256.
    pub files: HashMap<String, Bytes>,
}

/// A trust directory.
#[derive(Debug, Clone)]
pub struct TrustCache {
    dir: PathBuf,
}

impl TrustCache {
    /// The trust directory at `dir` (created when first written).
    pub fn new(dir: PathBuf) -> TrustCache {
        TrustCache { dir }
    }

    /// What is kept for `gun`; empty when nothing is.
    pub fn load(&self, gun: &str) -> Result<CachedRepo, RemoteError> {
        let repo = self.repo_dir(gun)?;
        let seen_path = repo.join("seen.json");
        let seen = match fs::read(&seen_path) {
            Ok(bytes) => serde_json::from_slice::<Seen>(&bytes).map_err(|e| {
                cache_error(format!(
                    "trust cache file {} is damaged ({e}); it remembers the trusted root and \
                     versions of {gun}, so it is not reset: check it, or remove it to trust \
                     {gun} anew",
                    seen_path.display()
                ))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Seen::default(),
            Err(e) => return Err(io_error("read", &seen_path, &e)),
        };
        let mut files = HashMap::new();
        let files_dir = repo.join("files");
        let entries = match fs::read_dir(&files_dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(CachedRepo { seen, files })
            }
            Err(e) => return Err(io_error("list", &files_dir, &e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| io_error("list", &files_dir, &e))?;
            let name = entry.file_name();
            let Some(hex) = name.to_str().and_then(|n| n.strip_suffix(".json")) else {
                continue;
            };
            if !is_sha256_hex(hex) || entry.metadata().map_or(true, |m| m.len() > FILE_LIMIT) {
                continue;
            }
            // A file that lost bytes is only a file to download again.
            let Ok(bytes) = fs::read(entry.path()) else {
                continue;
            };
            if hex::encode(digest(&SHA256, &bytes)) == hex {
                files.insert(hex.to_owned(), Bytes::from(bytes));
            }
        }
        Ok(CachedRepo { seen, files })
    }

    /// Remembers a verified read of `gun`: `seen` and the files of `data`.
    pub fn store(&self, gun: &str, seen: &Seen, data: &TrustData) -> Result<(), RemoteError> {
        let repo = self.repo_dir(gun)?;
        let files_dir = repo.join("files");
        create_private_dir(&files_dir)?;

        let mut kept = HashSet::new();
        let files = data
            .roots
            .last()
            .into_iter()
            .chain([&data.timestamp, &data.snapshot, &data.targets])
            .chain(data.delegations.values());
        for bytes in files {
            let name = format!("{}.json", hex::encode(digest(&SHA256, bytes)));
            // A file is named by its hash: one already there holds these bytes (a damaged one
            // is left out when read, and written again by the next read that needs it).
            if kept.insert(name.clone()) && !same_content(&files_dir.join(&name), bytes) {
                write_atomic(&files_dir, &name, bytes)?;
            }
        }
        let seen_json = serde_json::to_vec_pretty(seen)
            .map_err(|e| cache_error(format!("cannot encode what was seen of {gun}: {e}")))?;
        // A warm read that saw nothing new writes nothing: no fsync, no rename.
        if !same_content(&repo.join("seen.json"), &seen_json) {
            write_atomic(&repo, "seen.json", &seen_json)?;
        }

        // Only now, with the new state in place, do the files of older reads go.
        let entries = fs::read_dir(&files_dir).map_err(|e| io_error("list", &files_dir, &e))?;
        for entry in entries.flatten() {
            let name = entry.file_name();
            if name.to_str().is_none_or(|n| !kept.contains(n)) {
                let _ = fs::remove_file(entry.path());
            }
        }
        Ok(())
    }

    /// `{dir}/{gun}`, after checking that `gun` is a GUN (no `..`, no empty segment).
    fn repo_dir(&self, gun: &str) -> Result<PathBuf, RemoteError> {
        let gun = Gun::parse(gun)
            .map_err(|e| cache_error(format!("cannot keep trust data for {gun:?}: {e}")))?;
        let mut path = self.dir.clone();
        path.extend(gun.as_str().split('/'));
        Ok(path)
    }
}

/// Whether `path` holds exactly `bytes` (false when it cannot be read).
fn same_content(path: &Path, bytes: &[u8]) -> bool {
    fs::metadata(path).is_ok_and(|m| m.len() == bytes.len() as u64)
        && fs::read(path).is_ok_and(|on_disk| on_disk == bytes)
}

fn is_sha256_hex(name: &str) -> bool {
    name.len() == 64
        && name
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// `path` and its missing parents, readable by the owner only.
fn create_private_dir(path: &Path) -> Result<(), RemoteError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(path)
        .map_err(|e| io_error("create", path, &e))
}

/// Writes `dir/name` by a temporary file, fsync and rename, then fsyncs `dir`.
fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), RemoteError> {
    let target = dir.join(name);
    let temp = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&temp).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()
    });
    if let Err(e) = written.and_then(|()| fs::rename(&temp, &target)) {
        let _ = fs::remove_file(&temp);
        return Err(io_error("write", &target, &e));
    }
    // The rename is durable once the directory is.
    if let Ok(handle) = fs::File::open(dir) {
        let _ = handle.sync_all();
    }
    Ok(())
}

fn io_error(action: &str, path: &Path, e: &std::io::Error) -> RemoteError {
    cache_error(format!("cannot {action} {}: {e}", path.display()))
}

/// Trust-directory failures are `Config` errors: like an unreadable CA file, they are the
/// local setup's, not the server's.
fn cache_error(message: String) -> RemoteError {
    RemoteError::Config(message)
}

#[cfg(test)]
mod tests;
