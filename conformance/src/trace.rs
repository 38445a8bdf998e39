//! Trace files (specs/trace-format.md, schema in specs/trace-format.schema.json): the model
//! configuration, then per step the action and the abstract state after it.
//!
//! The file format has its own types rather than the model's serde derive, so that it stays
//! stable and documented when the model's Rust types change, and so that a malformed file gets an
//! error that says which step and field is wrong.

use raft_model::{
    Action, Body, Bounds, Bug, Change, Entry, Faults, Flow, Hint, Membership, Message, Network,
    Params, Payload, Pending, RaftModel, Role, Server, ServerSet, State,
};
use serde::{Deserialize, Serialize};
use std::path::Path;

pub const FORMAT: &str = "raft-conformance-trace";
pub const VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceFile {
    pub format: String,
    pub version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The seed of the randomized run that produced the trace, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    pub config: Config,
    pub steps: Vec<Step>,
}

/// The model configuration: bounds, parameters, bug flag, and the impl-side perturbation (a
/// deliberately injected mistake; absent for a real comparison).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub servers: u8,
    pub max_term: u8,
    pub max_log: u8,
    pub values: u8,
    pub max_messages: u8,
    pub max_restarts: u8,
    pub max_drops: u8,
    pub max_duplicates: u8,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max_config_changes: u8,
    pub max_entries: u8,
    pub noop: bool,
    /// The production protocol's extensions (absent: off).
    #[serde(default, skip_serializing_if = "is_false")]
    pub pre_vote: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub check_quorum: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub fast_backtrack: bool,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max_inflight: u8,
    #[serde(default, skip_serializing_if = "is_false")]
    pub eager: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub transfer: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub async_persist: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub snapshots: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub membership: bool,
    #[serde(default)]
    pub bug: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perturbation: Option<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &u8) -> bool {
    *n == 0
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub action: TAction,
    /// The model's state after the action. Optional in hand-written traces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<TState>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum TAction {
    Timeout {
        server: u8,
    },
    Heartbeat {
        server: u8,
    },
    ClientRequest {
        server: u8,
        value: u8,
    },
    Deliver {
        message: TMessage,
    },
    Drop {
        message: TMessage,
    },
    Duplicate {
        message: TMessage,
    },
    Restart {
        server: u8,
    },
    CheckQuorum {
        server: u8,
    },
    LeaseExpires {
        server: u8,
    },
    TransferLeadership {
        server: u8,
        target: u8,
    },
    AbortTransfer {
        server: u8,
    },
    Persist {
        server: u8,
    },
    Compact {
        server: u8,
        index: u8,
    },
    ProposeMembership {
        server: u8,
        change: TChange,
        target: u8,
    },
}

/// A configuration change: what happens to `target`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TChange {
    AddLearner,
    Promote,
    Remove,
}

/// A configuration: voters, the old voters while joint, learners (sorted ids).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TMembership {
    pub voters: Vec<u8>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outgoing: Vec<u8>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub learners: Vec<u8>,
}

/// A message: the common fields, then its kind's. Read through a map so that an unknown field
/// is an error here too (serde's `flatten` would ignore it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "serde_json::Map<String, serde_json::Value>")]
pub struct TMessage {
    pub term: u8,
    pub src: u8,
    pub dst: u8,
    #[serde(flatten)]
    pub body: TBody,
}

impl TryFrom<serde_json::Map<String, serde_json::Value>> for TMessage {
    type Error = String;

