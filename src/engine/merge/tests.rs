//! The event-time merge's rules, one test each.

use super::*;

/// Takes everything the merge gives out at `now`, as (input, item).
fn drain(merge: &mut EventTimeMerge<&'static str>, now: u64) -> Vec<(usize, &'static str)> {
    std::iter::from_fn(|| merge.pop(now))
        .map(|merged| (merged.input, merged.item))
        .collect()
}

#[test]
fn heads_go_in_time_order_ties_to_the_first_input_each_input_in_its_own_order() {
    let mut merge = EventTimeMerge::new(3, 100, 0);
    merge.push(0, Some(10), "usage@10", 0);
    merge.push(0, Some(30), "usage@30", 0);
    merge.push(1, Some(10), "email@10", 0);
    merge.push(1, Some(5), "email@5 after email@10", 0);
    merge.push(2, Some(20), "support@20", 0);
    for input in 0..3 {
        merge.set_caught_up(input, true);
    }
    assert_eq!(
        drain(&mut merge, 0),
        [
            (0, "usage@10"),
            (1, "email@10"),
            (1, "email@5 after email@10"),
            (2, "support@20"),
            (0, "usage@30"),
        ]
    );
    assert!(merge.is_empty());
}

#[test]
fn an_empty_input_that_is_not_caught_up_is_waited_for_up_to_max_idle() {
    let mut merge = EventTimeMerge::new(2, 100, 1_000);
    merge.push(0, Some(50), "usage@50", 1_000);
    merge.set_caught_up(0, true);
    // The payments input has sent nothing yet and is behind: wait for it.
    assert_eq!(merge.pop(1_050), None);
    assert_eq!(merge.wait_until(), Some(1_100));
    // It delivers an earlier event within the wait: merged order holds.
    merge.push(1, Some(20), "payment@20", 0);
    merge.set_caught_up(1, true);
    let first = merge.pop(1_060).expect("ready");
    assert_eq!(
        (first.input, first.item, first.forced),
        (1, "payment@20", false)
    );
    assert_eq!(merge.pop(1_060).map(|merged| merged.item), Some("usage@50"));
    assert_eq!(merge.wait_until(), None, "nothing is queued");
}

#[test]
fn after_max_idle_the_merge_goes_on_and_a_later_earlier_event_is_late() {
    let mut merge = EventTimeMerge::new(2, 100, 0);
    merge.push(0, Some(50), "usage@50", 0);
    assert_eq!(merge.pop(99), None);
    let forced = merge.pop(100).expect("max_idle passed");
    assert_eq!(
        (forced.item, forced.forced, forced.late),
        ("usage@50", true, false)
    );
    merge.push(1, Some(20), "payment@20", 0);
    merge.set_caught_up(0, true);
    let late = merge.pop(100).expect("queued");
    assert_eq!((late.item, late.late), ("payment@20", true));
}

#[test]
fn a_caught_up_input_holds_nothing_back_and_untimed_items_go_at_once() {
    let mut merge = EventTimeMerge::new(2, 1_000, 0);
    merge.set_caught_up(1, true);
    merge.push(0, None, "not json", 0);
    merge.push(0, Some(7), "usage@7", 0);
    assert_eq!(drain(&mut merge, 0), [(0, "not json"), (0, "usage@7")]);
    // Input 0 is empty and not caught up: an untimed head elsewhere still goes, a timed one
    // waits.
    merge.push(1, None, "bad payment", 0);
    merge.push(1, Some(3), "payment@3", 0);
    assert_eq!(drain(&mut merge, 10), [(1, "bad payment")]);
    assert_eq!(merge.queued(1), 1);
    assert_eq!(merge.wait_until(), Some(1_000));
}

proptest::proptest! {
    /// Inputs each in time order, all caught up: the merge is a stable sort of everything
    /// by (time, input), each input's own order kept, and nothing is late.
    #[test]
    fn with_every_input_caught_up_the_merge_sorts_by_time_then_input(
        inputs in proptest::collection::vec(
            proptest::collection::vec(0i64..50, 0..20), 1..5)
    ) {
        let mut merge = EventTimeMerge::new(inputs.len(), 1_000, 0);
        let mut expected = Vec::new();
        for (input, times) in inputs.iter().enumerate() {
            let mut times = times.clone();
            times.sort_unstable();
            for (position, time) in times.iter().enumerate() {
                merge.push(input, Some(*time), (input, position), 0);
                expected.push((*time, input, position));
            }
            merge.set_caught_up(input, true);
        }
        expected.sort();
        let merged: Vec<Merged<(usize, usize)>> = std::iter::from_fn(|| merge.pop(0)).collect();
        proptest::prop_assert!(merged.iter().all(|merged| !merged.late && !merged.forced));
        let order: Vec<(usize, usize)> = merged.into_iter().map(|merged| merged.item).collect();
        let expected: Vec<(usize, usize)> =
            expected.into_iter().map(|(_, input, position)| (input, position)).collect();
        proptest::prop_assert_eq!(order, expected);
    }
}

