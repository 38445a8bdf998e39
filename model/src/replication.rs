//! Log replication (Raft paper section 5.3, the commit rule of 5.4.2) and the production
//! protocol's replication extensions: fast backtracking (end of section 5.3), pipelining with
//! flow control (thesis 10.2.2; specs/divergence.md items 6-7) and eager replication
//! (divergence item 8).

use crate::bugs::Bug;
use crate::message::{Body, Entry, Hint, Index, Message, Payload, ServerId, Term, Value};
use crate::state::{Role, Server, ServerSet, State};
use crate::RaftModel;

/// Why a leader sends to a follower: the flow control treats them differently.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Send {
    Heartbeat,
    /// Eager replication of new entries.
    Entries,
    /// Eager replication after the commit index moved: followers learn it.
    Commit,
    /// A leadership transfer brings its target up to date (thesis 3.10).
    Catchup,
    /// Eager replication after a rejection: Figure 2's "decrement nextIndex and retry", sent
    /// even when it carries no entries.
    Retry,
}

impl RaftModel {
    /// Leaders send AppendEntries to every peer (sections 5.2, 5.3): from nextIndex, carrying up
    /// to `max_entries` entries; with pipelining, as its flow control says (`send_append`).
    pub(crate) fn heartbeat(&self, state: &mut State, i: ServerId) {
        for p in self.targets(&state.servers[i as usize], i, false).iter() {
            let _ = self.send_append(state, i, p, Send::Heartbeat);
        }
        for f in &mut state.servers[i as usize].flow {
            f.acked = false;
        }
    }

    /// Eager replication to every peer: new entries, or the commit index.
    pub(crate) fn broadcast(&self, state: &mut State, i: ServerId, why: Send) {
        for p in self.targets(&state.servers[i as usize], i, false).iter() {
            if why == Send::Entries {
                self.replicate(state, i, p);
            } else {
                self.send_append(state, i, p, why);
            }
        }
    }

    /// What leader `i` sends to peer `p`: one AppendEntries from nextIndex carrying up to
    /// `max_entries` entries, or nothing. Eager sends of new entries send nothing when there are
    /// none; a heartbeat, a commit notice and a transfer's catch-up send one even when empty.
    ///
    /// With pipelining (thesis 10.2.2) flow control decides first: a follower being probed gets
    /// nothing while a probe is out, one being replicated to gets nothing while its in-flight
    /// window is full, and sending moves its nextIndex past what was sent. A heartbeat to a
    /// replicated-to follower is an empty AppendEntries at its matchIndex (always accepted;
    /// specs/divergence.md item 7), unless it lags and its matchIndex did not move since the
    /// previous heartbeat: then its messages are assumed lost and it is probed again from
    /// matchIndex + 1. A heartbeat to a follower being probed sends the probe again.
    /// Returns whether it sent anything.
    pub(crate) fn send_append(
        &self,
        state: &mut State,
        i: ServerId,
        p: ServerId,
        why: Send,
    ) -> bool {
        let s = &mut state.servers[i as usize];
        let slot = p as usize;
        // The entries the follower needs are compacted away: send the snapshot (thesis 5.1).
        if self.params.snapshots && s.next_index[slot] <= s.snapshot {
            let m = self.snapshot_message(s, i, p);
            state.network.send(m);
            return true;
        }
        if self.params.pipelining() {
            let lags = s.match_index[slot] < s.last_index();
            let f = &mut s.flow[slot];
            if why == Send::Heartbeat {
                if f.replicate && (f.acked || !lags) {
                    let m = self.append_from(s, i, p, s.match_index[slot] + 1, false);
                    state.network.send(m);
                    return true;
                }
                if f.replicate {
                    s.next_index[slot] = s.match_index[slot] + 1;
                }
                let f = &mut s.flow[slot];
                f.replicate = false;
                f.inflight.clear();
                f.paused = false;
            }
            let f = &s.flow[slot];
            let full = f.inflight.len() >= self.params.max_inflight as usize;
            if (!f.replicate && f.paused) || (f.replicate && full) {
                return false;
            }
        }
        let m = self.append_from(s, i, p, s.next_index[slot], true);
        let Body::AppendEntries {
            prev_log_index,
            ref entries,
            ..
        } = m.body
        else {
            unreachable!("append_from builds AppendEntries")
        };
        if entries.is_empty() && why == Send::Entries {
            return false;
        }
        let last = prev_log_index + entries.len() as Index;
        if let Some(f) = s.flow.get_mut(slot) {
            if !f.replicate {
                f.paused = true;
            } else if !entries.is_empty() {
                f.inflight.push(last);
                s.next_index[slot] = last + 1;
            }
        }
        self.sent(s, slot, &m);
        state.network.send(m);
        true
    }

