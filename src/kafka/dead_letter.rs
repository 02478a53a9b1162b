//! Dead-letter headers: why a message was refused and where it came from.

use rdkafka::message::{Header, OwnedHeaders};

use crate::engine::DecodeError;

/// Where a refused message was read.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// The input topic.
    pub topic: &'a str,
    /// Its partition.
    pub partition: i32,
    /// The message's offset.
    pub offset: i64,
}

/// The headers of a dead letter: `reason`, `detail`, `source_topic`, `source_partition`,
/// `source_offset`.
pub fn dead_letter_headers(error: &DecodeError, origin: Origin<'_>) -> OwnedHeaders {
    let detail = error.to_string();
    let partition = origin.partition.to_string();
    let offset = origin.offset.to_string();
    OwnedHeaders::new_with_capacity(5)
        .insert(Header {
            key: "reason",
            value: Some(error.reason().as_str()),
        })
        .insert(Header {
            key: "detail",
            value: Some(detail.as_str()),
        })
        .insert(Header {
            key: "source_topic",
            value: Some(origin.topic),
        })
        .insert(Header {
            key: "source_partition",
            value: Some(partition.as_str()),
        })
        .insert(Header {
            key: "source_offset",
            value: Some(offset.as_str()),
        })
}
