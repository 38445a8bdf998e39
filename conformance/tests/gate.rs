//! The gate end to end with a small budget, three servers throughout. This is also the test
//! command of the mutation runs (`cargo mutants ... -- --test gate`), so it must stay quick.

use raft_conformance::gate::{self, Options, Profile};
use raft_model::{Bounds, Params, Protocol, RaftModel};
use std::time::Duration;

#[test]
fn the_gate_passes_on_the_impl_within_a_small_budget() {
    let exhaustive = RaftModel {
        bounds: Bounds {
            max_term: 2,
            max_log: 2,
            ..Bounds::default()
        },
        params: Params::default(),
        bug: None,
    };
    let walks = vec![Profile {
        model: RaftModel {
            bounds: Bounds {
                servers: 3,
                ..raft_conformance::walk::default_bounds()
            },
            params: Protocol::Production.params(),
            bug: None,
        },
        ..Profile::of(Protocol::Production, None)
    }];
    // Two small profiles: the basic protocol and the production one at bounds far below theirs.
    let production = Profile {
        model: RaftModel {
            bounds: Bounds {
                max_term: 1,
                max_log: 1,
                max_messages: 2,
                max_restarts: 0,
                max_duplicates: 0,
                max_config_changes: 0,
                ..Bounds::default()
            },
            ..Profile::of(Protocol::Production, None).model
        },
        ..Profile::of(Protocol::Production, None)
    };
    let profiles = vec![
        Profile {
            model: exhaustive,
            ..Profile::of(Protocol::Basic, None)
        },
        production,
    ];
    let out = std::env::temp_dir().join(format!("raft-conform-gate-{}", std::process::id()));
    let outcome = gate::run(&Options {
        budget: Duration::from_secs(6),
        seed: 1,
        profiles,
        walks,
        walk_steps: 300,
        min_random: Duration::from_secs(2),
        perturbation: None,
        traces: Some(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("traces")),
        out: out.clone(),
        coverage: false,
    });
    let failures: Vec<String> = outcome
        .cases
        .iter()
        .filter_map(|c| c.failure.clone())
        .collect();
    assert_eq!(outcome.exit_code(), 0, "{}", failures.join("\n"));
    assert_eq!(outcome.cases.len(), 5);
    let _ = std::fs::remove_dir_all(&out);
}
