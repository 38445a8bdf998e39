//! Configuration changes (thesis ch. 4): joint consensus C(old,new) then C(new), learners, and a
//! leader stepping down once a configuration without it commits. The configuration itself is
//! `types::Membership`; what counts as its quorum is in `quorum`.

use std::collections::BTreeSet;

use crate::node::{Error, Node, Role};
use crate::types::{Membership, NodeId, Payload};

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
