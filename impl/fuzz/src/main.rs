//! `raft-fuzz`: runs the fuzz targets of `raft_fuzz` with its seeded mutational fuzzer
//! (`specs/fuzzing.md`). Exit status: 0 no finding, 1 a finding (its input is saved under
//! `target/fuzz-findings/<target>/`), 2 a usage error.
//!
//! Each target runs in a child process of its own (this binary with `--worker`), so that a
//! crash that is not a panic (a stack overflow, an abort) or a hang is reported, with the input
//! that caused it, instead of ending the whole run.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use raft_fuzz::engine::{self, Options};
use raft_fuzz::{corpus, Target, TARGETS};

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");
/// Targets run on a thread with the stack of a tokio worker thread, on which the node decodes
/// frames and applies entries: a decoder that recurses too deep for the node fails here too.
const STACK: usize = 2 << 20;
/// A worker still running this long after its time is up is taken to hang.
const GRACE: Duration = Duration::from_secs(60);

#[derive(Parser, Debug)]
#[command(
    name = "raft-fuzz",
    about = "Fuzzes the decoders that read bytes from outside (WAL, snapshots, frames, config, gRPC requests, traces, state machine)",
    after_help = "Exit status: 0 no finding, 1 a finding (input saved under the findings directory), 2 usage error."
)]
struct Args {
    /// A target to fuzz (repeatable); `--list` names them.
    #[arg(long = "target", value_name = "NAME", value_parser = target_name)]
    targets: Vec<&'static str>,
    /// Fuzz every target, one after the other.
    #[arg(long, conflicts_with = "targets")]
    all: bool,
    /// Seconds per target.
    #[arg(long, default_value_t = 10.0, value_parser = positive_seconds)]
    seconds: f64,
    /// Stop a target after this many executions, if sooner.
    #[arg(long)]
    runs: Option<u64>,
    /// Seed of the random mutations (default: from the clock).
    #[arg(long)]
    seed: Option<u64>,
    /// Directory with more inputs per target (`DIR/<target>/*`).
    #[arg(long, value_name = "DIR", default_value_os_t = Path::new(MANIFEST_DIR).join("corpus"))]
    corpus: PathBuf,
    /// Directory with the regression inputs per target (`DIR/<target>/*`).
    #[arg(long, value_name = "DIR", default_value_os_t = Path::new(MANIFEST_DIR).join("regressions"))]
    regressions: PathBuf,
    /// Where inputs that fail a target are saved (`DIR/<target>/<hash>`).
    #[arg(long, value_name = "DIR", default_value_os_t = workspace_dir().join("target/fuzz-findings"))]
    findings: PathBuf,
    /// List the targets and exit.
    #[arg(long)]
    list: bool,
    /// Write the seed corpus as `DIR/<target>/<name>` and exit.
    #[arg(long, value_name = "DIR")]
    write_corpus: Option<PathBuf>,
    /// Run one target in this process (what the driver starts for each target).
    #[arg(long, hide = true, requires = "targets")]
    worker: bool,
}

/// The top folder: `impl/fuzz` is two levels below it.
fn workspace_dir() -> PathBuf {
    let manifest = Path::new(MANIFEST_DIR);
    manifest
        .ancestors()
        .nth(2)
        .unwrap_or(manifest)
        .to_path_buf()
}

fn target_name(s: &str) -> Result<&'static str, String> {
    raft_fuzz::target(s).map(|t| t.name).ok_or_else(|| {
        let names: Vec<&str> = TARGETS.iter().map(|t| t.name).collect();
        format!("no target '{s}'; the targets are {}", names.join(", "))
    })
}

fn positive_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        _ => Err(format!("'{s}' is not a positive number of seconds")),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.list {
        for t in TARGETS {
            println!("{:<14} {}", t.name, t.about);
        }
        return ExitCode::SUCCESS;
    }
    if let Some(dir) = &args.write_corpus {
        return match corpus::write(dir) {
            Ok(n) => {
                println!("{n} seed inputs written under {}", dir.display());
                raft_fuzz::remove_scratch();
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!(
                    "raft-fuzz: cannot write the corpus to {}: {e}",
                    dir.display()
                );
                ExitCode::FAILURE
            }
        };
    }
    let targets: Vec<&'static Target> = if args.all {
        TARGETS.iter().collect()
    } else {
        args.targets
            .iter()
            .filter_map(|n| raft_fuzz::target(n))
            .collect()
    };
    if targets.is_empty() {
        eprintln!("raft-fuzz: give --target NAME or --all (--list names the targets)");
        return ExitCode::from(2);
    }
    let seed = args.seed.unwrap_or_else(clock_seed);
    if args.worker {
        return worker(&args, targets[0], seed);
    }
    println!("seed {seed} (rerun with --seed {seed})");
    println!(
        "{:<14} {:>10} {:>10} {:>6} {:>9} {:>11}",
        "target", "execs", "execs/s", "kept", "findings", "slowest ms"
    );
    let mut failed = 0;
    for t in &targets {
        if !supervise(&args, t, seed) {
            failed += 1;
        }
    }
    if failed > 0 {
        println!(
            "{failed} of {} targets failed; inputs are under {}",
            targets.len(),
            args.findings.display()
        );
        ExitCode::from(1)
    } else {
        println!("{} targets, no findings", targets.len());
        ExitCode::SUCCESS
    }
}

