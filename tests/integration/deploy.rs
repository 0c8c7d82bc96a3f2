//! The Kubernetes manifests in `deploy/kubernetes`: every document is a real object of its kind
//! (read into its `k8s-openapi` type, and a field the type does not know fails the test), the
//! kustomization lists them all, kustomize reads them as we do, and the invariants the
//! webhook's safety rests on hold (`invariants`).

mod invariants;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize as _, Serialize};
use serde_json::Value;

/// One YAML document of a manifest file, as JSON.
#[derive(Debug, Clone)]
pub struct Doc {
    /// The file it came from, for messages.
    pub file: String,
    /// The document.
    pub value: Value,
}

impl Doc {
    /// `kind`.
    pub fn kind(&self) -> &str {
        self.value["kind"].as_str().unwrap_or("")
    }
}

/// The directory of the manifests.
fn manifest_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes")
}

/// Every `*.yaml` file of the directory but the kustomization, by name.
fn manifest_files() -> BTreeSet<String> {
    std::fs::read_dir(manifest_dir())
        .expect("deploy/kubernetes")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".yaml") && name != "kustomization.yaml")
        .collect()
}

/// The documents of a multi-document YAML text, empty ones left out.
fn documents(text: &str, file: &str) -> Vec<Doc> {
    serde_yaml_ng::Deserializer::from_str(text)
        .map(|document| Value::deserialize(document).unwrap_or_else(|e| panic!("{file}: {e}")))
        .filter(|value| !value.is_null())
        .map(|value| Doc {
            file: file.to_owned(),
            value,
        })
        .collect()
}

/// Every document of every manifest file.
pub fn all_documents() -> Vec<Doc> {
    manifest_files()
        .iter()
        .flat_map(|file| {
            let text = std::fs::read_to_string(manifest_dir().join(file)).expect("manifest");
            documents(&text, file)
        })
        .collect()
}

/// The one document of `kind`, as its type.
pub fn one<T: DeserializeOwned + Serialize>(docs: &[Doc], kind: &str) -> T {
    let found: Vec<&Doc> = docs.iter().filter(|d| d.kind() == kind).collect();
    assert_eq!(found.len(), 1, "exactly one {kind} in deploy/kubernetes");
    round_trip(found[0]).unwrap_or_else(|e| panic!("{e}"))
}

/// `doc` read into `T`, refused when writing it back out does not give the same JSON: a field
/// the type does not know (a misspelling, a field at the wrong level) is dropped on the way in,
/// because the `k8s-openapi` types ignore unknown fields, and is missing on the way out.
pub fn round_trip<T: DeserializeOwned + Serialize>(doc: &Doc) -> Result<T, String> {
    let typed: T = serde_json::from_value(doc.value.clone())
        .map_err(|e| format!("{}: not a valid {}: {e}", doc.file, doc.kind()))?;
    let back = serde_json::to_value(&typed).map_err(|e| format!("{}: {e}", doc.file))?;
    let mut differences = Vec::new();
    compare(&doc.value, &back, String::new(), &mut differences);
    if differences.is_empty() {
        Ok(typed)
    } else {
        Err(format!(
            "{}: {} reads differently (unknown or misspelt fields?): {}",
            doc.file,
            doc.kind(),
            differences.join("; ")
        ))
    }
}

/// The JSON paths where `written` and `read` differ.
fn compare(written: &Value, read: &Value, path: String, out: &mut Vec<String>) {
    match (written, read) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                match b.get(key) {
                    Some(other) => compare(value, other, format!("{path}/{key}"), out),
                    None => out.push(format!("{path}/{key} is not a field of the type")),
                }
            }
            for key in b.keys().filter(|key| !a.contains_key(*key)) {
                out.push(format!("{path}/{key} appears on reading"));
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                compare(x, y, format!("{path}/{i}"), out);
            }
        }
        _ if written == read => {}
        _ => out.push(format!("{path}: {written} reads as {read}")),
    }
}

