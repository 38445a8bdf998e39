//! Leader election (Raft paper section 5.2, the vote restriction of 5.4.1, the no-op of 8) and
//! the thesis's election extensions: pre-vote (9.6), check-quorum (6.2) and leadership transfer
//! (3.10). The leader lease that makes servers ignore vote requests is applied where every
//! message's term is normalised (`actions::deliver`).

use crate::actions::{become_follower, clear_leader_state};
use crate::bugs::Bug;
use crate::message::{Body, Entry, Index, Message, Payload, ServerId, Term};
use crate::replication::Send;
use crate::state::{Flow, Role, Server, ServerSet, State};
use crate::RaftModel;

impl RaftModel {
    /// Figure 2, Followers and Candidates: on election timeout start an election; with
    /// pre-vote, first ask whether it could win (thesis 9.6).
    pub(crate) fn timeout(&self, state: &mut State, i: ServerId) {
        if self.params.pre_vote {
            self.start_pre_vote(state, i);
        } else {
            self.campaign(state, i, false);
        }
    }

    /// Thesis 9.6: a pre-candidate asks every peer whether it would vote for it in
    /// `currentTerm + 1`, changing neither its term nor its vote; only with a quorum of yeses does
    /// it start the real election.
    fn start_pre_vote(&self, state: &mut State, i: ServerId) {
        let s = &mut state.servers[i as usize];
        s.role = Role::PreCandidate;
        s.votes_granted = ServerSet::default();
        s.votes_granted.insert(i);
        s.lease = false;
        clear_leader_state(s);
        let (term, last_log_index, last_log_term) =
            (s.current_term + 1, s.last_index(), s.last_term());
        for dst in self.targets(&state.servers[i as usize], i, true).iter() {
            state.network.send(Message {
                term,
                src: i,
                dst,
                body: Body::RequestVote {
                    last_log_index,
                    last_log_term,
                    pre_vote: true,
                    transfer: false,
                },
            });
        }
        if self.has_votes(&state.servers[i as usize]) {
            self.campaign(state, i, false);
        }
    }

    /// Section 5.2: increment currentTerm, vote for self, send RequestVote to all other servers;
    /// `transfer` marks an election a leadership transfer asked for (thesis 3.10).
    pub(crate) fn campaign(&self, state: &mut State, i: ServerId, transfer: bool) {
        let s = &mut state.servers[i as usize];
        s.current_term += 1;
        s.role = Role::Candidate;
        s.voted_for = Some(i);
        s.votes_granted = ServerSet::default();
        s.votes_granted.insert(i);
        s.lease = false;
        clear_leader_state(s);
        let (term, last_log_index, last_log_term) = (s.current_term, s.last_index(), s.last_term());
        if state.history.restarted.contains(i) {
            state.history.restarted_rejoined = true;
        }
        if transfer {
            state.history.transfer_campaign = Some((term, i));
        }
        for dst in self.targets(&state.servers[i as usize], i, true).iter() {
            state.network.send(Message {
                term,
                src: i,
                dst,
                body: Body::RequestVote {
                    last_log_index,
                    last_log_term,
                    pre_vote: false,
                    transfer,
                },
            });
        }
        if self.has_votes(&state.servers[i as usize]) {
            self.become_leader(state, i);
        }
    }

    /// Whether a (pre-)candidate's grants are a quorum of its configuration.
    fn has_votes(&self, s: &Server) -> bool {
        self.is_quorum(&self.config(s).1, s.votes_granted, true)
    }

