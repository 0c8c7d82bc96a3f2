//! `notarium import`: carrying a notary-server's repositories over, so that clients keep
//! working against Notarium with the trust data they already hold.
//!
//! What is carried: every GUN's every stored version (bytes, versions and times unchanged, so
//! every hash a client pinned still matches), the changefeed with its IDs (so a registry's
//! indexer can resume where it was), and, given notary-signer's database and passphrases, the
//! timestamp and snapshot private keys the old server signed with (so the root clients hold
//! still names keys the new server has). Without the keys, the repositories are readable but
//! the server cannot sign a new timestamp until the owner rotates the timestamp key
//! (`notary key rotate GUN timestamp -r`); the report says so for each GUN.
//!
//! The target must be empty: an import is a one-time switch, not a merge.

pub mod jwe;
pub mod source;

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context as _;
use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::gun::Gun;
use crate::signing::{algorithm, seal_imported, ImportedKey, Kek, ServerRole};
use crate::storage::{sha256_hex, Change, ChangeCategory, SharedStore, StoredFile, StoredKey};
use crate::tuf::key::KeyId;
use crate::tuf::metadata::{self, FileMeta};
use source::{SignerKey, SourceDb};

/// What one GUN's import did.
#[derive(Debug, Default)]
pub struct GunReport {
    /// The GUN.
    pub gun: String,
    /// Files written.
    pub files: usize,
    /// Changefeed records of this GUN written.
    pub changes: usize,
    /// Server keys written.
    pub keys: usize,
    /// Problems that did not stop the import: clients may need the owner to act.
    pub warnings: Vec<String>,
}

/// Where to get a sealed key's passphrase: notary-signer reads `NOTARY_SIGNER_<ALIAS>`.
pub trait Passphrases {
    /// The passphrase of `alias`, if known.
    fn passphrase(&self, alias: &str) -> Option<String>;
}

/// notary-signer's own convention: the environment variable `NOTARY_SIGNER_<ALIAS>`, the alias
/// upper-cased.
#[derive(Debug, Default)]
pub struct SignerEnvironment;

impl Passphrases for SignerEnvironment {
    fn passphrase(&self, alias: &str) -> Option<String> {
        std::env::var(format!("NOTARY_SIGNER_{}", alias.to_uppercase())).ok()
    }
}

/// The import: the old server's database, optionally the old signer's, and where to write.
pub struct Import<'a> {
    /// notary-server's database.
    pub server: &'a SourceDb,
    /// notary-signer's database, when its keys are to be carried.
    pub signer: Option<&'a SourceDb>,
    /// Passphrases of the signer's keys.
    pub passphrases: &'a dyn Passphrases,
    /// Notarium's store (must be empty).
    pub store: &'a SharedStore,
    /// Notarium's key-encryption key.
    pub kek: &'a Kek,
    /// The time given to rows the source recorded none for.
    pub now: DateTime<Utc>,
}

