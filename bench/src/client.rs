//! An HTTPS client for the benchmark: keep-alive connections, trusting the bench CA only.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::Request;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

/// A pooled client for one server.
#[derive(Clone)]
pub struct Client {
    inner: HyperClient<Https, Full<Bytes>>,
    pub base: String,
}

/// A response: status, body, and how long the request took.
pub struct Answer {
    pub status: u16,
    pub body: Bytes,
    pub took: Duration,
}

impl Client {
    /// A client for `base` (`https://127.0.0.1:PORT`) trusting the PEM CA at `ca_pem`.
    pub fn new(base: &str, ca_pem: &[u8]) -> anyhow::Result<Client> {
        let config = tls_config(ca_pem)?;
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_only()
            .enable_http1()
            .build();
        let inner = HyperClient::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(512)
            .build(https);
        Ok(Client {
            inner,
            base: base.to_owned(),
        })
    }

    async fn send(&self, request: Request<Full<Bytes>>) -> anyhow::Result<Answer> {
        let start = Instant::now();
        let response = self.inner.request(request).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        Ok(Answer {
            status,
            body,
            took: start.elapsed(),
        })
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Answer> {
        let request = Request::get(format!("{}{path}", self.base)).body(Full::new(Bytes::new()))?;
        self.send(request).await
    }

    /// A POST of a shared body (sent many times without copying).
    pub async fn post_bytes(
        &self,
        path: &str,
        content_type: &str,
        body: Bytes,
    ) -> anyhow::Result<Answer> {
        let request = Request::post(format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(Full::new(body))?;
        self.send(request).await
    }

    pub async fn post(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> anyhow::Result<Answer> {
        let request = Request::post(format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(Full::new(Bytes::from(body)))?;
        self.send(request).await
    }
}

/// The TLS configuration of every bench client: the PEM CA `ca_pem` is the only root trusted.
pub fn tls_config(ca_pem: &[u8]) -> anyhow::Result<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(cert?)?;
    }
    Ok(
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}
