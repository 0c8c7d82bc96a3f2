use proptest::prelude::*;

use super::*;
use crate::tuf::fixtures;

fn canonical(json: &str) -> Result<String, Error> {
    let bytes = encode(&parse(json.as_bytes())?)?;
    Ok(String::from_utf8(bytes).expect("canonical output of valid input is UTF-8"))
}

#[test]
fn every_fixture_signature_verifies_over_the_reencoded_signed() {
    let mut checked = 0;
    for fixture in fixtures::all() {
        let pool = fixtures::key_pool(fixture.set);
        let document = parse(&fixture.bytes).expect("fixture parses");
        let signed = document.get("signed").expect("has signed");
        let message = encode(signed).expect("fixture encodes");
        let signatures = document
            .get("signatures")
            .and_then(Value::as_array)
            .expect("signatures");
        assert!(!signatures.is_empty());
        for sig in signatures {
            let keyid = sig.get("keyid").and_then(Value::as_str).expect("keyid");
            let method = sig.get("method").and_then(Value::as_str).expect("method");
            let raw = sig.get("sig").and_then(Value::as_str).expect("sig");
            let raw = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, raw)
                .expect("b64");
            let key = pool
                .get(&crate::tuf::key::KeyId::parse(keyid).expect("hex"))
                .unwrap_or_else(|| {
                    panic!(
                        "{}/{}.{}: no key {keyid}",
                        fixture.set, fixture.version, fixture.role
                    )
                });
            key.verify(method, &message, &raw).unwrap_or_else(|e| {
                panic!(
                    "{}/{}.{} by {keyid}: {e}",
                    fixture.set, fixture.version, fixture.role
                )
            });
            checked += 1;
        }
    }
    assert!(checked >= 70, "only {checked} signatures checked");
}

#[test]
fn reencoding_equals_the_transport_bytes_with_html_escapes_undone() {
    let mut saw_escape = false;
    for fixture in fixtures::all() {
        let text = String::from_utf8(fixture.bytes.clone()).expect("fixtures are UTF-8");
        let start = "{\"signed\":".len();
        let end = text.rfind(",\"signatures\":[").expect("Go client layout");
        let transport = &text[start..end];
        saw_escape |= transport.contains("\\u003c");
        let expected = transport
            .replace("\\u003c", "<")
            .replace("\\u003e", ">")
            .replace("\\u0026", "&")
            .replace("\\u2028", "\u{2028}")
            .replace("\\u2029", "\u{2029}");
        assert_eq!(
            canonical(transport).expect("encodes"),
            expected,
            "{}/{}",
            fixture.set,
            fixture.role
        );
    }
    assert!(saw_escape, "plain has a target named tag<with>&html");
}

#[test]
fn keys_sort_by_unescaped_bytes_unlike_olpc() {
    let input =
        r#"{"x\u003cy\u003e\u0026z":6,"\u2028":7,"a\"q":4,"e\u0301":5,"a!":3,"a b":2,"a":1}"#;
    let expected =
        "{\"a\":1,\"a b\":2,\"a!\":3,\"a\\\"q\":4,\"e\u{301}\":5,\"x<y>&z\":6,\"\u{2028}\":7}";
    assert_eq!(canonical(input).expect("encodes"), expected);
}

#[test]
fn numbers_go_through_float64() {
    let got =
        canonical("[2.0,1e3,-0,9007199254740993,1E+2,-5,0.0,1.5e1,-9223372036854775808,1e-400]");
    assert_eq!(
        got.expect("all integral"),
        "[2,1000,0,9007199254740992,100,-5,0,15,-9223372036854775808,0]"
    );
    let err = canonical("{\"custom\":2.5}").expect_err("fraction");
    assert_eq!(err.to_string(), "json: unsupported value: 2.5");
    assert!(
        canonical("9223372036854775807").is_err(),
        "rounds to 2^63, beyond int64"
    );
    assert!(
        parse(b"1e400").is_err(),
        "overflows float64, as Go's decoder refuses"
    );
    assert_eq!(Value::int(-3), parse(b"-3").expect("int"));
}

#[test]
fn depth_is_limited() {
    let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    parse(nested(MAX_DEPTH).as_bytes()).expect("at the limit");
    assert_eq!(
        parse(nested(MAX_DEPTH + 1).as_bytes()),
        Err(Error::TooDeep(MAX_DEPTH))
    );
    let deep_object = format!(
        "{}1{}",
        "{\"a\":".repeat(MAX_DEPTH + 1),
        "}".repeat(MAX_DEPTH + 1)
    );
    assert_eq!(
        parse(deep_object.as_bytes()),
        Err(Error::TooDeep(MAX_DEPTH))
    );
    parse(format!("[{}]", "1,".repeat(100_000) + "1").as_bytes()).expect("wide is fine");

    let mut built = Value::Null;
    for _ in 0..=MAX_DEPTH {
        built = Value::Array(vec![built]);
    }
    assert_eq!(encode(&built), Err(Error::TooDeep(MAX_DEPTH)));
}

