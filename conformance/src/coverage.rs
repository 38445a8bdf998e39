//! Coverage of what the checked traces exercised: how often each action kind ran, how often each
//! class of transition ran (the action kind with what it did to the server that handled it:
//! role before and after, term raised, log appended or truncated, commit index moved, vote
//! cast), and which `sometimes` properties of the model held in some checked state.

use raft_model::{Action, Body, RaftModel, Role, ServerId, State};
use serde::Serialize;
use stateright::{Expectation, Model};
use std::collections::BTreeMap;

type Condition = fn(&RaftModel, &State) -> bool;

#[derive(Clone, Debug, Default)]
pub struct Coverage {
    enabled: bool,
    sometimes: Vec<(&'static str, Condition)>,
    pub action_kinds: BTreeMap<String, u64>,
    pub transition_classes: BTreeMap<String, u64>,
    /// Per `sometimes` property: in how many checked states it held.
    pub witnessed: BTreeMap<&'static str, u64>,
}

/// The printable form (the JSON report and the text summary).
#[derive(Clone, Debug, Serialize)]
pub struct CoverageReport {
    pub action_kinds: BTreeMap<String, u64>,
    pub transition_classes: BTreeMap<String, u64>,
    pub sometimes_witnessed: Vec<&'static str>,
    pub sometimes_not_witnessed: Vec<&'static str>,
}

impl Coverage {
    /// An empty record; when `enabled` is false every call is a no-op (no cost in the hot loop).
    /// The `sometimes` properties are those of the model of the first checked state.
    pub fn new(enabled: bool) -> Coverage {
        Coverage {
            enabled,
            ..Coverage::default()
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// A state was checked: record the `sometimes` properties it witnesses.
    pub fn state(&mut self, model: &RaftModel, state: &State) {
        if !self.enabled {
            return;
        }
        if self.sometimes.is_empty() {
            self.sometimes = model
                .properties()
                .into_iter()
                .filter(|p| p.expectation == Expectation::Sometimes)
                .map(|p| (p.name, p.condition))
                .collect();
            for (name, _) in &self.sometimes {
                self.witnessed.entry(name).or_default();
            }
        }
        for (name, condition) in &self.sometimes {
            if condition(model, state) {
                *self.witnessed.entry(name).or_default() += 1;
            }
        }
    }

    /// A transition was checked and conformed.
    pub fn transition(&mut self, before: &State, action: &Action, after: &State) {
        if !self.enabled {
            return;
        }
        let kind = action_kind(action);
        *self.action_kinds.entry(kind.clone()).or_default() += 1;
        let class = match handler(action) {
            Some(i) => format!("{kind}: {}", effect(before, after, i)),
            None => kind,
        };
        *self.transition_classes.entry(class).or_default() += 1;
    }

    pub fn merge(&mut self, other: &Coverage) {
        for (k, v) in &other.action_kinds {
            *self.action_kinds.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &other.transition_classes {
            *self.transition_classes.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &other.witnessed {
            *self.witnessed.entry(k).or_default() += v;
        }
        self.enabled |= other.enabled;
        if self.sometimes.is_empty() {
            self.sometimes = other.sometimes.clone();
        }
    }

    pub fn report(&self) -> CoverageReport {
        CoverageReport {
            action_kinds: self.action_kinds.clone(),
            transition_classes: self.transition_classes.clone(),
            sometimes_witnessed: self
                .witnessed
                .iter()
                .filter(|(_, &n)| n > 0)
                .map(|(&k, _)| k)
                .collect(),
            sometimes_not_witnessed: self
                .witnessed
                .iter()
                .filter(|(_, &n)| n == 0)
                .map(|(&k, _)| k)
                .collect(),
        }
    }
}

/// The action's kind; a delivery is named by the message kind it delivers.
pub fn action_kind(action: &Action) -> String {
    match action {
        Action::Timeout(_) => "Timeout".into(),
        Action::Heartbeat(_) => "Heartbeat".into(),
        Action::ClientRequest(..) => "ClientRequest".into(),
        Action::Deliver(m) => format!("Deliver {}", body_kind(&m.body)),
        Action::Drop(_) => "Drop".into(),
        Action::Duplicate(_) => "Duplicate".into(),
        Action::Restart(_) => "Restart".into(),
        Action::CheckQuorum(_) => "CheckQuorum".into(),
        Action::LeaseExpires(_) => "LeaseExpires".into(),
        Action::TransferLeadership(..) => "TransferLeadership".into(),
        Action::AbortTransfer(_) => "AbortTransfer".into(),
        Action::Persist(_) => "Persist".into(),
        Action::Compact(..) => "Compact".into(),
        Action::ProposeMembership(..) => "ProposeMembership".into(),
    }
}

pub fn body_kind(body: &Body) -> &'static str {
    match body {
        Body::RequestVote { pre_vote: true, .. } => "PreVote",
        Body::RequestVote { .. } => "RequestVote",
        Body::RequestVoteResponse { pre_vote: true, .. } => "PreVoteResponse",
        Body::RequestVoteResponse { .. } => "RequestVoteResponse",
        Body::AppendEntries { .. } => "AppendEntries",
        Body::AppendEntriesResponse { .. } => "AppendEntriesResponse",
        Body::TimeoutNow => "TimeoutNow",
        Body::InstallSnapshot { .. } => "InstallSnapshot",
    }
}

/// The server whose state the action may change.
fn handler(action: &Action) -> Option<ServerId> {
    match action {
        Action::Timeout(i)
        | Action::Heartbeat(i)
        | Action::ClientRequest(i, _)
        | Action::Restart(i)
        | Action::CheckQuorum(i)
        | Action::LeaseExpires(i)
        | Action::TransferLeadership(i, _)
        | Action::AbortTransfer(i)
        | Action::Persist(i)
        | Action::Compact(i, _)
        | Action::ProposeMembership(i, _) => Some(*i),
        Action::Deliver(m) => Some(m.dst),
        Action::Drop(_) | Action::Duplicate(_) => None,
    }
}

fn role(r: Role) -> &'static str {
    match r {
        Role::Follower => "follower",
        Role::Candidate => "candidate",
        Role::Leader => "leader",
        Role::PreCandidate => "pre-candidate",
    }
}

fn effect(before: &State, after: &State, i: ServerId) -> String {
    let (b, a) = (&before.servers[i as usize], &after.servers[i as usize]);
    let mut out = format!("{} -> {}", role(b.role), role(a.role));
    if a.current_term > b.current_term {
        out.push_str(", term raised");
    }
    if a.voted_for != b.voted_for && a.voted_for.is_some() && a.voted_for != Some(i) {
        out.push_str(", vote granted");
    }
    if !a.log.starts_with(&b.log) {
        out.push_str(", log truncated");
    } else if a.log.len() > b.log.len() {
        out.push_str(", log appended");
    }
    if a.commit_index > b.commit_index {
        out.push_str(", commit advanced");
    }
    if a.next_index != b.next_index && b.role == Role::Leader && a.role == Role::Leader {
        out.push_str(", next_index moved");
    }
    out
}
