//! The admission webhook: AdmissionReview `admission.k8s.io/v1` in, a decision out. Every image
//! a workload runs is checked by the enforcer; the mutating hook pins each to the digest that
//! was signed, the validating hook denies what is not signed as the policy demands.
//!
//! What is never a way around the check (the known bypasses of other webhooks): an object's
//! `ownerReferences` are not looked at; UPDATEs are checked like CREATEs. What is admitted
//! without a check, because it runs no new pod spec: DELETE and CONNECT, subresources other
//! than `pods/ephemeralcontainers` (`/scale` carries no pod spec, and the pods it makes are
//! checked themselves; `/status` changes no image), objects already being deleted, and kinds
//! without a pod spec.

#![warn(missing_docs)]

pub mod metrics;
mod pods;
mod respond;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kube_core::admission::{AdmissionRequest, AdmissionReview, Operation};
use kube_core::DynamicObject;
use serde_json::Value;

use crate::enforce::{Enforcer, Outcome};
use crate::policy::Mode;

pub use metrics::AdmissionMetrics;

/// The annotation that, when a rule allows it, admits what that rule would deny.
pub const BREAK_GLASS_ANNOTATION: &str = "notarium.io/break-glass";
/// The default internal deadline, below the webhooks' `timeoutSeconds: 10`.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(8);
/// The largest AdmissionReview read. An UPDATE carries the object and `oldObject`, each up to
/// etcd's 1.5 MiB, in JSON that may be escaped further.
pub const MAX_REVIEW: usize = 8 * 1024 * 1024;
/// The most distinct images one object may ask about.
const MAX_IMAGES: usize = 256;

/// Which webhook is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    /// `POST /k8s/mutate`: pins images to their signed digests (and denies unsigned ones).
    Mutate,
    /// `POST /k8s/validate`: denies unsigned images.
    Validate,
}

impl Hook {
    fn name(self) -> &'static str {
        match self {
            Hook::Mutate => "mutate",
            Hook::Validate => "validate",
        }
    }
}

/// The webhook: an enforcer, a deadline, the break-glass annotation and metrics.
#[derive(Debug)]
pub struct Admission {
    enforcer: Arc<Enforcer>,
    deadline: Duration,
    break_glass: String,
    metrics: AdmissionMetrics,
}

impl Admission {
    /// A webhook over `enforcer`, answering within `deadline`, counting into `metrics`.
    pub fn new(
        enforcer: Arc<Enforcer>,
        deadline: Duration,
        metrics: AdmissionMetrics,
    ) -> Admission {
        Admission {
            enforcer,
            deadline,
            break_glass: BREAK_GLASS_ANNOTATION.to_owned(),
            metrics,
        }
    }

    /// The same with another break-glass annotation name.
    pub fn with_break_glass_annotation(mut self, name: impl Into<String>) -> Admission {
        self.break_glass = name.into();
        self
    }

    /// The enforcer behind the webhook.
    pub fn enforcer(&self) -> &Arc<Enforcer> {
        &self.enforcer
    }

