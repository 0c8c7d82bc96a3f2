//! `notarium sign` and `notarium revoke`: Docker Content Trust signing without a daemon, for
//! pipelines that build with BuildKit or kaniko and push with crane or skopeo. `sign` reads
//! the tag's manifest digest and size from the registry and publishes them into the signer's
//! delegations as `docker trust sign` does; `revoke` removes the tag as `docker trust revoke`
//! does. Keys and passphrases are those of the Docker trust directory. Exit status 0 when
//! published, 1 when not (nothing was published then), 2 a usage error.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use crate::policy::ImageRef;
use crate::registry::{docker_certs_d, Location, Registry, RegistryConfig, DOCKER_CERTS_D};
use crate::remote::keystore::KeyStore;
use crate::remote::publish::{target_meta, Edit, PublishRequest};
use crate::remote::{Credentials, Remote, RemoteConfig};
use crate::tuf::key::KeyId;

/// How long one request may take.
const TIMEOUT: Duration = Duration::from_secs(60);

/// Where the trust server is and how to reach it, shared by `sign` and `revoke`.
#[derive(Debug, clap::Args)]
pub struct TrustArgs {
    /// The trust server (default: https://REGISTRY-HOST, as Docker).
    #[arg(long, env = "DOCKER_CONTENT_TRUST_SERVER", value_name = "URL")]
    server: Option<String>,
    /// A CA bundle (PEM) for the trust server's certificate, instead of the system's roots.
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,
    /// The signer: its delegation `targets/NAME` (and `targets/releases`) is signed. Default:
    /// every delegation the trust directory holds a key for.
    #[arg(long, value_name = "NAME")]
    signer: Option<String>,
    /// The trust directory whose `private/` holds the keys (default: $DOCKER_CONFIG/trust,
    /// else ~/.docker/trust).
    #[arg(long, value_name = "DIR")]
    trust_dir: Option<PathBuf>,
    /// A user name for the registry's and the trust server's token services (password from
    /// NOTARIUM_PASSWORD); without it the Docker config's credentials (or NOTARY_AUTH) serve.
    #[arg(long, value_name = "USER")]
    username: Option<String>,
    /// A root key ID (as `docker trust inspect` prints it) that must have signed the
    /// repository's root, instead of the root the trust directory cached; repeatable, any one
    /// suffices. Without it, a trust directory that caches no root for the repository trusts
    /// the server's on first use.
    #[arg(long = "root-key", value_name = "KEYID")]
    root_keys: Vec<String>,
}

/// Arguments of `sign`.
#[derive(Debug, clap::Args)]
pub struct SignCommand {
    /// The image: `REGISTRY/REPOSITORY:TAG`, already pushed.
    #[arg(value_name = "IMAGE:TAG")]
    image: String,
    #[command(flatten)]
    trust: TrustArgs,
    /// A CA bundle (PEM) for the registry's certificate, instead of the system's roots.
    /// Without it the system's roots serve, and with them the CAs the Docker daemon trusts
    /// for the registry host: `/etc/docker/certs.d/HOST[:PORT]/*.crt`.
    #[arg(long, value_name = "FILE")]
    registry_ca: Option<PathBuf>,
    /// Create the repository's trust data when it has none (root and targets keys in the
    /// trust directory, the snapshot held by the server), delegating to --signer.
    #[arg(long)]
    init: bool,
    /// The registry speaks plain HTTP.
    #[arg(long)]
    insecure: bool,
}

/// Arguments of `revoke`.
#[derive(Debug, clap::Args)]
pub struct RevokeCommand {
    /// The signed tag to remove: `REGISTRY/REPOSITORY:TAG`.
    #[arg(value_name = "IMAGE:TAG")]
    image: String,
    #[command(flatten)]
    trust: TrustArgs,
}

fn fail(command: &str, message: impl std::fmt::Display) -> ExitCode {
    eprintln!("notarium {command}: {message}");
    ExitCode::from(1)
}

fn usage(command: &str, message: impl std::fmt::Display) -> ExitCode {
    eprintln!("notarium {command}: {message}");
    ExitCode::from(2)
}

