//! `notarium admission`: the Kubernetes admission webhook on its own, in the cluster, reading
//! trust data from the trust servers the policy's rules name (the remote source, with its trust
//! directory). The policy reloads on SIGHUP.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use crate::admission::{Admission, AdmissionMetrics, BREAK_GLASS_ANNOTATION};
use crate::clock::{SharedClock, SystemClock};
use crate::config::LogFormat;
use crate::enforce::{self, Enforcer, Settings};
use crate::http::metrics::Metrics;

/// Arguments of `admission`: the webhook's settings, or a subcommand.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct AdmissionCommand {
    /// Something else than running the webhook.
    #[command(subcommand)]
    command: Option<AdmissionSubcommand>,
    /// The trust policy (YAML, docs/enforcement.md); every rule that checks names its `server`.
    #[arg(long, env = "NOTARIUM_POLICY", value_name = "FILE", required = true)]
    policy: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, env = "NOTARIUM_LISTEN", default_value = "0.0.0.0:8443")]
    listen: SocketAddr,
    /// PEM certificate chain of the webhook (for SERVICE.NAMESPACE.svc).
    #[arg(
        long,
        env = "NOTARIUM_TLS_CERT",
        value_name = "FILE",
        required_unless_present = "plain_http"
    )]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(
        long,
        env = "NOTARIUM_TLS_KEY",
        value_name = "FILE",
        required_unless_present = "plain_http"
    )]
    tls_key: Option<PathBuf>,
    /// Serve plain HTTP (behind a TLS-terminating proxy; the API server itself needs HTTPS).
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key"])]
    plain_http: bool,
    /// Where what was trusted is remembered (rollback protection, the root anchor).
    #[arg(
        long,
        env = "NOTARIUM_TRUST_DIR",
        value_name = "DIR",
        default_value = "notarium-trust"
    )]
    trust_dir: PathBuf,
    /// Answer within this many milliseconds, by each rule's failure mode when the trust server
    /// is slower; keep it below the webhooks' timeoutSeconds.
    #[arg(long, env = "NOTARIUM_DEADLINE_MS", default_value_t = 8000)]
    deadline_ms: u64,
    /// The annotation that admits, where a rule allows it, what that rule denies.
    #[arg(long, env = "NOTARIUM_BREAK_GLASS_ANNOTATION", default_value = BREAK_GLASS_ANNOTATION)]
    break_glass_annotation: String,
    /// The Docker config directory for registry credentials.
    #[arg(long, env = "DOCKER_CONFIG", value_name = "DIR")]
    docker_config: Option<PathBuf>,
    /// Log format: `human` or `json`.
    #[arg(long, env = "NOTARIUM_LOG_FORMAT", default_value = "human")]
    log_format: LogFormat,
}

/// Subcommands of `admission`.
#[derive(Debug, clap::Subcommand)]
pub enum AdmissionSubcommand {
    /// Make the webhook's TLS certificate for SERVICE.NAMESPACE.svc and print the caBundle.
    Certs(crate::cli::admission_certs::CertsCommand),
}

impl AdmissionCommand {
    /// Runs the webhook until SIGTERM or Ctrl-C (or the subcommand).
    pub fn run(self) -> anyhow::Result<()> {
        if let Some(AdmissionSubcommand::Certs(certs)) = self.command {
            return certs.run();
        }
        crate::cli::serve::init_tracing(self.log_format);
        crate::cli::runtime()?.block_on(self.serve())
    }

    async fn serve(self) -> anyhow::Result<()> {
        let policy_path = self
            .policy
            .clone()
            .context("--policy is required to run the webhook")?;
        let policy = enforce::load_policy(&policy_path).map_err(anyhow::Error::msg)?;
        let clock: SharedClock = Arc::new(SystemClock);
        let settings = Settings {
            trust_dir: Some(self.trust_dir.clone()),
            docker_config: self.docker_config.clone(),
            follow_changes: true,
            ..Settings::default()
        };
        tracing::info!(policy = %policy_path.display(), rules = policy.policy.rules.len(), "admission webhook");
        let enforcer = Arc::new(Enforcer::new(policy, None, settings, clock));
        let metrics = Arc::new(Metrics::new());
        let admission = Admission::new(
            Arc::clone(&enforcer),
            Duration::from_millis(self.deadline_ms),
            {
                enforcer.register_metrics(metrics.registry())?;
                AdmissionMetrics::new(metrics.registry())?
            },
        )
        .with_break_glass_annotation(self.break_glass_annotation.clone());
        crate::cli::serve::reload_on_sighup(enforcer, policy_path)?;
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(crate::tls::server_config(cert, key)?),
            _ => None,
        };
        let listener = crate::server::bind(self.listen)
            .with_context(|| format!("could not listen on {}", self.listen))?;
        let addr = listener.local_addr()?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        tracing::info!(address = %addr, "admission webhook on {scheme}://{addr}/k8s/mutate and /k8s/validate");
        let router = crate::http::admission_router(Arc::new(admission), metrics);
        crate::server::serve(listener, router, tls, crate::server::shutdown_signal()).await?;
        Ok(())
    }
}
