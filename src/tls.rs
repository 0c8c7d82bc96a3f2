//! TLS for `serve`: certificate files from configuration, or a local CA made once for
//! development and kept in the data directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;

use crate::signing::kek::write_private_file;

/// The files of a generated local CA and the server certificate it issued.
#[derive(Debug, Clone)]
pub struct LocalCa {
    /// The CA certificate clients must trust.
    pub ca_cert: PathBuf,
    /// The server certificate (for localhost, 127.0.0.1 and ::1).
    pub server_cert: PathBuf,
    /// The server's private key.
    pub server_key: PathBuf,
}

impl LocalCa {
    /// Where the files live under `data_dir`.
    pub fn in_dir(data_dir: &Path) -> LocalCa {
        let dir = data_dir.join("tls");
        LocalCa {
            ca_cert: dir.join("ca.crt"),
            server_cert: dir.join("server.crt"),
            server_key: dir.join("server.key"),
        }
    }

    /// Generates the CA and server certificate unless they exist. The CA's private key is
    /// never written: it signs the one server certificate and is dropped, so a stolen data
    /// directory cannot mint certificates.
    pub fn ensure(data_dir: &Path) -> anyhow::Result<(LocalCa, bool)> {
        let files = LocalCa::in_dir(data_dir);
        if files.ca_cert.exists() && files.server_cert.exists() && files.server_key.exists() {
            return Ok((files, false));
        }
        let dir = files.ca_cert.parent().unwrap_or(data_dir);
        std::fs::create_dir_all(dir)
            .with_context(|| format!("could not create {}", dir.display()))?;
        for f in [&files.ca_cert, &files.server_cert, &files.server_key] {
            let _ = std::fs::remove_file(f);
        }

        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Notarium local development CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;

        let mut params = CertificateParams::new(vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
        ])?;
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &ca)?;

        std::fs::write(&files.ca_cert, ca.pem())?;
        std::fs::write(&files.server_cert, cert.pem())?;
        write_private_file(&files.server_key, key.serialize_pem().as_bytes())?;
        Ok((files, true))
    }
}

/// A rustls server configuration (HTTP/1.1 only, as notary's clients speak) from PEM files.
pub fn server_config(cert: &Path, key: &Path) -> anyhow::Result<Arc<ServerConfig>> {
    server_config_with_clients(cert, key, None)
}

/// The same, requiring a client certificate chained to one of `client_ca`'s certificates when
/// given (mutual TLS).
pub fn server_config_with_clients(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> anyhow::Result<Arc<ServerConfig>> {
    let cert_pem =
        std::fs::read(cert).with_context(|| format!("could not read {}", cert.display()))?;
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<_, _>>()
        .with_context(|| format!("could not parse certificates in {}", cert.display()))?;
    anyhow::ensure!(
        !certs.is_empty(),
        "no certificate found in {}",
        cert.display()
    );
    let key_pem =
        std::fs::read(key).with_context(|| format!("could not read {}", key.display()))?;
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .with_context(|| format!("could not parse the private key in {}", key.display()))?
        .with_context(|| format!("no private key found in {}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let pem = std::fs::read(path)
                .with_context(|| format!("could not read {}", path.display()))?;
            let mut roots = rustls::RootCertStore::empty();
            for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
                let cert = cert.with_context(|| {
                    format!("could not parse certificates in {}", path.display())
                })?;
                roots
                    .add(cert)
                    .with_context(|| format!("unusable CA certificate in {}", path.display()))?;
            }
            anyhow::ensure!(
                !roots.is_empty(),
                "no certificate found in {}",
                path.display()
            );
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .context("client certificate verifier")?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .context("the TLS certificate and key do not match")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
