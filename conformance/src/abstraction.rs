//! The abstraction function: what an impl node and an impl message look like as the model's
//! server state and message (specs/contract.md fixes what both mean).
//!
//! The impl's extra machinery is outside the model and left out here: the leader hint, timers and
//! their random draws, the applied index, the persisted-state bookkeeping, flow-control state of
//! `Progress` (probe/replicate, in-flight window), ReadIndex rounds (`read_ctx`) and the
//! configuration (it never changes in basic mode). Anything the basic model cannot express
//! (a pre-candidate, a pre-vote, a snapshot, a configuration entry, a conflict hint, a payload
//! that is not one byte) is an abstraction failure, reported as a divergence: in basic mode the
//! impl must never produce it.

use raft_core::{Body as IBody, Entry as IEntry, Message as IMessage, Node, Payload as IPayload};
use raft_model::{Body, Entry, Message, Payload, Role, Server, ServerSet};

/// Why an impl value has no model counterpart.
pub type AbstractionError = String;

fn small(what: &str, x: u64) -> Result<u8, AbstractionError> {
    u8::try_from(x).map_err(|_| format!("{what} = {x} does not fit the model's u8"))
}

/// A client value `v` is proposed as the payload `[v]`; the no-op has its own kind.
pub fn entry(e: &IEntry) -> Result<Entry, AbstractionError> {
    let payload = match &e.payload {
        IPayload::Noop => Payload::Noop,
        IPayload::Normal(data) if data.len() == 1 => Payload::Value(data[0]),
        IPayload::Normal(data) => {
            return Err(format!(
                "entry {} carries a {}-byte payload; the model's values are one byte",
                e.index,
                data.len()
            ))
        }
        IPayload::Config(_) => {
            return Err(format!(
                "entry {} is a configuration entry (membership changes are off in basic mode)",
                e.index
            ))
        }
    };
    Ok(Entry {
        term: small("entry term", e.term)?,
        payload,
    })
}

/// Entries numbered `first, first + 1, ...`: the impl numbers every entry, the model by position.
fn entries(es: &[IEntry], first: u64) -> Result<Vec<Entry>, AbstractionError> {
    es.iter()
        .enumerate()
        .map(|(k, e)| {
            if e.index != first + k as u64 {
                return Err(format!(
                    "entry at position {k} has index {}, expected {}",
                    e.index,
                    first + k as u64
                ));
            }
            entry(e)
        })
        .collect()
}

/// Node `node` of an `n`-server cluster as the model's server state.
pub fn server(node: &Node, n: usize) -> Result<Server, AbstractionError> {
    if node.snapshot().index != 0 {
        return Err(format!(
            "node {} holds a snapshot at index {} (snapshots are off in basic mode)",
            node.id(),
            node.snapshot().index
        ));
    }
    let role = match node.role() {
        raft_core::Role::Follower => Role::Follower,
        raft_core::Role::Candidate => Role::Candidate,
        raft_core::Role::Leader => Role::Leader,
        raft_core::Role::PreCandidate => {
            return Err(format!(
                "node {} is a pre-candidate (pre-vote is off in basic mode)",
                node.id()
            ))
        }
    };
    let mut votes_granted = ServerSet::default();
    for id in node.votes_granted() {
        votes_granted.insert(small("vote granter id", id)?);
    }
    // The model keeps one nextIndex/matchIndex slot per server while leader (its own slots 0)
    // and none otherwise; the impl keeps one `Progress` per peer while leader.
    let (mut next_index, mut match_index) = (Vec::new(), Vec::new());
    if !node.progresses().is_empty() {
        next_index = vec![0; n];
        match_index = vec![0; n];
        for (&peer, p) in node.progresses() {
            let slot = peer as usize;
            if slot >= n || peer == node.id() {
                return Err(format!(
                    "node {} keeps progress for server {peer}",
                    node.id()
                ));
            }
            next_index[slot] = small("next_index", p.next_index)?;
            match_index[slot] = small("match_index", p.match_index)?;
        }
    }
    Ok(Server {
        current_term: small("current_term", node.term())?,
        voted_for: node
            .voted_for()
            .map(|v| small("voted_for", v))
            .transpose()?,
        log: entries(node.entries(), 1)?,
        role,
        commit_index: small("commit_index", node.commit_index())?,
        votes_granted,
        next_index,
        match_index,
    })
}

/// An impl message as the model's message.
pub fn message(m: &IMessage) -> Result<Message, AbstractionError> {
    let body = match &m.body {
        IBody::RequestVote {
            last_log_index,
            last_log_term,
            pre_vote: false,
            transfer: false,
        } => Body::RequestVote {
            last_log_index: small("last_log_index", *last_log_index)?,
            last_log_term: small("last_log_term", *last_log_term)?,
        },
        IBody::RequestVoteResponse {
            granted,
            pre_vote: false,
        } => Body::RequestVoteResponse { granted: *granted },
        IBody::AppendEntries {
            prev_log_index,
            prev_log_term,
            entries: es,
            leader_commit,
            read_ctx: _,
        } => Body::AppendEntries {
            prev_log_index: small("prev_log_index", *prev_log_index)?,
            prev_log_term: small("prev_log_term", *prev_log_term)?,
            entries: entries(es, prev_log_index + 1)?,
            leader_commit: small("leader_commit", *leader_commit)?,
        },
        IBody::AppendEntriesResponse {
            success,
            index,
            hint: None,
            read_ctx: _,
        } => Body::AppendEntriesResponse {
            success: *success,
            index: small("index", *index)?,
        },
        _ => {
            return Err(format!(
                "{} from {} to {} has no model counterpart (pre-vote, fast backtracking, \
                 snapshots and leadership transfer are off in basic mode)",
                m.kind(),
                m.from,
                m.to
            ))
        }
    };
    Ok(Message {
        term: small("message term", m.term)?,
        src: small("message src", m.from)?,
        dst: small("message dst", m.to)?,
        body,
    })
}
