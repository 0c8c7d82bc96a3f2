//! `notarium admission certs`: the TLS material the API server needs to call the admission
//! webhook, for clusters without cert-manager.
//!
//! The API server reaches the webhook through its Service, as `SERVICE.NAMESPACE.svc`, and
//! trusts only the CA given in the webhook configurations' `caBundle`. This command makes a CA
//! of its own for that one purpose, a server certificate signed by it, and prints the
//! `caBundle` with the `kubectl` commands that install both. The CA's private key is never
//! written: it signs once and is dropped, so a stolen output directory cannot mint more
//! certificates. To renew, run the command again and apply what it prints.

#![warn(missing_docs)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use zeroize::Zeroizing;

use crate::clock::{Clock as _, SystemClock};
use crate::signing::kek::write_private_file;

/// The longest validity accepted, in days: ten years.
const DAYS_MAX: u32 = 3650;
/// How far back a certificate's validity starts, for nodes whose clocks run a little behind.
const CLOCK_SKEW_SECONDS: i64 = 300;

/// Arguments of `admission certs`.
#[derive(Debug, clap::Args)]
pub struct CertsCommand {
    /// The webhook's Service, as the webhook configurations' `clientConfig.service.name` names
    /// it.
    #[arg(long, value_name = "NAME")]
    service: String,
    /// The Service's namespace.
    #[arg(long, value_name = "NS")]
    namespace: String,
    /// The directory that receives `ca.crt`, `tls.crt` and `tls.key` (made if missing; files
    /// already there are never overwritten).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// How many days the CA and the server certificate are valid.
    #[arg(long, value_name = "N", default_value_t = 365)]
    days: u32,
    /// The name of the MutatingWebhookConfiguration and ValidatingWebhookConfiguration whose
    /// `caBundle` the printed commands set.
    #[arg(long, value_name = "NAME", default_value = "notarium")]
    webhook_config: String,
}

/// A CA and the server certificate it signed, as PEM. No `Debug`: the key is secret.
struct Material {
    ca_cert: String,
    server_cert: String,
    server_key: Zeroizing<String>,
    not_after: DateTime<Utc>,
}

impl CertsCommand {
    /// Makes the CA and the server certificate, writes them to `--out`, and prints the
    /// `caBundle` and the `kubectl` commands that install them.
    pub fn run(self) -> anyhow::Result<()> {
        let material = issue(&self.service, &self.namespace, self.days, SystemClock.now())?;
        let files = write(&self.out, &material)?;
        print!("{}", self.instructions(&material, &files));
        Ok(())
    }

    /// What to do with the files: the `caBundle`, and the exact commands.
    fn instructions(&self, material: &Material, files: &Files) -> String {
        let bundle = ca_bundle(material);
        let patch = format!(
            r#"[{{"op":"add","path":"/webhooks/0/clientConfig/caBundle","value":"{bundle}"}}]"#
        );
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Wrote {}, {} and {} (0600), valid until {}.\n\
             The CA's private key was not kept: to renew, run this command again.\n",
            files.ca_cert.display(),
            files.server_cert.display(),
            files.server_key.display(),
            material.not_after.format("%Y-%m-%d %H:%M UTC"),
        );
        let _ = writeln!(out, "caBundle:\n{bundle}\n");
        let _ = writeln!(
            out,
            "Store the certificate and key where the webhook reads them:"
        );
        let _ = writeln!(
            out,
            "kubectl -n {} create secret tls {}-tls --cert={} --key={}\n",
            self.namespace,
            self.service,
            shell_quote(&files.server_cert.display().to_string()),
            shell_quote(&files.server_key.display().to_string()),
        );
        let _ = writeln!(
            out,
            "Tell the API server which CA to trust for the webhook:"
        );
        for kind in [
            "mutatingwebhookconfiguration",
            "validatingwebhookconfiguration",
        ] {
            let _ = writeln!(
                out,
                "kubectl patch {kind} {} --type=json -p '{patch}'",
                shell_quote(&self.webhook_config),
            );
        }
        out
    }
}

/// Where [`write`] put the files.
struct Files {
    ca_cert: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
}

