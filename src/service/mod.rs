//! `healthscore run`: the streaming service. Consumes the input topics as a consumer group,
//! feeds one engine per input partition number, publishes outputs and dead letters, snapshots
//! each partition's state with its input offsets, and takes on each assigned partition from its
//! newest valid snapshot.
//!
//! Three threads in a pipeline: the fetcher (a Tokio task) reads messages into batches, the
//! processing thread decodes, scores and serializes them between its timers (snapshots, gauges,
//! reloads), and the publishing thread sends outputs and dead letters; bounded queues between
//! them.

mod dead_letters;
mod evictions;
mod fetcher;
mod generator_task;
mod input_decoder;
mod input_merge;
mod input_topics;
mod merge_clock;
mod output_batch;
pub mod output_sink;
mod processing_thread;
mod processor;
mod publisher;
pub mod reload;
mod restore;
mod shared;
mod snapshots;
mod transaction_offsets;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use rdkafka::consumer::Consumer;
use rdkafka::producer::FutureProducer;
use tokio::sync::{mpsc, watch};

use crate::config::service::{ClockSource, HttpConfig, ProcessingGuarantee};
use crate::config::Config;
use crate::engine::Model;
use crate::http::CustomerAccess;
use crate::kafka::co_partitioning::{check_partition_counts, partition_counts};
use crate::kafka::connection_error::FatalConnectionSlot;
use crate::kafka::consumer::{
    InputConsumer, PartitionOwner, Positions, ResumeContext, SilentUntil,
};
use crate::kafka::embedded::EmbeddedBroker;
use crate::kafka::input_head::InputHead;
use crate::kafka::partition_offsets::{PartitionEnds, PartitionOffsets};
use crate::kafka::{client_config, ClientRole};

pub use fetcher::InputBatch;
use processing_thread::ProcessingLoop;
pub use processor::{InputProgress, Processor};
pub use publisher::{PendingCommit, Publisher};
pub use restore::SnapshotRestorer;
pub use shared::Shared;
use snapshots::Snapshots;

/// Requests to reload the model, and where the config file is read from.
pub struct Reloads {
    /// One message per reload request (SIGHUP).
    pub requests: mpsc::Receiver<()>,
    /// The config file given at start (`None`: the same default lookup as at start).
    pub config_path: Option<PathBuf>,
}

