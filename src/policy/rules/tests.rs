use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use super::*;

const ID_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const ID_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

/// A self-signed certificate and the bare public key of a fresh P-256 key.
fn pems() -> (String, String) {
    let key = rcgen::KeyPair::generate().expect("key generation");
    let cert = rcgen::CertificateParams::new(vec!["root".to_owned()])
        .expect("params")
        .self_signed(&key)
        .expect("self-signed certificate");
    (cert.pem(), key.public_key_pem())
}

fn no_files(path: &Path) -> io::Result<Vec<u8>> {
    Err(io::Error::new(
        io::ErrorKind::NotFound,
        format!("{} not found", path.display()),
    ))
}

fn parse(text: &str) -> Policy {
    Policy::parse(text, "policy.yaml", &no_files).unwrap_or_else(|e| panic!("must parse: {e}"))
}

/// The refusal of `text`: its line and its message.
fn refusal(text: &str) -> (Option<usize>, String) {
    match Policy::parse(text, "policy.yaml", &no_files) {
        Ok(policy) => panic!("must be refused: {text}\nparsed as {policy:?}"),
        Err(PolicyError::Invalid {
            origin,
            line,
            message,
            ..
        }) => {
            assert_eq!(origin, "policy.yaml");
            (line, message)
        }
    }
}

fn key_id(s: &str) -> KeyId {
    KeyId::parse(s).expect("a valid key ID")
}

#[test]
fn a_full_example_parses_to_its_rules() {
    let (cert_pem, key_pem) = pems();
    let inline = cert_pem.replace('\n', "\n          ");
    let text = format!(
        r#"# Who may run what.
version: 1
rules:
  - match: "registry.example.com/team/*"
    server: https://notary.example.com:4443
    ca: /etc/notarium/notary-ca.crt
    root:
      keys: ["{ID_A}"]
      certs:
        - root-ca.pem
        - |
          {inline}
      tofu: false
    signers:
      - alice
      - name: team/bob
        keys: ["{ID_B}"]
    threshold: 1
    mode: warn
  - match: "registry.example.com/base/**"
    root: {{ tofu: true }}
  - match: "docker.io/library/*"
    mode: allow
"#
    );
    let read = |path: &Path| -> io::Result<Vec<u8>> {
        if path == Path::new("root-ca.pem") {
            Ok(key_pem.clone().into_bytes())
        } else {
            no_files(path)
        }
    };
    let policy = Policy::parse(&text, "policy.yaml", &read).expect("the example parses");
    let expected = Policy {
        rules: vec![
            Rule {
                pattern: "registry.example.com/team/*".to_owned(),
                server: Some("https://notary.example.com:4443".to_owned()),
                ca: Some("/etc/notarium/notary-ca.crt".into()),
                root: RootTrust {
                    key_ids: vec![key_id(ID_A)],
                    keys: vec![
                        PublicKey::from_pem(key_pem.as_bytes()).expect("key PEM"),
                        PublicKey::from_pem(cert_pem.as_bytes()).expect("cert PEM"),
                    ],
                    tofu: false,
                },
                signers: vec![
                    Signer {
                        name: "alice".to_owned(),
                        role: RoleName::parse("targets/alice").expect("role"),
                        key_ids: vec![],
                    },
                    Signer {
                        name: "team/bob".to_owned(),
                        role: RoleName::parse("targets/team/bob").expect("role"),
                        key_ids: vec![key_id(ID_B)],
                    },
                ],
                threshold: Some(1),
                mode: Mode::Warn,
                break_glass: false,
            },
            Rule {
                pattern: "registry.example.com/base/**".to_owned(),
                server: None,
                ca: None,
                root: RootTrust {
                    tofu: true,
                    ..RootTrust::default()
                },
                signers: vec![],
                threshold: None,
                mode: Mode::Enforce,
                break_glass: false,
            },
            Rule {
                pattern: "docker.io/library/*".to_owned(),
                server: None,
                ca: None,
                root: RootTrust::default(),
                signers: vec![],
                threshold: None,
                mode: Mode::Allow,
                break_glass: false,
            },
        ],
    };
    assert_eq!(policy, expected);
}

