//! The output batch and its ordering contract.
//!
//! After any input, the driver calls [`Node::ready`](crate::Node::ready) and handles the batch in
//! this order, then calls [`Node::advance`](crate::Node::advance):
//!
//! 1. Persist `snapshot` (if any), then `entries`, then `hard_state` (if any). `entries` may start
//!    below the stored last index: every stored entry at or after the first one given is replaced
//!    (a follower truncating a conflicting suffix, paper 5.3). A snapshot with
//!    `restore_snapshot` set replaces the whole stored log; one without it (a local compaction)
//!    drops only the entries it covers, and may be written later: no message depends on it, as
//!    long as the stored log keeps those entries until the snapshot is durable. Writes must be
//!    durable before step 2.
//! 2. Send `messages`. They may depend on everything persisted in step 1 (a vote reply on
//!    votedFor, an AppendEntries success on the entries; raft-bugs #3), so they are never sent
//!    before it. Dropping any of them is safe: the protocol tolerates loss. One exception
//!    ([`may_send_before_persisting`]): a leader's `AppendEntries` may go out before step 1
//!    (thesis 10.2.1), provided the driver gives the node no input until step 1 is done, since
//!    the leader counts its own new entries towards commitment as soon as it appends them.
//! 3. If `restore_snapshot`, reset the state machine from `snapshot.data`. Then apply
//!    `committed_entries` in order. They are always already persisted (by this batch or an
//!    earlier one).
//! 4. Answer `read_states`: a read registered with id `request_id` may be served once the state
//!    machine has applied `index` (thesis 6.4).
//! 5. Call `advance(&ready)`: the acknowledgement that steps 1-3 are done.
//!
//! This is the synchronous-storage discipline of etcd raft: one batch is fully handled before the
//! next is taken. Inputs may be given between `ready` and `advance`; their effects go into the next
//! batch.

use crate::types::{Body, Entry, HardState, Message, ReadState, Snapshot};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ready {
    /// The new term/vote, if it changed since the last batch.
    pub hard_state: Option<HardState>,
    /// A snapshot to persist (local compaction, or one received from the leader).
    pub snapshot: Option<Snapshot>,
    /// The snapshot came from the leader: the state machine must be restored from it.
    pub restore_snapshot: bool,
    /// Entries to persist, consecutive.
    pub entries: Vec<Entry>,
    /// Messages to send once the above is durable.
    pub messages: Vec<Message>,
    /// Entries to apply to the state machine, in order.
    pub committed_entries: Vec<Entry>,
    /// Linearizable reads that may now be served.
    pub read_states: Vec<ReadState>,
}

impl Ready {
    pub fn is_empty(&self) -> bool {
        self.hard_state.is_none()
            && self.snapshot.is_none()
            && self.entries.is_empty()
            && self.messages.is_empty()
            && self.committed_entries.is_empty()
            && self.read_states.is_empty()
    }
}

/// Whether `m`, taken from a batch, may be sent before the batch is persisted (thesis 10.2.1: a
/// leader writes its log in parallel with replicating it). True for an `AppendEntries` whose
/// `leader_commit` is at most `durable_last`, the last index stored before this batch: its new
/// entries promise nothing about the leader's storage, but a commit index covering them would (a
/// leader that is the only voter commits its own entries at once, and a learner told so would
/// apply an entry the leader can still lose). The driver must step no input into the node until
/// the batch is persisted, so that no acknowledgement is counted before then.
pub fn may_send_before_persisting(m: &Message, durable_last: u64) -> bool {
    matches!(m.body, Body::AppendEntries { leader_commit, .. } if leader_commit <= durable_last)
}
