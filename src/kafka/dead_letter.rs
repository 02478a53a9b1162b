//! Dead-letter headers: why a message was refused and where it came from.

use rdkafka::message::{Header, Headers, OwnedHeaders};

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

/// The most a record takes beyond its key, value and headers' names and values: the record's and
/// its batch's framing (librdkafka counts up to about 40 bytes, Kafka's batch header is 61), and
/// the `truncated` header that a cut dead letter gains. A fitted dead letter is accepted by
/// the producer's `message.max.bytes` and a topic's `max.message.bytes` of the same limit.
const RECORD_OVERHEAD: usize = 256;

/// A dead letter ready to send: its payload, or as much of it as fits, and its headers.
#[derive(Debug)]
pub struct FittedDeadLetter<'a> {
    /// The payload, whole or its first bytes.
    pub payload: &'a [u8],
    /// The headers, with `truncated` (the payload's size in bytes) when the payload was cut.
    pub headers: OwnedHeaders,
}

/// Fits a dead letter into `max_bytes`: a payload that would make the record larger than that
/// (with `key` and `headers`) is cut to its first bytes, and a `truncated` header gives the
/// size of the whole payload, `payload_size` (more than `payload.len()` when only a prefix
/// was kept). So an oversized message is still reported and never blocks its partition.
pub fn fit_dead_letter<'a>(
    payload: &'a [u8],
    payload_size: usize,
    key: Option<&[u8]>,
    headers: OwnedHeaders,
    max_bytes: usize,
) -> FittedDeadLetter<'a> {
    let header_bytes: usize = headers
        .iter()
        .map(|header| header.key.len() + header.value.map_or(0, <[u8]>::len))
        .sum();
    let room =
        max_bytes.saturating_sub(RECORD_OVERHEAD + header_bytes + key.map_or(0, <[u8]>::len));
    if payload_size <= room && payload.len() == payload_size {
        return FittedDeadLetter { payload, headers };
    }
    let size = payload_size.to_string();
    FittedDeadLetter {
        payload: &payload[..room.min(payload.len())],
        headers: headers.insert(Header {
            key: "truncated",
            value: Some(size.as_str()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers() -> OwnedHeaders {
        OwnedHeaders::new().insert(Header {
            key: "reason",
            value: Some("invalid_json"),
        })
    }

    fn truncated(fitted: &FittedDeadLetter<'_>) -> Option<String> {
        fitted
            .headers
            .iter()
            .find(|header| header.key == "truncated")
            .and_then(|header| header.value)
            .map(|value| String::from_utf8_lossy(value).into_owned())
    }

    #[test]
    fn a_dead_letter_that_fits_goes_out_whole() {
        let payload = vec![b'x'; 1000];
        let fitted = fit_dead_letter(&payload, 1000, Some(b"acme"), headers(), 2000);
        assert_eq!(fitted.payload.len(), 1000);
        assert_eq!(truncated(&fitted), None);
    }

    #[test]
    fn a_dead_letter_that_does_not_fit_is_cut_to_fit_and_says_its_size() {
        let payload = vec![b'x'; 5000];
        let fitted = fit_dead_letter(&payload, 5000, Some(b"acme"), headers(), 2000);
        let header_bytes = "reason".len() + "invalid_json".len();
        assert_eq!(
            fitted.payload.len(),
            2000 - RECORD_OVERHEAD - header_bytes - "acme".len()
        );
        assert_eq!(truncated(&fitted).as_deref(), Some("5000"));
    }

    #[test]
    fn a_payload_kept_only_in_part_is_marked_even_when_the_part_fits() {
        let prefix = vec![b'x'; 100];
        let fitted = fit_dead_letter(&prefix, 1_000_000, None, headers(), 2000);
        assert_eq!(fitted.payload.len(), 100);
        assert_eq!(truncated(&fitted).as_deref(), Some("1000000"));
    }
}