/// Reads `doc` into the `k8s-openapi` type of its kind.
fn typed(doc: &Doc) -> Result<(), String> {
    use k8s_openapi::api::admissionregistration::v1 as admission;
    use k8s_openapi::api::{apps, core, policy};
    match doc.kind() {
        "ConfigMap" => round_trip::<core::v1::ConfigMap>(doc).map(drop),
        "Deployment" => round_trip::<apps::v1::Deployment>(doc).map(drop),
        "MutatingWebhookConfiguration" => {
            round_trip::<admission::MutatingWebhookConfiguration>(doc).map(drop)
        }
        "Namespace" => round_trip::<core::v1::Namespace>(doc).map(drop),
        "PodDisruptionBudget" => round_trip::<policy::v1::PodDisruptionBudget>(doc).map(drop),
        "Service" => round_trip::<core::v1::Service>(doc).map(drop),
        "ServiceAccount" => round_trip::<core::v1::ServiceAccount>(doc).map(drop),
        "ValidatingWebhookConfiguration" => {
            round_trip::<admission::ValidatingWebhookConfiguration>(doc).map(drop)
        }
        other => Err(format!("{}: no test knows the kind {other:?}", doc.file)),
    }
}

#[test]
fn every_manifest_is_a_real_object_of_its_kind() {
    let docs = all_documents();
    let errors: Vec<String> = docs.iter().filter_map(|doc| typed(doc).err()).collect();
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    let kinds: BTreeSet<&str> = docs.iter().map(Doc::kind).collect();
    let expected = BTreeSet::from([
        "ConfigMap",
        "Deployment",
        "MutatingWebhookConfiguration",
        "Namespace",
        "PodDisruptionBudget",
        "Service",
        "ServiceAccount",
        "ValidatingWebhookConfiguration",
    ]);
    assert_eq!(kinds, expected);
}

#[test]
fn a_misspelt_field_is_caught() {
    let docs = all_documents();
    let deployment = docs
        .iter()
        .find(|d| d.kind() == "Deployment")
        .expect("a Deployment");
    let mut misspelt = deployment.clone();
    let spec = misspelt.value["spec"]
        .as_object_mut()
        .expect("spec is a mapping");
    let replicas = spec.remove("replicas").expect("replicas");
    spec.insert("replica".to_owned(), replicas);
    let err = typed(&misspelt).expect_err("spec.replica is no field of a Deployment");
    assert!(err.contains("/spec/replica is not a field"), "{err}");

    let webhooks = docs
        .iter()
        .find(|d| d.kind() == "ValidatingWebhookConfiguration")
        .expect("a ValidatingWebhookConfiguration");
    let mut wrong_level = webhooks.clone();
    wrong_level.value["webhooks"][0]["clientConfig"]["path"] = Value::from("/k8s/validate");
    let err = typed(&wrong_level).expect_err("path belongs under clientConfig.service");
    assert!(err.contains("/clientConfig/path"), "{err}");
}

#[test]
fn the_kustomization_lists_every_manifest() {
    let text = std::fs::read_to_string(manifest_dir().join("kustomization.yaml"))
        .expect("kustomization.yaml");
    let kustomization: Value = serde_yaml_ng::from_str(&text).expect("YAML");
    let listed: Vec<String> = kustomization["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|r| r.as_str().expect("a file name").to_owned())
        .collect();
    let unique: BTreeSet<String> = listed.iter().cloned().collect();
    assert_eq!(unique.len(), listed.len(), "no file listed twice");
    assert_eq!(unique, manifest_files());
}

/// `kubectl kustomize` builds what `kubectl apply -k deploy/kubernetes` would send, without a
/// cluster; its objects must be ours, read the same way. (`kubectl apply --dry-run=client` and
/// `kubectl create --dry-run=client`, with or without `--validate=false`, still ask an API
/// server for its resource list, which CI has none of.) Skipped when kubectl is missing, except
/// under `CI=true`, where kubectl must be there.
#[test]
fn kubectl_reads_the_manifests_as_we_do() {
    let output = match std::process::Command::new("kubectl")
        .arg("kustomize")
        .arg(manifest_dir())
        .output()
    {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            assert_ne!(
                std::env::var("CI").as_deref(),
                Ok("true"),
                "kubectl must be installed in CI (apt-get install kubectl)"
            );
            eprintln!("skipped: kubectl is not installed (apt-get install kubectl)");
            return;
        }
        Err(e) => panic!("could not run kubectl: {e}"),
    };
    assert!(
        output.status.success(),
        "kubectl kustomize: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let built = documents(
        &String::from_utf8(output.stdout).expect("UTF-8"),
        "kubectl kustomize",
    );
    let key = |doc: &Doc| serde_json::to_string(&doc.value).expect("JSON");
    let mut ours: Vec<String> = all_documents().iter().map(key).collect();
    let mut theirs: Vec<String> = built.iter().map(key).collect();
    ours.sort();
    theirs.sort();
    assert_eq!(theirs, ours, "kustomize reads the same objects");
}