#[test]
fn a_backlog_head_waits_for_an_input_that_just_emptied_a_fresh_one_from_its_arrival() {
    let mut merge = EventTimeMerge::new(3, 100, 0);
    merge.push(1, Some(5), "email@5", 0);
    merge.push(2, Some(9), "support@9", 0);
    // Support comes from a backlog (more of it on the broker).
    merge.set_behind(2, true);
    // Profiles (input 0) have sent nothing since 0: by 500 they have been waited out.
    let first = merge.pop(500).expect("profiles waited out");
    assert_eq!((first.item, first.forced), ("email@5", true));
    // Email emptied at 500: the backlog's support@9 waits for it until 600.
    assert_eq!(merge.pop(550), None);
    assert_eq!(merge.wait_until(), Some(600));
    // A fresh email event waits max_idle from its own arrival for the quiet profiles.
    merge.push(1, Some(7), "email@7", 560);
    assert_eq!(merge.pop(600), None);
    assert_eq!(merge.wait_until(), Some(660));
    assert_eq!(merge.pop(660).map(|merged| merged.item), Some("email@7"));
}

#[test]
fn an_input_behind_is_waited_for_beyond_max_idle_but_not_for_ever() {
    let mut merge = EventTimeMerge::new(2, 100, 0);
    merge.push(0, Some(5), "usage@5", 0);
    merge.set_behind(1, true);
    // Payments have data on the broker: max_idle does not end the wait.
    assert_eq!(merge.pop(5_000), None);
    assert!(merge.waits_on_behind(5_000));
    merge.set_behind(1, false);
    assert!(!merge.waits_on_behind(5_000));
    let taken = merge
        .pop(5_000)
        .expect("no longer behind: max_idle long past");
    assert_eq!((taken.item, taken.forced), ("usage@5", true));
    // A partition that stays behind (its fetches fail) is waited out after the cap.
    merge.push(0, Some(6), "usage@6", 0);
    merge.set_behind(1, true);
    assert_eq!(merge.pop(BEHIND_WAIT_MILLIS - 1), None);
    assert_eq!(merge.wait_until(), Some(BEHIND_WAIT_MILLIS));
    assert_eq!(
        merge.pop(BEHIND_WAIT_MILLIS).map(|merged| merged.item),
        Some("usage@6")
    );
}

#[test]
fn a_fresh_head_waits_max_idle_from_its_arrival_even_for_an_input_quiet_for_long() {
    let mut merge = EventTimeMerge::new(2, 100, 0);
    // Payments (input 1) have been quiet since 0; a usage event arrives from the live edge.
    merge.push(0, Some(50), "usage@50", 10_000);
    assert_eq!(merge.pop(10_050), None);
    assert_eq!(merge.wait_until(), Some(10_100));
    // A payment stamped earlier arrives within max_idle of it: it goes first.
    merge.push(1, Some(40), "payment@40", 10_060);
    assert_eq!(
        merge.pop(10_060).map(|merged| merged.item),
        Some("payment@40")
    );
    assert_eq!(
        merge.pop(10_060),
        None,
        "still within max_idle of the usage event"
    );
    let usage = merge.pop(10_160).expect("waited out");
    assert_eq!(
        (usage.item, usage.forced, usage.late),
        ("usage@50", true, false)
    );
    // A head from a backlog (its input behind) does not wait from its arrival.
    merge.set_behind(0, true);
    merge.push(0, Some(60), "usage@60", 20_000);
    assert_eq!(
        merge.pop(20_000).map(|merged| merged.item),
        Some("usage@60")
    );
}

#[test]
fn a_backlog_head_waits_for_an_input_from_when_its_queue_emptied() {
    let mut merge = EventTimeMerge::new(2, 100, 0);
    merge.push(0, Some(1), "usage@1", 0);
    merge.push(1, Some(2), "email@2", 0);
    merge.push(1, Some(9), "email@9", 0);
    merge.set_behind(1, true);
    assert_eq!(merge.pop(500).map(|merged| merged.item), Some("usage@1"));
    // Usage emptied at 500: email@2 waits until 600, although the merge began at 0.
    assert_eq!(merge.pop(550), None);
    assert_eq!(merge.wait_until(), Some(600));
    assert_eq!(merge.pop(600).map(|merged| merged.item), Some("email@2"));
}

#[test]
fn restarted_waits_count_max_idle_afresh_from_the_restart() {
    let mut merge = EventTimeMerge::new(2, 100, 0);
    merge.push(0, Some(50), "usage@50", 10);
    merge.push(1, Some(60), "email@60", 10);
    assert_eq!(merge.pop(20).map(|merged| merged.item), Some("usage@50"));
    // The caller stalled: at 5_000 the wait for input 0 would long be over, but it restarts.
    merge.restart_waits(5_000);
    assert_eq!(merge.pop(5_000), None, "input 0 is waited for again");
    assert_eq!(merge.wait_until(), Some(5_100));
    merge.push(0, Some(55), "usage@55 fetched after the stall", 5_050);
    let next = merge.pop(5_050).expect("ready");
    assert_eq!(
        (next.item, next.late),
        ("usage@55 fetched after the stall", false)
    );
    assert_eq!(merge.pop(5_050), None);
    let last = merge.pop(5_150).expect("the wait is over");
    assert_eq!((last.item, last.forced), ("email@60", true));
}
