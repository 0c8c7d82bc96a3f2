//! The private keys of a Docker or notary trust directory (`~/.docker/trust/private`,
//! `~/.notary/private`): one `<key ID>.key` file per key, an `ENCRYPTED PRIVATE KEY` PEM block
//! (PKCS#8 under PBES2) with `role:` and `gun:` header lines, as the notary client, `docker
//! trust key generate` and `docker trust signer add` write them. The file name is the key's
//! canonical ID (that of the bare public key), so a role's key is found without decrypting
//! every file.
//!
//! Passphrases come from the environment only (this is for pipelines): Docker's
//! `DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE` / `DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE` and the
//! notary client's `NOTARY_{ROOT,TARGETS,SNAPSHOT,DELEGATION}_PASSPHRASE`, chosen by the key's
//! `role` header as those two clients choose them. ECDSA P-256 keys only: what both generate.

use std::path::{Path, PathBuf};

use p256::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _, EncodePublicKey as _};
use pkcs8::pkcs5::pbes2;
use rand_core::{OsRng, RngCore as _};
use zeroize::Zeroizing;

use crate::signing::SigningKey;
use crate::tuf::key::{KeyId, KeyType, PublicKey};

/// The largest key file read.
const KEY_FILE_LIMIT: u64 = 64 * 1024;
/// PBKDF2 iterations of a key written here: the notary client's.
const PBKDF2_ITERATIONS: u32 = 2048;

/// Why a key could not be had; never carries a passphrase or key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// No file for the key in the trust directory.
    #[error("no private key {id} in {dir} ({what})")]
    Missing {
        /// The canonical key ID looked for.
        id: String,
        /// The `private` directory.
        dir: String,
        /// Which key it was, for people.
        what: String,
    },
    /// No passphrase variable is set for the key's role.
    #[error("no passphrase for key {id} (role {role}): set {vars}")]
    NoPassphrase {
        /// The key file's ID.
        id: String,
        /// Its `role` header.
        role: String,
        /// The variables that would be read.
        vars: String,
    },
    /// Every passphrase given failed to open the key.
    #[error("wrong passphrase for key {id} (role {role}): {vars} did not open it")]
    WrongPassphrase {
        /// The key file's ID.
        id: String,
        /// Its `role` header.
        role: String,
        /// The variables that were tried.
        vars: String,
    },
    /// The file is not a key this client reads, or cannot be read or written.
    #[error("{0}")]
    Invalid(String),
}

/// One key file of a trust directory, not yet decrypted.
#[derive(Debug, Clone)]
pub struct KeyFile {
    /// Its path.
    pub path: PathBuf,
    /// The ID in its name (canonical: of the bare public key).
    pub id: String,
    /// Its `role` header (`root`, `targets`, `targets/alice`, or a Docker signer's bare name).
    pub role: String,
    /// Its `gun` header, when the key belongs to one repository.
    pub gun: Option<String>,
    der: Vec<u8>,
}

/// An opened key: the public half as metadata lists a bare key, and the private half.
pub struct OpenedKey {
    /// The bare `ecdsa` public key (its ID is the canonical ID).
    pub public: PublicKey,
    secret: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for OpenedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OpenedKey({})", self.public.id())
    }
}

impl OpenedKey {
    /// A signer for the key as a role lists it under `listed_id` (a certificate's ID for an
    /// `ecdsa-x509` delegation key, else the bare key's).
    pub fn signer(&self, listed_id: KeyId) -> Result<SigningKey, KeyError> {
        SigningKey::open_ecdsa(listed_id, self.secret.clone())
            .map_err(|e| KeyError::Invalid(format!("key {}: {e}", self.public.id())))
    }

    /// The PKCS#8 of the private key, for making a certificate with it.
    pub(crate) fn pkcs8(&self) -> &[u8] {
        &self.secret
    }
}

/// A trust directory's `private` folder.
#[derive(Debug, Clone)]
pub struct KeyStore {
    private: PathBuf,
}

impl KeyStore {
    /// The keys of `trust_dir/private`.
    pub fn new(trust_dir: &Path) -> KeyStore {
        KeyStore {
            private: trust_dir.join("private"),
        }
    }

