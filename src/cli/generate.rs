//! `healthscore generate`: writes realistic generated customer activity as JSON lines, for demos,
//! fixtures and load tests.

use std::path::PathBuf;

use clap::Args;

use super::{CliError, OutputFile};
use crate::engine::time::MILLIS_PER_DAY;
use crate::generator::{Generator, GeneratorSettings};

/// Arguments of `healthscore generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// How many customers to simulate.
    #[arg(long, default_value_t = 200)]
    pub customers: usize,
    /// How many days of activity to generate.
    #[arg(long, default_value_t = 90)]
    pub days: u32,
    /// Average events per customer per day.
    #[arg(long, default_value_t = 6.0)]
    pub rate: f64,
    /// The random seed (the same seed gives the same events).
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// The file to write (JSON lines).
    #[arg(long)]
    pub output: PathBuf,
}

/// Runs the command.
pub fn run(args: &GenerateArgs) -> Result<(), CliError> {
    if args.customers == 0 || args.rate.is_nan() || args.rate <= 0.0 {
        return Err(CliError::Usage(
            "--customers and --rate must be above zero".into(),
        ));
    }
    let settings = GeneratorSettings {
        customers: args.customers,
        seed: args.seed,
        events_per_customer_day: args.rate,
        ..GeneratorSettings::default()
    };
    let end = settings.start_millis + i64::from(args.days) * MILLIS_PER_DAY;
    let mut generator = Generator::new(&settings);
    let mut file = OutputFile::create(&args.output)?;
    let mut count = 0u64;
    loop {
        let event = generator.next_event();
        if event.time_millis > end {
            break;
        }
        file.line(&event.json)?;
        count += 1;
    }
    file.finish()?;
    eprintln!(
        "generate: {count} events for {} customers over {} days",
        args.customers, args.days
    );
    Ok(())
}
