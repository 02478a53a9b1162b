//! A folder of snapshot files: atomic writes, newest-valid loading, and pruning of old files.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::file::{decode_snapshot, encode_snapshot, Snapshot};

/// Snapshot files are named `snapshot-<sequence>.hss`, sequence zero-padded so names sort.
const PREFIX: &str = "snapshot-";
const SUFFIX: &str = ".hss";

/// A snapshot read back from disk, with the files that were skipped on the way and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedSnapshot<T> {
    /// The sequence number of the file used.
    pub sequence: u64,
    /// The file used.
    pub path: PathBuf,
    /// What the caller's decoder made of it.
    pub value: T,
    /// Newer files that could not be used, with the reason.
    pub skipped: Vec<(PathBuf, String)>,
}

/// The snapshot folder.
#[derive(Debug, Clone)]
pub struct SnapshotStore {
    directory: PathBuf,
    keep: usize,
}

impl SnapshotStore {
    /// A store in `directory` keeping the newest `keep` snapshots (at least 2, so a damaged newest
    /// one always has a fallback).
    pub fn new(directory: impl Into<PathBuf>, keep: usize) -> SnapshotStore {
        SnapshotStore {
            directory: directory.into(),
            keep: keep.max(2),
        }
    }

    /// The store of input partition `partition`'s snapshots: the folder `partition-<partition>`
    /// under `root` (the configured `snapshot.dir`).
    pub fn of_partition(root: &Path, partition: i32, keep: usize) -> SnapshotStore {
        SnapshotStore::new(root.join(format!("partition-{partition}")), keep)
    }

    /// The folder.
    pub fn directory(&self) -> &Path {
        &self.directory
    }

    fn path_of(&self, sequence: u64) -> PathBuf {
        self.directory
            .join(format!("{PREFIX}{sequence:020}{SUFFIX}"))
    }

