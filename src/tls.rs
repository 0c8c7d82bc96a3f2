//! TLS for `serve`: certificate files from configuration, or a local CA made once for
//! development and kept in the data directory.
//!
//! The local CA's private key is kept sealed under the key-encryption key (`ca.key.sealed`),
//! so that the server certificate can be re-issued when the names it must cover change
//! (`--tls-san`, a new host name) while clients keep trusting the same `ca.crt`. With a
//! key-encryption key kept outside the data directory (production), a stolen data directory
//! still cannot mint certificates.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;

use crate::signing::kek::write_private_file;
use crate::signing::Kek;

/// Associated data of the sealed CA key: a sealed server key cannot be passed off as it.
const CA_KEY_AAD: &[u8] = b"notarium local CA key";

/// The files of a generated local CA and the server certificate it issued.
#[derive(Debug, Clone)]
pub struct LocalCa {
    /// The CA certificate clients must trust.
    pub ca_cert: PathBuf,
    /// The CA's private key, sealed under the key-encryption key.
    pub ca_key: PathBuf,
    /// The server certificate (for the names of [`certificate_names`]).
    pub server_cert: PathBuf,
    /// The server's private key.
    pub server_key: PathBuf,
}

/// What [`LocalCa::ensure`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Issued {
    /// The files on disk cover every name.
    Existing,
    /// A new CA and server certificate were made.
    Created,
    /// The server certificate was re-issued by the same CA to cover these names too.
    Reissued(Vec<String>),
    /// These names are not covered and the certificate could not be re-issued, for `reason`.
    Uncovered {
        /// Names the certificate lacks.
        missing: Vec<String>,
        /// Why the CA could not sign a new one.
        reason: String,
    },
}

/// The names the generated certificate covers: localhost, 127.0.0.1, ::1, this machine's host
/// name (when it reads as a DNS name), then `extra`, without repeats.
pub fn certificate_names(extra: &[String]) -> Vec<String> {
    let mut names: Vec<String> = ["localhost", "127.0.0.1", "::1"].map(String::from).to_vec();
    names.extend(host_name());
    for name in extra {
        if !names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            names.push(name.clone());
        }
    }
    names
}

/// This machine's host name, as the kernel knows it (not `$HOSTNAME`, which any parent
/// process may set); `None` when unreadable or not a DNS name.
fn host_name() -> Option<String> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|path| std::fs::read_to_string(path).ok())
        .map(|text| text.trim().to_ascii_lowercase())
        .filter(|name| name != "localhost" && check_name(name).is_ok())
}