impl Import<'_> {
    /// Imports everything, reporting each GUN through `progress` as it is written.
    pub async fn run(
        &self,
        mut progress: impl FnMut(&GunReport),
    ) -> anyhow::Result<Vec<GunReport>> {
        anyhow::ensure!(
            self.store.is_empty().await?,
            "the target database already holds repositories, changes or keys; \
             import writes into an empty database only"
        );
        let names = self.server.guns().await.context("reading tuf_files")?;
        let mut guns = Vec::with_capacity(names.len());
        let mut invalid = Vec::new();
        for name in &names {
            match Gun::parse(name) {
                Ok(gun) => guns.push(gun),
                Err(e) => invalid.push(format!("{name:?}: {e}")),
            }
        }
        anyhow::ensure!(
            invalid.is_empty(),
            "the source holds GUNs Notarium refuses (nothing was imported): {}",
            invalid.join("; ")
        );
        let changes = self.server.changes().await.context("reading changefeed")?;
        let mut keys = self.signer_keys().await?;
        let mut reports = Vec::with_capacity(guns.len());
        for gun in &guns {
            let mut report = GunReport {
                gun: gun.as_str().to_owned(),
                ..GunReport::default()
            };
            let files = self.files(gun).await?;
            let stored = self.keys_of(gun, keys.remove(gun.as_str()), &mut report);
            self.store
                .import_gun(gun, &files, &stored)
                .await
                .with_context(|| format!("writing {gun}"))?;
            report.files = files.len();
            report.keys = stored.len();
            report.changes = changes.iter().filter(|c| c.gun == gun.as_str()).count();
            report.warnings.extend(check(&files, &stored));
            progress(&report);
            reports.push(report);
        }
        for (gun, left) in keys {
            tracing::warn!(
                gun,
                keys = left.len(),
                "signer keys of a GUN without files: not imported"
            );
        }
        let records: Vec<Change> = changes.into_iter().map(|c| change(c, self.now)).collect();
        self.store
            .import_changes(&records)
            .await
            .context("writing the changefeed")?;
        Ok(reports)
    }

    async fn files(&self, gun: &Gun) -> anyhow::Result<Vec<StoredFile>> {
        let rows = self
            .server
            .files(gun.as_str())
            .await
            .with_context(|| format!("reading the files of {gun}"))?;
        Ok(rows
            .into_iter()
            .map(|f| StoredFile {
                // Recomputed: notary's column is nullable and was back-filled by a migration.
                sha256: sha256_hex(&f.data),
                role: f.role,
                version: f.version,
                data: Bytes::from(f.data),
                created_at: f.created_at.unwrap_or(self.now),
            })
            .collect())
    }

    /// The signer's keys by GUN (empty without a signer database).
    async fn signer_keys(&self) -> anyhow::Result<BTreeMap<String, Vec<SignerKey>>> {
        let Some(signer) = self.signer else {
            return Ok(BTreeMap::new());
        };
        let mut by_gun: BTreeMap<String, Vec<SignerKey>> = BTreeMap::new();
        for key in signer.signer_keys().await.context("reading private_keys")? {
            by_gun.entry(key.gun.clone()).or_default().push(key);
        }
        Ok(by_gun)
    }

    /// Opens, checks and re-seals one GUN's keys; a key that cannot be carried is a warning.
    fn keys_of(
        &self,
        gun: &Gun,
        keys: Option<Vec<SignerKey>>,
        report: &mut GunReport,
    ) -> Vec<StoredKey> {
        let mut out = Vec::new();
        let mut generations: BTreeMap<&'static str, i64> = BTreeMap::new();
        for key in keys.unwrap_or_default() {
            let role = match key.role.as_str() {
                "timestamp" => ServerRole::Timestamp,
                _ => ServerRole::Snapshot,
            };
            match self.open_key(&key, role) {
                Ok(imported) => {
                    let generation = generations.entry(role.as_str()).or_insert(0);
                    match seal_imported(self.kek, gun, *generation, &imported) {
                        Ok((id, stored)) if id.as_str() == key.key_id => {
                            *generation += 1;
                            out.push(stored);
                        }
                        Ok((id, _)) => report.warnings.push(format!(
                            "{} key {}: its public key has ID {id}; not imported",
                            key.role, key.key_id
                        )),
                        Err(e) => report.warnings.push(format!(
                            "{} key {}: {e}; not imported",
                            key.role, key.key_id
                        )),
                    }
                }
                Err(why) => report.warnings.push(format!(
                    "{} key {}: {why}; not imported",
                    key.role, key.key_id
                )),
            }
        }
        out
    }

    fn open_key(&self, key: &SignerKey, role: ServerRole) -> Result<ImportedKey, String> {
        let passphrase = self
            .passphrases
            .passphrase(&key.passphrase_alias)
            .ok_or_else(|| {
                format!(
                    "no passphrase for alias {:?} (set NOTARY_SIGNER_{})",
                    key.passphrase_alias,
                    key.passphrase_alias.to_uppercase()
                )
            })?;
        let mut plain =
            jwe::open(&key.private, passphrase.as_bytes()).map_err(|e| e.to_string())?;
        let (algorithm, private) = match key.algorithm.as_str() {
            // notary keeps the 64-byte seed ‖ public key, which the signing module opens as is.
            algorithm::ED25519 => (algorithm::ED25519, std::mem::take(&mut *plain)),
            // notary keeps SEC 1 DER; ring opens PKCS#8.
            algorithm::ECDSA => (algorithm::ECDSA, sec1_to_pkcs8(&plain)?),
            algorithm::RSA => (algorithm::RSA, std::mem::take(&mut *plain)),
            other => return Err(format!("unsupported key algorithm {other:?}")),
        };
        Ok(ImportedKey {
            role,
            algorithm: algorithm.to_owned(),
            public: key.public.clone(),
            private,
            created_at: key.created_at.unwrap_or(self.now),
        })
    }
}

