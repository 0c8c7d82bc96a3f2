//! Metadata the server writes itself: snapshot and timestamp bodies and the signed envelope
//! (docs/protocol.md §6.3).

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::tuf::cjson::{quote, Number, Value};
use crate::tuf::metadata::{Expires, FileMeta, Signature};

/// `{"_type":"Snapshot","expires":…,"meta":{role: meta…},"version":n}`; sign
/// `cjson::encode` of it.
pub fn snapshot_value(version: u64, expires: &Expires, meta: &BTreeMap<String, FileMeta>) -> Value {
    let meta = meta
        .iter()
        .map(|(role, file)| (role.clone(), file.to_value()))
        .collect();
    role_value("Snapshot", version, expires, Value::Object(meta))
}

/// `{"_type":"Timestamp","expires":…,"meta":{"snapshot":meta},"version":n}`; sign
/// `cjson::encode` of it.
pub fn timestamp_value(version: u64, expires: &Expires, snapshot: &FileMeta) -> Value {
    let meta = Value::object(vec![("snapshot", snapshot.to_value())]);
    role_value("Timestamp", version, expires, meta)
}

fn role_value(type_name: &str, version: u64, expires: &Expires, meta: Value) -> Value {
    Value::object(vec![
        ("_type", Value::string(type_name)),
        ("expires", Value::string(expires.as_str())),
        ("meta", meta),
        ("version", Value::Number(Number::from(version))),
    ])
}

/// The file to store and serve: `{"signed":<canonical>,"signatures":[{"keyid","method","sig"}…]}`,
/// the Go client's layout (docs/protocol.md §4.1) with `signed` embedded as the canonical bytes verbatim.
///
/// Canonical bytes write control characters in strings raw, which JSON parsers refuse; the
/// server only wraps its own snapshot and timestamp bodies, whose strings (role names, base64,
/// times) never contain any. Raw `<>&` and non-ASCII are fine.
pub fn envelope_bytes(canonical_signed: &[u8], signatures: &[Signature]) -> Vec<u8> {
    let mut out = Vec::with_capacity(canonical_signed.len() + 64 + signatures.len() * 200);
    out.extend_from_slice(b"{\"signed\":");
    out.extend_from_slice(canonical_signed);
    out.extend_from_slice(b",\"signatures\":[");
    for (i, sig) in signatures.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let entry = format!(
            "{{\"keyid\":\"{}\",\"method\":{},\"sig\":\"{}\"}}",
            sig.keyid,
            quote(&sig.method),
            STANDARD.encode(&sig.sig)
        );
        out.extend_from_slice(entry.as_bytes());
    }
    out.extend_from_slice(b"]}");
    out
}
