//! The Protobuf input decoder on arbitrary bytes: never a panic, and an accepted event keeps the
//! rules of SPEC section 2 (a customer id of 1 to 128 bytes, a type).
#![no_main]

use healthscore::engine::{decode, Encoding};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(event) = decode(Encoding::Protobuf, bytes, 1_000_000) {
        assert!((1..=128).contains(&event.customer_id.len()));
        assert!(!event.event_type.is_empty());
    }
});
