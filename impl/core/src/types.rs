//! The vocabulary every module of the core shares: server ids, cluster configurations, log
//! entries, snapshots, the messages servers exchange (Raft paper, Figure 2; thesis ch. 3-6), the
//! persistent hard state and a released read.
//!
//! This module imports nothing else of the crate, so every other module can depend on it without
//! a cycle. Every field is public so that a driver (the runtime's transport, the conformance
//! checker) can map a value to its own representation without going through accessors. With the
//! `serde` feature the entry, snapshot and message types are `Serialize` and `Deserialize` (byte
//! payloads as byte strings).

use std::collections::BTreeSet;

use bytes::Bytes;

/// A server's identity within one cluster.
pub type NodeId = u64;

/// A cluster configuration: voters, the outgoing voters of a joint configuration, and learners
/// (thesis ch. 4).
///
/// A change of voters goes through a joint configuration C(old,new) in which every decision needs
/// a majority of both `outgoing` (old) and `voters` (new); once C(old,new) commits, the leader
/// appends C(new) (thesis 4.3). Learners receive the log but never vote or count toward a quorum
/// (thesis 4.2.1), so a new server can catch up before it is promoted. What counts as a quorum of
/// it is in `quorum`; how a leader changes it, in `membership`.
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
}

/// What an entry carries.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Payload {
    /// The empty entry a new leader appends in its term (paper 5.4.2, 8): once it commits, every
    /// earlier entry is committed too, and ReadIndex may serve reads.
    Noop,
    /// An opaque client command (the conformance checker proposes value `v` as `vec![v]`).
    Normal(#[cfg_attr(feature = "serde", serde(with = "serde_bytes"))] Vec<u8>),
    /// A cluster configuration, joint or simple (thesis 4.3). It takes effect as soon as it is
    /// appended to a log, not when it commits.
    Config(Membership),
}

/// One log entry.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Entry {
    pub index: u64,
    pub term: u64,
    pub payload: Payload,
}

impl Entry {
    /// Approximate wire size, used for byte-based batching and flow control.
    pub fn size(&self) -> u64 {
        let body = match &self.payload {
            Payload::Noop => 0,
            Payload::Normal(data) => data.len(),
            Payload::Config(m) => 8 * (m.voters.len() + m.outgoing.len() + m.learners.len()),
        };
        16 + body as u64
    }
}

/// A snapshot of the state machine up to and including `index` (paper section 7).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Snapshot {
    /// Last included index; 0 for the empty snapshot every log starts from.
    pub index: u64,
    /// Term of the entry at `index`.
    pub term: u64,
    /// The configuration in force at `index` (thesis 5.1).
    pub membership: Membership,
    /// The application's serialized state; shared, not copied, when the snapshot is handed to
    /// the driver or sent to a follower.
    pub data: Bytes,
}

/// The fast-backtracking hint a follower attaches to a rejected AppendEntries (end of paper 5.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ConflictHint {
    /// The term of the follower's entry at `prev_log_index`, if it has one.
    pub conflict_term: Option<u64>,
    /// The first index the follower stores for `conflict_term`, or its last index + 1 when its log
    /// is too short.
    pub conflict_index: u64,
}

/// The message kinds and their fields.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Body {
    /// RequestVote (paper 5.2), or a pre-vote (thesis 9.6) when `pre_vote` is set; a pre-vote
    /// carries the term the candidate would campaign in and changes no state at the receiver.
    RequestVote {
        last_log_index: u64,
        last_log_term: u64,
        pre_vote: bool,
        /// Set when the election was started by a leadership transfer: the receiver then ignores
        /// its leader lease (thesis 3.10).
        transfer: bool,
    },
    RequestVoteResponse {
        granted: bool,
        pre_vote: bool,
    },
    /// AppendEntries (paper 5.3); with no entries it doubles as the heartbeat.
    AppendEntries {
        prev_log_index: u64,
        prev_log_term: u64,
        entries: Vec<Entry>,
        leader_commit: u64,
        /// The leader's ReadIndex round; echoed in the response (thesis 6.4).
        read_ctx: u64,
    },
    /// `index` is `prev_log_index + entries.len()` on success and the rejected `prev_log_index`
    /// on failure. After an InstallSnapshot, `index` is the follower's commit index.
    AppendEntriesResponse {
        success: bool,
        index: u64,
        hint: Option<ConflictHint>,
        read_ctx: u64,
    },
    /// InstallSnapshot (paper section 7), one message: chunking it (Figure 13's `offset` and
    /// `done`) is left to the transport.
    InstallSnapshot {
        snapshot: Snapshot,
    },
    /// Leadership transfer: start an election now (thesis 3.10).
    TimeoutNow,
}

/// A message from one server to another.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Message {
    pub from: NodeId,
    pub to: NodeId,
    pub term: u64,
    pub body: Body,
}

impl Message {
    /// A short name of the kind, for logs and scripts.
    pub fn kind(&self) -> &'static str {
        match &self.body {
            Body::RequestVote { pre_vote: true, .. } => "PreVote",
            Body::RequestVote { .. } => "RequestVote",
            Body::RequestVoteResponse { pre_vote: true, .. } => "PreVoteResponse",
            Body::RequestVoteResponse { .. } => "RequestVoteResponse",
            Body::AppendEntries { .. } => "AppendEntries",
            Body::AppendEntriesResponse { .. } => "AppendEntriesResponse",
            Body::InstallSnapshot { .. } => "InstallSnapshot",
            Body::TimeoutNow => "TimeoutNow",
        }
    }
}

/// The persistent state of Figure 2 other than the log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct HardState {
    pub term: u64,
    pub voted_for: Option<NodeId>,
}

/// A read that may be served once the state machine has applied `index`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReadState {
    pub request_id: u64,
    pub index: u64,
}