#[test]
fn releases_is_a_signer_name_like_any_other() {
    let policy =
        parse("rules:\n  - match: r.io/a\n    root: {tofu: true}\n    signers: [releases]\n");
    assert_eq!(policy.rules[0].signers[0].role, RoleName::releases());
}

#[test]
fn the_error_names_file_line_rule_and_field() {
    let text = "version: 1\nrules:\n  - match: r.io/a\n    root: {tofu: true}\n  - match: r.io/b\n    root: {tofu: true}\n    signers: [alice, bob]\n    threshold: 3\n";
    let err = Policy::parse(text, "policy.yaml", &no_files).expect_err("threshold too high");
    assert_eq!(
        err.to_string(),
        "policy.yaml:5:5: rules[1].threshold: 3 is more than the 2 signers listed"
    );
}

#[test]
fn every_refusal_says_where_and_what() {
    let root = "    root: {tofu: true}\n";
    let head = "rules:\n  - match: r.io/a\n";
    let cases: Vec<(String, usize, &str)> = vec![
        // Structure.
        ("rules: []\n".into(), 1, "rules: the list is empty"),
        ("version: 1\n".into(), 1, "rules: missing"),
        (
            "version: 2\nrules: []\n".into(),
            1,
            "version: version 2 is not known",
        ),
        (
            format!("{head}{root}colour: red\n"),
            4,
            "unknown field `colour`",
        ),
        (
            format!("{head}{root}    colour: red\n"),
            4,
            "rules[0]: unknown field `colour`",
        ),
        (
            format!("{head}    root: {{tofu: true, pin: 1}}\n"),
            3,
            "rules[0].root: unknown field `pin`",
        ),
        (
            format!("{head}{root}    signers: [{{name: a, key: []}}]\n"),
            4,
            "unknown field `key`",
        ),
        (
            format!("{head}{root}    signers: [[a]]\n"),
            4,
            "a signer: a name, or a mapping",
        ),
        (
            "rules:\n  - root: {tofu: true}\n".into(),
            2,
            "rules[0]: missing field `match`",
        ),
        ("rules:\n  - r.io/a\n".into(), 2, "rules[0]: invalid type"),
        (
            format!("{head}{root}    mode: audit\n"),
            4,
            "unknown variant `audit`",
        ),
        (format!("{head}{root}    threshold: -1\n"), 4, "threshold"),
        ("rules: [\n".into(), 2, "did not find expected"),
        // Patterns.
        (
            "rules:\n  - match: ''\n    root: {tofu: true}\n".into(),
            2,
            "rules[0].match: the pattern is empty",
        ),
        (
            "rules:\n  - match: 'r.io/a b'\n    root: {tofu: true}\n".into(),
            2,
            "rules[0].match: the pattern holds whitespace",
        ),
        (
            "rules:\n  - match: 'r.io/***'\n    root: {tofu: true}\n".into(),
            2,
            "rules[0].match: `***`",
        ),
        (
            "rules:\n  - match: nginx\n    root: {tofu: true}\n".into(),
            2,
            "write \"docker.io/library/nginx\"",
        ),
        (
            "rules:\n  - match: r.io/a:v1\n    root: {tofu: true}\n".into(),
            2,
            "write \"r.io/a\"",
        ),
        (
            "rules:\n  - match: r.io/A\n    root: {tofu: true}\n".into(),
            2,
            "must be lowercase",
        ),
        (
            format!("{head}{root}  - match: r.io/b\n{root}  - match: r.io/a\n{root}"),
            6,
            "rules[2].match: \"r.io/a\" is already the pattern of rules[0]",
        ),
        // Server and CA.
        (
            format!("{head}{root}    server: ftp://n.io\n"),
            2,
            "rules[0].server: expected an https://",
        ),
        (
            format!("{head}{root}    server: https://\n"),
            2,
            "rules[0].server: the URL names no host",
        ),
        (
            format!("{head}{root}    server: https://n.io:99999\n"),
            2,
            "rules[0].server: the port",
        ),
        (
            format!("{head}{root}    server: https://u:pw@n.io\n"),
            2,
            "must not hold credentials",
        ),
        (
            format!("{head}{root}    server: https://n.io/?a=1\n"),
            2,
            "query",
        ),
        (
            format!("{head}{root}    ca: ''\n"),
            2,
            "rules[0].ca: the path is empty",
        ),
        // Root.
        (
            head.to_owned(),
            2,
            "rules[0].root: pin a root key (keys or certs) or say tofu: true",
        ),
        (
            format!("{head}    root: {{}}\n"),
            2,
            "rules[0].root: pin a root key",
        ),
        (
            format!("{head}    root: {{tofu: true, keys: [{ID_A}]}}\n"),
            2,
            "rules[0].root.tofu: true cannot go with pinned",
        ),
        (
            format!("{head}    root: {{tofu: true, certs: [c.pem]}}\n"),
            2,
            "rules[0].root.tofu",
        ),
        (
            format!("{head}    root: {{keys: [abc]}}\n"),
            3,
            "rules[0].root.keys: invalid key ID \"abc\"",
        ),
        (
            format!("{head}    root: {{keys: [\"{}\"]}}\n", ID_A.to_uppercase()),
            3,
            "invalid key ID",
        ),
        (
            format!("{head}    root: {{certs: [missing.pem]}}\n"),
            2,
            "rules[0].root.certs[0]: cannot read \"missing.pem\"",
        ),
        (
            format!("{head}    root: {{certs: [\"-----BEGIN NONSENSE-----\"]}}\n"),
            2,
            "rules[0].root.certs[0]: the inline PEM is not a PEM CERTIFICATE or PUBLIC KEY",
        ),
        // Signers and threshold.
        (
            format!("{head}{root}    signers: [alice, alice]\n"),
            2,
            "rules[0].signers[1]: \"alice\" is listed twice",
        ),
        (
            format!("{head}{root}    signers: [Alice]\n"),
            2,
            "rules[0].signers[0]: \"Alice\" is not a delegation name",
        ),
        (
            format!("{head}{root}    signers: ['a//b']\n"),
            2,
            "not a delegation name",
        ),
        (
            format!("{head}{root}    signers: ['']\n"),
            2,
            "not a delegation name",
        ),
        (
            format!("{head}{root}    signers: [targets/releases]\n"),
            2,
            "without `targets/`",
        ),
        (
            format!("{head}{root}    signers: [{{name: a, keys: [nope]}}]\n"),
            4,
            "rules[0].signers[0].keys: invalid key ID",
        ),
        (
            format!("{head}{root}    threshold: 1\n"),
            2,
            "rules[0].threshold: a threshold counts signers",
        ),
        (
            format!("{head}{root}    signers: []\n    threshold: 1\n"),
            2,
            "rules[0].threshold: a threshold counts signers",
        ),
        (
            format!("{head}{root}    signers: [a]\n    threshold: 0\n"),
            2,
            "rules[0].threshold: 0 would admit unsigned images",
        ),
        (
            format!("{head}{root}    signers: [a]\n    threshold: 2\n"),
            2,
            "rules[0].threshold: 2 is more than the 1 signer listed",
        ),
        // Allow.
        (
            format!("{head}{root}    mode: allow\n"),
            2,
            "rules[0].mode: allow admits images without looking at trust data, so root would never",
        ),
        (
            format!("{head}    mode: allow\n    signers: [a]\n    threshold: 1\n"),
            2,
            "so signers and threshold would never be used; remove them",
        ),
    ];
    for (text, line, wanted) in cases {
        let (got_line, message) = refusal(&text);
        assert!(
            message.contains(wanted),
            "{text}\n{message:?} should say {wanted:?}"
        );
        assert_eq!(got_line, Some(line), "{text}\n{message}");
        assert!(
            !message.contains(" at line "),
            "position twice in {message:?}"
        );
    }
}

