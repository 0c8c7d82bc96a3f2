//! One request to a registry with its auth: a kept token first; on a 401 the challenge is
//! answered (a token from the `Bearer` realm, or the credentials for `Basic`) and the request
//! sent once more. Tokens are kept per repository for the client's life.

use std::path::PathBuf;
use std::time::Instant;

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::{Method, Response, StatusCode, Url};
use zeroize::Zeroizing;

use crate::remote::auth::challenge::{self, Challenge};
use crate::remote::auth::service;
use crate::remote::auth::tokens::TokenKey;
use crate::remote::credentials::IDENTITY_TOKEN_USER;
use crate::remote::transport::{describe, printable, read_body, status_summary};
use crate::remote::Credentials;

use super::{accept_header, not_found, Location, Registry, RegistryError};

/// How long the plain-HTTP probe after a failed TLS handshake may take.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

pub(super) struct Session<'a> {
    registry: &'a Registry,
    location: &'a Location,
}

/// What an authenticated request carries; never printed.
enum Authorization {
    Basic(Credentials),
    Bearer(Zeroizing<String>),
}

impl Authorization {
    fn header(&self) -> Result<HeaderValue, RegistryError> {
        let text = match self {
            Authorization::Basic(credentials) => Zeroizing::new(credentials.basic_header()),
            Authorization::Bearer(token) => Zeroizing::new(format!("Bearer {}", **token)),
        };
        let mut value = HeaderValue::from_str(&text).map_err(|_| {
            RegistryError::Failed(
                "the token service sent a token that is not a header value".into(),
            )
        })?;
        value.set_sensitive(true);
        Ok(value)
    }
}

