//! The HTTP client of one trust server: TLS roots, timeouts, redirects, and reading a body
//! through a size limit so that a hostile server cannot make us buffer more than we allow.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::{redirect, Certificate, Client, Response, Url};

use crate::gun::Gun;

use super::auth::Tokens;
use super::{RemoteConfig, RemoteError};

/// How long a TCP (and TLS) connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Redirects followed at most, all on the trust server's own origin.
const MAX_REDIRECTS: usize = 5;
/// How much of an error body is read to find notary's error envelope.
const ERROR_BODY_LIMIT: usize = 4096;

/// The client, the server's base URL and the tokens it handed out.
#[derive(Debug, Clone)]
pub(super) struct Transport {
    pub(super) client: Client,
    base: Url,
    pub(super) tokens: Tokens,
}

impl Transport {
    /// Checks the server URL and builds the client `config` describes.
    pub(super) fn new(config: &RemoteConfig) -> Result<Transport, RemoteError> {
        let base = base_url(&config.server)?;
        let origin = base.origin();
        let mut builder = Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(config.timeout)
            .user_agent(concat!("notarium/", env!("CARGO_PKG_VERSION")))
            // Off-spec: the Go client follows any redirect; a trust server has no reason to
            // send a reader elsewhere, and a token must never follow one.
            .redirect(redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() >= MAX_REDIRECTS {
                    attempt.error("too many redirects")
                } else if attempt.url().origin() == origin {
                    attempt.follow()
                } else {
                    attempt.error("redirect to another origin refused")
                }
            }));
        if let Some(path) = &config.ca {
            let pem = std::fs::read(path).map_err(|e| {
                RemoteError::Config(format!("cannot read CA file {}: {e}", path.display()))
            })?;
            let certificates = Certificate::from_pem_bundle(&pem).map_err(|e| {
                RemoteError::Config(format!("CA file {} is not PEM: {e}", path.display()))
            })?;
            if certificates.is_empty() {
                return Err(RemoteError::Config(format!(
                    "CA file {} holds no certificate",
                    path.display()
                )));
            }
            builder = builder.tls_built_in_root_certs(false);
            for certificate in certificates {
                builder = builder.add_root_certificate(certificate);
            }
        }
        let client = builder
            .build()
            .map_err(|e| RemoteError::Config(format!("cannot set up HTTPS: {}", describe(&e))))?;
        Ok(Transport {
            client,
            base,
            tokens: Tokens::default(),
        })
    }

    /// Whether the trust server is reached over TLS.
    pub(super) fn is_https(&self) -> bool {
        self.base.scheme() == "https"
    }

    /// The trust server's host, with the port when the URL names one.
    pub(super) fn host(&self) -> String {
        let host = self.base.host_str().unwrap_or_default();
        match self.base.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        }
    }

    /// `{server}/v2/_trust/changefeed`.
    pub(super) fn changefeed_url(&self) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments
                .pop_if_empty()
                .push("v2")
                .push("_trust")
                .push("changefeed");
        }
        url
    }

    /// `{server}/v2/{gun}/_trust/tuf/{file}`, the GUN escaped segment by segment.
    pub(super) fn role_url(&self, gun: &Gun, file: &str) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().push("v2");
            segments.extend(gun.as_str().split('/'));
            segments.push("_trust").push("tuf");
            // Delegation names hold `/`: each part is a segment of its own.
            segments.extend(file.split('/'));
        }
        url
    }
}

/// The base URL: `http` or `https`, a host, no credentials, query or fragment.
fn base_url(server: &str) -> Result<Url, RemoteError> {
    let refuse = |why: &str| {
        Err(RemoteError::Config(format!(
            "trust server URL {:?} {why}",
            redacted(server)
        )))
    };
    let Ok(url) = Url::parse(server) else {
        return refuse("is not a URL");
    };
    if !matches!(url.scheme(), "http" | "https") {
        return refuse("must start with https:// (or http:// behind a TLS proxy)");
    }
    if url.host_str().is_none_or(str::is_empty) {
        return refuse("has no host");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return refuse("must not carry credentials; give them separately");
    }
    if url.query().is_some() || url.fragment().is_some() {
        return refuse("must not have a query or fragment");
    }
    Ok(url)
}

/// `server` without whatever sits between `://` and `@` (a user and password).
fn redacted(server: &str) -> String {
    match (server.find("://"), server.rfind('@')) {
        (Some(start), Some(at)) if at > start => {
            format!("{}://…@{}", &server[..start], &server[at + 1..])
        }
        _ => server.to_owned(),
    }
}

