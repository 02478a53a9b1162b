//! The `healthscore` command line: argument parsing, exit codes, and one module per command.

mod evaluate;
mod generate;
mod replay;
mod run;
mod tune;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{Config, ConfigError};
use crate::engine::{EventTime, Model};
use crate::input::InputError;

pub use evaluate::EvaluateArgs;
pub use generate::GenerateArgs;
pub use replay::ReplayArgs;
pub use run::RunArgs;
pub use tune::TuneArgs;

/// Live, explainable customer health scores and churn-risk alerts from customer activity.
#[derive(Debug, Parser)]
#[command(name = "healthscore", version, about)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Runs the streaming service (Kafka in, Kafka out; `embedded` broker by default).
    Run(RunArgs),
    /// Runs the engine over JSON-lines files (no Kafka) and writes the output events.
    Replay(ReplayArgs),
    /// Backtests the model: how well churn risk and score predicted real churn.
    Evaluate(EvaluateArgs),
    /// Fits the model to real outcomes and writes the tuned model as a config file.
    Tune(TuneArgs),
    /// Writes realistic generated customer activity as JSON lines (demos, fixtures, load).
    Generate(GenerateArgs),
}

/// Why a command failed; each kind has its own exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The config is missing, unreadable or invalid (exit 64, EX_USAGE).
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// An argument is invalid (exit 64).
    #[error("{0}")]
    Usage(String),
    /// An input file cannot be read (exit 66, EX_NOINPUT).
    #[error("{0}")]
    Input(#[from] InputError),
    /// The service failed while running (exit 1).
    #[error("{0:#}")]
    Service(anyhow::Error),
    /// The input data cannot answer the question asked (exit 65, EX_DATAERR): outcomes all one
    /// way, events that end too soon.
    #[error("{0}")]
    Data(String),
    /// An output file cannot be written (exit 73, EX_CANTCREAT).
    #[error("cannot write {path}: {source}")]
    Output {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Config(_) | CliError::Usage(_) => 64,
            CliError::Input(_) => 66,
            CliError::Data(_) => 65,
            CliError::Output { .. } => 73,
            CliError::Service(_) => 1,
        }
    }
}

/// A file being written, with its path for error messages.
pub struct OutputFile {
    path: PathBuf,
    writer: BufWriter<File>,
}

impl OutputFile {
    /// Creates (or truncates) the file.
    pub fn create(path: &Path) -> Result<OutputFile, CliError> {
        let file = File::create(path).map_err(|source| CliError::Output {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(OutputFile {
            path: path.to_path_buf(),
            writer: BufWriter::new(file),
        })
    }

    /// Writes one line.
    pub fn line(&mut self, text: &str) -> Result<(), CliError> {
        writeln!(self.writer, "{text}").map_err(|source| CliError::Output {
            path: self.path.clone(),
            source,
        })
    }

    /// Flushes and closes the file.
    pub fn finish(mut self) -> Result<(), CliError> {
        self.writer.flush().map_err(|source| CliError::Output {
            path: self.path.clone(),
            source,
        })
    }
}

/// Parses a `--until`/`--at` time: RFC 3339 or epoch milliseconds.
fn parse_time(text: &str) -> Result<EventTime, String> {
    text.parse::<EventTime>()
        .map_err(|error| format!("`{text}` is not a time ({error})"))
}

/// Loads the config and compiles its model.
fn load_model(config: Option<&std::path::Path>) -> Result<Model, CliError> {
    let config = Config::load(config)?;
    Ok(Model::compile(&config.model)?)
}

/// Runs the parsed command line and returns the process exit code.
pub fn main_with(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Run(args) => run::run(&args),
        Command::Replay(args) => replay::run(&args),
        Command::Evaluate(args) => evaluate::run(&args),
        Command::Tune(args) => tune::run(&args),
        Command::Generate(args) => generate::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("healthscore: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}
