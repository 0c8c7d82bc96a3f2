//! An OCI distribution (Docker registry v2) client: what a signer needs of a registry, the
//! digest and size of a tag's manifest, and blobs such as image configs.
//!
//! The digest signed is the sha256 of the exact manifest bytes the registry serves, and the
//! size their length, as `docker push` records them; for a multi-platform image that is the
//! index (or manifest list), never one platform's manifest. Auth is the registry's own: a
//! `Bearer` challenge answered by its token service (with the credentials of the Docker config
//! or given explicitly), or HTTP Basic. Knows nothing of trust servers.

#![warn(missing_docs)]

mod session;

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{HeaderMap, ACCEPT, CONTENT_TYPE};
use reqwest::{Certificate, Client, Method, StatusCode, Url};
use ring::digest::{digest, SHA256};

use crate::remote::transport::{describe, printable};
use crate::remote::Credentials;

/// The manifest types asked for, newest first: a registry answers a tag with the type it was
/// pushed as only when the client accepts it (else it may convert to schema 1 or refuse).
pub const MANIFEST_TYPES: [&str; 4] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];
/// The largest manifest read (the distribution registry's own limit is 4 MiB).
const MANIFEST_LIMIT: usize = 4 << 20;
/// How long a connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How to reach registries.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// A PEM bundle of CAs for the registry (instead of the system's roots).
    pub ca: Option<PathBuf>,
    /// CA files trusted besides the system's roots when `ca` is not given: the Docker
    /// daemon's `certs.d` entry for the registry host (see [`docker_certs_d`]).
    pub extra_ca: Vec<PathBuf>,
    /// Speak plain HTTP to the registry; without it a registry that does is refused.
    pub insecure: bool,
    /// Credentials given explicitly (flags or env); else the Docker config's are used.
    pub credentials: Option<Credentials>,
    /// The Docker config directory whose `config.json` may hold credentials.
    pub docker_config: Option<PathBuf>,
    /// Time limit of one request.
    pub timeout: Duration,
}

/// Why a registry request failed; shown to people, never carrying a credential or token.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The configuration cannot work (unreadable CA file, bad name).
    #[error("{0}")]
    Config(String),
    /// The registry has no such manifest or blob.
    #[error("{0}")]
    NotFound(String),
    /// The registry could not be reached, or speaks plain HTTP without `--insecure`.
    #[error("{0}")]
    Unreachable(String),
    /// Anything else the registry did (refused credentials, a bad answer).
    #[error("{0}")]
    Failed(String),
}

/// A manifest as the registry serves it.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// Its media type (`Content-Type`, else the body's `mediaType`).
    pub media_type: String,
    /// sha256 of `bytes`.
    pub digest: [u8; 32],
    /// The exact bytes.
    pub bytes: Bytes,
}

impl Manifest {
    /// `sha256:…`.
    pub fn digest_string(&self) -> String {
        format!("sha256:{}", hex::encode(self.digest))
    }

    /// The byte length, which trust data records with the digest.
    pub fn size(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// Whether it is an OCI index or a Docker manifest list (a multi-platform image).
    pub fn is_index(&self) -> bool {
        self.media_type == MANIFEST_TYPES[0] || self.media_type == MANIFEST_TYPES[1]
    }
}

/// A client of registries.
#[derive(Debug, Clone)]
pub struct Registry {
    client: Client,
    config: RegistryConfig,
    tokens: crate::remote::auth::Tokens,
}

/// Where the Docker daemon keeps per-registry CAs.
pub const DOCKER_CERTS_D: &str = "/etc/docker/certs.d";

/// The CA files the Docker daemon trusts for `host` (`host[:port]`) besides the system's
/// roots: every `*.crt` of `root/host/`, in name order (none when the directory is absent).
/// A user who already pushes with docker has put the registry's CA there, so a signer that
/// reads it needs no flag. Client certificates (`*.cert`, `*.key`) are not read.
pub fn docker_certs_d(root: &Path, host: &str) -> Vec<PathBuf> {
    // A host with a path separator or `..` would leave `root`; such a name is no registry.
    if host.is_empty() || host.contains(['/', '\\']) || host.starts_with('.') {
        return Vec::new();
    }
    let Ok(entries) = std::fs::read_dir(root.join(host)) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "crt") && path.is_file())
        .collect();
    files.sort();
    files
}