#[test]
fn a_cert_file_without_a_key_is_refused() {
    let text = "rules:\n  - match: r.io/a\n    root: {certs: [notes.txt]}\n";
    let read = |_: &Path| -> io::Result<Vec<u8>> { Ok(b"just some notes".to_vec()) };
    let err = Policy::parse(text, "p.yaml", &read).expect_err("no PEM in the file");
    assert!(
        err.to_string()
            .contains("rules[0].root.certs[0]: \"notes.txt\" is not a PEM CERTIFICATE"),
        "{err}"
    );
}

#[test]
fn a_private_key_is_refused_without_being_echoed() {
    let key = rcgen::KeyPair::generate().expect("key generation");
    let secret = key.serialize_pem();
    let files = HashMap::from([("k.pem", secret.clone())]);
    let read = |p: &Path| -> io::Result<Vec<u8>> {
        let name = p.to_str().unwrap_or_default();
        files
            .get(name)
            .map(|s| s.clone().into_bytes())
            .ok_or_else(|| no_files(p).unwrap_err())
    };
    let text = "rules:\n  - match: r.io/a\n    root: {certs: [k.pem]}\n";
    let err = Policy::parse(text, "p.yaml", &read).expect_err("a private key is no pin");
    let shown = format!("{err} {err:?}");
    let body: String = secret.lines().filter(|l| !l.starts_with("-----")).collect();
    assert!(!shown.contains(&body[..40]), "{shown}");
}

