//! Credentials for a registry's token service: given explicitly, or found in a Docker config.
//!
//! Where the notary CLI and Docker look, in their order: `NOTARY_AUTH` (base64 of
//! `user:password`), then `config.json`'s `credHelpers` for the host, its `auths` entry, and
//! its `credsStore` (docs/protocol.md §8, "How clients get tokens").

mod helper;

use std::collections::BTreeMap;
use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use zeroize::Zeroizing;

/// The user name Docker's credential helpers give for an identity token (an OAuth refresh
/// token from `docker login`): the password is then the token.
pub(crate) const IDENTITY_TOKEN_USER: &str = "<token>";
/// The largest `config.json` read.
const CONFIG_LIMIT: u64 = 1 << 20;
/// Docker Hub's names: its images say `docker.io`, its credentials sit under the index URL.
const DOCKER_HUB: [&str; 3] = ["docker.io", "index.docker.io", "registry-1.docker.io"];
/// The key `docker login` writes Docker Hub's credentials under.
const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// A user name and password (or identity token) for basic auth against a token service.
#[derive(Clone)]
pub struct Credentials {
    /// The user name.
    pub username: String,
    /// The password; never printed.
    pub password: zeroize::Zeroizing<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// One `auths` entry of a Docker `config.json`. No `Debug`: it holds secrets.
#[derive(serde::Deserialize)]
struct AuthEntry {
    #[serde(default, deserialize_with = "secret")]
    auth: Option<Zeroizing<String>>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default, deserialize_with = "secret")]
    password: Option<Zeroizing<String>>,
    #[serde(default, deserialize_with = "secret")]
    identitytoken: Option<Zeroizing<String>>,
}

/// A string that is wiped from memory when dropped.
fn secret<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Zeroizing<String>>, D::Error> {
    let value: Option<String> = serde::Deserialize::deserialize(deserializer)?;
    Ok(value.map(Zeroizing::new))
}

/// What of a Docker `config.json` names credentials.
#[derive(serde::Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
}

impl Credentials {
    /// `NOTARY_AUTH`, as the notary CLI reads it: base64 of `user:password`.
    pub fn from_env() -> Option<Credentials> {
        let value = Zeroizing::new(std::env::var("NOTARY_AUTH").ok()?);
        Credentials::from_basic(&value)
    }

    /// The credentials `dir/config.json` holds for the first of `hosts` (`host` or
    /// `host:port`) it knows: by its credential helper, its `auths` entry (under the host,
    /// `host:port` or a URL of it) or its credentials store. `None` when there are none or
    /// the file cannot be read.
    pub fn from_docker_config(dir: &Path, hosts: &[&str]) -> Option<Credentials> {
        let path = dir.join("config.json");
        let file = std::fs::File::open(&path).ok()?;
        let mut text = Zeroizing::new(Vec::new());
        std::io::Read::read_to_end(&mut std::io::Read::take(file, CONFIG_LIMIT + 1), &mut text)
            .ok()?;
        if text.len() as u64 > CONFIG_LIMIT {
            tracing::warn!(path = %path.display(), "Docker config is too large; not read");
            return None;
        }
        let config: DockerConfig = match serde_json::from_slice(&text) {
            Ok(config) => config,
            Err(e) => {
                // serde_json's message names a line and column, never the text.
                tracing::warn!(path = %path.display(), error = %e, "Docker config is not readable");
                return None;
            }
        };
        hosts.iter().find_map(|host| config.lookup(host))
    }

    /// Base64 of `user:password`, the user not empty.
    fn from_basic(encoded: &str) -> Option<Credentials> {
        let decoded = Zeroizing::new(STANDARD.decode(encoded.trim()).ok()?);
        let text = std::str::from_utf8(&decoded).ok()?;
        let (username, password) = text.split_once(':')?;
        if username.is_empty() {
            return None;
        }
        Some(Credentials {
            username: username.to_owned(),
            password: Zeroizing::new(password.to_owned()),
        })
    }

    /// The `Authorization` header value of HTTP Basic with these credentials.
    pub(crate) fn basic_header(&self) -> String {
        let pair = Zeroizing::new(format!("{}:{}", self.username, *self.password));
        format!("Basic {}", STANDARD.encode(pair.as_bytes()))
    }
}

impl DockerConfig {
    /// The credentials for `host`, as Docker resolves them.
    fn lookup(&self, host: &str) -> Option<Credentials> {
        let names = aliases(host);
        let server_url = if DOCKER_HUB.contains(&names[0].as_str()) {
            DOCKER_HUB_KEY.to_owned()
        } else {
            host.to_owned()
        };
        let by_helper = self
            .cred_helpers
            .iter()
            .find(|(key, _)| names.contains(&normalize(key)))
            .map(|(_, name)| name);
        if let Some(name) = by_helper {
            return helper::get(name, &server_url);
        }
        let entry = self
            .auths
            .iter()
            .find(|(key, _)| names.contains(&normalize(key)))
            .and_then(|(_, entry)| entry.credentials());
        if entry.is_some() {
            return entry;
        }
        helper::get(self.creds_store.as_deref()?, &server_url)
    }
}

impl AuthEntry {
    fn credentials(&self) -> Option<Credentials> {
        if let Some(token) = self.identitytoken.as_ref().filter(|t| !t.is_empty()) {
            return Some(Credentials {
                username: IDENTITY_TOKEN_USER.to_owned(),
                password: token.clone(),
            });
        }
        if let Some(auth) = self.auth.as_ref().filter(|a| !a.is_empty()) {
            return Credentials::from_basic(auth);
        }
        match (&self.username, &self.password) {
            (Some(username), Some(password)) if !username.is_empty() => Some(Credentials {
                username: username.clone(),
                password: password.clone(),
            }),
            _ => None,
        }
    }
}

/// The names `host` may be written under, lower case; Docker Hub's three are one.
fn aliases(host: &str) -> Vec<String> {
    let host = normalize(host);
    if DOCKER_HUB.contains(&host.as_str()) {
        DOCKER_HUB.iter().map(|h| (*h).to_owned()).collect()
    } else {
        vec![host]
    }
}

/// `https://host:port/v1/` → `host:port`: an `auths` key without scheme and path.
fn normalize(key: &str) -> String {
    let key = key.trim();
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    key.split('/')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests;
