//! The pure core: decoding, aggregates, the scoring model, alert logic and timers. No I/O, no
//! async, no Kafka: everything here is plain Rust, deterministic, and tested in isolation.
//!
//! The modules are the crate's own; what the rest of the world uses is re-exported here, with
//! [`decode`](mod@decode) (the input decoders) and [`model`] (the compiled model).

pub(crate) mod aggregate;
pub(crate) mod alerts;
pub(crate) mod binary;
pub(crate) mod capture;
pub(crate) mod customer;
pub(crate) mod customer_table;
pub mod decode;
// The engine module holds the `Engine` type that the folder is named after.
#[allow(clippy::module_inception)]
pub(crate) mod engine;
pub(crate) mod event;
pub(crate) mod eviction;
pub(crate) mod expansion;
pub(crate) mod merge;
pub mod model;
pub(crate) mod output;
pub(crate) mod output_build;
mod output_json;
pub(crate) mod partitioned;
pub(crate) mod population;
mod rfc3339;
pub(crate) mod schedule;
pub(crate) mod score;
pub(crate) mod state_bytes;
pub(crate) mod time;
pub(crate) mod view;

pub use binary::{BinaryError, Writer};
pub use customer::ApplyOutcome;
pub use decode::{decode, DecodeError, DecodeReason, Encoding};
pub use engine::Engine;
pub use event::{Event, FieldValue, Fields};
pub use merge::{EventTimeMerge, Merged};
pub use model::Model;
pub use output::{
    Cause, ChurnRiskAlert, EventId, ExpansionSignal, NamedValues, OutputEvent, ScoreChanged,
};
pub use partitioned::{PartitionedCapture, PartitionedEngines};
pub use score::{Evaluation, Reason, ScoreFactor};
pub use state_bytes::StateError;
pub use time::{EventTime, TimeError, MILLIS_PER_DAY};
pub use view::{CustomerView, Explanation};
