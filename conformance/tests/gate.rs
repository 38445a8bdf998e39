//! The gate end to end with a small budget, three servers throughout. This is also the test
//! command of the mutation runs (`cargo mutants ... -- --test gate`), so it must stay quick.

use raft_conformance::gate::{self, Options};
use raft_model::{Bounds, Params, RaftModel};
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
    let walks = RaftModel {
        bounds: Bounds {
            servers: 3,
            ..raft_conformance::walk::default_bounds()
        },
        ..exhaustive.clone()
    };
    let out = std::env::temp_dir().join(format!("raft-conform-gate-{}", std::process::id()));
    let outcome = gate::run(&Options {
        budget: Duration::from_secs(6),
        seed: 1,
        exhaustive,
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
    assert_eq!(outcome.cases.len(), 4);
    let _ = std::fs::remove_dir_all(&out);
}