impl SignCommand {
    /// Runs the command and answers its exit status.
    pub fn run(self) -> ExitCode {
        crate::cli::serve::init_tracing_quiet();
        let (image, tag) = match tagged(&self.image) {
            Ok(pair) => pair,
            Err(e) => return usage("sign", e),
        };
        let credentials = match self.trust.credentials() {
            Ok(c) => c,
            Err(e) => return usage("sign", e),
        };
        let root_keys = match self.trust.root_keys() {
            Ok(k) => k,
            Err(e) => return usage("sign", e),
        };
        let location = match Location::of_name(image.name()) {
            Ok(l) => l,
            Err(e) => return usage("sign", e),
        };
        let registry = match Registry::new(RegistryConfig {
            ca: self.registry_ca.clone(),
            extra_ca: match self.registry_ca {
                Some(_) => Vec::new(),
                None => docker_certs_d(Path::new(DOCKER_CERTS_D), &location.host),
            },
            insecure: self.insecure,
            credentials: credentials.clone(),
            docker_config: None,
            timeout: TIMEOUT,
        }) {
            Ok(r) => r,
            Err(e) => return usage("sign", e),
        };
        let remote = match self.trust.remote(&location, credentials) {
            Ok(r) => r,
            Err(e) => return usage("sign", e),
        };
        let runtime = match crate::cli::runtime() {
            Ok(r) => r,
            Err(e) => return usage("sign", format!("{e:#}")),
        };
        let keys = KeyStore::new(&self.trust.trust_dir());
        let result = runtime.block_on(async {
            let manifest = registry.manifest(&location, &tag).await.map_err(|e| {
                format!("cannot read {}:{tag} from the registry: {e}", image.name())
            })?;
            let request = PublishRequest {
                gun: image.name(),
                edit: Edit::Add {
                    name: tag.clone(),
                    meta: target_meta(&manifest.digest, manifest.size()),
                },
                signer: self.trust.signer.as_deref(),
                keys: &keys,
                init: self.init,
                root_keys: &root_keys,
                root_anchor: self.trust.root_anchor(image.name()),
                now: crate::clock::Clock::now(&crate::clock::SystemClock),
            };
            let published = remote.publish(&request).await.map_err(|e| e.to_string())?;
            Ok::<_, String>((manifest, published))
        });
        match result {
            Ok((manifest, published)) => {
                retried(&published);
                if published.initialized {
                    eprintln!(
                        "Initialized trust data for {} (keys in {})",
                        image.name(),
                        keys.dir().display()
                    );
                }
                println!(
                    "Signed {}:{tag}@{} by {}",
                    image.name(),
                    manifest.digest_string(),
                    self.trust.signer_names(&published.signed_roles)
                );
                ExitCode::SUCCESS
            }
            Err(e) => fail("sign", e),
        }
    }
}

impl RevokeCommand {
    /// Runs the command and answers its exit status.
    pub fn run(self) -> ExitCode {
        crate::cli::serve::init_tracing_quiet();
        let (image, tag) = match tagged(&self.image) {
            Ok(pair) => pair,
            Err(e) => return usage("revoke", e),
        };
        let credentials = match self.trust.credentials() {
            Ok(c) => c,
            Err(e) => return usage("revoke", e),
        };
        let root_keys = match self.trust.root_keys() {
            Ok(k) => k,
            Err(e) => return usage("revoke", e),
        };
        let location = match Location::of_name(image.name()) {
            Ok(l) => l,
            Err(e) => return usage("revoke", e),
        };
        let remote = match self.trust.remote(&location, credentials) {
            Ok(r) => r,
            Err(e) => return usage("revoke", e),
        };
        let runtime = match crate::cli::runtime() {
            Ok(r) => r,
            Err(e) => return usage("revoke", format!("{e:#}")),
        };
        let keys = KeyStore::new(&self.trust.trust_dir());
        let request = PublishRequest {
            gun: image.name(),
            edit: Edit::Remove { name: tag.clone() },
            signer: self.trust.signer.as_deref(),
            keys: &keys,
            init: false,
            root_keys: &root_keys,
            root_anchor: self.trust.root_anchor(image.name()),
            now: crate::clock::Clock::now(&crate::clock::SystemClock),
        };
        match runtime.block_on(remote.publish(&request)) {
            Ok(published) => {
                retried(&published);
                println!(
                    "Revoked {}:{tag} from {}",
                    image.name(),
                    published.signed_roles.join(", ")
                );
                ExitCode::SUCCESS
            }
            Err(e) => fail("revoke", e),
        }
    }
}

