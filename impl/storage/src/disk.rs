//! Durable storage for one node: the core's log and hard state in the segmented WAL
//! (`<data>/wal`), its snapshots in snapshot files (`<data>/snap`).
//!
//! [`DiskStorage::persist`] turns the durable part of one `Ready` into at most one snapshot file
//! and one WAL batch, and returns only once both are on disk: one fsync of the log per `Ready`,
//! however many entries it carries (group commit). A snapshot file is made durable before the
//! log records that entries are compacted into it, so a crash between the two leaves the log
//! whole.
//!
//! A local snapshot (the node's own compaction) is the exception: `persist` hands it back as a
//! [`SnapshotWrite`] for the caller to run off the node loop, and the log records the compaction
//! ([`DiskStorage::compact`]) only after the write finished. Nothing the node sends depends on
//! that file: it holds applied entries only, which the log still has until then.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bincode::Options;
use raft_core::{Entry, HardState, MemStorage, Membership, Payload, Ready, Snapshot};

use crate::snapshot_file::{self, SnapshotError, SnapshotMeta, SnapshotStore};
use crate::wal::{self, Batch, Wal, WalEntry, WalError, WalOptions};

const KIND_NOOP: u8 = 0;
const KIND_NORMAL: u8 = 1;
const KIND_CONFIG: u8 = 2;

/// Largest configuration accepted from disk: bounds what a corrupt length inside the encoding can
/// make the decoder allocate.
const MAX_CONFIG_BYTES: u64 = 1 << 30;

/// How a configuration is stored, in a `KIND_CONFIG` entry and in a snapshot file's header:
/// bincode with variable-length integers, trailing bytes rejected (`specs/storage.md`).
fn config_codec() -> impl Options {
    bincode::DefaultOptions::new().with_limit(MAX_CONFIG_BYTES)
}

/// Public for the fuzz targets (impl/fuzz); not a stable API.
#[doc(hidden)]
pub fn encode_membership(m: &Membership) -> Vec<u8> {
    // Serializing plain in-memory data cannot fail short of exceeding the limit.
    config_codec().serialize(m).unwrap_or_default()
}

/// Public for the fuzz targets (impl/fuzz); not a stable API.
#[doc(hidden)]
pub fn decode_membership(bytes: &[u8]) -> Result<Membership, String> {
    config_codec()
        .deserialize(bytes)
        .map_err(|e| format!("undecodable membership: {e}"))
}

#[derive(Debug)]
pub enum StorageError {
    Wal(WalError),
    Snapshot(SnapshotError),
    /// Data that the log or the snapshot files returned intact but that makes no sense to the
    /// node (an unknown entry kind, a log compacted past the newest snapshot).
    Inconsistent(String),
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageError::Wal(e) => write!(f, "{e}"),
            StorageError::Snapshot(e) => write!(f, "{e}"),
            StorageError::Inconsistent(why) => write!(f, "{why}"),
        }
    }
}

impl std::error::Error for StorageError {}

impl From<WalError> for StorageError {
    fn from(e: WalError) -> Self {
        StorageError::Wal(e)
    }
}

impl From<SnapshotError> for StorageError {
    fn from(e: SnapshotError) -> Self {
        StorageError::Snapshot(e)
    }
}

/// The node's open log and snapshot directory.
pub struct DiskStorage {
    wal: Wal,
    snaps: Arc<SnapshotStore>,
    /// Number of fsyncs of the log issued (for tests and metrics).
    pub syncs: u64,
}

fn to_wal_entry(e: &Entry) -> WalEntry {
    let (kind, data) = match &e.payload {
        Payload::Noop => (KIND_NOOP, Vec::new()),
        Payload::Normal(d) => (KIND_NORMAL, d.clone()),
        Payload::Config(m) => (KIND_CONFIG, encode_membership(m)),
    };
    WalEntry {
        index: e.index,
        term: e.term,
        kind,
        data,
    }
}

