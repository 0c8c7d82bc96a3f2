//! The enforcement rows (`--sections verify`): `POST /v1/verify` of a notarium serving a trust
//! policy, with a warm decision cache (wrk) and with a cache miss on every request (a new
//! repository each time, so each request verifies a whole chain: root, timestamp, snapshot,
//! targets), and `notarium verify` run as a process, end to end, against notarium and against
//! notary-server as the remote, with an empty and with a remembered trust directory.
//!
//! notary-server has no verifier of its own: the `POST` rows have no value in its column. In
//! the `notarium verify` rows the columns name the remote the same command reads.

use std::cell::Cell;
use std::ffi::OsString;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use bytes::Bytes;
use futures_util::stream::{FuturesUnordered, StreamExt as _};
use ring::digest::{digest, SHA256};

use crate::client::Client;
use crate::closed_loop::Conn;
use crate::servers::{Server, Tls};
use crate::{pct, prepare_new, run_publishes, sorted, wrk, Row};

/// The prefix of every bench repository: a first component with a dot stays the registry
/// under Docker's normalisation, so the image's name is the GUN as published.
const PREFIX: &str = "registry.bench/verify";
/// The one tag each repository signs (`prepare_new` publishes one target, `t0`).
const TAG: &str = "t0";
/// Requests in flight for the cache-miss rows.
const MISS_IN_FLIGHT: usize = 8;
/// Connections of the warm-cache wrk run.
const WARM_CONNECTIONS: usize = 32;

/// Printed under the table when the section ran.
pub const NOTE: &str = "Verify rows: `POST /v1/verify` is notarium's alone (notary-server \
    has no verifier: — in its column). The `notarium verify` rows run the same notarium binary \
    as a client; their columns name the remote server it reads.";

/// Sizes of the section.
pub struct Plan {
    /// Repositories published for the cache-miss rows, each asked about once.
    pub repositories: usize,
    /// Seconds of the warm-cache wrk run.
    pub seconds: u64,
    /// Runs of `notarium verify` per case (the median is reported).
    pub runs: usize,
}

/// The policy the verifying server is started with: every repository, root trusted on first
/// use.
const POLICY: &str = "rules:\n  - match: \"**\"\n    root:\n      tofu: true\n";

/// Runs the section: starts a notarium with `--policy` for the `POST` rows, and reads the
/// already running `notarium` and `notary` with `notarium verify`.
pub async fn run(
    plan: &Plan,
    dir: &Path,
    tls: &Tls,
    bin: &Path,
    notarium: &Server,
    notary: &Server,
) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    let policy = dir.join("verify-policy.yaml");
    std::fs::write(&policy, POLICY)?;
    let served = Server::start_notarium(
        dir,
        tls,
        bin,
        "notarium-verify-data",
        &[OsString::from("--policy"), policy.into_os_string()],
    )
    .await
    .context("starting notarium with --policy")?;
    let result = served_rows(plan, dir, tls, &served, &mut rows).await;
    served.stop().await;
    result?;

    eprintln!("  notarium verify, {} runs per case…", plan.runs);
    let mut cold = Vec::new();
    let mut warm = Vec::new();
    for server in [notarium, notary] {
        let work = prepare_new(&server.client, &format!("{PREFIX}/cli"), 1, 1).await?;
        let image = format!("{}:{TAG}", work[0].0);
        run_publishes(&server.client, work, 1).await?;
        let (c, w) = cli_runs(plan.runs, dir, &tls.ca, bin, server, &image).await?;
        cold.push((server.kind.name(), pct(&c, 0.5)));
        warm.push((server.kind.name(), pct(&w, 0.5)));
    }
    let runs = plan.runs;
    rows.push(row(
        format!("notarium verify, one image, empty trust dir, median of {runs} runs"),
        "ms",
        false,
        cold,
    ));
    rows.push(row(
        format!("notarium verify, one image, warm trust dir, median of {runs} runs"),
        "ms",
        false,
        warm,
    ));
    Ok(rows)
}

