//! Seeded random walks at five servers conform, and the same seed gives the same walk.

use raft_conformance::coverage::Coverage;
use raft_conformance::walk::{self, default_bounds, Options};
use raft_model::{Params, RaftModel};

fn model() -> RaftModel {
    RaftModel {
        bounds: default_bounds(),
        params: Params::default(),
        bug: None,
    }
}

#[test]
fn seeded_random_walks_at_five_servers_conform() {
    let outcome = walk::run(&Options {
        model: model(),
        perturbation: None,
        seed: 20_261_122,
        steps: 300,
        walks: Some(2000),
        time_limit: None,
        coverage: true,
    });
    if let Some(found) = &outcome.divergence {
        panic!(
            "walk with seed {} diverged after {} steps (open findings: conformance/findings/README.md): {:#?}",
            found.walk_seed,
            found.actions.len(),
            found.mismatch.differences
        );
    }
    assert_eq!(outcome.summary.walks, 2000);
    // The walks reach the interesting parts of the protocol, not just elections.
    let report = outcome.coverage.report();
    for kind in [
        "Deliver AppendEntriesResponse",
        "ClientRequest",
        "Restart",
        "Duplicate",
        "Drop",
    ] {
        assert!(
            report.action_kinds.get(kind).copied().unwrap_or(0) > 0,
            "no {kind}"
        );
    }
    assert!(
        report
            .sometimes_witnessed
            .contains(&raft_model::properties::ENTRY_COMMITTED),
        "{report:#?}"
    );
}

#[test]
fn a_walk_is_a_function_of_its_seed() {
    let m = model();
    let (a, _) = walk::walk(&m, None, 7, 200, &mut Coverage::new(false));
    let (b, _) = walk::walk(&m, None, 7, 200, &mut Coverage::new(false));
    let (c, _) = walk::walk(&m, None, 8, 200, &mut Coverage::new(false));
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn impl_first_runs_are_model_transitions() {
    let outcome = raft_conformance::impl_first::run(&raft_conformance::impl_first::Options {
        seed: 11,
        runs: Some(40),
        ..Default::default()
    });
    if let Some(v) = &outcome.violation {
        panic!("{}", v.render());
    }
    let s = outcome.summary;
    assert_eq!(s.runs, 40);
    // Both kinds of step happened: model events, and inputs the model does not offer.
    assert!(s.model_events > 0 && s.ignored_inputs > 0, "{s:?}");
}
