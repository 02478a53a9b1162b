//! Invariants over generated input: order independence, repeats applied once, decoders never panic.

mod support;

use proptest::prelude::*;

use healthscore::engine::decode::{decode_json, decode_protobuf};
use healthscore::engine::{Engine, EventTime};
use support::{default_model, event, feed, START_MILLIS};

/// One generated event: customer, kind, time offset in minutes, a number.
fn arbitrary_event() -> impl Strategy<Value = (usize, usize, u32, u8)> {
    (0usize..3, 0usize..12, 0u32..(180 * 24 * 60), 0u8..=10)
}

fn render((customer, kind, minutes, number): (usize, usize, u32, u8), id: Option<usize>) -> String {
    let customer = ["acme", "globex", "initech"][customer];
    let at = f64::from(minutes) / (24.0 * 60.0);
    let (event_type, extra) = match kind {
        0 => ("login", String::new()),
        1 => (
            "session",
            format!(r#""duration_s": {}"#, u32::from(number) * 300),
        ),
        2 => ("feature_used", format!(r#""feature": "f{number}""#)),
        3 => (
            "page_view",
            format!(
                r#""page": "{}""#,
                ["cancel", "pricing"][usize::from(number % 2)]
            ),
        ),
        4 => ("email_opened", String::new()),
        5 => ("csat", format!(r#""score": {}"#, 1 + number % 5)),
        6 => ("nps", format!(r#""score": {number}"#)),
        7 => (
            "invoice_paid",
            format!(
                r#""amount": {}, "days_late": {}"#,
                100 + u32::from(number),
                number
            ),
        ),
        8 => ("payment_failed", r#""amount": 10"#.to_string()),
        9 => (
            "ticket_opened",
            format!(r#""ticket_id": "t{number}", "priority": "high""#),
        ),
        10 => ("profile", format!(r#""seats": {}"#, u32::from(number) * 30)),
        _ => (
            "plan_changed",
            format!(r#""mrr": {}, "previous_mrr": 1"#, u32::from(number) * 500),
        ),
    };
    let extra = match id {
        Some(id) if extra.is_empty() => format!(r#""event_id": "id-{id}""#),
        Some(id) => format!(r#"{extra}, "event_id": "id-{id}""#),
        None => extra,
    };
    event(customer, event_type, at, &extra)
}

/// One customer's id, signals by name, score and risk.
type CustomerNumbers = (String, Vec<(String, serde_json::Value)>, f64, f64);

/// Every customer's signals and numbers at a fixed time after all events.
fn snapshot(engine: &Engine) -> Vec<CustomerNumbers> {
    let at = EventTime::from_millis(START_MILLIS + 200 * support::DAY_MILLIS).unwrap();
    let mut ids: Vec<&str> = engine.customer_ids().collect();
    ids.sort_unstable();
    ids.into_iter()
        .map(|id| {
            let view = engine.view(id, Some(at), false).unwrap();
            let evaluation = engine.evaluation(id, Some(at)).unwrap();
            (
                id.to_string(),
                view.signals.into_iter().collect(),
                evaluation.score,
                evaluation.risk,
            )
        })
        .collect()
}

fn assert_same_state(
    left: &[CustomerNumbers],
    right: &[CustomerNumbers],
) -> Result<(), TestCaseError> {
    prop_assert_eq!(left.len(), right.len());
    for (a, b) in left.iter().zip(right) {
        prop_assert_eq!(&a.0, &b.0);
        for ((name, x), (_, y)) in a.1.iter().zip(&b.1) {
            match (x.as_f64(), y.as_f64()) {
                (Some(x), Some(y)) => prop_assert!(
                    (x - y).abs() <= 1e-4 * x.abs().max(1.0),
                    "{} {}: {} vs {}",
                    a.0,
                    name,
                    x,
                    y
                ),
                _ => prop_assert_eq!(x, y, "{} {}", a.0, name),
            }
        }
        prop_assert!((a.2 - b.2).abs() < 1e-3, "score {} vs {}", a.2, b.2);
        prop_assert!((a.3 - b.3).abs() < 1e-4, "risk {} vs {}", a.3, b.3);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The same events in any order give the same aggregates, score and risk.
    #[test]
    fn shuffled_input_gives_the_same_state(
        events in prop::collection::vec(arbitrary_event(), 1..120),
        seed in any::<u64>(),
    ) {
        let lines: Vec<String> = events.iter().map(|event| render(*event, None)).collect();
        let mut shuffled = lines.clone();
        // A deterministic Fisher-Yates shuffle from the seed.
        let mut state = seed | 1;
        for index in (1..shuffled.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            shuffled.swap(index, (state % (index as u64 + 1)) as usize);
        }
        let mut in_order = Engine::new(default_model());
        feed(&mut in_order, &lines);
        let mut out_of_order = Engine::new(default_model());
        feed(&mut out_of_order, &shuffled);
        assert_same_state(&snapshot(&in_order), &snapshot(&out_of_order))?;
    }

    /// Repeating events (same `event_id`) anywhere in the stream changes nothing, as long as each
    /// customer's distinct events fit in the remembered window (8 by default).
    #[test]
    fn repeated_event_ids_are_applied_once(
        events in prop::collection::vec(arbitrary_event(), 1..8),
        repeats in prop::collection::vec((0usize..8, 0usize..16), 0..16),
    ) {
        let unique: Vec<String> = events
            .iter()
            .enumerate()
            .map(|(id, event)| render(*event, Some(id)))
            .collect();
        let mut with_repeats = unique.clone();
        for (which, position) in repeats {
            let line = unique[which % unique.len()].clone();
            let position = position.min(with_repeats.len());
            with_repeats.insert(position, line);
        }
        let mut once = Engine::new(default_model());
        feed(&mut once, &unique);
        let mut repeated = Engine::new(default_model());
        feed(&mut repeated, &with_repeats);
        assert_same_state(&snapshot(&once), &snapshot(&repeated))?;
    }

    /// No input bytes make the decoders panic.
    #[test]
    fn decoders_never_panic_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode_json(&bytes);
        let _ = decode_protobuf(&bytes);
    }

    /// Nor does JSON that is almost right: valid events with one field's value replaced.
    #[test]
    fn decoders_never_panic_on_mangled_json(
        event in arbitrary_event(),
        cut in 0usize..200,
        junk in "[\\x00-\\x7f]{0,8}",
    ) {
        let line = render(event, Some(1));
        let cut = cut.min(line.len());
        let mangled = format!("{}{}{}", &line[..cut], junk, &line[cut..]);
        let accepted = decode_json(mangled.as_bytes())
            .map(|event| event.customer_id.len())
            .ok();
        if let Some(length) = accepted {
            prop_assert!((1..=128).contains(&length));
        }
    }
}

/// The state of every customer, keyed by id: what a snapshot must reproduce.
fn views(engine: &Engine) -> std::collections::BTreeMap<String, String> {
    engine
        .customer_ids()
        .map(|id| {
            let view = engine.view(id, None, true);
            (id.to_string(), format!("{view:?}"))
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// A snapshot taken in steps while events keep arriving holds exactly the state at the moment
    /// it began: customers changed, expired, added or re-added into freed slots meanwhile do not
    /// leak into it, and a restored engine continues exactly like the one that began it.
    #[test]
    fn a_snapshot_taken_in_steps_is_the_state_where_it_began(
        before in prop::collection::vec((0usize..40, 0u32..(3 * 24 * 60)), 0..300),
        during in prop::collection::vec(
            (prop::collection::vec((0usize..40, 0u32..(3 * 24 * 60)), 0..30), 1usize..6),
            1..40,
        ),
        after in prop::collection::vec((0usize..40, 0u32..(3 * 24 * 60)), 0..200),
    ) {
        // Customers silent for 4 days expire, so slots are freed and reused mid-snapshot.
        let model = support::model_from(
            &healthscore::config::DEFAULT_CONFIG_TOML
                .replace("expire_after = \"400d\"", "expire_after = \"4d\""),
        );
        let mut day = 0.0;
        let mut lines = |events: &[(usize, u32)]| -> Vec<String> {
            events
                .iter()
                .map(|(customer, gap)| {
                    day += f64::from(*gap) / (24.0 * 60.0) / 8.0;
                    event(&format!("c{customer}"), "login", day, "")
                })
                .collect()
        };
        let mut engine = Engine::new(std::sync::Arc::clone(&model));
        feed(&mut engine, &lines(&before));
        let at_start = engine.clone();
        prop_assert!(engine.begin_snapshot());
        prop_assert!(!engine.begin_snapshot(), "one snapshot at a time");
        let mut bytes = None;
        for (events, budget) in &during {
            feed(&mut engine, &lines(events));
            if bytes.is_none() {
                bytes = engine.snapshot_step(*budget);
            }
        }
        let bytes = match bytes {
            Some(bytes) => bytes,
            None => engine.snapshot_step(usize::MAX).expect("an unbounded step completes it"),
        };
        prop_assert!(!engine.is_snapshotting());
        let mut restored = Engine::decode_state(std::sync::Arc::clone(&model), &bytes)
            .expect("the snapshot decodes");
        prop_assert_eq!(restored.clock(), at_start.clock());
        prop_assert_eq!(restored.expired_count(), at_start.expired_count());
        prop_assert_eq!(views(&restored), views(&at_start));
        let mut original = at_start;
        let further = lines(&after);
        prop_assert_eq!(feed(&mut restored, &further), feed(&mut original, &further));
        prop_assert_eq!(views(&restored), views(&original));
    }
}