/// Checks that `name` can go in a certificate: an IP address, or a DNS name of letters,
/// digits and hyphens in dot-separated labels of at most 63 characters.
pub fn check_name(name: &str) -> anyhow::Result<()> {
    if name.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    let label_ok = |label: &str| {
        (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    anyhow::ensure!(
        name.len() <= 253 && name.split('.').all(label_ok),
        "not a DNS name or an IP address"
    );
    Ok(())
}

impl LocalCa {
    /// Where the files live under `data_dir`.
    pub fn in_dir(data_dir: &Path) -> LocalCa {
        let dir = data_dir.join("tls");
        LocalCa {
            ca_cert: dir.join("ca.crt"),
            ca_key: dir.join("ca.key.sealed"),
            server_cert: dir.join("server.crt"),
            server_key: dir.join("server.key"),
        }
    }

    /// Makes the CA and a server certificate for `names` unless they exist; when they exist
    /// but the certificate lacks some of `names`, re-issues it with the same CA and server
    /// key. The CA's key is kept sealed under `kek` for that.
    pub fn ensure(
        data_dir: &Path,
        names: &[String],
        kek: &Kek,
    ) -> anyhow::Result<(LocalCa, Issued)> {
        let files = LocalCa::in_dir(data_dir);
        if files.ca_cert.exists() && files.server_cert.exists() && files.server_key.exists() {
            let missing = files.missing_names(names)?;
            if missing.is_empty() {
                return Ok((files, Issued::Existing));
            }
            let issued = match files.reissue(names, kek) {
                Ok(()) => Issued::Reissued(missing),
                Err(e) => Issued::Uncovered {
                    missing,
                    reason: format!("{e:#}"),
                },
            };
            return Ok((files, issued));
        }
        let dir = files.ca_cert.parent().unwrap_or(data_dir);
        std::fs::create_dir_all(dir)
            .with_context(|| format!("could not create {}", dir.display()))?;
        for f in [
            &files.ca_cert,
            &files.ca_key,
            &files.server_cert,
            &files.server_key,
        ] {
            let _ = std::fs::remove_file(f);
        }

        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Notarium local development CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_key = KeyPair::generate()?;
        let sealed = kek
            .seal(&ca_key.serialize_der(), CA_KEY_AAD)
            .context("could not seal the local CA key")?;
        let ca = CertifiedIssuer::self_signed(ca_params, ca_key)?;
        let key = KeyPair::generate()?;
        let cert = server_params(names)?.signed_by(&key, &ca)?;

        write_private_file(&files.ca_key, &sealed)
            .with_context(|| format!("could not write {}", files.ca_key.display()))?;
        std::fs::write(&files.ca_cert, ca.pem())?;
        std::fs::write(&files.server_cert, cert.pem())?;
        write_private_file(&files.server_key, key.serialize_pem().as_bytes())?;
        Ok((files, Issued::Created))
    }

    /// Re-seals the kept CA key of `data_dir` from `old` to `new`, for `keys rotate-kek`, so the
    /// CA can still re-issue the server certificate afterwards. Answers `false` when there is no
    /// kept key (no local CA, or one made before keys were kept). Written to a temporary file
    /// and renamed: a failure leaves the key sealed under `old`.
    pub fn reseal(data_dir: &Path, old: &Kek, new: &Kek) -> anyhow::Result<bool> {
        let files = LocalCa::in_dir(data_dir);
        let Some(der) = files.open_ca_key(old)? else {
            return Ok(false);
        };
        let resealed = new
            .seal(&der, CA_KEY_AAD)
            .context("could not seal the local CA key")?;
        let temporary = files.ca_key.with_extension("sealed.new");
        write_private_file(&temporary, &resealed)
            .with_context(|| format!("could not write {}", temporary.display()))?;
        std::fs::rename(&temporary, &files.ca_key)
            .with_context(|| format!("could not replace {}", files.ca_key.display()))?;
        Ok(true)
    }

    /// The names of `names` the server certificate on disk does not cover.
    fn missing_names(&self, names: &[String]) -> anyhow::Result<Vec<String>> {
        let pem = std::fs::read(&self.server_cert)
            .with_context(|| format!("could not read {}", self.server_cert.display()))?;
        let unreadable = || format!("{}: not a PEM certificate", self.server_cert.display());
        let (_, pem) = x509_parser::pem::parse_x509_pem(&pem)
            .ok()
            .with_context(unreadable)?;
        let cert = pem.parse_x509().ok().with_context(unreadable)?;
        let mut dns = Vec::new();
        let mut ips = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for general in &san.value.general_names {
                match general {
                    x509_parser::extensions::GeneralName::DNSName(n) => {
                        dns.push(n.to_ascii_lowercase());
                    }
                    x509_parser::extensions::GeneralName::IPAddress(octets) => {
                        ips.push(octets.to_vec());
                    }
                    _ => {}
                }
            }
        }
        Ok(names
            .iter()
            .filter(|name| match name.parse::<IpAddr>() {
                Ok(IpAddr::V4(ip)) => !ips.contains(&ip.octets().to_vec()),
                Ok(IpAddr::V6(ip)) => !ips.contains(&ip.octets().to_vec()),
                Err(_) => !dns.contains(&name.to_ascii_lowercase()),
            })
            .cloned()
            .collect())
    }

    /// The kept CA key opened with `kek`; `None` when no key was kept (a CA made before keys
    /// were kept, or no local CA at all).
    fn open_ca_key(&self, kek: &Kek) -> anyhow::Result<Option<zeroize::Zeroizing<Vec<u8>>>> {
        let sealed = match std::fs::read(&self.ca_key) {
            Ok(sealed) => sealed,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(e).with_context(|| format!("could not read {}", self.ca_key.display()))
            }
        };
        let der = kek.open(&sealed, CA_KEY_AAD).with_context(|| {
            format!(
                "{} does not open with this key-encryption key",
                self.ca_key.display()
            )
        })?;
        Ok(Some(der))
    }

    /// A new server certificate for `names`, signed by the kept CA key for the same server key.
    /// Written to a temporary file and renamed over the old one: never half-written.
    fn reissue(&self, names: &[String], kek: &Kek) -> anyhow::Result<()> {
        let Some(der) = self.open_ca_key(kek)? else {
            anyhow::bail!(
                "the CA's key was not kept (the CA was made by an older version); remove {} \
                 to make a new CA, which clients must then trust instead",
                self.ca_cert.parent().unwrap_or(&self.ca_cert).display()
            );
        };
        let ca_key = KeyPair::try_from(der.as_slice()).context("the sealed CA key is unusable")?;
        let ca_pem = std::fs::read_to_string(&self.ca_cert)
            .with_context(|| format!("could not read {}", self.ca_cert.display()))?;
        let issuer = Issuer::from_ca_cert_pem(&ca_pem, ca_key)
            .with_context(|| format!("{}: not a usable CA certificate", self.ca_cert.display()))?;
        let key_pem = std::fs::read_to_string(&self.server_key)
            .with_context(|| format!("could not read {}", self.server_key.display()))?;
        let key = KeyPair::from_pem(&key_pem)
            .with_context(|| format!("{}: not a usable private key", self.server_key.display()))?;
        let cert = server_params(names)?.signed_by(&key, &issuer)?;
        let fresh = self.server_cert.with_extension("crt.new");
        std::fs::write(&fresh, cert.pem())
            .with_context(|| format!("could not write {}", fresh.display()))?;
        std::fs::rename(&fresh, &self.server_cert)
            .with_context(|| format!("could not replace {}", self.server_cert.display()))?;
        Ok(())
    }
}

