//! Where a workload keeps its pod spec, and the images in it: every container, init container
//! and ephemeral container, each with the JSON pointer a patch replaces it at.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Pod, PodSpec, ReplicationController};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// One image of a pod spec, and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImageAt {
    /// The JSON pointer of the `image` field, e.g. `/spec/template/spec/containers/1/image`.
    pub(crate) pointer: String,
    /// The container's name, for messages.
    pub(crate) container: String,
    /// The image reference as written.
    pub(crate) image: String,
}

/// The kinds that carry a pod spec, by API group and kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Workload {
    Pod,
    Deployment,
    ReplicaSet,
    StatefulSet,
    DaemonSet,
    ReplicationController,
    Job,
    CronJob,
}

fn workload(group: &str, kind: &str) -> Option<Workload> {
    Some(match (group, kind) {
        ("", "Pod") => Workload::Pod,
        ("", "ReplicationController") => Workload::ReplicationController,
        ("apps", "Deployment") => Workload::Deployment,
        ("apps", "ReplicaSet") => Workload::ReplicaSet,
        ("apps", "StatefulSet") => Workload::StatefulSet,
        ("apps", "DaemonSet") => Workload::DaemonSet,
        ("batch", "Job") => Workload::Job,
        ("batch", "CronJob") => Workload::CronJob,
        _ => return None,
    })
}

fn typed<T: DeserializeOwned>(object: &Value, kind: &str) -> Result<T, String> {
    serde_json::from_value(object.clone()).map_err(|e| format!("the {kind} does not parse: {e}"))
}

/// The images of `object`, of API `group` and `kind`: `Ok(None)` for a kind that runs no pod
/// spec, an error for a workload whose spec does not parse or names no image.
pub(crate) fn images(
    group: &str,
    kind: &str,
    object: &Value,
) -> Result<Option<Vec<ImageAt>>, String> {
    let Some(workload) = workload(group, kind) else {
        return Ok(None);
    };
    let template = "/spec/template/spec";
    let (spec, base): (Option<PodSpec>, &str) = match workload {
        Workload::Pod => (typed::<Pod>(object, kind)?.spec, "/spec"),
        Workload::Deployment => (
            typed::<Deployment>(object, kind)?
                .spec
                .and_then(|s| s.template.spec),
            template,
        ),
        Workload::ReplicaSet => (
            typed::<ReplicaSet>(object, kind)?
                .spec
                .and_then(|s| s.template)
                .and_then(|t| t.spec),
            template,
        ),
        Workload::StatefulSet => (
            typed::<StatefulSet>(object, kind)?
                .spec
                .and_then(|s| s.template.spec),
            template,
        ),
        Workload::DaemonSet => (
            typed::<DaemonSet>(object, kind)?
                .spec
                .and_then(|s| s.template.spec),
            template,
        ),
        Workload::ReplicationController => (
            typed::<ReplicationController>(object, kind)?
                .spec
                .and_then(|s| s.template)
                .and_then(|t| t.spec),
            template,
        ),
        Workload::Job => (
            typed::<Job>(object, kind)?
                .spec
                .and_then(|s| s.template.spec),
            template,
        ),
        Workload::CronJob => (
            typed::<CronJob>(object, kind)?
                .spec
                .and_then(|s| s.job_template.spec)
                .and_then(|s| s.template.spec),
            "/spec/jobTemplate/spec/template/spec",
        ),
    };
    let Some(spec) = spec else {
        return Err(format!("the {kind} has no pod spec"));
    };
    let mut out = Vec::new();
    let mut add = |list: &str, index: usize, name: &str, image: Option<&String>| match image {
        Some(image) => {
            out.push(ImageAt {
                pointer: format!("{base}/{list}/{index}/image"),
                container: name.to_owned(),
                image: image.clone(),
            });
            Ok(())
        }
        None => Err(format!("container {name:?} of the {kind} names no image")),
    };
    for (i, c) in spec.containers.iter().enumerate() {
        add("containers", i, &c.name, c.image.as_ref())?;
    }
    for (i, c) in spec.init_containers.iter().flatten().enumerate() {
        add("initContainers", i, &c.name, c.image.as_ref())?;
    }
    for (i, c) in spec.ephemeral_containers.iter().flatten().enumerate() {
        add("ephemeralContainers", i, &c.name, c.image.as_ref())?;
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn pointers_follow_each_kind() {
        let pod_spec = json!({
            "containers": [{"name": "a", "image": "nginx:1"}, {"name": "b", "image": "r.io/b@sha256:00"}],
            "initContainers": [{"name": "i", "image": "busybox"}],
            "ephemeralContainers": [{"name": "e", "image": "debug"}],
        });
        let pod =
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": pod_spec});
        let got = images("", "Pod", &pod)
            .expect("parses")
            .expect("a workload");
        let pointers: Vec<&str> = got.iter().map(|i| i.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            [
                "/spec/containers/0/image",
                "/spec/containers/1/image",
                "/spec/initContainers/0/image",
                "/spec/ephemeralContainers/0/image"
            ]
        );
        let cron = json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c"},
            "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": pod_spec}}}}});
        let got = images("batch", "CronJob", &cron)
            .expect("parses")
            .expect("a workload");
        assert_eq!(
            got[0].pointer,
            "/spec/jobTemplate/spec/template/spec/containers/0/image"
        );
        let deploy = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"selector": {}, "template": {"spec": pod_spec}}});
        let got = images("apps", "Deployment", &deploy)
            .expect("parses")
            .expect("a workload");
        assert_eq!(got[1].pointer, "/spec/template/spec/containers/1/image");
        assert_eq!(got[1].image, "r.io/b@sha256:00");
    }

    #[test]
    fn other_kinds_run_no_pod_spec_and_bad_specs_are_errors() {
        assert_eq!(images("", "ConfigMap", &json!({"data": {}})), Ok(None));
        assert!(images("", "Pod", &json!({"spec": {"containers": "nope"}})).is_err());
        assert!(images("", "Pod", &json!({"spec": {"containers": [{"name": "x"}]}})).is_err());
        assert!(images("apps", "Deployment", &json!({"spec": {"selector": {}}})).is_err());
    }
}
