use super::*;

/// A key `docker trust key generate alice` wrote (Docker 28), passphrase `pw`.
const DOCKER_ALICE: &str = include_str!("docker-alice.key");
const DOCKER_ALICE_ID: &str = "9df369963c12180a63d9b6622868f007850f42dc34dfbbbef6c4098ca8ab014d";

fn store_with_alice() -> (tempfile::TempDir, KeyStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = KeyStore::new(dir.path());
    std::fs::create_dir_all(store.dir()).expect("mkdir");
    std::fs::write(
        store.dir().join(format!("{DOCKER_ALICE_ID}.key")),
        DOCKER_ALICE,
    )
    .expect("write");
    (dir, store)
}

/// Every check that reads the passphrase variables, in one test: they are process-wide.
#[test]
fn docker_keys_open_with_their_passphrase_and_generated_keys_round_trip() {
    let (_dir, store) = store_with_alice();
    let id = KeyId::parse(DOCKER_ALICE_ID).expect("id");
    let file = store.find(&id).expect("readable").expect("found");
    assert_eq!(file.role, "alice");
    assert_eq!(file.gun, None);
    assert_eq!(store.list().len(), 1);

    for var in [
        "DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE",
        "NOTARY_DELEGATION_PASSPHRASE",
    ] {
        std::env::remove_var(var);
    }
    assert!(matches!(file.open(), Err(KeyError::NoPassphrase { .. })));
    std::env::set_var("NOTARY_DELEGATION_PASSPHRASE", "wrong-one");
    let err = file.open().expect_err("wrong passphrase");
    assert!(matches!(err, KeyError::WrongPassphrase { .. }), "{err:?}");
    assert!(!err.to_string().contains("wrong-one"), "{err}");
    // Docker's variable is tried first; the notary one after it.
    std::env::set_var("DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE", "pw");
    let opened = file.open().expect("opens");
    assert_eq!(opened.public.id(), id);
    let signer = opened.signer(id).expect("signer");
    let signature = signer.sign(b"canonical").expect("signs");
    opened
        .public
        .verify(&signature.method, b"canonical", &signature.sig)
        .expect("verifies");

    let generated = store
        .generate("targets", Some("example.com/app"), "pw")
        .expect("generates");
    let file = store
        .find(&generated.public.id())
        .expect("readable")
        .expect("found");
    assert_eq!(
        (file.role.as_str(), file.gun.as_deref()),
        ("targets", Some("example.com/app"))
    );
    assert_eq!(file.open().expect("opens").public, generated.public);
    let text = std::fs::read_to_string(&file.path).expect("read");
    assert!(
        text.starts_with(
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\ngun: example.com/app\nrole: targets\n\n"
        ),
        "{text}"
    );
    std::env::remove_var("DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE");
    std::env::remove_var("NOTARY_DELEGATION_PASSPHRASE");
}

#[test]
fn garbage_files_are_refused_and_missing_ones_absent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = KeyStore::new(dir.path());
    let id = KeyId::parse(&"a".repeat(64)).expect("id");
    assert!(store.find(&id).expect("no error").is_none());
    std::fs::create_dir_all(store.dir()).expect("mkdir");
    std::fs::write(
        store.dir().join(format!("{id}.key")),
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .expect("write");
    assert!(matches!(store.find(&id), Err(KeyError::Invalid(_))));
    assert!(store.list().is_empty());
    assert_eq!(
        passphrase_vars("root")[0],
        "DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE"
    );
    assert_eq!(
        passphrase_vars("targets/alice")[1],
        "NOTARY_DELEGATION_PASSPHRASE"
    );
}
