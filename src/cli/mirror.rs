//! `notarium mirror`: copies repositories from another trust server over its public API and
//! follows it until the handover; `notarium mirror status` shows what is left to hand over.
//! See [`crate::mirror`].

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;

use crate::config::StorageArgs;
use crate::gun::Gun;
use crate::mirror::check::handover_commands;
use crate::remote::{Credentials, Remote, RemoteConfig};
use crate::storage::{self, SharedStore};

/// Arguments of `mirror`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct MirrorCommand {
    /// `status`, or nothing to copy.
    #[command(subcommand)]
    action: Option<MirrorAction>,
    /// What to copy.
    #[command(flatten)]
    copy: CopyArgs,
}

/// Subcommands of `mirror`.
#[derive(Debug, clap::Subcommand)]
enum MirrorAction {
    /// List the mirrored repositories, what each still needs handed over, by when, and how.
    Status(StatusArgs),
}

#[derive(Debug, clap::Args)]
struct CopyArgs {
    /// The trust server to copy from, e.g. https://notary.docker.io.
    #[arg(long, value_name = "URL")]
    from: Option<String>,
    /// A PEM bundle of CAs to trust for --from (instead of the system's roots).
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,
    /// A repository (GUN) to copy; repeatable.
    #[arg(long = "gun", value_name = "GUN")]
    guns: Vec<String>,
    /// A file of GUNs, one a line (`#` starts a comment).
    #[arg(long, value_name = "FILE")]
    gun_file: Option<PathBuf>,
    /// Keep following the source every INTERVAL (`30s`, `5m`, `1h`) until every repository
    /// is handed over: its changefeed where it has one, else each repository's timestamp.
    #[arg(long, value_name = "INTERVAL", value_parser = parse_interval)]
    watch: Option<Duration>,
    /// The Docker config directory for registry credentials (default: $DOCKER_CONFIG, else
    /// ~/.docker).
    #[arg(long, env = "DOCKER_CONFIG", value_name = "DIR")]
    docker_config: Option<PathBuf>,
    /// A user name for the source's token service (the password in NOTARIUM_PASSWORD, or
    /// --password-stdin); without it, NOTARY_AUTH or the Docker config's credentials are used.
    #[arg(long, value_name = "USER")]
    username: Option<String>,
    /// Read the password for --username from standard input.
    #[arg(long, requires = "username")]
    password_stdin: bool,
    /// Where Notarium's configuration, database and key-encryption key are, as for `serve`.
    #[command(flatten)]
    storage: StorageArgs,
}

#[derive(Debug, clap::Args)]
struct StatusArgs {
    /// This server's URL as clients reach it, for the commands printed.
    #[arg(long, value_name = "URL", default_value = "https://NOTARIUM")]
    server: String,
    /// Where Notarium's configuration, database and key-encryption key are, as for `serve`.
    #[command(flatten)]
    storage: StorageArgs,
}

/// `30s`, `5m`, `2h` or plain seconds; at least one second.
fn parse_interval(text: &str) -> Result<Duration, String> {
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not an interval like 30s, 5m or 1h"))?;
    let seconds = match unit {
        "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        _ => return Err(format!("{text:?}: the unit is s, m or h")),
    };
    if seconds == 0 {
        return Err("the interval must be at least 1s".to_owned());
    }
    Ok(Duration::from_secs(seconds))
}

impl MirrorCommand {
    /// Runs the copy (and the watch), or the status.
    pub fn run(self) -> anyhow::Result<std::process::ExitCode> {
        match self.action {
            Some(MirrorAction::Status(status)) => status.run(),
            None => self.copy.run(),
        }
    }
}

async fn open_store(storage: &StorageArgs) -> anyhow::Result<SharedStore> {
    let config = super::storage_config(storage)?;
    if config.database_url.starts_with("sqlite:") {
        std::fs::create_dir_all(&config.data_dir).with_context(|| {
            format!(
                "could not create data directory {}",
                config.data_dir.display()
            )
        })?;
    }
    storage::open(&config.database_url, config.pool)
        .await
        .with_context(|| {
            format!(
                "could not open database {}",
                storage::redact_url(&config.database_url)
            )
        })
}

impl CopyArgs {
    fn run(self) -> anyhow::Result<std::process::ExitCode> {
        let config = super::storage_config(&self.storage)?;
        super::serve::init_tracing(config.log_format);
        let Some(from) = self.from.clone() else {
            anyhow::bail!("mirror needs --from URL (or the subcommand `status`)");
        };
        let guns = self.guns()?;
        let credentials = self.credentials()?;
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let remote = Remote::new(RemoteConfig {
            server: from.trim_end_matches('/').to_owned(),
            ca: self.ca.clone(),
            credentials,
            docker_config: self
                .docker_config
                .clone()
                .or_else(|| home.map(|h| h.join(".docker"))),
            timeout: Duration::from_secs(30),
        })?;
        let runtime = super::runtime()?;
        runtime.block_on(async {
            let store = open_store(&self.storage).await?;
            let failed = copy_all(&remote, &store, &guns).await;
            if let Some(interval) = self.watch {
                watch(&remote, &store, &guns, interval).await?;
            }
            Ok(if failed == 0 {
                std::process::ExitCode::SUCCESS
            } else {
                std::process::ExitCode::FAILURE
            })
        })
    }

