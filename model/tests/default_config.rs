//! The default configuration: every `always` property holds, every `sometimes` twin is
//! witnessed, and the number of unique states is pinned (a change in it means the model's
//! semantics or its state encoding changed).

use raft_model::check::{check, CheckOptions};
use raft_model::{Bounds, RaftModel};

/// Default bounds: 3 servers, max term 3, max log 3, 1 value, 2 messages in flight, one
/// restart, one drop, one duplicate; one entry per AppendEntries, no-op on.
const DEFAULT_UNIQUE_STATES: usize = 4_201_786;

/// The same with max term 2 and max log 2, for a quicker signal.
const SMALL_UNIQUE_STATES: usize = 259_762;

fn assert_all_good(model: &RaftModel, threads: usize, pinned: usize) {
    let report = check(
        model,
        &CheckOptions {
            threads,
            ..CheckOptions::default()
        },
    );
    for p in &report.properties {
        assert!(
            p.status == "holds" || p.status == "witnessed",
            "{}: {} {:?}",
            p.name,
            p.status,
            p.counterexample
        );
    }
    assert!(report.ok());
    assert_eq!(report.unique_states, pinned);
    println!(
        "{} unique states in {:.1} s ({:.0}/s)",
        report.unique_states, report.seconds, report.states_per_second
    );
}

#[test]
fn default_config_holds_and_witnesses_everything() {
    assert_all_good(&RaftModel::default(), 2, DEFAULT_UNIQUE_STATES);
}

#[test]
fn small_config_holds_and_witnesses_everything() {
    let model = RaftModel {
        bounds: Bounds {
            max_term: 2,
            max_log: 2,
            ..Bounds::default()
        },
        ..RaftModel::default()
    };
    assert_all_good(&model, 1, SMALL_UNIQUE_STATES);
}
