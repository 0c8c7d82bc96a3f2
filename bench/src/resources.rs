//! The `resources` section: memory under a burst of large uploads, and the wait of a real
//! client while thousands of sockets sit open without a TLS ClientHello.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::{json, Value};
use tokio::io::AsyncReadExt as _;
use tokio::net::TcpStream;

use crate::client::Client;
use crate::kit::{self, Repo};
use crate::servers::Server;

/// Large uploads sent at once, each on its own connection (the full run).
pub const BURST: usize = 64;
/// Size of each large upload.
pub const BURST_BYTES: usize = 20 << 20;
/// Sockets of the flood (the full run).
pub const FLOOD: usize = 4200;

/// What one server did under the upload burst.
pub struct Burst {
    pub idle_mb: f64,
    pub peak_growth_mb: f64,
    pub after_1s_mb: f64,
    pub after_10s_mb: f64,
    pub small_ok: usize,
    pub small_failed: usize,
    pub big_by_status: Vec<(u16, usize)>,
    pub seconds: f64,
}

/// A 20 MiB update of two well-formed, unsigned targets files: it is read, split and parsed
/// whole before validation refuses it, the most memory an update can make the server use.
fn big_update() -> (String, Vec<u8>) {
    let file = |n: usize| {
        let targets: serde_json::Map<String, Value> = (0..n)
            .map(|i| {
                (
                    format!("t{i:09}"),
                    json!({"hashes": {"sha256": "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="}, "length": i}),
                )
            })
            .collect();
        serde_json::to_vec(&json!({"signed": {"_type": "Targets", "delegations": {"keys": {}, "roles": []},
            "expires": "2030-01-01T00:00:00Z", "targets": targets, "version": 99}, "signatures": []}))
        .expect("serialise")
    };
    let per_target = (file(1001).len() - file(1).len()) as f64 / 1000.0;
    let first = (15.0 * (1 << 20) as f64 / per_target) as usize;
    let second = (4.5 * (1 << 20) as f64 / per_target) as usize;
    kit::multipart(&[
        ("targets".to_owned(), file(first)),
        ("targets/releases".to_owned(), file(second)),
    ])
}

fn reset_peak(server: &Server) {
    if let Some(pid) = server.child.id() {
        // "5" resets the peak resident size (VmHWM) of the process.
        let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
    }
}

/// `count` uploads of 20 MiB at once, while one client publishes small updates one after another.
pub async fn burst(server: &Server, ca: &[u8], count: usize) -> anyhow::Result<Burst> {
    let small_gun = "bench/res-small";
    let big_gun = "bench/res-big";
    let client = &server.client;
    let mut small_updates = Vec::new();
    {
        let repo = Repo::new(small_gun, crate::timestamp_key(client, small_gun).await?);
        crate::publish(client, small_gun, &repo.init(&crate::targets([]))).await?;
        let mut names = serde_json::Map::new();
        for v in 0..400u64 {
            let (name, meta) = kit::target(&format!("s{v}"));
            names.insert(name, meta);
            let (t, s) = repo.update(v + 3, &names);
            small_updates.push(vec![("targets".to_owned(), t), ("snapshot".to_owned(), s)]);
        }
        let big = Repo::new(big_gun, crate::timestamp_key(client, big_gun).await?);
        crate::publish(client, big_gun, &big.init(&crate::targets([]))).await?;
    }
    let (content_type, body) = big_update();
    anyhow::ensure!(body.len() <= BURST_BYTES && body.len() > BURST_BYTES - (1 << 20));
    let body = bytes::Bytes::from(body);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_mb = server.memory_mb().0;
    reset_peak(server);
    let done = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let small = {
        let client = client.clone();
        let done = Arc::clone(&done);
        tokio::spawn(async move {
            let (mut ok, mut failed) = (0, 0);
            for parts in small_updates {
                if done.load(Ordering::Relaxed) {
                    break;
                }
                match crate::publish(&client, small_gun, &parts).await {
                    Ok(_) => ok += 1,
                    Err(e) => {
                        failed += 1;
                        eprintln!("  small publish failed: {e:#}");
                        break; // the next version depends on this one
                    }
                }
            }
            (ok, failed)
        })
    };
    let mut big = Vec::new();
    for _ in 0..count {
        let client = Client::new(&server.client.base, ca)?;
        let (ct, body) = (content_type.clone(), body.clone());
        big.push(tokio::spawn(async move {
            match client
                .post_bytes(&format!("/v2/{big_gun}/_trust/tuf/"), &ct, body)
                .await
            {
                Ok(a) => a.status,
                Err(_) => 0,
            }
        }));
    }
    let mut statuses = std::collections::BTreeMap::new();
    for task in big {
        *statuses.entry(task.await?).or_insert(0usize) += 1;
    }
    let seconds = started.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    let (small_ok, small_failed) = small.await?;
    let peak_growth_mb = server.memory_mb().1 - idle_mb;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after_1s_mb = server.memory_mb().0;
    tokio::time::sleep(Duration::from_secs(9)).await;
    let after_10s_mb = server.memory_mb().0;
    Ok(Burst {
        idle_mb,
        peak_growth_mb,
        after_1s_mb,
        after_10s_mb,
        small_ok,
        small_failed,
        big_by_status: statuses.into_iter().collect(),
        seconds,
    })
}

