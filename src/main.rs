//! The `notarium` binary: parse the command line and hand over to the library.

use clap::Parser as _;

fn main() -> anyhow::Result<std::process::ExitCode> {
    notarium::cli::Cli::parse().run()
}
