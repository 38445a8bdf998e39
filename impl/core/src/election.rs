//! Leader election (paper 5.2, 5.4.1), pre-vote (thesis 9.6) and leadership transfer (thesis
//! 3.10).

use crate::node::{Error, Node, Role};
use crate::types::{Body, Message, NodeId};

impl Node {
    /// The election timer fires now (contract `Timeout(i)`). A leader ignores it, and so does a
    /// server that may not stand for election (see `promotable`).
    pub fn timeout(&mut self) {
        if self.role == Role::Leader || !self.promotable() {
            return;
        }
        if self.cfg.pre_vote {
            self.pre_campaign();
        } else {
            self.campaign(false);
        }
    }

    /// Whether this server may stand for election: it is a voter in its latest configuration, or
    /// it was one in the configuration it knows committed. The second case keeps a server that an
    /// uncommitted C(new) removes electable until the removal commits (thesis 4.2.2): otherwise
    /// servers holding that C(new) would refuse to campaign while the others, lacking it, cannot
    /// gather their votes, and the cluster would have no leader. Learners never campaign.
    pub(crate) fn promotable(&self) -> bool {
        if self.membership.is_voter(self.id) {
            return true;
        }
        match self.log.membership_at(self.log.committed) {
            Some((_, m)) => m.is_voter(self.id),
            None => self.cfg.initial.is_voter(self.id),
        }
    }

    /// Pre-vote: ask whether an election in `term + 1` could be won before disturbing anyone with
    /// a higher term (thesis 9.6). Term and vote do not change.
    fn pre_campaign(&mut self) {
        self.role = Role::PreCandidate;
        self.leader = None;
        self.votes.clear();
        self.votes.insert(self.id, true);
        self.reset_election_timer();
        if self.won() {
            self.campaign(false);
            return;
        }
        self.request_votes(self.term + 1, true, false);
    }

    /// Become a candidate in the next term and vote for itself (paper 5.2). The vote is part of
    /// the hard state in the next Ready, so it is persisted before any RequestVote leaves.
    pub(crate) fn campaign(&mut self, transfer: bool) {
        self.term += 1;
        self.voted_for = Some(self.id);
        self.role = Role::Candidate;
        self.leader = None;
        self.votes.clear();
        self.votes.insert(self.id, true);
        self.reset_election_timer();
        if self.won() {
            self.become_leader();
            return;
        }
        self.request_votes(self.term, false, transfer);
    }

    fn request_votes(&mut self, term: u64, pre_vote: bool, transfer: bool) {
        let (last_log_index, last_log_term) = (self.log.last_index(), self.log.last_term());
        for to in self.membership.all_voters() {
            if to == self.id {
                continue;
            }
            self.msgs.push(Message {
                from: self.id,
                to,
                term,
                body: Body::RequestVote {
                    last_log_index,
                    last_log_term,
                    pre_vote,
                    transfer,
                },
            });
        }
    }

    fn won(&self) -> bool {
        self.membership
            .has_quorum(|v| self.votes.get(&v).copied().unwrap_or(false))
    }

    /// RequestVote, for any role; the term has been normalised (`m.term >= self.term`).
    pub(crate) fn handle_vote_request(&mut self, m: &Message) {
        let Body::RequestVote {
            last_log_index,
            last_log_term,
            pre_vote,
            ..
        } = m.body
        else {
            return;
        };
        // Paper 5.4.1: the candidate's log must be at least as up-to-date: compare last terms
        // first, and last indexes only on equal terms (raft-bugs #2).
        let up_to_date = last_log_term > self.log.last_term()
            || (last_log_term == self.log.last_term() && last_log_index >= self.log.last_index());
        let granted = if pre_vote {
            // Would this server vote in the candidate's next term?
            m.term > self.term && up_to_date
        } else {
            // One vote per term (5.2); a leader or candidate has voted for itself (raft-bugs #6).
            let free = self.voted_for.is_none() || self.voted_for == Some(m.from);
            free && up_to_date
        };
        if granted && !pre_vote {
            self.voted_for = Some(m.from);
            // Figure 2: granting a vote restarts the election timer.
            self.election_elapsed = 0;
        }
        // A granted pre-vote answers in the candidate's future term so it is not taken as stale;
        // everything else carries the (possibly just raised) current term (raft-bugs #10).
        let term = if granted && pre_vote {
            m.term
        } else {
            self.term
        };
        self.msgs.push(Message {
            from: self.id,
            to: m.from,
            term,
            body: Body::RequestVoteResponse { granted, pre_vote },
        });
    }

    /// A vote reply to a candidate or pre-candidate in the same term. Only replies to this
    /// election count (raft-bugs #5): real votes in the current term, pre-votes for the next.
    pub(crate) fn handle_vote_response(
        &mut self,
        from: NodeId,
        term: u64,
        granted: bool,
        pre_vote: bool,
    ) {
        let current = match self.role {
            Role::Candidate => !pre_vote && term == self.term,
            Role::PreCandidate => pre_vote && term == self.term + 1,
            _ => false,
        };
        if !current || !self.membership.is_voter(from) {
            return;
        }
        // A voter grants at most one candidate per term, so a grant stands: a rejection that
        // arrives after it answers an earlier request (duplicated, or from an earlier election
        // of this candidate, re-sent with the voter's new term) and must not erase it.
        let vote = self.votes.entry(from).or_insert(false);
        *vote |= granted;
        if !self.won() {
            return;
        }
        if self.role == Role::PreCandidate {
            self.campaign(false);
        } else {
            self.become_leader();
        }
    }

    /// Hands leadership to `target` (thesis 3.10): proposals stop, the target is brought up to
    /// date, then told to start an election at once with TimeoutNow.
    pub fn transfer_leadership(&mut self, target: NodeId) -> Result<(), Error> {
        self.require_leader()?;
        // One transfer at a time: a second one would race the first target's election.
        if self.transfer.is_some() {
            return Err(Error::TransferInProgress);
        }
        if target == self.id || !self.membership.is_voter(target) {
            return Err(Error::Invalid("transfer target is not another voter"));
        }
        self.transfer = Some((target, 0));
        let caught_up = self
            .progress
            .get(&target)
            .is_some_and(|p| p.match_index == self.log.last_index());
        if caught_up {
            self.send(target, Body::TimeoutNow);
        } else {
            self.send_append(target, true);
        }
        Ok(())
    }

    /// TimeoutNow from the leader of this term: campaign now, skipping pre-vote, and flag the
    /// requests so that followers' leases do not hold them back.
    pub(crate) fn handle_timeout_now(&mut self, _from: NodeId) {
        if self.promotable() {
            self.campaign(true);
        }
    }
}