/// Latencies (ms) of `GET timestamp.json`, each on a new connection (TCP and TLS), with and
/// then without [`FLOOD`] sockets held open that never send anything; and how many failed.
pub struct Flood {
    pub quiet_ms: Vec<f64>,
    pub flooded_ms: Vec<f64>,
    pub flooded_failed: usize,
    pub reconnects: usize,
}

async fn fresh_get(server: &Server, ca: &[u8], path: &str) -> anyhow::Result<f64> {
    let client = Client::new(&server.client.base, ca)?;
    let started = Instant::now();
    let answer = tokio::time::timeout(Duration::from_secs(15), client.get(path))
        .await
        .context("no answer within 15 s")??;
    anyhow::ensure!(answer.status == 200, "status {}", answer.status);
    Ok(started.elapsed().as_secs_f64() * 1000.0)
}

pub async fn flood(
    server: &Server,
    ca: &[u8],
    sockets: usize,
    samples: usize,
) -> anyhow::Result<Flood> {
    let gun = "bench/res-small";
    let path = format!("/v2/{gun}/_trust/tuf/timestamp.json");
    let mut quiet_ms = Vec::new();
    for _ in 0..samples {
        quiet_ms.push(fresh_get(server, ca, &path).await?);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let reconnects = Arc::new(AtomicUsize::new(0));
    let addr = format!("127.0.0.1:{}", server.port);
    let mut holders = Vec::new();
    for _ in 0..sockets {
        let first = TcpStream::connect(&addr).await?;
        let (stop, reconnects, addr) = (Arc::clone(&stop), Arc::clone(&reconnects), addr.clone());
        // Each socket is held open, sending nothing; one the server closes is opened again.
        holders.push(tokio::spawn(async move {
            let mut stream = Some(first);
            let mut buf = [0u8; 1];
            while !stop.load(Ordering::Relaxed) {
                match stream.as_mut() {
                    Some(s) => {
                        tokio::select! {
                            _ = s.read(&mut buf) => { stream = None; }
                            () = tokio::time::sleep(Duration::from_millis(200)) => {}
                        }
                    }
                    None => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        if let Ok(s) = TcpStream::connect(&addr).await {
                            reconnects.fetch_add(1, Ordering::Relaxed);
                            stream = Some(s);
                        }
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut flooded_ms = Vec::new();
    let mut flooded_failed = 0;
    let until = Instant::now() + Duration::from_secs(90);
    for _ in 0..samples {
        if Instant::now() > until {
            break;
        }
        match fresh_get(server, ca, &path).await {
            Ok(ms) => flooded_ms.push(ms),
            Err(e) => {
                eprintln!("  GET under the flood failed: {e:#}");
                flooded_failed += 1;
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    for h in holders {
        let _ = h.await;
    }
    Ok(Flood {
        quiet_ms,
        flooded_ms,
        flooded_failed,
        reconnects: reconnects.load(Ordering::Relaxed),
    })
}

/// p-th quantile of `values` (ms).
pub fn quantile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}
