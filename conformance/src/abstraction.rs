//! The abstraction function: what an impl node and an impl message look like as the model's
//! server state and message (specs/contract.md fixes what both mean).
//!
//! The impl's extra machinery is outside the model and left out here: the leader hint, timers and
//! their random draws, the applied index, the persisted-state bookkeeping, byte counts of flow
//! control, ReadIndex rounds (`read_ctx`) and the configuration (it never changes in these
//! profiles). Check-quorum's record and flow control are read only when the model's parameters
//! switch them on: the impl keeps recent-activity flags and probe state in every configuration,
//! and without the extension the model has nothing to compare them with. The lease is read
//! always: without check-quorum the impl's is never on, and neither is the model's. Anything the model
//! cannot express (a configuration entry, a payload that is not one byte, a snapshot where the
//! profile has none) is an abstraction failure, reported as a divergence: in these profiles the
//! impl must never produce it. A snapshot's data is the driver's: the entries it stands for
//! (`snapshot_data`), which the model keeps in the log below its snapshot index.

use crate::driver::Cluster;
use raft_core::{
    Body as IBody, ConflictHint, Entry as IEntry, Message as IMessage, Node, Payload as IPayload,
    ProgressState, Snapshot,
};
use raft_model::{
    Body, Entry, Flow, Hint, Membership, Message, Params, Payload, Pending, Role, Server, ServerSet,
};

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
        IPayload::Config(m) => Payload::Config(membership(m)?),
    };
    Ok(Entry {
        term: small("entry term", e.term)?,
        payload,
    })
}

fn ids(set: &std::collections::BTreeSet<u64>) -> Result<ServerSet, AbstractionError> {
    let mut out = ServerSet::default();
    for &id in set {
        if id >= 8 {
            return Err(format!("server id {id} does not fit the model's 8 ids"));
        }
        out.insert(id as u8);
    }
    Ok(out)
}