/// The certificates of a PEM CA bundle, refused when unreadable or empty.
fn read_cas(path: &Path) -> Result<Vec<Certificate>, RegistryError> {
    let pem = std::fs::read(path).map_err(|e| {
        RegistryError::Config(format!(
            "cannot read registry CA file {}: {e}",
            path.display()
        ))
    })?;
    let certificates = Certificate::from_pem_bundle(&pem).map_err(|e| {
        RegistryError::Config(format!(
            "registry CA file {} is not PEM: {e}",
            path.display()
        ))
    })?;
    if certificates.is_empty() {
        return Err(RegistryError::Config(format!(
            "registry CA file {} holds no certificate",
            path.display()
        )));
    }
    Ok(certificates)
}

/// What a manifest or blob is looked up by: a registry host, a repository on it, a reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// `host[:port]` as the image names it (`docker.io` for Docker Hub).
    pub host: String,
    /// The repository path on the registry (`library/alpine` on Docker Hub).
    pub repository: String,
}

impl Location {
    /// The registry host and repository of a normalised image name (`host/path`).
    pub fn of_name(name: &str) -> Result<Location, RegistryError> {
        let Some((host, repository)) = name.split_once('/') else {
            return Err(RegistryError::Config(format!(
                "image name {:?} has no registry host",
                printable(name, 300)
            )));
        };
        Ok(Location {
            host: host.to_owned(),
            repository: repository.to_owned(),
        })
    }

    /// The host requests go to (Docker Hub's API host for `docker.io`).
    fn api_host(&self) -> &str {
        match self.host.as_str() {
            "docker.io" | "index.docker.io" => "registry-1.docker.io",
            other => other,
        }
    }
}

impl Registry {
    /// A client for `config`.
    pub fn new(config: RegistryConfig) -> Result<Registry, RegistryError> {
        let mut builder = Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(config.timeout)
            .user_agent(concat!("notarium/", env!("CARGO_PKG_VERSION")))
            // Registries redirect blob reads to storage elsewhere; manifests come from the
            // registry itself. reqwest drops `Authorization` on a cross-origin redirect.
            .redirect(reqwest::redirect::Policy::limited(5));
        if let Some(path) = &config.ca {
            builder = builder.tls_built_in_root_certs(false);
            for certificate in read_cas(path)? {
                builder = builder.add_root_certificate(certificate);
            }
        } else {
            for path in &config.extra_ca {
                for certificate in read_cas(path)? {
                    builder = builder.add_root_certificate(certificate);
                }
            }
        }
        let client = builder
            .build()
            .map_err(|e| RegistryError::Config(format!("cannot set up HTTPS: {}", describe(&e))))?;
        Ok(Registry {
            client,
            config,
            tokens: Default::default(),
        })
    }

    /// `GET /v2/REPO/manifests/REFERENCE` with every manifest type accepted; the digest is
    /// checked against `Docker-Content-Digest` when the registry sends one, and against the
    /// reference when it is a digest.
    pub async fn manifest(
        &self,
        location: &Location,
        reference: &str,
    ) -> Result<Manifest, RegistryError> {
        let url = self.url(location, &["manifests", reference])?;
        let (headers, bytes) = self
            .session(location)
            .request(Method::GET, &url, MANIFEST_LIMIT)
            .await?;
        let computed: [u8; 32] = digest(&SHA256, &bytes)
            .as_ref()
            .try_into()
            .map_err(|_| RegistryError::Failed("sha256 is not 32 bytes".to_owned()))?;
        let computed_text = format!("sha256:{}", hex::encode(computed));
        if let Some(served) = header(&headers, "docker-content-digest") {
            if served.starts_with("sha256:") && served != computed_text {
                return Err(RegistryError::Failed(format!(
                    "GET {url}: the registry says the manifest is {}, but its bytes are {computed_text}",
                    printable(&served, 80)
                )));
            }
        }
        if reference.starts_with("sha256:") && reference != computed_text {
            return Err(RegistryError::Failed(format!(
                "GET {url}: the registry served bytes of {computed_text}"
            )));
        }
        let media_type = header(&headers, CONTENT_TYPE.as_str())
            .map(|t| t.split(';').next().unwrap_or_default().trim().to_owned())
            .filter(|t| MANIFEST_TYPES.contains(&t.as_str()))
            .or_else(|| body_media_type(&bytes))
            .unwrap_or_default();
        Ok(Manifest {
            media_type,
            digest: computed,
            bytes,
        })
    }