#[test]
fn most_specific_rule_wins() {
    let policy = parse(
        "rules:
  - {match: '**', root: {tofu: true}}
  - {match: 'reg.io/**', root: {tofu: true}}
  - {match: 'reg.io/team/*', root: {tofu: true}}
  - {match: 'reg.io/team/app', root: {tofu: true}}
",
    );
    let pattern = |name: &str| policy.rule_for(name).map(|r| r.pattern.as_str());
    assert_eq!(pattern("reg.io/team/app"), Some("reg.io/team/app"));
    assert_eq!(pattern("reg.io/team/other"), Some("reg.io/team/*"));
    assert_eq!(pattern("reg.io/team/a/b"), Some("reg.io/**"));
    assert_eq!(pattern("reg.io/x"), Some("reg.io/**"));
    assert_eq!(pattern("other.io/x"), Some("**"));
}

#[test]
fn equally_specific_rules_go_by_file_order() {
    let policy = parse(
        "rules:
  - {match: 'reg.io/*m/app', root: {tofu: true}, mode: warn}
  - {match: 'reg.io/team/*', root: {tofu: true}}
",
    );
    let rule = policy.rule_for("reg.io/team/app").expect("both match");
    assert_eq!(rule.pattern, "reg.io/*m/app");
}

#[test]
fn a_host_is_never_matched_as_a_substring() {
    let policy = parse("rules:\n  - {match: 'registry.example.com/team/*', root: {tofu: true}}\n");
    assert!(policy.rule_for("registry.example.com/team/app").is_some());
    for name in [
        "registry.example.com.evil.io/team/app",
        "evilregistry.example.com/team/app",
        "registry.example.com/team/a/b",
        "evil.io/registry.example.com/team/app",
    ] {
        assert!(policy.rule_for(name).is_none(), "{name}");
    }
    assert!(Policy::default().rule_for("reg.io/a").is_none());
}