/// An impl configuration as the model's.
pub fn membership(m: &raft_core::Membership) -> Result<Membership, AbstractionError> {
    Ok(Membership {
        voters: ids(&m.voters)?,
        outgoing: ids(&m.outgoing)?,
        learners: ids(&m.learners)?,
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

/// A snapshot's data as the driver writes it for the model's state machine (`snapshot_data`):
/// the entries `1..=index` it stands for, three bytes each (term, kind, value; kind 0 is the
/// no-op, 1 a client value).
pub fn snapshot_entries(data: &[u8], index: u64) -> Result<Vec<Entry>, AbstractionError> {
    if data.len() as u64 != 3 * index {
        return Err(format!(
            "a snapshot at index {index} holds {} bytes, not 3 per entry",
            data.len()
        ));
    }
    data.chunks(3)
        .map(|c| match c {
            [term, 0, 0] => Ok(Entry {
                term: *term,
                payload: Payload::Noop,
            }),
            [term, 1, v] => Ok(Entry {
                term: *term,
                payload: Payload::Value(*v),
            }),
            _ => Err(format!(
                "a snapshot entry {c:?} is neither a no-op nor a value"
            )),
        })
        .collect()
}

/// The data the driver hands the impl for a snapshot of `entries` (the model's state machine
/// is the list of entries it applied).
pub fn snapshot_data(entries: &[Entry]) -> Vec<u8> {
    entries
        .iter()
        .flat_map(|e| match e.payload {
            Payload::Noop => [e.term, 0, 0],
            Payload::Value(v) => [e.term, 1, v],
            // Snapshots and membership changes are not modelled together: a kind the decoder
            // refuses, so that it would show as a divergence, not pass as something else.
            Payload::Config(_) => [e.term, 2, 0],
        })
        .collect()
}

/// A snapshot and the entries after it as the model's whole log.
fn log(snapshot: &Snapshot, after: &[IEntry]) -> Result<Vec<Entry>, AbstractionError> {
    let mut log = snapshot_entries(&snapshot.data, snapshot.index)?;
    log.extend(entries(after, snapshot.index + 1)?);
    Ok(log)
}

/// Node `i` of the cluster as the model's server state, with the write it has in progress.
pub fn cluster_server(cluster: &Cluster, i: usize) -> Result<Server, AbstractionError> {
    let mut s = server(cluster.node(i), cluster.len(), &cluster.model().params)?;
    s.pending = pending(cluster, i)?;
    Ok(s)
}

/// Node `i`'s write in progress: what its storage holds and the messages that wait.
pub fn pending(cluster: &Cluster, i: usize) -> Result<Option<Box<Pending>>, AbstractionError> {
    let Some(held) = cluster.held(i) else {
        return Ok(None);
    };
    let stored = cluster.storage(i);
    Ok(Some(Box::new(Pending {
        term: small("stored term", stored.hard_state.term)?,
        voted_for: stored
            .hard_state
            .voted_for
            .map(|v| small("stored vote", v))
            .transpose()?,
        log: log(&stored.snapshot, &stored.entries)?,
        outbox: held.outbox.iter().map(|f| f.abs.clone()).collect(),
    })))
}

/// Node `node` of an `n`-server cluster as the model's server state under `params`, leaving out
/// the write in progress (the driver holds that: `cluster_server`).
pub fn server(node: &Node, n: usize, params: &Params) -> Result<Server, AbstractionError> {
    if node.snapshot().index != 0 && !params.snapshots {
        return Err(format!(
            "node {} holds a snapshot at index {} (snapshots are off)",
            node.id(),
            node.snapshot().index
        ));
    }
    let role = match node.role() {
        raft_core::Role::Follower => Role::Follower,
        raft_core::Role::Candidate => Role::Candidate,
        raft_core::Role::Leader => Role::Leader,
        raft_core::Role::PreCandidate => Role::PreCandidate,
    };
    let mut votes_granted = ServerSet::default();
    for id in node.votes_granted() {
        votes_granted.insert(small("vote granter id", id)?);
    }
    // The model keeps one nextIndex/matchIndex slot per server while leader (its own slots 0)
    // and none otherwise; the impl keeps one `Progress` per peer while leader.
    let (mut next_index, mut match_index) = (Vec::new(), Vec::new());
    // A leader keeps slots for every server, a lone one too (it has no peers to track).
    if node.role() == raft_core::Role::Leader || !node.progresses().is_empty() {
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
    let leader = node.role() == raft_core::Role::Leader;
    let mut heard = ServerSet::default();
    if leader && params.check_quorum {
        for (&peer, p) in node.progresses() {
            if p.recent_active() {
                heard.insert(small("peer id", peer)?);
            }
        }
    }
    let mut flow = Vec::new();
    if leader && params.pipelining() {
        flow = vec![Flow::default(); n];
        for (&peer, p) in node.progresses() {
            let inflight = p
                .inflight()
                .map(|k| small("in-flight index", k))
                .collect::<Result<_, _>>()?;
            flow[peer as usize] = Flow {
                replicate: match p.state {
                    ProgressState::Probe => false,
                    ProgressState::Replicate => true,
                    ProgressState::Snapshot => {
                        return Err(format!(
                            "node {} is sending a snapshot to {peer} (snapshots are not modelled)",
                            node.id()
                        ))
                    }
                },
                paused: p.probe_sent(),
                inflight,
                acked: p.recent_progress(),
            };
        }
    }
    Ok(Server {
        current_term: small("current_term", node.term())?,
        voted_for: node
            .voted_for()
            .map(|v| small("voted_for", v))
            .transpose()?,
        log: log(node.snapshot(), node.entries())?,
        role,
        commit_index: small("commit_index", node.commit_index())?,
        votes_granted,
        next_index,
        match_index,
        lease: node.role() == raft_core::Role::Follower && node.in_lease(),
        heard,
        transfer: node
            .transfer_target()
            .map(|t| small("transfer target", t))
            .transpose()?,
        flow,
        pending: None,
        snapshot: small("snapshot index", node.snapshot().index)?,
    })
}

fn hint(h: &ConflictHint) -> Result<Hint, AbstractionError> {
    Ok(Hint {
        conflict_term: h
            .conflict_term
            .map(|t| small("conflict term", t))
            .transpose()?,
        conflict_index: small("conflict index", h.conflict_index)?,
    })
}

/// An impl message as the model's message.
pub fn message(m: &IMessage) -> Result<Message, AbstractionError> {
    let body = match &m.body {
        IBody::RequestVote {
            last_log_index,
            last_log_term,
            pre_vote,
            transfer,
        } => Body::RequestVote {
            last_log_index: small("last_log_index", *last_log_index)?,
            last_log_term: small("last_log_term", *last_log_term)?,
            pre_vote: *pre_vote,
            transfer: *transfer,
        },
        IBody::RequestVoteResponse { granted, pre_vote } => Body::RequestVoteResponse {
            granted: *granted,
            pre_vote: *pre_vote,
        },
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
            hint: h,
            read_ctx: _,
        } => Body::AppendEntriesResponse {
            success: *success,
            index: small("index", *index)?,
            hint: h.as_ref().map(hint).transpose()?,
        },
        IBody::TimeoutNow => Body::TimeoutNow,
        IBody::InstallSnapshot { snapshot } => Body::InstallSnapshot {
            last_index: small("snapshot index", snapshot.index)?,
            last_term: small("snapshot term", snapshot.term)?,
            entries: snapshot_entries(&snapshot.data, snapshot.index)?,
        },
    };
    Ok(Message {
        term: small("message term", m.term)?,
        src: small("message src", m.from)?,
        dst: small("message dst", m.to)?,
        body,
    })
}
