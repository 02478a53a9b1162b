//! Produces the built-in demo activity into the embedded broker's input topics.

use std::time::Duration;

use anyhow::Context;
use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::service::{GeneratorConfig, KafkaConfig};
use crate::generator::{Generator, GeneratorSettings};
use crate::kafka::{client_config, ClientRole};

/// Starts producing generated events at the configured rate.
pub fn spawn(
    settings: &GeneratorConfig,
    kafka: &KafkaConfig,
    bootstrap_servers: &str,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<JoinHandle<()>> {
    let producer: FutureProducer = client_config(kafka, bootstrap_servers, ClientRole::Producer)
        .create()
        .context("creating the generator's producer")?;
    let topics: Vec<(String, String)> = kafka
        .inputs
        .iter()
        .map(|input| (input.source.clone(), input.topic.clone()))
        .collect();
    let mut generator = Generator::new(&GeneratorSettings {
        customers: settings.customers.max(1),
        seed: settings.seed,
        events_per_customer_day: settings.events_per_customer_day,
        ..GeneratorSettings::default()
    });
    let per_tick = (settings.events_per_second / 100).max(1);
    tracing::info!(
        customers = settings.customers,
        events_per_second = settings.events_per_second,
        "Demo generator producing into the embedded broker."
    );
    Ok(tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_millis(10));
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = ticker.tick() => {}
            }
            for _ in 0..per_tick {
                let event = generator.next_event();
                let Some((_, topic)) = topics.iter().find(|(source, _)| source == event.source)
                else {
                    continue;
                };
                let record = FutureRecord::to(topic)
                    .key(&event.customer_id)
                    .payload(&event.json);
                if let Err((error, _)) = producer.send_result(record) {
                    tracing::debug!(%error, "Generator could not enqueue an event; skipping it.");
                }
            }
        }
    }))
}
