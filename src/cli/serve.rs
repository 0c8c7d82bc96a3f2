//! `notarium serve`: configuration, logging, storage, keys, TLS, then serve until a signal.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;

use crate::auth::issuer::Issuer;
use crate::auth::TokenAuth;
use crate::clock::{SharedClock, SystemClock};
use crate::config::{self, Config, KekSource, LogFormat, ServeArgs, Transport};
use crate::http::{router, AppState, Limits};
use crate::service::Repos;
use crate::signing::{Kek, ServerKeys};
use crate::tls::{certificate_names, server_config, server_config_with_clients, Issued, LocalCa};
use crate::{server, storage};

/// Arguments of `serve`: [`ServeArgs`], with each flag's default added to its help.
#[derive(Debug)]
pub struct ServeCommand {
    args: ServeArgs,
}

impl clap::FromArgMatches for ServeCommand {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        Ok(ServeCommand {
            args: ServeArgs::from_arg_matches(matches)?,
        })
    }

    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        self.args.update_from_arg_matches(matches)
    }
}

impl clap::Args for ServeCommand {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        ServeArgs::document_defaults(ServeArgs::augment_args(cmd))
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        ServeArgs::document_defaults(ServeArgs::augment_args_for_update(cmd))
    }
}

pub(crate) fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colour only for a person at a terminal, never in a log file or a collector.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Human => builder.try_init(),
    };
}

/// Logging for a command whose output is for people and scripts: warnings only, unless
/// `RUST_LOG` says otherwise.
pub(crate) fn init_tracing_quiet() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}

pub(crate) fn load_kek(source: &KekSource) -> anyhow::Result<Kek> {
    Ok(match source {
        KekSource::Inline(text) => Kek::from_base64(text)?,
        KekSource::File(path) => Kek::load_or_create(path, false)?,
        KekSource::Development(path) => {
            if !path.exists() {
                tracing::warn!(
                    path = %path.display(),
                    "no key-encryption key configured: generating a development key; \
                     set NOTARIUM_KEY_ENCRYPTION_KEY_FILE in production"
                );
            }
            Kek::load_or_create(path, true)?
        }
    })
}

/// Builds the application state from a resolved configuration.
pub async fn build_state(config: &Config, clock: SharedClock) -> anyhow::Result<AppState> {
    let store = storage::open(&config.database_url, config.pool)
        .await
        .with_context(|| {
            format!(
                "could not open the database ({})",
                config::storage_location(&config.database_url)
            )
        })?;
    let kek = load_kek(&config.kek)?;
    let keys = ServerKeys::new(Arc::clone(&store), kek, Arc::clone(&clock));
    let (auth, issuer) = match &config.auth_users {
        None => (config.auth.clone(), None),
        Some(built_in) => {
            let issuer = Issuer::load(
                &built_in.users,
                &config.data_dir.join("auth"),
                &built_in.issuer,
            )?;
            let realm = built_in.realm.clone().unwrap_or_else(|| own_realm(config));
            let auth = TokenAuth::new(
                &realm,
                &built_in.service,
                &built_in.issuer,
                issuer.bundle_pem().as_bytes(),
            )
            .map_err(|e| anyhow::anyhow!("built-in token service: {e}"))?;
            tracing::info!(realm = %realm, "token authentication with the built-in token service");
            (Some(Arc::new(auth)), Some(Arc::new(issuer)))
        }
    };
    let repos = Arc::new(Repos::new(store, keys, Arc::clone(&clock)));
    let enforcer = match &config.policy {
        None => None,
        Some(path) => {
            let policy = crate::enforce::load_policy(path).map_err(anyhow::Error::msg)?;
            tracing::info!(policy = %path.display(), rules = policy.policy.rules.len(), "serving POST /v1/verify");
            let settings = crate::enforce::Settings {
                trust_dir: Some(config.data_dir.join("trust")),
                follow_changes: true,
                ..crate::enforce::Settings::default()
            };
            Some(Arc::new(crate::enforce::Enforcer::new(
                policy,
                Some(Arc::clone(&repos)),
                settings,
                clock,
            )))
        }
    };
    let metrics = Arc::new(crate::http::metrics::Metrics::new());
    let admission = match &enforcer {
        None => None,
        Some(enforcer) => Some(Arc::new(crate::admission::Admission::new(
            Arc::clone(enforcer),
            crate::admission::DEFAULT_DEADLINE,
            {
                enforcer.register_metrics(metrics.registry())?;
                crate::admission::AdmissionMetrics::new(metrics.registry())?
            },
        ))),
    };
    Ok(AppState {
        repos,
        cache: config.cache,
        limits: Limits::default(),
        auth,
        issuer,
        metrics,
        uploads: crate::http::upload_budget::UploadBudget::new(config.upload_budget),
        enforcer,
        admission,
    })
}

/// This server's own token endpoint, as clients reach it.
fn own_realm(config: &Config) -> String {
    let scheme = if config.transport == Transport::Plain {
        "http"
    } else {
        "https"
    };
    let host = if config.listen.ip().is_unspecified() {
        format!("localhost:{}", config.listen.port())
    } else {
        config.listen.to_string()
    };
    format!("{scheme}://{host}/auth/token")
}