/// The `POST /v1/verify` rows against `served`.
async fn served_rows(
    plan: &Plan,
    dir: &Path,
    tls: &Tls,
    served: &Server,
    rows: &mut Vec<Row>,
) -> anyhow::Result<()> {
    let client = &served.client;
    let warm = prepare_new(client, &format!("{PREFIX}/warm"), 1, 1).await?;
    let warm_image = format!("{}:{TAG}", warm[0].0);
    run_publishes(client, warm, 1).await?;
    // The first answer fills the decision cache; it must be an allowed one, or wrk would
    // measure cached denials.
    verify_once(client, &warm_image).await?;

    eprintln!("  POST /v1/verify, warm decision cache, {WARM_CONNECTIONS} connections…");
    let script = dir.join("verify.lua");
    std::fs::write(
        &script,
        format!(
            "wrk.method = \"POST\"\nwrk.body = '{}'\nwrk.headers[\"Content-Type\"] = \"application/json\"\n",
            body(&warm_image)
        ),
    )?;
    let result = wrk::run_script(
        served.port,
        "/v1/verify",
        WARM_CONNECTIONS,
        plan.seconds,
        Some(&script),
    )?;
    verify_once(client, &warm_image).await?;
    let label = format!("POST /v1/verify, warm decision cache, {WARM_CONNECTIONS} connections");
    rows.push(row(
        label.clone(),
        "verifications/s",
        true,
        vec![("notarium", result.requests_per_second)],
    ));
    rows.push(row(
        format!("{label}, p99"),
        "ms",
        false,
        vec![("notarium", result.p99_ms)],
    ));

    let n = plan.repositories;
    eprintln!("  POST /v1/verify, a cache miss per request: publishing {n} repositories…");
    let work = prepare_new(client, &format!("{PREFIX}/miss"), n, 1).await?;
    let asks: Vec<(String, String)> = work
        .iter()
        .map(|(gun, _)| (gun.clone(), TAG.to_owned()))
        .collect();
    run_publishes(client, work, MISS_IN_FLIGHT).await?;
    let label = format!(
        "POST /v1/verify, a cache miss per request ({n} repositories, each once), \
         {MISS_IN_FLIGHT} in flight"
    );
    eprintln!("  POST /v1/verify, a cache miss per request: timing {n} verifications…");
    let ca = std::fs::read(&tls.ca)?;
    timed_rows(rows, &label, served, &ca, &warm_image, asks).await?;

    // A decision-cache miss on a repository state already verified: every request asks for
    // another tag of one repository, so the verified state is reused and only the rule is
    // applied (a new tag of an image already running, the common case in admission).
    let tags = plan.repositories;
    eprintln!("  POST /v1/verify, a new tag per request of one repository of {tags} tags…");
    let work = prepare_new(client, &format!("{PREFIX}/tags"), 1, tags).await?;
    let gun = work[0].0.clone();
    run_publishes(client, work, 1).await?;
    verify_tag(client, &gun, "t0").await?;
    let names: Vec<String> = (1..tags).map(|t| format!("t{t}")).collect();
    let label = format!(
        "POST /v1/verify, a decision-cache miss per request on a verified repository state \
         ({tags} tags, each once), {MISS_IN_FLIGHT} in flight"
    );
    let asks = names.into_iter().map(|tag| (gun.clone(), tag)).collect();
    timed_rows(rows, &label, served, &ca, &warm_image, asks).await?;
    Ok(())
}

