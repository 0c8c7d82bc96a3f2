//! Publishing a tag as `docker trust sign` does, and removing one as `docker trust revoke`
//! does, without a daemon: read and verify the repository's trust data, change the tag in
//! every delegation the signer holds a key for (`targets/releases` and `targets/NAME`), sign
//! them (and the snapshot when the client holds its key), and upload them in one POST
//! (docs/protocol.md §2, §9). A concurrent publish that wins the race (`VERSION`) is answered
//! by reading again and redoing the change on the fresh metadata.
//!
//! `init` makes a repository as `docker trust signer add` followed by `docker trust sign`
//! would: a root key (reused from the trust directory when it holds one) with a self-signed
//! certificate, a targets key, the server's timestamp and snapshot keys, and the signer's
//! delegations, all in one first upload.

mod build;
mod init;

use std::collections::BTreeMap;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use rand_core::{OsRng, RngCore as _};
use reqwest::StatusCode;

use crate::gun::Gun;
use crate::policy::{RootTrust, Seen, TrustData};
use crate::tuf::key::{KeyId, PublicKey};
use crate::tuf::metadata::{read_stored, Root, Targets};
use crate::tuf::role::RoleName;

use super::auth::{Session, Upload};
use super::cache::CachedRepo;
use super::keystore::{KeyError, KeyStore, OpenedKey};
use super::transport::status_summary;
use super::{Remote, RemoteError};

pub use build::target_meta;

/// How many uploads a publish makes at most when it keeps losing races to other publishers.
const MAX_ATTEMPTS: usize = 5;
/// The pause before reading again after a lost race, times the attempt: a server's read cache
/// may serve the timestamp from before the winning publish for a moment.
const RETRY_PAUSE: std::time::Duration = std::time::Duration::from_millis(200);

/// The change to make to a tag.
#[derive(Debug, Clone)]
pub enum Edit {
    /// Add (or replace) `name` with the target meta (see [`target_meta`]).
    Add {
        /// The tag.
        name: String,
        /// `{"hashes":{"sha256":…},"length":n}`.
        meta: crate::tuf::cjson::Value,
    },
    /// Remove `name`.
    Remove {
        /// The tag.
        name: String,
    },
}

impl Edit {
    fn name(&self) -> &str {
        match self {
            Edit::Add { name, .. } | Edit::Remove { name } => name,
        }
    }
}

/// What to publish.
#[derive(Debug)]
pub struct PublishRequest<'a> {
    /// The repository.
    pub gun: &'a str,
    /// The change.
    pub edit: Edit,
    /// The signer (`targets/NAME`); `None`: every delegation the trust directory has a key for.
    pub signer: Option<&'a str>,
    /// The trust directory's keys.
    pub keys: &'a KeyStore,
    /// Create the repository when it has no trust data.
    pub init: bool,
    /// Root key IDs one of which must have signed the repository's root (then `root_anchor`
    /// is not used); empty: the root remembered in `root_anchor`, else the server's on first
    /// use.
    pub root_keys: &'a [KeyId],
    /// The root last trusted for the repository, if the trust directory remembers one.
    pub root_anchor: Option<Vec<u8>>,
    /// The time signatures are made at.
    pub now: DateTime<Utc>,
}

/// What a publish did.
#[derive(Debug, Clone)]
pub struct Published {
    /// The roles uploaded.
    pub roles: Vec<String>,
    /// The delegations the tag was changed in.
    pub signed_roles: Vec<String>,
    /// Whether the repository was created.
    pub initialized: bool,
    /// Uploads made: more than one when another publish came first (`VERSION`).
    pub attempts: usize,
}

/// Why nothing was published; never carries a passphrase or key material.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The repository has no trust data, and `init` was not asked for.
    #[error(
        "{0} has no trust data yet; pass --init to create it (root and targets keys in the \
         trust directory, the snapshot held by the server)"
    )]
    NotInitialized(String),
    /// A key could not be found or opened.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Reading failed.
    #[error(transparent)]
    Remote(#[from] RemoteError),
    /// The trust data or the request does not allow the change.
    #[error("{0}")]
    Refused(String),
}