    fn guns(&self) -> anyhow::Result<Vec<Gun>> {
        let mut names: Vec<String> = self.guns.clone();
        if let Some(file) = &self.gun_file {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("could not read {}", file.display()))?;
            names.extend(
                text.lines()
                    .map(|l| l.split('#').next().unwrap_or("").trim())
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned),
            );
        }
        anyhow::ensure!(!names.is_empty(), "no repository: give --gun or --gun-file");
        let mut seen = BTreeSet::new();
        names
            .into_iter()
            .filter(|n| seen.insert(n.clone()))
            .map(|n| Gun::parse(&n).map_err(|e| anyhow::anyhow!("GUN {n:?}: {e}")))
            .collect()
    }

    fn credentials(&self) -> anyhow::Result<Option<Credentials>> {
        let Some(username) = &self.username else {
            return Ok(None);
        };
        let password = if self.password_stdin {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .context("--password-stdin")?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        } else {
            std::env::var("NOTARIUM_PASSWORD").map_err(|_| {
                anyhow::anyhow!(
                    "--username needs a password: --password-stdin, or NOTARIUM_PASSWORD"
                )
            })?
        };
        Ok(Some(Credentials {
            username: username.clone(),
            password: zeroize::Zeroizing::new(password),
        }))
    }
}

/// Copies every GUN once, printing one line each; returns how many failed.
async fn copy_all(remote: &Remote, store: &SharedStore, guns: &[Gun]) -> usize {
    let mut failed = 0;
    for gun in guns {
        if !copy_one(remote, store, gun).await {
            failed += 1;
        }
    }
    failed
}

async fn copy_one(remote: &Remote, store: &SharedStore, gun: &Gun) -> bool {
    let now = crate::clock::Clock::now(&crate::clock::SystemClock);
    match crate::mirror::mirror_gun(remote, store, gun, now).await {
        Ok(stored) => {
            println!(
                "mirrored {gun} from {}: {} files ({} new); held by the source: {}; \
                 hand over before {}",
                remote.server(),
                stored.files,
                stored.new,
                stored.server_roles.join(", "),
                stored.deadline.to_rfc3339()
            );
            true
        }
        Err(e) => {
            println!("not mirrored {gun}: {}", crate::report::Chain(&e));
            false
        }
    }
}

/// Follows the source until no GUN of `guns` is still mirrored here, or until SIGTERM or
/// Ctrl-C (a clean stop: what was copied stays).
async fn watch(
    remote: &Remote,
    store: &SharedStore,
    guns: &[Gun],
    interval: Duration,
) -> anyhow::Result<()> {
    let stop = crate::server::shutdown_signal();
    tokio::pin!(stop);
    // Where the changefeed stands now; without one, every repository is read each interval.
    let mut position = match remote.changes(None).await {
        Ok(records) => Some(records.last().map_or(0, |c| c.id)),
        Err(e) => {
            tracing::info!(error = %e, "the source has no readable changefeed: polling");
            None
        }
    };
    loop {
        let mut following = Vec::new();
        for gun in guns {
            if store.mirror(gun).await?.is_some() {
                following.push(gun.clone());
            }
        }
        if following.is_empty() {
            println!("every repository is handed over: stopped following");
            return Ok(());
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = &mut stop => {
                println!("stopped following");
                return Ok(());
            }
        }
        let changed: Vec<Gun> = match position {
            Some(after) => match remote.changes(Some(after)).await {
                Ok(records) => {
                    if let Some(last) = records.last() {
                        position = Some(last.id);
                    }
                    let names: BTreeSet<String> = records.into_iter().map(|c| c.gun).collect();
                    following
                        .into_iter()
                        .filter(|g| names.contains(g.as_str()))
                        .collect()
                }
                Err(e) => {
                    tracing::warn!(error = %e, "reading the source's changefeed failed");
                    Vec::new()
                }
            },
            None => following,
        };
        for gun in &changed {
            copy_one(remote, store, gun).await;
        }
    }
}

impl StatusArgs {
    fn run(self) -> anyhow::Result<std::process::ExitCode> {
        let runtime = super::runtime()?;
        runtime.block_on(async {
            let store = open_store(&self.storage).await?;
            let mirrors = store.mirrors().await?;
            if mirrors.is_empty() {
                println!("no mirrored repository: every repository here is native");
            }
            let now = crate::clock::Clock::now(&crate::clock::SystemClock);
            for (m, deadline) in crate::mirror::deadlines(&store).await? {
                let left = deadline.map_or_else(
                    || "unknown".to_owned(),
                    |d| {
                        let hours = (d - now).num_hours();
                        format!("{} ({hours} h left)", d.to_rfc3339())
                    },
                );
                println!(
                    "{}: mirrored from {}; held by the source: {}; deadline {left}",
                    m.gun,
                    m.source,
                    m.server_roles.join(", ")
                );
                for command in handover_commands(&self.server, &m.source, &m.gun, &m.server_roles) {
                    println!("  {command}");
                }
            }
            Ok(std::process::ExitCode::SUCCESS)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::parse_interval;
    use std::time::Duration;

    #[test]
    fn intervals_read_units_and_refuse_zero() {
        assert_eq!(parse_interval("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_interval("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_interval("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_interval("7"), Ok(Duration::from_secs(7)));
        assert!(parse_interval("0s").is_err());
        assert!(parse_interval("5d").is_err());
        assert!(parse_interval("soon").is_err());
    }
}