    /// Eager replication of new entries to `p`: with pipelining, as many AppendEntries as its
    /// window has room for; else one.
    pub(crate) fn replicate(&self, state: &mut State, i: ServerId, p: ServerId) {
        while self.send_append(state, i, p, Send::Entries) && self.params.pipelining() {}
    }

    /// After sending `m` to the peer in `slot`. Only under the bug does sending move
    /// matchIndex: it must wait for the follower's acknowledgement (Figure 2).
    fn sent(&self, s: &mut Server, slot: usize, m: &Message) {
        if let Body::AppendEntries {
            prev_log_index,
            entries,
            ..
        } = &m.body
        {
            if self.has_bug(Bug::MatchOnSend) && !entries.is_empty() {
                let last = prev_log_index + entries.len() as Index;
                s.match_index[slot] = s.match_index[slot].max(last);
            }
        }
    }

    /// An AppendEntries from leader `s` (id `i`) to `p` whose first entry would be at `next`,
    /// with up to `max_entries` entries (none unless `with_entries`).
    fn append_from(
        &self,
        s: &Server,
        i: ServerId,
        p: ServerId,
        next: Index,
        with_entries: bool,
    ) -> Message {
        let next = next.max(1);
        let prev_log_index = next - 1;
        // Only under a bug can nextIndex pass the end of the log; send no entries then.
        let prev_log_term = s.term_at(prev_log_index).unwrap_or(0);
        let from = (prev_log_index as usize).min(s.log.len());
        let to = if with_entries {
            (from + self.params.max_entries as usize).min(s.log.len())
        } else {
            from
        };
        Message {
            term: s.current_term,
            src: i,
            dst: p,
            body: Body::AppendEntries {
                prev_log_index,
                prev_log_term,
                entries: s.log[from..to].to_vec(),
                leader_commit: s.commit_index,
            },
        }
    }

    /// Leaders append client commands to their log (section 5.3), then run the commit rule; with
    /// eager replication they send them at once.
    pub(crate) fn client_request(&self, state: &mut State, i: ServerId, v: Value) {
        let s = &mut state.servers[i as usize];
        s.log.push(Entry {
            term: s.current_term,
            payload: Payload::Value(v),
        });
        self.leader_appended(state, i, true);
    }

    /// AppendEntries receiver (Figure 2), steps 1-5.
    pub(crate) fn handle_append_entries(
        &self,
        state: &mut State,
        m: &Message,
        prev_log_index: Index,
        prev_log_term: Term,
        entries: &[Entry],
        leader_commit: Index,
    ) {
        let s = &mut state.servers[m.dst as usize];
        let reply = |s: &Server, success, index, hint| append_reply(m, s, success, index, hint);
        // Step 1: reply false if term < currentTerm (section 5.1).
        if m.term < s.current_term && !self.has_bug(Bug::AcceptStaleTerm) {
            let r = reply(s, false, prev_log_index, None);
            state.network.send(r);
            return;
        }
        self.heard_from_leader(s);
        let last_new = prev_log_index + entries.len() as Index;
        // A compacted prefix is committed, so it matches the leader's log (Leader Completeness,
        // section 5.4): the check starts at the snapshot's last entry, and entries at or below
        // it are already there (thesis 5.1).
        let (prev_log_index, prev_log_term, entries) = if prev_log_index < s.snapshot {
            let skip = (s.snapshot - prev_log_index) as usize;
            let term = s.term_at(s.snapshot).unwrap_or(0);
            (s.snapshot, term, entries.get(skip..).unwrap_or(&[]))
        } else {
            (prev_log_index, prev_log_term, entries)
        };
        // Step 2: reply false if the log has no entry at prevLogIndex whose term matches.
        if s.term_at(prev_log_index) != Some(prev_log_term) {
            let hint = self
                .params
                .fast_backtrack
                .then(|| conflict_hint(s, prev_log_index));
            let r = reply(s, false, prev_log_index, hint);
            state.network.send(r);
            return;
        }
        // Steps 3 and 4: delete a conflicting entry and all that follow it; append new entries
        // not already in the log. A matching entry is kept (section 5.3).
        let mut appended = false;
        if self.has_bug(Bug::TruncateMatchingEntries) && !entries.is_empty() {
            s.log.truncate(prev_log_index as usize);
        }
        for (j, entry) in entries.iter().enumerate() {
            let at = prev_log_index as usize + j; // 0-based position of index prev + 1 + j
            match s.log.get(at) {
                Some(existing) if existing.term == entry.term => {}
                Some(_) => {
                    s.log.truncate(at);
                    s.log.push(*entry);
                    appended = true;
                    state.history.truncated_conflict = true;
                }
                None => {
                    s.log.push(*entry);
                    appended = true;
                }
            }
        }
        // Step 5: if leaderCommit > commitIndex, commitIndex = min(leaderCommit, index of last
        // new entry).
        if leader_commit > s.commit_index {
            s.commit_index = if self.has_bug(Bug::CommitWithoutMin) {
                leader_commit
            } else {
                s.commit_index.max(leader_commit.min(last_new))
            };
        }
        if appended && state.history.restarted.contains(m.dst) {
            state.history.restarted_rejoined = true;
        }
        let r = reply(s, true, last_new, None);
        state.network.send(r);
    }