    /// A candidate with votes from a quorum becomes leader (section 5.2), initialises nextIndex
    /// to its last index + 1 and matchIndex to 0 (Figure 2), and appends a no-op (section 8).
    fn become_leader(&self, state: &mut State, i: ServerId) {
        let n = self.bounds.servers as usize;
        let s = &mut state.servers[i as usize];
        s.role = Role::Leader;
        s.next_index = vec![s.last_index() + 1; n];
        s.next_index[i as usize] = 0;
        s.match_index = vec![0; n];
        if self.params.membership {
            // Only the members of its configuration are tracked (Figure 2: "for each server").
            let cfg = self.config(s).1;
            for p in 0..n {
                if !cfg.contains(p as ServerId) {
                    s.next_index[p] = 0;
                }
            }
        }
        if self.params.pipelining() {
            s.flow = vec![Flow::default(); n];
        }
        if self.params.noop {
            s.log.push(Entry {
                term: s.current_term,
                payload: Payload::Noop,
            });
        }
        let term = s.current_term;
        let votes = s.votes_granted;
        let cfg = self.config(s).1;
        s.votes_granted = ServerSet::default();
        state.history.record_election(term, i);
        if self.params.membership {
            state.history.record_quorum(term, cfg, votes, false);
            if !self.correct_quorum(&cfg, votes) {
                state.history.quorum_without_voters = true;
            }
            if cfg.is_joint() {
                state.history.joint_election = true;
            }
        }
        if self.params.check_quorum {
            *state.history.heard_by(i) = ServerSet::default();
        }
        if state.history.transfer_campaign == Some((term, i)) {
            state.history.transfer_won = true;
        }
        self.leader_appended(state, i, true);
    }

