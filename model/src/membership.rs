//! Configuration changes (Ongaro's thesis, chapter 4): joint consensus and learners.
//!
//! - A configuration is a log entry, and a server uses the latest one in its log, committed or
//!   not (4.1). Before any, the initial configuration: with membership changes on, every id but
//!   the last is a voter and the last starts outside, so that it can join.
//! - A change of voters goes through the joint configuration C(old,new), in which elections and
//!   commitment need separate majorities of C(old) and of C(new) (4.3); once C(old,new) is
//!   committed the leader appends C(new) itself (the impl's `auto_leave_joint`). A change of
//!   learners alone needs no joint step.
//! - Learners receive the log but never vote and never count toward a quorum (4.2.1); only
//!   voters time out and campaign.
//! - A leader changes the configuration only when its previous change is committed (one at a
//!   time, 4.1) and it has committed an entry of its own term (the fix for the single-server
//!   change bug Ongaro reported in 2015, which the impl applies to every change).
//! - A leader that is not a voter of its committed configuration steps down (4.2.2); until
//!   then it replicates but does not count itself.

use crate::actions::{become_follower, Change};
use crate::bugs::Bug;
use crate::message::{Entry, Index, Membership, Payload, ServerId};
use crate::state::{Flow, Server, ServerSet, State};
use crate::RaftModel;

/// A strict majority of `of` is in `set`.
fn majority(of: ServerSet, set: ServerSet) -> bool {
    of.intersection(set).len() * 2 > of.len()
}

impl RaftModel {
    /// The configuration every server starts from.
    pub fn initial_membership(&self) -> Membership {
        let n = self.bounds.servers;
        let voters = if self.params.membership && n > 1 {
            n - 1
        } else {
            n
        };
        let mut set = ServerSet::default();
        for id in 0..voters {
            set.insert(id);
        }
        Membership {
            voters: set,
            ..Membership::default()
        }
    }

    /// The configuration server `s` uses, with the index of its entry (0: the initial one):
    /// the latest in its log (thesis 4.1), or under the bug the latest committed one.
    pub fn config(&self, s: &Server) -> (Index, Membership) {
        if !self.params.membership {
            return (0, self.initial_membership());
        }
        let upto = if self.has_bug(Bug::ConfigOnlyWhenCommitted) {
            s.commit_index as usize
        } else {
            s.log.len()
        };
        s.log[..upto.min(s.log.len())]
            .iter()
            .enumerate()
            .rev()
            .find_map(|(k, e)| match e.payload {
                Payload::Config(m) => Some((k as Index + 1, m)),
                _ => None,
            })
            .unwrap_or((0, self.initial_membership()))
    }

    /// Whether server `id` (state `s`) may time out and campaign: a voter of its configuration.
    pub(crate) fn may_campaign(&self, s: &Server, id: ServerId) -> bool {
        !self.params.membership || self.config(s).1.is_voter(id)
    }

    /// Whether `set` is a quorum of `cfg`: with membership changes a majority of the voters
    /// and, while joint, of the old voters too (thesis 4.3); otherwise `quorum()` servers.
    /// `votes`: an election's count, where under the bug learners count as voters.
    pub(crate) fn is_quorum(&self, cfg: &Membership, set: ServerSet, votes: bool) -> bool {
        if !self.params.membership {
            return set.len() >= self.quorum();
        }
        if self.has_bug(Bug::JointQuorumAsOneMajority) {
            return majority(cfg.voters.union(cfg.outgoing), set);
        }
        let voters = if votes && self.has_bug(Bug::LearnerVotesCounted) {
            cfg.voters.union(cfg.learners)
        } else {
            cfg.voters
        };
        majority(voters, set) && (!cfg.is_joint() || majority(cfg.outgoing, set))
    }

    /// The quorum rule without any bug: majorities of the voters and, while joint, of the old
    /// voters; learners and outsiders do not count.
    pub(crate) fn correct_quorum(&self, cfg: &Membership, set: ServerSet) -> bool {
        majority(cfg.voters, set) && (!cfg.is_joint() || majority(cfg.outgoing, set))
    }

    /// The servers server `me` sends to: the members of its configuration (only the voters
    /// when `voters_only`, where under the bug learners are asked too), every server without
    /// membership changes.
    pub(crate) fn targets(&self, s: &Server, me: ServerId, voters_only: bool) -> ServerSet {
        let cfg = self.config(s).1;
        let mut asked = if voters_only && !self.has_bug(Bug::LearnerVotesCounted) {
            cfg.voters.union(cfg.outgoing)
        } else {
            cfg.voters.union(cfg.outgoing).union(cfg.learners)
        };
        asked.remove(me);
        asked
    }

