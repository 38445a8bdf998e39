//! Log replication and commitment (paper 5.3, 5.4.2), with batching, pipelining and fast
//! backtracking.

use crate::log::Merge;
use crate::node::{Error, Node, Role};
use crate::progress::ProgressState;
use crate::types::{Body, ConflictHint, Entry, NodeId, Payload};

impl Node {
    /// A client command (contract `ClientRequest`): appended to the leader's log in its term.
    /// Returns the entry's index. It is committed once a quorum stores it.
    pub fn propose(&mut self, data: Vec<u8>) -> Result<u64, Error> {
        self.propose_payload(Payload::Normal(data))
    }

    pub(crate) fn propose_payload(&mut self, payload: Payload) -> Result<u64, Error> {
        self.require_leader()?;
        if self.transfer.is_some() {
            return Err(Error::TransferInProgress);
        }
        let is_config = matches!(payload, Payload::Config(_));
        let index = self.log.push(self.term, payload);
        if is_config {
            // In force as soon as appended (thesis 4.1).
            self.refresh_membership();
        }
        // The leader's own log counts toward the quorum at once (one-server clusters commit here).
        self.maybe_commit();
        if self.cfg.eager_replication {
            // Sent when the next Ready is taken, so that proposals made in between travel
            // together (batching) instead of one message each.
            self.replicate_pending = true;
        }
        Ok(index)
    }

    /// A heartbeat round (contract `Heartbeat(i)`): AppendEntries to every peer from its
    /// next_index, carrying the commit index (paper 5.2, 5.3). With pipelining, a follower known to
    /// match gets an empty one at its match index instead, and a follower that made no progress
    /// since the last round falls back to probing (its messages may have been lost).
    pub fn heartbeat(&mut self) {
        if self.role != Role::Leader {
            return;
        }
        self.heartbeat_elapsed = 0;
        let peers: Vec<NodeId> = self.progress.keys().copied().collect();
        for to in peers {
            if self.cfg.pipelining {
                self.pipelined_heartbeat(to);
            } else {
                self.send_append(to, true);
            }
        }
    }

    fn pipelined_heartbeat(&mut self, to: NodeId) {
        let last = self.log.last_index();
        let Some(pr) = self.progress.get_mut(&to) else {
            return;
        };
        let healthy = pr.state == ProgressState::Replicate
            && (pr.recent_progress || pr.match_index == last)
            && self.log.term(pr.match_index).is_some();
        pr.recent_progress = false;
        if healthy {
            let prev = pr.match_index;
            self.send_empty_append(to, prev);
        } else {
            if pr.state != ProgressState::Probe {
                pr.next_index = pr.match_index + 1;
            }
            pr.become_probe();
            self.send_append(to, true);
        }
    }

    /// An AppendEntries known to succeed, carrying only the commit index and read round.
    fn send_empty_append(&mut self, to: NodeId, prev: u64) {
        let Some(prev_log_term) = self.log.term(prev) else {
            return;
        };
        self.send(
            to,
            Body::AppendEntries {
                prev_log_index: prev,
                prev_log_term,
                entries: Vec::new(),
                leader_commit: self.log.committed,
                read_ctx: self.reads.round,
            },
        );
    }

    /// Sends AppendEntries to every peer that can take one (eager replication).
    pub(crate) fn broadcast_append(&mut self, allow_empty: bool) {
        let peers: Vec<NodeId> = self.progress.keys().copied().collect();
        for to in peers {
            self.replicate_to(to, allow_empty);
        }
    }

    /// Sends as many AppendEntries to `to` as flow control allows.
    fn replicate_to(&mut self, to: NodeId, allow_empty: bool) {
        if !self.send_append(to, allow_empty) {
            return;
        }
        while self
            .progress
            .get(&to)
            .is_some_and(|p| p.state == ProgressState::Replicate)
            && self.send_append(to, false)
        {}
    }