#[test]
fn strings_are_strict_utf8_without_lone_surrogates() {
    for bad in [
        &b"\"\xff\""[..],
        b"\"\xc0\xaf\"",
        b"\"\xed\xa0\x80\"",
        b"\"ab\xe2\x82\"",
    ] {
        assert!(parse(bad).is_err(), "{bad:?}");
    }
    for bad in [
        r#""\ud800""#,
        r#""\udc00""#,
        r#""\ud800\u0041""#,
        r#""\ud800x""#,
        r#""\ud8""#,
    ] {
        assert!(parse(bad.as_bytes()).is_err(), "{bad}");
    }
    assert_eq!(parse(br#""\ud83d\ude00""#), Ok(Value::string("\u{1F600}")));
}

#[test]
fn escapes_are_decoded_then_written_raw() {
    let got =
        encode(&parse(br#"["a\nb\t\u0001\/\u00e9", "q\"b\\"]"#).expect("valid")).expect("encodes");
    assert_eq!(got, "[\"a\nb\t\u{1}/\u{e9}\",\"q\\\"b\\\\\"]".as_bytes());
}

#[test]
fn only_one_value_with_surrounding_whitespace() {
    parse(b" \t\r\n{} \n").expect("whitespace is fine");
    for bad in [&b""[..], b"{} x", b"{}{}", b"\xef\xbb\xbf{}", b"  "] {
        assert!(parse(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn grammar_errors() {
    for bad in [
        "01",
        "1.",
        ".5",
        "+1",
        "-",
        "1e",
        "1e+",
        "[1,]",
        "{\"a\":1,}",
        "{a:1}",
        "'a'",
        "tru",
        "nul",
        r#""\x""#,
        "\"a\u{1}b\"",
        "NaN",
        "Infinity",
        "[1 2]",
        "{\"a\" 1}",
        "\"unterminated",
        "[",
        "{\"a\":}",
        "-01",
        "0x10",
    ] {
        assert!(parse(bad.as_bytes()).is_err(), "{bad:?} must be refused");
    }
}

#[test]
fn duplicate_member_names_are_refused() {
    for json in [
        &br#"{"a":1,"b":0,"a":2}"#[..],
        br#"{"signed":{"version":1,"version":2}}"#,
        br#"[{"x":{"k":1,"\u006b":2}}]"#,
    ] {
        let err = parse(json).expect_err("duplicates are ambiguous");
        assert!(err.to_string().contains("duplicate member name"), "{err}");
    }
    assert!(
        parse(br#"{"a":{"a":1},"b":{"a":2}}"#).is_ok(),
        "same name at different levels"
    );
}

#[test]
fn quote_makes_valid_json() {
    let quoted = quote("a\"b\\c\nd<é");
    assert_eq!(quoted, "\"a\\\"b\\\\c\\u000ad<é\"");
    assert_eq!(parse(quoted.as_bytes()), Ok(Value::string("a\"b\\c\nd<é")));
}

/// Values with sorted, unique keys (what `parse` of canonical output yields).
fn sorted_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-(1i64 << 53)..=(1i64 << 53)).prop_map(Value::int),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Values whose objects may repeat keys and list them in any order.
fn unsorted_value() -> impl Strategy<Value = Value> {
    let key = prop_oneof![any::<String>(), "[ab!\" ]{0,3}"];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<i32>().prop_map(|n| Value::int(n.into())),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..6).prop_map(Value::Object),
        ]
    })
}

fn keys_sorted_and_unique(value: &Value) -> bool {
    match value {
        Value::Object(members) => {
            members
                .windows(2)
                .all(|w| w[0].0.as_bytes() < w[1].0.as_bytes())
                && members.iter().all(|(_, v)| keys_sorted_and_unique(v))
        }
        Value::Array(items) => items.iter().all(keys_sorted_and_unique),
        _ => true,
    }
}

proptest! {
    /// parse ∘ encode is the identity on values with sorted unique keys and integer numbers.
    #[test]
    fn parse_inverts_encode(value in sorted_value()) {
        let bytes = encode(&value).expect("encodable");
        prop_assert_eq!(parse(&bytes).expect("canonical output parses"), value);
    }

    /// encode is idempotent, and its objects come out sorted by raw key bytes with one member
    /// per key, the last occurrence winning.
    #[test]
    fn encode_is_idempotent_and_sorted(value in unsorted_value()) {
        let once = encode(&value).expect("encodable");
        let reparsed = parse(&once).expect("canonical output parses");
        prop_assert!(keys_sorted_and_unique(&reparsed));
        prop_assert_eq!(encode(&reparsed).expect("encodable"), once);
        if let Value::Object(members) = &value {
            for (key, _) in members {
                let want = value.get(key).map(|v| encode(v).expect("encodable"));
                prop_assert_eq!(reparsed.get(key).map(|v| encode(v).expect("encodable")), want);
            }
        }
    }

    /// No input makes the parser panic.
    #[test]
    fn parse_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = parse(&bytes);
    }

    /// Near-JSON input (JSON-ish characters) never makes the parser panic either.
    #[test]
    fn parse_never_panics_on_jsonish(text in "[\\[\\]{}\":,0-9eE.+\\-a-z\\\\u ]{0,64}") {
        let _ = parse(text.as_bytes());
    }
}
