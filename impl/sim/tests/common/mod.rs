//! Helpers shared by the integration tests: build nodes and messages by hand.
#![allow(dead_code)]

use raft_core::{Body, Config, Entry, MemStorage, Message, Node, NodeId, Payload, Ready};

/// A fresh basic-mode node `id` of an `n`-server cluster.
pub fn basic(id: NodeId, n: u64) -> Node {
    Node::new(Config::basic(id, n), &MemStorage::new())
}

/// A node restored from a storage holding `term`, `vote` and a log with the given terms.
pub fn with_log(cfg: Config, term: u64, vote: Option<NodeId>, terms: &[u64]) -> Node {
    let mut storage = MemStorage::new();
    storage.hard_state.term = term;
    storage.hard_state.voted_for = vote;
    storage.entries = entries(1, terms);
    Node::new(cfg, &storage)
}

/// Entries numbered from `first` with the given terms; payload is the index as one byte.
pub fn entries(first: u64, terms: &[u64]) -> Vec<Entry> {
    terms
        .iter()
        .enumerate()
        .map(|(k, &term)| Entry {
            index: first + k as u64,
            term,
            payload: Payload::Normal(vec![(first + k as u64) as u8]),
        })
        .collect()
}

pub fn msg(from: NodeId, to: NodeId, term: u64, body: Body) -> Message {
    Message {
        from,
        to,
        term,
        body,
    }
}

pub fn vote_req(from: NodeId, to: NodeId, term: u64, last_index: u64, last_term: u64) -> Message {
    msg(
        from,
        to,
        term,
        Body::RequestVote {
            last_log_index: last_index,
            last_log_term: last_term,
            pre_vote: false,
            transfer: false,
        },
    )
}

/// The body of a (non-pre-vote) RequestVote reply.
pub fn vote_reply(granted: bool) -> Body {
    Body::RequestVoteResponse {
        granted,
        pre_vote: false,
    }
}

pub fn vote_resp(from: NodeId, to: NodeId, term: u64, granted: bool) -> Message {
    msg(from, to, term, vote_reply(granted))
}

pub fn append(
    from: NodeId,
    to: NodeId,
    term: u64,
    prev: (u64, u64),
    entries: Vec<Entry>,
    commit: u64,
) -> Message {
    msg(
        from,
        to,
        term,
        Body::AppendEntries {
            prev_log_index: prev.0,
            prev_log_term: prev.1,
            entries,
            leader_commit: commit,
            read_ctx: 0,
        },
    )
}

pub fn append_resp(from: NodeId, to: NodeId, term: u64, success: bool, index: u64) -> Message {
    msg(
        from,
        to,
        term,
        Body::AppendEntriesResponse {
            success,
            index,
            hint: None,
            read_ctx: 0,
        },
    )
}

/// Takes the node's Ready and acknowledges it (as if persisted, sent and applied).
pub fn drain(node: &mut Node) -> Ready {
    let rd = node.ready();
    node.advance(&rd);
    rd
}

/// The terms of a node's log, in order.
pub fn log_terms(node: &Node) -> Vec<u64> {
    node.entries().iter().map(|e| e.term).collect()
}

/// The single reply in a Ready, asserting there is exactly one.
pub fn only_message(rd: &Ready) -> Message {
    assert_eq!(
        rd.messages.len(),
        1,
        "expected one message, got {:?}",
        rd.messages
    );
    rd.messages[0].clone()
}