fn clock_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    engine::hash(&(nanos ^ u64::from(std::process::id())).to_le_bytes())
}

fn in_flight_path(args: &Args, t: &Target) -> PathBuf {
    args.findings.join(t.name).join(".in-flight")
}

/// Fuzzes one target in this process and prints its statistics for the driver.
fn worker(args: &Args, t: &'static Target, seed: u64) -> ExitCode {
    engine::capture_panics();
    let seeds = corpus::seeds()
        .into_iter()
        .filter(|s| s.target == t.name)
        .map(|s| s.bytes)
        .collect();
    let opts = Options {
        duration: Duration::from_secs_f64(args.seconds),
        runs: args.runs,
        seed: engine::target_seed(seed, t.name),
        inputs: vec![args.corpus.join(t.name), args.regressions.join(t.name)],
        findings: args.findings.join(t.name),
        in_flight: Some(in_flight_path(args, t)),
        show_outcomes: std::env::var_os("RAFT_FUZZ_SHOW").is_some(),
    };
    let report = std::thread::Builder::new()
        .name(t.name.to_string())
        .stack_size(STACK)
        .spawn(move || engine::run(t, seeds, &opts))
        .and_then(|h| {
            h.join()
                .map_err(|_| std::io::Error::other("the fuzzing thread panicked"))
        });
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            eprintln!("raft-fuzz: {}: {e}", t.name);
            return ExitCode::FAILURE;
        }
    };
    raft_fuzz::remove_scratch();
    println!(
        "stats {} {:.3} {} {} {:.1}",
        report.execs,
        report.elapsed.as_secs_f64(),
        report.kept,
        report.findings.len(),
        report.slowest.as_secs_f64() * 1000.0
    );
    if report.findings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Runs one target in a worker process and prints its line; false if it found something.
fn supervise(args: &Args, t: &Target, seed: u64) -> bool {
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("raft-fuzz: cannot find its own executable: {e}");
            return false;
        }
    };
    let mut cmd = Command::new(exe);
    cmd.arg("--worker")
        .args(["--target", t.name])
        .args(["--seconds", &args.seconds.to_string()])
        .args(["--seed", &seed.to_string()])
        .arg("--corpus")
        .arg(&args.corpus)
        .arg("--regressions")
        .arg(&args.regressions)
        .arg("--findings")
        .arg(&args.findings)
        .stdout(Stdio::piped());
    if let Some(runs) = args.runs {
        cmd.args(["--runs", &runs.to_string()]);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("raft-fuzz: cannot start the worker for {}: {e}", t.name);
            return false;
        }
    };
    let pid = child.id();
    let stdout = child.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<String>>()
    });
    let deadline = Instant::now() + Duration::from_secs_f64(args.seconds) + GRACE;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                eprintln!("raft-fuzz: waiting for the worker of {}: {e}", t.name);
                break None;
            }
        }
    };
    // A worker that crashed or hung left its scratch files.
    let _ = std::fs::remove_dir_all(raft_fuzz::scratch_root_of(pid));
    let lines = reader.join().unwrap_or_default();
    let stats = lines.iter().find_map(|l| l.strip_prefix("stats "));
    for l in lines.iter().filter(|l| !l.starts_with("stats ")) {
        println!("{l}");
    }
    let clean = status.is_some_and(|s| s.success());
    match (stats, status) {
        (Some(stats), Some(status)) if status.success() || status.code() == Some(1) => {
            let f: Vec<&str> = stats.split(' ').collect();
            let execs: f64 = f[0].parse().unwrap_or(0.0);
            let secs: f64 = f[1].parse().unwrap_or(1.0);
            println!(
                "{:<14} {:>10} {:>10.0} {:>6} {:>9} {:>11}",
                t.name,
                f[0],
                execs / secs.max(1e-9),
                f[2],
                f[3],
                f[4]
            );
        }
        (_, status) => {
            let how = match status {
                None => "hung (killed after its time was up)".to_string(),
                Some(s) => format!("crashed ({s})"),
            };
            let input = engine::read_in_flight(&in_flight_path(args, t));
            let _ = std::fs::remove_file(in_flight_path(args, t));
            match input {
                Some(input) => {
                    let saved = engine::save_input(&args.findings.join(t.name), &input);
                    println!(
                        "{:<14} {how}; the input it was running is saved to {}",
                        t.name,
                        saved.display()
                    );
                }
                None => println!("{:<14} {how}; no input was recorded", t.name),
            }
        }
    }
    clean
}
