//! What is admitted without a check, and how verdicts become a response.

use std::collections::BTreeMap;

use kube_core::admission::{AdmissionRequest, AdmissionReview};
use kube_core::DynamicObject;
use serde_json::{json, Value};

use super::pods::ImageAt;
use super::respond::Answer;
use super::*;
use crate::policy::{Digest, Verdict};

fn request(operation: &str, sub: Option<&str>, object: Value) -> AdmissionRequest<DynamicObject> {
    let review: AdmissionReview<DynamicObject> = serde_json::from_value(json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "subResource": sub,
            "name": "p",
            "namespace": "default",
            "operation": operation,
            "userInfo": {"username": "admin"},
            "object": object,
            "oldObject": null,
            "dryRun": false,
        }
    }))
    .expect("a review");
    review.try_into().expect("a request")
}

fn pod() -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "a", "image": "r.example.com/a:1"}]}})
}

#[test]
fn what_is_admitted_unchecked() {
    assert_eq!(skipped(&request("DELETE", None, pod())), Some("delete"));
    assert_eq!(skipped(&request("CONNECT", None, pod())), Some("connect"));
    assert_eq!(
        skipped(&request("UPDATE", Some("status"), pod())),
        Some("subresource")
    );
    assert_eq!(
        skipped(&request("UPDATE", Some("scale"), pod())),
        Some("subresource")
    );
    assert_eq!(
        skipped(&request("UPDATE", Some("ephemeralcontainers"), pod())),
        None
    );
    assert_eq!(skipped(&request("UPDATE", None, pod())), None);
    assert_eq!(skipped(&request("CREATE", None, pod())), None);
    let mut deleting = pod();
    deleting["metadata"]["deletionTimestamp"] = json!("2026-12-01T00:00:00Z");
    assert_eq!(
        skipped(&request("UPDATE", None, deleting)),
        Some("being_deleted")
    );
    // ownerReferences are never a reason.
    let mut owned = pod();
    owned["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet",
        "name": "rs", "uid": "1", "controller": true}]);
    assert_eq!(skipped(&request("CREATE", None, owned)), None);
}

fn verdict(allowed: bool, mode: Mode, break_glass: bool) -> Verdict {
    let digest = Digest([1; 32]);
    Verdict {
        allowed,
        digest: allowed.then_some(digest),
        pinned: allowed.then(|| format!("r.example.com/a:1@{digest}")),
        signers: Vec::new(),
        expires: None,
        reasons: vec![if allowed {
            "signed by targets"
        } else {
            "not signed"
        }
        .to_owned()],
        mode,
        break_glass,
    }
}

fn answer(
    verdict: Verdict,
    image: &str,
    break_glass: bool,
) -> (Answer, AdmissionReview<DynamicObject>) {
    let images = vec![ImageAt {
        pointer: "/spec/containers/0/image".to_owned(),
        container: "a".to_owned(),
        image: image.to_owned(),
    }];
    let outcomes = BTreeMap::from([(
        image.to_owned(),
        Outcome {
            image: image.to_owned(),
            verdict,
        },
    )]);
    let a = Answer::new(&images, &outcomes, break_glass, BREAK_GLASS_ANNOTATION);
    let review = a.respond(&request("CREATE", None, pod()), Hook::Mutate);
    (a, review)
}

fn response(review: &AdmissionReview<DynamicObject>) -> Value {
    let bytes = super::respond::encode(review).expect("encodes");
    serde_json::from_slice::<Value>(&bytes).expect("json")["response"].clone()
}

#[test]
fn a_signed_image_is_pinned_once() {
    let (a, review) = answer(
        verdict(true, Mode::Enforce, false),
        "r.example.com/a:1",
        false,
    );
    assert_eq!(a.label(), ("allow", "signed"));
    let r = response(&review);
    assert_eq!(r["allowed"], true);
    assert_eq!(r["uid"], "705ab4f5-6393-11e8-b7cc-42010a800002");
    assert_eq!(r["patchType"], "JSONPatch");
    let patch = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        r["patch"].as_str().expect("patch"),
    )
    .expect("base64");
    let ops: Value = serde_json::from_slice(&patch).expect("json");
    assert_eq!(
        ops,
        json!([{"op": "replace", "path": "/spec/containers/0/image",
        "value": format!("r.example.com/a:1@{}", Digest([1; 32]))}])
    );
    // Already pinned to the signed digest: nothing to patch.
    let pinned = format!("r.example.com/a:1@{}", Digest([1; 32]));
    let (_, review) = answer(verdict(true, Mode::Enforce, false), &pinned, false);
    assert!(response(&review).get("patch").is_none_or(Value::is_null));
}

#[test]
fn denials_warnings_and_break_glass() {
    let (a, review) = answer(
        verdict(false, Mode::Enforce, false),
        "r.example.com/a:1",
        false,
    );
    assert_eq!(a.label(), ("deny", "not_signed"));
    let r = response(&review);
    assert_eq!(r["allowed"], false);
    assert_eq!(r["status"]["code"], 403);
    assert!(r["status"]["message"]
        .as_str()
        .unwrap_or("")
        .contains("r.example.com/a:1 (container a): not signed"));
    let (a, review) = answer(
        verdict(false, Mode::Warn, false),
        "r.example.com/a:1",
        false,
    );
    assert_eq!(a.label(), ("warn", "not_signed"));
    let r = response(&review);
    assert_eq!(r["allowed"], true);
    assert!(r["warnings"][0]
        .as_str()
        .unwrap_or("")
        .contains("warn mode"));
    // The annotation without the rule's consent changes nothing.
    let (_, review) = answer(
        verdict(false, Mode::Enforce, false),
        "r.example.com/a:1",
        true,
    );
    assert_eq!(response(&review)["allowed"], false);
    // With it: admitted, warned and audited.
    let (a, review) = answer(
        verdict(false, Mode::Enforce, true),
        "r.example.com/a:1",
        true,
    );
    assert!(a.broke_glass());
    let r = response(&review);
    assert_eq!(r["allowed"], true);
    assert!(r["auditAnnotations"]["break-glass"]
        .as_str()
        .unwrap_or("")
        .contains("r.example.com/a:1"));
    // Break-glass allowed by the rule but not asked for: denied.
    let (_, review) = answer(
        verdict(false, Mode::Enforce, true),
        "r.example.com/a:1",
        false,
    );
    assert_eq!(response(&review)["allowed"], false);
}
