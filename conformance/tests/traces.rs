//! Every saved trace under conformance/traces/ replays and conforms; traces written by the tool
//! read back identically.

use raft_conformance::replay::{self, Replayed};
use raft_conformance::{gate, trace};
use std::path::Path;

#[test]
fn every_saved_trace_replays_and_conforms() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("traces");
    let files = gate::trace_files(&dir).unwrap();
    assert!(!files.is_empty());
    for path in files {
        let loaded = trace::load(&path).unwrap_or_else(|e| panic!("{e}"));
        match replay::replay(&loaded, "test") {
            Replayed::Conforms { steps } => assert!(steps > 0),
            Replayed::Diverged(d) => panic!("{}", d.render()),
            Replayed::NotAModelRun { step, why } => {
                panic!("{}: step {step}: {why}", path.display())
            }
        }
    }
}

#[test]
fn a_written_trace_reads_back_to_the_same_actions_and_states() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("traces/election-replication-commit.json");
    let loaded = trace::load(&path).unwrap();
    let file = trace::from_actions(&loaded.model, None, &loaded.actions, None, None);
    let text = serde_json::to_string(&file).unwrap();
    let again = trace::parse(&text).unwrap();
    assert_eq!(again.actions, loaded.actions);
    assert!(again.states.iter().all(Option::is_some));
    // A recorded state that the model does not reach is refused.
    let mut tampered = file.clone();
    if let Some(s) = tampered.steps[0].state.as_mut() {
        s.servers[0].current_term = 9;
    }
    let tampered = trace::parse(&serde_json::to_string(&tampered).unwrap()).unwrap();
    assert!(matches!(
        replay::replay(&tampered, "test"),
        Replayed::NotAModelRun { step: 1, .. }
    ));
}
