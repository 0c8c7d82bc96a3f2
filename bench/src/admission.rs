//! The admission rows (`--sections admission`, issue 16): latency of `POST /k8s/mutate` for a
//! Pod of five images, each the one signed tag of its own repository, through the trust
//! server's own webhook (`serve --policy`: the local source) and through `notarium admission`
//! reading the bench's notarium as a remote trust server (the remote source).
//!
//! Warm: the same review again and again, so locally every image is a decision-cache hit and
//! remotely the trust directory already holds every file. Cold: five new repositories per
//! review, so every image is a decision-cache miss and, remotely, a first read of its whole
//! chain. Every answer is checked (allowed, its `uid`, a patch pinning all five images to their
//! signed digests), so a webhook that fails cannot look fast.

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context as _};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use bytes::Bytes;
use futures_util::stream::{self, StreamExt as _};
use ring::digest::{digest, SHA256};
use serde_json::{json, Value};

use crate::client::Client;
use crate::servers::{Server, Tls};
use crate::{pct, prepare_new, run_publishes, sorted, Row};

/// The prefix of every repository of the section (a first component with a dot stays the
/// registry, so an image's name is its GUN).
const PREFIX: &str = "registry.bench/admission";
/// The one tag each repository signs (`prepare_new` publishes one target, `t0`).
const TAG: &str = "t0";
/// Images in the Pod of every review, each of its own repository.
const IMAGES: usize = 5;
/// Reviews in flight, the rows of each source and cache state.
const IN_FLIGHT: [usize; 2] = [1, 32];
/// Publishes in flight while the repositories are made.
const PUBLISH_IN_FLIGHT: usize = 32;

/// Printed under the table when the section ran.
pub const NOTE: &str = "Admission rows: `POST /k8s/mutate` with a Pod of 5 images, 5 signed \
    tags of 5 repositories, notarium's alone (— elsewhere). Local source: `serve --policy`. \
    Remote source: `notarium admission` reading the bench's notarium. Warm: the same review \
    repeated; cold: 5 new repositories per review.";

/// Sizes of the section.
pub struct Plan {
    /// Reviews per warm row (the same review each time).
    pub warm: usize,
    /// Reviews per cold row, each of five new repositories.
    pub cold: usize,
}

/// One AdmissionReview to send, and the patch its answer must carry.
struct Review {
    uid: String,
    body: Bytes,
    patch: Value,
}

/// Runs the section: a notarium with `--policy` (local source), then `notarium admission`
/// with the same rule pointed at `notarium` (remote source).
pub async fn run(
    plan: &Plan,
    dir: &Path,
    tls: &Tls,
    bin: &Path,
    notarium: &Server,
) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    let policy = dir.join("admission-local.yaml");
    std::fs::write(&policy, policy_text(None)?)?;
    let served = Server::start_notarium(
        dir,
        tls,
        bin,
        "notarium-admission-data",
        &[OsString::from("--policy"), policy.into_os_string()],
    )
    .await
    .context("starting notarium with --policy")?;
    let result = source_rows(plan, "local", &served.client, &served.client, &mut rows).await;
    served.stop().await;
    result?;

    let policy = dir.join("admission-remote.yaml");
    std::fs::write(
        &policy,
        policy_text(Some((notarium.client.base.as_str(), tls.ca.as_path())))?,
    )?;
    let trust = dir.join("admission-trust");
    let webhook = Server::start_admission(tls, bin, &policy, &trust)
        .await
        .context("starting notarium admission")?;
    let result = source_rows(plan, "remote", &notarium.client, &webhook.client, &mut rows).await;
    webhook.stop().await;
    result?;
    Ok(rows)
}

/// One rule for every repository of the section, root trusted on first use; with a remote
/// trust server and its CA when given.
fn policy_text(remote: Option<(&str, &Path)>) -> anyhow::Result<String> {
    let mut rule = format!("rules:\n  - match: \"{PREFIX}/**\"\n");
    if let Some((server, ca)) = remote {
        // JSON strings are YAML double-quoted scalars.
        let ca = ca.to_str().context("the CA path is not UTF-8")?;
        rule.push_str(&format!(
            "    server: {}\n    ca: {}\n",
            serde_json::to_string(server)?,
            serde_json::to_string(ca)?
        ));
    }
    rule.push_str("    root:\n      tofu: true\n");
    Ok(rule)
}

/// The four rows of one source: warm and cold, 1 and 32 in flight, each p50 and p99.
/// Repositories are published to `trust`; reviews go to `webhook`.
async fn source_rows(
    plan: &Plan,
    source: &str,
    trust: &Client,
    webhook: &Client,
    rows: &mut Vec<Row>,
) -> anyhow::Result<()> {
    let warm = publish_pods(trust, &format!("{PREFIX}/{source}-warm"), 1)
        .await?
        .pop()
        .context("no warm pod")?;
    let warm = review(&format!("{source}-warm"), &warm);
    for in_flight in IN_FLIGHT {
        eprintln!("  {source} source, warm, {in_flight} in flight…");
        // Fills the caches and opens the connections, so no measured review pays a handshake.
        // Twice: a remote decision is kept only once the changefeed, which the first review
        // starts following, has been read.
        for _ in 0..2 {
            measure(webhook, std::iter::repeat_n(&warm, 32), 32).await?;
        }
        let latencies = measure(webhook, std::iter::repeat_n(&warm, plan.warm), in_flight).await?;
        push(
            rows,
            source,
            "warm (the same review)",
            in_flight,
            &latencies,
        );
    }
    for in_flight in IN_FLIGHT {
        let n = plan.cold;
        eprintln!(
            "  {source} source, cold, {in_flight} in flight: publishing {} repositories…",
            n * IMAGES
        );
        let pods = publish_pods(trust, &format!("{PREFIX}/{source}-cold{in_flight}"), n).await?;
        let reviews: Vec<Review> = pods
            .iter()
            .enumerate()
            .map(|(i, images)| review(&format!("{source}-cold{in_flight}-{i}"), images))
            .collect();
        measure(webhook, std::iter::repeat_n(&warm, 32), 32).await?;
        let latencies = measure(webhook, &reviews, in_flight).await?;
        let state = format!("cold ({IMAGES} new repositories per review)");
        push(rows, source, &state, in_flight, &latencies);
    }
    Ok(())
}