    /// Leaders track matchIndex and nextIndex from replies of their term (Figure 2, Leaders;
    /// section 5.3). A stale or duplicated reply never moves them the wrong way.
    pub(crate) fn handle_append_response(
        &self,
        state: &mut State,
        m: &Message,
        success: bool,
        index: Index,
        hint: Option<Hint>,
    ) {
        let i = m.dst;
        let s = &mut state.servers[i as usize];
        if !s.is_leader() {
            return;
        }
        if !self.counts_reply(Bug::CountStaleAppendReplies, m.term, s.current_term) {
            if self.has_bug(Bug::CheckQuorumCountsStaleReply) {
                s.heard.insert(m.src);
            }
            return;
        }
        let p = m.src as usize;
        // A server outside the leader's configuration is not tracked (it left, or has not
        // joined): its replies change nothing.
        if self.params.membership && !self.config(s).1.contains(m.src) {
            return;
        }
        if success {
            let moved = index > s.match_index[p];
            s.match_index[p] = s.match_index[p].max(index);
            s.next_index[p] = s.next_index[p].max(index + 1);
            if let Some(f) = s.flow.get_mut(p) {
                f.acked |= moved;
                f.paused = false;
                f.inflight.retain(|&last| last > index);
                // Only the latest acknowledgement shows where the follower's log ends.
                if !f.replicate && index == s.match_index[p] {
                    f.replicate = true;
                    s.next_index[p] = s.match_index[p] + 1;
                }
            }
            let commit = s.commit_index;
            self.advance_leader_commit(state, i);
            let committed = state.servers[i as usize].commit_index > commit;
            if committed {
                self.leader_committed(state, i);
                if !state.servers[i as usize].is_leader() {
                    return;
                }
            }
            if state.servers[i as usize].transfer == Some(m.src) {
                self.maybe_timeout_now(state, i);
            }
            if self.params.eager {
                // Everyone learns the new commit index; the follower that answered has room
                // in its window again, unless the commit took it out of the configuration.
                if committed {
                    self.broadcast(state, i, Send::Commit);
                }
                let s = &state.servers[i as usize];
                if !self.params.membership || self.config(s).1.contains(m.src) {
                    self.replicate(state, i, m.src);
                }
            }
            return;
        }
        // A rejection of prevLogIndex `index`: nextIndex = max(matchIndex + 1, min(nextIndex,
        // index)) (specs/divergence.md item 2), or lower still by the hint. With pipelining, a
        // rejection of an index known to match answers an older AppendEntries and is ignored.
        let target = match hint {
            Some(h) if self.params.fast_backtrack => self.backtrack_target(s, h, index),
            _ => index,
        };
        if self.params.pipelining() && index <= s.match_index[p] {
            return;
        }
        let next = if self.has_bug(Bug::BacktrackPastConflict) {
            (s.match_index[p] + 1).max(target)
        } else {
            (s.match_index[p] + 1).max(s.next_index[p].min(target))
        };
        if index > s.match_index[p] && next > index {
            state.history.backtrack_stalled = true;
        }
        if next + 1 < s.next_index[p] && self.params.fast_backtrack {
            state.history.backtrack_jumped = true;
        }
        s.next_index[p] = next;
        if let Some(f) = s.flow.get_mut(p) {
            if f.replicate && !self.has_bug(Bug::NoProbeAfterRejection) {
                f.replicate = false;
                f.inflight.clear();
                state.history.probed_again = true;
            }
            f.paused = false;
        }
        if self.params.eager && self.params.pipelining() {
            self.replicate(state, i, m.src);
        } else if self.params.eager {
            self.send_append(state, i, m.src, Send::Retry);
        }
    }

