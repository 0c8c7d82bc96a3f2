//! Benchmarks Notarium side by side with the Go notary-server and nginx (serving the same
//! bytes, the ceiling for reads), all over TLS on loopback, and prints one table with ratios.
//! See bench/README.md.

mod admission;
mod client;
mod closed_loop;
mod kit;
mod resources;
mod servers;
mod verify;
mod wrk;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use clap::Parser;
use futures_util::stream::{self, StreamExt as _};
use serde_json::Value;

use client::Client;
use kit::Repo;
use servers::{Kind, Server, Tls};

#[derive(Parser)]
struct Args {
    /// The notarium binary (a release build).
    #[arg(long, default_value = "target/release/notarium")]
    notarium: PathBuf,
    /// Seconds per read measurement.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Smaller sizes and shorter runs: a smoke of the harness, not a measurement.
    #[arg(long)]
    quick: bool,
    /// Also write the table (Markdown) to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Which parts to run (default: all).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "reads,publishes,big,growth,verify,admission,resources"
    )]
    sections: Vec<String>,
    /// Repositories (and tags) of the verify section's per-request miss rows: more make their
    /// p99 steadier and leave a profiler time to attach (default 6,000; 50 with --quick).
    #[arg(long)]
    verify_repositories: Option<usize>,
}

/// The parts of one update, by role.
type Parts = Vec<(String, Vec<u8>)>;
/// Updates to publish: GUN and parts.
type Work = Vec<(String, Parts)>;

/// Sizes of one run.
struct Plan {
    duration: u64,
    publishes: usize,
    growth: Vec<usize>,
    big: usize,
    samples: usize,
    /// Connections of the idle-socket flood, and GETs measured under it.
    flood: usize,
    flood_samples: usize,
    /// The enforcement rows.
    verify: verify::Plan,
    /// The admission webhook rows.
    admission: admission::Plan,
}

/// One row of the result table: a value per server (None: not measured there).
struct Row {
    metric: String,
    values: BTreeMap<&'static str, f64>,
    unit: &'static str,
    higher_is_better: bool,
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn sorted(mut d: Vec<Duration>) -> Vec<Duration> {
    d.sort();
    d
}

async fn timestamp_key(client: &Client, gun: &str) -> anyhow::Result<Value> {
    let answer = client
        .get(&format!("/v2/{gun}/_trust/tuf/timestamp.key"))
        .await?;
    if answer.status != 200 {
        bail!("timestamp.key of {gun}: {}", answer.status);
    }
    let key: Value = serde_json::from_slice(&answer.body)?;
    Ok(
        serde_json::json!({"keytype": key["keytype"], "keyval": {"private": null, "public": key["keyval"]["public"]}}),
    )
}

fn targets(names: impl IntoIterator<Item = String>) -> serde_json::Map<String, Value> {
    names.into_iter().map(|n| kit::target(&n)).collect()
}

async fn publish(
    client: &Client,
    gun: &str,
    parts: &[(String, Vec<u8>)],
) -> anyhow::Result<Duration> {
    let (ct, body) = kit::multipart(parts);
    let answer = client
        .post(&format!("/v2/{gun}/_trust/tuf/"), &ct, body)
        .await?;
    if answer.status != 200 {
        bail!(
            "publish to {gun}: {} {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        );
    }
    Ok(answer.took)
}

/// New repositories: keys fetched one at a time (notary-server's local signer crashes on
/// concurrent key creation) and updates signed before the clock starts.
async fn prepare_new(
    client: &Client,
    prefix: &str,
    n: usize,
    content: usize,
) -> anyhow::Result<Work> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let gun = format!("{prefix}-{i}");
        let repo = Repo::new(&gun, timestamp_key(client, &gun).await?);
        let parts = repo.init(&targets((0..content).map(|t| format!("t{t}"))));
        out.push((gun, parts));
    }
    Ok(out)
}