fn from_wal_entry(dir: &Path, e: WalEntry) -> Result<Entry, StorageError> {
    let payload = match e.kind {
        KIND_NOOP => Payload::Noop,
        KIND_NORMAL => Payload::Normal(e.data),
        KIND_CONFIG => Payload::Config(decode_membership(&e.data).map_err(|why| {
            StorageError::Inconsistent(format!(
                "log in {}: entry {} holds a bad configuration: {why}",
                dir.display(),
                e.index
            ))
        })?),
        k => {
            return Err(StorageError::Inconsistent(format!(
                "log in {}: entry {} has unknown kind {k}",
                dir.display(),
                e.index
            )))
        }
    };
    Ok(Entry {
        index: e.index,
        term: e.term,
        payload,
    })
}

impl DiskStorage {
    /// Opens (or creates) the storage under `data_dir` and returns what the core must be started
    /// from. Corruption is an error naming the file and offset; a torn tail of the newest WAL
    /// segment (a write cut by a crash, never acknowledged) is cut and logged.
    pub fn open(data_dir: &Path) -> Result<(DiskStorage, MemStorage), StorageError> {
        let snaps = SnapshotStore::open(data_dir.join("snap"))?.with_retain(2);
        let snapshot = match snaps.load_latest()? {
            None => Snapshot::default(),
            Some(s) => Snapshot {
                index: s.meta.last_index,
                term: s.meta.last_term,
                membership: decode_membership(&s.meta.config).map_err(|why| {
                    StorageError::Inconsistent(format!(
                        "snapshot {} in {}: {why}",
                        s.meta.last_index,
                        snaps.dir().display()
                    ))
                })?,
                data: s.data.into(),
            },
        };
        let wal_dir: PathBuf = data_dir.join("wal");
        let (wal, recovered) = Wal::open(&wal_dir, WalOptions::default())?;
        if let Some(t) = &recovered.torn_tail {
            tracing::warn!(
                file = %t.file.display(),
                offset = t.offset,
                discarded_bytes = t.discarded_bytes,
                reason = %t.reason,
                "cut a torn tail off the log (an unacknowledged write interrupted by a crash)"
            );
        }
        if recovered.compacted > snapshot.index {
            return Err(StorageError::Inconsistent(format!(
                "log in {} is compacted up to index {} but the newest snapshot in {} covers only {}",
                wal_dir.display(),
                recovered.compacted,
                snaps.dir().display(),
                snapshot.index
            )));
        }
        let mut entries = Vec::with_capacity(recovered.entries.len());
        for e in recovered.entries {
            if e.index > snapshot.index {
                entries.push(from_wal_entry(&wal_dir, e)?);
            }
        }
        if let Some(first) = entries.first() {
            if first.index != snapshot.index + 1 {
                return Err(StorageError::Inconsistent(format!(
                    "log in {} resumes at index {} after a snapshot at {}: entries are missing",
                    wal_dir.display(),
                    first.index,
                    snapshot.index
                )));
            }
        }
        let hard_state = recovered
            .hard_state
            .map(|h| HardState {
                term: h.term,
                voted_for: h.vote,
            })
            .unwrap_or_default();
        let mem = MemStorage {
            hard_state,
            snapshot,
            entries,
        };
        Ok((
            DiskStorage {
                wal,
                snaps: Arc::new(snaps),
                syncs: 0,
            },
            mem,
        ))
    }