    /// Sends one AppendEntries to `to` starting at its next_index, or an InstallSnapshot if that
    /// entry was compacted away. Returns whether anything was sent.
    pub(crate) fn send_append(&mut self, to: NodeId, allow_empty: bool) -> bool {
        let Some(pr) = self.progress.get(&to) else {
            return false;
        };
        if self.cfg.pipelining
            && pr.is_paused(self.cfg.max_inflight_msgs, self.cfg.max_inflight_bytes)
        {
            return false;
        }
        let prev = pr.next_index - 1;
        let Some(prev_log_term) = self.log.term(prev) else {
            return self.send_snapshot(to);
        };
        let entries = self.log.slice(
            prev + 1,
            self.cfg.max_entries_per_append,
            self.cfg.max_bytes_per_append,
        );
        if entries.is_empty() && !allow_empty {
            return false;
        }
        if self.cfg.pipelining {
            let bytes: u64 = entries.iter().map(Entry::size).sum();
            let last = entries.last().map(|e| e.index);
            if let Some(pr) = self.progress.get_mut(&to) {
                match (pr.state, last) {
                    (ProgressState::Replicate, Some(last)) => pr.sent(last, bytes),
                    (ProgressState::Probe, _) => pr.probe_sent = true,
                    _ => {}
                }
            }
        }
        self.send(
            to,
            Body::AppendEntries {
                prev_log_index: prev,
                prev_log_term,
                entries,
                leader_commit: self.log.committed,
                read_ctx: self.reads.round,
            },
        );
        true
    }

