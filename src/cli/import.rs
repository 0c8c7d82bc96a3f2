//! `notarium import`: carries a notary-server's repositories (and notary-signer's keys) into
//! the database `serve` uses. See [`crate::import`].

use anyhow::Context as _;

use crate::config::{Config, StorageArgs};
use crate::import::source::SourceDb;
use crate::import::{Import, SignerEnvironment};
use crate::storage;

/// Arguments of `import`.
#[derive(Debug, clap::Args)]
pub struct ImportCommand {
    /// notary-server's database: mysql://USER[:PASSWORD]@HOST:PORT/DB or postgres://…
    #[arg(long)]
    from: String,
    /// notary-signer's database, to carry the timestamp and snapshot keys; each key's
    /// passphrase is read from NOTARY_SIGNER_<ALIAS>, as notary-signer reads it.
    #[arg(long)]
    signer_from: Option<String>,
    /// Where Notarium's configuration, database and key-encryption key are, as for `serve`.
    #[command(flatten)]
    storage: StorageArgs,
}

impl ImportCommand {
    /// Runs the import and prints one line per GUN.
    pub fn run(self) -> anyhow::Result<()> {
        let config = super::storage_config(&self.storage)?;
        super::serve::init_tracing(config.log_format);
        let runtime = super::runtime()?;
        runtime.block_on(self.import(config))
    }

    async fn import(self, config: Config) -> anyhow::Result<()> {
        if config.database_url.starts_with("sqlite:") {
            std::fs::create_dir_all(&config.data_dir).with_context(|| {
                format!(
                    "could not create data directory {}",
                    config.data_dir.display()
                )
            })?;
        }
        let server = SourceDb::connect(&self.from).await.with_context(|| {
            format!(
                "could not open the notary-server database {}",
                storage::redact_url(&self.from)
            )
        })?;
        let signer = match &self.signer_from {
            Some(url) => Some(SourceDb::connect(url).await.with_context(|| {
                format!(
                    "could not open the notary-signer database {}",
                    storage::redact_url(url)
                )
            })?),
            None => {
                println!(
                    "no --signer-from: server keys are not imported; each repository needs \
                     `notary key rotate GUN timestamp -r` before its next publish"
                );
                None
            }
        };
        let store = storage::open(&config.database_url, config.pool)
            .await
            .with_context(|| {
                format!(
                    "could not open database {}",
                    storage::redact_url(&config.database_url)
                )
            })?;
        let kek = super::serve::load_kek(&config.kek)?;
        let import = Import {
            server: &server,
            signer: signer.as_ref(),
            passphrases: &SignerEnvironment,
            store: &store,
            kek: &kek,
            now: crate::clock::Clock::now(&crate::clock::SystemClock),
        };
        let reports = import
            .run(|r| {
                println!(
                    "imported {}: {} files, {} changes, {} server keys",
                    r.gun, r.files, r.changes, r.keys
                );
                for w in &r.warnings {
                    println!("  warning: {}: {w}", r.gun);
                }
            })
            .await?;
        let warned = reports.iter().filter(|r| !r.warnings.is_empty()).count();
        println!(
            "{} repositories imported into {}{}",
            reports.len(),
            storage::redact_url(&config.database_url),
            if warned > 0 {
                format!("; {warned} with warnings above")
            } else {
                String::new()
            }
        );
        Ok(())
    }
}
