//! Docker registry token auth as the notary client does it (docs/protocol.md §8): a GET that
//! meets a 401 with a `Bearer` challenge asks the challenge's realm for a token (with HTTP
//! Basic when credentials are known) and is sent once more with it; a `Basic` challenge is
//! answered with the credentials themselves.

pub(crate) mod challenge;
pub(crate) mod service;
pub(crate) mod tokens;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::{HeaderValue, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, WWW_AUTHENTICATE};
use reqwest::{Response, StatusCode, Url};
use tokio::sync::OnceCell;
use zeroize::Zeroizing;

use crate::gun::Gun;

use super::credentials::{Credentials, IDENTITY_TOKEN_USER};
use super::transport::{describe, printable, read_body, status_summary, Transport};
use super::RemoteConfig;

use challenge::Challenge;
pub(crate) use tokens::Tokens;
use tokens::{TokenKey, DEFAULT_LIFETIME};

/// Why a GET failed: nothing there (404), or anything else; both messages name the URL.
#[derive(Debug)]
pub(super) enum GetError {
    NotFound(String),
    Failed(String),
}

/// A request body: its content type and bytes.
pub(super) struct Upload {
    pub(super) content_type: String,
    pub(super) body: Bytes,
}

/// Whether a GET may be answered from an HTTP cache on the way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Freshness {
    /// Anything the server would send (checksum and version URLs never change).
    Any,
    /// `Cache-Control: no-cache`: the current file, not a proxy's copy.
    Fresh,
}

/// The reads of one `fetch`: the GUN and, found at most once and only when a server asks,
/// the credentials.
pub(super) struct Session<'a> {
    config: &'a RemoteConfig,
    transport: &'a Transport,
    subject: Subject<'a>,
    credentials: OnceCell<Option<Credentials>>,
    /// Set once a `Basic` challenge was answered: later reads send the credentials at once.
    basic: AtomicBool,
}

/// What a retried request carries.
enum Authorization {
    Basic(Credentials),
    Bearer {
        key: TokenKey,
        token: Zeroizing<String>,
        user: Option<String>,
    },
}

impl Authorization {
    fn header(&self) -> Result<HeaderValue, String> {
        let text = match self {
            Authorization::Basic(credentials) => Zeroizing::new(credentials.basic_header()),
            Authorization::Bearer { token, .. } => Zeroizing::new(format!("Bearer {}", **token)),
        };
        let mut value = HeaderValue::from_str(&text)
            .map_err(|_| "the token service sent a token that is not a header value".to_owned())?;
        value.set_sensitive(true);
        Ok(value)
    }

    /// How it was authorised, for an error: never the secret itself.
    fn describe(&self) -> String {
        match self {
            Authorization::Basic(credentials) => {
                format!("the credentials of user {:?}", credentials.username)
            }
            Authorization::Bearer {
                key, user: None, ..
            } => format!("an anonymous token from {}", key.realm),
            Authorization::Bearer {
                key,
                user: Some(user),
                ..
            } => format!("a token from {} for user {user:?}", key.realm),
        }
    }

    fn is_anonymous(&self) -> bool {
        matches!(self, Authorization::Bearer { user: None, .. })
    }
}

/// What a session reads: one repository, or the catalog (the global changefeed).
#[derive(Debug, Clone, Copy)]
enum Subject<'a> {
    Repository(&'a Gun),
    Catalog,
}

impl<'a> Subject<'a> {
    /// The name tokens are kept under.
    fn key(&self) -> &'a str {
        match self {
            Subject::Repository(gun) => gun.as_str(),
            Subject::Catalog => "registry:catalog",
        }
    }

    /// The scope asked for when a challenge names none.
    fn default_scope(&self) -> String {
        match self {
            Subject::Repository(gun) => format!("repository:{gun}:pull"),
            Subject::Catalog => "registry:catalog:*".to_owned(),
        }
    }

    fn gun(&self) -> Option<&'a Gun> {
        match self {
            Subject::Repository(gun) => Some(gun),
            Subject::Catalog => None,
        }
    }
}

