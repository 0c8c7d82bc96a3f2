//! The role files a publish uploads: edited from the current file's `signed` object (so that
//! every member this client does not know, a target's `custom` say, stays as it was), one
//! version up, with the notary client's expiry, signed over the canonical bytes.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};

use crate::signing::SigningKey;
use crate::tuf::cjson::{self, Number, Value};
use crate::tuf::metadata::{envelope_bytes, Expires, FileMeta};

use super::{Edit, PublishError};

/// How long targets and delegations are valid: the notary client's 3 years, reset at every
/// signing (docs/protocol.md §4.3).
pub(super) fn targets_lifetime() -> Duration {
    Duration::days(3 * 365)
}

/// How long a client-signed snapshot is valid (3 years, as the notary client).
fn snapshot_lifetime() -> Duration {
    Duration::days(3 * 365)
}

/// The target meta Docker writes for an image: the manifest's sha256 and its length.
pub fn target_meta(sha256: &[u8; 32], length: u64) -> Value {
    Value::object(vec![
        (
            "hashes",
            Value::object(vec![("sha256", Value::string(STANDARD.encode(sha256)))]),
        ),
        ("length", Value::Number(Number::from(length))),
    ])
}

/// The `signed` object of `current` (a role file) with the edit made, or of a new empty
/// delegation at version 1.
pub(super) fn edited_targets(
    current: Option<&[u8]>,
    edit: &Edit,
    now: DateTime<Utc>,
) -> Result<Value, String> {
    let mut signed = match current {
        Some(bytes) => signed_of(bytes)?,
        None => Value::object(vec![
            ("_type", Value::string("Targets")),
            (
                "delegations",
                Value::object(vec![
                    ("keys", Value::Object(Vec::new())),
                    ("roles", Value::Array(Vec::new())),
                ]),
            ),
            ("targets", Value::Object(Vec::new())),
            ("version", Value::int(0)),
        ]),
    };
    let mut targets = match member(&signed, "targets") {
        Some(Value::Object(members)) => members.clone(),
        Some(Value::Null) | None => Vec::new(),
        Some(_) => return Err("its targets are not an object".to_owned()),
    };
    targets.retain(|(name, _)| name != edit.name());
    if let Edit::Add { name, meta } = edit {
        targets.push((name.clone(), meta.clone()));
    }
    set(&mut signed, "targets", Value::Object(targets));
    bump(&mut signed, now + targets_lifetime())?;
    Ok(signed)
}

/// The `signed` object of `snapshot` with the meta of every file in `changed` replaced.
pub(super) fn edited_snapshot(
    snapshot: &[u8],
    changed: &BTreeMap<String, Vec<u8>>,
    now: DateTime<Utc>,
) -> Result<Value, String> {
    let mut signed = signed_of(snapshot)?;
    let mut meta = match member(&signed, "meta") {
        Some(Value::Object(members)) => members.clone(),
        _ => return Err("its meta is not an object".to_owned()),
    };
    for (role, bytes) in changed {
        meta.retain(|(name, _)| name != role);
        meta.push((role.clone(), FileMeta::of(bytes).to_value()));
    }
    set(&mut signed, "meta", Value::Object(meta));
    bump(&mut signed, now + snapshot_lifetime())?;
    Ok(signed)
}

/// The file to upload: `signed` and a signature by each key over its canonical bytes.
pub(super) fn signed_file(signed: &Value, keys: &[&SigningKey]) -> Result<Vec<u8>, PublishError> {
    let canonical = cjson::encode(signed)
        .map_err(|e| PublishError::Refused(format!("cannot encode metadata: {e}")))?;
    let signatures = keys
        .iter()
        .map(|key| key.sign(&canonical))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PublishError::Refused(format!("signing failed: {e}")))?;
    Ok(envelope_bytes(&canonical, &signatures))
}

/// The `signed` member of a metadata file.
fn signed_of(bytes: &[u8]) -> Result<Value, String> {
    let file = cjson::parse(bytes).map_err(|e| format!("not readable: {e}"))?;
    match member(&file, "signed") {
        Some(signed @ Value::Object(_)) => Ok(signed.clone()),
        _ => Err("it has no signed object".to_owned()),
    }
}

/// `version` one up and `expires` set.
fn bump(signed: &mut Value, expires: DateTime<Utc>) -> Result<(), String> {
    let version = match member(signed, "version") {
        Some(Value::Number(n)) => n
            .canonical()
            .map_err(|_| "its version is not an integer".to_owned())?,
        _ => return Err("it has no version".to_owned()),
    };
    let next = u64::try_from(version)
        .ok()
        .and_then(|v| v.checked_add(1))
        .ok_or_else(|| "its version cannot go up".to_owned())?;
    set(signed, "version", Value::Number(Number::from(next)));
    let expires = Expires::from_datetime(expires);
    set(signed, "expires", Value::string(expires.as_str()));
    Ok(())
}

fn member<'v>(value: &'v Value, name: &str) -> Option<&'v Value> {
    value.get(name)
}

/// Sets member `name` of an object (the last of equal names wins when encoding).
pub(super) fn set(value: &mut Value, name: &str, new: Value) {
    if let Value::Object(members) = value {
        members.retain(|(n, _)| n != name);
        members.push((name.to_owned(), new));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
            .expect("time")
            .with_timezone(&Utc)
    }

    #[test]
    fn a_new_delegation_starts_at_version_one_and_edits_keep_unknown_members() {
        let add = Edit::Add {
            name: "v1".to_owned(),
            meta: target_meta(&[7; 32], 525),
        };
        let signed = edited_targets(None, &add, now()).expect("built");
        let text = String::from_utf8(cjson::encode(&signed).expect("encodes")).expect("utf8");
        assert_eq!(
            text,
            r#"{"_type":"Targets","delegations":{"keys":{},"roles":[]},"expires":"2029-01-01T03:04:05Z","targets":{"v1":{"hashes":{"sha256":"BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc="},"length":525}},"version":1}"#
        );
        let current = br#"{"signed":{"_type":"Targets","delegations":{"keys":{},"roles":[]},"expires":"2027-01-01T00:00:00Z","extra":1,"targets":{"old":{"hashes":{"sha256":"AAAA"},"length":1,"custom":{"k":"v"}},"v1":{"hashes":{"sha256":"AAAA"},"length":2}},"version":4},"signatures":[]}"#;
        let signed = edited_targets(Some(current), &add, now()).expect("edited");
        let text = String::from_utf8(cjson::encode(&signed).expect("encodes")).expect("utf8");
        assert!(text.contains(r#""extra":1"#), "{text}");
        assert!(text.contains(r#""custom":{"k":"v"}"#), "{text}");
        assert!(text.contains(r#""length":525"#), "{text}");
        assert!(text.contains(r#""version":5"#), "{text}");
        let remove = Edit::Remove {
            name: "old".to_owned(),
        };
        let signed = edited_targets(Some(current), &remove, now()).expect("edited");
        let text = String::from_utf8(cjson::encode(&signed).expect("encodes")).expect("utf8");
        assert!(!text.contains(r#""old""#), "{text}");
        assert!(edited_targets(Some(b"[]"), &remove, now()).is_err());
    }
}
