//! The replicated log held in memory: a snapshot (the compacted prefix, paper section 7) followed
//! by the entries after it, plus the bookkeeping of what has been handed to storage and to the
//! application.
//!
//! The whole uncompacted suffix is kept in memory; the application bounds it by taking snapshots.

use crate::types::{Entry, Membership, Payload, Snapshot};

/// What `RaftLog::merge` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Merge {
    /// Every entry was already there.
    Unchanged,
    /// New entries were appended at the end.
    Appended,
    /// The log was cut at this index (a conflicting suffix removed) before appending.
    Truncated(u64),
    /// The merge would have removed a committed entry; nothing changed.
    Refused,
}

#[derive(Clone, Debug)]
pub struct RaftLog {
    /// Everything up to `snapshot.index` is compacted away.
    pub(crate) snapshot: Snapshot,
    /// Entries `snapshot.index + 1 ..= last_index()`, consecutive.
    pub(crate) entries: Vec<Entry>,
    /// Highest index known committed (paper Figure 2, commitIndex).
    pub(crate) committed: u64,
    /// Highest index the application acknowledged applying (via `advance`).
    pub(crate) applied: u64,
    /// Highest index handed to the application in a `Ready`.
    pub(crate) applying: u64,
    /// Entries up to here have been handed to storage in a `Ready`.
    pub(crate) persisted: u64,
    /// The snapshot has not been handed to storage yet.
    pub(crate) snapshot_unpersisted: bool,
    /// The unpersisted snapshot came from a leader, so the state machine must be restored from it.
    pub(crate) snapshot_restores: bool,
}

impl RaftLog {
    /// A log restored from storage: all of it is persisted, and nothing is known committed beyond
    /// the snapshot (commitIndex is volatile, Figure 2).
    pub fn restore(snapshot: Snapshot, entries: Vec<Entry>) -> RaftLog {
        let base = snapshot.index;
        // Keep only a consecutive run after the snapshot; storage returning anything else is a
        // storage bug, and the consecutive prefix is the part that can be trusted.
        let mut kept = Vec::with_capacity(entries.len());
        for e in entries {
            if e.index == base + 1 + kept.len() as u64 {
                kept.push(e);
            } else if e.index > base {
                break;
            }
        }
        let persisted = base + kept.len() as u64;
        RaftLog {
            snapshot,
            entries: kept,
            committed: base,
            applied: base,
            applying: base,
            persisted,
            snapshot_unpersisted: false,
            snapshot_restores: false,
        }
    }

    pub fn first_index(&self) -> u64 {
        self.snapshot.index + 1
    }

    pub fn last_index(&self) -> u64 {
        self.snapshot.index + self.entries.len() as u64
    }

    pub fn last_term(&self) -> u64 {
        self.entries.last().map_or(self.snapshot.term, |e| e.term)
    }

    /// The term of the entry at `index`: known for the snapshot's last index and every entry
    /// after it; `None` if compacted away or beyond the end.
    pub fn term(&self, index: u64) -> Option<u64> {
        if index == self.snapshot.index {
            Some(self.snapshot.term)
        } else {
            self.entry(index).map(|e| e.term)
        }
    }

    pub fn entry(&self, index: u64) -> Option<&Entry> {
        if index <= self.snapshot.index {
            return None;
        }
        self.entries.get((index - self.snapshot.index - 1) as usize)
    }

    pub fn matches(&self, index: u64, term: u64) -> bool {
        self.term(index) == Some(term)
    }

    /// Up to `max_entries` entries from `from`, cut at `max_bytes` (at least one entry is returned
    /// if any exists, so a large entry still makes progress).
    pub fn slice(&self, from: u64, max_entries: usize, max_bytes: u64) -> Vec<Entry> {
        let mut out = Vec::new();
        let mut bytes = 0;
        let mut index = from;
        while out.len() < max_entries {
            let Some(e) = self.entry(index) else { break };
            bytes += e.size();
            if !out.is_empty() && bytes > max_bytes {
                break;
            }
            out.push(e.clone());
            index += 1;
        }
        out
    }

    /// Appends one entry at the end (leader side).
    pub fn push(&mut self, term: u64, payload: Payload) -> u64 {
        let index = self.last_index() + 1;
        self.entries.push(Entry {
            index,
            term,
            payload,
        });
        index
    }