    /// Answers one AdmissionReview body with the AdmissionReview to send back (always a
    /// review: a malformed request is denied in one, never answered with an error status).
    pub async fn review(&self, hook: Hook, body: &[u8]) -> Vec<u8> {
        let started = Instant::now();
        let (review, namespace, decision, reason) = self.decide(hook, body).await;
        self.metrics
            .observe(hook.name(), decision, reason, &namespace, started.elapsed());
        respond::encode(&review).unwrap_or_else(|_| {
            br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"","allowed":false,"status":{"message":"could not encode the answer"}}}"#.to_vec()
        })
    }

    async fn decide(
        &self,
        hook: Hook,
        body: &[u8],
    ) -> (
        AdmissionReview<DynamicObject>,
        String,
        &'static str,
        &'static str,
    ) {
        let review: AdmissionReview<DynamicObject> = match serde_json::from_slice(body) {
            Ok(r) => r,
            Err(e) => {
                return (
                    respond::malformed(&format!("not an AdmissionReview: {e}"), loose_uid(body)),
                    String::new(),
                    "deny",
                    "malformed",
                )
            }
        };
        let request: AdmissionRequest<DynamicObject> = match review.try_into() {
            Ok(r) => r,
            Err(_) => {
                return (
                    respond::malformed("the AdmissionReview carries no request", loose_uid(body)),
                    String::new(),
                    "deny",
                    "malformed",
                )
            }
        };
        let namespace = request.namespace.clone().unwrap_or_default();
        if let Some(reason) = skipped(&request) {
            return (respond::allow(&request), namespace, "allow", reason);
        }
        let Some(object) = &request.object else {
            return (
                respond::deny(&request, "the request carries no object to check"),
                namespace,
                "deny",
                "malformed",
            );
        };
        let value = match serde_json::to_value(object) {
            Ok(v) => v,
            Err(e) => {
                return (
                    respond::deny(&request, &format!("the object cannot be read: {e}")),
                    namespace,
                    "deny",
                    "malformed",
                )
            }
        };
        let images = match pods::images(&request.kind.group, &request.kind.kind, &value) {
            Ok(Some(images)) => images,
            Ok(None) => return (respond::allow(&request), namespace, "allow", "no_pod_spec"),
            Err(why) => {
                return (
                    respond::deny(&request, &why),
                    namespace,
                    "deny",
                    "malformed",
                )
            }
        };
        let mut distinct: Vec<String> = images.iter().map(|i| i.image.clone()).collect();
        distinct.sort();
        distinct.dedup();
        if distinct.len() > MAX_IMAGES {
            return (
                respond::deny(&request, &format!("more than {MAX_IMAGES} distinct images")),
                namespace,
                "deny",
                "malformed",
            );
        }
        let outcomes = self.check(&distinct).await;
        let break_glass = value
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(&self.break_glass))
            .and_then(Value::as_str)
            == Some("true");
        let answer = respond::Answer::new(&images, &outcomes, break_glass, &self.break_glass);
        if answer.broke_glass() {
            tracing::warn!(
                namespace = %namespace,
                name = %request.name,
                kind = %request.kind.kind,
                user = %request.user_info.username.as_deref().unwrap_or(""),
                images = %answer.broken_for().join(", "),
                "break-glass: admitted images the policy denies"
            );
            self.metrics.break_glass(&namespace);
        }
        let (decision, reason) = answer.label();
        (answer.respond(&request, hook), namespace, decision, reason)
    }

    /// Checks every image concurrently; one that is not decided within the deadline gets its
    /// rule's failure mode (denied, or admitted with a warning under a `warn` rule).
    async fn check(&self, images: &[String]) -> BTreeMap<String, Outcome> {
        let deadline = self.deadline;
        let checks = images.iter().map(|image| async move {
            match tokio::time::timeout(deadline, self.enforcer.check(image)).await {
                Ok(outcome) => outcome,
                Err(_) => self.enforcer.undecided(
                    image,
                    format!(
                        "not decided within {} ms: the trust server did not answer in time",
                        deadline.as_millis()
                    ),
                ),
            }
        });
        futures_util::future::join_all(checks)
            .await
            .into_iter()
            .map(|o| (o.image.clone(), o))
            .collect()
    }
}

/// The request's `uid` from a review that does not parse as a whole, so that even its denial
/// is one the API server accepts (it checks that the uid is echoed).
fn loose_uid(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    value
        .pointer("/request/uid")
        .and_then(Value::as_str)
        .filter(|uid| uid.len() <= 128)
        .map(str::to_owned)
}

/// Why a request is admitted without looking at its images, if it is.
fn skipped(request: &AdmissionRequest<DynamicObject>) -> Option<&'static str> {
    match request.operation {
        Operation::Delete => return Some("delete"),
        Operation::Connect => return Some("connect"),
        Operation::Create | Operation::Update => {}
    }
    match request.sub_resource.as_deref() {
        None | Some("") | Some("ephemeralcontainers") => {}
        Some(_) => return Some("subresource"),
    }
    if request
        .object
        .as_ref()
        .is_some_and(|o| o.metadata.deletion_timestamp.is_some())
    {
        return Some("being_deleted");
    }
    None
}

/// Whether a verdict's mode admits it although it is denied.
fn warns(outcome: &Outcome) -> bool {
    !outcome.verdict.allowed && outcome.verdict.mode == Mode::Warn
}

#[cfg(test)]
mod tests;
