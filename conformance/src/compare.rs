//! Comparing the model's state with the abstracted impl cluster: a cheap yes/no used on every
//! transition, and the field-by-field differences used only to explain a divergence.

use crate::abstraction;
use crate::driver::Cluster;
use raft_model::{Message, Params, Payload, Role, Server, State};

/// One field that differs: where, and its value on each side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    pub field: String,
    pub model: String,
    pub impl_side: String,
}

/// Whether every server and the network abstract to the model's. Allocates nothing on the
/// common path (this runs once per transition checked).
pub fn conforms(expected: &State, cluster: &Cluster) -> bool {
    expected.servers.len() == cluster.len()
        && expected.servers.iter().enumerate().all(|(i, s)| {
            server_matches(s, cluster.node(i), cluster.len(), &cluster.model().params)
                && extensions_match(s, cluster, i)
        })
        && expected.network.len() == cluster.network().len()
        && expected
            .network
            .messages()
            .iter()
            .zip(cluster.network())
            .all(|(m, f)| *m == f.abs)
}

/// The fields of the basic protocol.
fn server_matches(s: &Server, node: &raft_core::Node, n: usize, params: &Params) -> bool {
    let role = match node.role() {
        raft_core::Role::Follower => Role::Follower,
        raft_core::Role::Candidate => Role::Candidate,
        raft_core::Role::Leader => Role::Leader,
        raft_core::Role::PreCandidate => Role::PreCandidate,
    };
    let log_matches = || {
        // Below a snapshot the log is the snapshot's data: compared through the abstraction,
        // which allocates, only when there is one.
        if node.snapshot().index != 0 || s.snapshot != 0 {
            return node.snapshot().index == s.snapshot as u64
                && abstraction::server(node, n, params).is_ok_and(|a| a.log == s.log);
        }
        node.entries().len() == s.log.len()
            && node.entries().iter().zip(&s.log).all(|(e, m)| {
                e.term == m.term as u64
                    && match (&e.payload, m.payload) {
                        (raft_core::Payload::Noop, Payload::Noop) => true,
                        (raft_core::Payload::Normal(d), Payload::Value(v)) => d[..] == [v],
                        (raft_core::Payload::Config(c), Payload::Config(m)) => {
                            abstraction::membership(c).is_ok_and(|c| c == m)
                        }
                        _ => false,
                    }
            })
    };
    let votes_match = || {
        let votes = node.votes_granted();
        votes.len() == s.votes_granted.len()
            && votes
                .iter()
                .all(|&v| v < 8 && s.votes_granted.contains(v as u8))
    };
    let progress_matches = || {
        let ps = node.progresses();
        // A lone leader has no peers to track but, like every leader, its own slots.
        if ps.is_empty() && node.role() != raft_core::Role::Leader {
            return s.next_index.is_empty() && s.match_index.is_empty();
        }
        s.next_index.len() == n
            && s.match_index.len() == n
            && (0..n).all(|p| match ps.get(&(p as u64)) {
                Some(pr) => {
                    pr.next_index == s.next_index[p] as u64
                        && pr.match_index == s.match_index[p] as u64
                }
                // Its own slot, or a server outside its configuration.
                None => s.next_index[p] == 0 && s.match_index[p] == 0,
            })
    };
    role == s.role
        && node.term() == s.current_term as u64
        && node.voted_for() == s.voted_for.map(u64::from)
        && node.commit_index() == s.commit_index as u64
        && log_matches()
        && votes_match()
        && progress_matches()
}

/// The fields the production protocol's extensions add. Flow control and a write in progress
/// are compared through the abstraction, which allocates, only when either side has one.
fn extensions_match(s: &Server, cluster: &Cluster, i: usize) -> bool {
    let node = cluster.node(i);
    let params = &cluster.model().params;
    let leader = node.role() == raft_core::Role::Leader;
    let lease = node.role() == raft_core::Role::Follower && node.in_lease();
    let heard_matches = || {
        if !(leader && params.check_quorum) {
            return s.heard.is_empty();
        }
        let active = node.progresses().iter().filter(|(_, p)| p.recent_active());
        active.clone().count() == s.heard.len()
            && active
                .into_iter()
                .all(|(&peer, _)| peer < 8 && s.heard.contains(peer as u8))
    };
    let flow_matches = || {
        if s.flow.is_empty() && !(leader && params.pipelining()) {
            return true;
        }
        abstraction::server(node, cluster.len(), params).is_ok_and(|a| a.flow == s.flow)
    };
    let pending_matches = || match (&s.pending, cluster.held(i)) {
        (None, None) => true,
        _ => abstraction::pending(cluster, i).is_ok_and(|p| p == s.pending),
    };
    s.lease == lease
        && s.transfer.map(u64::from) == node.transfer_target()
        && heard_matches()
        && flow_matches()
        && pending_matches()
}

