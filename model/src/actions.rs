//! The events and what each does: Figure 2's "Rules for Servers" and the receiver
//! implementations of RequestVote and AppendEntries (Raft paper, sections 5.1-5.4 and 8), one
//! action per input the impl core takes, exactly as specs/contract.md fixes them.
//!
//! `RaftModel::step` is the one pure transition function; the checker and the conformance
//! checker both call it.

use crate::bugs::Bug;
use crate::message::{Body, Entry, Index, Message, Payload, ServerId, Term, Value};
use crate::state::{Role, Server, ServerSet, State};
use crate::RaftModel;
use serde::{Deserialize, Serialize};

/// One event, received by the impl core as one input.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Action {
    /// Election timeout at a server that is not leader (section 5.2).
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

    fn has_bug(&self, bug: Bug) -> bool {
        self.bug == Some(bug)
    }

    /// Whether a reply sent in `reply_term` counts at a server in `current_term`: only one of
    /// its own term, or under `stale_bug` one of an earlier term too.
    fn counts_reply(&self, stale_bug: Bug, reply_term: Term, current_term: Term) -> bool {
        if self.has_bug(stale_bug) {
            reply_term <= current_term
        } else {
            reply_term == current_term
        }
    }

    /// The enabled actions in a fixed order (servers first, then each distinct message).
    /// Fault actions are offered only while their budget lasts.
    pub fn enabled_actions(&self, state: &State, actions: &mut Vec<Action>) {
        for (id, server) in state.servers.iter().enumerate() {
            let id = id as ServerId;
            if server.is_leader() {
                actions.push(Action::Heartbeat(id));
                for v in 0..self.bounds.values {
                    actions.push(Action::ClientRequest(id, v));
                }
            } else {
                actions.push(Action::Timeout(id));
            }
            if state.faults.restarts < self.bounds.max_restarts {
                actions.push(Action::Restart(id));
            }
        }
        let drop = state.faults.drops < self.bounds.max_drops;
        let duplicate = state.faults.duplicates < self.bounds.max_duplicates;
        for m in state.network.distinct() {
            actions.push(Action::Deliver(m.clone()));
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
        match action {
            Action::Timeout(i) => server(i).is_some_and(|s| !s.is_leader()),
            Action::Heartbeat(i) => server(i).is_some_and(Server::is_leader),
            Action::ClientRequest(i, v) => {
                *v < self.bounds.values && server(i).is_some_and(Server::is_leader)
            }
            Action::Restart(i) => {
                server(i).is_some() && state.faults.restarts < self.bounds.max_restarts
            }
            Action::Deliver(m) => state.network.contains(m),
            Action::Drop(m) => {
                state.network.contains(m) && state.faults.drops < self.bounds.max_drops
            }
            Action::Duplicate(m) => {
                state.network.contains(m) && state.faults.duplicates < self.bounds.max_duplicates
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
        }
        record_history(state, &mut next);
        next
    }

    /// Figure 2, Followers and Candidates: on election timeout start an election: increment
    /// currentTerm, vote for self, send RequestVote to all other servers (section 5.2).
    fn timeout(&self, state: &mut State, i: ServerId) {
        let s = &mut state.servers[i as usize];
        s.current_term += 1;
        s.role = Role::Candidate;
        s.voted_for = Some(i);
        s.votes_granted = ServerSet::default();
        s.votes_granted.insert(i);
        s.next_index.clear();
        s.match_index.clear();
        let (term, last_log_index, last_log_term) = (s.current_term, s.last_index(), s.last_term());
        if state.history.restarted.contains(i) {
            state.history.restarted_rejoined = true;
        }
        for dst in peers(self.bounds.servers, i) {
            state.network.send(Message {
                term,
                src: i,
                dst,
                body: Body::RequestVote {
                    last_log_index,
                    last_log_term,
                },
            });
        }
        if state.servers[i as usize].votes_granted.len() >= self.quorum() {
            self.become_leader(state, i);
        }
    }

    /// A candidate with votes from a quorum becomes leader (section 5.2), initialises nextIndex
    /// to its last index + 1 and matchIndex to 0 (Figure 2), and appends a no-op (section 8).
    fn become_leader(&self, state: &mut State, i: ServerId) {
        let n = self.bounds.servers as usize;
        let s = &mut state.servers[i as usize];
        s.role = Role::Leader;
        s.votes_granted = ServerSet::default();
        s.next_index = vec![s.last_index() + 1; n];
        s.next_index[i as usize] = 0;
        s.match_index = vec![0; n];
        if self.params.noop {
            s.log.push(Entry {
                term: s.current_term,
                payload: Payload::Noop,
            });
        }
        let term = s.current_term;
        state.history.record_election(term, i);
        self.advance_leader_commit(&mut state.servers[i as usize], i);
    }

    /// Leaders send AppendEntries from nextIndex to every peer, carrying up to `max_entries`
    /// entries (sections 5.2, 5.3). Sending does not move nextIndex.
    fn heartbeat(&self, state: &mut State, i: ServerId) {
        let s = &state.servers[i as usize];
        for dst in peers(self.bounds.servers, i) {
            let next = s.next_index[dst as usize].max(1);
            let prev_log_index = next - 1;
            // Only under a bug can nextIndex pass the end of the log; send no entries then.
            let prev_log_term = s.term_at(prev_log_index).unwrap_or(0);
            let from = (prev_log_index as usize).min(s.log.len());
            let to = (from + self.params.max_entries as usize).min(s.log.len());
            state.network.send(Message {
                term: s.current_term,
                src: i,
                dst,
                body: Body::AppendEntries {
                    prev_log_index,
                    prev_log_term,
                    entries: s.log[from..to].to_vec(),
                    leader_commit: s.commit_index,
                },
            });
        }
    }

    /// Leaders append client commands to their log (section 5.3), then run the commit rule.
    fn client_request(&self, state: &mut State, i: ServerId, v: Value) {
        let s = &mut state.servers[i as usize];
        s.log.push(Entry {
            term: s.current_term,
            payload: Payload::Value(v),
        });
        self.advance_leader_commit(s, i);
    }

    /// Crash and recover: currentTerm, votedFor and log survive (Figure 2, persistent state);
    /// everything else restarts from its initial value.
    fn restart(&self, state: &mut State, i: ServerId) {
        let s = &mut state.servers[i as usize];
        s.role = Role::Follower;
        s.commit_index = 0;
        s.votes_granted = ServerSet::default();
        s.next_index.clear();
        s.match_index.clear();
        if self.has_bug(Bug::ForgetVotedForOnRestart) {
            s.voted_for = None;
        }
        if self.has_bug(Bug::ForgetTermOnRestart) {
            s.current_term = 0;
        }
        state.faults.restarts += 1;
        state.history.restarted.insert(i);
    }

    /// The destination handles `m` (already removed from the network).
    fn deliver(&self, state: &mut State, m: &Message) {
        let s = &mut state.servers[m.dst as usize];
        // Figure 2, All Servers: "If RPC request or response contains term T > currentTerm: set
        // currentTerm = T, convert to follower" (and the vote is for the old term).
        if m.term > s.current_term {
            s.current_term = m.term;
            s.voted_for = None;
            become_follower(s);
        }
        match &m.body {
            Body::RequestVote {
                last_log_index,
                last_log_term,
            } => self.handle_request_vote(state, m, *last_log_index, *last_log_term),
            Body::RequestVoteResponse { granted } => self.handle_vote_response(state, m, *granted),
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
            Body::AppendEntriesResponse { success, index } => {
                self.handle_append_response(state, m, *success, *index)
            }
        }
    }

    /// RequestVote receiver (Figure 2): reply false if term < currentTerm; grant if votedFor is
    /// null or the candidate, and the candidate's log is at least as up-to-date (section 5.4.1).
    fn handle_request_vote(
        &self,
        state: &mut State,
        m: &Message,
        last_log_index: Index,
        last_log_term: Term,
    ) {
        let s = &mut state.servers[m.dst as usize];
        let granted = m.term >= s.current_term
            && (s.voted_for.is_none() || s.voted_for == Some(m.src))
            && self.up_to_date(s, last_log_index, last_log_term);
        if granted {
            s.voted_for = Some(m.src);
            if state.history.restarted.contains(m.dst) {
                state.history.restarted_rejoined = true;
            }
        }
        let reply = Message {
            term: s.current_term,
            src: m.dst,
            dst: m.src,
            body: Body::RequestVoteResponse { granted },
        };
        state.network.send(reply);
    }

    /// Section 5.4.1: "If the logs have last entries with different terms, then the log with
    /// the later term is more up-to-date. If the logs end with the same term, then whichever log
    /// is longer is more up-to-date."
    fn up_to_date(&self, s: &Server, last_log_index: Index, last_log_term: Term) -> bool {
        let (my_index, my_term) = (s.last_index(), s.last_term());
        match self.bug {
            Some(Bug::VoteWithoutUpToDateCheck) => true,
            Some(Bug::UpToDateIndexFirst) => (last_log_index, last_log_term) >= (my_index, my_term),
            _ => (last_log_term, last_log_index) >= (my_term, my_index),
        }
    }

    /// Candidates count grants from the current term; a quorum makes them leader (section 5.2).
    fn handle_vote_response(&self, state: &mut State, m: &Message, granted: bool) {
        let s = &mut state.servers[m.dst as usize];
        let current = self.counts_reply(Bug::CountStaleVotes, m.term, s.current_term);
        if s.role != Role::Candidate || !current || !granted {
            return;
        }
        s.votes_granted.insert(m.src);
        if s.votes_granted.len() >= self.quorum() {
            self.become_leader(state, m.dst);
        }
    }

    /// AppendEntries receiver (Figure 2), steps 1-5.
    fn handle_append_entries(
        &self,
        state: &mut State,
        m: &Message,
        prev_log_index: Index,
        prev_log_term: Term,
        entries: &[Entry],
        leader_commit: Index,
    ) {
        let s = &mut state.servers[m.dst as usize];
        let reply = |s: &Server, success: bool, index: Index| Message {
            term: s.current_term,
            src: m.dst,
            dst: m.src,
            body: Body::AppendEntriesResponse { success, index },
        };
        // Step 1: reply false if term < currentTerm (section 5.1).
        if m.term < s.current_term && !self.has_bug(Bug::AcceptStaleTerm) {
            let r = reply(s, false, prev_log_index);
            state.network.send(r);
            return;
        }
        // The sender is the leader of this term: a candidate (or, under a bug, a second
        // leader) returns to follower (section 5.2), keeping its vote for this term.
        if s.role != Role::Follower {
            become_follower(s);
            if self.has_bug(Bug::ClearVoteOnStepDown) {
                s.voted_for = None;
            }
        }
        // Step 2: reply false if the log has no entry at prevLogIndex whose term matches.
        if s.term_at(prev_log_index) != Some(prev_log_term) {
            let r = reply(s, false, prev_log_index);
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
        let last_new = prev_log_index + entries.len() as Index;
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
        let r = reply(s, true, last_new);
        state.network.send(r);
    }

    /// Leaders track matchIndex and nextIndex from replies of their term (Figure 2, Leaders;
    /// section 5.3). A stale or duplicated reply never moves them the wrong way.
    fn handle_append_response(&self, state: &mut State, m: &Message, success: bool, index: Index) {
        let s = &mut state.servers[m.dst as usize];
        let current = self.counts_reply(Bug::CountStaleAppendReplies, m.term, s.current_term);
        if !s.is_leader() || !current {
            return;
        }
        let p = m.src as usize;
        if success {
            s.match_index[p] = s.match_index[p].max(index);
            s.next_index[p] = s.next_index[p].max(index + 1);
            self.advance_leader_commit(s, m.dst);
        } else {
            s.next_index[p] = (s.match_index[p] + 1).max(s.next_index[p].min(index));
        }
    }

    /// Figure 2, Leaders: "If there exists an N such that N > commitIndex, a majority of
    /// matchIndex[i] >= N, and log[N].term == currentTerm: set commitIndex = N" (sections 5.3,
    /// 5.4.2). The leader counts its own last index.
    fn advance_leader_commit(&self, s: &mut Server, me: ServerId) {
        let any_term = self.has_bug(Bug::CommitPreviousTerm);
        for n in (s.commit_index + 1..=s.last_index()).rev() {
            if !any_term && s.term_at(n) != Some(s.current_term) {
                continue;
            }
            let replicas = (0..self.bounds.servers as usize)
                .filter(|&p| p == me as usize || s.match_index[p] >= n)
                .count();
            if replicas >= self.quorum() {
                s.commit_index = n;
                return;
            }
        }
    }
}

/// Return to follower, dropping candidate and leader state (Figure 2, All Servers).
fn become_follower(s: &mut Server) {
    s.role = Role::Follower;
    s.votes_granted = ServerSet::default();
    s.next_index.clear();
    s.match_index.clear();
}

/// Every server but `me`, in id order (servers never message themselves).
fn peers(servers: u8, me: ServerId) -> impl Iterator<Item = ServerId> {
    (0..servers).filter(move |&p| p != me)
}

/// Updates the history variables that compare a state with its successor.
fn record_history(before: &State, after: &mut State) {
    for (i, a) in after.servers.iter().enumerate() {
        // Section 5.2: "each server will vote for at most one candidate in a given term".
        let cast = &mut after.history.votes_cast[i];
        match (a.voted_for, *cast) {
            (Some(c), Some((t, c0))) if t == a.current_term && c0 != c => {
                after.history.double_vote = true;
                *cast = Some((a.current_term, c));
            }
            (Some(c), _) => *cast = Some((a.current_term, c)),
            (None, Some((t, _))) if t != a.current_term => *cast = None,
            (None, _) => {}
        }
    }
    for (b, a) in before.servers.iter().zip(&after.servers) {
        if a.current_term < b.current_term {
            after.history.term_decreased = true;
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
