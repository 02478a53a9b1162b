//! Snapshots on disk: the engine's state together with the input offsets it reflects.
//!
//! A snapshot file is `magic | format version | checksum | length | payload`, written to a
//! temporary file, fsynced, renamed into place and the folder fsynced, so a crash leaves either the
//! old set of snapshots or the new one, never a half-written file under a snapshot name. Loading
//! takes the newest file whose checksum and contents are valid, falling back to older ones.
//!
//! A snapshot's life, piece by piece:
//! - **Taken**: the service's processing thread begins one at each `snapshot.interval` and
//!   encodes it in steps between messages, in [`crate::service`]'s `snapshots.rs`; the engine's
//!   side is [`Engine::begin_snapshot`](crate::engine::Engine::begin_snapshot) and
//!   `engine/capture.rs` (copy on write); the bytes are `engine/state_bytes.rs`.
//! - **Written**: once every output made before it is acknowledged, one file per partition held,
//!   by [`SnapshotStore::write`] (the format is `file.rs`'s: header, checksum, offsets, state).
//! - **Chosen**: [`SnapshotStore::load_latest`] takes the newest valid file, falling back to older
//!   ones.
//! - **Restored**: when a partition is assigned, `restore.rs` in [`crate::service`] loads it
//!   (refusing one from another cluster) and the consumer resumes from its offsets.

mod file;
mod store;

pub use file::{
    decode_snapshot, encode_snapshot, InputOffsets, Snapshot, SnapshotError, FORMAT_VERSION,
};
pub use store::{LoadedSnapshot, SnapshotStore};
