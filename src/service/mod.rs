//! `healthscore run`: the streaming service. Consumes the input topics as a consumer group,
//! feeds one engine per input partition number, publishes outputs and dead letters, snapshots
//! each partition's state with its input offsets, and takes on each assigned partition from its
//! newest valid snapshot.

mod generator_task;
mod processor;
mod publisher;
pub mod reload;
mod restore;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use rdkafka::consumer::Consumer;
use rdkafka::producer::FutureProducer;
use tokio::sync::{mpsc, watch};

use crate::config::service::ClockSource;
use crate::config::Config;
use crate::engine::{Model, PartitionedEngines};
use crate::http::Shared;
use crate::kafka::co_partitioning::{check_partition_counts, partition_counts};
use crate::kafka::consumer::{InputConsumer, PartitionOwner, Positions, ResumeContext};
use crate::kafka::embedded::EmbeddedBroker;
use crate::kafka::partition_offsets::PartitionOffsets;
use crate::kafka::{client_config, ClientRole};

pub use processor::{InputProgress, Processor};
pub use publisher::Publisher;
pub use restore::SnapshotRestorer;

/// The most input messages handled in a row before timers and signals are looked at again.
const MESSAGES_PER_TURN: usize = 512;

/// How often a snapshot in progress encodes its next step. Between steps, messages are processed;
/// each step takes about a millisecond, so processing never pauses for longer.
const CAPTURE_STEP_EVERY: Duration = Duration::from_millis(4);

/// Requests to reload the model, and where the config file is read from.
pub struct Reloads {
    /// One message per reload request (SIGHUP).
    pub requests: mpsc::Receiver<()>,
    /// The config file given at start (`None`: the same default lookup as at start).
    pub config_path: Option<PathBuf>,
}

/// Runs the service until `shutdown` turns true, then takes a final snapshot and returns.
pub async fn run(config: Config, shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
    let (_never, requests) = mpsc::channel(1);
    run_with_reloads(
        config,
        shutdown,
        Reloads {
            requests,
            config_path: None,
        },
    )
    .await
}