    /// Makes the snapshot received from a leader, the entries and the hard state of `ready`
    /// durable, in that order (the contract in `raft_core::ready`), and returns a local snapshot
    /// for the caller to write off the loop. `commit` is recorded with the hard state for
    /// inspection only.
    pub fn persist(
        &mut self,
        ready: &Ready,
        commit: u64,
    ) -> Result<Option<SnapshotWrite>, StorageError> {
        let mut batch = Batch::new();
        let mut last = self.wal.last_index();
        let compacted = self.wal.compacted();
        let mut local = None;
        match &ready.snapshot {
            Some(snap) if ready.restore_snapshot => {
                self.snaps.save(&file_of(snap))?;
                if last > compacted {
                    // A snapshot from the leader replaces the whole log.
                    batch.truncate_suffix(compacted + 1);
                    last = compacted;
                }
                if snap.index > compacted {
                    batch.compact_prefix(snap.index);
                    last = last.max(snap.index);
                }
            }
            Some(snap) => {
                local = Some(SnapshotWrite {
                    store: self.snaps.clone(),
                    snapshot: snap.clone(),
                })
            }
            None => {}
        }
        if let Some(first) = ready.entries.first() {
            if first.index <= last {
                // A follower replacing a conflicting suffix (paper 5.3).
                batch.truncate_suffix(first.index);
            }
            for e in &ready.entries {
                batch.entry(to_wal_entry(e));
            }
        }
        if let Some(hs) = ready.hard_state {
            batch.hard_state(wal::HardState {
                term: hs.term,
                vote: hs.voted_for,
                commit,
            });
        }
        if !batch.is_empty() {
            self.wal.append_batch(&batch)?;
            self.syncs += 1;
        }
        Ok(local)
    }

    /// The last index the log holds (or its compaction point when it holds none after it).
    pub fn last_index(&self) -> u64 {
        self.wal.last_index()
    }

    /// Records in the log that entries up to `index` are in a snapshot file made durable by a
    /// finished [`SnapshotWrite`]; the segments they filled are deleted.
    pub fn compact(&mut self, index: u64) -> Result<(), StorageError> {
        if index > self.wal.compacted() {
            self.wal.compact_prefix(index)?;
            self.syncs += 1;
        }
        Ok(())
    }
}

fn file_of(snap: &Snapshot) -> snapshot_file::Snapshot {
    snapshot_file::Snapshot {
        meta: SnapshotMeta {
            last_index: snap.index,
            last_term: snap.term,
            config: encode_membership(&snap.membership),
        },
        data: snap.data.to_vec(),
    }
}

/// A local snapshot to be made durable (temp file, fsync, rename, fsync of the directory) away
/// from the node loop.
pub struct SnapshotWrite {
    store: Arc<SnapshotStore>,
    /// Shares its data with the core's copy.
    snapshot: Snapshot,
}

impl SnapshotWrite {
    pub fn index(&self) -> u64 {
        self.snapshot.index
    }