    fn try_from(mut fields: serde_json::Map<String, serde_json::Value>) -> Result<Self, String> {
        let mut number = |name: &str| -> Result<u8, String> {
            let value = fields
                .remove(name)
                .ok_or_else(|| format!("message: missing field `{name}`"))?;
            serde_json::from_value(value).map_err(|e| format!("message field `{name}`: {e}"))
        };
        let (term, src, dst) = (number("term")?, number("src")?, number("dst")?);
        let body = TBody::deserialize(serde_json::Value::Object(fields))
            .map_err(|e| format!("message: {e}"))?;
        Ok(TMessage {
            term,
            src,
            dst,
            body,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum TBody {
    RequestVote {
        last_log_index: u8,
        last_log_term: u8,
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
        prev_log_index: u8,
        prev_log_term: u8,
        entries: Vec<TEntry>,
        leader_commit: u8,
    },
    AppendEntriesResponse {
        success: bool,
        index: u8,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hint: Option<THint>,
    },
    TimeoutNow,
    /// `entries` is the snapshot's content: the committed prefix it was taken from.
    InstallSnapshot {
        last_index: u8,
        last_term: u8,
        entries: Vec<TEntry>,
    },
}

/// A rejection's fast-backtracking hint: `conflict_term` null when the follower's log ends
/// before `prev_log_index`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct THint {
    pub conflict_term: Option<u8>,
    pub conflict_index: u8,
}

/// An entry; `value` null is the leader's no-op.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TEntry {
    pub term: u8,
    pub value: Option<u8>,
    /// A configuration entry (then `value` is null).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<TMembership>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TState {
    pub servers: Vec<TServer>,
    pub network: Vec<TMessage>,
    pub faults: TFaults,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TServer {
    pub role: TRole,
    pub current_term: u8,
    pub voted_for: Option<u8>,
    pub log: Vec<TEntry>,
    pub commit_index: u8,
    pub votes_granted: Vec<u8>,
    pub next_index: Vec<u8>,
    pub match_index: Vec<u8>,
    /// The production protocol's state (absent: the default).
    #[serde(default, skip_serializing_if = "is_false")]
    pub lease: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub heard: Vec<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer: Option<u8>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flow: Vec<TFlow>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<TPending>,
    /// The last index of the server's snapshot (absent: none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub snapshot: u8,
}

/// Per-follower flow control of a pipelining leader.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TFlow {
    pub replicate: bool,
    pub paused: bool,
    pub inflight: Vec<u8>,
    pub acked: bool,
}

/// A write in progress: what storage holds, and the messages that wait for the write.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TPending {
    pub term: u8,
    pub voted_for: Option<u8>,
    pub log: Vec<TEntry>,
    pub outbox: Vec<TMessage>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TRole {
    Follower,
    Candidate,
    Leader,
    #[serde(rename = "pre-candidate")]
    PreCandidate,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TFaults {
    pub restarts: u8,
    pub drops: u8,
    pub duplicates: u8,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub config_changes: u8,
}

// ---- model -> file ----

impl Config {
    pub fn from_model(model: &RaftModel, perturbation: Option<&str>) -> Config {
        let b = model.bounds;
        Config {
            servers: b.servers,
            max_term: b.max_term,
            max_log: b.max_log,
            values: b.values,
            max_messages: b.max_messages,
            max_restarts: b.max_restarts,
            max_drops: b.max_drops,
            max_duplicates: b.max_duplicates,
            max_config_changes: b.max_config_changes,
            max_entries: model.params.max_entries,
            noop: model.params.noop,
            pre_vote: model.params.pre_vote,
            check_quorum: model.params.check_quorum,
            fast_backtrack: model.params.fast_backtrack,
            max_inflight: model.params.max_inflight,
            eager: model.params.eager,
            transfer: model.params.transfer,
            async_persist: model.params.async_persist,
            snapshots: model.params.snapshots,
            membership: model.params.membership,
            bug: model.bug.map(|b| b.name().to_string()),
            perturbation: perturbation.map(str::to_string),
        }
    }

    /// The model this configuration describes, or why it is not a valid one.
    pub fn to_model(&self) -> Result<RaftModel, String> {
        let bug = match &self.bug {
            None => None,
            Some(name) => Some(
                Bug::from_name(name)
                    .ok_or_else(|| format!("config.bug: unknown bug flag {name:?}"))?,
            ),
        };
        let model = RaftModel {
            bounds: Bounds {
                servers: self.servers,
                max_term: self.max_term,
                max_log: self.max_log,
                values: self.values,
                max_messages: self.max_messages,
                max_restarts: self.max_restarts,
                max_drops: self.max_drops,
                max_duplicates: self.max_duplicates,
                max_config_changes: self.max_config_changes,
            },
            params: Params {
                max_entries: self.max_entries,
                noop: self.noop,
                pre_vote: self.pre_vote,
                check_quorum: self.check_quorum,
                fast_backtrack: self.fast_backtrack,
                max_inflight: self.max_inflight,
                eager: self.eager,
                transfer: self.transfer,
                async_persist: self.async_persist,
                snapshots: self.snapshots,
                membership: self.membership,
            },
            bug,
        };
        model.validate().map_err(|e| format!("config: {e}"))?;
        Ok(model)
    }
}

pub fn entry_to(e: &Entry) -> TEntry {
    let ids = |s: ServerSet| s.iter().collect::<Vec<_>>();
    TEntry {
        term: e.term,
        value: match e.payload {
            Payload::Value(v) => Some(v),
            _ => None,
        },
        config: match e.payload {
            Payload::Config(m) => Some(TMembership {
                voters: ids(m.voters),
                outgoing: ids(m.outgoing),
                learners: ids(m.learners),
            }),
            _ => None,
        },
    }
}

pub fn message_to(m: &Message) -> TMessage {
    let body = match &m.body {
        Body::RequestVote {
            last_log_index,
            last_log_term,
            pre_vote,
            transfer,
        } => TBody::RequestVote {
            last_log_index: *last_log_index,
            last_log_term: *last_log_term,
            pre_vote: *pre_vote,
            transfer: *transfer,
        },
        Body::RequestVoteResponse { granted, pre_vote } => TBody::RequestVoteResponse {
            granted: *granted,
            pre_vote: *pre_vote,
        },
        Body::AppendEntries {
            prev_log_index,
            prev_log_term,
            entries,
            leader_commit,
        } => TBody::AppendEntries {
            prev_log_index: *prev_log_index,
            prev_log_term: *prev_log_term,
            entries: entries.iter().map(entry_to).collect(),
            leader_commit: *leader_commit,
        },
        Body::AppendEntriesResponse {
            success,
            index,
            hint,
        } => TBody::AppendEntriesResponse {
            success: *success,
            index: *index,
            hint: hint.map(|h| THint {
                conflict_term: h.conflict_term,
                conflict_index: h.conflict_index,
            }),
        },
        Body::TimeoutNow => TBody::TimeoutNow,
        Body::InstallSnapshot {
            last_index,
            last_term,
            entries,
        } => TBody::InstallSnapshot {
            last_index: *last_index,
            last_term: *last_term,
            entries: entries.iter().map(entry_to).collect(),
        },
    };
    TMessage {
        term: m.term,
        src: m.src,
        dst: m.dst,
        body,
    }
}

pub fn action_to(a: &Action) -> TAction {
    match a {
        Action::Timeout(i) => TAction::Timeout { server: *i },
        Action::Heartbeat(i) => TAction::Heartbeat { server: *i },
        Action::ClientRequest(i, v) => TAction::ClientRequest {
            server: *i,
            value: *v,
        },
        Action::Deliver(m) => TAction::Deliver {
            message: message_to(m),
        },
        Action::Drop(m) => TAction::Drop {
            message: message_to(m),
        },
        Action::Duplicate(m) => TAction::Duplicate {
            message: message_to(m),
        },
        Action::Restart(i) => TAction::Restart { server: *i },
        Action::CheckQuorum(i) => TAction::CheckQuorum { server: *i },
        Action::LeaseExpires(i) => TAction::LeaseExpires { server: *i },
        Action::TransferLeadership(i, t) => TAction::TransferLeadership {
            server: *i,
            target: *t,
        },
        Action::AbortTransfer(i) => TAction::AbortTransfer { server: *i },
        Action::Persist(i) => TAction::Persist { server: *i },
        Action::Compact(i, k) => TAction::Compact {
            server: *i,
            index: *k,
        },
        Action::ProposeMembership(i, change) => {
            let (change, target) = match *change {
                Change::AddLearner(t) => (TChange::AddLearner, t),
                Change::Promote(t) => (TChange::Promote, t),
                Change::Remove(t) => (TChange::Remove, t),
            };
            TAction::ProposeMembership {
                server: *i,
                change,
                target,
            }
        }
    }
}

pub fn server_to(s: &Server) -> TServer {
    TServer {
        role: match s.role {
            Role::Follower => TRole::Follower,
            Role::Candidate => TRole::Candidate,
            Role::Leader => TRole::Leader,
            Role::PreCandidate => TRole::PreCandidate,
        },
        current_term: s.current_term,
        voted_for: s.voted_for,
        log: s.log.iter().map(entry_to).collect(),
        commit_index: s.commit_index,
        votes_granted: s.votes_granted.iter().collect(),
        next_index: s.next_index.clone(),
        match_index: s.match_index.clone(),
        lease: s.lease,
        heard: s.heard.iter().collect(),
        transfer: s.transfer,
        flow: s
            .flow
            .iter()
            .map(|f| TFlow {
                replicate: f.replicate,
                paused: f.paused,
                inflight: f.inflight.clone(),
                acked: f.acked,
            })
            .collect(),
        pending: s.pending.as_ref().map(|p| TPending {
            term: p.term,
            voted_for: p.voted_for,
            log: p.log.iter().map(entry_to).collect(),
            outbox: p.outbox.iter().map(message_to).collect(),
        }),
        snapshot: s.snapshot,
    }
}

/// The abstract part of a model state (servers, messages in flight, fault counters; the
/// history variables are the model's own and are left out).
pub fn state_to(s: &State) -> TState {
    TState {
        servers: s.servers.iter().map(server_to).collect(),
        network: s.network.messages().iter().map(message_to).collect(),
        faults: TFaults {
            restarts: s.faults.restarts,
            drops: s.faults.drops,
            duplicates: s.faults.duplicates,
            config_changes: s.faults.config_changes,
        },
    }
}

/// A trace file for `actions` replayed in `model` (states are the model's).
pub fn from_actions(
    model: &RaftModel,
    perturbation: Option<&str>,
    actions: &[Action],
    description: Option<String>,
    seed: Option<u64>,
) -> TraceFile {
    let mut state = model.initial_state();
    let steps = actions
        .iter()
        .map(|a| {
            state = model.step(&state, a);
            Step {
                action: action_to(a),
                state: Some(state_to(&state)),
            }
        })
        .collect();
    TraceFile {
        format: FORMAT.to_string(),
        version: VERSION,
        description,
        seed,
        config: Config::from_model(model, perturbation),
        steps,
    }
}

// ---- file -> model, with validation ----

fn id(what: &str, x: u8, servers: u8) -> Result<u8, String> {
    if x < servers {
        Ok(x)
    } else {
        Err(format!("{what} = {x} is not a server (servers: {servers})"))
    }
}

pub fn entry_from(e: &TEntry) -> Entry {
    let set = |ids: &[u8]| {
        let mut s = ServerSet::default();
        for &i in ids.iter().filter(|&&i| i < 8) {
            s.insert(i);
        }
        s
    };
    Entry {
        term: e.term,
        payload: match (&e.config, e.value) {
            (Some(m), _) => Payload::Config(Membership {
                voters: set(&m.voters),
                outgoing: set(&m.outgoing),
                learners: set(&m.learners),
            }),
            (None, None) => Payload::Noop,
            (None, Some(v)) => Payload::Value(v),
        },
    }
}

pub fn message_from(m: &TMessage, servers: u8) -> Result<Message, String> {
    let src = id("src", m.src, servers)?;
    let dst = id("dst", m.dst, servers)?;
    if src == dst {
        return Err(format!("message from {src} to itself"));
    }
    let body = match &m.body {
        TBody::RequestVote {
            last_log_index,
            last_log_term,
            pre_vote,
            transfer,
        } => Body::RequestVote {
            last_log_index: *last_log_index,
            last_log_term: *last_log_term,
            pre_vote: *pre_vote,
            transfer: *transfer,
        },
        TBody::RequestVoteResponse { granted, pre_vote } => Body::RequestVoteResponse {
            granted: *granted,
            pre_vote: *pre_vote,
        },
        TBody::AppendEntries {
            prev_log_index,
            prev_log_term,
            entries,
            leader_commit,
        } => Body::AppendEntries {
            prev_log_index: *prev_log_index,
            prev_log_term: *prev_log_term,
            entries: entries.iter().map(entry_from).collect(),
            leader_commit: *leader_commit,
        },
        TBody::AppendEntriesResponse {
            success,
            index,
            hint,
        } => Body::AppendEntriesResponse {
            success: *success,
            index: *index,
            hint: hint.map(|h| Hint {
                conflict_term: h.conflict_term,
                conflict_index: h.conflict_index,
            }),
        },
        TBody::TimeoutNow => Body::TimeoutNow,
        TBody::InstallSnapshot {
            last_index,
            last_term,
            entries,
        } => Body::InstallSnapshot {
            last_index: *last_index,
            last_term: *last_term,
            entries: entries.iter().map(entry_from).collect(),
        },
    };
    Ok(Message {
        term: m.term,
        src,
        dst,
        body,
    })
}

pub fn action_from(a: &TAction, servers: u8) -> Result<Action, String> {
    Ok(match a {
        TAction::Timeout { server } => Action::Timeout(id("server", *server, servers)?),
        TAction::Heartbeat { server } => Action::Heartbeat(id("server", *server, servers)?),
        TAction::ClientRequest { server, value } => {
            Action::ClientRequest(id("server", *server, servers)?, *value)
        }
        TAction::Deliver { message } => Action::Deliver(message_from(message, servers)?),
        TAction::Drop { message } => Action::Drop(message_from(message, servers)?),
        TAction::Duplicate { message } => Action::Duplicate(message_from(message, servers)?),
        TAction::Restart { server } => Action::Restart(id("server", *server, servers)?),
        TAction::CheckQuorum { server } => Action::CheckQuorum(id("server", *server, servers)?),
        TAction::LeaseExpires { server } => Action::LeaseExpires(id("server", *server, servers)?),
        TAction::TransferLeadership { server, target } => Action::TransferLeadership(
            id("server", *server, servers)?,
            id("target", *target, servers)?,
        ),
        TAction::AbortTransfer { server } => Action::AbortTransfer(id("server", *server, servers)?),
        TAction::Persist { server } => Action::Persist(id("server", *server, servers)?),
        TAction::Compact { server, index } => {
            Action::Compact(id("server", *server, servers)?, *index)
        }
        TAction::ProposeMembership {
            server,
            change,
            target,
        } => {
            let t = id("target", *target, servers)?;
            Action::ProposeMembership(
                id("server", *server, servers)?,
                match change {
                    TChange::AddLearner => Change::AddLearner(t),
                    TChange::Promote => Change::Promote(t),
                    TChange::Remove => Change::Remove(t),
                },
            )
        }
    })
}

pub fn server_from(s: &TServer, servers: u8) -> Result<Server, String> {
    let set = |what: &str, ids: &[u8]| -> Result<ServerSet, String> {
        let mut set = ServerSet::default();
        for &v in ids {
            set.insert(id(what, v, servers)?);
        }
        Ok(set)
    };
    let pending = match &s.pending {
        None => None,
        Some(p) => Some(Box::new(Pending {
            term: p.term,
            voted_for: p
                .voted_for
                .map(|v| id("pending.voted_for", v, servers))
                .transpose()?,
            log: p.log.iter().map(entry_from).collect(),
            outbox: {
                let mut outbox = p
                    .outbox
                    .iter()
                    .map(|m| message_from(m, servers))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| format!("pending.outbox: {e}"))?;
                outbox.sort();
                outbox
            },
        })),
    };
    Ok(Server {
        current_term: s.current_term,
        voted_for: s
            .voted_for
            .map(|v| id("voted_for", v, servers))
            .transpose()?,
        log: s.log.iter().map(entry_from).collect(),
        role: match s.role {
            TRole::Follower => Role::Follower,
            TRole::Candidate => Role::Candidate,
            TRole::Leader => Role::Leader,
            TRole::PreCandidate => Role::PreCandidate,
        },
        commit_index: s.commit_index,
        votes_granted: set("votes_granted", &s.votes_granted)?,
        next_index: s.next_index.clone(),
        match_index: s.match_index.clone(),
        lease: s.lease,
        heard: set("heard", &s.heard)?,
        transfer: s.transfer.map(|t| id("transfer", t, servers)).transpose()?,
        flow: s
            .flow
            .iter()
            .map(|f| Flow {
                replicate: f.replicate,
                paused: f.paused,
                inflight: f.inflight.clone(),
                acked: f.acked,
            })
            .collect(),
        pending,
        snapshot: s.snapshot,
    })
}

/// The abstract state recorded in a file, as a model state with empty history.
pub fn state_from(s: &TState, servers: u8) -> Result<State, String> {
    if s.servers.len() != servers as usize {
        return Err(format!(
            "{} servers in the state, config says {servers}",
            s.servers.len()
        ));
    }
    let mut out = State::initial(servers as usize);
    for (i, sv) in s.servers.iter().enumerate() {
        out.servers[i] = server_from(sv, servers).map_err(|e| format!("servers[{i}]: {e}"))?;
    }
    let messages = s
        .network
        .iter()
        .enumerate()
        .map(|(k, m)| message_from(m, servers).map_err(|e| format!("network[{k}]: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    out.network = Network::from_messages(messages);
    out.faults = Faults {
        restarts: s.faults.restarts,
        drops: s.faults.drops,
        duplicates: s.faults.duplicates,
        config_changes: s.faults.config_changes,
    };
    Ok(out)
}

/// A trace file read and checked: the model, the injected perturbation and the actions.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub file: TraceFile,
    pub model: RaftModel,
    pub perturbation: Option<crate::driver::Perturbation>,
    pub actions: Vec<Action>,
    /// The recorded state after each step, where given.
    pub states: Vec<Option<State>>,
}

/// Parses and validates trace text. Every error names what is wrong and where.
pub fn parse(text: &str) -> Result<Loaded, String> {
    let file: TraceFile =
        serde_json::from_str(text).map_err(|e| format!("not a valid trace file: {e}"))?;
    if file.format != FORMAT {
        return Err(format!("format is {:?}, expected {FORMAT:?}", file.format));
    }
    if file.version != VERSION {
        return Err(format!(
            "version {} is not supported (this build reads version {VERSION})",
            file.version
        ));
    }
    let model = file.config.to_model()?;
    let perturbation = match &file.config.perturbation {
        None => None,
        Some(name) => Some(
            crate::driver::Perturbation::ALL
                .into_iter()
                .find(|p| p.name() == name)
                .ok_or_else(|| format!("config.perturbation: unknown perturbation {name:?}"))?,
        ),
    };
    let servers = model.bounds.servers;
    let mut actions = Vec::new();
    let mut states = Vec::new();
    for (k, step) in file.steps.iter().enumerate() {
        actions.push(
            action_from(&step.action, servers).map_err(|e| format!("steps[{k}].action: {e}"))?,
        );
        states.push(
            step.state
                .as_ref()
                .map(|s| state_from(s, servers))
                .transpose()
                .map_err(|e| format!("steps[{k}].state: {e}"))?,
        );
    }
    Ok(Loaded {
        file,
        model,
        perturbation,
        actions,
        states,
    })
}

/// Whether `actions` is a run of `model` from its initial state: every action enabled where it is
/// taken and every state within the bounds. The model's `step` is defined only there, so a
/// trace must pass this before it is converted (writing states means stepping the model).
pub fn check_model_run(model: &RaftModel, actions: &[Action]) -> Result<(), String> {
    let mut state = model.initial_state();
    for (k, action) in actions.iter().enumerate() {
        if !model.is_enabled(&state, action) {
            return Err(format!(
                "steps[{k}].action: {} is not enabled: the trace is not a run of its model",
                crate::report::format_action(action)
            ));
        }
        state = model.step(&state, action);
        if !model.bounds.contain(&state) {
            return Err(format!(
                "steps[{k}].action: {} leaves the model's bounds",
                crate::report::format_action(action)
            ));
        }
    }
    Ok(())
}

pub fn load(path: &Path) -> Result<Loaded, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

pub fn save(path: &Path, file: &TraceFile) -> Result<(), String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let text = serde_json::to_string_pretty(file).map_err(|e| e.to_string())?;
    std::fs::write(path, text + "\n").map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Whether the recorded abstract state equals the model's (history left out).
pub fn same_abstract_state(recorded: &State, model: &State) -> bool {
    recorded.servers == model.servers
        && recorded.network == model.network
        && recorded.faults == model.faults
}
