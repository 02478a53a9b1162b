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
    /// to 30 s (or `max_idle` if longer).
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

    /// Counts every wait afresh from `now`, as if every queued item had just arrived and every
    /// empty input had just emptied: for a caller that could not run for a while, whose
    /// knowledge of its inputs is as old as that.
    pub fn restart_waits(&mut self, now: u64) {
        for input in &mut self.inputs {
            input.empty_since = now;
            for queued in &mut input.queue {
                queued.arrived = now;
            }
        }
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
mod tests;
