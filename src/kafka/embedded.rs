//! The embedded default broker: librdkafka's in-process Kafka-protocol cluster on a local port,
//! with the configured topics created, so `healthscore run` works with no setup.
//!
//! The cluster lives on a thread of its own (librdkafka's handle may not move between threads);
//! this handle only holds its address and the means to stop it.

use std::sync::mpsc;
use std::thread::JoinHandle;

use rdkafka::mocking::MockCluster;

use crate::config::service::KafkaConfig;

/// A running embedded broker; stops when dropped.
pub struct EmbeddedBroker {
    bootstrap_servers: String,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// Why the embedded broker could not start.
#[derive(Debug, thiserror::Error)]
#[error("the embedded Kafka broker could not start: {0}")]
pub struct EmbeddedError(String);

impl EmbeddedBroker {
    /// Starts one broker and creates every input, output and dead-letter topic.
    pub fn start(kafka: &KafkaConfig) -> Result<EmbeddedBroker, EmbeddedError> {
        let partitions = kafka.embedded_partitions.max(1);
        let mut topics: Vec<String> = kafka
            .inputs
            .iter()
            .map(|input| input.topic.clone())
            .collect();
        topics.push(kafka.output_topic.clone());
        topics.push(kafka.dead_letter_topic.clone());
        let (ready, started) = mpsc::channel();
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("embedded-kafka".into())
            .spawn(move || {
                let cluster = match MockCluster::new(1) {
                    Ok(cluster) => cluster,
                    Err(error) => {
                        let _ = ready.send(Err(error.to_string()));
                        return;
                    }
                };
                for topic in &topics {
                    if let Err(error) = cluster.create_topic(topic, partitions, 1) {
                        let _ = ready.send(Err(format!("creating topic {topic}: {error}")));
                        return;
                    }
                }
                let _ = ready.send(Ok(cluster.bootstrap_servers()));
                // Runs until the handle is dropped (or its sender is gone).
                let _ = stopped.recv();
            })
            .map_err(|error| EmbeddedError(error.to_string()))?;
        let bootstrap_servers = started
            .recv()
            .map_err(|_| EmbeddedError("the broker thread ended early".into()))?
            .map_err(EmbeddedError)?;
        Ok(EmbeddedBroker {
            bootstrap_servers,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The address other Kafka clients (kcat, producers) can use.
    pub fn bootstrap_servers(&self) -> String {
        self.bootstrap_servers.clone()
    }
}

impl Drop for EmbeddedBroker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
