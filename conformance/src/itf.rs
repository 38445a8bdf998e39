//! Export to the Informal Trace Format (ITF, Apalache ADR-015), which Quint and Apalache tools
//! read: integers as `{"#bigint": "n"}`, sets as `{"#set": [..]}`, maps as `{"#map": [[k, v]..]}`,
//! records as objects, sequences as arrays, sum types as `{"tag": .., "value": ..}`.
//!
//! Variables: `servers` (map id -> record), `network` (the multiset of messages in flight as a
//! sorted sequence, repeats kept), `faults` (record), `action` (the event that led to the state, a
//! variant; `Init` for the first state) and `mbt::actionTaken` (its name, as Quint's model-based
//! testing traces carry it). With any production extension on, each server record also has
//! `lease`, `heard`, `transfer` (an option), `flow` (a map id -> record) and `pending` (an
//! option of a record).

use crate::trace::{self, TAction, TBody, TEntry, TMessage, TRole, TServer, TState};
use raft_model::{Action, RaftModel};
use serde_json::{json, Map, Value};

fn int(n: u8) -> Value {
    json!({ "#bigint": n.to_string() })
}

fn unit() -> Value {
    json!({ "#tup": [] })
}

fn variant(tag: &str, value: Value) -> Value {
    json!({ "tag": tag, "value": value })
}

fn option(v: Option<u8>) -> Value {
    match v {
        Some(x) => variant("Some", int(x)),
        None => variant("None", unit()),
    }
}

fn entry(e: &TEntry) -> Value {
    let payload = match (&e.config, e.value) {
        (Some(m), _) => variant(
            "Config",
            json!({ "voters": set(&m.voters), "outgoing": set(&m.outgoing), "learners": set(&m.learners) }),
        ),
        (None, Some(v)) => variant("Value", int(v)),
        (None, None) => variant("Noop", unit()),
    };
    json!({ "term": int(e.term), "payload": payload })
}

fn message(m: &TMessage) -> Value {
    let (tag, fields) = match &m.body {
        TBody::RequestVote {
            last_log_index,
            last_log_term,
            pre_vote,
            transfer,
        } => (
            "RequestVote",
            json!({
                "lastLogIndex": int(*last_log_index),
                "lastLogTerm": int(*last_log_term),
                "preVote": pre_vote,
                "transfer": transfer,
            }),
        ),
        TBody::RequestVoteResponse { granted, pre_vote } => (
            "RequestVoteResponse",
            json!({ "granted": granted, "preVote": pre_vote }),
        ),
        TBody::AppendEntries {
            prev_log_index,
            prev_log_term,
            entries,
            leader_commit,
        } => (
            "AppendEntries",
            json!({
                "prevLogIndex": int(*prev_log_index),
                "prevLogTerm": int(*prev_log_term),
                "entries": entries.iter().map(entry).collect::<Vec<_>>(),
                "leaderCommit": int(*leader_commit),
            }),
        ),
        TBody::AppendEntriesResponse {
            success,
            index,
            hint,
        } => {
            let hint = match hint {
                None => variant("None", unit()),
                Some(h) => variant(
                    "Some",
                    json!({ "conflictTerm": option(h.conflict_term), "conflictIndex": int(h.conflict_index) }),
                ),
            };
            (
                "AppendEntriesResponse",
                json!({ "success": success, "index": int(*index), "hint": hint }),
            )
        }
        TBody::TimeoutNow => ("TimeoutNow", unit()),
        TBody::InstallSnapshot {
            last_index,
            last_term,
            entries,
        } => (
            "InstallSnapshot",
            json!({
                "lastIndex": int(*last_index),
                "lastTerm": int(*last_term),
                "entries": entries.iter().map(entry).collect::<Vec<_>>(),
            }),
        ),
    };
    json!({
        "term": int(m.term),
        "src": int(m.src),
        "dst": int(m.dst),
        "body": variant(tag, fields),
    })
}

fn set(ids: &[u8]) -> Value {
    json!({ "#set": ids.iter().map(|&v| int(v)).collect::<Vec<_>>() })
}