/// A P-256 private key from SEC 1 DER (what notary keeps) to PKCS#8 (what ring opens).
fn sec1_to_pkcs8(der: &[u8]) -> Result<Vec<u8>, String> {
    use p256::pkcs8::EncodePrivateKey as _;
    let secret = p256::SecretKey::from_sec1_der(der)
        .map_err(|_| "the ecdsa key is not a P-256 SEC 1 key".to_owned())?;
    let pkcs8 = secret
        .to_pkcs8_der()
        .map_err(|_| "the ecdsa key could not be re-encoded".to_owned())?;
    // `to_pkcs8_der` keeps its bytes in a buffer wiped on drop; this copy moves into an
    // `ImportedKey`, which wipes it in turn.
    Ok(pkcs8.as_bytes().to_vec())
}

fn change(c: source::SourceChange, now: DateTime<Utc>) -> Change {
    Change {
        id: c.id,
        created_at: c.created_at.unwrap_or(now),
        gun: c.gun,
        version: c.version,
        sha256: c.sha256.map(|s| s.trim().to_owned()).unwrap_or_default(),
        category: if c.category == "deletion" {
            ChangeCategory::Deletion
        } else {
            ChangeCategory::Update
        },
    }
}

/// What clients will meet: the current chain (timestamp → snapshot → every listed role) must
/// be stored, and the server must hold a key of the root's timestamp role to sign the next
/// timestamp. Each problem is a warning.
fn check(files: &[StoredFile], keys: &[StoredKey]) -> Vec<String> {
    let mut warnings = Vec::new();
    let newest = |role: &str| {
        files
            .iter()
            .filter(|f| f.role == role)
            .max_by_key(|f| f.version)
    };
    let by_hash = |role: &str, meta: &FileMeta| {
        let sha = meta.sha256().map(hex::encode)?;
        files.iter().find(|f| f.role == role && f.sha256 == sha)
    };
    let Some(timestamp) = newest("timestamp") else {
        warnings.push("no timestamp: clients cannot read this repository".to_owned());
        return warnings;
    };
    let snapshot = metadata::parse::<metadata::Timestamp>(&timestamp.data)
        .ok()
        .and_then(|ts| ts.signed.meta.get("snapshot").cloned())
        .and_then(|meta| by_hash("snapshot", &meta));
    let Some(snapshot) = snapshot else {
        warnings.push("the current timestamp lists no stored snapshot".to_owned());
        return warnings;
    };
    let mut root_keys: BTreeMap<String, BTreeSet<KeyId>> = BTreeMap::new();
    match metadata::parse::<metadata::Snapshot>(&snapshot.data) {
        Ok(snap) => {
            for (role, meta) in &snap.signed.meta {
                match by_hash(role, meta) {
                    None => warnings.push(format!(
                        "the current snapshot lists a {role} that is not stored"
                    )),
                    Some(file) if role == "root" => {
                        if let Ok(root) = metadata::parse::<metadata::Root>(&file.data) {
                            for (name, listed) in &root.signed.roles {
                                root_keys
                                    .insert(name.clone(), listed.keyids.iter().cloned().collect());
                            }
                        }
                    }
                    Some(_) => {}
                }
            }
        }
        Err(e) => warnings.push(format!("the current snapshot does not parse: {e}")),
    }
    let held = |role: &str| {
        let listed = root_keys.get(role).cloned().unwrap_or_default();
        keys.iter()
            .any(|k| k.role == role && listed.iter().any(|id| id.as_str() == k.key_id))
    };
    if !held("timestamp") {
        warnings.push(
            "no key of the root's timestamp role was imported: the server cannot sign new \
             timestamps; the owner runs `notary key rotate GUN timestamp -r` (with the root key)"
                .to_owned(),
        );
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sec1_keys_become_pkcs8_that_ring_opens() {
        let secret = p256::SecretKey::from_slice(&[7u8; 32]).expect("scalar");
        let sec1 = secret.to_sec1_der().expect("sec1");
        let pkcs8 = sec1_to_pkcs8(&sec1).expect("converts");
        let pair = ring::signature::EcdsaKeyPair::from_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &pkcs8,
            &ring::rand::SystemRandom::new(),
        )
        .expect("ring opens it");
        let point = secret.public_key().to_sec1_bytes();
        assert_eq!(
            ring::signature::KeyPair::public_key(&pair).as_ref(),
            &point[..]
        );
        assert!(sec1_to_pkcs8(b"not a key").is_err());
    }
}
