//! The check bites: a mistake injected on the impl side is reported as a divergence with a
//! shrunk, replayable trace; the perturbed impl is exactly the model with the same bug flag; and
//! the correct impl diverges from the model under every bug flag.

use raft_conformance::driver::Perturbation;
use raft_conformance::exhaustive::{self, Options};
use raft_conformance::lockstep;
use raft_conformance::replay::{self, Replayed};
use raft_conformance::{gate, trace};
use raft_model::{Bug, RaftModel};

/// The bug's documented bounds and parameters, with the protocol itself correct.
fn correct_model_at(bug: Bug) -> RaftModel {
    RaftModel {
        bug: None,
        ..RaftModel::for_bug(bug)
    }
}

#[test]
fn every_impl_side_perturbation_is_reported_with_a_shrunk_replayable_trace() {
    let out = std::env::temp_dir().join(format!("raft-conform-test-{}", std::process::id()));
    for p in Perturbation::ALL {
        let model = correct_model_at(p.bug());
        let outcome = exhaustive::run(
            &model,
            &Options {
                perturbation: Some(p),
                ..Options::default()
            },
        );
        let (found, _) = outcome
            .divergence
            .unwrap_or_else(|| panic!("{}: the injected mistake was not caught", p.name()));
        let (d, saved) = gate::settle(&model, Some(p), &found, gate::Source::Exhaustive, &out);
        let path = saved.expect("trace saved");
        assert!(d.actions.len() <= found.len(), "{}", p.name());
        assert!(
            lockstep::diverges(&model, Some(p), &d.actions),
            "{}",
            p.name()
        );
        // The divergence is the perturbation's doing: the same trace conforms without it.
        assert!(
            !lockstep::diverges(&model, None, &d.actions),
            "{}",
            p.name()
        );
        // The saved file replays to the same divergence.
        let loaded = trace::load(&path).expect("saved trace loads");
        assert_eq!(loaded.perturbation, Some(p));
        assert!(matches!(
            replay::replay(&loaded, "test"),
            Replayed::Diverged(_)
        ));
        // The report marks the differing fields.
        assert!(d.render().contains("<<"), "{}", d.render());
    }
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn each_perturbation_is_the_same_mistake_as_its_model_bug_flag() {
    // Left out: with votes granted regardless of logs, the model lets a stale leader truncate a
    // follower's committed entry, which the impl's log refuses to do (a defensive check the
    // model does not have), so the two buggy systems part ways there. The perturbation is still
    // caught by the test above.
    let same = Perturbation::ALL
        .into_iter()
        .filter(|&p| p != Perturbation::VoteWithoutUpToDateCheck);
    for p in same {
        let model = RaftModel::for_bug(p.bug());
        let outcome = exhaustive::run(
            &model,
            &Options {
                perturbation: Some(p),
                ..Options::default()
            },
        );
        if let Some((trace, m)) = &outcome.divergence {
            panic!(
                "{}: perturbed impl differs from the model with the flag after {} steps: {:#?}",
                p.name(),
                trace.len(),
                m.differences
            );
        }
        assert!(outcome.summary.complete && outcome.summary.transitions > 0);
    }
}

#[test]
fn the_impl_diverges_from_the_model_under_every_bug_flag() {
    for bug in Bug::ALL {
        let outcome = exhaustive::run(&RaftModel::for_bug(bug), &Options::default());
        assert!(
            outcome.divergence.is_some(),
            "{}: the impl conforms to the model with this bug",
            bug.name()
        );
    }
}
