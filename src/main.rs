//! The `healthscore` binary: parses the command line and hands over to [`healthscore::cli`].

use clap::Parser;

fn main() -> std::process::ExitCode {
    healthscore::cli::main_with(healthscore::cli::Cli::parse())
}
