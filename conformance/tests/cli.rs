//! The command line: exit codes, clear errors on malformed traces, well-formed JUnit.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_raft-conform"))
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("raft-conform-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn traces_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("traces")
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited normally, not by a signal")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn malformed_trace_files_exit_2_with_a_clear_error() {
    let dir = scratch("malformed");
    let good =
        std::fs::read_to_string(traces_dir().join("election-replication-commit.json")).unwrap();
    let cases: Vec<(&str, String, &str)> = vec![
        ("empty", String::new(), "not a valid trace file"),
        (
            "not-json",
            "{ this is not json".into(),
            "not a valid trace file",
        ),
        (
            "wrong-format",
            good.replace("raft-conformance-trace", "something-else"),
            "format",
        ),
        (
            "wrong-version",
            good.replace("\"version\": 1", "\"version\": 99"),
            "version 99",
        ),
        (
            "unknown-field",
            good.replace("\"steps\":", "\"stepz\": [], \"steps\":"),
            "unknown field",
        ),
        (
            "unknown-message-field",
            good.replacen("\"granted\":", "\"grantd\": true, \"granted\":", 1),
            "unknown field `grantd`",
        ),
        (
            "bad-server",
            good.replace("\"server\": 0", "\"server\": 7"),
            "not a server",
        ),
        (
            "out-of-range",
            good.replace("\"max_term\": 3", "\"max_term\": 300"),
            "u8",
        ),
        (
            // A run could take the model's byte-sized terms past 255 (they wrapped around).
            "term-bound-too-high",
            good.replace("\"max_term\": 3", "\"max_term\": 255"),
            "--max-term and --max-log must be at most 250",
        ),
        (
            "unknown-bug",
            good.replace("\"bug\": null", "\"bug\": \"no-such-bug\""),
            "unknown bug",
        ),
        (
            "bad-action",
            good.replace("\"Timeout\"", "\"Teleport\""),
            "Teleport",
        ),
    ];
    for (name, text, expected) in cases {
        let path = dir.join(format!("{name}.json"));
        std::fs::write(&path, text).unwrap();
        let o = bin().arg("replay").arg(&path).output().unwrap();
        assert_eq!(code(&o), 2, "{name}: {}", stderr(&o));
        assert!(stderr(&o).contains(expected), "{name}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{name}: {}", stderr(&o));
    }
    let o = bin()
        .arg("replay")
        .arg(dir.join("missing.json"))
        .output()
        .unwrap();
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("cannot read"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_arguments_exit_2() {
    for args in [
        vec!["gate", "--budget", "-1"],
        vec!["gate", "--budget", "soon"],
        vec!["exhaustive", "--servers", "0"],
        vec!["walk", "--bug", "no-such-bug"],
        vec!["no-such-command"],
    ] {
        let o = bin().args(&args).output().unwrap();
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
    }
    // Numbers that parse but are no durations reach the program's own check.
    for args in [
        vec!["gate", "--budget=-1"],
        vec!["gate", "--budget", "inf"],
        vec!["gate", "--budget", "NaN"],
    ] {
        let o = bin().args(&args).output().unwrap();
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("must be a non-negative number of seconds"),
            "{args:?}: {}",
            stderr(&o)
        );
    }
}

#[test]
fn the_saved_traces_replay_through_the_cli() {
    let files = raft_conformance::gate::trace_files(&traces_dir()).unwrap();
    assert!(!files.is_empty(), "no saved traces");
    for path in files {
        let o = bin().arg("replay").arg(&path).output().unwrap();
        assert_eq!(code(&o), 0, "{}: {}", path.display(), stderr(&o));
    }
}

#[test]
fn convert_writes_runs_of_the_model_and_refuses_other_traces() {
    let dir = scratch("convert");
    let good = traces_dir().join("election-replication-commit.json");
    let out = dir.join("good.itf.json");
    let o = bin()
        .arg("convert")
        .arg(&good)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // A heartbeat from a server that does not lead is no step of the model: converting the
    // trace used to step the model through it and panic.
    let mut trace: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&good).unwrap()).unwrap();
    let steps = trace["steps"].as_array_mut().unwrap();
    steps.insert(
        0,
        serde_json::json!({ "action": { "type": "Heartbeat", "server": 1 } }),
    );
    let bad = dir.join("not-a-run.json");
    std::fs::write(&bad, trace.to_string()).unwrap();
    for format in ["itf", "json"] {
        let out = dir.join(format!("bad.{format}"));
        let o = bin()
            .args(["convert", "--format", format])
            .arg(&bad)
            .arg("-o")
            .arg(&out)
            .output()
            .unwrap();
        assert_eq!(code(&o), 1, "{format}: {}", stderr(&o));
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("steps[0].action: Heartbeat"),
            "{}",
            String::from_utf8_lossy(&o.stdout)
        );
        assert!(!out.exists(), "{format}: written although refused");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_model_counterexample_is_written_as_a_trace_and_diverges_on_replay() {
    let dir = scratch("counterexample");
    let path = dir.join("quorum.json");
    let o = bin()
        .args(["counterexample", "--bug", "quorum-off-by-one", "-o"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = bin()
        .arg("replay")
        .arg(&path)
        .arg("--out")
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("DIVERGENCE"));
    // ITF export of the same counterexample is JSON with the ITF shape.
    let itf = dir.join("quorum.itf.json");
    let o = bin()
        .args([
            "counterexample",
            "--bug",
            "quorum-off-by-one",
            "--format",
            "itf",
            "-o",
        ])
        .arg(&itf)
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&itf).unwrap()).unwrap();
    assert_eq!(v["#meta"]["format"], "ITF");
    let states = v["states"].as_array().unwrap();
    assert!(states.len() > 1);
    assert_eq!(states[0]["servers"]["#map"].as_array().unwrap().len(), 3);
    assert_eq!(states[1]["mbt::actionTaken"], "Timeout");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Parses the XML and returns (tests, failures) of the one test suite.