    /// RequestVote receiver (Figure 2): reply false if term < currentTerm; grant if votedFor is
    /// null or the candidate, and the candidate's log is at least as up-to-date (section 5.4.1).
    pub(crate) fn handle_request_vote(
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
            if state.history.promoted.contains(m.dst) {
                state.history.promoted_voted = true;
            }
        }
        let reply = Message {
            term: s.current_term,
            src: m.dst,
            dst: m.src,
            body: Body::RequestVoteResponse {
                granted,
                pre_vote: false,
            },
        };
        state.network.send(reply);
    }

    /// Thesis 9.6: a pre-vote is granted when the receiver has not yet reached the term it
    /// names (so it could still vote in it) and the pre-candidate's log is at least as
    /// up-to-date. A pre-vote for a term the receiver is already in is stale: the pre-candidate
    /// has campaigned or learned a later term since. Nothing at the receiver changes. A grant
    /// carries the pre-vote's term, so the pre-candidate can tell it from a stale one; a refusal
    /// carries the receiver's term, so a pre-candidate behind learns it.
    pub(crate) fn handle_pre_vote(
        &self,
        state: &mut State,
        m: &Message,
        last_log_index: Index,
        last_log_term: Term,
    ) {
        let s = &state.servers[m.dst as usize];
        let could_vote = m.term > s.current_term;
        let up_to_date = self.correct_up_to_date(s, last_log_index, last_log_term);
        let granted = could_vote && (up_to_date || self.has_bug(Bug::PreVoteWithoutUpToDateCheck));
        if granted && !up_to_date {
            state.history.pre_vote_behind_granted = true;
        }
        let reply = Message {
            term: if granted { m.term } else { s.current_term },
            src: m.dst,
            dst: m.src,
            body: Body::RequestVoteResponse {
                granted,
                pre_vote: true,
            },
        };
        state.network.send(reply);
    }

    /// Section 5.4.1: "If the logs have last entries with different terms, then the log with
    /// the later term is more up-to-date. If the logs end with the same term, then whichever log
    /// is longer is more up-to-date."
    fn up_to_date(&self, s: &Server, last_log_index: Index, last_log_term: Term) -> bool {
        match self.bug {
            Some(Bug::VoteWithoutUpToDateCheck) => true,
            Some(Bug::UpToDateIndexFirst) => {
                (last_log_index, last_log_term) >= (s.last_index(), s.last_term())
            }
            _ => self.correct_up_to_date(s, last_log_index, last_log_term),
        }
    }

    fn correct_up_to_date(&self, s: &Server, last_log_index: Index, last_log_term: Term) -> bool {
        (last_log_term, last_log_index) >= (s.last_term(), s.last_index())
    }

    /// Candidates count grants from the current term; a quorum makes them leader (section 5.2).
    /// Pre-candidates count grants of the term they would campaign in; a quorum starts the real
    /// election (thesis 9.6).
    pub(crate) fn handle_vote_response(
        &self,
        state: &mut State,
        m: &Message,
        granted: bool,
        pre_vote: bool,
    ) {
        let s = &mut state.servers[m.dst as usize];
        let counts = if pre_vote {
            s.role == Role::PreCandidate && m.term == s.current_term + 1
        } else {
            s.role == Role::Candidate
                && self.counts_reply(Bug::CountStaleVotes, m.term, s.current_term)
        };
        // Only the voters of its configuration are asked, and only their grants count (under
        // the bug, its learners' too).
        let cfg = self.config(s).1;
        let voter = !self.params.membership
            || cfg.is_voter(m.src)
            || (self.has_bug(Bug::LearnerVotesCounted) && cfg.learners.contains(m.src));
        if !counts || !granted || !voter {
            return;
        }
        s.votes_granted.insert(m.src);
        if self.has_votes(&state.servers[m.dst as usize]) {
            if pre_vote {
                self.campaign(state, m.dst, false);
            } else {
                self.become_leader(state, m.dst);
            }
        }
    }

    /// Thesis 6.2: "a leader steps down if an election timeout elapses without a successful
    /// round of heartbeats to a majority of its cluster". It stays in its term, keeping its
    /// vote.
    pub(crate) fn check_quorum(&self, state: &mut State, i: ServerId) {
        let cfg = self.config(&state.servers[i as usize]).1;
        let s = &mut state.servers[i as usize];
        let mut heard = s.heard;
        heard.insert(i);
        let mut ghost = std::mem::take(state.history.heard_by(i));
        ghost.insert(i);
        if self.is_quorum(&cfg, heard, false) {
            s.heard = ServerSet::default();
            if !self.is_quorum(&cfg, ghost, false) {
                state.history.check_quorum_unheard = true;
            }
        } else {
            become_follower(s);
        }
    }

    /// Thesis 3.10: the leader stops taking proposals, brings the target up to date and, once
    /// the target holds its whole log, sends it TimeoutNow.
    pub(crate) fn transfer_leadership(&self, state: &mut State, i: ServerId, t: ServerId) {
        state.servers[i as usize].transfer = Some(t);
        if !self.maybe_timeout_now(state, i) {
            let _ = self.send_append(state, i, t, Send::Catchup);
        }
    }

    /// Sends TimeoutNow to the transfer target once its matchIndex reaches the leader's last
    /// index (under the bug, without waiting for that). True when sent.
    pub(crate) fn maybe_timeout_now(&self, state: &mut State, i: ServerId) -> bool {
        let s = &state.servers[i as usize];
        let Some(t) = s.transfer else { return false };
        let caught_up = s.match_index[t as usize] == s.last_index();
        if !caught_up && !self.has_bug(Bug::TimeoutNowToLaggingTarget) {
            return false;
        }
        // What the target has stored: the property that it holds the whole log is about it.
        let (_, _, stored) = state.servers[t as usize].durable();
        if !stored.starts_with(&s.log) {
            state.history.timeout_now_to_lagging = true;
        }
        let m = Message {
            term: s.current_term,
            src: i,
            dst: t,
            body: Body::TimeoutNow,
        };
        state.network.send(m);
        true
    }

    /// Thesis 3.10: the target starts an election at once, skipping pre-vote; its vote requests
    /// say so, and pass the voters' leases.
    pub(crate) fn handle_timeout_now(&self, state: &mut State, m: &Message) {
        let s = &state.servers[m.dst as usize];
        if m.term == s.current_term && !s.is_leader() {
            self.campaign(state, m.dst, true);
        }
    }
}
