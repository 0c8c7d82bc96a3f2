use super::*;

const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn parsed(s: &str) -> (String, Option<String>, Option<String>) {
    let r = ImageRef::parse(s).unwrap_or_else(|e| panic!("{s} must parse: {e}"));
    (
        r.name().to_owned(),
        r.tag().map(str::to_owned),
        r.digest().map(Digest::to_string),
    )
}

fn refused(s: &str) -> String {
    match ImageRef::parse(s) {
        Ok(r) => panic!("{s} must be refused, parsed as {r}"),
        Err(ReferenceError::Invalid { reason, .. }) => reason,
    }
}

#[test]
fn every_form_normalises_as_docker_does() {
    let digest = format!("sha256:{HEX}");
    let cases: Vec<(String, &str, Option<&str>, Option<&str>)> = vec![
        (
            "reg.io/org/app:tag".into(),
            "reg.io/org/app",
            Some("tag"),
            None,
        ),
        (
            format!("reg.io/org/app@{digest}"),
            "reg.io/org/app",
            None,
            Some(&digest),
        ),
        (
            format!("reg.io/org/app:tag@{digest}"),
            "reg.io/org/app",
            Some("tag"),
            Some(&digest),
        ),
        (
            "nginx".into(),
            "docker.io/library/nginx",
            Some("latest"),
            None,
        ),
        (
            "library/nginx".into(),
            "docker.io/library/nginx",
            Some("latest"),
            None,
        ),
        ("user/app:1".into(), "docker.io/user/app", Some("1"), None),
        (
            "localhost:5000/app".into(),
            "localhost:5000/app",
            Some("latest"),
            None,
        ),
        (
            "localhost/app".into(),
            "localhost/app",
            Some("latest"),
            None,
        ),
        (
            "127.0.0.1:5000/a/b:c".into(),
            "127.0.0.1:5000/a/b",
            Some("c"),
            None,
        ),
        (
            "docker.io/nginx".into(),
            "docker.io/library/nginx",
            Some("latest"),
            None,
        ),
        (
            "index.docker.io/library/nginx".into(),
            "docker.io/library/nginx",
            Some("latest"),
            None,
        ),
        (
            "index.docker.io/nginx".into(),
            "docker.io/library/nginx",
            Some("latest"),
            None,
        ),
        (
            "[::1]:5000/app:v1".into(),
            "[::1]:5000/app",
            Some("v1"),
            None,
        ),
        ("reg:5000/app".into(), "reg:5000/app", Some("latest"), None),
        ("Reg/app".into(), "Reg/app", Some("latest"), None),
        ("a/b/c/d".into(), "docker.io/a/b/c/d", Some("latest"), None),
        (
            "reg.io/a-b--c/d__e.f_g:V1.0-rc_2".into(),
            "reg.io/a-b--c/d__e.f_g",
            Some("V1.0-rc_2"),
            None,
        ),
        (
            "localhost:5000".into(),
            "docker.io/library/localhost",
            Some("5000"),
            None,
        ),
    ];
    for (input, name, tag, digest) in cases {
        let got = parsed(&input);
        let want = (
            name.to_owned(),
            tag.map(str::to_owned),
            digest.map(str::to_owned),
        );
        assert_eq!(got, want, "{input}");
    }
}

