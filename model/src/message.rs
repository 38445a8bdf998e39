//! Log entries, the four messages of Figure 2 (RequestVote and AppendEntries, each with its
//! reply) and the network that carries them (Raft paper, sections 5.1-5.3 and Figure 2), with
//! the extensions the production protocol adds to them: pre-votes (thesis 9.6), the
//! leadership-transfer flag and TimeoutNow (thesis 3.10), and the conflict hint of fast
//! backtracking (end of paper section 5.3), and InstallSnapshot (thesis 5). In the basic protocol the extra fields keep their
//! default values and are left out of the JSON form.
//!
//! Section 5.1: servers "communicate using remote procedure calls"; RPCs may be lost, delayed,
//! reordered and retried. The model therefore treats every request and every reply as one
//! message in an unordered multiset: any copy may be delivered, dropped or duplicated.

use crate::inline::{Filler, InlineVec};
use crate::state::ServerSet;
use serde::{Deserialize, Serialize};

/// A server id, `0..servers`.
pub type ServerId = u8;
/// A term; terms start at 0 (section 5.1: "terms act as a logical clock").
pub type Term = u8;
/// A log index; the first entry has index 1 and index 0 is the empty prefix (Figure 2).
pub type Index = u8;
/// A client value, `0..values`.
pub type Value = u8;

/// What an entry carries: a client command or the no-op a leader appends on election
/// (section 8: "each leader commit a blank no-op entry into the log at the start of its term").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Payload {
    Noop,
    Value(Value),
    /// A configuration (thesis 4.1): in force at every server that holds it in its log.
    Config(Membership),
}

/// A configuration (thesis 4.1, 4.3): the voters, the old voters while the configuration is
/// joint (C(old,new) has `outgoing` = C(old)), and learners, which receive the log but do not
/// vote (thesis 4.2.1).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct Membership {
    pub voters: ServerSet,
    #[serde(default, skip_serializing_if = "crate::state::no_servers")]
    pub outgoing: ServerSet,
    #[serde(default, skip_serializing_if = "crate::state::no_servers")]
    pub learners: ServerSet,
}

impl Membership {
    pub fn is_joint(&self) -> bool {
        !self.outgoing.is_empty()
    }

    /// Votes in this configuration (in either half of a joint one).
    pub fn is_voter(&self, id: ServerId) -> bool {
        self.voters.contains(id) || self.outgoing.contains(id)
    }

    /// Receives the log.
    pub fn contains(&self, id: ServerId) -> bool {
        self.is_voter(id) || self.learners.contains(id)
    }
}

/// A log entry: "each entry contains command for state machine, and term when entry was received
/// by leader" (Figure 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Entry {
    pub term: Term,
    pub payload: Payload,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The hint a follower attaches to a rejected AppendEntries under fast backtracking (end of
/// paper section 5.3): "the term of the conflicting entry and the first index it stores for that
/// term"; with no entry at prevLogIndex, no term and the index just past its log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Hint {
    pub conflict_term: Option<Term>,
    pub conflict_index: Index,
}

/// The kind-specific fields of a message (Figure 2, "RequestVote RPC" and "AppendEntries RPC").
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Body {
    /// With `pre_vote`, a pre-vote (thesis 9.6): it carries the term the sender would campaign
    /// in and changes nothing at the receiver. With `transfer`, the election was started by a
    /// leadership transfer and passes the receiver's leader lease (thesis 3.10, 4.2.3).
    RequestVote {
        last_log_index: Index,
        last_log_term: Term,
        #[serde(default, skip_serializing_if = "is_false")]
        pre_vote: bool,
        #[serde(default, skip_serializing_if = "is_false")]
        transfer: bool,
    },
    RequestVoteResponse {
        granted: bool,
        #[serde(default, skip_serializing_if = "is_false")]
        pre_vote: bool,
    },
    AppendEntries {
        prev_log_index: Index,
        prev_log_term: Term,
        entries: Vec<Entry>,
        leader_commit: Index,
    },
    /// `index` is `prev_log_index + entries.len()` on success and `prev_log_index` on failure
    /// (specs/contract.md), so the leader can tell which request the reply answers.
    AppendEntriesResponse {
        success: bool,
        index: Index,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hint: Option<Hint>,
    },
    /// Leadership transfer: the leader tells its caught-up target to start an election at once
    /// (thesis 3.10).
    TimeoutNow,
    /// InstallSnapshot (thesis 5.1, Figure 5.3; paper section 7): the leader's snapshot, sent
    /// when the entries a follower needs are compacted away. `entries` stands for the
    /// snapshot's state-machine data: the committed prefix `1..=last_index` it was taken from.
    /// Sent whole (the model has no chunks; the runtime's chunking is below the protocol).
    InstallSnapshot {
        last_index: Index,
        last_term: Term,
        entries: Vec<Entry>,
    },
}

/// One message in flight. Every message carries the sender's term (Figure 2, "All Servers").
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Message {
    pub term: Term,
    pub src: ServerId,
    pub dst: ServerId,
    pub body: Body,
}

impl Filler for Message {
    const FILLER: Self = Message {
        term: 0,
        src: 0,
        dst: 0,
        body: Body::TimeoutNow,
    };
}

/// The network: an unordered multiset of messages, kept as a sorted vector with repeats so that
/// two states holding the same messages are equal and hash alike. Up to two messages are kept
/// inline (no allocation per cloned state); the JSON form is the list of messages.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Network(InlineVec<Message, 2>);

impl Network {
    /// Every copy in flight, in sorted order.
    pub fn messages(&self) -> &[Message] {
        &self.0
    }

    /// The number of copies in flight (what `max_messages` bounds).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, message: &Message) -> bool {
        self.0.binary_search(message).is_ok()
    }

    /// Adds one copy.
    pub fn send(&mut self, message: Message) {
        let at = self.0.partition_point(|m| m <= &message);
        self.0.insert(at, message);
    }

    /// Removes one copy; returns false when there was none.
    pub fn remove_one(&mut self, message: &Message) -> bool {
        match self.0.binary_search(message) {
            Ok(at) => {
                self.0.remove(at);
                true
            }
            Err(_) => false,
        }
    }

    /// Each distinct message once, in sorted order (the choices for Deliver, Drop, Duplicate).
    pub fn distinct(&self) -> impl Iterator<Item = &Message> {
        self.0
            .iter()
            .enumerate()
            .filter(|(at, m)| *at == 0 || self.0[at - 1] != **m)
            .map(|(_, m)| m)
    }

    /// The copies a step added: `self` less (`before` less `removed`, the copy the step took
    /// out), as multisets.
    pub fn added_since(&self, before: &Network, removed: Option<&Message>) -> Vec<Message> {
        let mut old: Vec<&Message> = before.messages().iter().collect();
        if let Some(m) = removed {
            if let Some(at) = old.iter().position(|o| *o == m) {
                old.remove(at);
            }
        }
        // Both lists are sorted: walk them side by side.
        let mut k = 0;
        let mut added = Vec::new();
        for m in self.messages() {
            if old.get(k) == Some(&m) {
                k += 1;
            } else {
                added.push(m.clone());
            }
        }
        added
    }

    /// Rebuilds a network from any list of messages (used when renaming servers).
    pub fn from_messages(mut messages: Vec<Message>) -> Self {
        messages.sort();
        Network(InlineVec::from(messages))
    }
}