/// Every field in which the abstracted cluster differs from `expected`.
pub fn differences(expected: &State, cluster: &Cluster) -> Vec<Difference> {
    let mut out = Vec::new();
    for (i, s) in expected.servers.iter().enumerate() {
        if i >= cluster.len() {
            break;
        }
        match abstraction::cluster_server(cluster, i) {
            Ok(a) => server_differences(&format!("servers[{i}]"), s, &a, &mut out),
            Err(why) => out.push(Difference {
                field: format!("servers[{i}]"),
                model: format!("{s:?}"),
                impl_side: format!("no abstraction: {why}"),
            }),
        }
    }
    let impl_network: Vec<Message> = cluster.network().iter().map(|f| f.abs.clone()).collect();
    network_differences(expected.network.messages(), &impl_network, &mut out);
    out
}

/// A server state's fields as they are compared and shown, by name.
pub fn server_fields(s: &Server) -> [(&'static str, String); 14] {
    [
        ("role", format!("{:?}", s.role)),
        ("current_term", s.current_term.to_string()),
        ("voted_for", format!("{:?}", s.voted_for)),
        ("log", format_log(&s.log)),
        ("snapshot", s.snapshot.to_string()),
        ("commit_index", s.commit_index.to_string()),
        (
            "votes_granted",
            format!("{:?}", s.votes_granted.iter().collect::<Vec<_>>()),
        ),
        ("next_index", format!("{:?}", s.next_index)),
        ("match_index", format!("{:?}", s.match_index)),
        ("lease", s.lease.to_string()),
        ("heard", format!("{:?}", s.heard.iter().collect::<Vec<_>>())),
        ("transfer", format!("{:?}", s.transfer)),
        ("flow", format!("{:?}", s.flow)),
        (
            "pending",
            match &s.pending {
                None => "none".to_string(),
                Some(p) => format!(
                    "stored term {} vote {:?} log {}; waiting: {}",
                    p.term,
                    p.voted_for,
                    format_log(&p.log),
                    p.outbox
                        .iter()
                        .map(crate::report::format_message)
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            },
        ),
    ]
}

/// The fields of two server states that differ.
pub fn server_differences(prefix: &str, m: &Server, a: &Server, out: &mut Vec<Difference>) {
    for ((name, x), (_, y)) in server_fields(m).into_iter().zip(server_fields(a)) {
        if x != y {
            out.push(Difference {
                field: format!("{prefix}.{name}"),
                model: x,
                impl_side: y,
            });
        }
    }
}

/// Messages in flight on one side only (multiset difference, both sides sorted).
pub fn network_differences(model: &[Message], impl_side: &[Message], out: &mut Vec<Difference>) {
    let (only_model, only_impl) = multiset_difference(model, impl_side);
    for m in only_model {
        out.push(Difference {
            field: "network".to_string(),
            model: crate::report::format_message(&m),
            impl_side: "(absent)".to_string(),
        });
    }
    for m in only_impl {
        out.push(Difference {
            field: "network".to_string(),
            model: "(absent)".to_string(),
            impl_side: crate::report::format_message(&m),
        });
    }
}

/// (a - b, b - a) for sorted multisets.
pub fn multiset_difference<T: Ord + Clone>(a: &[T], b: &[T]) -> (Vec<T>, Vec<T>) {
    let (mut i, mut j) = (0, 0);
    let (mut only_a, mut only_b) = (Vec::new(), Vec::new());
    while i < a.len() || j < b.len() {
        match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) if x == y => {
                i += 1;
                j += 1;
            }
            (Some(x), Some(y)) if x < y => {
                only_a.push(x.clone());
                i += 1;
            }
            (Some(_), Some(y)) => {
                only_b.push(y.clone());
                j += 1;
            }
            (Some(x), None) => {
                only_a.push(x.clone());
                i += 1;
            }
            (None, Some(y)) => {
                only_b.push(y.clone());
                j += 1;
            }
            (None, None) => break,
        }
    }
    (only_a, only_b)
}

pub fn format_log(log: &[raft_model::Entry]) -> String {
    let items: Vec<String> = log
        .iter()
        .map(|e| match e.payload {
            Payload::Noop => format!("{}:noop", e.term),
            Payload::Value(v) => format!("{}:v{v}", e.term),
            Payload::Config(m) => format!("{}:{}", e.term, raft_model::svg::format_membership(&m)),
        })
        .collect();
    format!("[{}]", items.join(", "))
}
