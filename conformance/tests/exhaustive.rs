//! Exhaustive mode on small bounds: every transition conforms, the counts are pinned, and the
//! state count agrees with the model checker's own.

use raft_conformance::exhaustive::{self, Options};
use raft_model::check::{check, CheckOptions};
use raft_model::{Bounds, Params, RaftModel};

/// Small enough for a test in release mode, large enough to include an election, replication,
/// a commit, a restart, a drop and a duplicate.
fn small() -> RaftModel {
    RaftModel {
        bounds: Bounds {
            servers: 3,
            max_term: 2,
            max_log: 2,
            values: 1,
            max_messages: 2,
            max_restarts: 1,
            max_drops: 1,
            max_duplicates: 1,
            max_config_changes: 0,
        },
        params: Params::default(),
        bug: None,
    }
}

#[test]
fn a_small_exhaustive_run_conforms_and_its_counts_are_pinned() {
    let outcome = exhaustive::run(&small(), &Options::default());
    if let Some((trace, mismatch)) = &outcome.divergence {
        let text: Vec<String> = trace
            .iter()
            .map(raft_conformance::report::format_action)
            .collect();
        panic!(
            "divergence after {} steps:\n{}\n{:#?}",
            trace.len(),
            text.join("\n"),
            mismatch.differences
        );
    }
    let s = outcome.summary;
    assert!(s.complete);
    // Pinned: a change here means the model's graph or the checker's walk over it changed.
    assert_eq!(
        (s.states, s.transitions),
        (PINNED_STATES, PINNED_TRANSITIONS)
    );
}

const PINNED_STATES: u64 = 259_762;
const PINNED_TRANSITIONS: u64 = 1_589_913;

#[test]
fn the_exhaustive_walk_visits_exactly_the_states_the_model_checker_counts() {
    let model = RaftModel {
        bounds: Bounds {
            max_restarts: 0,
            max_duplicates: 0,
            max_config_changes: 0,
            ..small().bounds
        },
        ..small()
    };
    let ours = exhaustive::run(&model, &Options::default());
    assert!(ours.divergence.is_none() && ours.summary.complete);
    let theirs = check(&model, &CheckOptions::default());
    assert_eq!(ours.summary.states, theirs.unique_states as u64);
}

/// A one-server cluster elects itself and commits alone; a lone leader has no peers to track,
/// yet the model gives it its own nextIndex/matchIndex slots, as it does every leader.
#[test]
fn a_lone_server_conforms_in_the_basic_and_production_protocols() {
    for protocol in [
        raft_model::Protocol::Basic,
        raft_model::Protocol::Production,
    ] {
        let model = RaftModel {
            bounds: Bounds {
                servers: 1,
                ..protocol.bounds()
            },
            params: protocol.params(),
            bug: None,
        };
        let outcome = exhaustive::run(&model, &Options::default());
        assert!(outcome.divergence.is_none(), "{}", protocol.name());
        assert!(outcome.summary.complete && outcome.summary.transitions > 0);
    }
}
