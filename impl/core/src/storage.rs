//! Durable state as the core reads it back at start-up, and an in-memory implementation.

use crate::ready::Ready;
use crate::types::{Entry, HardState, Snapshot};

/// What the core needs from durable storage: the state it persisted before a crash. The core reads
/// it once, in `Node::new`, and keeps its own copy of the uncompacted log afterwards.
pub trait Storage {
    fn hard_state(&self) -> HardState;
    /// The latest snapshot (index 0 and an empty configuration if none was ever taken).
    fn snapshot(&self) -> Snapshot;
    /// Every entry after the snapshot, in index order.
    fn entries(&self) -> Vec<Entry>;
}

/// In-memory storage for tests, benchmarks and the conformance checker.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemStorage {
    pub hard_state: HardState,
    pub snapshot: Snapshot,
    /// Entries `snapshot.index + 1 ..`.
    pub entries: Vec<Entry>,
}

impl MemStorage {
    pub fn new() -> MemStorage {
        MemStorage::default()
    }

    /// Persists the durable part of a `Ready`, in the order the contract asks: snapshot, then
    /// entries, then hard state. Call it before sending the Ready's messages.
    pub fn persist(&mut self, ready: &Ready) {
        if let Some(snapshot) = &ready.snapshot {
            if ready.restore_snapshot {
                // A snapshot from the leader replaces the whole log (the core kept no suffix).
                self.entries.clear();
                self.snapshot = snapshot.clone();
            } else {
                self.apply_snapshot(snapshot.clone());
            }
        }
        self.append(&ready.entries);
        if let Some(hs) = ready.hard_state {
            self.hard_state = hs;
        }
    }

    /// Appends entries, first dropping any stored entry at or after the first new index.
    pub fn append(&mut self, entries: &[Entry]) {
        let Some(first) = entries.first() else {
            return;
        };
        let keep = first.index.saturating_sub(self.snapshot.index + 1) as usize;
        self.entries.truncate(keep);
        self.entries.extend_from_slice(entries);
    }

    /// Stores a snapshot: entries it covers are dropped; a suffix after it is kept only if the
    /// stored entry at the snapshot's index has the snapshot's term (paper Figure 13).
    pub fn apply_snapshot(&mut self, snapshot: Snapshot) {
        if snapshot.index <= self.snapshot.index {
            return;
        }
        let at = (snapshot.index - self.snapshot.index) as usize;
        let matches = at >= 1 && self.entries.get(at - 1).map(|e| e.term) == Some(snapshot.term);
        if matches {
            self.entries.drain(..at);
        } else {
            self.entries.clear();
        }
        self.snapshot = snapshot;
    }
}

impl Storage for MemStorage {
    fn hard_state(&self) -> HardState {
        self.hard_state
    }

    fn snapshot(&self) -> Snapshot {
        self.snapshot.clone()
    }

    fn entries(&self) -> Vec<Entry> {
        self.entries.clone()
    }
}
