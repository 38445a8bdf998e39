//! Node configuration: identity, initial membership, timing, and the switch of every extension
//! beyond the basic protocol of `specs/contract.md`.

use crate::types::{Membership, NodeId};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub id: NodeId,
    /// The configuration used when storage holds none (a fresh cluster).
    pub initial: Membership,
    /// Election timeouts are drawn uniformly from `election_ticks_min..election_ticks_max`
    /// (paper 5.2); the minimum is also the leader-lease and check-quorum period.
    pub election_ticks_min: u64,
    pub election_ticks_max: u64,
    /// A leader sends a heartbeat round every this many ticks.
    pub heartbeat_ticks: u64,
    /// Seed of the only randomness the core uses: its election timeouts.
    pub seed: u64,
    /// Pre-vote phase before an election (thesis 9.6).
    pub pre_vote: bool,
    /// A leader steps down when it has not heard from a quorum within an election timeout, and a
    /// follower that heard from a leader that recently ignores vote requests (thesis 6.2, 4.2.3).
    pub check_quorum: bool,
    /// Rejections carry a conflict term/index so the leader skips a whole term (paper 5.3).
    pub fast_backtrack: bool,
    /// Optimistic next_index and several AppendEntries in flight per follower, bounded by
    /// `max_inflight_msgs` and `max_inflight_bytes`.
    pub pipelining: bool,
    /// Send AppendEntries as soon as there is something to send (on proposal, election, reply,
    /// commit) instead of only on heartbeats.
    pub eager_replication: bool,
    /// Append a no-op entry on election (paper 8).
    pub noop_on_election: bool,
    /// Reconfigure through C(old,new) automatically: once it commits, the leader appends C(new).
    pub auto_leave_joint: bool,
    pub max_entries_per_append: usize,
    pub max_bytes_per_append: u64,
    pub max_inflight_msgs: usize,
    pub max_inflight_bytes: u64,
}

impl Config {
    /// The full protocol with every extension on, for a cluster whose voters are `voters`.
    pub fn new(id: NodeId, voters: impl IntoIterator<Item = NodeId>) -> Config {
        Config {
            id,
            initial: Membership::new(voters),
            election_ticks_min: 10,
            election_ticks_max: 20,
            heartbeat_ticks: 2,
            seed: id,
            pre_vote: true,
            check_quorum: true,
            fast_backtrack: true,
            pipelining: true,
            eager_replication: true,
            noop_on_election: true,
            auto_leave_joint: true,
            max_entries_per_append: 64,
            max_bytes_per_append: 1 << 20,
            max_inflight_msgs: 256,
            max_inflight_bytes: 16 << 20,
        }
    }

    /// The basic protocol of `specs/contract.md` for server `id` of `0..n`: pre-vote,
    /// check-quorum, fast backtracking, pipelining and eager replication off, one entry per
    /// AppendEntries, a no-op on election.
    pub fn basic(id: NodeId, n: u64) -> Config {
        Config {
            pre_vote: false,
            check_quorum: false,
            fast_backtrack: false,
            pipelining: false,
            eager_replication: false,
            max_entries_per_append: 1,
            ..Config::new(id, 0..n)
        }
    }
}
