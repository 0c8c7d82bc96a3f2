//! `notarium keys`: the server-managed keys, for operators (see [`crate::signing::admin`]).

use std::path::PathBuf;

use anyhow::Context as _;

use crate::config::Config;
use crate::signing::{admin, Kek};
use crate::storage;

/// Arguments of `keys`.
#[derive(Debug, clap::Args)]
pub struct KeysCommand {
    #[command(subcommand)]
    action: KeysAction,
    /// Notarium's configuration file (the one `serve` reads).
    #[arg(long, env = "NOTARIUM_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Notarium's data directory [default: ./notarium-data].
    #[arg(long, env = "NOTARIUM_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// Notarium's database [default: sqlite://DATA_DIR/notarium.db].
    #[arg(long, env = "NOTARIUM_DATABASE_URL", global = true)]
    database_url: Option<String>,
    /// File holding the current key-encryption key (or set NOTARIUM_KEY_ENCRYPTION_KEY).
    #[arg(long, env = "NOTARIUM_KEY_ENCRYPTION_KEY_FILE", global = true)]
    key_encryption_key_file: Option<PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
enum KeysAction {
    /// List the timestamp and snapshot keys the server holds, with their age.
    List {
        /// Only this GUN's keys.
        #[arg(long)]
        gun: Option<String>,
    },
    /// Print the public keys as JSON.
    Export {
        /// Only this GUN's keys.
        #[arg(long)]
        gun: Option<String>,
    },
    /// Re-encrypt every private key under a new key-encryption key, in one transaction. The
    /// file is created with a new random key if it does not exist. Afterwards, point every
    /// replica at the new file and restart them.
    RotateKek {
        /// File holding (or to receive) the new key-encryption key.
        #[arg(long)]
        new_key_file: PathBuf,
    },
}

impl KeysCommand {
    /// Runs the chosen action.
    pub fn run(self) -> anyhow::Result<()> {
        let config = super::storage_config(
            self.config.clone(),
            self.data_dir.clone(),
            self.database_url.clone(),
            self.key_encryption_key_file.clone(),
        )?;
        let runtime = super::runtime()?;
        runtime.block_on(self.action.run(config))
    }
}

impl KeysAction {
    async fn run(self, config: Config) -> anyhow::Result<()> {
        let store = storage::open(&config.database_url, config.pool)
            .await
            .with_context(|| {
                format!(
                    "could not open database {}",
                    storage::redact_url(&config.database_url)
                )
            })?;
        let now = crate::clock::Clock::now(&crate::clock::SystemClock);
        match self {
            KeysAction::List { gun } => {
                println!(
                    "{:<40} {:<9} {:>3} {:<64} {:<8} AGE",
                    "GUN", "ROLE", "GEN", "KEY ID", "ALG"
                );
                for k in admin::list(&store, gun.as_deref()).await? {
                    let days = (now - k.created_at).num_days();
                    println!(
                        "{:<40} {:<9} {:>3} {:<64} {:<8} {days} d",
                        k.gun, k.role, k.generation, k.key_id, k.algorithm
                    );
                }
            }
            KeysAction::Export { gun } => {
                println!("{:#}", admin::export(&store, gun.as_deref()).await?);
            }
            KeysAction::RotateKek { new_key_file } => {
                let old = super::serve::load_kek(&config.kek)?;
                let new = Kek::load_or_create(&new_key_file, true)?;
                let n = admin::rotate_kek(&store, &old, &new).await?;
                println!(
                    "re-encrypted {n} keys under {}; now set NOTARIUM_KEY_ENCRYPTION_KEY_FILE={} \
                     (or key_encryption_key_file) on every replica and restart them",
                    new_key_file.display(),
                    new_key_file.display()
                );
            }
        }
        Ok(())
    }
}
