//! The three servers under test, each with TLS from one bench CA on a loopback port.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use tokio::process::{Child, Command};

use crate::client::Client;

/// A CA and a server certificate for 127.0.0.1, as PEM files in `dir`.
pub struct Tls {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Tls {
    pub fn make(dir: &Path) -> anyhow::Result<Tls> {
        let ca_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "notarium bench CA");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign];
        let ca = ca_params.self_signed(&ca_key)?;
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()])?;
        params
            .subject_alt_names
            .push(rcgen::SanType::IpAddress("127.0.0.1".parse()?));
        let cert = params.signed_by(&key, &issuer)?;
        let tls = Tls {
            ca: dir.join("ca.crt"),
            cert: dir.join("server.crt"),
            key: dir.join("server.key"),
        };
        std::fs::write(&tls.ca, ca.pem())?;
        std::fs::write(&tls.cert, cert.pem())?;
        std::fs::write(&tls.key, key.serialize_pem())?;
        Ok(tls)
    }
}

/// Which server.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Notarium,
    NotaryServer,
    Nginx,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Notarium => "notarium",
            Kind::NotaryServer => "notary-server",
            Kind::Nginx => "nginx",
        }
    }
}

/// A running server.
pub struct Server {
    pub kind: Kind,
    pub child: Child,
    pub client: Client,
    pub port: u16,
    /// Time from spawn to the first 200 on the health path.
    pub start_to_healthy: Duration,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl Server {
    /// Starts `kind` with its files under `dir`; `root` is nginx's document root.
    pub async fn start(
        kind: Kind,
        dir: &Path,
        tls: &Tls,
        notarium: &Path,
        root: &Path,
    ) -> anyhow::Result<Server> {
        Server::spawn(kind, dir, tls, notarium, root, "notarium-data", &[]).await
    }

    /// Starts a second notarium with its own data directory `dir/data` and extra arguments
    /// for `serve` (`--policy FILE`).
    pub async fn start_notarium(
        dir: &Path,
        tls: &Tls,
        notarium: &Path,
        data: &str,
        extra: &[OsString],
    ) -> anyhow::Result<Server> {
        Server::spawn(Kind::Notarium, dir, tls, notarium, dir, data, extra).await
    }

    /// Starts `notarium admission` (the stand-alone webhook) with `policy`, remembering what
    /// it trusts in `trust`; healthy when `GET /healthz` answers.
    pub async fn start_admission(
        tls: &Tls,
        notarium: &Path,
        policy: &Path,
        trust: &Path,
    ) -> anyhow::Result<Server> {
        let port = free_port()?;
        let mut command = Command::new(notarium);
        command
            .args(["admission", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--policy")
            .arg(policy)
            .arg("--trust-dir")
            .arg(trust)
            .arg("--tls-cert")
            .arg(&tls.cert)
            .arg("--tls-key")
            .arg(&tls.key)
            .env("RUST_LOG", "warn");
        Server::launch(Kind::Notarium, command, port, tls, "/healthz").await
    }

    async fn spawn(
        kind: Kind,
        dir: &Path,
        tls: &Tls,
        notarium: &Path,
        root: &Path,
        data: &str,
        extra: &[OsString],
    ) -> anyhow::Result<Server> {
        let port = free_port()?;
        let listen = format!("127.0.0.1:{port}");
        let command = match kind {
            Kind::Notarium => {
                let data = dir.join(data);
                let mut c = Command::new(notarium);
                c.args(["serve", "--listen", &listen, "--data-dir"])
                    .arg(&data)
                    .args(extra);
                c.arg("--tls-cert")
                    .arg(&tls.cert)
                    .arg("--tls-key")
                    .arg(&tls.key);
                c.env(
                    "NOTARIUM_KEY_ENCRYPTION_KEY",
                    "YmVuY2ggb25seSBiZW5jaCBvbmx5IGJlbmNoIG9ubHk=",
                );
                c.env("RUST_LOG", "warn");
                c
            }
            Kind::NotaryServer => {
                let config = dir.join("notary-server.json");
                let json = serde_json::json!({
                    "server": {"http_addr": listen, "tls_cert_file": tls.cert, "tls_key_file": tls.key},
                    "trust_service": {"type": "local", "key_algorithm": "ecdsa"},
                    "storage": {"backend": "memory"},
                    "logging": {"level": "error"},
                });
                std::fs::write(&config, serde_json::to_vec_pretty(&json)?)?;
                let mut c = Command::new("notary-server");
                c.arg("-config").arg(config);
                c
            }
            Kind::Nginx => {
                let prefix = dir.join("nginx");
                std::fs::create_dir_all(prefix.join("logs"))?;
                let conf = prefix.join("nginx.conf");
                std::fs::write(&conf, format!(
                    "daemon off;\nworker_processes auto;\npid {p}/nginx.pid;\nerror_log {p}/logs/error.log error;\n\
                     events {{ worker_connections 4096; }}\n\
                     http {{\n  access_log off;\n  client_body_temp_path {p}/body;\n  proxy_temp_path {p}/proxy;\n  fastcgi_temp_path {p}/fastcgi;\n  uwsgi_temp_path {p}/uwsgi;\n  scgi_temp_path {p}/scgi;\n\
                     \n  keepalive_requests 1000000;\n  sendfile on;\n  types {{ application/json json; }}\n\
                     \n  server {{\n    listen {listen} ssl;\n    ssl_certificate {cert};\n    ssl_certificate_key {key};\n    root {root};\n\
                     \n    location = /_notary_server/health {{ return 200 '{{}}'; }}\n    location / {{ try_files $uri =404; }}\n  }}\n}}\n",
                    p = prefix.display(), cert = tls.cert.display(), key = tls.key.display(), root = root.display(),
                ))?;
                let mut c = Command::new("nginx");
                c.arg("-p").arg(&prefix).arg("-c").arg(&conf);
                c
            }
        };
        Server::launch(kind, command, port, tls, "/_notary_server/health").await
    }

    /// Spawns `command`, a server of `kind` on `port`, and waits for a 200 on `health`.
    async fn launch(
        kind: Kind,
        mut command: Command,
        port: u16,
        tls: &Tls,
        health: &str,
    ) -> anyhow::Result<Server> {
        // BENCH_SERVER_LOGS=1 passes the servers' logs through, for profiling a run.
        let logs = match std::env::var_os("BENCH_SERVER_LOGS") {
            Some(_) => Stdio::inherit(),
            None => Stdio::null(),
        };
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(logs)
            .kill_on_drop(true);
        let ca = std::fs::read(&tls.ca)?;
        let client = Client::new(&format!("https://127.0.0.1:{port}"), &ca)?;
        let started = Instant::now();
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {}", kind.name()))?;
        loop {
            if let Ok(answer) = client.get(health).await {
                if answer.status == 200 {
                    break;
                }
            }
            if let Some(status) = child.try_wait()? {
                bail!("{} exited with {status} before answering", kind.name());
            }
            if started.elapsed() > Duration::from_secs(30) {
                bail!(
                    "{} did not answer its health check within 30 s",
                    kind.name()
                );
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let start_to_healthy = started.elapsed();
        Ok(Server {
            kind,
            child,
            client,
            port,
            start_to_healthy,
        })
    }

    /// Resident memory now and at its peak, in MB, summed over the process and its children
    /// (nginx workers).
    pub fn memory_mb(&self) -> (f64, f64) {
        let Some(pid) = self.child.id() else {
            return (0.0, 0.0);
        };
        let mut pids = vec![pid];
        if let Ok(children) = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")) {
            pids.extend(
                children
                    .split_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok()),
            );
        }
        let (mut rss, mut hwm) = (0.0, 0.0);
        for pid in pids {
            let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
                continue;
            };
            for line in status.lines() {
                let kb = |l: &str| {
                    l.split_whitespace()
                        .nth(1)
                        .and_then(|v| v.parse::<f64>().ok())
                        .unwrap_or(0.0)
                };
                if line.starts_with("VmRSS:") {
                    rss += kb(line) / 1024.0;
                } else if line.starts_with("VmHWM:") {
                    hwm += kb(line) / 1024.0;
                }
            }
        }
        (rss, hwm)
    }

    pub async fn stop(mut self) {
        // SIGTERM first: nginx's master only stops its workers when asked; SIGKILL would leave
        // them running, orphaned, holding their port and a core.
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
            if tokio::time::timeout(std::time::Duration::from_secs(5), self.child.wait())
                .await
                .is_ok()
            {
                return;
            }
        }
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}
