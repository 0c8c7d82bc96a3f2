//! Runs wrk (Debian's package) against one URL and reads its summary.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context as _};

pub struct WrkResult {
    pub requests_per_second: f64,
    pub p99_ms: f64,
}

fn ms(text: &str) -> Option<f64> {
    let text = text.trim();
    let (number, factor) = if let Some(v) = text.strip_suffix("us") {
        (v, 0.001)
    } else if let Some(v) = text.strip_suffix("ms") {
        (v, 1.0)
    } else if let Some(v) = text.strip_suffix('s') {
        (v, 1000.0)
    } else {
        (text, 1.0)
    };
    number.parse::<f64>().ok().map(|n| n * factor)
}

/// `wrk -t2 -cN -dDs --latency https://127.0.0.1:PORT/PATH` (keep-alive TLS).
pub fn run(port: u16, path: &str, connections: usize, seconds: u64) -> anyhow::Result<WrkResult> {
    run_script(port, path, connections, seconds, None)
}

/// As [`run`], with a Lua script (`-s FILE`) that shapes each request (method, body, headers).
pub fn run_script(
    port: u16,
    path: &str,
    connections: usize,
    seconds: u64,
    script: Option<&Path>,
) -> anyhow::Result<WrkResult> {
    let mut command = Command::new("wrk");
    command.args([
        "-t2",
        &format!("-c{connections}"),
        &format!("-d{seconds}s"),
        "--latency",
    ]);
    if let Some(script) = script {
        command.arg("-s").arg(script);
    }
    let output = command
        .arg(format!("https://127.0.0.1:{port}{path}"))
        .output()
        .context("running wrk (apt-get install wrk)")?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() || text.contains("Non-2xx") {
        bail!("wrk against {path}: {text}");
    }
    let mut rps = None;
    let mut p99 = None;
    for line in text.lines() {
        let line = line.trim();
        if let Some(v) = line.strip_prefix("Requests/sec:") {
            rps = v.trim().parse().ok();
        } else if let Some(v) = line.strip_prefix("99%") {
            p99 = ms(v);
        }
    }
    match (rps, p99) {
        (Some(requests_per_second), Some(p99_ms)) => Ok(WrkResult {
            requests_per_second,
            p99_ms,
        }),
        _ => bail!("could not read wrk's output: {text}"),
    }
}
