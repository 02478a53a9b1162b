//! The event-time merge of several inputs (the input topics of one partition number, or the
//! files `replay` reads), as Kafka Streams merges the partitions of one task: each input is a
//! queue kept in its own order, and the next item taken is the head with the smallest event
//! time, ties broken by input order. While an input that is not caught up has nothing queued,
//! the merge waits for it, but never longer than `max_idle`: from when the head arrived, for a
//! head fresh from the live edge (its own input not behind), or from when the empty input
//! emptied, for a head from a backlog; a caught-up input (a file read to its end) holds nothing
//! back. An item older than one already
//! taken (late) is taken at once, like any other.
//!
//! The service never marks a topic partition caught up: one at its end now may still receive
//! events with earlier times (from a producer running behind), so it is waited for as Kafka
//! Streams waits for an empty partition when `max.task.idle.ms` is positive. It marks one
//! *behind* when the broker holds messages of it not fetched yet (or its end is not known yet):
//! as in Kafka Streams, such an input is waited for whatever `max_idle` says, since its data is
//! there, but never longer than [`BEHIND_WAIT_MILLIS`] (a partition whose fetches fail).
//!
//! No clock of its own: the caller passes the time in milliseconds from any fixed origin.

use std::collections::VecDeque;

/// The longest an empty input that is behind (data on the broker, not fetched yet) is waited
/// for, from when it emptied, if `max_idle` is shorter.
pub const BEHIND_WAIT_MILLIS: u64 = 30_000;

/// One queued item and its event time in epoch milliseconds (`None`: it has no time, such as a
/// message that could not be decoded; it is taken as soon as it is at its queue's head).
#[derive(Debug)]
struct Queued<T> {
    time: Option<i64>,
    /// When it was queued (the caller's clock).
    arrived: u64,
    item: T,
}

/// One input's queue and what the merge knows of its source.
#[derive(Debug)]
struct Input<T> {
    queue: VecDeque<Queued<T>>,
    /// Whether the source has nothing more right now (at the end of its partition or file).
    caught_up: bool,
    /// Whether the source is known to hold more than was queued (or its end is unknown).
    behind: bool,
    /// When the queue last became empty (the caller's clock).
    empty_since: u64,
}

/// An item the merge gave out, with what the caller may count.
#[derive(Debug, PartialEq, Eq)]
pub struct Merged<T> {
    /// The item.
    pub item: T,
    /// The input it was queued on.
    pub input: usize,
    /// Whether its event time is before that of an item given out earlier.
    pub late: bool,
    /// Whether inputs that were not caught up were empty, each for `max_idle` or longer, when
    /// it was given out (so an item of theirs could come after it despite an earlier time).
    pub forced: bool,
}

/// Merges inputs by event time; see the module documentation.
#[derive(Debug)]
pub struct EventTimeMerge<T> {
    inputs: Vec<Input<T>>,
    max_idle_millis: u64,
    latest_taken: Option<i64>,
}

impl<T> EventTimeMerge<T> {
    /// A merge of `inputs` empty inputs, none caught up yet, that waits at most
    /// `max_idle_millis` for an empty one; `now` is the caller's clock.
    pub fn new(inputs: usize, max_idle_millis: u64, now: u64) -> EventTimeMerge<T> {
        EventTimeMerge {
            inputs: (0..inputs)
                .map(|_| Input {
                    queue: VecDeque::new(),
                    caught_up: false,
                    behind: false,
                    empty_since: now,
                })
                .collect(),
            max_idle_millis,
            latest_taken: None,
        }
    }

    /// Adds an empty input (a source that appeared later), numbered after the others, not
    /// caught up, empty since `now`.
    pub fn add_input(&mut self, now: u64) {
        self.inputs.push(Input {
            queue: VecDeque::new(),
            caught_up: false,
            behind: false,
            empty_since: now,
        });
    }

    /// How many inputs it merges.
    pub fn inputs(&self) -> usize {
        self.inputs.len()
    }

    /// Queues `item` with event time `time` at the end of `input`'s queue, at `now` (the
    /// caller's clock).
    ///
    /// # Panics
    /// If `input` is not below the number of inputs the merge was made with.
    pub fn push(&mut self, input: usize, time: Option<i64>, item: T, now: u64) {
        self.inputs[input].queue.push_back(Queued {
            time,
            arrived: now,
            item,
        });
    }

    /// Tells whether `input`'s source has nothing more to give right now.
    ///
    /// # Panics
    /// If `input` is not below the number of inputs the merge was made with.
    pub fn set_caught_up(&mut self, input: usize, caught_up: bool) {
        self.inputs[input].caught_up = caught_up;
    }