#[test]
fn anchors_and_aliases_are_fine() {
    let policy = parse(&format!(
        "rules:
  - match: reg.io/a/*
    root: &corp
      keys: [{ID_A}]
    signers: &team [alice, bob]
  - match: reg.io/b/*
    root: *corp
    signers: *team
    threshold: 1
"
    ));
    assert_eq!(policy.rules[0].root, policy.rules[1].root);
    assert_eq!(policy.rules[0].signers, policy.rules[1].signers);
}

/// Ten lists of ten, each made of the one before: expanded, `*a9` is 10^10 items.
fn alias_bomb(indent: &str) -> String {
    let mut bomb = format!("{indent}a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let list = vec![format!("*a{}", i - 1); 10].join(", ");
        bomb.push_str(&format!("{indent}a{i}: &a{i} [{list}]\n"));
    }
    bomb
}

#[test]
fn an_alias_bomb_fails_fast() {
    let bomb = alias_bomb("");
    let in_rule = alias_bomb("    ");
    let many: String = (0..RULES_MAX)
        .map(|i| format!("- {{match: r.io/a{i}, mode: allow}}\n"))
        .collect();
    let placements = [
        format!("{bomb}rules: [{{match: r.io/a, root: {{tofu: true}}}}]\n"),
        format!("rules:\n  - match: r.io/a\n    root: {{tofu: true}}\n{in_rule}"),
        "rules:\n  - match: r.io/a\n    root: {tofu: true}\n    signers: [{name: a, keys: [&a0 [x, x], *a0]}]\n"
            .to_owned(),
        format!("{bomb}rules:\n  - match: r.io/a\n    root: {{tofu: true}}\n    signers: *a9\n"),
        format!("{bomb}rules:\n  - match: r.io/a\n    root:\n      keys: *a9\n"),
        format!("{bomb}rules:\n  - *a9\n"),
    ];
    for text in placements {
        let started = Instant::now();
        let err = Policy::parse(&text, "bomb.yaml", &no_files).expect_err("the bomb is refused");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "too slow ({err}) on:\n{}",
            crate::tuf::error::excerpt(&text)
        );
    }
    // The rule after the last allowed one is skipped unread, aliases and all.
    let nested: Vec<String> = (0..10)
        .map(|i| match i {
            0 => "&a0 [x, x, x, x, x, x, x, x, x, x]".to_owned(),
            _ => format!("&a{i} [{}]", vec![format!("*a{}", i - 1); 10].join(", ")),
        })
        .collect();
    let skipped = format!("rules:\n{many}- [{}]\n", nested.join(", "));
    let started = Instant::now();
    let err = Policy::parse(&skipped, "bomb.yaml", &no_files).expect_err("the bomb is refused");
    assert!(started.elapsed() < Duration::from_secs(2), "{err}");
    assert!(err.to_string().contains("more than 10000 rules"), "{err}");
}

#[test]
fn aliases_of_accepted_values_cannot_multiply_memory() {
    let ids = vec![ID_A; 1000].join(", ");
    let mut text = format!("rules:\n- match: r.io/a\n  root: {{keys: &k [{ids}]}}\n");
    for i in 1..RULES_MAX {
        text.push_str(&format!("- {{match: r.io/a{i}, root: {{keys: *k}}}}\n"));
    }
    let err = Policy::parse(&text, "wide.yaml", &no_files).expect_err("10^7 key IDs");
    assert!(err.to_string().contains("aliases expanded"), "{err}");

    let signer = format!("&s {{name: a, keys: [{ids}]}}");
    let text = format!(
        "rules:\n- match: r.io/a\n  root: {{tofu: true}}\n  signers: [{signer}{}]\n",
        ", *s".repeat(50_000)
    );
    let started = Instant::now();
    let err = Policy::parse(&text, "deep.yaml", &no_files).expect_err("5 * 10^7 key IDs");
    assert!(err.to_string().contains("aliases expanded"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(2), "{err}");
}

#[test]
fn size_is_bounded() {
    let big = format!("rules: []\n#{}\n", "x".repeat(TEXT_MAX));
    let err = Policy::parse(&big, "big.yaml", &no_files).expect_err("over 1 MiB");
    assert!(
        err.to_string().starts_with("big.yaml: the policy is"),
        "{err}"
    );

    let rules = |n: usize| -> String {
        let mut text = String::from("rules:\n");
        for i in 0..n {
            text.push_str(&format!("- {{match: r.io/a{i}, mode: allow}}\n"));
        }
        text
    };
    let many = rules(RULES_MAX + 1);
    assert!(many.len() < TEXT_MAX);
    let err = Policy::parse(&many, "many.yaml", &no_files).expect_err("too many rules");
    assert!(err.to_string().contains("more than 10000 rules"), "{err}");
    assert_eq!(parse(&rules(RULES_MAX)).rules.len(), RULES_MAX);
}

proptest::proptest! {
    /// Whatever the text, parsing returns; a policy that parses has a rule for each entry.
    #[test]
    fn parse_never_panics(text in "(rules|match|root|tofu|keys|signers|[-:&*!{}\\[\\],|>'\" \n]|r\\.io/a|true|1){0,60}") {
        let _ = Policy::parse(&text, "fuzz.yaml", &no_files);
    }

    /// Truncating a valid policy anywhere gives an answer, never a panic.
    #[test]
    fn truncated_policies_never_panic(cut in 0usize..200) {
        let text = format!(
            "version: 1\nrules:\n  - match: &m r.io/a/*\n    root: &r {{keys: [{ID_A}]}}\n    signers: [alice, {{name: bob, keys: [{ID_B}]}}]\n    threshold: 2\n  - {{match: r.io/b, root: *r}}\n"
        );
        let end = cut.min(text.len());
        let _ = Policy::parse(&text[..end], "cut.yaml", &no_files);
    }
}
