//! The first upload of a new repository, as `docker trust signer add` and `docker trust sign`
//! make it: root v1 (a root certificate key, a targets key, the server's timestamp and
//! snapshot keys), targets delegating `targets/NAME` and `targets/releases` to the signer's
//! key for every path, and both delegations holding the tag. Keys are written into the trust
//! directory as the notary client writes them, so `docker trust` and `notary` use them after.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose};

use crate::gun::Gun;
use crate::tuf::cjson::Value;
use crate::tuf::key::{KeyType, PublicKey};
use crate::tuf::metadata::Expires;

use super::super::auth::{Freshness, GetError, Session};
use super::super::keystore::{passphrase_for, passphrase_vars, KeyError, OpenedKey};
use super::super::{Remote, RemoteError};
use super::{build, parse_server_key, Parts, PublishError, PublishRequest};

/// How long a new root, and its certificate, are valid: the notary client's 10 years.
fn root_lifetime() -> Duration {
    Duration::days(10 * 365)
}

/// The files that create the repository.
pub(super) async fn plan(
    remote: &Remote,
    session: &Session<'_>,
    gun: &Gun,
    request: &PublishRequest<'_>,
) -> Result<Parts, PublishError> {
    let Some(name) = request.signer else {
        return Err(PublishError::Refused(
            "--init needs --signer NAME: the signer the new repository delegates to".to_owned(),
        ));
    };
    let signer_role = format!("targets/{name}");
    crate::tuf::role::RoleName::parse(&signer_role)
        .map_err(|e| PublishError::Refused(format!("--signer {name:?}: {e}")))?;
    // Every passphrase is needed before anything is written.
    for role in ["root", "targets", signer_role.as_str()] {
        if passphrase_for(role).is_none() {
            return Err(PublishError::Key(KeyError::NoPassphrase {
                id: "(new)".to_owned(),
                role: role.to_owned(),
                vars: passphrase_vars(role).join(" or "),
            }));
        }
    }
    let timestamp = server_key(remote, session, gun, "timestamp.key").await?;
    let snapshot = server_key(remote, session, gun, "snapshot.key").await?;

    let keys = request.keys;
    let files = keys.list();
    let root_key = match files.iter().find(|f| f.role == "root") {
        Some(file) => file.open()?,
        None => generate(request, "root", None)?,
    };
    let signer_key = match files
        .iter()
        .filter(|f| f.role == name || f.role == signer_role)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] => generate(request, &signer_role, None)?,
        [file] => file.open()?,
        several => {
            return Err(PublishError::Refused(format!(
                "{} holds {} keys of signer {name}; keep one",
                keys.dir().display(),
                several.len()
            )))
        }
    };
    let targets_key = generate(request, "targets", Some(gun.as_str()))?;

    let now = request.now;
    let certificate = root_certificate(&root_key, gun.as_str(), now)?;
    let root_public = PublicKey::new(KeyType::EcdsaX509, certificate.into_bytes());
    let role_keys = |key: &PublicKey| {
        Value::object(vec![
            (
                "keyids",
                Value::Array(vec![Value::string(key.id().as_str())]),
            ),
            ("threshold", Value::int(1)),
        ])
    };
    let all = [&root_public, &targets_key.public, &snapshot, &timestamp];
    let root = Value::object(vec![
        ("_type", Value::string("Root")),
        ("consistent_snapshot", Value::Bool(false)),
        ("expires", expires(now + root_lifetime())),
        (
            "keys",
            Value::Object(
                all.iter()
                    .map(|k| (k.id().as_str().to_owned(), k.to_value()))
                    .collect(),
            ),
        ),
        (
            "roles",
            Value::object(vec![
                ("root", role_keys(&root_public)),
                ("snapshot", role_keys(&snapshot)),
                ("targets", role_keys(&targets_key.public)),
                ("timestamp", role_keys(&timestamp)),
            ]),
        ),
        ("version", Value::int(1)),
    ]);
    let signer_public = &signer_key.public;
    let delegation = |role: &str| {
        Value::object(vec![
            (
                "keyids",
                Value::Array(vec![Value::string(signer_public.id().as_str())]),
            ),
            ("name", Value::string(role)),
            ("paths", Value::Array(vec![Value::string("")])),
            ("threshold", Value::int(1)),
        ])
    };
    let targets = Value::object(vec![
        ("_type", Value::string("Targets")),
        (
            "delegations",
            Value::object(vec![
                (
                    "keys",
                    Value::Object(vec![(
                        signer_public.id().as_str().to_owned(),
                        signer_public.to_value(),
                    )]),
                ),
                (
                    "roles",
                    Value::Array(vec![
                        delegation(&signer_role),
                        delegation("targets/releases"),
                    ]),
                ),
            ]),
        ),
        ("expires", expires(now + build::targets_lifetime())),
        ("targets", Value::Object(Vec::new())),
        ("version", Value::int(1)),
    ]);

    let mut files = BTreeMap::new();
    let root_signer = root_key.signer(root_public.id())?;
    files.insert(
        "root".to_owned(),
        build::signed_file(&root, &[&root_signer])?,
    );
    let targets_signer = targets_key.signer(targets_key.public.id())?;
    files.insert(
        "targets".to_owned(),
        build::signed_file(&targets, &[&targets_signer])?,
    );
    let delegate = signer_key.signer(signer_public.id())?;
    let mut signed_roles = Vec::new();
    for role in [signer_role.as_str(), "targets/releases"] {
        let signed = build::edited_targets(None, &request.edit, now)
            .map_err(|e| PublishError::Refused(format!("cannot build {role}: {e}")))?;
        files.insert(role.to_owned(), build::signed_file(&signed, &[&delegate])?);
        signed_roles.push(role.to_owned());
    }
    Ok(Parts {
        files,
        signed_roles,
        initialized: true,
    })
}

