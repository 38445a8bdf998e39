//! Serde mirrors of the core's message types. The core stays free of serialization concerns;
//! these types exist only to put a `Message`, an entry's configuration or a snapshot's
//! membership on the wire or on disk, and convert losslessly in both directions.

use bincode::Options;
use raft_impl::{Body, ConflictHint, Entry, Membership, Message, Payload, Snapshot};
use serde::{Deserialize, Serialize};

/// Largest serialized object accepted from the network or disk. Bounds what a corrupt length
/// prefix inside the encoding can make the decoder allocate.
pub const MAX_DECODE_BYTES: u64 = 1 << 30;

/// The one encoding used for everything this crate serializes: bincode with variable-length
/// integers, a size limit, and trailing bytes rejected.
pub fn codec() -> impl Options {
    bincode::DefaultOptions::new().with_limit(MAX_DECODE_BYTES)
}

pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Serializing plain in-memory data cannot fail short of exceeding the limit.
    codec().serialize(value).unwrap_or_default()
}

pub fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    codec().deserialize(bytes).map_err(|e| e.to_string())
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct WireMembership {
    pub voters: Vec<u64>,
    pub outgoing: Vec<u64>,
    pub learners: Vec<u64>,
}

impl From<&Membership> for WireMembership {
    fn from(m: &Membership) -> Self {
        WireMembership {
            voters: m.voters.iter().copied().collect(),
            outgoing: m.outgoing.iter().copied().collect(),
            learners: m.learners.iter().copied().collect(),
        }
    }
}

impl From<WireMembership> for Membership {
    fn from(w: WireMembership) -> Self {
        Membership {
            voters: w.voters.into_iter().collect(),
            outgoing: w.outgoing.into_iter().collect(),
            learners: w.learners.into_iter().collect(),
        }
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
enum WirePayload {
    Noop,
    Normal(Vec<u8>),
    Config(WireMembership),
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
struct WireEntry {
    index: u64,
    term: u64,
    payload: WirePayload,
}

impl From<&Entry> for WireEntry {
    fn from(e: &Entry) -> Self {
        let payload = match &e.payload {
            Payload::Noop => WirePayload::Noop,
            Payload::Normal(d) => WirePayload::Normal(d.clone()),
            Payload::Config(m) => WirePayload::Config(m.into()),
        };
        WireEntry {
            index: e.index,
            term: e.term,
            payload,
        }
    }
}

impl From<WireEntry> for Entry {
    fn from(w: WireEntry) -> Self {
        let payload = match w.payload {
            WirePayload::Noop => Payload::Noop,
            WirePayload::Normal(d) => Payload::Normal(d),
            WirePayload::Config(m) => Payload::Config(m.into()),
        };
        Entry {
            index: w.index,
            term: w.term,
            payload,
        }
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
struct WireSnapshot {
    index: u64,
    term: u64,
    membership: WireMembership,
    data: Vec<u8>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
struct WireHint {
    conflict_term: Option<u64>,
    conflict_index: u64,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
enum WireBody {
    RequestVote {
        last_log_index: u64,
        last_log_term: u64,
        pre_vote: bool,
        transfer: bool,
    },
    RequestVoteResponse {
        granted: bool,
        pre_vote: bool,
    },
    AppendEntries {
        prev_log_index: u64,
        prev_log_term: u64,
        entries: Vec<WireEntry>,
        leader_commit: u64,
        read_ctx: u64,
    },
    AppendEntriesResponse {
        success: bool,
        index: u64,
        hint: Option<WireHint>,
        read_ctx: u64,
    },
    InstallSnapshot {
        snapshot: WireSnapshot,
    },
    TimeoutNow,
}

/// A `Message` as it is serialized into a frame.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct WireMessage {
    from: u64,
    to: u64,
    term: u64,
    body: WireBody,
}

impl WireMessage {
    pub fn from_message(m: &Message) -> WireMessage {
        let body = match &m.body {
            Body::RequestVote {
                last_log_index,
                last_log_term,
                pre_vote,
                transfer,
            } => WireBody::RequestVote {
                last_log_index: *last_log_index,
                last_log_term: *last_log_term,
                pre_vote: *pre_vote,
                transfer: *transfer,
            },
            Body::RequestVoteResponse { granted, pre_vote } => WireBody::RequestVoteResponse {
                granted: *granted,
                pre_vote: *pre_vote,
            },
            Body::AppendEntries {
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit,
                read_ctx,
            } => WireBody::AppendEntries {
                prev_log_index: *prev_log_index,
                prev_log_term: *prev_log_term,
                entries: entries.iter().map(WireEntry::from).collect(),
                leader_commit: *leader_commit,
                read_ctx: *read_ctx,
            },
            Body::AppendEntriesResponse {
                success,
                index,
                hint,
                read_ctx,
            } => WireBody::AppendEntriesResponse {
                success: *success,
                index: *index,
                hint: hint.map(|h| WireHint {
                    conflict_term: h.conflict_term,
                    conflict_index: h.conflict_index,
                }),
                read_ctx: *read_ctx,
            },
            Body::InstallSnapshot { snapshot } => WireBody::InstallSnapshot {
                snapshot: WireSnapshot {
                    index: snapshot.index,
                    term: snapshot.term,
                    membership: (&snapshot.membership).into(),
                    data: snapshot.data.clone(),
                },
            },
            Body::TimeoutNow => WireBody::TimeoutNow,
        };
        WireMessage {
            from: m.from,
            to: m.to,
            term: m.term,
            body,
        }
    }

    pub fn from_id(&self) -> u64 {
        self.from
    }

    pub fn into_message(self) -> Message {
        let body = match self.body {
            WireBody::RequestVote {
                last_log_index,
                last_log_term,
                pre_vote,
                transfer,
            } => Body::RequestVote {
                last_log_index,
                last_log_term,
                pre_vote,
                transfer,
            },
            WireBody::RequestVoteResponse { granted, pre_vote } => {
                Body::RequestVoteResponse { granted, pre_vote }
            }
            WireBody::AppendEntries {
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit,
                read_ctx,
            } => Body::AppendEntries {
                prev_log_index,
                prev_log_term,
                entries: entries.into_iter().map(Entry::from).collect(),
                leader_commit,
                read_ctx,
            },
            WireBody::AppendEntriesResponse {
                success,
                index,
                hint,
                read_ctx,
            } => Body::AppendEntriesResponse {
                success,
                index,
                hint: hint.map(|h| ConflictHint {
                    conflict_term: h.conflict_term,
                    conflict_index: h.conflict_index,
                }),
                read_ctx,
            },
            WireBody::InstallSnapshot { snapshot } => Body::InstallSnapshot {
                snapshot: Snapshot {
                    index: snapshot.index,
                    term: snapshot.term,
                    membership: snapshot.membership.into(),
                    data: snapshot.data,
                },
            },
            WireBody::TimeoutNow => Body::TimeoutNow,
        };
        Message {
            from: self.from,
            to: self.to,
            term: self.term,
            body,
        }
    }
}

/// A membership as bytes (for configuration entries in the WAL and snapshot file headers).
pub fn encode_membership(m: &Membership) -> Vec<u8> {
    encode(&WireMembership::from(m))
}

pub fn decode_membership(bytes: &[u8]) -> Result<Membership, String> {
    decode::<WireMembership>(bytes)
        .map(Membership::from)
        .map_err(|e| format!("undecodable membership: {e}"))
}
