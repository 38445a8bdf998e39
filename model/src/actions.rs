//! The events and what each does: Figure 2's "Rules for Servers" (Raft paper, sections 5.1-5.4
//! and 8) and the production protocol's extensions (Ongaro's thesis: pre-vote 9.6,
//! check-quorum and the leader lease 6.2 and 4.2.3, leadership transfer 3.10, pipelining
//! 10.2.2, writes in parallel 10.2.1), one action per input the impl core takes, as
//! specs/contract.md fixes them. An extension's events are offered only when its parameter is
//! on.
//!
//! `RaftModel::step` is the one pure transition function; the checker and the conformance
//! checker both call it. It normalises the term first (`deliver`) and then hands each message
//! to its handler in `election` or `replication`; `persist` holds back what waits for a write.

use crate::bugs::Bug;
use crate::message::{Body, Index, Message, ServerId, Term, Value};
use crate::state::{Role, Server, ServerSet, State};
use crate::RaftModel;
use serde::{Deserialize, Serialize};

/// One event, received by the impl core as one input.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Action {
    /// Election timeout at a server that is not leader (section 5.2; with pre-vote, thesis 9.6).
    Timeout(ServerId),
    /// The leader sends AppendEntries to every peer (sections 5.2, 5.3).
    Heartbeat(ServerId),
    /// A client asks the leader to append a value (section 5.3).
    ClientRequest(ServerId, Value),
    /// The destination handles one copy of the message.
    Deliver(Message),
    /// The network loses one copy.
    Drop(Message),
    /// The network makes one more copy.
    Duplicate(Message),
    /// Crash and recover: persistent state kept, volatile state lost (Figure 2).
    Restart(ServerId),
    /// Check-quorum: an election timeout has passed at a leader, which steps down unless it
    /// heard from a quorum since the previous check (thesis 6.2).
    CheckQuorum(ServerId),
    /// Check-quorum: a follower's minimum election timeout has passed since it last heard from
    /// its leader, before its own election timer fires (thesis 4.2.3).
    LeaseExpires(ServerId),
    /// The leader is asked to hand leadership to a peer (thesis 3.10).
    TransferLeadership(ServerId, ServerId),
    /// A transfer that has not finished within an election timeout is given up (thesis 3.10).
    AbortTransfer(ServerId),
    /// A server's write in progress is done: what it wrote is durable and the messages that
    /// waited for it go out (thesis 10.2.1).
    Persist(ServerId),
    /// A server snapshots its state machine up to an index it has applied, and its log up to
    /// there is replaced by the snapshot (thesis 5.1).
    Compact(ServerId, Index),
    /// The leader is asked to change the configuration (thesis 4.3).
    ProposeMembership(ServerId, Change),
}

/// A configuration change as the impl takes it: the new voters and learners, reached from the
/// leader's configuration by one of these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Change {
    /// A server outside the configuration joins as a learner (thesis 4.2.1).
    AddLearner(ServerId),
    /// A learner becomes a voter.
    Promote(ServerId),
    /// A voter or a learner leaves.
    Remove(ServerId),
}

impl RaftModel {
    /// A quorum: a majority of the servers (section 5.2), or one fewer under the off-by-one bug.
    pub fn quorum(&self) -> usize {
        let n = self.bounds.servers as usize;
        if self.has_bug(Bug::QuorumOffByOne) {
            n / 2
        } else {
            n / 2 + 1
        }
    }

    pub(crate) fn has_bug(&self, bug: Bug) -> bool {
        self.bug == Some(bug)
    }

    /// Whether a reply sent in `reply_term` counts at a server in `current_term`: only one of
    /// its own term, or under `stale_bug` one of an earlier term too.
    pub(crate) fn counts_reply(
        &self,
        stale_bug: Bug,
        reply_term: Term,
        current_term: Term,
    ) -> bool {
        if self.has_bug(stale_bug) {
            reply_term <= current_term
        } else {
            reply_term == current_term
        }
    }

    /// A server with a write in progress takes no input until `Persist` (the `Ready` contract:
    /// no acknowledgement may count before the leader's own write is done), except a leader
    /// under the bug that breaks that rule.
    pub fn busy(&self, server: &Server) -> bool {
        server.pending.is_some()
            && !(server.is_leader() && self.has_bug(Bug::LeaderCountsUnwrittenEntry))
    }