/// Reads `response`'s body, refusing one over `limit` bytes before reading past the limit.
pub(crate) async fn read_body(mut response: Response, limit: usize) -> Result<Bytes, String> {
    let too_large = || format!("the body is larger than the {limit} bytes allowed");
    let declared = response.content_length();
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let capacity = declared.map_or(0, |n| n as usize);
    let mut body = BytesMut::with_capacity(capacity);
    while let Some(chunk) = response.chunk().await.map_err(|e| describe(&e))? {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// `404 Not Found`, plus notary's error code and message when the body is its envelope
/// (docs/protocol.md §1.3).
pub(crate) async fn status_summary(response: Response) -> String {
    let status = response.status();
    let mut summary = status.to_string();
    if let Ok(body) = read_body(response, ERROR_BODY_LIMIT).await {
        if let Some(error) = envelope_message(&body) {
            summary.push_str(": ");
            summary.push_str(&error);
        }
    }
    summary
}

/// `CODE: message` of the first error of a notary error envelope, cut short.
fn envelope_message(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Envelope {
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    let envelope: Envelope = serde_json::from_slice(body).ok()?;
    let entry = envelope.errors.into_iter().next()?;
    let text = match (entry.code.is_empty(), entry.message.is_empty()) {
        (true, true) => return None,
        (false, false) => format!("{} ({})", entry.message, entry.code),
        _ => format!("{}{}", entry.message, entry.code),
    };
    Some(printable(&text, 200))
}

/// `text` with control characters replaced, at most `max` characters.
pub(crate) fn printable(text: &str, max: usize) -> String {
    text.chars()
        .take(max)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// A reqwest error with its causes (the TLS or socket reason sits in the chain), without the
/// URL, which callers name themselves.
pub(crate) fn describe(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        "could not connect".to_owned()
    } else if error.is_redirect() {
        "bad redirect".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transport(server: &str) -> Transport {
        Transport::new(&RemoteConfig {
            server: server.to_owned(),
            ca: None,
            credentials: None,
            docker_config: None,
            timeout: Duration::from_secs(5),
        })
        .expect("valid config")
    }

    #[test]
    fn role_urls_escape_and_keep_the_base_path() {
        let gun = Gun::parse("example.com:5000/org/app").expect("gun");
        let t = transport("https://notary.example.com:4443/");
        assert_eq!(
            t.role_url(&gun, "targets/releases.abc.json").as_str(),
            "https://notary.example.com:4443/v2/example.com:5000/org/app/_trust/tuf/targets/releases.abc.json"
        );
        assert_eq!(t.host(), "notary.example.com:4443");
        let t = transport("http://proxy.local/notary");
        assert_eq!(
            t.role_url(&gun, "timestamp.json").as_str(),
            "http://proxy.local/notary/v2/example.com:5000/org/app/_trust/tuf/timestamp.json"
        );
        assert_eq!(t.host(), "proxy.local");
        assert!(!t.is_https());
    }

    #[test]
    fn a_url_with_credentials_is_refused_without_echoing_them() {
        let err = base_url("https://alice:hunter2@example.com").expect_err("refused");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(!err.to_string().contains("alice"), "{err}");
    }

    #[test]
    fn an_empty_ca_bundle_is_a_config_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "not a certificate\n").expect("write");
        let err = Transport::new(&RemoteConfig {
            server: "https://example.com".to_owned(),
            ca: Some(ca),
            credentials: None,
            docker_config: None,
            timeout: Duration::from_secs(5),
        })
        .expect_err("no certificate");
        assert!(matches!(err, RemoteError::Config(_)), "{err:?}");
        let missing = Transport::new(&RemoteConfig {
            server: "https://example.com".to_owned(),
            ca: Some(dir.path().join("absent.pem")),
            credentials: None,
            docker_config: None,
            timeout: Duration::from_secs(5),
        })
        .expect_err("unreadable");
        assert!(missing.to_string().contains("absent.pem"), "{missing}");
    }

    #[test]
    fn envelopes_are_summarised() {
        let body = br#"{"errors":[{"code":"METADATA_NOT_FOUND","message":"You have requested metadata that does not exist.","detail":{}}]}"#;
        assert_eq!(
            envelope_message(body).as_deref(),
            Some("You have requested metadata that does not exist. (METADATA_NOT_FOUND)")
        );
        assert_eq!(envelope_message(b"<html>"), None);
        assert_eq!(envelope_message(br#"{"errors":[]}"#), None);
    }
}
