//! The command line: one module per subcommand.

pub mod admission;
pub mod admission_certs;
pub mod import;
pub mod keys;
pub mod mirror;
pub mod serve;
pub mod sign;
pub mod verify;

use clap::{Parser, Subcommand};

/// Notarium: a trust server for container images, speaking Notary v1 / Docker Content Trust.
#[derive(Debug, Parser)]
#[command(name = "notarium", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the trust server.
    Serve(Box<serve::ServeCommand>),
    /// Carry a notary-server's repositories (and notary-signer's keys) into Notarium.
    Import(import::ImportCommand),
    /// Copy repositories from another trust server (a hosted notary) over its API, follow it,
    /// and guide the handover of the keys it holds.
    Mirror(Box<mirror::MirrorCommand>),
    /// List, export and re-encrypt the server-managed keys.
    Keys(keys::KeysCommand),
    /// The Kubernetes admission webhook on its own: pins images to signed digests and denies
    /// unsigned ones, reading the trust servers the policy names.
    Admission(Box<admission::AdmissionCommand>),
    /// Check images against a policy with a trust server's data; print them pinned to their
    /// signed digests.
    Verify(verify::VerifyCommand),
    /// Sign a pushed image's tag for Docker Content Trust without a daemon: its digest and
    /// size from the registry into the signer's delegations, as `docker trust sign` does.
    Sign(Box<sign::SignCommand>),
    /// Remove a signed tag from the signer's delegations, as `docker trust revoke` does.
    Revoke(sign::RevokeCommand),
    /// Print a configuration file with every key and its default.
    PrintDefaultConfig,
}

impl Cli {
    /// Runs the chosen subcommand.
    pub fn run(self) -> anyhow::Result<std::process::ExitCode> {
        match self.command {
            Command::Verify(cmd) => Ok(cmd.run()),
            Command::Sign(cmd) => Ok(cmd.run()),
            Command::Revoke(cmd) => Ok(cmd.run()),
            Command::Admission(cmd) => cmd.run().map(|()| std::process::ExitCode::SUCCESS),
            Command::Serve(cmd) => cmd.run().map(|()| std::process::ExitCode::SUCCESS),
            Command::Import(cmd) => cmd.run().map(|()| std::process::ExitCode::SUCCESS),
            Command::Mirror(cmd) => cmd.run(),
            Command::Keys(cmd) => cmd.run().map(|()| std::process::ExitCode::SUCCESS),
            Command::PrintDefaultConfig => {
                print!("{}", crate::config::default_config_toml());
                Ok(std::process::ExitCode::SUCCESS)
            }
        }
    }
}

/// The configuration `serve` would resolve for its storage and key-encryption key, from the
/// flags the maintenance commands (`import`, `keys`) share with it.
pub(crate) fn storage_config(
    storage: &crate::config::StorageArgs,
) -> anyhow::Result<crate::config::Config> {
    crate::config::Config::resolve(
        &storage.args,
        std::env::var("NOTARIUM_KEY_ENCRYPTION_KEY").ok(),
    )
}

/// The multi-threaded runtime every subcommand runs on.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context as _;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    #[test]
    fn cli_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
