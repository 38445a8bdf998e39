//! Entries and the messages servers exchange (Raft paper, Figure 2; thesis ch. 3-6).
//!
//! Every field is public so that a driver (the runtime's transport, the conformance checker) can
//! map a message to its own representation without going through accessors. With the `serde`
//! feature every type here is `Serialize` and `Deserialize` (byte payloads as byte strings).

use bytes::Bytes;

use crate::membership::Membership;

/// A server's identity within one cluster.
pub type NodeId = u64;

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