/// Publishes everything with `in_flight` requests at once; (updates/s, latencies).
async fn run_publishes(
    client: &Client,
    work: Work,
    in_flight: usize,
) -> anyhow::Result<(f64, Vec<Duration>)> {
    let n = work.len();
    let start = Instant::now();
    let results: Vec<anyhow::Result<Duration>> = stream::iter(work)
        .map(|(gun, parts)| async move { publish(client, &gun, &parts).await })
        .buffer_unordered(in_flight)
        .collect()
        .await;
    let elapsed = start.elapsed().as_secs_f64();
    let latencies = results.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
    Ok((n as f64 / elapsed, sorted(latencies)))
}

/// Successive versions: `streams` repositories, each updated `per_stream` times in order,
/// each update adding one target; all streams at once.
async fn run_successive(
    client: &Client,
    prefix: &str,
    streams: usize,
    per_stream: usize,
) -> anyhow::Result<(f64, Vec<Duration>, Vec<Duration>)> {
    let mut plans = Vec::new();
    for s in 0..streams {
        let gun = format!("{prefix}-{s}");
        let repo = Repo::new(&gun, timestamp_key(client, &gun).await?);
        publish(client, &gun, &repo.init(&targets([]))).await?;
        let mut names = serde_json::Map::new();
        let mut updates = Vec::with_capacity(per_stream);
        for v in 0..per_stream as u64 {
            let (name, meta) = kit::target(&format!("v{v}"));
            names.insert(name, meta);
            let (t, sn) = repo.update(v + 3, &names);
            updates.push(vec![("targets".to_owned(), t), ("snapshot".to_owned(), sn)]);
        }
        plans.push((gun, updates));
    }
    let start = Instant::now();
    let per_stream_latencies: Vec<anyhow::Result<Vec<Duration>>> = stream::iter(plans)
        .map(|(gun, updates)| async move {
            let mut took = Vec::with_capacity(updates.len());
            for parts in &updates {
                took.push(publish(client, &gun, parts).await?);
            }
            Ok(took)
        })
        .buffer_unordered(streams)
        .collect()
        .await;
    let elapsed = start.elapsed().as_secs_f64();
    let per_stream_latencies = per_stream_latencies
        .into_iter()
        .collect::<anyhow::Result<Vec<_>>>()?;
    let first = per_stream_latencies[0].clone();
    let all: Vec<Duration> = per_stream_latencies.into_iter().flatten().collect();
    Ok(((streams * per_stream) as f64 / elapsed, sorted(all), first))
}

/// GET latency of timestamp.json over `guns`, 8 requests in flight.
async fn get_latency(
    client: &Client,
    guns: &[String],
    samples: usize,
) -> anyhow::Result<Vec<Duration>> {
    let paths: Vec<String> = (0..samples)
        .map(|i| {
            format!(
                "/v2/{}/_trust/tuf/timestamp.json",
                guns[(i * 7919) % guns.len()]
            )
        })
        .collect();
    let results: Vec<anyhow::Result<Duration>> = stream::iter(paths)
        .map(|path| async move {
            let a = client.get(&path).await?;
            if a.status != 200 {
                bail!("GET {path}: {}", a.status);
            }
            Ok(a.took)
        })
        .buffer_unordered(
            std::env::var("BENCH_GET_CONCURRENCY")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(8),
        )
        .collect()
        .await;
    Ok(sorted(
        results.into_iter().collect::<anyhow::Result<Vec<_>>>()?,
    ))
}

