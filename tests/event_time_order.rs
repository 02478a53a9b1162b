//! Event-time order across input topics, over the standard layout (five input topics, four
//! partitions each): the service applies each partition number's topics merged by event time,
//! so its outputs are those `replay` gives for the same events, `event_id` for `event_id` and in
//! each customer's order, whatever order the fetches return in; and a topic whose producer
//! starts later, within `kafka.max_idle`, changes nothing. On MockClusters, or Apache Kafka when
//! `HEALTHSCORE_TEST_BOOTSTRAP` is set.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use healthscore::config::ConfigDuration;
use healthscore::generator::GeneratedEvent;
use support::kafka::{broker, consume, run_service_until, Broker};
use support::layout::{
    by_customer, generated_stream, partition_ends, partition_of, produce, replay, standard_layout,
    StandardLayout,
};
use support::try_http_get;

/// Customers and days of generated activity: enough for every kind of output.
const CUSTOMERS: usize = 150;
const DAYS: i64 = 40;

/// What the service published, and its out-of-order count, once it has published `expected`
/// outputs; `while_running` runs (on its own thread) as soon as the service is started.
async fn run_service(
    broker: &Broker,
    layout: &StandardLayout,
    expected: usize,
    while_running: impl FnOnce() + Send + 'static,
) -> (Vec<String>, f64) {
    let (bootstrap, output) = (broker.bootstrap.clone(), layout.output.clone());
    let address = layout.config.service.http.listen.clone();
    let (sender, receiver) = std::sync::mpsc::channel();
    run_service_until(&layout.config, move || {
        while_running();
        let outputs = consume(&bootstrap, &output, expected);
        let metrics = try_http_get(&address, "/metrics").map(|(_, body)| body);
        sender.send((outputs, metrics)).unwrap();
    })
    .await
    .unwrap();
    let (outputs, metrics) = receiver.recv().unwrap();
    let metrics = metrics.expect("the service answers /metrics");
    (
        support::kafka::payloads(&outputs),
        counter_total(&metrics, "healthscore_events_out_of_order_total"),
    )
}

/// The sum of a counter over its labels in a Prometheus text page.
fn counter_total(metrics: &str, name: &str) -> f64 {
    let samples: Vec<f64> = metrics
        .lines()
        .filter(|line| line.starts_with(name))
        .filter_map(|line| line.rsplit(' ').next()?.parse().ok())
        .collect();
    assert!(!samples.is_empty(), "{name} is exported");
    samples.iter().sum()
}

/// Replay's outputs for `events`, by customer, up to the latest event time of each customer's
/// partition (replay's one clock runs to the latest event of all).
fn replayed_by_customer(
    layout: &StandardLayout,
    events: &[GeneratedEvent],
) -> BTreeMap<String, Vec<String>> {
    let directory = tempfile::tempdir().unwrap();
    let files = layout.write_files(directory.path(), events);
    let outputs = replay(&files, directory.path());
    let ends = partition_ends(events);
    by_customer(&outputs, |customer, at| at <= ends[&partition_of(customer)])
}

/// Fails with the first customer whose outputs differ, and where.
fn assert_same_outputs(
    service: &BTreeMap<String, Vec<String>>,
    replay: &BTreeMap<String, Vec<String>>,
) {
    let total = |outputs: &BTreeMap<String, Vec<String>>| outputs.values().map(Vec::len).sum();
    let (service_total, replay_total): (usize, usize) = (total(service), total(replay));
    for customer in replay.keys().chain(service.keys()) {
        let (ours, theirs) = (
            service.get(customer).cloned().unwrap_or_default(),
            replay.get(customer).cloned().unwrap_or_default(),
        );
        if ours != theirs {
            let at = ours
                .iter()
                .zip(&theirs)
                .position(|(ours, theirs)| ours != theirs)
                .unwrap_or(ours.len().min(theirs.len()));
            panic!(
                "customer {customer}: output {at} differs ({} from the service, {} from \
                 replay; {service_total} and {replay_total} in all)\n service: {:?}\n  replay: {:?}",
                ours.len(),
                theirs.len(),
                ours.get(at),
                theirs.get(at),
            );
        }
    }
    assert_eq!(service_total, replay_total);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_at_rest_gives_replays_outputs_event_id_for_event_id() {
    let broker = broker();
    let layout = standard_layout(&broker).await;
    let events = generated_stream(CUSTOMERS, DAYS, 17);
    layout.produce(&broker.bootstrap, &events, |_| true);
    let expected = replayed_by_customer(&layout, &events);
    let count = expected.values().map(Vec::len).sum();
    assert!(count > 500, "the stream gives many outputs ({count})");
    let alerts = expected
        .values()
        .flatten()
        .filter(|line| line.contains("\"type\":\"churn_risk_alert\""))
        .count();
    assert!(alerts > 20, "and churn alerts among them ({alerts})");

    let (outputs, out_of_order) = run_service(&broker, &layout, count, || {}).await;
    assert_same_outputs(&by_customer(&outputs, |_, _| true), &expected);
    assert_eq!(out_of_order, 0.0, "nothing was applied out of order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_whose_producer_starts_later_within_max_idle_changes_no_output() {
    let broker = broker();
    let mut layout = standard_layout(&broker).await;
    layout.config.service.kafka.max_idle = ConfigDuration::seconds(4);
    let events = generated_stream(CUSTOMERS, DAYS, 23);
    layout.produce(&broker.bootstrap, &events, |source| source != "payment");
    let expected = replayed_by_customer(&layout, &events);
    let count = expected.values().map(Vec::len).sum();

    // Payments are produced only once the service is reading the other topics.
    let (bootstrap, inputs, address) = (
        broker.bootstrap.clone(),
        layout.inputs.clone(),
        layout.config.service.http.listen.clone(),
    );
    let usage_topic = inputs[0].1.clone();
    let lagging = events.clone();
    let (outputs, out_of_order) = run_service(&broker, &layout, count, move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !try_http_get(&address, "/metrics").is_some_and(|(_, body)| {
            body.lines().any(|line| {
                line.starts_with("healthscore_consumer_lag_messages") && line.contains(&usage_topic)
            })
        }) {
            assert!(Instant::now() < deadline, "the service reads its input");
            std::thread::sleep(Duration::from_millis(50));
        }
        produce(&bootstrap, &inputs, &lagging, |source| source == "payment");
    })
    .await;
    assert_same_outputs(&by_customer(&outputs, |_, _| true), &expected);
    assert_eq!(out_of_order, 0.0, "the late topic was waited for");
}
