//! `notarium keys`: the server-managed keys, for operators (see [`crate::signing::admin`]).

use std::path::PathBuf;

use anyhow::Context as _;

use crate::config::{Config, StorageArgs};
use crate::signing::{admin, Kek};
use crate::storage;

/// Arguments of `keys`.
#[derive(Debug, clap::Args)]
pub struct KeysCommand {
    #[command(subcommand)]
    action: KeysAction,
    /// Where Notarium's configuration, database and key-encryption key are, as for `serve`.
    #[command(flatten)]
    storage: StorageArgs,
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
        let config = super::storage_config(&self.storage)?;
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
                // The local CA's key, when one is kept, follows, so the server certificate can
                // still be re-issued for new names.
                if crate::tls::LocalCa::reseal(&config.data_dir, &old, &new)? {
                    println!(
                        "re-encrypted the local CA's key under {}",
                        new_key_file.display()
                    );
                }
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

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    #[test]
    fn storage_flags_are_serves_own_and_accepted_after_the_action() {
        let argv = ["notarium", "keys", "list", "--data-dir", "/srv/n"];
        let cli = crate::cli::Cli::try_parse_from(argv).expect("valid flags");
        let crate::cli::Command::Keys(keys) = cli.command else {
            panic!("parsed as keys");
        };
        assert_eq!(keys.storage.args.data_dir, Some("/srv/n".into()));
        let config = crate::cli::storage_config(&keys.storage).expect("config");
        assert_eq!(config.database_url, "sqlite:///srv/n/notarium.db");
    }
}