/// Like [`run`], also reloading the model on each request in `reloads`.
pub async fn run_with_reloads(
    config: Config,
    mut shutdown: watch::Receiver<bool>,
    mut reloads: Reloads,
) -> anyhow::Result<()> {
    let model = Arc::new(Model::compile(&config.model).context("compiling the scoring model")?);
    let mut running_model = config.model.clone();
    crate::telemetry::handle();
    crate::telemetry::initialize_counters();
    crate::telemetry::record_model(&model.version, None);
    let kafka = &config.service.kafka;
    let embedded = if kafka.bootstrap_servers == "embedded" {
        let broker = EmbeddedBroker::start(kafka).context("starting the embedded broker")?;
        tracing::info!(
            bootstrap_servers = %broker.bootstrap_servers(),
            "Embedded Kafka broker started; other clients can connect to it."
        );
        Some(broker)
    } else {
        None
    };
    let bootstrap_servers = embedded.as_ref().map_or_else(
        || kafka.bootstrap_servers.clone(),
        EmbeddedBroker::bootstrap_servers,
    );

    let positions: Positions = Arc::new(Mutex::new(HashMap::new()));
    let ready = Arc::new(AtomicBool::new(false));
    let partition_offsets = Arc::new(PartitionOffsets::default());
    let shared = Arc::new(Shared {
        engines: Mutex::new(PartitionedEngines::new(Arc::clone(&model))),
        ready: Arc::clone(&ready),
        partitions_taken: AtomicBool::new(false),
        bootstrap_servers: bootstrap_servers.clone(),
    });
    let restorer = Arc::new(SnapshotRestorer::new(
        Arc::clone(&shared),
        &config.service.snapshot.dir,
        config.service.snapshot.keep,
    ));
    let mut consumer_config = client_config(kafka, &bootstrap_servers, ClientRole::Consumer);
    if let Some(instance) = &kafka.group_instance_id {
        consumer_config.set("group.instance.id", instance);
    }
    let consumer: InputConsumer = consumer_config
        .set("group.id", &kafka.group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("partition.assignment.strategy", "range")
        .set("statistics.interval.ms", "1000")
        .create_with_context(ResumeContext::new(
            Arc::clone(&positions),
            Arc::clone(&restorer) as Arc<dyn PartitionOwner>,
            Arc::clone(&ready),
            Arc::clone(&partition_offsets),
        ))
        .context("creating the Kafka consumer")?;
    let cluster_id = wait_for_cluster_id(&consumer, &mut shutdown).await?;
    restorer.set_cluster_id(&cluster_id);
    let topics: Vec<&str> = kafka
        .inputs
        .iter()
        .map(|input| input.topic.as_str())
        .collect();
    let counts = tokio::task::block_in_place(|| partition_counts(&consumer, &topics))
        .context("reading the input topics' metadata")?;
    check_partition_counts(&counts).context("checking kafka.inputs")?;
    consumer
        .subscribe(&topics)
        .context("subscribing to the input topics")?;
    let producer: FutureProducer = client_config(kafka, &bootstrap_servers, ClientRole::Producer)
        .set("enable.idempotence", "true")
        .set("message.timeout.ms", "0")
        .set("linger.ms", "5")
        .create()
        .context("creating the Kafka producer")?;

    let generator = match (&embedded, config.service.generator.enabled) {
        (Some(_), true) => Some(generator_task::spawn(
            &config.service.generator,
            kafka,
            &bootstrap_servers,
            shutdown.clone(),
        )?),
        _ => None,
    };

    let listener = tokio::net::TcpListener::bind(&config.service.http.listen)
        .await
        .with_context(|| format!("listening on http.listen = {}", config.service.http.listen))?;
    tracing::info!(address = %config.service.http.listen, "HTTP server listening.");
    let http = tokio::spawn(crate::http::serve(
        listener,
        Arc::clone(&shared),
        shutdown.clone(),
    ));
    ready.store(true, Ordering::Relaxed);
    let announce_alerts = generator.is_some();
    let publisher = Publisher::spawn(
        producer,
        &kafka.output_topic,
        &kafka.dead_letter_topic,
        announce_alerts,
    )?;
    let mut processor = Processor::new(
        Arc::clone(&shared),
        kafka,
        publisher,
        InputProgress {
            positions,
            partition_offsets,
        },
        &config.service.snapshot,
        cluster_id,
    );
    let mut snapshot_timer = tokio::time::interval(
        config
            .service
            .snapshot
            .interval
            .to_std()
            .max(Duration::from_secs(1)),
    );
    snapshot_timer.tick().await;
    let mut capture_timer = tokio::time::interval(CAPTURE_STEP_EVERY);
    capture_timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let follow_wall_clock = config.service.clock.source == ClockSource::Wall;
    let mut wall_clock_timer = tokio::time::interval(Duration::from_secs(1));
    wall_clock_timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    wall_clock_timer.tick().await;
    let mut gauge_timer = tokio::time::interval(Duration::from_secs(1));
    gauge_timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tracing::info!(topics = ?topics, group = %kafka.group_id, "Consuming.");
    loop {
        tokio::select! {
            biased;
            _ = shutdown.changed() => break,
            outcome = processor.snapshot_written(), if processor.is_writing() => {
                processor.record_snapshot(outcome?, &consumer);
            }
            _ = gauge_timer.tick() => processor.update_gauges(),
            Some(()) = reloads.requests.recv() => {
                match reload::load_candidate(reloads.config_path.as_deref(), &running_model) {
                    Ok((model_config, model)) => {
                        let version = model.version.to_string();
                        let started = std::time::Instant::now();
                        let outputs = processor.apply_model(model).await?;
                        running_model = model_config;
                        ::metrics::counter!(crate::telemetry::MODEL_RELOADS, "result" => "applied").increment(1);
                        tracing::info!(
                            model_version = %version,
                            outputs,
                            millis = started.elapsed().as_millis() as u64,
                            "Model reloaded; every customer re-scored."
                        );
                    }
                    Err(rejected) => {
                        ::metrics::counter!(crate::telemetry::MODEL_RELOADS, "result" => "rejected").increment(1);
                        tracing::error!(reason = %rejected, "Model reload rejected; the running model stays.");
                    }
                }
            }
            _ = capture_timer.tick(), if processor.is_capturing() => processor.capture_step(),
            _ = snapshot_timer.tick() => processor.begin_snapshot().await?,
            _ = wall_clock_timer.tick(), if follow_wall_clock => {
                processor.follow_wall_clock().await?;
            }
            message = consumer.recv() => match message {
                Ok(message) => {
                    processor.handle(&message).await?;
                    drop(message);
                    // Whatever else is already fetched, without another round through the
                    // select: a bounded batch, so timers and snapshot steps are not held up.
                    for _ in 1..MESSAGES_PER_TURN {
                        match ready_now(consumer.recv()) {
                            Some(Ok(message)) => processor.handle(&message).await?,
                            Some(Err(error)) => {
                                tracing::warn!(%error, "Kafka consumer error; retrying.");
                                break;
                            }
                            None => break,
                        }
                    }
                    processor.end_batch().await?;
                }
                Err(error) => {
                    tracing::warn!(%error, "Kafka consumer error; retrying.");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            },
        }
    }
    tracing::info!("Shutting down: flushing outputs and taking a final snapshot.");
    if let Some(generator) = generator {
        generator.abort();
        let _ = generator.await;
    }
    let result = processor.final_snapshot(&consumer).await;
    let _ = http.await;
    // Clients close before the embedded broker they talk to, or they would wait for it forever.
    drop(processor);
    drop(consumer);
    drop(embedded);
    result
}

/// Polls `future` once: its output if it is ready now, else `None` (the future is dropped). For
/// draining messages already fetched without a timer or a clock read per message, as
/// `tokio::time::timeout(Duration::ZERO, ..)` would cost.
fn ready_now<F: std::future::Future>(future: F) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut context) {
        std::task::Poll::Ready(output) => Some(output),
        std::task::Poll::Pending => None,
    }
}

/// Asks the broker for its cluster id, retrying while it cannot be reached.
async fn wait_for_cluster_id(
    consumer: &InputConsumer,
    shutdown: &mut watch::Receiver<bool>,
) -> anyhow::Result<String> {
    loop {
        let client = consumer.client();
        let found = tokio::task::block_in_place(|| client.fetch_cluster_id(Duration::from_secs(5)));
        if let Some(cluster_id) = found {
            return Ok(cluster_id);
        }
        tracing::warn!("Kafka is not reachable yet; waiting for it.");
        tokio::select! {
            _ = shutdown.changed() => anyhow::bail!("stopped while waiting for Kafka"),
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}
