//! What a leader knows about each follower (Figure 2 nextIndex/matchIndex) and the flow control
//! around it.

use std::collections::VecDeque;

/// How the leader is currently replicating to a follower.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProgressState {
    /// Where the follower's log matches is unknown: one AppendEntries at a time (paper 5.3).
    Probe,
    /// The follower's log is known to match up to `match_index`: AppendEntries are pipelined and
    /// `next_index` moves forward optimistically as they are sent.
    Replicate,
    /// An InstallSnapshot is on its way; appends wait for its reply.
    Snapshot,
}

#[derive(Clone, Debug)]
pub struct Progress {
    /// Highest index known to match on the follower. Never decreases within a term.
    pub match_index: u64,
    /// Next index to send.
    pub next_index: u64,
    pub state: ProgressState,
    /// Probe state: an AppendEntries is out and unanswered, so wait before sending another.
    pub(crate) probe_sent: bool,
    /// Replicate state: (last index, bytes) of each AppendEntries in flight, oldest first.
    pub(crate) inflight: VecDeque<(u64, u64)>,
    pub(crate) inflight_bytes: u64,
    /// Heard from in the current check-quorum period.
    pub(crate) recent_active: bool,
    /// `match_index` moved since the last heartbeat.
    pub(crate) recent_progress: bool,
}

impl Progress {
    // ---- accessors (the conformance abstraction function reads these) ----

    /// Probe state: an AppendEntries is out and unanswered.
    pub fn probe_sent(&self) -> bool {
        self.probe_sent
    }
    /// Replicate state: the last index of each AppendEntries in flight, oldest first.
    pub fn inflight(&self) -> impl Iterator<Item = u64> + '_ {
        self.inflight.iter().map(|&(last, _)| last)
    }
    /// Heard from in the current check-quorum period.
    pub fn recent_active(&self) -> bool {
        self.recent_active
    }
    /// `match_index` moved since the last heartbeat.
    pub fn recent_progress(&self) -> bool {
        self.recent_progress
    }

    pub(crate) fn new(next_index: u64) -> Progress {
        Progress {
            match_index: 0,
            next_index,
            state: ProgressState::Probe,
            probe_sent: false,
            inflight: VecDeque::new(),
            inflight_bytes: 0,
            recent_active: false,
            recent_progress: false,
        }
    }

    /// A success reply acknowledging `index`: match and next only move forward, so a reordered or
    /// duplicated reply cannot move them back (raft-bugs #9).
    pub(crate) fn acknowledge(&mut self, index: u64) {
        if index > self.match_index {
            self.match_index = index;
            self.recent_progress = true;
        }
        self.next_index = self.next_index.max(index + 1);
        self.probe_sent = false;
        while self
            .inflight
            .front()
            .is_some_and(|&(last, _)| last <= index)
        {
            let (_, bytes) = self.inflight.pop_front().unwrap_or_default();
            self.inflight_bytes -= bytes;
        }
    }

    /// A rejection of the probe at `index`, with `hint` the index the follower suggests trying
    /// next (just `index` without fast backtracking). next_index never goes below match_index + 1
    /// and a stale rejection never moves it up (specs/contract.md).
    pub(crate) fn reject(&mut self, index: u64, hint: u64) {
        self.next_index = (self.match_index + 1).max(self.next_index.min(index).min(hint));
        self.become_probe();
    }

    /// Back to one AppendEntries at a time; the caller decides next_index.
    pub(crate) fn become_probe(&mut self) {
        self.state = ProgressState::Probe;
        self.probe_sent = false;
        self.inflight.clear();
        self.inflight_bytes = 0;
    }

    pub(crate) fn become_replicate(&mut self) {
        self.state = ProgressState::Replicate;
        self.next_index = self.match_index + 1;
        self.probe_sent = false;
    }

    /// Whether the leader must hold off sending entries to this follower.
    pub(crate) fn is_paused(&self, max_msgs: usize, max_bytes: u64) -> bool {
        match self.state {
            ProgressState::Probe => self.probe_sent,
            ProgressState::Replicate => {
                self.inflight.len() >= max_msgs || self.inflight_bytes >= max_bytes
            }
            ProgressState::Snapshot => true,
        }
    }

    /// Records an AppendEntries carrying entries up to `last` (Replicate state).
    pub(crate) fn sent(&mut self, last: u64, bytes: u64) {
        self.next_index = last + 1;
        self.inflight.push_back((last, bytes));
        self.inflight_bytes += bytes;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The byte window is the one part of flow control the model does not count (it counts
    /// messages), so it is checked here: acknowledged messages give their bytes back.
    #[test]
    fn an_acknowledgement_frees_the_bytes_of_what_it_covers() {
        let mut p = Progress::new(1);
        p.become_replicate();
        p.sent(3, 100);
        p.sent(5, 50);
        assert!(
            p.is_paused(8, 150),
            "150 bytes in flight fill a 150-byte window"
        );
        p.acknowledge(3);
        assert_eq!(p.inflight_bytes, 50);
        assert!(!p.is_paused(8, 150));
        p.acknowledge(5);
        assert_eq!((p.inflight_bytes, p.inflight.len()), (0, 0));
    }
}
