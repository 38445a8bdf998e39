//! The command line: exit codes, output fields and JSON shape.

use std::process::Command;

fn raft_model(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_raft-model"))
        .args(args)
        .output()
        .expect("the binary runs");
    (
        out.status.code().expect("exits normally"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const SMALL: [&str; 4] = ["--max-term", "2", "--max-log", "2"];

#[test]
fn a_correct_model_exits_0_and_prints_the_figures() {
    let mut args = vec!["check"];
    args.extend(SMALL);
    let (code, out, _) = raft_model(&args);
    assert_eq!(code, 0, "{out}");
    for field in [
        "unique states:",
        "states:",
        "max depth:",
        "seconds:",
        "states per second:",
        "holds",
        "witnessed",
        "(Election Safety)",
    ] {
        assert!(out.contains(field), "missing {field:?} in\n{out}");
    }
}

#[test]
fn a_bug_exits_1_with_a_counterexample_and_its_explorer_url() {
    let (code, out, _) = raft_model(&["check", "--bug", "quorum-off-by-one"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("violated"), "{out}");
    assert!(out.contains("http://127.0.0.1:3000/#/steps/0/"), "{out}");
}

#[test]
fn json_output_has_the_documented_fields() {
    let (code, out, _) = raft_model(&["check", "--bug", "quorum-off-by-one", "--format", "json"]);
    assert_eq!(code, 1);
    let json: serde_json::Value = serde_json::from_str(&out).expect("valid JSON");
    for key in ["unique_states", "states", "seconds", "properties"] {
        assert!(json.get(key).is_some(), "missing {key}");
    }
    let properties = json["properties"].as_array().expect("a list");
    let violated: Vec<_> = properties
        .iter()
        .filter(|p| p["status"] == "violated")
        .collect();
    assert!(!violated.is_empty());
    for p in violated {
        assert_eq!(p["expectation"], "always");
        assert!(p["counterexample"]
            .as_array()
            .is_some_and(|c| !c.is_empty()));
        assert!(p["explorer_url"]
            .as_str()
            .is_some_and(|u| u.contains("#/steps/")));
    }
    for p in properties {
        assert!(p["name"].is_string());
        let status = p["status"].as_str().expect("a status");
        assert!(["holds", "violated", "witnessed", "not witnessed"].contains(&status));
    }
}

#[test]
fn bad_arguments_exit_2_without_a_panic() {
    for args in [
        vec!["check", "--servers", "0"],
        vec!["check", "--servers", "9"],
        vec!["check", "--servers", "300"],
        vec!["check", "--servers", "three"],
        vec!["check", "--bug", "no-such-bug"],
        vec!["check", "--max-entries", "0"],
        vec!["check", "--threads", "0"],
        vec!["check", "--format", "xml"],
        vec!["explore", "--addr", "not-an-address"],
        vec!["frobnicate"],
    ] {
        let (code, _, err) = raft_model(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(!err.trim().is_empty(), "{args:?}: no message");
    }
}

#[test]
fn bugs_lists_every_flag() {
    let (code, out, _) = raft_model(&["bugs"]);
    assert_eq!(code, 0);
    for bug in raft_model::Bug::ALL {
        assert!(out.contains(bug.name()), "{}", bug.name());
    }
}

#[test]
fn stop_on_violation_and_state_limit_end_the_search_early() {
    // The full search at these bounds visits 276,945 states; both options end it far sooner.
    let (code, out, _) = raft_model(&[
        "check",
        "--bug",
        "count-stale-votes",
        "--stop-on-violation",
        "--format",
        "json",
    ]);
    assert_eq!(code, 1, "{out}");
    let report: serde_json::Value = serde_json::from_str(&out).expect("JSON report");
    assert!(report["unique_states"].as_u64().unwrap() < 276_945, "{out}");
    assert!(out.contains("\"violated\""), "{out}");

    let (code, out, _) = raft_model(&["check", "--state-limit", "1000", "--format", "json"]);
    let report: serde_json::Value = serde_json::from_str(&out).expect("JSON report");
    assert!(report["states"].as_u64().unwrap() < 100_000, "{out}");
    assert!(code <= 1, "{out}");
}
