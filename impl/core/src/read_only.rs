//! The leader's queue of ReadIndex reads in progress (thesis 6.4), part of a `Node`'s state. The
//! protocol that fills and drains it is in `read_index`; the queue is kept apart from that module
//! so that `node`, which holds the queue, does not import the module that drives it.

use std::collections::{BTreeSet, VecDeque};

use crate::types::NodeId;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PendingRead {
    pub(crate) request_id: u64,
    pub(crate) index: u64,
    pub(crate) round: u64,
    pub(crate) acks: BTreeSet<NodeId>,
}

/// The leader's reads in progress. Every AppendEntries carries the latest `round`; a reply that
/// echoes round `r` confirms leadership for every read registered in a round up to `r`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ReadOnly {
    pub(crate) round: u64,
    /// Waiting for the leader's first commit in its term.
    pub(crate) waiting: VecDeque<u64>,
    /// Waiting for a quorum to confirm leadership, oldest first.
    pub(crate) pending: VecDeque<PendingRead>,
}