    /// The `private` directory.
    pub fn dir(&self) -> &Path {
        &self.private
    }

    /// The file of the key whose canonical ID is `id`, if there is one.
    pub fn find(&self, id: &KeyId) -> Result<Option<KeyFile>, KeyError> {
        let path = self.private.join(format!("{id}.key"));
        if !path.is_file() {
            return Ok(None);
        }
        read_key_file(&path, id.as_str()).map(Some)
    }

    /// Every key file, in name order; unreadable ones are skipped.
    pub fn list(&self) -> Vec<KeyFile> {
        let Ok(entries) = std::fs::read_dir(&self.private) else {
            return Vec::new();
        };
        let mut files: Vec<KeyFile> = entries
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let path = entry.path();
                let id = path.file_name()?.to_str()?.strip_suffix(".key")?.to_owned();
                KeyId::parse(&id).ok()?;
                read_key_file(&path, &id).ok()
            })
            .collect();
        files.sort_by(|a, b| a.id.cmp(&b.id));
        files
    }

    /// Generates a P-256 key, writes it encrypted under `passphrase` with `role` (and `gun`)
    /// headers as the notary client writes keys, and answers it opened.
    pub fn generate(
        &self,
        role: &str,
        gun: Option<&str>,
        passphrase: &str,
    ) -> Result<OpenedKey, KeyError> {
        let invalid = |what: &str| KeyError::Invalid(format!("cannot generate a key: {what}"));
        let secret = p256::SecretKey::random(&mut OsRng);
        let sec1 = secret
            .to_sec1_der()
            .map_err(|_| invalid("SEC 1 encoding failed"))?;
        let plaintext = notary_pkcs8(&sec1).ok_or_else(|| invalid("PKCS#8 encoding failed"))?;
        let mut salt = [0u8; 8];
        let mut iv = [0u8; 16];
        OsRng.fill_bytes(&mut salt);
        OsRng.fill_bytes(&mut iv);
        // PBKDF2 with HMAC-SHA1 and AES-256-CBC, the scheme of the notary client's key files,
        // so that the notary and docker CLIs open what is written here.
        let params = pbes2::Parameters {
            kdf: pbes2::Kdf::Pbkdf2(pbes2::Pbkdf2Params {
                salt: &salt,
                iteration_count: PBKDF2_ITERATIONS,
                key_length: None,
                prf: pbes2::Pbkdf2Prf::HmacWithSha1,
            }),
            encryption: pbes2::EncryptionScheme::Aes256Cbc { iv: &iv },
        };
        let ciphertext = params
            .encrypt(passphrase.as_bytes(), &plaintext)
            .map_err(|_| invalid("encryption failed"))?;
        let encrypted = pkcs8::der::Encode::to_der(&pkcs8::EncryptedPrivateKeyInfo {
            encryption_algorithm: params.into(),
            encrypted_data: &ciphertext,
        })
        .map_err(|_| invalid("PKCS#8 encoding failed"))?;
        let opened =
            open_private(&plaintext).ok_or_else(|| invalid("the generated key did not open"))?;
        let mut headers = Vec::new();
        if let Some(gun) = gun {
            headers.push(format!("gun: {gun}"));
        }
        headers.push(format!("role: {role}"));
        let text = pem_with_headers("ENCRYPTED PRIVATE KEY", &headers, &encrypted);
        std::fs::create_dir_all(&self.private).map_err(|e| {
            KeyError::Invalid(format!("cannot create {}: {e}", self.private.display()))
        })?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let _ = std::fs::set_permissions(&self.private, std::fs::Permissions::from_mode(0o700));
        }
        let path = self.private.join(format!("{}.key", opened.public.id()));
        crate::signing::kek::write_private_file(&path, text.as_bytes())
            .map_err(|e| KeyError::Invalid(format!("cannot write {}: {e}", path.display())))?;
        Ok(opened)
    }
}

