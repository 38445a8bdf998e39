//! Linearizable reads by ReadIndex (thesis 6.4).
//!
//! The leader records its commit index as the read index, confirms that it is still the leader by
//! a heartbeat round acknowledged by a quorum, and only then releases the read; the application
//! serves it once it has applied up to the read index. The commit index is only trustworthy once
//! the leader has committed an entry of its own term (raft-bugs #16), so reads that arrive before
//! that wait for it.

use std::collections::BTreeSet;

use crate::node::{Error, Node};
use crate::read_only::PendingRead;
use crate::types::{NodeId, ReadState};

impl Node {
    /// Requests a linearizable read; its `ReadState` appears in a later Ready. Only the leader
    /// serves reads (a follower's application forwards the request). A read still pending when
    /// the leader loses leadership is dropped, and the client retries.
    pub fn read_index(&mut self, request_id: u64) -> Result<(), Error> {
        self.require_leader()?;
        if self.log.term(self.log.committed) == Some(self.term) {
            self.start_read(request_id);
        } else {
            self.reads.waiting.push_back(request_id);
        }
        Ok(())
    }

    fn start_read(&mut self, request_id: u64) {
        self.reads.round += 1;
        let mut acks = BTreeSet::new();
        acks.insert(self.id);
        self.reads.pending.push_back(PendingRead {
            request_id,
            index: self.log.committed,
            round: self.reads.round,
            acks,
        });
        self.release_confirmed_reads();
        if !self.reads.pending.is_empty() {
            self.heartbeat();
        }
    }

    /// The leader's first commit in its term: reads held back until now can start.
    pub(crate) fn release_waiting_reads(&mut self) {
        let waiting: Vec<u64> = self.reads.waiting.drain(..).collect();
        for request_id in waiting {
            self.start_read(request_id);
        }
    }

    /// A reply from `from` that echoes read round `round`.
    pub(crate) fn ack_read(&mut self, from: NodeId, round: u64) {
        for read in self.reads.pending.iter_mut() {
            if read.round <= round {
                read.acks.insert(from);
            }
        }
        self.release_confirmed_reads();
    }

    /// Releases, in order, every read that a quorum has confirmed. A later read's acks are a
    /// subset of an earlier one's, so the confirmed reads are a prefix of the queue.
    fn release_confirmed_reads(&mut self) {
        while let Some(read) = self.reads.pending.front() {
            if !self.membership.has_quorum(|v| read.acks.contains(&v)) {
                break;
            }
            self.read_states.push(ReadState {
                request_id: read.request_id,
                index: read.index,
            });
            self.reads.pending.pop_front();
        }
    }
}