    /// Merges entries received from the leader that are known to follow a matching prefix. An
    /// entry already present with the same term is kept; at the first entry whose term differs,
    /// the log is truncated there and the rest appended (paper 5.3: never truncate on a match, so
    /// a stale or duplicated AppendEntries cannot erase acknowledged entries). Refuses, changing
    /// nothing, a merge that would truncate a committed entry: only a faulty leader can ask for it.
    pub fn merge(&mut self, entries: &[Entry]) -> Merge {
        let conflict = entries
            .iter()
            .find(|e| self.term(e.index) != Some(e.term) && e.index > self.snapshot.index);
        let Some(first_new) = conflict else {
            return Merge::Unchanged;
        };
        let at = first_new.index;
        if at <= self.committed {
            return Merge::Refused;
        }
        let truncated = at <= self.last_index();
        if truncated {
            self.truncate_from(at);
        }
        for e in entries.iter().filter(|e| e.index >= at) {
            self.entries.push(e.clone());
        }
        if truncated {
            Merge::Truncated(at)
        } else {
            Merge::Appended
        }
    }

    /// Drops every entry at `index` and above.
    fn truncate_from(&mut self, index: u64) {
        let keep = (index - self.snapshot.index - 1) as usize;
        self.entries.truncate(keep);
        self.persisted = self.persisted.min(index - 1);
    }

    /// Compacts the log up to `snapshot.index`, which must be an entry this log holds (local
    /// compaction, paper section 7).
    pub fn compact(&mut self, snapshot: Snapshot) {
        let drop = (snapshot.index - self.snapshot.index) as usize;
        self.entries.drain(..drop.min(self.entries.len()));
        self.snapshot = snapshot;
        self.snapshot_unpersisted = true;
    }

    /// Replaces the whole log by a snapshot received from the leader (paper Figure 13, step 7).
    pub fn install(&mut self, snapshot: Snapshot) {
        self.entries.clear();
        self.committed = snapshot.index;
        self.applied = snapshot.index;
        self.applying = snapshot.index;
        self.persisted = snapshot.index;
        self.snapshot = snapshot;
        self.snapshot_unpersisted = true;
        self.snapshot_restores = true;
    }

    /// The configuration in force at the end of the log: the last configuration entry, else the
    /// snapshot's (thesis 4.1: a server uses the latest configuration in its log).
    pub fn membership(&self) -> Option<(u64, &Membership)> {
        self.membership_at(self.last_index())
    }

    /// The configuration in force at `index` (the last configuration entry at or before it).
    pub fn membership_at(&self, index: u64) -> Option<(u64, &Membership)> {
        let upto = index.min(self.last_index());
        let from_log = self.entries[..(upto.saturating_sub(self.snapshot.index)) as usize]
            .iter()
            .rev()
            .find_map(|e| match &e.payload {
                Payload::Config(m) => Some((e.index, m)),
                _ => None,
            });
        from_log.or_else(|| {
            let m = &self.snapshot.membership;
            let empty = m.voters.is_empty() && m.outgoing.is_empty() && m.learners.is_empty();
            (!empty).then_some((self.snapshot.index, m))
        })
    }

    /// Entries not yet handed to storage.
    pub fn unpersisted(&self) -> &[Entry] {
        let from = self.persisted.saturating_sub(self.snapshot.index) as usize;
        &self.entries[from.min(self.entries.len())..]
    }

    /// Committed entries not yet handed to the application.
    pub fn to_apply(&self) -> &[Entry] {
        let from = self.applying.max(self.snapshot.index);
        let upto = self.committed.min(self.last_index());
        if upto <= from {
            return &[];
        }
        let base = self.snapshot.index;
        &self.entries[(from - base) as usize..(upto - base) as usize]
    }

    /// The first index of the run of entries with the same term as the entry at `index`
    /// (follower side of fast backtracking).
    pub fn first_index_of_term_at(&self, index: u64) -> u64 {
        let Some(term) = self.term(index) else {
            return index;
        };
        let mut first = index;
        while first > self.first_index() && self.term(first - 1) == Some(term) {
            first -= 1;
        }
        first
    }

    /// The last index whose entry has `term`, searching down from `from` (leader side of fast
    /// backtracking).
    pub fn last_index_of_term(&self, term: u64, from: u64) -> Option<u64> {
        let mut index = from.min(self.last_index());
        loop {
            match self.term(index) {
                Some(t) if t == term => return Some(index),
                Some(t) if t < term => return None,
                Some(_) if index > self.snapshot.index => index -= 1,
                _ => return None,
            }
        }
    }
}
