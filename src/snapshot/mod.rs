//! Snapshots on disk: the engine's state together with the input offsets it reflects.
//!
//! A snapshot file is `magic | format version | checksum | length | payload`, written to a
//! temporary file, fsynced, renamed into place and the folder fsynced, so a crash leaves either the
//! old set of snapshots or the new one, never a half-written file under a snapshot name. Loading
//! takes the newest file whose checksum and contents are valid, falling back to older ones.

mod file;
mod store;

pub use file::{
    decode_snapshot, encode_snapshot, InputOffsets, Snapshot, SnapshotError, FORMAT_VERSION,
};
pub use store::{LoadedSnapshot, SnapshotStore};
