//! The snapshot file format: header, checksum, input offsets and the engine's state bytes.

use std::collections::BTreeMap;

use xxhash_rust::xxh3::xxh3_64;

use crate::engine::binary::{BinaryError, Reader, Writer};

/// Identifies a healthscore snapshot file.
const MAGIC: &[u8; 8] = b"HSSNAP\0\x01";

/// The current format version; files of other versions are refused, never misread.
pub const FORMAT_VERSION: u32 = 1;

/// Bytes before the payload: magic, version, checksum, length.
const HEADER_BYTES: usize = 8 + 4 + 8 + 8;

/// The next input offset to read, by topic and partition.
pub type InputOffsets = BTreeMap<(String, i32), i64>;

/// What a snapshot holds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    /// The id of the Kafka cluster the offsets belong to (offsets mean nothing on another).
    pub cluster_id: String,
    /// The next input offset to read, by topic and partition: every event before it is in the state.
    pub offsets: InputOffsets,
    /// The engine's state ([`crate::engine::Engine::encode_state`]).
    pub engine_state: Vec<u8>,
}

/// Why a snapshot file could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// Not a snapshot file, or a partial one.
    #[error("not a complete healthscore snapshot ({0})")]
    NotASnapshot(&'static str),
    /// Written by another format version.
    #[error("snapshot format version {0} is not supported (this build reads {FORMAT_VERSION})")]
    Version(u32),
    /// The checksum does not match: the file is damaged.
    #[error("checksum mismatch: the file is damaged")]
    Checksum,
    /// The payload does not decode.
    #[error("payload is damaged: {0}")]
    Payload(#[from] BinaryError),
}

/// The bytes of a snapshot file.
pub fn encode_snapshot(snapshot: &Snapshot) -> Vec<u8> {
    let mut payload = Writer::default();
    payload.text(&snapshot.cluster_id);
    payload.u32(snapshot.offsets.len() as u32);
    for ((topic, partition), offset) in &snapshot.offsets {
        payload.text(topic);
        payload.u32(*partition as u32);
        payload.i64(*offset);
    }
    payload.bytes.extend_from_slice(&snapshot.engine_state);
    let mut file = Writer::default();
    file.bytes.extend_from_slice(MAGIC);
    file.u32(FORMAT_VERSION);
    file.u64(xxh3_64(&payload.bytes));
    file.u64(payload.bytes.len() as u64);
    file.bytes.extend_from_slice(&payload.bytes);
    file.bytes
}

/// Reads a snapshot file's bytes, checking magic, version, length and checksum.
pub fn decode_snapshot(bytes: &[u8]) -> Result<Snapshot, SnapshotError> {
    if bytes.len() < HEADER_BYTES || &bytes[..8] != MAGIC {
        return Err(SnapshotError::NotASnapshot("bad header"));
    }
    let mut header = Reader::new(&bytes[8..HEADER_BYTES]);
    let version = header.u32()?;
    if version != FORMAT_VERSION {
        return Err(SnapshotError::Version(version));
    }
    let checksum = header.u64()?;
    let length = header.u64()?;
    let payload = &bytes[HEADER_BYTES..];
    if payload.len() as u64 != length {
        return Err(SnapshotError::NotASnapshot("length does not match"));
    }
    if xxh3_64(payload) != checksum {
        return Err(SnapshotError::Checksum);
    }
    let mut reader = Reader::new(payload);
    let cluster_id = reader.text()?.to_string();
    let count = reader.u32()?;
    let mut offsets = BTreeMap::new();
    for _ in 0..count {
        let topic = reader.text()?.to_string();
        let partition = reader.u32()? as i32;
        let offset = reader.i64()?;
        offsets.insert((topic, partition), offset);
    }
    Ok(Snapshot {
        cluster_id,
        offsets,
        engine_state: payload[reader.position()..].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Snapshot {
        Snapshot {
            cluster_id: "cluster-1".into(),
            offsets: BTreeMap::from([
                (("customer.usage".to_string(), 0), 42),
                (("customer.payment".to_string(), 3), 7),
            ]),
            engine_state: vec![1, 2, 3, 4, 5],
        }
    }

    #[test]
    fn round_trips() {
        let bytes = encode_snapshot(&sample());
        assert_eq!(decode_snapshot(&bytes), Ok(sample()));
    }

    #[test]
    fn any_damage_is_detected() {
        let bytes = encode_snapshot(&sample());
        for index in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[index] ^= 0x40;
            assert!(
                decode_snapshot(&damaged).is_err(),
                "flip at byte {index} not detected"
            );
        }
        for length in 0..bytes.len() {
            assert!(
                decode_snapshot(&bytes[..length]).is_err(),
                "truncation to {length} not detected"
            );
        }
    }
}
