//! The `healthscore` binary: parses the command line and hands over to [`healthscore::cli`].

use clap::Parser;

/// The process's allocator. The service decodes each event into owned data on the fetcher's
/// thread and frees it on the processing thread; glibc's allocator spent about a fifth of the
/// service's CPU on that traffic (`perf record` of the peer bench, BENCHMARKS.md), mimalloc
/// much less.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    healthscore::cli::main_with(healthscore::cli::Cli::parse())
}
