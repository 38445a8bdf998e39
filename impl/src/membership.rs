//! Cluster configurations: voters, the outgoing voters of a joint configuration, and learners
//! (thesis ch. 4).
//!
//! A change of voters goes through a joint configuration C(old,new) in which every decision needs
//! a majority of both `outgoing` (old) and `voters` (new); once C(old,new) commits, the leader
//! appends C(new) (thesis 4.3). Learners receive the log but never vote or count toward a quorum
//! (thesis 4.2.1), so a new server can catch up before it is promoted.

use std::collections::BTreeSet;

use crate::message::NodeId;
use crate::quorum;

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Membership {
    /// The voters of the (incoming) configuration.
    pub voters: BTreeSet<NodeId>,
    /// The old voters while the configuration is joint; empty otherwise.
    pub outgoing: BTreeSet<NodeId>,
    /// Non-voting members.
    pub learners: BTreeSet<NodeId>,
}

impl Membership {
    pub fn new(voters: impl IntoIterator<Item = NodeId>) -> Membership {
        Membership {
            voters: voters.into_iter().collect(),
            ..Membership::default()
        }
    }

    pub fn is_joint(&self) -> bool {
        !self.outgoing.is_empty()
    }

    /// Whether `id` votes in this configuration (in either half of a joint one).
    pub fn is_voter(&self, id: NodeId) -> bool {
        self.voters.contains(&id) || self.outgoing.contains(&id)
    }

    /// Whether `id` receives the log at all.
    pub fn contains(&self, id: NodeId) -> bool {
        self.is_voter(id) || self.learners.contains(&id)
    }

    /// Every member: voters of both halves and learners.
    pub fn members(&self) -> BTreeSet<NodeId> {
        let mut all = self.voters.clone();
        all.extend(self.outgoing.iter().copied());
        all.extend(self.learners.iter().copied());
        all
    }

    /// Every voter of either half.
    pub fn all_voters(&self) -> BTreeSet<NodeId> {
        let mut all = self.voters.clone();
        all.extend(self.outgoing.iter().copied());
        all
    }

    /// Whether the servers for which `yes` holds form a quorum: a majority of `voters` and, while
    /// joint, also a majority of `outgoing` (thesis 4.3).
    pub fn has_quorum(&self, yes: impl Fn(NodeId) -> bool) -> bool {
        quorum::is_majority(&self.voters, &yes)
            && (self.outgoing.is_empty() || quorum::is_majority(&self.outgoing, &yes))
    }

    /// The highest index that a quorum has matched, given each voter's match index.
    pub fn committed_index(&self, matched: impl Fn(NodeId) -> u64) -> u64 {
        let incoming = quorum::majority_index(&self.voters, &matched);
        if self.outgoing.is_empty() {
            incoming
        } else {
            incoming.min(quorum::majority_index(&self.outgoing, &matched))
        }
    }
}

use crate::message::Payload;
use crate::node::{Error, Node, Role};

impl Node {
    /// Proposes a new configuration (thesis 4.3). When the voters change, the leader appends the
    /// joint configuration C(old,new) now and, once it commits, C(new) (with `auto_leave_joint`;
    /// otherwise call `leave_joint`). A change of learners alone needs no joint step. Learners
    /// should be caught up (see `progress`) before they are promoted to voters (thesis 4.2.1).
    pub fn propose_membership(
        &mut self,
        voters: impl IntoIterator<Item = NodeId>,
        learners: impl IntoIterator<Item = NodeId>,
    ) -> Result<u64, Error> {
        let voters: BTreeSet<NodeId> = voters.into_iter().collect();
        let learners: BTreeSet<NodeId> = learners.into_iter().collect();
        if voters.is_empty() || voters.iter().any(|v| learners.contains(v)) {
            return Err(Error::Invalid("voters empty or overlapping learners"));
        }
        self.check_can_reconfigure()?;
        let next = if voters == self.membership.voters {
            Membership {
                voters,
                outgoing: BTreeSet::new(),
                learners,
            }
        } else {
            Membership {
                outgoing: self.membership.voters.clone(),
                voters,
                learners,
            }
        };
        self.propose_payload(Payload::Config(next))
    }

    /// Leaves a committed joint configuration by appending C(new).
    pub fn leave_joint(&mut self) -> Result<u64, Error> {
        if !self.membership.is_joint() {
            return Err(Error::Invalid("configuration is not joint"));
        }
        self.check_can_reconfigure()?;
        let next = Membership {
            outgoing: BTreeSet::new(),
            ..self.membership.clone()
        };
        self.propose_payload(Payload::Config(next))
    }

    fn check_can_reconfigure(&self) -> Result<(), Error> {
        self.require_leader()?;
        // One change at a time: the last one must have committed (thesis 4.1).
        if self.membership_index > self.log.committed {
            return Err(Error::ConfigChangeInProgress);
        }
        // A leader must commit an entry of its term before changing the configuration
        // (raft-bugs #13).
        if self.log.term(self.log.committed) != Some(self.term) {
            return Err(Error::NotCommittedInTerm);
        }
        Ok(())
    }

    /// Runs when the leader's commit index moves: once C(old,new) commits, C(new) follows; once a
    /// configuration that excludes the leader commits, it steps down (thesis 4.2.2).
    pub(crate) fn on_config_committed(&mut self) {
        if self.role != Role::Leader || self.membership_index > self.log.committed {
            return;
        }
        if self.membership.is_joint() {
            if self.cfg.auto_leave_joint && self.transfer.is_none() {
                let _ = self.leave_joint();
            }
        } else if !self.membership.is_voter(self.id) {
            self.become_follower(self.term, None);
        }
    }
}