/// Asks for every `(gun, tag)` of `asks` with [`MISS_IN_FLIGHT`] at once and adds their rate,
/// p50 and p99 as rows, and the CPU time `served` and the load generator spent per request.
/// Latency on a shared machine moves with whatever else runs; the server's own CPU time per
/// verification moves far less, so it is the row to compare two builds by.
///
/// The requests are sent from one thread of their own, on a single-threaded runtime, over
/// [`crate::closed_loop`] connections of their own (opened beforehand with `warm_image`, a cached
/// answer): the load generator shares the machine's cores with the server, and on several
/// threads it spent a third more CPU per request, most of it waking its own threads.
async fn timed_rows(
    rows: &mut Vec<Row>,
    label: &str,
    served: &Server,
    ca: &[u8],
    warm_image: &str,
    asks: Vec<(String, String)>,
) -> anyhow::Result<()> {
    let pid = served.child.id();
    let base = served.client.base.clone();
    let config = Arc::new(crate::client::tls_config(ca)?);
    let warm_image = warm_image.to_owned();
    let timed = tokio::task::spawn_blocking(move || -> anyhow::Result<Timed> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async move {
            // Open the connections first, so no timed request pays a handshake.
            let (warm_gun, warm_tag) = warm_image.rsplit_once(':').context("a tagged image")?;
            let mut conns = Vec::with_capacity(MISS_IN_FLIGHT);
            for _ in 0..MISS_IN_FLIGHT {
                let mut conn = Conn::open(&base, Arc::clone(&config)).await?;
                ask(&mut conn, warm_gun, warm_tag).await?;
                conns.push(conn);
            }
            let next = Cell::new(0);
            let own = std::process::id();
            let cpu_before = pid.and_then(cpu_seconds);
            let own_before = cpu_seconds(own);
            let ticks_before = machine_ticks();
            let start = Instant::now();
            // Each connection asks for the next repository as soon as its answer is in.
            let loops: FuturesUnordered<_> = conns
                .iter_mut()
                .map(|conn| {
                    let (asks, next) = (&asks, &next);
                    async move {
                        let mut took = Vec::with_capacity(asks.len() / MISS_IN_FLIGHT + 1);
                        while let Some((gun, tag)) = asks.get(next.get()) {
                            next.set(next.get() + 1);
                            took.push(ask(conn, gun, tag).await?);
                        }
                        anyhow::Ok(took)
                    }
                })
                .collect();
            let results: Vec<anyhow::Result<Vec<Duration>>> = loops.collect().await;
            let elapsed = start.elapsed().as_secs_f64();
            let ticks = ticks_before.zip(machine_ticks());
            let mut latencies = Vec::with_capacity(asks.len());
            for took in results {
                latencies.extend(took?);
            }
            Ok(Timed {
                latencies: sorted(latencies),
                elapsed,
                server_cpu: cpu_before.zip(pid.and_then(cpu_seconds)),
                own_cpu: own_before.zip(cpu_seconds(own)),
                ticks,
            })
        })
    })
    .await??;
    let Timed {
        latencies,
        elapsed,
        server_cpu,
        own_cpu,
        ticks,
    } = timed;
    // The load generator shares the machine's cores with the server: what it spends is time
    // the server waits for a core, so it is shown beside the server's.
    for (whose, cpu) in [("server", server_cpu), ("load generator", own_cpu)] {
        if let Some((before, after)) = cpu {
            rows.push(row(
                format!("{label}, {whose} CPU per verification"),
                "µs",
                false,
                vec![("notarium", (after - before) * 1e6 / latencies.len() as f64)],
            ));
        }
    }
    // A virtual machine's host may run others on these cores meanwhile: the share of the
    // machine's CPU time taken from it (steal) tells a run whose latency the host decided.
    if let Some((before, after)) = ticks {
        let total = after.total.saturating_sub(before.total).max(1);
        rows.push(row(
            format!("{label}, CPU time stolen by the host"),
            "%",
            false,
            vec![(
                "notarium",
                after.steal.saturating_sub(before.steal) as f64 * 100.0 / total as f64,
            )],
        ));
    }
    rows.push(row(
        label.to_owned(),
        "verifications/s",
        true,
        vec![("notarium", latencies.len() as f64 / elapsed)],
    ));
    if std::env::var_os("BENCH_PCTS").is_some() {
        let ps: Vec<String> = [0.5, 0.75, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999, 1.0]
            .iter()
            .map(|p| format!("{p}:{:.2}", pct(&latencies, *p)))
            .collect();
        eprintln!("PCTS {label}: {}", ps.join(" "));
    }
    for (name, p) in [("p50", 0.5), ("p99", 0.99)] {
        rows.push(row(
            format!("{label}, {name}"),
            "ms",
            false,
            vec![("notarium", pct(&latencies, p))],
        ));
    }
    Ok(())
}

/// What [`timed_rows`] measured: sorted latencies, seconds in all, the CPU seconds of the
/// server and of this process before and after, and the machine's [`Ticks`] before and after.
struct Timed {
    latencies: Vec<Duration>,
    elapsed: f64,
    server_cpu: Option<(f64, f64)>,
    own_cpu: Option<(f64, f64)>,
    ticks: Option<(Ticks, Ticks)>,
}

/// The machine's CPU time in clock ticks, all cores together (the `cpu` line of `/proc/stat`):
/// in all, and stolen by the hypervisor for others.
#[derive(Clone, Copy)]
struct Ticks {
    total: u64,
    steal: u64,
}

/// The machine's [`Ticks`] now; `None` where `/proc/stat` is missing or unreadable.
fn machine_ticks() -> Option<Ticks> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    // user nice system idle iowait irq softirq steal (guest time is inside user already).
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    (fields.len() == 8).then(|| Ticks {
        total: fields.iter().sum(),
        steal: fields[7],
    })
}

/// One `POST /v1/verify` of `gun:tag` through the pooled client, which must come back
/// allowed with the digest the bench kit signs for that tag.
async fn verify_tag(client: &Client, gun: &str, tag: &str) -> anyhow::Result<Duration> {
    let image = format!("{gun}:{tag}");
    let answer = client
        .post_bytes("/v1/verify", "application/json", Bytes::from(body(&image)))
        .await?;
    check(&image, tag, answer.status, &answer.body)?;
    Ok(answer.took)
}

/// [`verify_tag`] on a connection of the closed loop.
async fn ask(conn: &mut Conn, gun: &str, tag: &str) -> anyhow::Result<Duration> {
    let image = format!("{gun}:{tag}");
    let answer = conn
        .post("/v1/verify", "application/json", body(&image).as_bytes())
        .await?;
    check(&image, tag, answer.status, answer.body)?;
    Ok(answer.took)
}