fn expires(at: DateTime<Utc>) -> Value {
    Value::string(Expires::from_datetime(at).as_str())
}

fn generate(
    request: &PublishRequest<'_>,
    role: &str,
    gun: Option<&str>,
) -> Result<OpenedKey, PublishError> {
    let passphrase = passphrase_for(role).ok_or_else(|| KeyError::NoPassphrase {
        id: "(new)".to_owned(),
        role: role.to_owned(),
        vars: passphrase_vars(role).join(" or "),
    })?;
    Ok(request.keys.generate(role, gun, &passphrase)?)
}

/// `GET …/{timestamp,snapshot}.key`: the key the server will sign with.
async fn server_key(
    remote: &Remote,
    session: &Session<'_>,
    gun: &Gun,
    file: &str,
) -> Result<PublicKey, PublishError> {
    let url = remote.transport.role_url(gun, file);
    let body = session
        .get(&url, 64 * 1024, Freshness::Fresh)
        .await
        .map_err(|e| match e {
            GetError::NotFound(why) | GetError::Failed(why) => RemoteError::Fetch(why),
        })?;
    parse_server_key(&body).map_err(|e| PublishError::Refused(format!("GET {url}: {e}")))
}

/// A self-signed certificate for the root key, as the notary client makes one: CN = the GUN,
/// valid 10 years, for code signing; canonical PEM.
fn root_certificate(
    key: &OpenedKey,
    gun: &str,
    now: DateTime<Utc>,
) -> Result<String, PublishError> {
    let failed =
        |what: &str| PublishError::Refused(format!("cannot make the root certificate: {what}"));
    let pair = KeyPair::try_from(key.pkcs8()).map_err(|_| failed("the root key does not load"))?;
    let mut params =
        CertificateParams::new(Vec::<String>::new()).map_err(|_| failed("parameters"))?;
    params.distinguished_name.push(DnType::CommonName, gun);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
    let time = |t: DateTime<Utc>| {
        x509_parser::time::ASN1Time::from_timestamp(t.timestamp())
            .map(|t| t.to_datetime())
            .map_err(|_| failed("the validity period"))
    };
    params.not_before = time(now - Duration::minutes(5))?;
    params.not_after = time(now + root_lifetime())?;
    let certificate = params
        .self_signed(&pair)
        .map_err(|_| failed("signing failed"))?;
    Ok(crate::tuf::pem::encode("CERTIFICATE", certificate.der()))
}