/// The customer API's access rule for `http`, checked before anything starts: a token file that
/// cannot be read, or an open API beyond loopback, ends start-up.
async fn customer_access(http: &HttpConfig) -> anyhow::Result<CustomerAccess> {
    let addresses: Vec<std::net::SocketAddr> = tokio::net::lookup_host(&http.listen)
        .await
        .with_context(|| format!("resolving http.listen = {}", http.listen))?
        .collect();
    Ok(CustomerAccess::from_config(http, &addresses)?)
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
    reloads: Reloads,
) -> anyhow::Result<()> {
    let model = Arc::new(Model::compile(&config.model).context("compiling the scoring model")?);
    let customer_access = Arc::new(customer_access(&config.service.http).await?);
    crate::telemetry::handle();
    crate::telemetry::initialize_counters(&model);
    crate::telemetry::record_model(&model.version, None);
    let kafka = &config.service.kafka;
    let exactly_once = config.service.processing.guarantee == ProcessingGuarantee::ExactlyOnce;
    if exactly_once && kafka.bootstrap_servers == "embedded" {
        anyhow::bail!(
            "processing.guarantee = \"exactly_once\" needs Kafka transactions, which the embedded \
             broker (librdkafka's MockCluster) does not implement: set kafka.bootstrap_servers to \
             a Kafka cluster, or use \"at_least_once\""
        );
    }
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
    let fatal_errors = Arc::new(FatalConnectionSlot::new(kafka));
    let shared = Arc::new(Shared::new(
        Arc::clone(&model),
        Arc::clone(&ready),
        bootstrap_servers.clone(),
    ));
    let silent_until = SilentUntil::default();
    let restorer = Arc::new(SnapshotRestorer::new(
        Arc::clone(&shared),
        &config.service.snapshot.dir,
        config.service.snapshot.keep,
        Arc::clone(&silent_until),
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
        .create_with_context({
            let context = ResumeContext::new(
                Arc::clone(&positions),
                Arc::clone(&restorer) as Arc<dyn PartitionOwner>,
                Arc::clone(&ready),
                Arc::clone(&partition_offsets),
                Arc::clone(&fatal_errors),
            );
            if exactly_once {
                context.reading_committed_offsets()
            } else {
                context
            }
        })
        .context("creating the Kafka consumer")?;
    let Some(cluster_id) = wait_for_cluster_id(&consumer, &fatal_errors, &mut shutdown).await?
    else {
        // Nothing was read, so there is nothing to snapshot: a clean stop.
        tracing::info!("Stopped before Kafka answered.");
        return Ok(());
    };
    restorer.set_cluster_id(&cluster_id);
    let topics: Vec<&str> = kafka
        .inputs
        .iter()
        .map(|input| input.topic.as_str())
        .collect();
    let counts = tokio::task::block_in_place(|| partition_counts(&consumer, &topics))
        .context("reading the input topics' metadata")?;
    check_partition_counts(&counts).context("checking kafka.inputs")?;
    let input_head = InputHead::new(
        client_config(kafka, &bootstrap_servers, ClientRole::Consumer),
        &format!("{}.input-head", kafka.group_id),
        kafka
            .inputs
            .iter()
            .map(|input| (input.topic.clone(), input.encoding))
            .collect(),
        kafka.max_message_bytes,
    )
    .context("creating the consumer that reads the head of the input")?;
    tokio::task::block_in_place(|| restorer.set_input_head(input_head));
    consumer
        .subscribe(&topics)
        .context("subscribing to the input topics")?;
    let mut producer_config = client_config(kafka, &bootstrap_servers, ClientRole::Producer);
    producer_config.set("enable.idempotence", "true");
    // A topic's max.message.bytes limits a whole record batch: batches stay within the limit
    // that dead letters are fitted to (librdkafka's default is 1,000,000), unless set.
    if !kafka.producer.contains_key("batch.size") && !kafka.client.contains_key("batch.size") {
        let batch_bytes = kafka.max_message_bytes.min(1_000_000);
        producer_config.set("batch.size", batch_bytes.to_string());
    }
    if exactly_once {
        // Records then time out with their transaction (transaction.timeout.ms).
        producer_config.set("transactional.id", transactional_id(&config));
    } else {
        producer_config.set("message.timeout.ms", "0");
    }
    let producer: FutureProducer = producer_config
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
        customer_access,
        shutdown.clone(),
    ));
    ready.store(true, Ordering::Relaxed);
    let announce_alerts = generator.is_some();
    let publisher = Publisher::spawn(
        producer,
        &kafka.output_topic,
        &kafka.dead_letter_topic,
        announce_alerts,
        config.service.processing.guarantee,
    )?;
    if exactly_once {
        restorer.set_committer(publisher.committer());
    }
    let consumer = Arc::new(consumer);
    let processor = Processor::new(
        Arc::clone(&shared),
        kafka,
        publisher,
        InputProgress {
            positions,
            partition_offsets,
            ends: Arc::clone(&consumer) as Arc<dyn PartitionEnds>,
            silent_until,
        },
        config.service.processing.guarantee,
    );
    let snapshots = Snapshots::new(
        Arc::clone(&shared),
        &config.service.snapshot.dir,
        config.service.snapshot.keep,
        cluster_id,
    );
    let (batch_sender, batches) = mpsc::channel(fetcher::QUEUED_BATCHES);
    let fetching = tokio::spawn(fetcher::fetch(
        Arc::clone(&consumer),
        Arc::clone(&shared),
        processor.decoder(),
        batch_sender,
    ));
    tracing::info!(topics = ?topics, group = %kafka.group_id, "Consuming.");
    let processing = ProcessingLoop {
        processor,
        snapshots,
        consumer: Arc::clone(&consumer),
        batches,
        shutdown,
        reloads,
        running_model: config.model.clone(),
        snapshot_interval: config
            .service
            .snapshot
            .interval
            .to_std()
            .max(Duration::from_secs(1)),
        follow_wall_clock: config.service.clock.source == ClockSource::Wall,
        restorer: Arc::clone(&restorer),
        commit_interval: exactly_once.then(|| {
            let interval = config.service.processing.commit_interval.to_std();
            interval.max(Duration::from_millis(1))
        }),
    }
    .spawn()?;
    let result = processing
        .await
        .unwrap_or_else(|_| Err(anyhow::anyhow!("the processing thread stopped")));
    fetching.abort();
    let _ = fetching.await;
    if let Some(generator) = generator {
        generator.abort();
        let _ = generator.await;
    }
    if result.is_ok() {
        let _ = http.await;
    }
    // Clients close before the embedded broker they talk to, or they would wait for it forever.
    drop(consumer);
    drop(embedded);
    result
}

/// The output producer's `transactional.id`: `processing.transactional_id`, else
/// `<group_id>-<group_instance_id>`, else `<group_id>-<host name>` (a StatefulSet's pod name).
fn transactional_id(config: &Config) -> String {
    if let Some(id) = &config.service.processing.transactional_id {
        return id.clone();
    }
    let kafka = &config.service.kafka;
    let instance = kafka.group_instance_id.clone().unwrap_or_else(|| {
        std::env::var("HOSTNAME")
            .ok()
            .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
            .map(|name| name.trim().to_string())
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| "healthscore".into())
    });
    format!("{}-{instance}", kafka.group_id)
}

/// Asks the broker for its cluster id, retrying while it cannot be reached; `None` if the
/// service is stopped meanwhile, an error if the broker refused the connection in a way that
/// retrying cannot mend (credentials, certificates).
async fn wait_for_cluster_id(
    consumer: &InputConsumer,
    fatal_errors: &FatalConnectionSlot,
    shutdown: &mut watch::Receiver<bool>,
) -> anyhow::Result<Option<String>> {
    loop {
        let client = consumer.client();
        let found = tokio::task::block_in_place(|| client.fetch_cluster_id(Duration::from_secs(2)));
        if found.is_some() {
            return Ok(found);
        }
        serve_client_events(consumer).await;
        if let Some(error) = fatal_errors.first() {
            return Err(error).context("connecting to kafka.bootstrap_servers");
        }
        tracing::warn!("Kafka is not reachable yet; waiting for it.");
        tokio::select! {
            _ = shutdown.changed() => return Ok(None),
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// Hands the consumer's queued events (errors, logs, statistics) to its context. Before it
/// subscribes nothing else polls it, so an error such as rejected credentials would go unseen.
/// Nothing is assigned yet, so no message can be taken here.
async fn serve_client_events(consumer: &InputConsumer) {
    for _ in 0..64 {
        let served = tokio::time::timeout(Duration::from_millis(20), consumer.recv()).await;
        if served.is_err() {
            return;
        }
    }
}