/// A delegation this client can sign, with the key to sign it with.
struct Signable {
    role: RoleName,
    listed: KeyId,
    key: std::sync::Arc<OpenedKey>,
}

impl Remote {
    /// Publishes `request.edit` (see the module documentation).
    pub async fn publish(&self, request: &PublishRequest<'_>) -> Result<Published, PublishError> {
        let gun = Gun::parse(request.gun).map_err(|e| {
            PublishError::Refused(format!("cannot publish for {:?}: {e}", request.gun))
        })?;
        let session = Session::new(&self.config, &self.transport, &gun);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let parts = match self.read_for_publish(&session, &gun, request).await {
                Ok(data) => self.plan(&gun, request, &data)?,
                // A root made now is signed by a new key, never by a pinned one: refused
                // rather than created unpinned.
                Err(RemoteError::NotFound(_)) if request.init && !request.root_keys.is_empty() => {
                    return Err(PublishError::Refused(format!(
                        "{gun} has no trust data yet: --root-key pins the root of an existing \
                         repository, and a root made by --init would not be signed by it"
                    )))
                }
                Err(RemoteError::NotFound(_)) if request.init => {
                    init::plan(self, &session, &gun, request).await?
                }
                Err(RemoteError::NotFound(_)) => {
                    return Err(PublishError::NotInitialized(gun.to_string()))
                }
                Err(e) => return Err(e.into()),
            };
            match self.upload(&session, &gun, &parts.files).await? {
                Uploaded::Done => {
                    return Ok(Published {
                        roles: parts.files.keys().cloned().collect(),
                        signed_roles: parts.signed_roles,
                        initialized: parts.initialized,
                        attempts: attempt,
                    })
                }
                Uploaded::Conflict(why) if attempt < MAX_ATTEMPTS => {
                    tracing::info!(attempt, %why, "another publish came first; reading again");
                    tokio::time::sleep(RETRY_PAUSE * attempt as u32).await;
                }
                Uploaded::Conflict(why) => {
                    return Err(PublishError::Refused(format!(
                        "{why}; still conflicting after {MAX_ATTEMPTS} attempts"
                    )))
                }
            }
        }
    }

    /// The current trust data with every top-level delegation it lists.
    async fn read_for_publish(
        &self,
        session: &Session<'_>,
        gun: &Gun,
        request: &PublishRequest<'_>,
    ) -> Result<TrustData, RemoteError> {
        let mut wanted = vec![RoleName::releases()];
        if let Some(name) = request.signer {
            if let Ok(role) = RoleName::parse(&format!("targets/{name}")) {
                wanted.push(role);
            }
        }
        let cached = CachedRepo::default();
        let data = super::read::read(&self.transport, session, gun, &wanted, &cached).await?;
        if request.signer.is_some() {
            return Ok(data);
        }
        // Every delegation of targets: the signer is whoever holds a key.
        let listed: Vec<RoleName> = read_stored::<Targets>(&data.targets)
            .map(|t| t.delegations.roles.into_iter().map(|r| r.name).collect())
            .unwrap_or_default();
        if listed.iter().all(|r| wanted.contains(r)) {
            return Ok(data);
        }
        super::read::read(&self.transport, session, gun, &listed, &cached).await
    }

    /// The files that make the change on `data`, verified first.
    fn plan(
        &self,
        gun: &Gun,
        request: &PublishRequest<'_>,
        data: &TrustData,
    ) -> Result<Parts, PublishError> {
        let root_trust = RootTrust {
            key_ids: request.root_keys.to_vec(),
            keys: Vec::new(),
            tofu: request.root_keys.is_empty(),
        };
        // Pinned keys replace the cached root as what the root must chain to: the cache holds
        // the root, not which keys were trusted to sign it.
        let seen = Seen {
            root: if request.root_keys.is_empty() {
                request.root_anchor.clone().map(Bytes::from)
            } else {
                None
            },
            ..Seen::default()
        };
        let trusted =
            crate::policy::trust::verify(gun.as_str(), &root_trust, data, &seen, request.now)
                .map_err(|e| {
                    PublishError::Refused(format!("the trust data of {gun} does not verify: {e}"))
                })?;
        let targets = &trusted
            .roles
            .get(&RoleName::targets())
            .ok_or_else(|| PublishError::Refused(format!("{gun} has no verified targets")))?
            .targets;
        let signable = signable_roles(gun, targets, request)?;
        let mut files = BTreeMap::new();
        let mut signed_roles = Vec::new();
        for role in &signable {
            let current = match data.delegations.get(&role.role) {
                Some(bytes) if trusted.roles.contains_key(&role.role) => Some(bytes),
                Some(_) => {
                    let why = trusted
                        .untrusted
                        .get(&role.role)
                        .cloned()
                        .unwrap_or_default();
                    return Err(PublishError::Refused(format!(
                        "{} of {gun} does not verify: {why}",
                        role.role
                    )));
                }
                None => None,
            };
            let has_tag = current.is_some_and(|_| {
                trusted.roles[&role.role]
                    .targets
                    .targets
                    .contains_key(request.edit.name())
            });
            if matches!(request.edit, Edit::Remove { .. }) && !has_tag {
                continue;
            }
            let signed =
                build::edited_targets(current.map(Bytes::as_ref), &request.edit, request.now)
                    .map_err(|e| {
                        PublishError::Refused(format!("cannot edit {} of {gun}: {e}", role.role))
                    })?;
            let signer = role.key.signer(role.listed.clone())?;
            let bytes = build::signed_file(&signed, &[&signer])?;
            files.insert(role.role.as_str().to_owned(), bytes);
            signed_roles.push(role.role.as_str().to_owned());
        }
        if files.is_empty() {
            return Err(PublishError::Refused(format!(
                "{}:{} is not signed in any role this trust directory can sign for",
                gun,
                request.edit.name()
            )));
        }
        if let Some(snapshot_key) = client_snapshot_key(&trusted.root, request.keys)? {
            let signed = build::edited_snapshot(&data.snapshot, &files, request.now)
                .map_err(|e| PublishError::Refused(format!("cannot edit the snapshot: {e}")))?;
            let bytes = build::signed_file(&signed, &[&snapshot_key])?;
            files.insert("snapshot".to_owned(), bytes);
        }
        Ok(Parts {
            files,
            signed_roles,
            initialized: false,
        })
    }

    /// POSTs `files` as one multipart update.
    async fn upload(
        &self,
        session: &Session<'_>,
        gun: &Gun,
        files: &BTreeMap<String, Vec<u8>>,
    ) -> Result<Uploaded, PublishError> {
        let mut nonce = [0u8; 16];
        OsRng.fill_bytes(&mut nonce);
        let boundary = hex::encode(nonce);
        let mut body = Vec::new();
        for (role, bytes) in files {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; \
                     filename=\"{role}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            );
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let upload = Upload {
            content_type: format!("multipart/form-data; boundary={boundary}"),
            body: Bytes::from(body),
        };
        let url = self.transport.role_url(gun, "");
        let response = session
            .post(&url, &upload)
            .await
            .map_err(|why| PublishError::Remote(RemoteError::Fetch(why)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(Uploaded::Done);
        }
        let summary = status_summary(response).await;
        if status == StatusCode::BAD_REQUEST && summary.contains("(VERSION)") {
            return Ok(Uploaded::Conflict(format!("POST {url}: {summary}")));
        }
        Err(PublishError::Refused(format!(
            "the trust server refused the update: POST {url}: {summary}"
        )))
    }
}

/// The files of one upload.
struct Parts {
    files: BTreeMap<String, Vec<u8>>,
    signed_roles: Vec<String>,
    initialized: bool,
}

enum Uploaded {
    Done,
    Conflict(String),
}

/// The delegations of `targets` this trust directory holds a key for: the signer's and
/// `targets/releases`, or with no signer named every one.
fn signable_roles(
    gun: &Gun,
    targets: &Targets,
    request: &PublishRequest<'_>,
) -> Result<Vec<Signable>, PublishError> {
    let wanted: Option<Vec<RoleName>> = match request.signer {
        Some(name) => {
            let role = RoleName::parse(&format!("targets/{name}"))
                .map_err(|e| PublishError::Refused(format!("--signer {name:?}: {e}")))?;
            if targets.delegation(&role).is_none() {
                return Err(PublishError::Refused(format!(
                    "{gun} has no signer {name} ({role} is not delegated); add it first \
                     (docker trust signer add, or notary delegation add)"
                )));
            }
            Some(vec![role, RoleName::releases()])
        }
        None => None,
    };
    let mut order: Vec<&crate::tuf::metadata::DelegatedRole> = targets
        .delegations
        .roles
        .iter()
        .filter(|d| d.name.depth() == 2)
        .filter(|d| wanted.as_ref().is_none_or(|w| w.contains(&d.name)))
        .collect();
    // The signer's own role first: its key is the one `targets/releases` is signed with.
    if let Some(w) = &wanted {
        order.sort_by_key(|d| d.name != w[0]);
    }
    let mut signable: Vec<Signable> = Vec::new();
    let mut opened: BTreeMap<KeyId, std::sync::Arc<OpenedKey>> = BTreeMap::new();
    let mut missing = Vec::new();
    let mut own: Option<KeyId> = None;
    for delegation in order {
        let mut found = None;
        for listed in &delegation.keyids {
            let Some(key) = targets.delegations.keys.get(listed) else {
                continue;
            };
            let Ok(canonical) = key.canonical_id() else {
                continue;
            };
            if own.as_ref().is_some_and(|o| *o != canonical) {
                continue;
            }
            if let Some(key) = opened.get(&canonical) {
                found = Some((listed.clone(), key.clone()));
                break;
            }
            if let Some(file) = request.keys.find(&canonical)? {
                let key = std::sync::Arc::new(file.open()?);
                opened.insert(canonical, key.clone());
                found = Some((listed.clone(), key));
                break;
            }
            missing.push(canonical);
        }
        match found {
            Some((listed, key)) => {
                if wanted.as_ref().is_some_and(|w| w[0] == delegation.name) {
                    own = Some(key.public.id());
                }
                signable.push(Signable {
                    role: delegation.name.clone(),
                    listed,
                    key,
                });
            }
            None if wanted.as_ref().is_some_and(|w| w[0] == delegation.name) => {
                let name = request.signer.unwrap_or_default();
                return Err(PublishError::Key(KeyError::Missing {
                    id: missing
                        .iter()
                        .map(KeyId::as_str)
                        .collect::<Vec<_>>()
                        .join(", "),
                    dir: request.keys.dir().display().to_string(),
                    what: format!("a key of signer {name}"),
                }));
            }
            None => {}
        }
    }
    if signable.is_empty() {
        return Err(PublishError::Refused(format!(
            "{} holds no key of any signer of {gun}",
            request.keys.dir().display()
        )));
    }
    Ok(signable)
}

/// The snapshot key, opened, when the trust directory holds it (a client-held snapshot).
fn client_snapshot_key(
    root: &Root,
    keys: &KeyStore,
) -> Result<Option<crate::signing::SigningKey>, PublishError> {
    let Some(role) = root.role("snapshot") else {
        return Ok(None);
    };
    for listed in &role.keyids {
        let Some(key) = root.keys.get(listed) else {
            continue;
        };
        let Ok(canonical) = key.canonical_id() else {
            continue;
        };
        if let Some(file) = keys.find(&canonical)? {
            return Ok(Some(file.open()?.signer(listed.clone())?));
        }
    }
    Ok(None)
}

/// A public key from the body of `GET …/{timestamp,snapshot}.key`.
fn parse_server_key(body: &[u8]) -> Result<PublicKey, String> {
    serde_json::from_slice(body).map_err(|e| format!("not a public key: {e}"))
}