    /// Every snapshot file's sequence and path, newest first.
    pub fn list(&self) -> std::io::Result<Vec<(u64, PathBuf)>> {
        let mut found = Vec::new();
        let entries = match fs::read_dir(&self.directory) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(found),
            Err(error) => return Err(error),
        };
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let sequence = name
                .strip_prefix(PREFIX)
                .and_then(|rest| rest.strip_suffix(SUFFIX))
                .and_then(|digits| digits.parse::<u64>().ok());
            if let Some(sequence) = sequence {
                found.push((sequence, entry.path()));
            }
        }
        found.sort_by_key(|(sequence, _)| std::cmp::Reverse(*sequence));
        Ok(found)
    }

    /// Writes a snapshot atomically under the next sequence number, then prunes old ones.
    /// Returns the sequence, the path and the size in bytes.
    pub fn write(&self, snapshot: &Snapshot) -> std::io::Result<(u64, PathBuf, u64)> {
        fs::create_dir_all(&self.directory)?;
        let sequence = self.list()?.first().map_or(1, |(newest, _)| newest + 1);
        let path = self.path_of(sequence);
        let temporary = self.directory.join(format!(".{PREFIX}{sequence:020}.tmp"));
        let bytes = encode_snapshot(snapshot);
        {
            let mut file = File::create(&temporary)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
        }
        fs::rename(&temporary, &path)?;
        // The rename is durable only once the folder itself is synced.
        File::open(&self.directory)?.sync_all()?;
        for (_, old) in self.list()?.into_iter().skip(self.keep) {
            fs::remove_file(old)?;
        }
        Ok((sequence, path, bytes.len() as u64))
    }

    /// Loads the newest snapshot that is intact and that `accept` can use, skipping damaged or
    /// unusable ones; `None` when there is none.
    pub fn load_latest<T, E: std::fmt::Display>(
        &self,
        mut accept: impl FnMut(Snapshot) -> Result<T, E>,
    ) -> std::io::Result<Option<LoadedSnapshot<T>>> {
        let mut skipped = Vec::new();
        for (sequence, path) in self.list()? {
            let bytes = match fs::read(&path) {
                Ok(bytes) => bytes,
                Err(error) => {
                    skipped.push((path, error.to_string()));
                    continue;
                }
            };
            let outcome = decode_snapshot(&bytes)
                .map_err(|error| error.to_string())
                .and_then(|snapshot| accept(snapshot).map_err(|error| error.to_string()));
            match outcome {
                Ok(value) => {
                    return Ok(Some(LoadedSnapshot {
                        sequence,
                        path,
                        value,
                        skipped,
                    }))
                }
                Err(reason) => skipped.push((path, reason)),
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn snapshot(offset: i64) -> Snapshot {
        Snapshot {
            cluster_id: "cluster-1".into(),
            offsets: BTreeMap::from([(("customer.usage".to_string(), 0), offset)]),
            engine_state: vec![offset as u8; 16],
        }
    }

    fn offset_of(snapshot: Snapshot) -> Result<i64, String> {
        Ok(snapshot.offsets[&("customer.usage".to_string(), 0)])
    }

    #[test]
    fn writes_load_newest_and_prune() {
        let directory = tempfile::tempdir().unwrap();
        let store = SnapshotStore::new(directory.path().join("snapshots"), 3);
        assert_eq!(store.load_latest(offset_of).unwrap(), None);
        for offset in 1..=5 {
            store.write(&snapshot(offset)).unwrap();
        }
        let sequences: Vec<u64> = store
            .list()
            .unwrap()
            .into_iter()
            .map(|(sequence, _)| sequence)
            .collect();
        assert_eq!(sequences, vec![5, 4, 3]);
        let loaded = store.load_latest(offset_of).unwrap().unwrap();
        assert_eq!((loaded.sequence, loaded.value), (5, 5));
        assert!(loaded.skipped.is_empty());
    }

    #[test]
    fn a_corrupt_or_partial_newest_snapshot_falls_back_to_an_older_one() {
        let directory = tempfile::tempdir().unwrap();
        let store = SnapshotStore::new(directory.path(), 3);
        for offset in 1..=3 {
            store.write(&snapshot(offset)).unwrap();
        }
        let (_, newest) = store.list().unwrap()[0].clone();
        let mut bytes = fs::read(&newest).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0xff;
        fs::write(&newest, &bytes).unwrap();
        let (_, second) = store.list().unwrap()[1].clone();
        let bytes = fs::read(&second).unwrap();
        fs::write(&second, &bytes[..bytes.len() - 4]).unwrap();
        // A leftover temporary file from a crash mid-write is ignored.
        fs::write(
            directory.path().join(".snapshot-00000000000000000004.tmp"),
            b"partial",
        )
        .unwrap();

        let loaded = store.load_latest(offset_of).unwrap().unwrap();
        assert_eq!((loaded.sequence, loaded.value), (1, 1));
        assert_eq!(loaded.skipped.len(), 2);
        assert!(
            loaded.skipped[0].1.contains("checksum"),
            "{:?}",
            loaded.skipped
        );
        assert!(
            loaded.skipped[1].1.contains("length"),
            "{:?}",
            loaded.skipped
        );
        // The next write continues the sequence after the damaged files.
        assert_eq!(store.write(&snapshot(9)).unwrap().0, 4);
    }

    #[test]
    fn a_snapshot_the_caller_cannot_use_is_skipped() {
        let directory = tempfile::tempdir().unwrap();
        let store = SnapshotStore::new(directory.path(), 3);
        store.write(&snapshot(1)).unwrap();
        store.write(&snapshot(2)).unwrap();
        let loaded = store
            .load_latest(|snapshot| match offset_of(snapshot) {
                Ok(2) => Err("saved by another model".to_string()),
                other => other,
            })
            .unwrap()
            .unwrap();
        assert_eq!(loaded.value, 1);
        assert_eq!(loaded.skipped[0].1, "saved by another model");
    }
}
