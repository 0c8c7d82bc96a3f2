//! Canonical JSON: the parser never panics, and what it accepts encodes to bytes that parse
//! back to the same canonical form. (Like Go's canonical encoder, ours writes control
//! characters in strings raw, which strict JSON, and so our parser, refuses: those outputs
//! are only checked for being deterministic.) The writer that works while scanning, without a
//! tree, writes the same bytes as encoding the parsed tree.
#![no_main]

use libfuzzer_sys::fuzz_target;
use notarium::tuf::cjson;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = cjson::parse(data) else {
        return;
    };
    let mut writer = cjson::CanonicalWriter::new();
    cjson::scan(data, &mut writer).expect("what parses scans");
    let streamed = writer.finish();
    let Ok(once) = cjson::encode(&value) else {
        assert!(streamed.is_err(), "the writer refuses what encode refuses");
        return;
    };
    assert_eq!(streamed.expect("the writer writes what encode writes"), once);
    assert_eq!(cjson::encode(&value).expect("encodes again"), once);
    if once.iter().any(|&b| b < 0x20) {
        return;
    }
    let reparsed = cjson::parse(&once).expect("canonical output parses");
    assert_eq!(cjson::encode(&reparsed).expect("encodes again"), once);
});