/// That an answer to a verification of `image` allows it with the digest the bench kit signs
/// for `tag` (the sha256 of its name). The answer is read into just the fields checked, and
/// shown whole only when it is wrong: this runs on the cores the server uses.
fn check(image: &str, tag: &str, status: u16, body: &[u8]) -> anyhow::Result<()> {
    #[derive(serde::Deserialize)]
    struct Answer {
        results: Vec<Result>,
    }
    #[derive(serde::Deserialize)]
    struct Result {
        allowed: bool,
        digest: Option<String>,
    }
    let want = format!("sha256:{}", hex::encode(digest(&SHA256, tag.as_bytes())));
    let read: Option<Answer> = serde_json::from_slice(body).ok();
    let right = read
        .as_ref()
        .and_then(|a| a.results.first())
        .is_some_and(|r| r.allowed && r.digest.as_deref() == Some(want.as_str()));
    if status != 200 || !right {
        let text = String::from_utf8_lossy(body);
        bail!("POST /v1/verify of {image}: not allowed with its signed digest: {text}");
    }
    Ok(())
}

/// The CPU time process `pid` has spent, in seconds, to the nanosecond: the sum over its
/// threads of the scheduler's run time (`/proc/PID/task/*/schedstat`). `/proc/PID/stat` counts
/// in 10 ms ticks, too coarse for a few thousand requests of tens of microseconds each. A
/// thread that exits between two readings takes its time with it; the servers keep theirs.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let mut nanos: u64 = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let Ok(task) = task else { continue };
        let Ok(stat) = std::fs::read_to_string(task.path().join("schedstat")) else {
            continue;
        };
        nanos += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(nanos as f64 / 1e9)
}

/// `{"images": [image]}`.
fn body(image: &str) -> String {
    serde_json::json!({ "images": [image] }).to_string()
}

/// The digest every bench tag `t0` is signed with: `kit::target` lists the sha256 of the name.
fn digest_of_tag() -> String {
    format!("sha256:{}", hex::encode(digest(&SHA256, TAG.as_bytes())))
}

/// One `POST /v1/verify` of `image` (tag `t0`), which must come back allowed with its signed
/// digest.
async fn verify_once(client: &Client, image: &str) -> anyhow::Result<Duration> {
    let (gun, tag) = image.rsplit_once(':').context("an image with a tag")?;
    verify_tag(client, gun, tag).await
}

/// `runs` runs of `notarium verify --tofu image` against `server` with a new trust directory
/// each (cold), then `runs` with one trust directory filled by a run before them (warm).
async fn cli_runs(
    runs: usize,
    dir: &Path,
    ca: &Path,
    bin: &Path,
    server: &Server,
    image: &str,
) -> anyhow::Result<(Vec<Duration>, Vec<Duration>)> {
    let expected = format!("{image}@{}", digest_of_tag());
    let mut cold = Vec::with_capacity(runs);
    for _ in 0..runs {
        let trust = tempfile::tempdir_in(dir)?;
        cold.push(verify_process(bin, server, ca, trust.path(), image, &expected).await?);
    }
    let trust = tempfile::tempdir_in(dir)?;
    verify_process(bin, server, ca, trust.path(), image, &expected).await?;
    let mut warm = Vec::with_capacity(runs);
    for _ in 0..runs {
        warm.push(verify_process(bin, server, ca, trust.path(), image, &expected).await?);
    }
    Ok((sorted(cold), sorted(warm)))
}

/// One `notarium verify` process, from spawn to exit; it must print exactly `expected`.
async fn verify_process(
    bin: &Path,
    server: &Server,
    ca: &Path,
    trust: &Path,
    image: &str,
    expected: &str,
) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let output = tokio::process::Command::new(bin)
        .args(["verify", "--server", &server.client.base, "--ca"])
        .arg(ca)
        .arg("--trust-dir")
        .arg(trust)
        .args(["--tofu", image])
        .env_remove("DOCKER_CONTENT_TRUST_SERVER")
        .stdin(Stdio::null())
        .output()
        .await
        .context("running notarium verify")?;
    let took = start.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() || stdout.trim() != expected {
        bail!(
            "notarium verify {image} against {}: {} (stdout {stdout:?}, stderr {:?})",
            server.kind.name(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(took)
}

fn row(
    metric: String,
    unit: &'static str,
    higher_is_better: bool,
    values: Vec<(&'static str, f64)>,
) -> Row {
    Row {
        metric,
        values: values.into_iter().collect(),
        unit,
        higher_is_better,
    }
}
