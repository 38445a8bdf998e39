//! The target of `raft-conformance`: trace files.

use raft_conformance::replay::{self, Replayed};
use raft_conformance::{itf, lockstep, trace};

use crate::shape;

/// A trace file's text, as `raft-conform replay FILE` and `raft-conform convert FILE` read it
/// (`trace::parse`).
///
/// Checks: parsing never panics; a parsed file written back as JSON parses to the same file;
/// and what the two commands then do with it never panics: replaying it in lock step against
/// the impl and judging the run, and converting it (to a JSON trace with the model's states,
/// and to ITF, which is export-only: there is no ITF reader to fuzz).
pub fn trace(data: &[u8]) -> String {
    let Ok(text) = std::str::from_utf8(data) else {
        return "not UTF-8".to_string();
    };
    let loaded = match trace::parse(text) {
        Ok(loaded) => loaded,
        Err(e) => return format!("error: {}", shape(&e)),
    };
    let written = serde_json::to_string(&loaded.file).expect("a trace file serializes");
    let again = trace::parse(&written)
        .unwrap_or_else(|e| panic!("a parsed trace, written back, does not parse: {e}"));
    assert!(
        again.file == loaded.file,
        "a parsed trace, written back, parses differently"
    );

    let run = lockstep::run(&loaded.model, loaded.perturbation, &loaded.actions);
    let judged = match replay::judge(&loaded, &run, "fuzz") {
        Replayed::Conforms { .. } => "conforms".to_string(),
        Replayed::Diverged(_) => "diverges".to_string(),
        Replayed::NotAModelRun { why, .. } => format!("not a model run: {}", shape(&why)),
    };

    // What `raft-conform convert` writes, in either format, once the trace is a run of its
    // model.
    let actions = &loaded.actions;
    if let Err(e) = trace::check_model_run(&loaded.model, actions) {
        return format!("{judged}, not converted: {}", shape(&e));
    }
    let file = trace::from_actions(&loaded.model, None, actions, None, None);
    assert_eq!(
        file.steps.len(),
        actions.len(),
        "a converted trace lost steps"
    );
    let value = itf::export(&loaded.model, actions, "fuzz");
    let states = value["states"].as_array().map_or(0, Vec::len);
    assert_eq!(
        states,
        actions.len() + 1,
        "the ITF export has a state per step and the initial one"
    );
    format!("{} steps, {judged}", loaded.actions.len().min(4))
}
