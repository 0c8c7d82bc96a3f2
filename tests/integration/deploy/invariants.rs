//! What the manifests must say for the webhook to be safe and available: fail closed within
//! the API server's timeout, never gate its own namespace or kube-system, run locked down,
//! and wire the Service, the files and the flags to each other.

use std::collections::BTreeMap;

use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, RuleWithOperations, ServiceReference,
    ValidatingWebhookConfiguration, WebhookClientConfig,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, Namespace, PodSpec, Probe, Service, VolumeProjection,
};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{all_documents, one};

/// The `--deadline-ms` default of `notarium admission`.
const DEFAULT_DEADLINE_MS: i64 = 8000;
/// The longest `timeoutSeconds` the API server accepts.
const TIMEOUT_MAX: i32 = 30;

/// Every object, typed.
struct Objects {
    namespace: Namespace,
    deployment: Deployment,
    service: Service,
    pdb: PodDisruptionBudget,
    config_map: ConfigMap,
    mutating: MutatingWebhookConfiguration,
    validating: ValidatingWebhookConfiguration,
}

fn objects() -> Objects {
    let docs = all_documents();
    Objects {
        namespace: one(&docs, "Namespace"),
        deployment: one(&docs, "Deployment"),
        service: one(&docs, "Service"),
        pdb: one(&docs, "PodDisruptionBudget"),
        config_map: one(&docs, "ConfigMap"),
        mutating: one(&docs, "MutatingWebhookConfiguration"),
        validating: one(&docs, "ValidatingWebhookConfiguration"),
    }
}

impl Objects {
    fn pod(&self) -> &PodSpec {
        self.deployment
            .spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .expect("a pod template")
    }

    fn pod_labels(&self) -> BTreeMap<String, String> {
        self.deployment
            .spec
            .as_ref()
            .and_then(|s| s.template.metadata.as_ref())
            .and_then(|m| m.labels.clone())
            .expect("pod template labels")
    }

    fn container(&self) -> &Container {
        let containers = &self.pod().containers;
        assert_eq!(containers.len(), 1, "one container");
        &containers[0]
    }

    /// The value of `--NAME` in the container's arguments (`--NAME=V` or `--NAME V`).
    fn flag(&self, name: &str) -> Option<String> {
        let args = self.container().args.clone().unwrap_or_default();
        let long = format!("--{name}");
        args.iter().enumerate().find_map(|(i, arg)| {
            if let Some(value) = arg.strip_prefix(&format!("{long}=")) {
                Some(value.to_owned())
            } else if *arg == long {
                args.get(i + 1).cloned()
            } else {
                None
            }
        })
    }

    fn deadline_ms(&self) -> i64 {
        self.flag("deadline-ms")
            .map_or(DEFAULT_DEADLINE_MS, |v| v.parse().expect("a number"))
    }

    fn namespace_name(&self) -> String {
        self.namespace.metadata.name.clone().expect("a name")
    }

    /// Where the file at `path` in the container comes from.
    fn source_of(&self, path: &str) -> Source {
        let mounts = self.container().volume_mounts.clone().unwrap_or_default();
        let mount = mounts
            .iter()
            .filter(|m| path.starts_with(&format!("{}/", m.mount_path)))
            .max_by_key(|m| m.mount_path.len())
            .unwrap_or_else(|| panic!("{path} is on no volume"));
        let rest = &path[mount.mount_path.len() + 1..];
        let volume = self
            .pod()
            .volumes
            .iter()
            .flatten()
            .find(|v| v.name == mount.name)
            .unwrap_or_else(|| panic!("no volume {}", mount.name));
        if volume.empty_dir.is_some() {
            return Source::EmptyDir {
                read_only: mount.read_only == Some(true),
            };
        }
        let projected = volume.projected.as_ref().expect("emptyDir or projected");
        projected
            .sources
            .iter()
            .flatten()
            .find_map(|source| projected_key(source, rest, &self.config_map))
            .unwrap_or_else(|| panic!("{path}: no source of volume {} provides it", volume.name))
    }
}

/// Where a file of the container comes from.
#[derive(Debug, PartialEq, Eq)]
enum Source {
    ConfigMap { name: String, key: String },
    EmptyDir { read_only: bool },
    Secret { name: String, key: String },
}