impl KeyFile {
    /// Decrypts the key with the passphrase its role takes; checks it is the key its name says.
    pub fn open(&self) -> Result<OpenedKey, KeyError> {
        let vars = passphrase_vars(&self.role);
        let given: Vec<(&str, Zeroizing<String>)> = vars
            .iter()
            .filter_map(|var| {
                let value = Zeroizing::new(std::env::var(var).ok()?);
                (!value.is_empty()).then_some((*var, value))
            })
            .collect();
        if given.is_empty() {
            return Err(KeyError::NoPassphrase {
                id: self.id.clone(),
                role: self.role.clone(),
                vars: vars.join(" or "),
            });
        }
        let info = pkcs8::EncryptedPrivateKeyInfo::try_from(self.der.as_slice()).map_err(|_| {
            KeyError::Invalid(format!(
                "{} is not an encrypted PKCS#8 key",
                self.path.display()
            ))
        })?;
        for (_, passphrase) in &given {
            let Ok(document) = info.decrypt(passphrase.as_bytes()) else {
                continue;
            };
            // A wrong passphrase passes the padding check now and then; the key then fails
            // to parse.
            if let Some(opened) = open_private(document.as_bytes()) {
                if opened.public.id().as_str() != self.id {
                    return Err(KeyError::Invalid(format!(
                        "{} holds key {}, not the key its name says",
                        self.path.display(),
                        opened.public.id()
                    )));
                }
                return Ok(opened);
            }
        }
        Err(KeyError::WrongPassphrase {
            id: self.id.clone(),
            role: self.role.clone(),
            vars: given
                .iter()
                .map(|(var, _)| *var)
                .collect::<Vec<_>>()
                .join(" and "),
        })
    }
}

/// The variables a key of `role` takes its passphrase from, in the order tried: Docker's, then
/// the notary client's (`targets/…` and Docker's bare signer names are delegations).
pub fn passphrase_vars(role: &str) -> Vec<&'static str> {
    match role {
        "root" => vec![
            "DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE",
            "NOTARY_ROOT_PASSPHRASE",
        ],
        "targets" => vec![
            "DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE",
            "NOTARY_TARGETS_PASSPHRASE",
        ],
        "snapshot" => vec![
            "DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE",
            "NOTARY_SNAPSHOT_PASSPHRASE",
        ],
        _ => vec![
            "DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE",
            "NOTARY_DELEGATION_PASSPHRASE",
        ],
    }
}

/// The first passphrase set among `passphrase_vars(role)`.
pub fn passphrase_for(role: &str) -> Option<Zeroizing<String>> {
    passphrase_vars(role).into_iter().find_map(|var| {
        let value = Zeroizing::new(std::env::var(var).ok()?);
        (!value.is_empty()).then_some(value)
    })
}

/// A P-256 key from its SEC 1 form (what notary encrypts) or PKCS#8, re-encoded in the
/// PKCS#8 form ring signs with.
fn open_private(der: &[u8]) -> Option<OpenedKey> {
    let secret = p256::SecretKey::from_sec1_der(der)
        .or_else(|_| p256::SecretKey::from_pkcs8_der(der))
        .ok()
        .or_else(|| p256::SecretKey::from_sec1_der(&pkcs8_v2_inner(der)?).ok())?;
    let spki = secret.public_key().to_public_key_der().ok()?;
    let pkcs8 = secret.to_pkcs8_der().ok()?;
    Some(OpenedKey {
        public: PublicKey::new(KeyType::Ecdsa, spki.as_bytes().to_vec()),
        secret: Zeroizing::new(pkcs8.as_bytes().to_vec()),
    })
}

/// The SEC 1 key inside a PKCS#8 that says version 2 without carrying the public key, which
/// v2 requires: the notary client writes its EC keys so, and strict decoders refuse them.
fn pkcs8_v2_inner(der: &[u8]) -> Option<Vec<u8>> {
    use pkcs8::der::asn1::OctetStringRef;
    use pkcs8::der::{Decode as _, Reader as _, SliceReader};
    use pkcs8::spki::AlgorithmIdentifierRef;
    /// `id-ecPublicKey`.
    const EC_PUBLIC_KEY: pkcs8::ObjectIdentifier =
        pkcs8::ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
    let mut reader = SliceReader::new(der).ok()?;
    let inner = reader
        .sequence(|r| {
            let version = u8::decode(r)?;
            let algorithm = AlgorithmIdentifierRef::decode(r)?;
            let key = OctetStringRef::decode(r)?;
            Ok((version, algorithm.oid, key.as_bytes().to_vec()))
        })
        .ok()?;
    reader.finish(()).ok()?;
    let (version, oid, key) = inner;
    (version == 1 && oid == EC_PUBLIC_KEY).then_some(key)
}

