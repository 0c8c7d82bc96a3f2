use chrono::TimeZone as _;
use clap::Parser as _;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

use super::*;

/// `admission certs` on its own, as the lead's `admission` command wires it.
#[derive(Debug, clap::Parser)]
struct Wrapper {
    #[command(flatten)]
    certs: CertsCommand,
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0)
        .single()
        .expect("a valid time")
}

fn at(time: DateTime<Utc>) -> UnixTime {
    UnixTime::since_unix_epoch(std::time::Duration::from_secs(
        u64::try_from(time.timestamp()).expect("after 1970"),
    ))
}

fn der(pem: &str) -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(pem.as_bytes()).expect("one PEM certificate")
}

/// Whether a client trusting only `ca_pem` accepts `cert_pem` as the server `name` at `time`,
/// as the API server checks the webhook.
fn verifies(ca_pem: &str, cert_pem: &str, name: &str, time: DateTime<Utc>) -> Result<(), String> {
    let ca = der(ca_pem);
    let anchor = webpki::anchor_from_trusted_cert(&ca).map_err(|e| e.to_string())?;
    let leaf = der(cert_pem);
    let cert = webpki::EndEntityCert::try_from(&leaf).map_err(|e| e.to_string())?;
    cert.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &[anchor],
        &[],
        at(time),
        webpki::KeyUsage::server_auth(),
        None,
        None,
    )
    .map_err(|e| e.to_string())?;
    let name = ServerName::try_from(name.to_owned()).map_err(|e| e.to_string())?;
    cert.verify_is_valid_for_subject_name(&name)
        .map_err(|e| e.to_string())
}

#[test]
fn the_server_certificate_verifies_against_the_ca_for_the_service_names() {
    let material = issue("notarium-admission", "notarium", 30, now()).expect("issued");
    let soon = now() + chrono::Duration::hours(1);
    for name in [
        "notarium-admission.notarium.svc",
        "notarium-admission.notarium.svc.cluster.local",
        "notarium-admission.notarium",
        "notarium-admission",
    ] {
        verifies(&material.ca_cert, &material.server_cert, name, soon)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    verifies(
        &material.ca_cert,
        &material.server_cert,
        "other.notarium.svc",
        soon,
    )
    .expect_err("another service's name is not covered");
    verifies(
        &material.ca_cert,
        &material.server_cert,
        "notarium-admission.notarium.svc",
        now() + chrono::Duration::days(31),
    )
    .expect_err("expired after --days");
    verifies(
        &material.ca_cert,
        &material.server_cert,
        "notarium-admission.notarium.svc",
        now() - chrono::Duration::hours(1),
    )
    .expect_err("not valid before it was made, beyond the allowed skew");

    let other = issue("notarium-admission", "notarium", 30, now()).expect("issued");
    verifies(
        &other.ca_cert,
        &material.server_cert,
        "notarium-admission.notarium.svc",
        soon,
    )
    .expect_err("each run makes its own CA; another CA does not vouch for this certificate");
    verifies(
        &material.ca_cert,
        &material.ca_cert,
        "notarium-admission.notarium.svc",
        soon,
    )
    .expect_err("the CA itself is no server certificate");
}

#[test]
fn the_key_matches_the_certificate_and_serves_tls() {
    let dir = tempfile::tempdir().expect("tempdir");
    let material = issue("hook", "ns", 1, now()).expect("issued");
    let files = write(&dir.path().join("out"), &material).expect("written");
    crate::tls::server_config(&files.server_cert, &files.server_key)
        .expect("certificate and key belong together");
}

#[test]
fn files_are_written_once_with_a_private_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("certs");
    let material = issue("hook", "ns", 1, now()).expect("issued");
    let files = write(&out, &material).expect("written");
    assert_eq!(
        std::fs::read_to_string(&files.ca_cert).expect("ca.crt"),
        material.ca_cert
    );
    assert_eq!(
        std::fs::read_to_string(&files.server_cert).expect("tls.crt"),
        material.server_cert
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&files.server_key)
            .expect("tls.key")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "tls.key is readable by its owner only");
    }
    let again = issue("hook", "ns", 1, now()).expect("issued");
    let err = write(&out, &again).err().expect("existing files are kept");
    assert!(err.to_string().contains("exists"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&files.ca_cert).expect("ca.crt"),
        material.ca_cert,
        "nothing was overwritten"
    );
}

#[test]
fn bad_names_and_days_are_refused() {
    for (service, namespace) in [
        ("", "ns"),
        ("Hook", "ns"),
        ("hook.x", "ns"),
        ("-hook", "ns"),
        ("hook", "ns-"),
        ("hook", "n s"),
        ("hook", &"n".repeat(64)),
    ] {
        assert!(
            issue(service, namespace, 1, now()).is_err(),
            "{service:?} {namespace:?}"
        );
    }
    for days in [0, DAYS_MAX + 1] {
        let err = issue("hook", "ns", days, now()).err().expect("refused");
        assert!(err.to_string().contains("--days"), "{err}");
    }
}

#[test]
fn the_instructions_name_the_bundle_and_the_commands() {
    let command = Wrapper::try_parse_from([
        "certs",
        "--service",
        "notarium-admission",
        "--namespace",
        "notarium",
        "--out",
        "/tmp/my certs",
    ])
    .expect("parses")
    .certs;
    assert_eq!(command.days, 365);
    assert_eq!(command.webhook_config, "notarium");
    let material = issue(&command.service, &command.namespace, 1, now()).expect("issued");
    let files = Files {
        ca_cert: command.out.join("ca.crt"),
        server_cert: command.out.join("tls.crt"),
        server_key: command.out.join("tls.key"),
    };
    let text = command.instructions(&material, &files);
    let bundle = ca_bundle(&material);
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(&bundle)
        .expect("base64");
    assert_eq!(
        decoded,
        material.ca_cert.as_bytes(),
        "caBundle is the CA's PEM"
    );
    assert!(text.contains(&format!("caBundle:\n{bundle}\n")), "{text}");
    assert!(
        text.contains(
            "kubectl -n notarium create secret tls notarium-admission-tls \
             --cert='/tmp/my certs/tls.crt' --key='/tmp/my certs/tls.key'"
        ),
        "{text}"
    );
    for kind in [
        "mutatingwebhookconfiguration",
        "validatingwebhookconfiguration",
    ] {
        let line = format!(
            "kubectl patch {kind} notarium --type=json -p \
             '[{{\"op\":\"add\",\"path\":\"/webhooks/0/clientConfig/caBundle\",\
             \"value\":\"{bundle}\"}}]'"
        );
        assert!(text.contains(&line), "{text}");
    }
    assert!(
        !text.contains("PRIVATE KEY"),
        "the key never reaches the output"
    );
}

#[test]
fn shell_words_are_quoted_only_when_needed() {
    assert_eq!(shell_quote("/tmp/certs/tls.crt"), "/tmp/certs/tls.crt");
    assert_eq!(shell_quote("a b"), "'a b'");
    assert_eq!(shell_quote("it's"), r"'it'\''s'");
    assert_eq!(shell_quote(""), "''");
}