fn junit_counts(xml: &str) -> (usize, usize, usize) {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let (mut cases, mut failures, mut declared_failures) = (0, 0, usize::MAX);
    let mut depth = 0i32;
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) => {
                depth += 1;
                match e.name().as_ref() {
                    "testcase" => cases += 1,
                    "failure" => failures += 1,
                    "testsuite" => {
                        let attr = e
                            .try_get_attribute("failures")
                            .unwrap()
                            .expect("failures attribute");
                        declared_failures = attr.value.parse().unwrap();
                    }
                    _ => {}
                }
            }
            Event::End(_) => depth -= 1,
            Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(depth, 0, "unbalanced elements");
    (cases, failures, declared_failures)
}

#[test]
fn the_gate_writes_well_formed_junit_and_its_exit_code_matches() {
    let dir = scratch("gate");
    let junit = dir.join("junit.xml");
    let o = bin()
        .args([
            "gate",
            "--budget",
            "2",
            "--min-random",
            "1",
            "--seed",
            "5",
            "--max-term",
            "1",
            "--max-log",
            "1",
            "--max-restarts",
            "0",
            "--max-duplicates",
            "0",
            "--junit",
        ])
        .arg(&junit)
        .arg("--traces")
        .arg(traces_dir())
        .arg("--out")
        .arg(&dir)
        .output()
        .unwrap();
    let xml = std::fs::read_to_string(&junit).expect("junit written");
    let (cases, failures, declared) = junit_counts(&xml);
    assert_eq!(failures, declared);
    if failures == 0 {
        // Saved traces, one exhaustive case per profile, walks per walked protocol, impl-first.
        let profiles = raft_model::Protocol::ALL.len();
        let walks = raft_model::protocol::walk_profiles().len();
        assert_eq!((cases, code(&o)), (2 + profiles + walks, 0), "{xml}");
    } else {
        // The gate stops at the first diverging stage, and exits 1 with a saved trace.
        assert_eq!((failures, code(&o)), (1, 1), "{xml}");
        assert!(std::fs::read_dir(&dir).unwrap().any(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("divergence-")
        }));
    }
    assert!(String::from_utf8_lossy(&o.stdout).contains("seed 5"));
    // Markup in a report cannot break the XML.
    let tricky = raft_conformance::junit::render(
        "s<&>",
        &[raft_conformance::junit::Case {
            name: "a\"b'<c>".into(),
            seconds: 0.5,
            output: "x < y && z > w \u{1}".into(),
            failure: Some("diverged: <<\nmodel & impl".into()),
        }],
    );
    assert_eq!(junit_counts(&tricky), (1, 1, 1));
    let _ = std::fs::remove_dir_all(&dir);
}