/// The key of `source` projected at `path`, if any. A ConfigMap projected whole provides the
/// keys it has, so only the manifests' own ConfigMap (`ours`) can be projected whole.
fn projected_key(source: &VolumeProjection, path: &str, ours: &ConfigMap) -> Option<Source> {
    if let Some(config_map) = &source.config_map {
        let key = match &config_map.items {
            Some(items) => items.iter().find(|i| i.path == path)?.key.clone(),
            None => {
                assert_eq!(
                    ours.metadata.name.as_ref(),
                    Some(&config_map.name),
                    "a ConfigMap projected whole is the manifests' own"
                );
                let data = ours.data.as_ref()?;
                data.contains_key(path).then(|| path.to_owned())?
            }
        };
        return Some(Source::ConfigMap {
            name: config_map.name.clone(),
            key,
        });
    }
    let secret = source.secret.as_ref()?;
    // A secret without items is not used here: its keys cannot be told without the Secret.
    let item = secret.items.as_ref()?.iter().find(|i| i.path == path)?;
    Some(Source::Secret {
        name: secret.name.clone(),
        key: item.key.clone(),
    })
}

/// Whether `selector` selects objects labelled `labels`.
fn selects(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let by_labels = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let by_expressions = selector.match_expressions.iter().flatten().all(|e| {
        let values = e.values.clone().unwrap_or_default();
        match e.operator.as_str() {
            "In" => labels.get(&e.key).is_some_and(|v| values.contains(v)),
            "NotIn" => labels.get(&e.key).is_none_or(|v| !values.contains(v)),
            "Exists" => labels.contains_key(&e.key),
            "DoesNotExist" => !labels.contains_key(&e.key),
            other => panic!("unknown operator {other}"),
        }
    });
    let empty = selector.match_labels.is_none() && selector.match_expressions.is_none();
    !empty && by_labels && by_expressions
}

/// What one webhook of either kind must say, in common.
struct Hook<'a> {
    name: &'a str,
    versions: &'a [String],
    client: &'a WebhookClientConfig,
    failure_policy: Option<&'a str>,
    side_effects: &'a str,
    timeout: Option<i32>,
    namespace_selector: Option<&'a LabelSelector>,
    rules: &'a [RuleWithOperations],
}

fn check_hook(objects: &Objects, hook: &Hook<'_>, path: &str) {
    let name = hook.name;
    assert_eq!(hook.versions, ["v1"], "{name}: admission.k8s.io/v1 only");
    assert_eq!(hook.failure_policy, Some("Fail"), "{name}: fails closed");
    assert_eq!(hook.side_effects, "None", "{name}");
    let timeout = hook.timeout.expect("timeoutSeconds set");
    assert!(timeout <= TIMEOUT_MAX, "{name}: timeoutSeconds {timeout}");
    assert!(
        i64::from(timeout) * 1000 > objects.deadline_ms(),
        "{name}: the internal deadline ({} ms) answers before the API server's {timeout} s",
        objects.deadline_ms()
    );

    // The webhook's own namespace and kube-system are never gated by it.
    let selector = hook.namespace_selector.expect("a namespaceSelector");
    for namespace in ["kube-system", &objects.namespace_name()] {
        let labels = BTreeMap::from([(
            "kubernetes.io/metadata.name".to_owned(),
            namespace.to_owned(),
        )]);
        assert!(!selects(selector, &labels), "{name}: {namespace} excluded");
    }
    let labels = BTreeMap::from([(
        "kubernetes.io/metadata.name".to_owned(),
        "default".to_owned(),
    )]);
    assert!(selects(selector, &labels), "{name}: other namespaces gated");

    assert!(
        hook.client.url.is_none(),
        "{name}: called through the Service"
    );
    assert!(
        hook.client.ca_bundle.is_some(),
        "{name}: a caBundle placeholder for `admission certs`"
    );
    let service: &ServiceReference = hook.client.service.as_ref().expect("a service");
    assert_eq!(Some(&service.name), objects.service.metadata.name.as_ref());
    assert_eq!(
        Some(&service.namespace),
        objects.service.metadata.namespace.as_ref()
    );
    assert_eq!(service.path.as_deref(), Some(path), "{name}");
    let port = service.port.unwrap_or(443);
    let ports = objects
        .service
        .spec
        .as_ref()
        .and_then(|s| s.ports.clone())
        .unwrap_or_default();
    assert!(ports.iter().any(|p| p.port == port), "{name}: port {port}");

    // Every kind that holds a pod spec, on CREATE and UPDATE.
    for (group, resource) in [
        ("", "pods"),
        ("", "pods/ephemeralcontainers"),
        ("", "replicationcontrollers"),
        ("apps", "deployments"),
        ("apps", "replicasets"),
        ("apps", "statefulsets"),
        ("apps", "daemonsets"),
        ("batch", "jobs"),
        ("batch", "cronjobs"),
    ] {
        for operation in ["CREATE", "UPDATE"] {
            let has = |list: &Option<Vec<String>>, value: &str| {
                list.iter().flatten().any(|v| v == value || v == "*")
            };
            let covered = hook.rules.iter().any(|rule| {
                has(&rule.api_groups, group)
                    && has(&rule.api_versions, "v1")
                    && has(&rule.resources, resource)
                    && has(&rule.operations, operation)
            });
            assert!(covered, "{name}: {operation} of {group}/v1 {resource}");
        }
    }
}

