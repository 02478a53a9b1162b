//! The head of the input, as the service reads it: the latest event time among the last
//! messages of every partition of every input topic, over the Kafka protocol.

mod support;

use healthscore::engine::Encoding;
use healthscore::kafka::input_head::InputHead;
use rdkafka::ClientConfig;
use support::kafka::{broker, produce};
use support::{day, event};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_head_is_the_latest_event_time_among_the_last_messages() {
    let broker = broker();
    let suffix = std::process::id();
    let (usage, payment, empty) = (
        format!("head.usage.{suffix}"),
        format!("head.payment.{suffix}"),
        format!("head.empty.{suffix}"),
    );
    broker
        .create_partitioned_topics(&[&usage, &payment, &empty], 3)
        .await;
    produce(
        &broker.bootstrap,
        &usage,
        &[
            event("a", "login", 1.0, ""),
            event("b", "login", 9.0, ""),
            event("c", "login", 4.0, ""),
        ],
    );
    produce(
        &broker.bootstrap,
        &payment,
        &[event("a", "invoice_paid", 12.5, r#""amount": 5"#)],
    );
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", &broker.bootstrap);
    let head = InputHead::new(
        config,
        "head-reader",
        [usage, payment, empty]
            .into_iter()
            .map(|topic| (topic, Encoding::Json))
            .collect(),
        1_000_000,
    )
    .unwrap();
    let read = tokio::task::block_in_place(|| head.read());
    assert_eq!(read, Some(day(12.5)));
}