    /// `HEAD /v2/REPO/manifests/REFERENCE`: whether it exists, and the digest the registry
    /// names (`Docker-Content-Digest`, which a HEAD cannot check), if it sends one.
    pub async fn head_manifest(
        &self,
        location: &Location,
        reference: &str,
    ) -> Result<Option<String>, RegistryError> {
        let url = self.url(location, &["manifests", reference])?;
        let (headers, _) = self
            .session(location)
            .request(Method::HEAD, &url, 0)
            .await?;
        Ok(header(&headers, "docker-content-digest"))
    }

    /// `GET /v2/REPO/blobs/DIGEST` (an image config, say), at most `limit` bytes, checked
    /// against its sha256 digest.
    pub async fn blob(
        &self,
        location: &Location,
        blob_digest: &str,
        limit: usize,
    ) -> Result<Bytes, RegistryError> {
        let url = self.url(location, &["blobs", blob_digest])?;
        let (_, bytes) = self
            .session(location)
            .request(Method::GET, &url, limit)
            .await?;
        let computed = format!("sha256:{}", hex::encode(digest(&SHA256, &bytes)));
        if computed != blob_digest {
            return Err(RegistryError::Failed(format!(
                "GET {url}: the blob's bytes are {computed}"
            )));
        }
        Ok(bytes)
    }

    fn session<'a>(&'a self, location: &'a Location) -> session::Session<'a> {
        session::Session::new(self, location)
    }

    /// `{scheme}://{host}/v2/{repository}/{kind}/{reference}`.
    fn url(&self, location: &Location, tail: &[&str; 2]) -> Result<Url, RegistryError> {
        let scheme = if self.config.insecure {
            "http"
        } else {
            "https"
        };
        let mut url =
            Url::parse(&format!("{scheme}://{}/", location.api_host())).map_err(|_| {
                RegistryError::Config(format!(
                    "registry host {:?} is not a host name",
                    printable(&location.host, 200)
                ))
            })?;
        let valid_reference = !tail[1].is_empty()
            && tail[1]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-:".contains(c));
        if !valid_reference {
            return Err(RegistryError::Config(format!(
                "{:?} is not a tag or digest",
                printable(tail[1], 200)
            )));
        }
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().push("v2");
            segments.extend(location.repository.split('/'));
            segments.push(tail[0]).push(tail[1]);
        }
        Ok(url)
    }
}

/// A header's value as text.
fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The `mediaType` a manifest names in its body, when it names one of ours.
fn body_media_type(bytes: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Typed {
        #[serde(rename = "mediaType", default)]
        media_type: String,
    }
    let typed: Typed = serde_json::from_slice(bytes).ok()?;
    MANIFEST_TYPES
        .contains(&typed.media_type.as_str())
        .then_some(typed.media_type)
}

/// The `Accept` header of a manifest request.
fn accept() -> String {
    MANIFEST_TYPES.join(", ")
}

/// The one header every request carries.
fn accept_header() -> (reqwest::header::HeaderName, String) {
    (ACCEPT, accept())
}

/// Whether a 404 or similar means "not there".
fn not_found(status: StatusCode) -> bool {
    status == StatusCode::NOT_FOUND
}

#[cfg(test)]
mod tests;