/// The PKCS#8 the notary client encrypts for an EC key: version 2 (1 on the wire), the
/// algorithm, the SEC 1 key, and no public key field (see [`pkcs8_v2_inner`]).
fn notary_pkcs8(sec1: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    use pkcs8::der::asn1::{AnyRef, ObjectIdentifier, OctetStringRef};
    use pkcs8::der::{Encode as _, Header, Length, Tag};
    let curve = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
    let algorithm = pkcs8::spki::AlgorithmIdentifierRef {
        oid: ObjectIdentifier::new_unwrap("1.2.840.10045.2.1"),
        parameters: Some(AnyRef::from(&curve)),
    };
    let mut body = Zeroizing::new(1u8.to_der().ok()?);
    body.extend(algorithm.to_der().ok()?);
    body.extend(OctetStringRef::new(sec1).ok()?.to_der().ok()?);
    let header = Header::new(Tag::Sequence, Length::try_from(body.len()).ok()?).ok()?;
    let mut out = Zeroizing::new(header.to_der().ok()?);
    out.extend_from_slice(&body);
    Some(out)
}

/// Reads `path`: one `ENCRYPTED PRIVATE KEY` block and its headers.
fn read_key_file(path: &Path, id: &str) -> Result<KeyFile, KeyError> {
    let invalid = |why: &str| KeyError::Invalid(format!("{}: {why}", path.display()));
    let file = std::fs::File::open(path).map_err(|e| invalid(&e.to_string()))?;
    let mut text = Zeroizing::new(Vec::new());
    std::io::Read::read_to_end(
        &mut std::io::Read::take(file, KEY_FILE_LIMIT + 1),
        &mut text,
    )
    .map_err(|e| invalid(&e.to_string()))?;
    if text.len() as u64 > KEY_FILE_LIMIT {
        return Err(invalid("too large for a key file"));
    }
    let text = std::str::from_utf8(&text).map_err(|_| invalid("not text"))?;
    let mut lines = text.lines().map(str::trim_end);
    if !lines
        .by_ref()
        .any(|l| l == "-----BEGIN ENCRYPTED PRIVATE KEY-----")
    {
        return Err(invalid(
            "no ENCRYPTED PRIVATE KEY block (unencrypted and legacy keys are not read)",
        ));
    }
    let (mut role, mut gun, mut body) = (None, None, String::new());
    let mut ended = false;
    for line in lines {
        if line == "-----END ENCRYPTED PRIVATE KEY-----" {
            ended = true;
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            match name.trim() {
                "role" => role = Some(value.trim().to_owned()),
                "gun" => gun = Some(value.trim().to_owned()),
                _ => {}
            }
            continue;
        }
        body.push_str(line.trim());
    }
    if !ended {
        return Err(invalid("the PEM block does not end"));
    }
    use base64::Engine as _;
    let der = base64::engine::general_purpose::STANDARD
        .decode(body.as_bytes())
        .map_err(|_| invalid("the PEM body is not base64"))?;
    Ok(KeyFile {
        path: path.to_owned(),
        id: id.to_owned(),
        role: role.unwrap_or_default(),
        gun: gun.filter(|g| !g.is_empty()),
        der,
    })
}

/// PEM with header lines, as Go's `pem.Encode` writes them.
fn pem_with_headers(label: &str, headers: &[String], der: &[u8]) -> String {
    let plain = crate::tuf::pem::encode(label, der);
    let begin = format!("-----BEGIN {label}-----\n");
    let mut out = begin.clone();
    for header in headers {
        out.push_str(header);
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&plain[begin.len()..]);
    out
}

#[cfg(test)]
mod tests;