/// Logs what [`LocalCa::ensure`] did. A name that cannot be added is a warning when the
/// operator asked for it (`requested`), and only information when it is the host name, which
/// certificates made before it was covered all lack.
fn log_issued(ca: &LocalCa, issued: &Issued, names: &[String], requested: &[String]) {
    let cert = ca.server_cert.display();
    match issued {
        Issued::Existing => {}
        Issued::Created => tracing::info!(
            ca = %ca.ca_cert.display(),
            names = %names.join(", "),
            "generated a local CA and server certificate"
        ),
        Issued::Reissued(added) => tracing::info!(
            certificate = %cert,
            added = %added.join(", "),
            "re-issued the server certificate from the same local CA to cover more names; \
             clients that trust its ca.crt need no change"
        ),
        Issued::Uncovered { missing, reason } if missing.iter().any(|m| requested.contains(m)) => {
            tracing::warn!(
                certificate = %cert,
                missing = %missing.join(", "),
                "the server certificate does not cover every configured name and was kept: \
                 {reason}"
            );
        }
        Issued::Uncovered { missing, reason } => tracing::info!(
            certificate = %cert,
            missing = %missing.join(", "),
            "the server certificate does not cover this host's name and was kept: {reason}"
        ),
    }
}

fn print_docker_hint(addr: std::net::SocketAddr, ca: &Path) {
    let host = if addr.ip().is_unspecified() {
        format!("localhost:{}", addr.port())
    } else {
        addr.to_string()
    };
    println!("Notarium trust server: https://{host}");
    println!("Local CA certificate: {}", ca.display());
    println!("To use it with docker:");
    println!(
        "  mkdir -p ~/.docker/tls/{host} && cp {} ~/.docker/tls/{host}/ca.crt",
        ca.display()
    );
    println!("  export DOCKER_CONTENT_TRUST_SERVER=https://{host}");
    println!(
        "With notary: notary -s https://{host} --tlscacert {} …",
        ca.display()
    );
}

impl ServeCommand {
    /// Runs the server until SIGTERM or Ctrl-C.
    pub fn run(self) -> anyhow::Result<()> {
        let inline_kek = std::env::var("NOTARIUM_KEY_ENCRYPTION_KEY").ok();
        let config = Config::resolve(&self.args, inline_kek)?;
        init_tracing(config.log_format);
        tracing::info!(
            "storage: {}",
            config::storage_location(&config.database_url)
        );
        if let Some(warning) = config::open_listener_warning(&config) {
            tracing::warn!("{warning}");
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("could not start the async runtime")?;
        runtime.block_on(serve(config))
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir).with_context(|| {
        format!(
            "could not create data directory {}",
            config.data_dir.display()
        )
    })?;
    let state = build_state(&config, Arc::new(SystemClock)).await?;
    let (tls, ca) = match &config.transport {
        Transport::Tls {
            cert,
            key,
            client_ca,
        } => (
            Some(server_config_with_clients(cert, key, client_ca.as_deref())?),
            None,
        ),
        Transport::GeneratedTls => {
            let names = certificate_names(&config.tls_san);
            let (ca, issued) = LocalCa::ensure(&config.data_dir, &names, &load_kek(&config.kek)?)?;
            log_issued(&ca, &issued, &names, &config.tls_san);
            (
                Some(server_config(&ca.server_cert, &ca.server_key)?),
                Some(ca),
            )
        }
        Transport::Plain => (None, None),
    };
    let listener = server::bind(config.listen)
        .with_context(|| format!("could not listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(address = %addr, "serving on {scheme}://{addr}");
    if let Some(ca) = &ca {
        print_docker_hint(addr, &ca.ca_cert);
    }
    if !config.renew_interval.is_zero() {
        let repos = Arc::clone(&state.repos);
        let every = config.renew_interval;
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let (seen, failed) = repos.renew_all().await;
                tracing::debug!(repositories = seen, failed, "background renewal pass");
            }
        });
    }
    {
        // Mirrored repositories near their deadline are warned about hourly.
        let repos = Arc::clone(&state.repos);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(std::time::Duration::from_secs(3600));
            loop {
                ticks.tick().await;
                crate::mirror::warn_near_deadlines(repos.store(), repos.now()).await;
            }
        });
    }
    if let (Some(enforcer), Some(path)) = (&state.enforcer, &config.policy) {
        reload_on_sighup(Arc::clone(enforcer), path.clone())?;
    }
    server::serve(listener, router(state), tls, server::shutdown_signal()).await?;
    Ok(())
}

/// Reloads the trust policy on each SIGHUP; a policy that does not load is logged and the one
/// in force stays.
pub(crate) fn reload_on_sighup(
    enforcer: Arc<crate::enforce::Enforcer>,
    path: std::path::PathBuf,
) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangups = signal(SignalKind::hangup()).context("could not listen for SIGHUP")?;
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            match crate::enforce::load_policy(&path) {
                Ok(policy) => {
                    tracing::info!(policy = %path.display(), rules = policy.policy.rules.len(), "reloaded the trust policy");
                    enforcer.replace_policy(policy);
                }
                Err(e) => tracing::error!(
                    "the trust policy was not reloaded, the one in force stays: {e}"
                ),
            }
        }
    });
    Ok(())
}
