use super::*;

fn config(dir: &Path, json: &str) {
    std::fs::write(dir.join("config.json"), json).expect("write config");
}

fn pair(c: Option<Credentials>) -> Option<(String, String)> {
    c.map(|c| (c.username, c.password.to_string()))
}

fn b64(s: &str) -> String {
    STANDARD.encode(s)
}

#[test]
fn notary_auth_is_base64_of_user_and_password() {
    let c = Credentials::from_basic(&b64("alice:pa:ss")).expect("decoded");
    assert_eq!(
        (c.username.as_str(), c.password.as_str()),
        ("alice", "pa:ss")
    );
    assert!(Credentials::from_basic("not base64!").is_none());
    assert!(Credentials::from_basic(&b64("no-colon")).is_none());
    assert!(Credentials::from_basic(&b64(":password")).is_none());
    assert!(
        !format!("{c:?}").contains("pa:ss"),
        "Debug hides the password"
    );
    assert_eq!(c.basic_header(), format!("Basic {}", b64("alice:pa:ss")));
}

#[test]
fn auths_by_host_port_and_url_forms() {
    let dir = tempfile::tempdir().expect("tempdir");
    config(
        dir.path(),
        &format!(
            r#"{{"auths":{{
                "notary.example.com:4443":{{"auth":"{}"}},
                "https://Registry.Example.com/v2/":{{"username":"bob","password":"pw2"}},
                "https://index.docker.io/v1/":{{"auth":"{}"}},
                "token.example.com":{{"identitytoken":"refresh-me"}},
                "empty.example.com":{{}}
            }}}}"#,
            b64("alice:pw1"),
            b64("hub:pw3")
        ),
    );
    let d = dir.path();
    let found = |hosts: &[&str]| pair(Credentials::from_docker_config(d, hosts));
    let owned = |u: &str, p: &str| Some((u.to_owned(), p.to_owned()));
    assert_eq!(found(&["notary.example.com:4443"]), owned("alice", "pw1"));
    assert_eq!(
        found(&["notary.example.com"]),
        None,
        "the port is part of the name"
    );
    assert_eq!(found(&["registry.example.com"]), owned("bob", "pw2"));
    assert_eq!(found(&["docker.io"]), owned("hub", "pw3"));
    assert_eq!(
        found(&["token.example.com"]),
        owned(IDENTITY_TOKEN_USER, "refresh-me")
    );
    // The trust server's host first; then the registry's.
    assert_eq!(
        found(&[
            "unknown.example.com",
            "empty.example.com",
            "registry.example.com"
        ]),
        owned("bob", "pw2")
    );
    assert_eq!(
        found(&["notary.example.com:4443", "registry.example.com"]),
        owned("alice", "pw1")
    );
    assert_eq!(found(&["unknown.example.com"]), None);
}

#[test]
fn unreadable_configs_give_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert!(
        Credentials::from_docker_config(dir.path(), &["x"]).is_none(),
        "no file"
    );
    config(dir.path(), "{not json");
    assert!(Credentials::from_docker_config(dir.path(), &["x"]).is_none());
    config(dir.path(), r#"{"auths":{"x":{"auth":"!!!"}}}"#);
    assert!(Credentials::from_docker_config(dir.path(), &["x"]).is_none());
}

#[test]
fn a_missing_helper_is_skipped() {
    let dir = tempfile::tempdir().expect("tempdir");
    config(
        dir.path(),
        &format!(
            r#"{{"credsStore":"surely-not-installed","credHelpers":{{"a.example.com":"also-missing"}},
                "auths":{{"b.example.com":{{"auth":"{}"}}}}}}"#,
            b64("carol:pw")
        ),
    );
    assert!(Credentials::from_docker_config(dir.path(), &["a.example.com"]).is_none());
    assert_eq!(
        pair(Credentials::from_docker_config(
            dir.path(),
            &["b.example.com"]
        )),
        Some(("carol".to_owned(), "pw".to_owned()))
    );
}

#[test]
fn names_normalise() {
    assert_eq!(normalize("https://Host:5000/v1/"), "host:5000");
    assert_eq!(normalize("http://host"), "host");
    assert_eq!(normalize(" host "), "host");
    assert_eq!(aliases("index.docker.io").len(), 3);
    assert_eq!(aliases("example.com"), ["example.com"]);
}