    /// The enabled actions in a fixed order (servers first, then each distinct message).
    /// Fault actions are offered only while their budget lasts.
    pub fn enabled_actions(&self, state: &State, actions: &mut Vec<Action>) {
        let p = &self.params;
        for (id, server) in state.servers.iter().enumerate() {
            let id = id as ServerId;
            let busy = self.busy(server);
            if busy {
            } else if server.is_leader() {
                actions.push(Action::Heartbeat(id));
                if server.transfer.is_none() {
                    for v in 0..self.bounds.values {
                        actions.push(Action::ClientRequest(id, v));
                    }
                }
            } else if self.may_campaign(server, id) {
                actions.push(Action::Timeout(id));
            }
            if state.faults.restarts < self.bounds.max_restarts {
                actions.push(Action::Restart(id));
            }
            if server.pending.is_some() {
                actions.push(Action::Persist(id));
            }
            if busy {
                continue;
            }
            if server.is_leader() {
                if p.check_quorum {
                    actions.push(Action::CheckQuorum(id));
                }
                if p.transfer {
                    match server.transfer {
                        None => {
                            for t in self.targets(server, id, true).iter() {
                                actions.push(Action::TransferLeadership(id, t));
                            }
                        }
                        Some(_) => actions.push(Action::AbortTransfer(id)),
                    }
                }
            } else if server.lease {
                actions.push(Action::LeaseExpires(id));
            }
            if p.snapshots {
                for k in server.snapshot + 1..=server.commit_index {
                    actions.push(Action::Compact(id, k));
                }
            }
            if p.membership
                && server.is_leader()
                && state.faults.config_changes < self.bounds.max_config_changes
            {
                for change in self.changes(server) {
                    actions.push(Action::ProposeMembership(id, change));
                }
            }
        }
        let drop = state.faults.drops < self.bounds.max_drops;
        let duplicate = state.faults.duplicates < self.bounds.max_duplicates;
        for m in state.network.distinct() {
            if !self.busy(&state.servers[m.dst as usize]) {
                actions.push(Action::Deliver(m.clone()));
            }
            if drop {
                actions.push(Action::Drop(m.clone()));
            }
            if duplicate {
                actions.push(Action::Duplicate(m.clone()));
            }
        }
    }

    /// Whether `action` is enabled in `state` (the precondition of `step`).
    pub fn is_enabled(&self, state: &State, action: &Action) -> bool {
        let server = |id: &ServerId| state.servers.get(*id as usize);
        let idle = |id: &ServerId| server(id).is_some_and(|s| !self.busy(s));
        let leader = |id: &ServerId| idle(id) && server(id).is_some_and(Server::is_leader);
        match action {
            Action::Timeout(i) => {
                idle(i) && server(i).is_some_and(|s| !s.is_leader() && self.may_campaign(s, *i))
            }
            Action::Heartbeat(i) => leader(i),
            Action::ClientRequest(i, v) => {
                *v < self.bounds.values
                    && leader(i)
                    && server(i).is_some_and(|s| s.transfer.is_none())
            }
            Action::Restart(i) => {
                server(i).is_some() && state.faults.restarts < self.bounds.max_restarts
            }
            Action::Deliver(m) => {
                state.network.contains(m) && !self.busy(&state.servers[m.dst as usize])
            }
            Action::Drop(m) => {
                state.network.contains(m) && state.faults.drops < self.bounds.max_drops
            }
            Action::Duplicate(m) => {
                state.network.contains(m) && state.faults.duplicates < self.bounds.max_duplicates
            }
            Action::CheckQuorum(i) => self.params.check_quorum && leader(i),
            Action::LeaseExpires(i) => {
                self.params.check_quorum && idle(i) && server(i).is_some_and(|s| s.lease)
            }
            Action::TransferLeadership(i, t) => {
                self.params.transfer
                    && leader(i)
                    && server(i).is_some_and(|s| s.transfer.is_none())
                    && i != t
                    && server(i).is_some_and(|s| self.targets(s, *i, true).contains(*t))
            }
            Action::AbortTransfer(i) => {
                self.params.transfer && leader(i) && server(i).is_some_and(|s| s.transfer.is_some())
            }
            Action::Persist(i) => server(i).is_some_and(|s| s.pending.is_some()),
            Action::Compact(i, k) => {
                self.params.snapshots
                    && idle(i)
                    && server(i).is_some_and(|s| s.snapshot < *k && *k <= s.commit_index)
            }
            Action::ProposeMembership(i, change) => {
                self.params.membership
                    && leader(i)
                    && state.faults.config_changes < self.bounds.max_config_changes
                    && server(i).is_some_and(|s| self.changes(s).contains(change))
            }
        }
    }