/// Publishes `pods * IMAGES` repositories to `client`, one signed tag each; the images of each
/// pod.
async fn publish_pods(
    client: &Client,
    prefix: &str,
    pods: usize,
) -> anyhow::Result<Vec<Vec<String>>> {
    let work = prepare_new(client, prefix, pods * IMAGES, 1).await?;
    let images: Vec<String> = work.iter().map(|(gun, _)| format!("{gun}:{TAG}")).collect();
    run_publishes(client, work, PUBLISH_IN_FLIGHT).await?;
    Ok(images.chunks(IMAGES).map(<[String]>::to_vec).collect())
}

/// Sends `reviews`, `in_flight` at once, checking every answer; the sorted latencies.
async fn measure<'a>(
    webhook: &Client,
    reviews: impl IntoIterator<Item = &'a Review>,
    in_flight: usize,
) -> anyhow::Result<Vec<Duration>> {
    let results: Vec<anyhow::Result<Duration>> = stream::iter(reviews)
        .map(|r| admit(webhook, r))
        .buffer_unordered(in_flight)
        .collect()
        .await;
    Ok(sorted(results.into_iter().collect::<anyhow::Result<_>>()?))
}

/// One `POST /k8s/mutate`, which must admit the pod with exactly its expected patch.
async fn admit(webhook: &Client, review: &Review) -> anyhow::Result<Duration> {
    let answer = webhook
        .post_bytes("/k8s/mutate", "application/json", review.body.clone())
        .await?;
    let text = String::from_utf8_lossy(&answer.body);
    if answer.status != 200 {
        bail!(
            "POST /k8s/mutate ({}): {} {text}",
            review.uid,
            answer.status
        );
    }
    let value: Value = serde_json::from_slice(&answer.body)
        .with_context(|| format!("POST /k8s/mutate ({}): {text}", review.uid))?;
    let response = &value["response"];
    if response["uid"] != review.uid.as_str()
        || response["allowed"] != Value::Bool(true)
        || response["patchType"] != "JSONPatch"
    {
        bail!(
            "POST /k8s/mutate ({}): not admitted with a patch: {text}",
            review.uid
        );
    }
    let patch: Option<Value> = response["patch"]
        .as_str()
        .and_then(|p| B64.decode(p).ok())
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    if patch.as_ref() != Some(&review.patch) {
        bail!(
            "POST /k8s/mutate ({}): patch {patch:?}, expected {}",
            review.uid,
            review.patch
        );
    }
    Ok(answer.took)
}

/// A CREATE of a Pod running `images`, as the API server sends it, and the patch that pins
/// each image to the digest of its tag (`kit::target` lists the sha256 of the name).
fn review(uid: &str, images: &[String]) -> Review {
    let digest = format!("sha256:{}", hex::encode(digest(&SHA256, TAG.as_bytes())));
    let containers: Vec<Value> = images
        .iter()
        .enumerate()
        .map(|(i, image)| json!({"name": format!("c{i}"), "image": image}))
        .collect();
    let patch: Vec<Value> = images
        .iter()
        .enumerate()
        .map(|(i, image)| {
            json!({"op": "replace", "path": format!("/spec/containers/{i}/image"),
                "value": format!("{image}@{digest}")})
        })
        .collect();
    let kind = json!({"group": "", "version": "v1", "kind": "Pod"});
    let resource = json!({"group": "", "version": "v1", "resource": "pods"});
    let body = json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": kind,
            "resource": resource,
            "requestKind": kind,
            "requestResource": resource,
            "name": "bench",
            "namespace": "bench",
            "operation": "CREATE",
            "userInfo": {"username": "bench", "groups": ["system:authenticated"]},
            "object": {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "bench", "namespace": "bench"},
                "spec": {"containers": containers}},
            "oldObject": null,
            "dryRun": false,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
        }
    });
    Review {
        uid: uid.to_owned(),
        body: Bytes::from(body.to_string()),
        patch: Value::Array(patch),
    }
}

/// The p50 and p99 rows of one measurement.
fn push(rows: &mut Vec<Row>, source: &str, state: &str, in_flight: usize, latencies: &[Duration]) {
    for (name, p) in [("p50", 0.5), ("p99", 0.99)] {
        rows.push(Row {
            metric: format!(
                "POST /k8s/mutate, Pod of {IMAGES} images, {source} source, {state}, \
                 {in_flight} in flight, {name}"
            ),
            values: [("notarium", pct(latencies, p))].into_iter().collect(),
            unit: "ms",
            higher_is_better: false,
        });
    }
}