/// Copies what notarium serves for `gun` into nginx's document root.
async fn mirror(client: &Client, root: &Path, gun: &str) -> anyhow::Result<()> {
    for role in ["root", "targets", "snapshot", "timestamp"] {
        let path = format!("/v2/{gun}/_trust/tuf/{role}.json");
        let answer = client.get(&path).await?;
        let file = root.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(file.parent().context("parent")?)?;
        std::fs::write(file, &answer.body)?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let plan = if args.quick {
        Plan {
            duration: 2,
            publishes: 40,
            growth: vec![10, 200],
            big: 500,
            samples: 200,
            flood: 300,
            flood_samples: 5,
            verify: verify::Plan {
                repositories: args.verify_repositories.unwrap_or(50),
                seconds: 1,
                runs: 3,
            },
            admission: admission::Plan { warm: 20, cold: 4 },
        }
    } else {
        Plan {
            duration: args.duration,
            publishes: 500,
            growth: vec![10, 1_000, 100_000],
            big: 10_000,
            samples: 2_000,
            flood: resources::FLOOD,
            flood_samples: 50,
            verify: verify::Plan {
                repositories: args.verify_repositories.unwrap_or(6_000),
                seconds: args.duration,
                runs: 10,
            },
            admission: admission::Plan {
                warm: 1_000,
                cold: 256,
            },
        }
    };
    let dir = tempfile::tempdir()?;
    let tls = Tls::make(dir.path())?;
    let www = dir.path().join("www");
    std::fs::create_dir_all(&www)?;
    let mut rows: Vec<Row> = Vec::new();
    let mut row = |metric: String,
                   unit: &'static str,
                   higher_is_better: bool,
                   values: Vec<(&'static str, f64)>| {
        rows.push(Row {
            metric,
            values: values.into_iter().collect(),
            unit,
            higher_is_better,
        });
    };

    let notarium = Server::start(Kind::Notarium, dir.path(), &tls, &args.notarium, &www).await?;
    let notary = Server::start(Kind::NotaryServer, dir.path(), &tls, &args.notarium, &www).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle: Vec<(&'static str, f64)> = [&notarium, &notary]
        .iter()
        .map(|s| (s.kind.name(), s.memory_mb().0))
        .collect();
    row(
        "start to first healthy answer".into(),
        "ms",
        false,
        vec![
            ("notarium", notarium.start_to_healthy.as_secs_f64() * 1000.0),
            (
                "notary-server",
                notary.start_to_healthy.as_secs_f64() * 1000.0,
            ),
        ],
    );
    row("idle RSS".into(), "MB", false, idle);

    // Read content, the same on both; nginx serves notarium's bytes.
    let both = [&notarium, &notary];
    for server in both {
        for (gun, n) in [("bench/read-small", 1usize), ("bench/read-1000", 1000)] {
            let repo = Repo::new(gun, timestamp_key(&server.client, gun).await?);
            publish(
                &server.client,
                gun,
                &repo.init(&targets((0..n).map(|i| format!("sha256:{i:064x}")))),
            )
            .await?;
        }
    }
    for gun in ["bench/read-small", "bench/read-1000"] {
        mirror(&notarium.client, &www, gun).await?;
    }
    let nginx = Server::start(Kind::Nginx, dir.path(), &tls, &args.notarium, &www).await?;
    let size_1000 = notarium
        .client
        .get("/v2/bench/read-1000/_trust/tuf/targets.json")
        .await?
        .body
        .len();

    let run = |section: &str| args.sections.iter().any(|s| s == section);
    if run("reads") {
        eprintln!("reads…");
        for (label, path) in [
            (
                "timestamp.json",
                "/v2/bench/read-small/_trust/tuf/timestamp.json".to_owned(),
            ),
            (
                "targets.json, 1 target",
                "/v2/bench/read-small/_trust/tuf/targets.json".to_owned(),
            ),
            (
                &*format!("targets.json, 1000 targets ({} KB)", size_1000 / 1000),
                "/v2/bench/read-1000/_trust/tuf/targets.json".to_owned(),
            ),
        ] {
            for conns in [32usize, 256] {
                let mut rps = Vec::new();
                let mut p99 = Vec::new();
                for server in [&notarium, &notary, &nginx] {
                    let result = wrk::run(server.port, &path, conns, plan.duration)?;
                    rps.push((server.kind.name(), result.requests_per_second));
                    p99.push((server.kind.name(), result.p99_ms));
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                row(
                    format!("GET {label}, {conns} connections"),
                    "req/s",
                    true,
                    rps,
                );
                row(
                    format!("GET {label}, {conns} connections, p99"),
                    "ms",
                    false,
                    p99,
                );
            }
        }
    }
    if run("publishes") {
        eprintln!("publishes…");
        for in_flight in [1usize, 8, 32] {
            let mut ups = Vec::new();
            let mut p50 = Vec::new();
            let mut p99 = Vec::new();
            for server in both {
                let work = prepare_new(
                    &server.client,
                    &format!("bench/new-{in_flight}"),
                    plan.publishes,
                    1,
                )
                .await?;
                let (rate, lat) = run_publishes(&server.client, work, in_flight).await?;
                ups.push((server.kind.name(), rate));
                p50.push((server.kind.name(), pct(&lat, 0.5)));
                p99.push((server.kind.name(), pct(&lat, 0.99)));
            }
            row(
                format!("publish new repositories, {in_flight} in flight"),
                "updates/s",
                true,
                ups,
            );
            row(
                format!("publish new repositories, {in_flight} in flight, p50"),
                "ms",
                false,
                p50,
            );
            row(
                format!("publish new repositories, {in_flight} in flight, p99"),
                "ms",
                false,
                p99,
            );
        }
        for in_flight in [1usize, 8, 32] {
            let mut ups = Vec::new();
            let mut p50 = Vec::new();
            let mut p99 = Vec::new();
            let mut first = Vec::new();
            let mut last = Vec::new();
            for server in both {
                let per_stream = plan.publishes.div_ceil(in_flight);
                let (rate, lat, seq) = run_successive(
                    &server.client,
                    &format!("bench/succ-{in_flight}"),
                    in_flight,
                    per_stream,
                )
                .await?;
                ups.push((server.kind.name(), rate));
                p50.push((server.kind.name(), pct(&lat, 0.5)));
                p99.push((server.kind.name(), pct(&lat, 0.99)));
                let k = seq.len().min(50);
                first.push((server.kind.name(), pct(&sorted(seq[..k].to_vec()), 0.5)));
                last.push((
                    server.kind.name(),
                    pct(&sorted(seq[seq.len() - k..].to_vec()), 0.5),
                ));
            }
            let n = plan.publishes;
            row(
                format!("{n} successive updates, {in_flight} in flight"),
                "updates/s",
                true,
                ups,
            );
            row(
                format!("{n} successive updates, {in_flight} in flight, p50"),
                "ms",
                false,
                p50,
            );
            row(
                format!("{n} successive updates, {in_flight} in flight, p99"),
                "ms",
                false,
                p99,
            );
            if in_flight == 1 {
                row("  p50 of the first 50 updates".into(), "ms", false, first);
                row("  p50 of the last 50 updates".into(), "ms", false, last);
            }
        }
    }
    if run("big") {
        eprintln!("repositories with {} targets…", plan.big);
        for n in [10usize, plan.big] {
            let mut p50 = Vec::new();
            let mut p99 = Vec::new();
            for server in both {
                let gun = format!("bench/big-{n}");
                let repo = Repo::new(&gun, timestamp_key(&server.client, &gun).await?);
                let mut names = targets((0..n).map(|i| format!("sha256:{i:064x}")));
                publish(&server.client, &gun, &repo.init(&names)).await?;
                let mut took = Vec::new();
                for v in 0..30u64 {
                    let (name, meta) = kit::target(&format!("new-{v}"));
                    names.insert(name, meta);
                    let (t, s) = repo.update(v + 3, &names);
                    took.push(
                        publish(
                            &server.client,
                            &gun,
                            &[("targets".into(), t), ("snapshot".into(), s)],
                        )
                        .await?,
                    );
                }
                let took = sorted(took);
                p50.push((server.kind.name(), pct(&took, 0.5)));
                p99.push((server.kind.name(), pct(&took, 0.99)));
            }
            row(
                format!("publish to a repository of {n} targets, p50"),
                "ms",
                false,
                p50,
            );
            row(
                format!("publish to a repository of {n} targets, p99"),
                "ms",
                false,
                p99,
            );
        }
    }
    if run("growth") {
        eprintln!("growth…");
        let mut seeded = 0usize;
        let mut guns: Vec<String> = Vec::new();
        for &level in &plan.growth {
            let mut p50 = Vec::new();
            let mut p99 = Vec::new();
            for server in both {
                let work =
                    prepare_new(&server.client, "bench/g", level, 1)
                        .await
                        .map(|mut w| {
                            w.drain(..seeded.min(w.len()));
                            w
                        })?;
                run_publishes(&server.client, work, 8).await?;
            }
            guns.extend((seeded..level).map(|i| format!("bench/g-{i}")));
            seeded = level;
            for server in both {
                let lat = get_latency(&server.client, &guns, plan.samples).await?;
                p50.push((server.kind.name(), pct(&lat, 0.5)));
                p99.push((server.kind.name(), pct(&lat, 0.99)));
            }
            row(
                format!("GET timestamp.json with {level} repositories, p50"),
                "ms",
                false,
                p50,
            );
            row(
                format!("GET timestamp.json with {level} repositories, p99"),
                "ms",
                false,
                p99,
            );
        }
    }
    let mut notes: Vec<&str> = Vec::new();
    if run("verify") {
        eprintln!("verify…");
        let verified = verify::run(
            &plan.verify,
            dir.path(),
            &tls,
            &args.notarium,
            &notarium,
            &notary,
        )
        .await?;
        for r in verified {
            row(
                r.metric,
                r.unit,
                r.higher_is_better,
                r.values.into_iter().collect(),
            );
        }
        notes.push(verify::NOTE);
    }
    if run("admission") {
        eprintln!("admission…");
        let admitted =
            admission::run(&plan.admission, dir.path(), &tls, &args.notarium, &notarium).await?;
        for r in admitted {
            row(
                r.metric,
                r.unit,
                r.higher_is_better,
                r.values.into_iter().collect(),
            );
        }
        notes.push(admission::NOTE);
    }
    if run("resources") {
        let ca = std::fs::read(&tls.ca)?;
        let burst = if args.quick { 4 } else { resources::BURST };
        eprintln!("resources: {burst} uploads of 20 MiB at once…");
        let mut results = Vec::new();
        for server in both {
            let b = resources::burst(server, &ca, burst).await?;
            eprintln!(
                "  {}: large uploads by status {:?} in {:.1} s",
                server.kind.name(),
                b.big_by_status,
                b.seconds
            );
            results.push((server.kind.name(), b));
        }
        let by = |f: &dyn Fn(&resources::Burst) -> f64| -> Vec<(&'static str, f64)> {
            results.iter().map(|(n, b)| (*n, f(b))).collect()
        };
        let label = format!("{burst} × 20 MiB uploads at once");
        row(
            format!("{label}: RSS before"),
            "MB",
            false,
            by(&|b| b.idle_mb),
        );
        row(
            format!("{label}: peak RSS growth"),
            "MB",
            false,
            by(&|b| b.peak_growth_mb),
        );
        row(
            format!("{label}: RSS 1 s after"),
            "MB",
            false,
            by(&|b| b.after_1s_mb),
        );
        row(
            format!("{label}: RSS 10 s after"),
            "MB",
            false,
            by(&|b| b.after_10s_mb),
        );
        row(
            format!("{label}: small publishes succeeded"),
            "count",
            true,
            by(&|b| b.small_ok as f64),
        );
        row(
            format!("{label}: small publishes failed"),
            "count",
            false,
            by(&|b| b.small_failed as f64),
        );
        row(
            format!("{label}: large uploads refused with 503"),
            "count",
            false,
            by(&|b| {
                b.big_by_status
                    .iter()
                    .filter(|(s, _)| *s == 503)
                    .map(|(_, n)| *n)
                    .sum::<usize>() as f64
            }),
        );
        eprintln!(
            "resources: {} sockets that never send a ClientHello…",
            plan.flood
        );
        let mut floods = Vec::new();
        for server in both {
            let f = resources::flood(server, &ca, plan.flood, plan.flood_samples).await?;
            eprintln!(
                "  {}: {} sockets reopened after the server closed them; GETs under the flood (ms): {:.0?}",
                server.kind.name(),
                f.reconnects,
                f.flooded_ms
            );
            floods.push((server.kind.name(), f));
        }
        let q = |f: &dyn Fn(&resources::Flood) -> f64| -> Vec<(&'static str, f64)> {
            floods.iter().map(|(n, x)| (*n, f(x))).collect()
        };
        for (name, p) in [("p50", 0.5), ("p99", 0.99), ("max", 1.0)] {
            row(
                format!("GET timestamp.json on a new connection, {name}"),
                "ms",
                false,
                q(&|f| resources::quantile(&f.quiet_ms, p)),
            );
        }
        let flood_label = format!(
            "GET timestamp.json on a new connection, {} silent sockets open",
            plan.flood
        );
        for (name, p) in [("p50", 0.5), ("p99", 0.99), ("max", 1.0)] {
            row(
                format!("{flood_label}, {name}"),
                "ms",
                false,
                q(&|f| resources::quantile(&f.flooded_ms, p)),
            );
        }
        row(
            format!("{flood_label}, failed (15 s)"),
            "count",
            false,
            q(&|f| f.flooded_failed as f64),
        );
    }
    row(
        "peak RSS".into(),
        "MB",
        false,
        [&notarium, &notary, &nginx]
            .iter()
            .map(|s| (s.kind.name(), s.memory_mb().1))
            .collect(),
    );
    for server in [notarium, notary, nginx] {
        server.stop().await;
    }

    let table = render(&rows, &plan, &notes);
    println!("{table}");
    if let Some(out) = args.out {
        std::fs::write(out, &table)?;
    }
    Ok(())
}

fn render(rows: &[Row], plan: &Plan, notes: &[&str]) -> String {
    let fmt = |v: Option<&f64>| match v {
        None => "—".to_owned(),
        Some(v) if *v >= 100.0 => format!("{v:.0}"),
        Some(v) if *v >= 10.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.2}"),
    };
    let ratio = |a: Option<&f64>, b: Option<&f64>| match (a, b) {
        (Some(a), Some(b)) if *b > 0.0 => format!("{:.2}", a / b),
        _ => "—".to_owned(),
    };
    let mut out = format!(
        "Reads: wrk, 2 threads, {} s each. Publishes: {} updates per case. Ratios are notarium ÷ the other.\n\n\
         {}| metric | unit | notarium | notary-server | nginx | ÷ notary-server | ÷ nginx |\n|---|---|---|---|---|---|---|\n",
        plan.duration,
        plan.publishes,
        notes.iter().map(|n| format!("{n}\n\n")).collect::<String>()
    );
    for r in rows {
        let (n, g, x) = (
            r.values.get("notarium"),
            r.values.get("notary-server"),
            r.values.get("nginx"),
        );
        let better = if r.higher_is_better { "↑" } else { "↓" };
        out.push_str(&format!(
            "| {} | {} {better} | {} | {} | {} | {} | {} |\n",
            r.metric,
            r.unit,
            fmt(n),
            fmt(g),
            fmt(x),
            ratio(n, g),
            ratio(n, x)
        ));
    }
    out
}