impl<'a> Session<'a> {
    pub(super) fn new(
        config: &'a RemoteConfig,
        transport: &'a Transport,
        gun: &'a Gun,
    ) -> Session<'a> {
        Session::about(config, transport, Subject::Repository(gun))
    }

    /// A session for the global changefeed (catalog scope).
    pub(super) fn catalog(config: &'a RemoteConfig, transport: &'a Transport) -> Session<'a> {
        Session::about(config, transport, Subject::Catalog)
    }

    fn about(
        config: &'a RemoteConfig,
        transport: &'a Transport,
        subject: Subject<'a>,
    ) -> Session<'a> {
        Session {
            config,
            transport,
            subject,
            credentials: OnceCell::new(),
            basic: AtomicBool::new(false),
        }
    }

    /// GETs `url` and reads at most `limit` bytes of a 200; on a 401 authenticates as the
    /// challenge asks and tries once more.
    pub(super) async fn get(
        &self,
        url: &Url,
        limit: usize,
        freshness: Freshness,
    ) -> Result<Bytes, GetError> {
        let failed = |why: String| GetError::Failed(format!("GET {url}: {why}"));
        let response = self
            .authenticated(url, freshness, None)
            .await
            .map_err(failed)?;
        match response.status() {
            StatusCode::OK => read_body(response, limit).await.map_err(failed),
            StatusCode::NOT_FOUND => Err(GetError::NotFound(format!(
                "GET {url}: {}",
                status_summary(response).await
            ))),
            _ => Err(failed(status_summary(response).await)),
        }
    }

    /// POSTs `upload` to `url` (authenticating as a GET does); the response when it is not
    /// a 401 that authentication could not answer.
    pub(super) async fn post(&self, url: &Url, upload: &Upload) -> Result<Response, String> {
        self.authenticated(url, Freshness::Fresh, Some(upload))
            .await
            .map_err(|why| format!("POST {url}: {why}"))
    }

    /// Sends the request with a kept token (or the credentials a `Basic` challenge took); on
    /// a 401 answers the challenge and sends it once more.
    async fn authenticated(
        &self,
        url: &Url,
        freshness: Freshness,
        upload: Option<&Upload>,
    ) -> Result<Response, String> {
        let kept = self
            .transport
            .tokens
            .for_gun(self.subject.key(), Instant::now())
            .map(|(key, token)| Authorization::Bearer {
                key,
                token,
                user: None,
            })
            .or_else(|| {
                let basic = self.basic.load(Ordering::Relaxed);
                let credentials = self.credentials.get().and_then(Option::as_ref);
                credentials
                    .filter(|_| basic)
                    .map(|c| Authorization::Basic(c.clone()))
            });
        let mut response = self.send(url, freshness, kept.as_ref(), upload).await?;
        if response.status() == StatusCode::UNAUTHORIZED {
            if let Some(Authorization::Bearer { key, .. }) = &kept {
                self.transport.tokens.forget(key);
            }
            let challenges = challenge::parse_all(
                response
                    .headers()
                    .get_all(WWW_AUTHENTICATE)
                    .iter()
                    .map(HeaderValue::as_bytes),
            );
            let first = status_summary(response).await;
            let authorization = self.authorize(&challenges, &first).await?;
            response = self
                .send(url, freshness, Some(&authorization), upload)
                .await?;
            if response.status() == StatusCode::UNAUTHORIZED {
                if let Authorization::Bearer { key, .. } = &authorization {
                    self.transport.tokens.forget(key);
                }
                let mut why = format!(
                    "{}, even with {}",
                    status_summary(response).await,
                    authorization.describe()
                );
                if authorization.is_anonymous() {
                    why.push_str(&format!("; {}", self.no_credentials()));
                }
                return Err(why);
            }
        }
        Ok(response)
    }

    async fn send(
        &self,
        url: &Url,
        freshness: Freshness,
        authorization: Option<&Authorization>,
        upload: Option<&Upload>,
    ) -> Result<Response, String> {
        let mut request = match upload {
            None => self.transport.client.get(url.clone()),
            Some(upload) => self
                .transport
                .client
                .post(url.clone())
                .header(CONTENT_TYPE, upload.content_type.as_str())
                .body(upload.body.clone()),
        };
        if freshness == Freshness::Fresh {
            request = request.header(CACHE_CONTROL, "no-cache");
        }
        if let Some(authorization) = authorization {
            request = request.header(AUTHORIZATION, authorization.header()?);
        }
        request.send().await.map_err(|e| describe(&e))
    }

    /// What answers `challenges`: a token for the first `Bearer` challenge, else the
    /// credentials for a `Basic` one.
    async fn authorize(
        &self,
        challenges: &[Challenge],
        first: &str,
    ) -> Result<Authorization, String> {
        if let Some(bearer) = challenges
            .iter()
            .find(|c| c.scheme == "bearer" && c.param("realm").is_some())
        {
            return self.token(bearer).await;
        }
        if challenges.iter().any(|c| c.scheme == "basic") {
            return match self.credentials().await {
                Some(credentials) if credentials.username != IDENTITY_TOKEN_USER => {
                    self.basic.store(true, Ordering::Relaxed);
                    Ok(Authorization::Basic(credentials))
                }
                _ => Err(format!(
                    "{first}: the server asks for a user and password; {}",
                    self.no_credentials()
                )),
            };
        }
        Err(format!("{first}, with no challenge this client can answer"))
    }

    /// A token for `challenge`: kept from before, or asked for.
    async fn token(&self, challenge: &Challenge) -> Result<Authorization, String> {
        let realm_text = challenge.param("realm").unwrap_or_default();
        let realm = Url::parse(realm_text)
            .map_err(|_| format!("token realm {:?} is not a URL", printable(realm_text, 200)))?;
        match realm.scheme() {
            "https" => {}
            // Off-spec: a token service reached in clear text would see the password; only a
            // trust server that is itself on plain HTTP (behind a proxy, tests) may use one.
            "http" if !self.transport.is_https() => {}
            _ => return Err(format!("token realm {realm} is not https")),
        }
        let default_scope = self.subject.default_scope();
        let key = TokenKey {
            realm: realm.to_string(),
            service: challenge.param("service").unwrap_or_default().to_owned(),
            scope: challenge
                .param("scope")
                .unwrap_or(&default_scope)
                .to_owned(),
        };
        let credentials = self.credentials().await;
        let user = credentials.as_ref().map(|c| c.username.clone());
        // A token kept from a read that did not send it (another GUN asked for the same scope).
        if let Some(token) = self.transport.tokens.get(&key, Instant::now()) {
            self.remember(&key, &token, DEFAULT_LIFETIME);
            return Ok(Authorization::Bearer { key, token, user });
        }
        let client = &self.transport.client;
        let (token, lifetime) =
            service::request(client, &realm, &key, credentials.as_ref()).await?;
        self.remember(&key, &token, lifetime);
        Ok(Authorization::Bearer { key, token, user })
    }

    fn remember(&self, key: &TokenKey, token: &Zeroizing<String>, lifetime: Duration) {
        self.transport.tokens.insert(
            self.subject.key(),
            key.clone(),
            token.clone(),
            lifetime,
            Instant::now(),
        );
    }

    /// The credentials for this server: explicit, else `NOTARY_AUTH`, else the Docker config
    /// (the trust server's host, then the registry's); looked up once per read.
    async fn credentials(&self) -> Option<Credentials> {
        self.credentials
            .get_or_init(|| async {
                if let Some(explicit) = &self.config.credentials {
                    return Some(explicit.clone());
                }
                let dir = docker_config_dir(self.config);
                let hosts = self.hosts();
                tokio::task::spawn_blocking(move || {
                    Credentials::from_env().or_else(|| {
                        let hosts: Vec<&str> = hosts.iter().map(String::as_str).collect();
                        dir.and_then(|dir| Credentials::from_docker_config(&dir, &hosts))
                    })
                })
                .await
                .ok()
                .flatten()
            })
            .await
            .clone()
    }

    /// Hosts whose credentials may serve: the trust server's, then the image registry's.
    fn hosts(&self) -> Vec<String> {
        let mut hosts = vec![self.transport.host()];
        if let Some(registry) = self.subject.gun().and_then(super::registry_host) {
            if !hosts.iter().any(|h| h == registry) {
                hosts.push(registry.to_owned());
            }
        }
        hosts
    }

    fn no_credentials(&self) -> String {
        format!(
            "no credentials were found for {} (give them explicitly, in NOTARY_AUTH, or with \
             docker login)",
            self.hosts().join(" or ")
        )
    }
}

/// `config.docker_config`, else `$DOCKER_CONFIG`, else `~/.docker`.
fn docker_config_dir(config: &RemoteConfig) -> Option<PathBuf> {
    if let Some(dir) = &config.docker_config {
        return Some(dir.clone());
    }
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|home| PathBuf::from(home).join(".docker"))
}
