//! Why a message could not be decoded: a short machine reason and a sentence for people.

use super::super::time::TimeError;

/// The reason a message went to the dead letters, as a stable label for metrics and headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecodeReason {
    /// The bytes are not a JSON object.
    InvalidJson,
    /// The bytes are not a Protobuf `Event`.
    InvalidProtobuf,
    /// A required field is absent.
    MissingField,
    /// A field appears twice.
    DuplicateField,
    /// A field has the wrong JSON type.
    WrongType,
    /// A field's value is outside what its rule allows.
    OutOfRange,
    /// `customer_id` is empty or longer than 128 bytes.
    InvalidCustomerId,
    /// `timestamp` is neither RFC 3339 nor integer epoch milliseconds in range.
    InvalidTimestamp,
    /// The message is larger than the configured limit (`kafka.max_message_bytes`).
    TooLarge,
}

impl DecodeReason {
    /// Every reason, for pre-registering metrics.
    pub const ALL: [DecodeReason; 9] = [
        DecodeReason::InvalidJson,
        DecodeReason::InvalidProtobuf,
        DecodeReason::MissingField,
        DecodeReason::DuplicateField,
        DecodeReason::WrongType,
        DecodeReason::OutOfRange,
        DecodeReason::InvalidCustomerId,
        DecodeReason::InvalidTimestamp,
        DecodeReason::TooLarge,
    ];

    /// The label used in metrics, dead-letter headers and files.
    pub fn as_str(self) -> &'static str {
        match self {
            DecodeReason::InvalidJson => "invalid_json",
            DecodeReason::InvalidProtobuf => "invalid_protobuf",
            DecodeReason::MissingField => "missing_field",
            DecodeReason::DuplicateField => "duplicate_field",
            DecodeReason::WrongType => "wrong_type",
            DecodeReason::OutOfRange => "out_of_range",
            DecodeReason::InvalidCustomerId => "invalid_customer_id",
            DecodeReason::InvalidTimestamp => "invalid_timestamp",
            DecodeReason::TooLarge => "too_large",
        }
    }
}

/// A message that breaks a rule of SPEC section 2.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    /// Not parseable as a JSON object.
    #[error("not a JSON object: {0}")]
    InvalidJson(String),
    /// Not parseable as a Protobuf event.
    #[error("not a Protobuf healthscore.v1.Event: {0}")]
    InvalidProtobuf(String),
    /// A required field is absent.
    #[error("missing required field `{0}`")]
    MissingField(String),
    /// A field appears twice in one object.
    #[error("field `{0}` appears more than once")]
    DuplicateField(String),
    /// A field has the wrong type.
    #[error("field `{field}` must be {expected}")]
    WrongType {
        /// The field's name.
        field: String,
        /// What the rule expects, such as "a string".
        expected: &'static str,
    },
    /// A field's value breaks its range rule.
    #[error("field `{field}` must be {rule}, got {value}")]
    OutOfRange {
        /// The field's name.
        field: String,
        /// The rule, such as "between 1 and 5".
        rule: &'static str,
        /// The value that was given, as text.
        value: String,
    },
    /// `customer_id` is empty or too long.
    #[error("field `customer_id` must be 1 to 128 bytes, got {0} bytes")]
    InvalidCustomerId(usize),
    /// `timestamp` could not be read.
    #[error("field `timestamp` is {0}")]
    InvalidTimestamp(TimeError),
    /// The message is over the size limit; it was not parsed.
    #[error("the message is {size} bytes, over the limit of {limit} (kafka.max_message_bytes)")]
    TooLarge {
        /// The message's size in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
}

impl DecodeError {
    /// The machine-readable reason for metrics and dead-letter headers.
    pub fn reason(&self) -> DecodeReason {
        match self {
            DecodeError::InvalidJson(_) => DecodeReason::InvalidJson,
            DecodeError::InvalidProtobuf(_) => DecodeReason::InvalidProtobuf,
            DecodeError::MissingField(_) => DecodeReason::MissingField,
            DecodeError::DuplicateField(_) => DecodeReason::DuplicateField,
            DecodeError::WrongType { .. } => DecodeReason::WrongType,
            DecodeError::OutOfRange { .. } => DecodeReason::OutOfRange,
            DecodeError::InvalidCustomerId(_) => DecodeReason::InvalidCustomerId,
            DecodeError::InvalidTimestamp(_) => DecodeReason::InvalidTimestamp,
            DecodeError::TooLarge { .. } => DecodeReason::TooLarge,
        }
    }
}