    /// End of section 5.3: with the follower's conflicting term and the first index it stores
    /// for it, the leader skips that whole term: to just past its own last entry of that term
    /// if it has one, else to the follower's first index of it (or to just past the follower's
    /// log when that is too short).
    fn backtrack_target(&self, s: &Server, hint: Hint, index: Index) -> Index {
        let own_last_of_term = hint.conflict_term.and_then(|t| {
            (1..=index.min(s.last_index()))
                .rev()
                .find(|&k| s.term_at(k) == Some(t))
        });
        let target = match own_last_of_term {
            Some(k) => k + 1,
            None => hint.conflict_index,
        };
        if self.has_bug(Bug::BacktrackPastConflict) {
            target + 1
        } else {
            target
        }
    }

    /// A leader appended an entry: it may commit at once (a lone voter), and with eager
    /// replication (and `send`) sends it.
    pub(crate) fn leader_appended(&self, state: &mut State, i: ServerId, send: bool) {
        let before = state.servers[i as usize].commit_index;
        self.advance_leader_commit(state, i);
        if state.servers[i as usize].commit_index > before {
            self.leader_committed(state, i);
        }
        if send && self.params.eager && state.servers[i as usize].is_leader() {
            self.broadcast(state, i, Send::Entries);
        }
    }

    /// Figure 2, Leaders: "If there exists an N such that N > commitIndex, a majority of
    /// matchIndex[i] >= N, and log[N].term == currentTerm: set commitIndex = N" (sections 5.3,
    /// 5.4.2). The leader counts its own last index.
    /// With membership changes the quorum is of the leader's configuration (thesis 4.3), and
    /// the leader counts itself only as a voter of it.
    pub(crate) fn advance_leader_commit(&self, state: &mut State, me: ServerId) {
        let any_term = self.has_bug(Bug::CommitPreviousTerm);
        let s = &state.servers[me as usize];
        let cfg = self.config(s).1;
        for n in (s.commit_index + 1..=s.last_index()).rev() {
            if !any_term && s.term_at(n) != Some(s.current_term) {
                continue;
            }
            let mut acked = ServerSet::default();
            for p in 0..self.bounds.servers {
                if p == me || s.match_index[p as usize] >= n {
                    acked.insert(p);
                }
            }
            if self.is_quorum(&cfg, acked, false) {
                let term = s.current_term;
                state.servers[me as usize].commit_index = n;
                if self.params.membership {
                    let acked = if cfg.is_voter(me) {
                        acked
                    } else {
                        let mut others = acked;
                        others.remove(me);
                        others
                    };
                    state.history.record_quorum(term, cfg, acked, true);
                    if !self.correct_quorum(&cfg, acked) {
                        state.history.quorum_without_voters = true;
                    }
                }
                return;
            }
        }
    }
}

impl RaftModel {
    /// A server hears from the leader of its term: a candidate (or, under a bug, a second
    /// leader) returns to follower (section 5.2), keeping its vote for this term, and the
    /// lease starts again (thesis 4.2.3).
    pub(crate) fn heard_from_leader(&self, s: &mut Server) {
        if s.role != Role::Follower {
            crate::actions::become_follower(s);
            if self.has_bug(Bug::ClearVoteOnStepDown) {
                s.voted_for = None;
            }
        }
        if self.params.check_quorum {
            s.lease = true;
        }
    }
}

/// The reply of follower `s` to the leader's message `m`, AppendEntries or InstallSnapshot.
pub(crate) fn append_reply(
    m: &Message,
    s: &Server,
    success: bool,
    index: Index,
    hint: Option<Hint>,
) -> Message {
    Message {
        term: s.current_term,
        src: m.dst,
        dst: m.src,
        body: Body::AppendEntriesResponse {
            success,
            index,
            hint,
        },
    }
}

/// The hint a follower gives when the consistency check fails at `prev_log_index`.
fn conflict_hint(s: &Server, prev_log_index: Index) -> Hint {
    match s.term_at(prev_log_index) {
        Some(t) => Hint {
            conflict_term: Some(t),
            conflict_index: (1..=prev_log_index)
                .find(|&k| s.term_at(k) == Some(t))
                .unwrap_or(prev_log_index),
        },
        None => Hint {
            conflict_term: None,
            conflict_index: s.last_index() + 1,
        },
    }
}