/// A CA and a server certificate for `service` in `namespace`, valid from a little before
/// `now` for `days` days. The server certificate names `SERVICE.NAMESPACE.svc` (what the API
/// server calls), `SERVICE.NAMESPACE.svc.cluster.local`, `SERVICE.NAMESPACE` and `SERVICE`.
fn issue(
    service: &str,
    namespace: &str,
    days: u32,
    now: DateTime<Utc>,
) -> anyhow::Result<Material> {
    check_label(service).with_context(|| format!("--service {service:?}"))?;
    check_label(namespace).with_context(|| format!("--namespace {namespace:?}"))?;
    anyhow::ensure!(
        (1..=DAYS_MAX).contains(&days),
        "--days {days}: must be from 1 to {DAYS_MAX}"
    );
    let not_before = now - chrono::Duration::seconds(CLOCK_SKEW_SECONDS);
    let not_after = now + chrono::Duration::days(i64::from(days));
    let validity = |params: &mut CertificateParams| -> anyhow::Result<()> {
        params.not_before = asn1_time(not_before)?.to_datetime();
        params.not_after = asn1_time(not_after)?.to_datetime();
        Ok(())
    };

    let host = format!("{service}.{namespace}.svc");
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.distinguished_name.push(
        DnType::CommonName,
        format!("Notarium admission CA for {host}"),
    );
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    validity(&mut ca_params)?;
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)
        .context("could not make the CA")?;

    let names = vec![
        host.clone(),
        format!("{host}.cluster.local"),
        format!("{service}.{namespace}"),
        service.to_owned(),
    ];
    let mut params = CertificateParams::new(names)?;
    params.distinguished_name.push(DnType::CommonName, host);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    validity(&mut params)?;
    let key = KeyPair::generate()?;
    let cert = params
        .signed_by(&key, &ca)
        .context("could not sign the server certificate")?;
    Ok(Material {
        ca_cert: ca.pem(),
        server_cert: cert.pem(),
        server_key: Zeroizing::new(key.serialize_pem()),
        not_after,
    })
}

/// `time` as a certificate holds it, to the second.
fn asn1_time(time: DateTime<Utc>) -> anyhow::Result<x509_parser::time::ASN1Time> {
    x509_parser::time::ASN1Time::from_timestamp(time.timestamp())
        .map_err(|_| anyhow::anyhow!("{time} cannot be written in a certificate"))
}

/// Writes `ca.crt`, `tls.crt` and `tls.key` (0600) into `dir`, which is made if missing.
/// Refuses before writing anything when one of them exists.
fn write(dir: &Path, material: &Material) -> anyhow::Result<Files> {
    let files = Files {
        ca_cert: dir.join("ca.crt"),
        server_cert: dir.join("tls.crt"),
        server_key: dir.join("tls.key"),
    };
    std::fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))?;
    for path in [&files.ca_cert, &files.server_cert, &files.server_key] {
        anyhow::ensure!(
            !path.exists(),
            "{} exists; remove it or choose another --out",
            path.display()
        );
    }
    write_private_file(&files.server_key, material.server_key.as_bytes())
        .with_context(|| format!("could not write {}", files.server_key.display()))?;
    std::fs::write(&files.server_cert, &material.server_cert)
        .with_context(|| format!("could not write {}", files.server_cert.display()))?;
    std::fs::write(&files.ca_cert, &material.ca_cert)
        .with_context(|| format!("could not write {}", files.ca_cert.display()))?;
    Ok(files)
}

/// The webhook configurations' `caBundle`: the CA certificate's PEM, in base64.
fn ca_bundle(material: &Material) -> String {
    base64::engine::general_purpose::STANDARD.encode(material.ca_cert.as_bytes())
}

/// Checks that `name` is a Kubernetes object name that can be a DNS label (RFC 1123): at most
/// 63 lowercase letters, digits and hyphens, starting and ending with a letter or digit.
fn check_label(name: &str) -> anyhow::Result<()> {
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    anyhow::ensure!(
        name.len() <= 63
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && edge_ok(name.chars().next())
            && edge_ok(name.chars().last()),
        "not a DNS label (lowercase letters, digits and '-', at most 63)"
    );
    Ok(())
}

/// `word` as one shell word: as is when it holds only safe characters, else single-quoted.
fn shell_quote(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./=:@%+,".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests;
