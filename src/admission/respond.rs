//! Turning verdicts into an AdmissionResponse: the JSONPatch that pins images, the denial that
//! names each image and why, warnings, and the audit record of a break-glass.

use std::collections::BTreeMap;

use kube_core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview};
use kube_core::{DynamicObject, TypeMeta};
use serde_json::json;

use super::pods::ImageAt;
use super::{warns, Hook};
use crate::enforce::Outcome;
use crate::policy::ImageRef;

/// The audit annotation key of a break-glass (the API server prefixes it with the webhook's name).
pub(super) const AUDIT_KEY: &str = "break-glass";
/// The longest denial message sent back; the API server shows it to the user.
const MAX_MESSAGE: usize = 4000;
/// The most warnings sent back, and the longest of each.
const MAX_WARNINGS: usize = 16;
const MAX_WARNING: usize = 400;

fn v1_types() -> TypeMeta {
    TypeMeta {
        api_version: "admission.k8s.io/v1".to_owned(),
        kind: "AdmissionReview".to_owned(),
    }
}

fn review(mut response: AdmissionResponse) -> AdmissionReview<DynamicObject> {
    response.types = v1_types();
    let mut review = response.into_review();
    review.types = v1_types();
    review
}

fn shorten(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

/// The review as the API server reads it. `patch` is a byte string in the API, which JSON
/// carries as base64; the library's type would write an array of numbers.
pub(super) fn encode(
    review: &AdmissionReview<DynamicObject>,
) -> Result<Vec<u8>, serde_json::Error> {
    let mut value = serde_json::to_value(review)?;
    if let Some(patch) = value.pointer_mut("/response/patch") {
        if let Some(numbers) = patch.as_array() {
            let bytes: Vec<u8> = numbers
                .iter()
                .filter_map(|n| n.as_u64().and_then(|n| u8::try_from(n).ok()))
                .collect();
            *patch = serde_json::Value::String(base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                bytes,
            ));
        }
    }
    serde_json::to_vec(&value)
}

/// A request that could not be read: denied, with the reason (and its uid, when one was found).
pub(super) fn malformed(why: &str, uid: Option<String>) -> AdmissionReview<DynamicObject> {
    let mut response = AdmissionResponse::invalid(shorten(format!("notarium: {why}"), MAX_MESSAGE));
    response.result.code = 400;
    response.uid = uid.unwrap_or_default();
    review(response)
}

/// Admitted without a check.
pub(super) fn allow(request: &AdmissionRequest<DynamicObject>) -> AdmissionReview<DynamicObject> {
    review(AdmissionResponse::from(request))
}

/// Denied, with the reason.
pub(super) fn deny(
    request: &AdmissionRequest<DynamicObject>,
    why: &str,
) -> AdmissionReview<DynamicObject> {
    let mut response =
        AdmissionResponse::from(request).deny(shorten(format!("notarium: {why}"), MAX_MESSAGE));
    response.result.code = 403;
    review(response)
}

/// What the verdicts on one object's images add up to.
pub(super) struct Answer {
    /// JSON pointer → the pinned reference, for each image to pin.
    pins: Vec<(String, String)>,
    /// Each denied image and why.
    denied: Vec<String>,
    /// Each image admitted although not verified (warn rules, break-glass), and why.
    warnings: Vec<String>,
    /// Images admitted by break-glass.
    broken: Vec<String>,
    /// The break-glass annotation's name, for messages.
    annotation: String,
}

impl Answer {
    pub(super) fn new(
        images: &[ImageAt],
        outcomes: &BTreeMap<String, Outcome>,
        break_glass: bool,
        annotation: &str,
    ) -> Answer {
        let mut answer = Answer {
            pins: Vec::new(),
            denied: Vec::new(),
            warnings: Vec::new(),
            broken: Vec::new(),
            annotation: annotation.to_owned(),
        };
        for at in images {
            let Some(outcome) = outcomes.get(&at.image) else {
                answer.denied.push(format!(
                    "{} (container {}): not checked",
                    at.image, at.container
                ));
                continue;
            };
            let verdict = &outcome.verdict;
            let reasons = verdict.reasons.join("; ");
            if verdict.allowed {
                if let (Some(digest), Some(pinned)) = (verdict.digest, &verdict.pinned) {
                    let already = ImageRef::parse(&at.image)
                        .ok()
                        .and_then(|r| r.digest().copied())
                        == Some(digest);
                    if !already {
                        answer.pins.push((at.pointer.clone(), pinned.clone()));
                    }
                }
            } else if warns(outcome) {
                answer.warnings.push(format!(
                    "{}: not verified (rule in warn mode): {reasons}",
                    at.image
                ));
            } else if break_glass && verdict.break_glass {
                answer.broken.push(at.image.clone());
                answer.warnings.push(format!(
                    "{}: admitted by break-glass ({annotation}): {reasons}",
                    at.image
                ));
            } else {
                answer.denied.push(format!(
                    "{} (container {}): {reasons}",
                    at.image, at.container
                ));
            }
        }
        answer.broken.sort();
        answer.broken.dedup();
        answer
    }

    /// Whether break-glass admitted anything.
    pub(super) fn broke_glass(&self) -> bool {
        self.denied.is_empty() && !self.broken.is_empty()
    }

    /// The images break-glass admitted.
    pub(super) fn broken_for(&self) -> &[String] {
        &self.broken
    }

    /// The metric labels: decision and reason.
    pub(super) fn label(&self) -> (&'static str, &'static str) {
        if !self.denied.is_empty() {
            ("deny", "not_signed")
        } else if !self.broken.is_empty() {
            ("break_glass", "break_glass")
        } else if !self.warnings.is_empty() {
            ("warn", "not_signed")
        } else {
            ("allow", "signed")
        }
    }

    /// The response for `hook`.
    pub(super) fn respond(
        &self,
        request: &AdmissionRequest<DynamicObject>,
        hook: Hook,
    ) -> AdmissionReview<DynamicObject> {
        if !self.denied.is_empty() {
            let mut denied = self.denied.clone();
            denied.dedup();
            return deny(
                request,
                &format!(
                    "image{} not signed as the policy requires: {}",
                    if denied.len() == 1 { "" } else { "s" },
                    denied.join("; ")
                ),
            );
        }
        let mut response = AdmissionResponse::from(request);
        if !self.warnings.is_empty() {
            let mut warnings: Vec<String> = self
                .warnings
                .iter()
                .map(|w| shorten(format!("notarium: {w}"), MAX_WARNING))
                .collect();
            warnings.dedup();
            warnings.truncate(MAX_WARNINGS);
            response.warnings = Some(warnings);
        }
        if self.broke_glass() {
            response.audit_annotations.insert(
                AUDIT_KEY.to_owned(),
                shorten(
                    format!(
                        "{}=true admitted: {}",
                        self.annotation,
                        self.broken.join(", ")
                    ),
                    MAX_MESSAGE,
                ),
            );
        }
        if hook == Hook::Mutate && !self.pins.is_empty() {
            let ops: Vec<serde_json::Value> = self
                .pins
                .iter()
                .map(|(path, value)| json!({"op": "replace", "path": path, "value": value}))
                .collect();
            match serde_json::from_value::<json_patch::Patch>(serde_json::Value::Array(ops))
                .map_err(|e| e.to_string())
                .and_then(|patch| {
                    response
                        .clone()
                        .with_patch(patch)
                        .map_err(|e| e.to_string())
                }) {
                Ok(patched) => response = patched,
                Err(e) => return deny(request, &format!("could not build the patch: {e}")),
            }
        }
        review(response)
    }
}