#[test]
fn the_webhooks_fail_closed_in_time_and_spare_the_system_namespaces() {
    let objects = objects();
    let [mutating] = objects.mutating.webhooks.as_deref().expect("webhooks") else {
        panic!("one mutating webhook");
    };
    check_hook(
        &objects,
        &Hook {
            name: &mutating.name,
            versions: &mutating.admission_review_versions,
            client: &mutating.client_config,
            failure_policy: mutating.failure_policy.as_deref(),
            side_effects: &mutating.side_effects,
            timeout: mutating.timeout_seconds,
            namespace_selector: mutating.namespace_selector.as_ref(),
            rules: mutating.rules.as_deref().unwrap_or_default(),
        },
        "/k8s/mutate",
    );
    assert_eq!(mutating.reinvocation_policy.as_deref(), Some("IfNeeded"));

    let [validating] = objects.validating.webhooks.as_deref().expect("webhooks") else {
        panic!("one validating webhook");
    };
    check_hook(
        &objects,
        &Hook {
            name: &validating.name,
            versions: &validating.admission_review_versions,
            client: &validating.client_config,
            failure_policy: validating.failure_policy.as_deref(),
            side_effects: &validating.side_effects,
            timeout: validating.timeout_seconds,
            namespace_selector: validating.namespace_selector.as_ref(),
            rules: validating.rules.as_deref().unwrap_or_default(),
        },
        "/k8s/validate",
    );
}

#[test]
fn the_deployment_runs_two_locked_down_replicas() {
    let objects = objects();
    let spec = objects.deployment.spec.as_ref().expect("spec");
    assert_eq!(spec.replicas, Some(2));
    assert!(
        selects(&spec.selector, &objects.pod_labels()),
        "the Deployment selects its own pods"
    );
    let pod = objects.pod();
    let anti = pod
        .affinity
        .as_ref()
        .and_then(|a| a.pod_anti_affinity.as_ref())
        .and_then(|a| {
            a.preferred_during_scheduling_ignored_during_execution
                .as_ref()
        })
        .expect("preferred pod anti-affinity");
    assert!(anti.iter().any(|term| {
        term.pod_affinity_term.topology_key == "kubernetes.io/hostname"
            && term
                .pod_affinity_term
                .label_selector
                .as_ref()
                .is_some_and(|s| selects(s, &objects.pod_labels()))
    }));

    // The user the image runs as (the Dockerfile's USER), never root.
    let dockerfile = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Dockerfile"))
        .expect("Dockerfile");
    let image_user: i64 = dockerfile
        .lines()
        .filter_map(|l| l.strip_prefix("USER "))
        .next_back()
        .and_then(|u| u.split(':').next())
        .and_then(|u| u.trim().parse().ok())
        .expect("a numeric USER in the Dockerfile");
    let pod_security = pod.security_context.as_ref().expect("pod securityContext");
    assert_eq!(pod_security.run_as_non_root, Some(true));
    assert_eq!(pod_security.run_as_user, Some(image_user));
    assert_ne!(image_user, 0);

    let container = objects.container();
    let security = container
        .security_context
        .as_ref()
        .expect("securityContext");
    assert_eq!(security.run_as_non_root, Some(true));
    assert_eq!(security.read_only_root_filesystem, Some(true));
    assert_eq!(security.allow_privilege_escalation, Some(false));
    let drop = security.capabilities.as_ref().and_then(|c| c.drop.clone());
    assert_eq!(drop.as_deref(), Some(&["ALL".to_owned()][..]));
    for seccomp in [&security.seccomp_profile, &pod_security.seccomp_profile] {
        let kind = seccomp.as_ref().map(|p| p.type_.as_str());
        assert_eq!(kind, Some("RuntimeDefault"));
    }
    let resources = container.resources.as_ref().expect("resources");
    assert!(resources.requests.as_ref().is_some_and(|r| !r.is_empty()));
    assert!(resources
        .limits
        .as_ref()
        .is_some_and(|r| r.contains_key("memory")));

    // Health over the same HTTPS port the webhook listens on.
    let listen = objects.flag("listen").expect("--listen");
    let port: i32 = listen
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("--listen HOST:PORT");
    let ports = container.ports.clone().unwrap_or_default();
    assert!(ports.iter().any(|p| p.container_port == port));
    let health = |probe: &Option<Probe>| {
        let get = probe
            .as_ref()
            .and_then(|p| p.http_get.clone())
            .expect("an httpGet probe");
        assert_eq!(get.path.as_deref(), Some("/healthz"));
        assert_eq!(get.scheme.as_deref(), Some("HTTPS"));
        assert_eq!(get.port, IntOrString::Int(port));
    };
    health(&container.liveness_probe);
    health(&container.readiness_probe);
}

