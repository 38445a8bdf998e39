//! The driver's command line: exit codes, the seed line, findings saved for panics and for
//! crashes that are not panics.

use std::path::PathBuf;
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_raft-fuzz"))
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("raft-fuzz-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited, not killed")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn bad_arguments_exit_2_with_a_message() {
    let cases: [(&[&str], &str); 5] = [
        (&[], "--target NAME or --all"),
        (&["--target", "nope"], "no target 'nope'"),
        (
            &["--all", "--seconds", "0"],
            "not a positive number of seconds",
        ),
        (
            &["--all", "--seconds=-1"],
            "not a positive number of seconds",
        ),
        (&["--all", "--target", "wal_batch"], "cannot be used with"),
    ];
    for (args, message) in cases {
        let o = bin().args(args).output().unwrap();
        assert_eq!(code(&o), 2, "{args:?}: {}", text(&o));
        assert!(text(&o).contains(message), "{args:?}: {}", text(&o));
    }
}

#[test]
fn a_short_run_prints_its_seed_and_statistics() {
    let findings = scratch("short");
    let o = bin()
        .args(["--target", "wal_batch", "--target", "config"])
        .args(["--runs", "300", "--seed", "7", "--findings"])
        .arg(&findings)
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.starts_with("seed 7 (rerun with --seed 7)\n"), "{out}");
    for t in ["wal_batch", "config"] {
        let line = out.lines().find(|l| l.starts_with(t)).unwrap_or("");
        let execs: u64 = line
            .split_whitespace()
            .nth(1)
            .unwrap_or("0")
            .parse()
            .unwrap();
        assert_eq!(execs, 300, "{out}");
    }
    assert!(out.contains("2 targets, no findings"), "{out}");
    let _ = std::fs::remove_dir_all(&findings);
}

#[test]
fn a_panic_and_an_abort_are_findings_with_their_input_saved() {
    for (word, report) in [("PANIC", "panicked"), ("ABORT", "crashed")] {
        let dir = scratch(word);
        let inputs = dir.join("corpus");
        std::fs::create_dir_all(inputs.join("selftest")).unwrap();
        let input = format!("an input that says {word}");
        std::fs::write(inputs.join("selftest").join("bad"), &input).unwrap();
        let findings = dir.join("findings");
        let o = bin()
            .args(["--target", "selftest", "--runs", "50", "--corpus"])
            .arg(&inputs)
            .arg("--findings")
            .arg(&findings)
            .output()
            .unwrap();
        assert_eq!(code(&o), 1, "{word}: {}", text(&o));
        assert!(text(&o).contains(report), "{word}: {}", text(&o));
        let saved = raft_fuzz::engine::inputs_in(&findings.join("selftest"));
        assert!(
            saved.iter().any(|(_, b)| b == input.as_bytes()),
            "{word}: the input was not saved: {}",
            text(&o)
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