#[test]
fn refusals_say_why() {
    let long_path = format!("reg.io/{}", "a".repeat(249));
    assert_eq!(long_path.len(), 256);
    let cases: Vec<(String, &str)> = vec![
        ("reg.io/Org/app".into(), "must be lowercase"),
        ("Nginx".into(), "must be lowercase"),
        ("".into(), "empty"),
        ("a//b".into(), "path component is empty"),
        ("a/".into(), "path component is empty"),
        ("/a".into(), "path component is empty"),
        ("app@sha256:abc".into(), "64 lowercase hex"),
        (
            format!("app@sha256:{}", HEX.to_uppercase()),
            "64 lowercase hex",
        ),
        (format!("app@sha512:{HEX}"), "not supported"),
        (format!("app@{HEX}"), "sha256:"),
        (long_path, "at most 255"),
        (format!("app:{}", "t".repeat(129)), "at most 128"),
        (":tag".into(), "no repository name"),
        ("app:".into(), "tag after `:` is empty"),
        ("app:.x".into(), "tag"),
        ("app:a/b".into(), "registry host"),
        ("reg.io/a..b".into(), "path component"),
        ("reg.io/-a".into(), "path component"),
        ("reg.io/a_".into(), "path component"),
        ("reg.io/a___b".into(), "path component"),
        ("reg.io:x/app".into(), "registry host"),
        ("-reg.io/app".into(), "registry host"),
        ("reg..io/app".into(), "registry host"),
        ("[zz]:5000/app".into(), "registry host"),
        ("a b".into(), "path component"),
        (HEX.into(), "image ID"),
    ];
    for (input, reason) in cases {
        let got = refused(&input);
        assert!(
            got.contains(reason),
            "{input:?}: {got:?} should say {reason:?}"
        );
    }
}

#[test]
fn name_of_exactly_255_bytes_is_fine() {
    let name = format!("reg.io/{}", "a".repeat(248));
    assert_eq!(name.len(), 255);
    assert_eq!(parsed(&name).0, name);
    let tag = "t".repeat(128);
    assert_eq!(parsed(&format!("app:{tag}")).1, Some(tag));
}

#[test]
fn a_long_reference_is_shortened_in_the_error() {
    let input = format!("reg.io/{}", "A".repeat(5000));
    let err = ImageRef::parse(&input).expect_err("uppercase path must be refused");
    assert!(err.to_string().len() < 300, "{err}");
}

#[test]
fn digest_parse_and_display_round_trip() {
    let d = Digest::parse(&format!("sha256:{HEX}")).expect("a valid digest");
    assert_eq!(d.hex(), HEX);
    assert_eq!(d.to_string(), format!("sha256:{HEX}"));
    assert!(Digest::parse(HEX).is_err());
    assert!(Digest::parse(&format!("sha256:{HEX}0")).is_err());
    assert!(Digest::parse("").is_err());
}

#[test]
fn pinned_keeps_the_tag_when_there_is_one() {
    let d = Digest::parse(&format!("sha256:{HEX}")).expect("a valid digest");
    let tagged = ImageRef::parse("nginx:1.25").expect("parses");
    assert_eq!(
        tagged.pinned(&d),
        format!("docker.io/library/nginx:1.25@sha256:{HEX}")
    );
    let bare = ImageRef::parse(&format!("nginx@sha256:{HEX}")).expect("parses");
    assert_eq!(
        bare.pinned(&d),
        format!("docker.io/library/nginx@sha256:{HEX}")
    );
    assert_eq!(
        bare.to_string(),
        format!("docker.io/library/nginx@sha256:{HEX}")
    );
    assert_eq!(tagged.to_string(), "docker.io/library/nginx:1.25");
}

#[test]
fn normalised_names_parse_to_themselves() {
    for s in [
        "docker.io/library/nginx:latest",
        "reg.io/a/b:c",
        "localhost:5000/x:latest",
    ] {
        let r = ImageRef::parse(s).expect("parses");
        assert_eq!(r.to_string(), s);
        assert_eq!(ImageRef::parse(&r.to_string()).expect("parses again"), r);
    }
}

proptest::proptest! {
    #[test]
    fn parse_never_panics(s in "\\PC{0,300}") {
        let _ = ImageRef::parse(&s);
    }

    #[test]
    fn display_of_a_parsed_reference_parses_to_the_same(
        s in "([a-z]{1,5}\\.[a-z]{2,3}(:[0-9]{1,4})?/)?[a-z0-9]{1,6}([._-][a-z0-9]{1,4})?(/[a-z0-9]{1,6}){0,2}(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,10})?"
    ) {
        let r = ImageRef::parse(&s).expect("generated references are valid");
        proptest::prop_assert_eq!(ImageRef::parse(&r.to_string()).expect("reparses"), r);
    }
}
