//! Catches silent state merging: an independent search over full states must reach exactly as
//! many states as the stateright checker reports unique, and symmetry reduction must land
//! between the exact number of orbits and the full count with the same verdicts.

mod common;

use common::full_search;
use raft_model::check::{check, CheckOptions};
use raft_model::symmetry::rename;
use raft_model::{Bounds, Bug, Protocol, RaftModel, ServerId, State};
use std::collections::HashSet;
use std::sync::OnceLock;

fn small(servers: u8) -> RaftModel {
    RaftModel {
        bounds: Bounds {
            servers,
            max_term: 2,
            max_log: 2,
            values: 1,
            max_messages: 2,
            max_restarts: 1,
            max_drops: 1,
            max_duplicates: 1,
            max_config_changes: 0,
        },
        ..RaftModel::default()
    }
}

/// The full-state search of `small(3)`, done once for the tests that need it.
fn three_servers_reachable() -> &'static HashSet<State> {
    static REACHABLE: OnceLock<HashSet<State>> = OnceLock::new();
    REACHABLE.get_or_init(|| full_search(&small(3)).reachable)
}

/// The checker's unique-state count equals `reachable`, the full-state search's.
fn assert_same_count(model: &RaftModel, reachable: usize, threads: usize) {
    let report = check(
        model,
        &CheckOptions {
            threads,
            ..CheckOptions::default()
        },
    );
    assert_eq!(
        report.unique_states, reachable,
        "checker and full-state search disagree for {model:?}"
    );
}

#[test]
fn checker_counts_every_state_of_three_servers() {
    assert_same_count(&small(3), three_servers_reachable().len(), 1);
}

#[test]
fn checker_counts_every_state_with_two_threads() {
    assert_same_count(&small(3), three_servers_reachable().len(), 2);
}

#[test]
fn checker_counts_every_state_of_one_and_two_servers() {
    for servers in [1, 2] {
        let model = small(servers);
        assert_same_count(&model, full_search(&model).reachable.len(), 1);
    }
}

/// Every production extension on, at bounds small enough for the full-state search (with a
/// restart and a drop, so writes in progress are lost and pre-votes can finish).
fn small_production() -> RaftModel {
    RaftModel {
        bounds: Bounds {
            max_term: 1,
            max_log: 1,
            max_messages: 2,
            max_duplicates: 0,
            max_config_changes: 0,
            ..small(3).bounds
        },
        params: Protocol::Production.params(),
        bug: None,
    }
}

#[test]
fn checker_counts_every_state_of_the_production_protocol() {
    let model = small_production();
    assert_same_count(&model, full_search(&model).reachable.len(), 1);
}

#[test]
fn checker_counts_every_state_under_a_bug() {
    let model = RaftModel::for_bug(Bug::ForgetVotedForOnRestart);
    assert_same_count(&model, full_search(&model).reachable.len(), 1);
}

/// The least of the renamings of `state` under every permutation of the server ids.
fn canonical(state: &State) -> State {
    let n = state.servers.len();
    permutations(n)
        .into_iter()
        .map(|order| {
            let mut new_id = vec![0 as ServerId; n];
            for (new, &old) in order.iter().enumerate() {
                new_id[old] = new as ServerId;
            }
            rename(state, &order, &new_id)
        })
        .min()
        .expect("at least one permutation")
}

fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![Vec::new()];
    }
    let mut out = Vec::new();
    for p in permutations(n - 1) {
        for at in 0..=p.len() {
            let mut q = p.clone();
            q.insert(at, n - 1);
            out.push(q);
        }
    }
    out
}

#[test]
fn symmetry_reduces_soundly() {
    assert_symmetry_sound(&small(3), three_servers_reachable());
}

/// The production protocol's state has more fields that name servers (transfer targets,
/// check-quorum's record, flow control, writes in progress); renaming must cover them all.
#[test]
fn symmetry_reduces_the_production_protocol_soundly() {
    let model = small_production();
    assert_symmetry_sound(&model, &full_search(&model).reachable);
}

fn assert_symmetry_sound(model: &RaftModel, reachable: &HashSet<State>) {
    let orbits: HashSet<State> = reachable.iter().map(canonical).collect();
    let plain = check(model, &CheckOptions::default());
    let reduced = check(
        model,
        &CheckOptions {
            symmetry: true,
            ..CheckOptions::default()
        },
    );
    assert!(
        orbits.len() <= reduced.unique_states && reduced.unique_states < plain.unique_states,
        "orbits {} <= reduced {} < full {}",
        orbits.len(),
        reduced.unique_states,
        plain.unique_states
    );
    for (a, b) in plain.properties.iter().zip(&reduced.properties) {
        assert_eq!(a.status, b.status, "{}", a.name);
    }
    println!(
        "full {} states, symmetry {} representatives, {} orbits",
        plain.unique_states,
        reduced.unique_states,
        orbits.len()
    );
}