fn server(s: &TServer, extended: bool) -> Value {
    let role = match s.role {
        TRole::Follower => "Follower",
        TRole::Candidate => "Candidate",
        TRole::Leader => "Leader",
        TRole::PreCandidate => "PreCandidate",
    };
    let slots = |v: &[u8]| json!({ "#map": v.iter().enumerate().map(|(p, x)| json!([int(p as u8), int(*x)])).collect::<Vec<_>>() });
    let mut out = json!({
        "role": variant(role, unit()),
        "currentTerm": int(s.current_term),
        "votedFor": option(s.voted_for),
        "log": s.log.iter().map(entry).collect::<Vec<_>>(),
        "commitIndex": int(s.commit_index),
        "votesGranted": set(&s.votes_granted),
        "nextIndex": slots(&s.next_index),
        "matchIndex": slots(&s.match_index),
    });
    if extended {
        let flow = s.flow.iter().enumerate().map(|(p, f)| {
            json!([
                int(p as u8),
                json!({
                    "replicate": f.replicate,
                    "paused": f.paused,
                    "inflight": f.inflight.iter().map(|&k| int(k)).collect::<Vec<_>>(),
                    "acked": f.acked,
                })
            ])
        });
        let pending = match &s.pending {
            None => variant("None", unit()),
            Some(p) => variant(
                "Some",
                json!({
                    "term": int(p.term),
                    "votedFor": option(p.voted_for),
                    "log": p.log.iter().map(entry).collect::<Vec<_>>(),
                    "outbox": p.outbox.iter().map(message).collect::<Vec<_>>(),
                }),
            ),
        };
        let fields = out.as_object_mut().expect("a record");
        fields.insert("lease".into(), json!(s.lease));
        fields.insert("heard".into(), set(&s.heard));
        fields.insert("transfer".into(), option(s.transfer));
        fields.insert("flow".into(), json!({ "#map": flow.collect::<Vec<_>>() }));
        fields.insert("pending".into(), pending);
        fields.insert("snapshot".into(), int(s.snapshot));
    }
    out
}

fn action(a: Option<&TAction>) -> (String, Value) {
    let Some(a) = a else {
        return ("Init".to_string(), variant("Init", unit()));
    };
    let (tag, value) = match a {
        TAction::Timeout { server } => ("Timeout", int(*server)),
        TAction::Heartbeat { server } => ("Heartbeat", int(*server)),
        TAction::ClientRequest { server, value } => (
            "ClientRequest",
            json!({ "server": int(*server), "value": int(*value) }),
        ),
        TAction::Deliver { message: m } => ("Deliver", message(m)),
        TAction::Drop { message: m } => ("Drop", message(m)),
        TAction::Duplicate { message: m } => ("Duplicate", message(m)),
        TAction::Restart { server } => ("Restart", int(*server)),
        TAction::CheckQuorum { server } => ("CheckQuorum", int(*server)),
        TAction::LeaseExpires { server } => ("LeaseExpires", int(*server)),
        TAction::TransferLeadership { server, target } => (
            "TransferLeadership",
            json!({ "server": int(*server), "target": int(*target) }),
        ),
        TAction::AbortTransfer { server } => ("AbortTransfer", int(*server)),
        TAction::Persist { server } => ("Persist", int(*server)),
        TAction::Compact { server, index } => (
            "Compact",
            json!({ "server": int(*server), "index": int(*index) }),
        ),
        TAction::ProposeMembership {
            server,
            change,
            target,
        } => (
            "ProposeMembership",
            json!({ "server": int(*server), "change": variant(&format!("{change:?}"), int(*target)) }),
        ),
    };
    (tag.to_string(), variant(tag, value))
}

fn state(index: usize, s: &TState, a: Option<&TAction>, extended: bool) -> Value {
    let (name, act) = action(a);
    let mut out = Map::new();
    out.insert("#meta".into(), json!({ "index": index }));
    out.insert(
        "servers".into(),
        json!({ "#map": s.servers.iter().enumerate().map(|(i, sv)| json!([int(i as u8), server(sv, extended)])).collect::<Vec<_>>() }),
    );
    out.insert(
        "network".into(),
        Value::Array(s.network.iter().map(message).collect()),
    );
    out.insert(
        "faults".into(),
        json!({
            "restarts": int(s.faults.restarts),
            "drops": int(s.faults.drops),
            "duplicates": int(s.faults.duplicates),
        }),
    );
    out.insert("action".into(), act);
    out.insert("mbt::actionTaken".into(), Value::String(name));
    Value::Object(out)
}

/// The ITF trace of `actions` in `model`: the initial state, then the state after each action.
pub fn export(model: &RaftModel, actions: &[Action], description: &str) -> Value {
    let extended = model.params.extended();
    let mut s = model.initial_state();
    let mut states = vec![state(0, &trace::state_to(&s), None, extended)];
    for (k, a) in actions.iter().enumerate() {
        s = model.step(&s, a);
        let ta = trace::action_to(a);
        states.push(state(k + 1, &trace::state_to(&s), Some(&ta), extended));
    }
    json!({
        "#meta": {
            "format": "ITF",
            "format-description": "https://apalache-mc.org/docs/adr/015adr-trace.html",
            "source": "raft-conformance",
            "description": description,
        },
        "vars": ["servers", "network", "faults", "action", "mbt::actionTaken"],
        "states": states,
    })
}