#[test]
fn the_flags_name_files_the_volumes_provide() {
    let objects = objects();
    let args = objects.container().args.clone().unwrap_or_default();
    assert_eq!(args.first().map(String::as_str), Some("admission"));

    let policy = objects.flag("policy").expect("--policy");
    let config_map_name = objects.config_map.metadata.name.clone().expect("name");
    let key = match objects.source_of(&policy) {
        Source::ConfigMap { name, key } if name == config_map_name => key,
        other => panic!("--policy {policy} comes from {other:?}"),
    };
    let data = objects.config_map.data.clone().unwrap_or_default();
    assert!(data.contains_key(&key), "the ConfigMap has {key}");

    // The Secret `admission certs` tells the operator to make: SERVICE-tls, tls.crt and tls.key.
    let secret = format!(
        "{}-tls",
        objects.service.metadata.name.as_deref().expect("name")
    );
    for (flag, key) in [("tls-cert", "tls.crt"), ("tls-key", "tls.key")] {
        let path = objects.flag(flag).unwrap_or_else(|| panic!("--{flag}"));
        assert_eq!(
            objects.source_of(&path),
            Source::Secret {
                name: secret.clone(),
                key: key.to_owned()
            },
            "--{flag}"
        );
    }
    let trust = objects.flag("trust-dir").expect("--trust-dir");
    assert_eq!(
        objects.source_of(&format!("{trust}/seen.json")),
        Source::EmptyDir { read_only: false },
        "the trust dir is writable with a read-only root filesystem"
    );
}

#[test]
fn the_service_and_the_budget_select_the_webhook_pods() {
    let objects = objects();
    let labels = objects.pod_labels();
    let spec = objects.service.spec.as_ref().expect("service spec");
    let selector = LabelSelector {
        match_labels: spec.selector.clone(),
        ..LabelSelector::default()
    };
    assert!(selects(&selector, &labels), "the Service selects the pods");
    let [port] = spec.ports.as_deref().expect("ports") else {
        panic!("one port");
    };
    assert_eq!(port.port, 443);
    assert_eq!(port.target_port, Some(IntOrString::Int(8443)));
    assert_eq!(objects.flag("listen").as_deref(), Some("0.0.0.0:8443"));

    let budget = objects.pdb.spec.as_ref().expect("PDB spec");
    assert_eq!(budget.min_available, Some(IntOrString::Int(1)));
    assert!(
        selects(budget.selector.as_ref().expect("selector"), &labels),
        "the PodDisruptionBudget selects the pods"
    );
    for namespace in [
        &objects.deployment.metadata.namespace,
        &objects.service.metadata.namespace,
        &objects.pdb.metadata.namespace,
        &objects.config_map.metadata.namespace,
    ] {
        assert_eq!(
            namespace.as_deref(),
            Some(objects.namespace_name().as_str())
        );
    }
}

#[test]
fn the_example_policy_loads_and_starts_in_warn_mode() {
    let objects = objects();
    let data = objects.config_map.data.unwrap_or_default();
    let text = data.get("policy.yaml").expect("policy.yaml");
    let no_files = |path: &std::path::Path| -> std::io::Result<Vec<u8>> {
        Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{} is not in the ConfigMap", path.display()),
        ))
    };
    let policy = notarium::policy::Policy::parse(text, "policy-configmap.yaml", &no_files)
        .unwrap_or_else(|e| panic!("{e}"));
    let catch_all = policy.rules.iter().find(|r| r.pattern == "**");
    assert_eq!(
        catch_all.map(|r| r.mode),
        Some(notarium::policy::Mode::Warn),
        "a catch-all warn rule, so no unmatched image is refused during the rollout"
    );
    for rule in &policy.rules {
        assert_ne!(
            rule.mode,
            notarium::policy::Mode::Enforce,
            "{}: a new installation starts in warn mode",
            rule.pattern
        );
        if rule.mode == notarium::policy::Mode::Warn {
            assert!(
                rule.server.is_some(),
                "{}: in the cluster there is no local store; name the trust server",
                rule.pattern
            );
        }
    }
}
