//! `POST /k8s/mutate` and `/k8s/validate` on `serve --policy`: pods pinned to signed digests,
//! unsigned images denied, reviews that are not reviews denied, never a 500.

use axum::http::{Method, StatusCode};
use base64::Engine as _;
use serde_json::{json, Value};

use crate::kit;
use crate::verify::{app_with_policy, publish_targets};
use crate::{initialised, TestApp, GUN};

const POLICY: &str = "rules:\n  - match: \"example.com/**\"\n    root:\n      tofu: true\n  - match: \"warn.example/**\"\n    root:\n      tofu: true\n    mode: warn\n";

fn review(operation: &str, object: Value) -> Vec<u8> {
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "e911857d-c318-11e8-bbad-025000000001",
            "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
            "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
            "requestKind": {"group": "apps", "version": "v1", "kind": "Deployment"},
            "requestResource": {"group": "apps", "version": "v1", "resource": "deployments"},
            "name": "web",
            "namespace": "team",
            "operation": operation,
            "userInfo": {"username": "dev", "groups": ["system:authenticated"]},
            "object": object,
            "oldObject": null,
            "dryRun": false,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
        }
    })
    .to_string()
    .into_bytes()
}

fn deployment(images: &[&str]) -> Value {
    let containers: Vec<Value> = images
        .iter()
        .enumerate()
        .map(|(i, image)| json!({"name": format!("c{i}"), "image": image}))
        .collect();
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "team"},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": containers}}}})
}

async fn ask(app: &TestApp, hook: &str, body: Vec<u8>) -> Value {
    let r = app
        .request(
            Method::POST,
            &format!("/k8s/{hook}"),
            Some("application/json"),
            body,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()["response"].clone()
}

fn patch_of(response: &Value) -> Value {
    let b64 = response["patch"].as_str().expect("a base64 patch");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("base64");
    serde_json::from_slice(&bytes).expect("a JSON patch")
}

#[tokio::test]
async fn signed_images_are_pinned_and_unsigned_denied() {
    let (app, _) = app_with_policy(POLICY).await;
    let (repo, root, _) = initialised(&app).await;
    let content = b"manifest of v1";
    publish_targets(&app, &repo, &root, 3, json!({ "v1": kit::target(content) })).await;
    let digest = format!("sha256:{}", notarium::storage::sha256_hex(content));
    let signed = format!("{GUN}:v1");

    let r = ask(
        &app,
        "mutate",
        review("CREATE", deployment(&[&signed, &signed])),
    )
    .await;
    assert_eq!(r["uid"], "e911857d-c318-11e8-bbad-025000000001");
    assert_eq!(r["allowed"], true, "{r}");
    assert_eq!(r["patchType"], "JSONPatch");
    let pinned = format!("{signed}@{digest}");
    assert_eq!(
        patch_of(&r),
        json!([
            {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": pinned},
            {"op": "replace", "path": "/spec/template/spec/containers/1/image", "value": pinned},
        ])
    );
    // The patched object again: nothing left to pin (reinvocation is safe).
    let r = ask(
        &app,
        "mutate",
        review("UPDATE", deployment(&[&pinned, &pinned])),
    )
    .await;
    assert_eq!(r["allowed"], true, "{r}");
    assert!(r.get("patch").is_none_or(Value::is_null), "{r}");
    // Validating: the same object is allowed, without a patch.
    let r = ask(&app, "validate", review("CREATE", deployment(&[&signed]))).await;
    assert_eq!(r["allowed"], true, "{r}");
    assert!(r.get("patch").is_none_or(Value::is_null), "{r}");
    // One unsigned image among signed ones: denied by both hooks, naming it.
    let unsigned = format!("{GUN}:v2");
    for hook in ["mutate", "validate"] {
        let r = ask(
            &app,
            hook,
            review("UPDATE", deployment(&[&signed, &unsigned])),
        )
        .await;
        assert_eq!(r["allowed"], false, "{r}");
        let message = r["status"]["message"].as_str().unwrap_or("");
        assert!(
            message.contains(&unsigned) && !message.contains(&format!("{signed} ")),
            "{message}"
        );
        assert_eq!(r["status"]["code"], 403);
    }
    // A warn rule admits with a warning.
    let r = ask(
        &app,
        "validate",
        review("CREATE", deployment(&["warn.example/x:1"])),
    )
    .await;
    assert_eq!(r["allowed"], true, "{r}");
    assert!(
        r["warnings"][0]
            .as_str()
            .unwrap_or("")
            .contains("warn.example/x:1"),
        "{r}"
    );
    // DELETE is allowed without a look.
    let r = ask(&app, "validate", review("DELETE", deployment(&[&unsigned]))).await;
    assert_eq!(r["allowed"], true, "{r}");

    // Metrics: decisions by hook, decision, reason and namespace; decision cache hits.
    let metrics = app.get("/metrics").await.text();
    let line = |name: &str, labels: &[&str]| {
        metrics
            .lines()
            .any(|l| l.starts_with(name) && labels.iter().all(|want| l.contains(want)))
    };
    assert!(
        line(
            "notarium_admissions_total{",
            &[
                "decision=\"allow\"",
                "hook=\"mutate\"",
                "namespace=\"team\"",
                "reason=\"signed\""
            ]
        ),
        "{metrics}"
    );
    assert!(
        line(
            "notarium_admissions_total{",
            &["decision=\"deny\"", "hook=\"validate\""]
        ),
        "{metrics}"
    );
    assert!(
        line(
            "notarium_decision_cache_total{",
            &["result=\"hit\"", "source=\"local\""]
        ),
        "{metrics}"
    );
    assert!(
        line(
            "notarium_admission_duration_seconds_bucket{",
            &["hook=\"mutate\""]
        ),
        "{metrics}"
    );
}

#[tokio::test]
async fn what_is_not_a_review_is_denied_not_failed() {
    let (app, _) = app_with_policy(POLICY).await;
    for body in [
        b"not json".to_vec(),
        br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#.to_vec(),
        review(
            "CREATE",
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
            "spec": {"template": {"spec": {"containers": "nope"}}}}),
        ),
        review("CREATE", json!(null)),
    ] {
        let r = ask(&app, "validate", body).await;
        assert_eq!(r["allowed"], false, "{r}");
        assert!(
            !r["status"]["message"].as_str().unwrap_or("").is_empty(),
            "{r}"
        );
    }
}