    /// Tells whether `input`'s source holds more than was queued (data on the broker not
    /// fetched yet, or an end not known yet): while it is empty, the merge then waits for it up
    /// to [`BEHIND_WAIT_MILLIS`] (or `max_idle` if longer).
    ///
    /// # Panics
    /// If `input` is not below the number of inputs the merge was made with.
    pub fn set_behind(&mut self, input: usize, behind: bool) {
        self.inputs[input].behind = behind;
    }

    /// Whether the merge is waiting for an empty input that is behind (its end may move while
    /// nothing is fetched, so the caller should look again soon).
    pub fn waits_on_behind(&self, now: u64) -> bool {
        self.next_head().is_some()
            && self.inputs.iter().any(|input| {
                input.queue.is_empty()
                    && !input.caught_up
                    && input.behind
                    && now.saturating_sub(input.empty_since) < self.behind_wait()
            })
    }

    /// How many items `input` has queued (for backpressure).
    ///
    /// # Panics
    /// If `input` is not below the number of inputs the merge was made with.
    pub fn queued(&self, input: usize) -> usize {
        self.inputs[input].queue.len()
    }

    /// Whether nothing is queued on any input.
    pub fn is_empty(&self) -> bool {
        self.inputs.iter().all(|input| input.queue.is_empty())
    }

    /// The next item in merged order at time `now`, or `None` if nothing is queued or the
    /// merge is waiting for an empty input (see [`EventTimeMerge::wait_until`]).
    pub fn pop(&mut self, now: u64) -> Option<Merged<T>> {
        let (index, time) = self.next_head()?;
        let forced = match (time, self.wait_ends(index)) {
            (Some(_), Some(end)) if now < end => return None,
            (Some(_), Some(_)) => true,
            _ => false,
        };
        let input = &mut self.inputs[index];
        let queued = input.queue.pop_front()?;
        if input.queue.is_empty() {
            input.empty_since = now;
        }
        let late =
            matches!((queued.time, self.latest_taken), (Some(time), Some(latest)) if time < latest);
        if let Some(time) = queued.time {
            self.latest_taken = Some(self.latest_taken.map_or(time, |latest| latest.max(time)));
        }
        Some(Merged {
            item: queued.item,
            input: index,
            late,
            forced,
        })
    }

    /// When the merge stops waiting for its empty inputs and gives out what it holds, if it is
    /// waiting (the caller's clock); `None` if it is not.
    pub fn wait_until(&self) -> Option<u64> {
        let (index, _) = self.next_head()?;
        self.wait_ends(index)
    }

    /// When the wait of the head of input `head` for the empty inputs that are not caught up
    /// ends, if any is empty. An input that is behind is waited for [`BEHIND_WAIT_MILLIS`] (or
    /// `max_idle` if longer) from when it emptied. One at its end is waited for `max_idle`:
    /// from when the head arrived if the head's own input is not behind (fresh from the live
    /// edge: an event arriving on another input within `max_idle` of it still goes first), else
    /// (the head is from a backlog) from when that input emptied.
    fn wait_ends(&self, head: usize) -> Option<u64> {
        let live_head = self
            .inputs
            .get(head)
            .filter(|input| !input.behind)
            .and_then(|input| input.queue.front())
            .map(|queued| queued.arrived);
        self.inputs
            .iter()
            .filter(|input| input.queue.is_empty() && !input.caught_up)
            .map(|input| match (input.behind, live_head) {
                (true, _) => input.empty_since.saturating_add(self.behind_wait()),
                (false, Some(arrived)) => arrived.saturating_add(self.max_idle_millis),
                (false, None) => input.empty_since.saturating_add(self.max_idle_millis),
            })
            .max()
    }

    /// How long an empty input that is behind is waited for.
    fn behind_wait(&self) -> u64 {
        self.max_idle_millis.max(BEHIND_WAIT_MILLIS)
    }

    /// The input whose head goes next and that head's time: an untimed head first, else the
    /// smallest time, ties to the first input.
    fn next_head(&self) -> Option<(usize, Option<i64>)> {
        let mut best: Option<(usize, Option<i64>)> = None;
        for (index, input) in self.inputs.iter().enumerate() {
            let Some(head) = input.queue.front() else {
                continue;
            };
            let better = match (best, head.time) {
                (None, _) => true,
                (Some((_, None)), _) => false,
                (Some(_), None) => true,
                (Some((_, Some(best_time))), Some(time)) => time < best_time,
            };
            if better {
                best = Some((index, head.time));
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
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
}