impl<'a> Session<'a> {
    pub(super) fn new(registry: &'a Registry, location: &'a Location) -> Session<'a> {
        Session { registry, location }
    }

    /// The key tokens for this repository are kept under.
    fn token_subject(&self) -> String {
        format!("{}/{}", self.location.host, self.location.repository)
    }

    /// Sends `method url`, authenticating when challenged; a 200's headers and body (at most
    /// `limit` bytes).
    pub(super) async fn request(
        &self,
        method: Method,
        url: &Url,
        limit: usize,
    ) -> Result<(HeaderMap, Bytes), RegistryError> {
        let kept = self
            .registry
            .tokens
            .for_gun(&self.token_subject(), Instant::now())
            .map(|(_, token)| Authorization::Bearer(token));
        let mut response = self.send(&method, url, kept.as_ref()).await?;
        if response.status() == StatusCode::UNAUTHORIZED {
            let challenges = challenge::parse_all(
                response
                    .headers()
                    .get_all(WWW_AUTHENTICATE)
                    .iter()
                    .map(HeaderValue::as_bytes),
            );
            let authorization = self.authorize(url, &challenges).await?;
            response = self.send(&method, url, Some(&authorization)).await?;
            if response.status() == StatusCode::UNAUTHORIZED {
                return Err(RegistryError::Failed(format!(
                    "{method} {url}: {}, even after authenticating",
                    status_summary(response).await
                )));
            }
        }
        let status = response.status();
        if not_found(status) {
            return Err(RegistryError::NotFound(format!(
                "{method} {url}: {}",
                status_summary(response).await
            )));
        }
        if status != StatusCode::OK {
            return Err(RegistryError::Failed(format!(
                "{method} {url}: {}",
                status_summary(response).await
            )));
        }
        let headers = response.headers().clone();
        if method == Method::HEAD {
            return Ok((headers, Bytes::new()));
        }
        let body = read_body(response, limit)
            .await
            .map_err(|e| RegistryError::Failed(format!("{method} {url}: {e}")))?;
        Ok((headers, body))
    }

    async fn send(
        &self,
        method: &Method,
        url: &Url,
        authorization: Option<&Authorization>,
    ) -> Result<Response, RegistryError> {
        let (name, value) = accept_header();
        let mut request = self
            .registry
            .client
            .request(method.clone(), url.clone())
            .header(name, value);
        if let Some(authorization) = authorization {
            request = request.header(AUTHORIZATION, authorization.header()?);
        }
        match request.send().await {
            Ok(response) => Ok(response),
            Err(e) => Err(self.unreachable(url, &e).await),
        }
    }

    /// Why `url` could not be reached; when TLS failed, whether the registry speaks plain
    /// HTTP instead (then `--insecure` is the answer, and the error says so).
    async fn unreachable(&self, url: &Url, error: &reqwest::Error) -> RegistryError {
        let host = &self.location.host;
        let why = describe(error);
        if url.scheme() == "https" && !error.is_timeout() {
            let mut plain = url.clone();
            let _ = plain.set_scheme("http");
            plain.set_path("/v2/");
            let probe = self
                .registry
                .client
                .get(plain)
                .timeout(PROBE_TIMEOUT)
                .send()
                .await;
            if probe.is_ok() {
                return RegistryError::Unreachable(format!(
                    "registry {host} does not speak HTTPS (it answers plain HTTP); pass \
                     --insecure to use a plain-HTTP registry"
                ));
            }
        }
        RegistryError::Unreachable(format!("registry {host} is unreachable: {why}"))
    }

    async fn authorize(
        &self,
        url: &Url,
        challenges: &[Challenge],
    ) -> Result<Authorization, RegistryError> {
        let failed = |why: String| RegistryError::Failed(format!("GET {url}: {why}"));
        if let Some(bearer) = challenges
            .iter()
            .find(|c| c.scheme == "bearer" && c.param("realm").is_some())
        {
            let realm_text = bearer.param("realm").unwrap_or_default();
            let realm = Url::parse(realm_text).map_err(|_| {
                failed(format!(
                    "token realm {:?} is not a URL",
                    printable(realm_text, 200)
                ))
            })?;
            if realm.scheme() != "https"
                && !(realm.scheme() == "http" && self.registry.config.insecure)
            {
                return Err(failed(format!("token realm {realm} is not https")));
            }
            let key = TokenKey {
                realm: realm.to_string(),
                service: bearer.param("service").unwrap_or_default().to_owned(),
                scope: bearer.param("scope").map_or_else(
                    || format!("repository:{}:pull", self.location.repository),
                    str::to_owned,
                ),
            };
            let credentials = self.credentials().await;
            let (token, lifetime) =
                service::request(&self.registry.client, &realm, &key, credentials.as_ref())
                    .await
                    .map_err(failed)?;
            self.registry.tokens.insert(
                &self.token_subject(),
                key,
                token.clone(),
                lifetime,
                Instant::now(),
            );
            return Ok(Authorization::Bearer(token));
        }
        if challenges.iter().any(|c| c.scheme == "basic") {
            return match self.credentials().await {
                Some(c) if c.username != IDENTITY_TOKEN_USER => Ok(Authorization::Basic(c)),
                _ => Err(failed(format!(
                    "the registry asks for a user and password, and none were found for {} \
                     (docker login, or give them explicitly)",
                    self.location.host
                ))),
            };
        }
        Err(failed(
            "401 Unauthorized, with no challenge this client can answer".to_owned(),
        ))
    }

    /// Explicit credentials, else the Docker config's for the registry host.
    async fn credentials(&self) -> Option<Credentials> {
        if let Some(explicit) = &self.registry.config.credentials {
            return Some(explicit.clone());
        }
        let dir = docker_config_dir(self.registry.config.docker_config.clone())?;
        let host = self.location.host.clone();
        tokio::task::spawn_blocking(move || Credentials::from_docker_config(&dir, &[&host]))
            .await
            .ok()
            .flatten()
    }
}

/// `dir`, else `$DOCKER_CONFIG`, else `~/.docker`.
fn docker_config_dir(dir: Option<PathBuf>) -> Option<PathBuf> {
    dir.or_else(|| {
        std::env::var_os("DOCKER_CONFIG")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
    })
    .or_else(|| {
        std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(|home| PathBuf::from(home).join(".docker"))
    })
}