    /// Writes the file; once this returns `Ok`, [`DiskStorage::compact`] may record it.
    pub fn run(self) -> Result<u64, StorageError> {
        self.store.save(&file_of(&self.snapshot))?;
        Ok(self.snapshot.index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use raft_core::Storage;

    fn entry(index: u64, term: u64, v: &str) -> Entry {
        Entry {
            index,
            term,
            payload: Payload::Normal(v.into()),
        }
    }

    #[test]
    fn configurations_keep_their_encoding_on_disk() {
        // Data directories already hold configurations in this layout: changing the codec would
        // make them unreadable, so a change must show up here first.
        let m = Membership {
            voters: [1, 2, 3].into(),
            outgoing: [1].into(),
            learners: [300].into(),
        };
        let bytes = encode_membership(&m);
        assert_eq!(bytes, [3, 1, 2, 3, 1, 1, 1, 251, 44, 1]);
        assert_eq!(decode_membership(&bytes), Ok(m));
        assert!(decode_membership(&[bytes.as_slice(), &[0]].concat()).is_err());
    }

    #[test]
    fn persisted_state_comes_back_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut disk, mem) = DiskStorage::open(dir.path()).unwrap();
            assert_eq!(mem.entries(), vec![]);
            let ready = Ready {
                hard_state: Some(HardState {
                    term: 2,
                    voted_for: Some(1),
                }),
                entries: vec![entry(1, 1, "a"), entry(2, 2, "b"), entry(3, 2, "c")],
                ..Ready::default()
            };
            disk.persist(&ready, 0).unwrap();
            // A conflicting suffix replaces entries 3.. .
            let ready = Ready {
                entries: vec![
                    entry(3, 3, "c'"),
                    Entry {
                        index: 4,
                        term: 3,
                        payload: Payload::Config(Membership::new([1, 2])),
                    },
                ],
                ..Ready::default()
            };
            disk.persist(&ready, 0).unwrap();
            assert_eq!(disk.syncs, 2);
        }
        let (_, mem) = DiskStorage::open(dir.path()).unwrap();
        assert_eq!(mem.hard_state().term, 2);
        assert_eq!(mem.hard_state().voted_for, Some(1));
        let entries = mem.entries();
        assert_eq!(entries.len(), 4);
        assert_eq!(entries[2], entry(3, 3, "c'"));
        assert_eq!(entries[3].payload, Payload::Config(Membership::new([1, 2])));
    }

    #[test]
    fn snapshots_compact_and_restore() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut disk, _) = DiskStorage::open(dir.path()).unwrap();
            let ready = Ready {
                entries: (1..=5).map(|i| entry(i, 1, "x")).collect(),
                ..Ready::default()
            };
            disk.persist(&ready, 0).unwrap();
            // Local compaction at 3 keeps 4 and 5, once its file is written.
            let ready = Ready {
                snapshot: Some(Snapshot {
                    index: 3,
                    term: 1,
                    membership: Membership::new([1]),
                    data: b"state".to_vec().into(),
                }),
                ..Ready::default()
            };
            let write = disk.persist(&ready, 0).unwrap().expect("a local snapshot");
            assert_eq!(write.index(), 3);
            // Nothing is written, and nothing compacted, until the write runs.
            let snap_dir = dir.path().join("snap");
            assert_eq!(std::fs::read_dir(&snap_dir).unwrap().count(), 0);
            let index = std::thread::spawn(move || write.run()).join().unwrap();
            disk.compact(index.unwrap()).unwrap();
        }
        let (mut disk, mem) = DiskStorage::open(dir.path()).unwrap();
        assert_eq!(mem.snapshot().index, 3);
        assert_eq!(mem.snapshot().data, &b"state"[..]);
        assert_eq!(
            mem.entries().iter().map(|e| e.index).collect::<Vec<_>>(),
            vec![4, 5]
        );
        // A snapshot from the leader at 9 replaces the whole log.
        let ready = Ready {
            snapshot: Some(Snapshot {
                index: 9,
                term: 4,
                membership: Membership::new([1, 2, 3]),
                data: b"leader".to_vec().into(),
            }),
            restore_snapshot: true,
            entries: vec![entry(10, 4, "y")],
            ..Ready::default()
        };
        assert!(disk.persist(&ready, 0).unwrap().is_none());
        drop(disk);
        let (_, mem) = DiskStorage::open(dir.path()).unwrap();
        assert_eq!(mem.snapshot().index, 9);
        assert_eq!(mem.snapshot().membership, Membership::new([1, 2, 3]));
        assert_eq!(mem.entries(), vec![entry(10, 4, "y")]);
    }

    #[test]
    fn corrupt_log_refuses_to_open_naming_file_and_offset() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut disk, _) = DiskStorage::open(dir.path()).unwrap();
            for i in 1..=3 {
                let ready = Ready {
                    entries: vec![entry(i, 1, "some value")],
                    ..Ready::default()
                };
                disk.persist(&ready, 0).unwrap();
            }
        }
        // Damage a byte in the middle of the first segment holding entries (not its tail).
        let mut segs: Vec<_> = std::fs::read_dir(dir.path().join("wal"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        segs.sort();
        let seg = segs
            .iter()
            .find(|p| std::fs::metadata(p).unwrap().len() > 100)
            .unwrap()
            .clone();
        let mut bytes = std::fs::read(&seg).unwrap();
        let at = bytes.len() / 2;
        bytes[at] ^= 0xff;
        std::fs::write(&seg, &bytes).unwrap();
        // A newer segment exists (open starts one), so the damage is not a torn tail.
        match DiskStorage::open(dir.path()) {
            Err(StorageError::Wal(e)) => {
                let msg = e.to_string();
                assert!(msg.contains("offset"), "{msg}");
                assert!(msg.contains(&seg.display().to_string()), "{msg}");
            }
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("a corrupt log was opened"),
        }
    }
}
