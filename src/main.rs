//! The `notarium` binary: parse the command line and hand over to the library.

use clap::Parser as _;

/// jemalloc, with its background thread, gives freed memory back to the system within seconds,
/// where glibc's allocator keeps what each thread's arena once held (docs/decisions.md, "The
/// allocator"). The library does not choose an allocator; only this binary does. jemalloc is
/// built unprefixed, so SQLite's C code allocates from it too.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> anyhow::Result<std::process::ExitCode> {
    // Without the background thread, freed pages are returned only when the arena that held
    // them is used again; a refusal here only delays that, so it is not an error.
    let _ = tikv_jemalloc_ctl::background_thread::write(true);
    notarium::cli::Cli::parse().run()
}