    /// The state after `action`. Pure and total for enabled actions (see `is_enabled`).
    pub fn step(&self, state: &State, action: &Action) -> State {
        let mut next = state.clone();
        match action {
            Action::Timeout(i) => self.timeout(&mut next, *i),
            Action::Heartbeat(i) => self.heartbeat(&mut next, *i),
            Action::ClientRequest(i, v) => self.client_request(&mut next, *i, *v),
            Action::Deliver(m) => {
                next.network.remove_one(m);
                self.deliver(&mut next, m);
            }
            Action::Drop(m) => {
                next.network.remove_one(m);
                next.faults.drops += 1;
            }
            Action::Duplicate(m) => {
                next.network.send(m.clone());
                next.faults.duplicates += 1;
            }
            Action::Restart(i) => self.restart(&mut next, *i),
            Action::CheckQuorum(i) => self.check_quorum(&mut next, *i),
            Action::LeaseExpires(i) => next.servers[*i as usize].lease = false,
            Action::TransferLeadership(i, t) => self.transfer_leadership(&mut next, *i, *t),
            Action::AbortTransfer(i) => next.servers[*i as usize].transfer = None,
            Action::Persist(i) => self.persist(&mut next, *i),
            Action::Compact(i, k) => next.servers[*i as usize].snapshot = *k,
            Action::ProposeMembership(i, change) => self.propose_membership(&mut next, *i, *change),
        }
        if self.params.async_persist {
            self.hold_for_write(state, &mut next, action);
        }
        record_history(state, &mut next);
        next
    }

    /// Crash and recover: currentTerm, votedFor and log survive (Figure 2, persistent state) as
    /// far as they were written; everything else restarts from its initial value.
    fn restart(&self, state: &mut State, i: ServerId) {
        let s = &mut state.servers[i as usize];
        if self.lose_write(s) {
            state.history.lost_write = true;
        }
        let s = &mut state.servers[i as usize];
        s.role = Role::Follower;
        // The state machine restarts from the snapshot, which holds only committed entries
        // (thesis 5.1); without one, from nothing.
        s.commit_index = s.snapshot;
        s.votes_granted = ServerSet::default();
        clear_leader_state(s);
        s.lease = false;
        if self.has_bug(Bug::ForgetVotedForOnRestart) {
            s.voted_for = None;
        }
        if self.has_bug(Bug::ForgetTermOnRestart) {
            s.current_term = 0;
        }
        state.faults.restarts += 1;
        state.history.restarted.insert(i);
    }

    /// Whether `s` is in its leader lease: with check-quorum, a leader (which counts itself as
    /// heard from) or a follower that heard from its leader within the minimum election
    /// timeout (thesis 4.2.3).
    pub(crate) fn in_lease(&self, s: &Server) -> bool {
        self.params.check_quorum && (s.is_leader() || (s.role == Role::Follower && s.lease))
    }

    /// The destination handles `m` (already removed from the network).
    fn deliver(&self, state: &mut State, m: &Message) {
        let s = &mut state.servers[m.dst as usize];
        let term_before = s.current_term;
        // Thesis 4.2.3: a server that heard from a leader within the minimum election timeout
        // neither updates its term nor grants its vote on a vote request; an election started
        // by a leadership transfer is deliberate and passes (thesis 3.10).
        let leased = m.term > s.current_term
            && matches!(
                m.body,
                Body::RequestVote {
                    transfer: false,
                    ..
                }
            )
            && self.in_lease(s);
        if leased && !self.has_bug(Bug::LeaseIgnored) {
            return;
        }
        // Figure 2, All Servers: "If RPC request or response contains term T > currentTerm: set
        // currentTerm = T, convert to follower" (and the vote is for the old term). A pre-vote
        // and a granted pre-vote reply carry a term nobody may be in yet: they change nothing
        // (thesis 9.6).
        let keeps_term = matches!(
            m.body,
            Body::RequestVote { pre_vote: true, .. }
                | Body::RequestVoteResponse {
                    pre_vote: true,
                    granted: true
                }
        );
        let adopts = !keeps_term || self.has_bug(Bug::PreVoteBumpsTerm);
        if m.term > s.current_term && adopts {
            s.current_term = m.term;
            s.voted_for = None;
            become_follower(s);
        }
        if keeps_term && s.current_term != term_before {
            state.history.pre_vote_moved_term = true;
        }
        if leased && s.current_term != term_before {
            state.history.lease_broken = true;
        }
        // Thesis 6.2: what check-quorum counts is a heartbeat round answered, i.e. an
        // AppendEntries reply of the leader's term.
        let s = &state.servers[m.dst as usize];
        if self.params.check_quorum
            && s.is_leader()
            && m.term == s.current_term
            && matches!(m.body, Body::AppendEntriesResponse { .. })
            && (!self.params.membership || self.config(s).1.contains(m.src))
        {
            state.servers[m.dst as usize].heard.insert(m.src);
            state.history.heard_by(m.dst).insert(m.src);
        }
        match &m.body {
            Body::RequestVote {
                last_log_index,
                last_log_term,
                pre_vote: false,
                ..
            } => self.handle_request_vote(state, m, *last_log_index, *last_log_term),
            Body::RequestVote {
                last_log_index,
                last_log_term,
                pre_vote: true,
                ..
            } => self.handle_pre_vote(state, m, *last_log_index, *last_log_term),
            Body::RequestVoteResponse { granted, pre_vote } => {
                self.handle_vote_response(state, m, *granted, *pre_vote)
            }
            Body::AppendEntries {
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit,
            } => self.handle_append_entries(
                state,
                m,
                *prev_log_index,
                *prev_log_term,
                entries,
                *leader_commit,
            ),
            Body::AppendEntriesResponse {
                success,
                index,
                hint,
            } => self.handle_append_response(state, m, *success, *index, *hint),
            Body::TimeoutNow => self.handle_timeout_now(state, m),
            Body::InstallSnapshot {
                last_index,
                last_term,
                entries,
            } => self.handle_install_snapshot(state, m, *last_index, *last_term, entries),
        }
    }
}