    /// The changes leader `s` may propose now: none while its last change is
    /// uncommitted or before it committed an entry of its term; otherwise adding any outsider
    /// as a learner, promoting any learner, and removing any member but the last voter.
    pub(crate) fn changes(&self, s: &Server) -> Vec<Change> {
        let (index, cfg) = self.config(s);
        let pending = index > s.commit_index && !self.has_bug(Bug::SecondChangeWhileUncommitted);
        let committed_in_term = s.term_at(s.commit_index) == Some(s.current_term);
        if pending || !committed_in_term || cfg.is_joint() || s.transfer.is_some() {
            return Vec::new();
        }
        let mut out = Vec::new();
        for id in 0..self.bounds.servers {
            if cfg.learners.contains(id) {
                out.push(Change::Promote(id));
                out.push(Change::Remove(id));
            } else if cfg.voters.contains(id) {
                if cfg.voters.len() > 1 {
                    out.push(Change::Remove(id));
                }
            } else {
                out.push(Change::AddLearner(id));
            }
        }
        out
    }

    /// The configuration `change` leads to from `cfg`: simple when only learners change, else
    /// joint with `cfg`'s voters as the old half (thesis 4.3).
    fn target(&self, cfg: &Membership, change: Change) -> Membership {
        let (mut voters, mut learners) = (cfg.voters, cfg.learners);
        match change {
            Change::AddLearner(id) => learners.insert(id),
            Change::Promote(id) => {
                learners.remove(id);
                voters.insert(id);
            }
            Change::Remove(id) => {
                learners.remove(id);
                voters.remove(id);
            }
        }
        let outgoing = if voters == cfg.voters {
            ServerSet::default()
        } else {
            cfg.voters
        };
        Membership {
            voters,
            outgoing,
            learners,
        }
    }

    /// `ProposeMembership(i, change)`: the leader appends the new configuration, which it uses
    /// at once (thesis 4.1), as it would a client command.
    pub(crate) fn propose_membership(&self, state: &mut State, i: ServerId, change: Change) {
        state.faults.config_changes += 1;
        if let Change::Promote(id) = change {
            state.history.promoted.insert(id);
        }
        let s = &state.servers[i as usize];
        let next = self.target(&self.config(s).1, change);
        self.append_config(state, i, next, true);
    }

    /// Appends configuration `cfg` at leader `i`; `send` as for a proposal (eager replication
    /// sends it at once), or not when the step's own commit notice carries it (leaving a joint
    /// configuration happens as the commit index moves, and the impl batches what is appended
    /// with what the step sends).
    fn append_config(&self, state: &mut State, i: ServerId, cfg: Membership, send: bool) {
        let s = &mut state.servers[i as usize];
        s.log.push(Entry {
            term: s.current_term,
            payload: Payload::Config(cfg),
        });
        // The leader starts tracking a new member from the end of its log and stops tracking a
        // server that left (Figure 2: nextIndex "initialized to leader last log index + 1").
        for p in 0..self.bounds.servers {
            let slot = p as usize;
            if p == i {
                continue;
            }
            if !cfg.contains(p) {
                s.next_index[slot] = 0;
                s.match_index[slot] = 0;
                if let Some(f) = s.flow.get_mut(slot) {
                    *f = Flow::default();
                }
                s.heard.remove(p);
            } else if s.next_index[slot] == 0 {
                s.next_index[slot] = s.last_index() + 1;
            }
        }
        if self.params.check_quorum {
            let ghost = state.history.heard_by(i);
            *ghost = ghost.intersection(cfg.voters.union(cfg.outgoing).union(cfg.learners));
        }
        self.leader_appended(state, i, send);
    }

    /// After leader `i`'s commit index moved (thesis 4.3, 4.2.2): once C(old,new) is committed
    /// it appends C(new); once a configuration without it as a voter is committed it steps
    /// down.
    pub(crate) fn leader_committed(&self, state: &mut State, i: ServerId) {
        if !self.params.membership {
            return;
        }
        let s = &state.servers[i as usize];
        let (index, cfg) = self.config(s);
        if !s.is_leader() || index > s.commit_index {
            return;
        }
        if cfg.is_joint() {
            if s.transfer.is_none() {
                let leave = Membership {
                    outgoing: ServerSet::default(),
                    ..cfg
                };
                self.append_config(state, i, leave, false);
            }
        } else if !cfg.is_voter(i) && !self.has_bug(Bug::RemovedLeaderKeepsLeading) {
            become_follower(&mut state.servers[i as usize]);
            state.history.removed_leader_stepped_down = true;
        }
    }
}
