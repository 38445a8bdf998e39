//! Every checked-in input through its target: the seed corpus (`corpus/<target>/*`, which must
//! be what the generator writes) and the regression inputs (`regressions/<target>/*`, one per
//! bug the fuzzers found and that was fixed). A target panics on a failed check, so this fails
//! on any of them regressing.

use std::path::{Path, PathBuf};

use raft_fuzz::{corpus, engine};

fn dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
}

/// The subdirectories of `root`, each named after a target.
fn target_dirs(root: &Path) -> Vec<(String, PathBuf)> {
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), p))
        .collect();
    out.sort();
    out
}

/// Runs every input under `root` on a thread with a tokio worker's stack (2 MiB), as the
/// driver does; returns how many ran.
fn run_inputs(root: &Path) -> usize {
    let root = root.to_path_buf();
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let mut ran = 0;
            let mut failed = Vec::new();
            for (name, path) in target_dirs(&root) {
                let target = raft_fuzz::target(&name)
                    .unwrap_or_else(|| panic!("{} is not named after a target", path.display()));
                let inputs = engine::inputs_in(&path);
                assert!(!inputs.is_empty(), "{} is empty", path.display());
                for (file, bytes) in inputs {
                    ran += 1;
                    let run = std::panic::catch_unwind(|| (target.run)(&bytes));
                    if run.is_err() {
                        failed.push(file.display().to_string());
                    }
                }
            }
            raft_fuzz::remove_scratch();
            assert!(
                failed.is_empty(),
                "inputs that fail their target: {failed:#?}"
            );
            ran
        })
        .unwrap()
        .join()
        .unwrap()
}

#[test]
fn the_corpus_passes_its_targets() {
    let ran = run_inputs(&dir("corpus"));
    assert!(ran >= raft_fuzz::TARGETS.len());
}

#[test]
fn the_regression_inputs_pass_their_targets() {
    let ran = run_inputs(&dir("regressions"));
    assert!(ran > 0);
}

#[test]
fn every_target_has_seeds_and_the_corpus_is_what_the_generator_writes() {
    let seeds = corpus::seeds();
    for t in raft_fuzz::TARGETS {
        assert!(
            seeds.iter().any(|s| s.target == t.name),
            "{} has no seed",
            t.name
        );
    }
    let regenerate = "regenerate it with `cargo run --release --bin raft-fuzz -- --write-corpus impl/fuzz/corpus`";
    let mut checked_in = 0;
    for (name, path) in target_dirs(&dir("corpus")) {
        for (file, bytes) in engine::inputs_in(&path) {
            checked_in += 1;
            let file_name = file.file_name().unwrap().to_string_lossy().into_owned();
            let seed = seeds
                .iter()
                .find(|s| s.target == name && s.name == file_name)
                .unwrap_or_else(|| panic!("{} is no seed; {regenerate}", file.display()));
            assert!(
                seed.bytes == bytes,
                "{} is out of date; {regenerate}",
                file.display()
            );
        }
    }
    assert_eq!(checked_in, seeds.len(), "seeds are missing; {regenerate}");
    for s in &seeds {
        let t = raft_fuzz::target(s.target).unwrap();
        assert!(
            s.bytes.len() <= t.max_len,
            "seed {}/{} is longer than the target's inputs",
            s.target,
            s.name
        );
    }
    raft_fuzz::remove_scratch();
}
