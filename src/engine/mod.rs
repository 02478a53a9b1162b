//! The pure core: decoding, aggregates, the scoring model, alert logic and timers. No I/O, no
//! async, no Kafka: everything here is plain Rust, deterministic, and tested in isolation.

pub mod aggregate;
pub mod alerts;
pub mod binary;
pub mod capture;
pub mod customer;
pub mod customer_table;
pub mod decode;
// The engine module holds the `Engine` type that the folder is named after.
#[allow(clippy::module_inception)]
pub mod engine;
pub mod evaluation_outputs;
pub mod event;
pub mod expansion;
pub mod merge;
pub mod model;
pub mod output;
mod output_json;
pub mod partitioned;
pub mod population;
mod rfc3339;
pub mod schedule;
pub mod score;
pub mod state_bytes;
pub mod time;
pub mod view;

pub use customer::ApplyOutcome;
pub use decode::{decode, DecodeError, DecodeReason, Encoding};
pub use engine::Engine;
pub use event::Event;
pub use merge::{EventTimeMerge, Merged};
pub use model::Model;
pub use output::Cause;
pub use output::OutputEvent;
pub use partitioned::PartitionedEngines;
pub use time::EventTime;
pub use view::CustomerView;