/// Return to follower, dropping candidate and leader state (Figure 2, All Servers).
pub(crate) fn become_follower(s: &mut Server) {
    s.role = Role::Follower;
    s.votes_granted = ServerSet::default();
    s.lease = false;
    clear_leader_state(s);
}

/// Drops what only a leader keeps.
pub(crate) fn clear_leader_state(s: &mut Server) {
    s.next_index.clear();
    s.match_index.clear();
    s.heard = ServerSet::default();
    s.transfer = None;
    s.flow.clear();
}

/// Updates the history variables that compare a state with its successor.
///
/// Terms and votes are those stored (`Server::durable`): a write lost in a crash was never
/// seen by anyone, since what depends on it waits for it.
pub(crate) fn record_history(before: &State, after: &mut State) {
    for (i, a) in after.servers.iter().enumerate() {
        let (term, voted_for, _) = a.durable();
        // Section 5.2: "each server will vote for at most one candidate in a given term".
        let cast = &mut after.history.votes_cast[i];
        match (voted_for, *cast) {
            (Some(c), Some((t, c0))) if t == term && c0 != c => {
                after.history.double_vote = true;
                *cast = Some((term, c));
            }
            (Some(c), _) => *cast = Some((term, c)),
            (None, Some((t, _))) if t != term => *cast = None,
            (None, _) => {}
        }
    }
    for (b, a) in before.servers.iter().zip(&after.servers) {
        if a.durable().0 < b.durable().0 {
            after.history.term_decreased = true;
        }
        if a.snapshot < b.snapshot {
            after.history.snapshot_regressed = true;
        }
        // Leader Append-Only (section 5.3): while a server stays leader of one term, its new log
        // must extend its old log.
        if b.is_leader()
            && a.is_leader()
            && a.current_term == b.current_term
            && !a.log.starts_with(&b.log)
        {
            after.history.leader_log_rewritten = true;
        }
    }
    // Every entry a server newly marks committed is applied there (section 5.3); remember it and
    // the term in which it was committed.
    for i in 0..after.servers.len() {
        let (from, to) = (
            before.servers[i].commit_index,
            after.servers[i].commit_index,
        );
        if to > from {
            for k in from + 1..=to {
                if let Some(entry) = after.servers[i].entry_at(k).copied() {
                    let term = after.servers[i].current_term;
                    after.history.record_commit(k, entry, term);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Entry, Payload};
    use crate::properties::leader_append_only;

    /// No bug flag makes a leader rewrite its own log, so this shows directly that the step
    /// check behind Leader Append-Only fires when one does, and stays quiet on an append.
    #[test]
    fn the_leader_append_only_check_fires_when_a_leader_drops_an_entry() {
        let entry = |payload| Entry { term: 1, payload };
        let mut before = State::initial(3);
        let leader = &mut before.servers[0];
        leader.current_term = 1;
        leader.role = Role::Leader;
        leader.log = vec![entry(Payload::Noop), entry(Payload::Value(0))];

        let mut appended = before.clone();
        appended.servers[0].log.push(entry(Payload::Value(0)));
        record_history(&before, &mut appended);
        assert!(leader_append_only(&appended));

        let mut truncated = before.clone();
        truncated.servers[0].log.pop();
        record_history(&before, &mut truncated);
        assert!(!leader_append_only(&truncated));

        let mut overwritten = before.clone();
        overwritten.servers[0].log[1] = entry(Payload::Noop);
        record_history(&before, &mut overwritten);
        assert!(!leader_append_only(&overwritten));
    }
}