/// Says so when another publish came first and the change was redone on fresh trust data.
fn retried(published: &crate::remote::publish::Published) {
    if published.attempts > 1 {
        eprintln!(
            "Another publish came first; the change was redone on fresh trust data ({} uploads)",
            published.attempts
        );
    }
}

impl TrustArgs {
    /// `--username` with its password from `NOTARIUM_PASSWORD`.
    fn credentials(&self) -> Result<Option<Credentials>, String> {
        let Some(username) = &self.username else {
            return Ok(None);
        };
        let password = std::env::var("NOTARIUM_PASSWORD")
            .map_err(|_| "--username needs its password in NOTARIUM_PASSWORD".to_owned())?;
        Ok(Some(Credentials {
            username: username.clone(),
            password: zeroize::Zeroizing::new(password),
        }))
    }

    fn remote(
        &self,
        location: &Location,
        credentials: Option<Credentials>,
    ) -> Result<Remote, String> {
        let server = match &self.server {
            Some(url) => url.clone(),
            None if location.host == "docker.io" => "https://notary.docker.io".to_owned(),
            None => format!("https://{}", location.host),
        };
        Remote::new(RemoteConfig {
            server,
            ca: self.ca.clone(),
            credentials,
            docker_config: None,
            timeout: TIMEOUT,
        })
        .map_err(|e| e.to_string())
    }

    fn trust_dir(&self) -> PathBuf {
        if let Some(dir) = &self.trust_dir {
            return dir.clone();
        }
        let config = std::env::var_os("DOCKER_CONFIG")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")))
            .unwrap_or_else(|| PathBuf::from(".docker"));
        config.join("trust")
    }

    /// The pinned root key IDs, parsed.
    fn root_keys(&self) -> Result<Vec<KeyId>, String> {
        self.root_keys
            .iter()
            .map(|k| KeyId::parse(k).map_err(|e| format!("--root-key {k:?}: {e}")))
            .collect()
    }

    /// The root the notary client cached for `gun` in the trust directory, if any: the
    /// anchor the new trust data must chain to.
    fn root_anchor(&self, gun: &str) -> Option<Vec<u8>> {
        let path = self
            .trust_dir()
            .join("tuf")
            .join(gun)
            .join("metadata")
            .join("root.json");
        let bytes = std::fs::read(path).ok()?;
        (bytes.len() < 1 << 20).then_some(bytes)
    }

    /// Who signed, for the message: the signer given, else the delegations signed.
    fn signer_names(&self, roles: &[String]) -> String {
        if let Some(name) = &self.signer {
            return name.clone();
        }
        let names: Vec<&str> = roles
            .iter()
            .filter(|r| r.as_str() != "targets/releases")
            .map(|r| r.strip_prefix("targets/").unwrap_or(r))
            .collect();
        if names.is_empty() {
            "releases".to_owned()
        } else {
            names.join(", ")
        }
    }
}

/// The image and its tag; a digest or a missing tag is refused.
fn tagged(text: &str) -> Result<(ImageRef, String), String> {
    let image = ImageRef::parse(text).map_err(|e| e.to_string())?;
    if image.digest().is_some() {
        return Err(format!(
            "{text}: name a tag, not a digest (the tag is what is signed)"
        ));
    }
    let Some(tag) = image.tag().map(str::to_owned) else {
        return Err(format!("{text}: name the tag to sign (IMAGE:TAG)"));
    };
    let explicit = text
        .rsplit('/')
        .next()
        .is_some_and(|last| last.contains(':'));
    if !explicit {
        return Err(format!("{text}: name the tag to sign (IMAGE:TAG)"));
    }
    Ok((image, tag))
}