    /// AppendEntries at a follower in the sender's term (Figure 2, receiver implementation).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn handle_append(
        &mut self,
        from: NodeId,
        term: u64,
        mut prev_log_index: u64,
        mut prev_log_term: u64,
        mut entries: Vec<Entry>,
        leader_commit: u64,
        read_ctx: u64,
    ) {
        if !well_formed(term, prev_log_index, prev_log_term, &entries) {
            return;
        }
        let last_new = prev_log_index + entries.len() as u64;
        let base = self.log.snapshot.index;
        if prev_log_index < base {
            // The prefix up to the snapshot is committed, so it matches the leader's (Leader
            // Completeness): check consistency from the snapshot on.
            entries.retain(|e| e.index > base);
            prev_log_index = base;
            prev_log_term = self.log.snapshot.term;
        }
        // Paper 5.3 consistency check: the entry before the new ones must match.
        if !self.log.matches(prev_log_index, prev_log_term) {
            let hint = self
                .cfg
                .fast_backtrack
                .then(|| self.conflict_hint(prev_log_index));
            self.send(
                from,
                Body::AppendEntriesResponse {
                    success: false,
                    index: prev_log_index,
                    hint,
                    read_ctx,
                },
            );
            return;
        }
        // The configuration in force changes only when a configuration entry arrives or the one
        // in force is truncated away (thesis 4.1); scanning the log otherwise would cost
        // O(log length) per message.
        let has_config = entries
            .iter()
            .any(|e| matches!(e.payload, Payload::Config(_)));
        match self.log.merge(&entries) {
            Merge::Refused => return,
            Merge::Truncated(at) if at <= self.membership_index => self.refresh_membership(),
            Merge::Appended | Merge::Truncated(_) if has_config => self.refresh_membership(),
            _ => {}
        }
        // Commit only what is known to match the leader: min(leaderCommit, index of last new
        // entry), never leaderCommit alone (raft-bugs #8).
        if leader_commit > self.log.committed {
            self.log.committed = self.log.committed.max(leader_commit.min(last_new));
        }
        self.send(
            from,
            Body::AppendEntriesResponse {
                success: true,
                index: last_new,
                hint: None,
                read_ctx,
            },
        );
    }

    /// Where the leader should look next (paper 5.3, last paragraphs).
    fn conflict_hint(&self, prev_log_index: u64) -> ConflictHint {
        if prev_log_index > self.log.last_index() {
            ConflictHint {
                conflict_term: None,
                conflict_index: self.log.last_index() + 1,
            }
        } else {
            ConflictHint {
                conflict_term: self.log.term(prev_log_index),
                conflict_index: self.log.first_index_of_term_at(prev_log_index),
            }
        }
    }

    /// AppendEntriesResponse at the leader, in its term.
    pub(crate) fn handle_append_response(
        &mut self,
        from: NodeId,
        success: bool,
        index: u64,
        hint: Option<ConflictHint>,
        read_ctx: u64,
    ) {
        let last = self.log.last_index();
        let Some(pr) = self.progress.get_mut(&from) else {
            return;
        };
        pr.recent_active = true;
        self.ack_read(from, read_ctx);
        let Some(pr) = self.progress.get_mut(&from) else {
            return;
        };
        if success {
            if index > last {
                return; // claims entries this leader never sent
            }
            pr.acknowledge(index);
            if self.cfg.pipelining
                && pr.state != ProgressState::Replicate
                && index >= pr.match_index
            {
                pr.become_replicate();
            }
            let caught_up = pr.match_index == last;
            // The contract runs the commit rule on every success reply.
            self.maybe_commit();
            if caught_up && self.transfer.map(|(t, _)| t) == Some(from) {
                self.send(from, Body::TimeoutNow);
            }
            if self.cfg.eager_replication {
                self.replicate_to(from, false);
            }
        } else {
            if self.cfg.pipelining && index <= pr.match_index {
                // A rejection of a prevLogIndex known to match answers an older AppendEntries.
                return;
            }
            let hint_next = match hint.filter(|_| self.cfg.fast_backtrack) {
                Some(h) => self.backtrack_target(h, index),
                None => index,
            };
            if let Some(pr) = self.progress.get_mut(&from) {
                pr.reject(index, hint_next);
            }
            if self.cfg.eager_replication {
                self.send_append(from, true);
            }
        }
    }

    /// The next index to try after a rejection with a conflict hint: just past the leader's last
    /// entry in the conflicting term if it has that term, else the follower's first index of it.
    fn backtrack_target(&self, hint: ConflictHint, rejected: u64) -> u64 {
        let guess = hint
            .conflict_term
            .and_then(|t| self.log.last_index_of_term(t, rejected))
            .map(|i| i + 1)
            .unwrap_or(hint.conflict_index);
        guess.max(1)
    }

    /// The leader commit rule (paper 5.3, 5.4.2): the highest index a quorum stores, counting the
    /// leader's own log, commits only if its entry is from the current term (Figure 8,
    /// raft-bugs #1). Returns whether the commit index moved.
    pub(crate) fn maybe_commit(&mut self) -> bool {
        if self.role != Role::Leader {
            return false;
        }
        let me = self.id;
        let last = self.log.last_index();
        let progress = &self.progress;
        let quorum_index = self.membership.committed_index(|v| {
            if v == me {
                last
            } else {
                progress.get(&v).map_or(0, |p| p.match_index)
            }
        });
        if quorum_index <= self.log.committed || self.log.term(quorum_index) != Some(self.term) {
            return false;
        }
        let first_in_term = self.log.term(self.log.committed) != Some(self.term);
        self.log.committed = quorum_index;
        if first_in_term {
            self.release_waiting_reads();
        }
        self.on_config_committed();
        if self.role == Role::Leader && self.cfg.eager_replication {
            // Tell followers the new commit index now rather than at the next heartbeat.
            self.broadcast_append(true);
        }
        true
    }
}

/// A correct leader sends entries numbered consecutively after `prev_log_index`, with terms that
/// never decrease and never exceed its own. Anything else is dropped unanswered.
fn well_formed(term: u64, prev_log_index: u64, prev_log_term: u64, entries: &[Entry]) -> bool {
    let mut prev_term = prev_log_term;
    if prev_log_term > term || prev_log_index.checked_add(entries.len() as u64).is_none() {
        return false;
    }
    for (k, e) in entries.iter().enumerate() {
        if e.index != prev_log_index + 1 + k as u64 || e.term < prev_term || e.term > term {
            return false;
        }
        prev_term = e.term;
    }
    true
}