/// The server certificate's parameters for `names`.
fn server_params(names: &[String]) -> anyhow::Result<CertificateParams> {
    let mut params = CertificateParams::new(names.to_vec())?;
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    Ok(params)
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
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| pem_error(e, "certificates", cert))?;
    anyhow::ensure!(
        !certs.is_empty(),
        "{}: no certificates found (expected PEM)",
        cert.display()
    );
    let key_pem =
        std::fs::read(key).with_context(|| format!("could not read {}", key.display()))?;
    let key: PrivateKeyDer<'static> =
        PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| pem_error(e, "private key", key))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let pem = std::fs::read(path)
                .with_context(|| format!("could not read {}", path.display()))?;
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| pem_error(e, "certificates", path))?;
                roots
                    .add(cert)
                    .with_context(|| format!("unusable CA certificate in {}", path.display()))?;
            }
            anyhow::ensure!(
                !roots.is_empty(),
                "{}: no certificates found (expected PEM)",
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

/// A PEM failure naming the file and what was looked for. Only the kind of failure is told,
/// never the file's contents (a key file's bytes are secret).
fn pem_error(err: rustls::pki_types::pem::Error, wanted: &str, path: &Path) -> anyhow::Error {
    use rustls::pki_types::pem::Error;
    let what = match err {
        Error::NoItemsFound => format!("no {wanted} found (expected PEM)"),
        Error::MissingSectionEnd { .. } => "a PEM section has no END line".to_owned(),
        Error::IllegalSectionStart { .. } => "a PEM BEGIN line is malformed".to_owned(),
        Error::Base64Decode(_) => "a PEM section is not valid base64".to_owned(),
        Error::Io(e) => format!("read failed: {e}"),
        _ => "malformed PEM".to_owned(),
    };
    anyhow::anyhow!("{}: {what}", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::client::danger::ServerCertVerifier as _;

    const OTHER_KEK: &str = "ISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+P0A=";

    fn test_kek() -> Kek {
        Kek::from_base64("AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=").expect("kek")
    }

    /// Whether a client trusting only `ca_cert` accepts the server certificate for `name`.
    fn trusted_for(ca: &LocalCa, name: &str) -> bool {
        let mut roots = rustls::RootCertStore::empty();
        let ca_pem = std::fs::read(&ca.ca_cert).expect("ca.crt");
        for cert in CertificateDer::pem_slice_iter(&ca_pem) {
            roots.add(cert.expect("CA PEM")).expect("CA certificate");
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier =
            rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .expect("verifier");
        let pem = std::fs::read(&ca.server_cert).expect("server.crt");
        let leaf = CertificateDer::from_pem_slice(&pem).expect("server PEM");
        let name = rustls::pki_types::ServerName::try_from(name.to_owned()).expect("name");
        verifier
            .verify_server_cert(&leaf, &[], &name, &[], rustls::pki_types::UnixTime::now())
            .is_ok()
    }

    #[test]
    fn names_are_checked() {
        for good in ["notary.example.com", "10.0.0.5", "::1", "a-b", "host1"] {
            check_name(good).unwrap_or_else(|e| panic!("{good}: {e}"));
        }
        for bad in [
            "",
            "bad name",
            "-a.example",
            "a..b",
            "*.example.com",
            "é.example",
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        let names = certificate_names(&["notary.example.com".into(), "LOCALHOST".into()]);
        assert_eq!(names[..3], ["localhost", "127.0.0.1", "::1"]);
        assert_eq!(names.last().map(String::as_str), Some("notary.example.com"));
        if let Some(host) = host_name() {
            assert!(names.contains(&host), "the host name is covered: {names:?}");
        }
    }

    #[test]
    fn new_names_reissue_from_the_same_ca() {
        let dir = tempfile::tempdir().expect("tempdir");
        let kek = test_kek();
        let first = certificate_names(&[]);
        let (ca, issued) = LocalCa::ensure(dir.path(), &first, &kek).expect("local CA");
        assert_eq!(issued, Issued::Created);
        assert!(trusted_for(&ca, "localhost"));
        assert!(!trusted_for(&ca, "notary.example.com"));
        let ca_before = std::fs::read(&ca.ca_cert).expect("ca.crt");
        let key_before = std::fs::read(&ca.server_key).expect("server.key");

        let (_, issued) = LocalCa::ensure(dir.path(), &first, &kek).expect("again");
        assert_eq!(
            issued,
            Issued::Existing,
            "nothing to do when every name is covered"
        );

        let wider = certificate_names(&["notary.example.com".into(), "192.0.2.7".into()]);
        let (ca, issued) = LocalCa::ensure(dir.path(), &wider, &kek).expect("re-issue");
        assert_eq!(
            issued,
            Issued::Reissued(vec!["notary.example.com".into(), "192.0.2.7".into()])
        );
        assert_eq!(
            std::fs::read(&ca.ca_cert).expect("ca.crt"),
            ca_before,
            "same CA"
        );
        assert_eq!(
            std::fs::read(&ca.server_key).expect("key"),
            key_before,
            "same key"
        );
        for name in ["notary.example.com", "192.0.2.7", "localhost", "127.0.0.1"] {
            assert!(
                trusted_for(&ca, name),
                "a client trusting ca.crt accepts {name}"
            );
        }
        server_config(&ca.server_cert, &ca.server_key).expect("certificate and key match");

        // Under another key-encryption key the CA key does not open: the certificate is kept
        // and the caller told why.
        let other = Kek::from_base64(OTHER_KEK).expect("kek");
        let more = certificate_names(&["more.example.com".into()]);
        let (ca, issued) = LocalCa::ensure(dir.path(), &more, &other).expect("kept");
        assert!(
            matches!(&issued, Issued::Uncovered { missing, .. } if missing == &["more.example.com"]),
            "{issued:?}"
        );
        assert!(!trusted_for(&ca, "more.example.com"));
        assert!(trusted_for(&ca, "notary.example.com"));

        // A CA made before its key was kept cannot sign again either.
        std::fs::remove_file(&ca.ca_key).expect("remove the sealed key");
        let (_, issued) = LocalCa::ensure(dir.path(), &more, &kek).expect("kept");
        assert!(
            matches!(&issued, Issued::Uncovered { reason, .. } if reason.contains("older version")),
            "{issued:?}"
        );
    }

    #[test]
    fn a_resealed_ca_key_reissues_under_the_new_kek_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (old, new) = (test_kek(), Kek::from_base64(OTHER_KEK).expect("kek"));
        assert!(!LocalCa::reseal(dir.path(), &old, &new).expect("no CA yet"));
        let first = certificate_names(&[]);
        LocalCa::ensure(dir.path(), &first, &old).expect("local CA");
        assert!(LocalCa::reseal(dir.path(), &old, &new).expect("resealed"));
        assert!(
            LocalCa::reseal(dir.path(), &old, &new).is_err(),
            "the old key no longer opens it"
        );
        let wider = certificate_names(&["after.example.com".into()]);
        let (ca, issued) = LocalCa::ensure(dir.path(), &wider, &new).expect("re-issue");
        assert_eq!(issued, Issued::Reissued(vec!["after.example.com".into()]));
        assert!(trusted_for(&ca, "after.example.com"));
    }

    #[test]
    fn bad_pem_files_are_named_with_what_is_wrong() {
        let dir = tempfile::tempdir().expect("tempdir");
        let names = certificate_names(&[]);
        let (ca, _) = LocalCa::ensure(dir.path(), &names, &test_kek()).expect("local CA");
        server_config(&ca.server_cert, &ca.server_key).expect("the generated files load");

        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not PEM at all\n").expect("write");
        let err = server_config(&empty, &ca.server_key).expect_err("no certificate");
        assert_eq!(
            err.to_string(),
            format!("{}: no certificates found (expected PEM)", empty.display())
        );
        let err = server_config(&ca.server_cert, &empty).expect_err("no key");
        assert_eq!(
            err.to_string(),
            format!("{}: no private key found (expected PEM)", empty.display())
        );

        let cut = dir.path().join("cut.pem");
        let key = std::fs::read_to_string(&ca.server_key).expect("key");
        std::fs::write(&cut, &key[..key.len() / 2]).expect("write");
        let err = server_config(&ca.server_cert, &cut).expect_err("truncated key");
        let message = err.to_string();
        assert!(message.starts_with(&cut.display().to_string()), "{message}");
        assert!(message.contains("no END line"), "{message}");
        assert!(
            !message.contains(&key[40..60]),
            "the key's bytes never appear in the message"
        );
    }
}
