//! `healthscore run`: the streaming service, until SIGTERM or SIGINT.

use std::path::PathBuf;

use clap::Args;
use tokio::sync::watch;

use super::CliError;
use crate::config::service::{LogFormat, LoggingConfig};
use crate::config::Config;
use crate::engine::Model;

/// Arguments of `healthscore run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The config file (default: HEALTHSCORE_CONFIG, else config/healthscore.toml, else built-in).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// Sets up `tracing` output as configured; `RUST_LOG` wins over the configured level.
fn init_logging(logging: &LoggingConfig) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&logging.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match logging.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Resolves when the process is asked to stop (SIGINT or SIGTERM).
async fn stop_requested() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Sends a reload request for every SIGHUP.
async fn forward_reload_requests(reload: tokio::sync::mpsc::Sender<()>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::warn!("Cannot listen for SIGHUP; model reloads are off.");
            return;
        };
        while hangups.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading the model.");
            if reload.send(()).await.is_err() {
                return;
            }
        }
    }
    #[cfg(not(unix))]
    drop(reload);
}

/// Runs the command.
pub fn run(args: &RunArgs) -> Result<(), CliError> {
    let config = Config::load(args.config.as_deref())?;
    Model::compile(&config.model)?;
    init_logging(&config.service.logging);
    tracing::info!(
        config = %config.origin,
        model_version = %config.model.model_version,
        settings = %config.service.to_masked_json(),
        "healthscore starting."
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| CliError::Service(error.into()))?;
    runtime.block_on(async {
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(async move {
            stop_requested().await;
            tracing::info!("Stop requested.");
            let _ = stop.send(true);
        });
        let (reload, requests) = tokio::sync::mpsc::channel(4);
        tokio::spawn(forward_reload_requests(reload));
        let reloads = crate::service::Reloads {
            requests,
            config_path: args.config.clone(),
        };
        crate::service::run_with_reloads(config, stopped, reloads)
            .await
            .map_err(CliError::Service)
    })?;
    tracing::info!("healthscore stopped cleanly.");
    Ok(())
}
