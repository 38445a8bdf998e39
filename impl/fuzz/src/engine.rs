//! A seeded mutational fuzzer for the targets: no coverage feedback, no external crate.
//!
//! It starts from the seed inputs and keeps a corpus: each step picks a corpus input, applies
//! one to four mutations (bit flips, random and interesting bytes and integers, insertions,
//! deletions, repeats of a chunk, splices with another input, numbers in text, truncation), and
//! runs the target under `catch_unwind`. An input whose outcome (the target's description of
//! what happened) was not seen before joins the corpus. A panic is a finding: its input is
//! saved under its hash, once per distinct panic.
//!
//! Everything random comes from one seed, so a run with the same seed makes the same inputs
//! in the same order.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::{shape, Target};
use raft_core::rng::Rng;

/// Most inputs kept per target.
const MAX_CORPUS: usize = 4096;
/// Most distinct findings recorded per target.
const MAX_FINDINGS: usize = 16;

/// FNV-1a, 64 bits: names saved inputs and outcomes.
pub fn hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The seed of one target's run: each target gets its own stream, the same whether it runs
/// alone or with the others.
pub fn target_seed(seed: u64, name: &str) -> u64 {
    seed ^ hash(name.as_bytes())
}

const INTERESTING: [u64; 26] = [
    0,
    1,
    2,
    0x7f,
    0x80,
    0xfa,
    0xfb,
    0xfc,
    0xfd,
    0xfe,
    0xff,
    0x100,
    0x7fff,
    0x8000,
    0xffff,
    0x1_0000,
    1 << 20,
    64 << 20,
    1 << 30,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0x1_0000_0000,
    i64::MAX as u64,
    i64::MIN as u64,
    u64::MAX,
];

const NUMBERS: [&str; 16] = [
    "0",
    "1",
    "-1",
    "255",
    "256",
    "65535",
    "65536",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "1e400",
    "0.5",
];

/// A mutated copy of `parent`, at most `max_len` bytes; `others` supply splices.
pub fn mutate(rng: &mut Rng, parent: &[u8], others: &[Vec<u8>], max_len: usize) -> Vec<u8> {
    let mut data = parent.to_vec();
    let rounds = 1 << rng.below(3);
    for _ in 0..rounds {
        let other = &others[rng.below(others.len())];
        mutate_once(rng, &mut data, other);
    }
    data.truncate(max_len);
    data
}

fn mutate_once(rng: &mut Rng, data: &mut Vec<u8>, other: &[u8]) {
    let len = data.len();
    // With nothing to change, only the operations that add bytes apply.
    let op = if len == 0 {
        [2, 7, 8][rng.below(3)]
    } else {
        rng.below(12)
    };
    match op {
        0 => {
            let at = rng.below(len);
            data[at] ^= 1 << rng.below(8);
        }
        1 => {
            let at = rng.below(len);
            data[at] = rng.next_u64() as u8;
        }
        2 => {
            let at = rng.below(len + 1);
            let n = 1 + rng.below(8);
            let bytes: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
            data.splice(at..at, bytes);
        }
        3 => {
            let at = rng.below(len);
            let n = 1 + rng.below((len - at).min(64));
            data.drain(at..at + n);
        }
        4 => {
            // Repeat a chunk, up to 16 times: builds nesting and long lists.
            let at = rng.below(len);
            let n = 1 + rng.below((len - at).min(64));
            let chunk = data[at..at + n].to_vec();
            let times = 1 << rng.below(5);
            let to = rng.below(len + 1);
            let repeated: Vec<u8> = chunk.iter().copied().cycle().take(n * times).collect();
            data.splice(to..to, repeated);
        }
        5 => {
            let value = INTERESTING[rng.below(INTERESTING.len())];
            let width = [1, 2, 4, 8][rng.below(4)];
            let bytes = if rng.below(2) == 0 {
                value.to_le_bytes()[..width].to_vec()
            } else {
                value.to_be_bytes()[8 - width..].to_vec()
            };
            let at = rng.below(len);
            let end = (at + width).min(len);
            data.splice(at..end, bytes);
        }
        6 => {
            let at = rng.below(len);
            let delta = 1 + rng.below(16) as u8;
            data[at] = if rng.below(2) == 0 {
                data[at].wrapping_add(delta)
            } else {
                data[at].wrapping_sub(delta)
            };
        }
        7 => {
            // Splice: the start of this input, the end of another.
            let a = rng.below(len + 1);
            let b = rng.below(other.len() + 1);
            data.truncate(a);
            data.extend_from_slice(&other[b..]);
        }
        8 => {
            let at = rng.below(len + 1);
            let from = rng.below(other.len());
            let n = rng.below((other.len() - from).min(64) + 1);
            data.splice(at..at, other[from..from + n].iter().copied());
        }
        9 => data.truncate(rng.below(len)),
        10 => {
            // Overwrite with another input's bytes at the same offset: structured inputs
            // of one kind tend to line up.
            let at = rng.below(len);
            let end = (at + 1 + rng.below(32)).min(len).min(other.len());
            if at < end {
                data[at..end].copy_from_slice(&other[at..end]);
            }
        }
        _ => replace_number(rng, data),
    }
}

/// Replaces a run of ASCII digits (or inserts at a random place, if there is none) with a
/// boundary number: for the text formats.
fn replace_number(rng: &mut Rng, data: &mut Vec<u8>) {
    let number = NUMBERS[rng.below(NUMBERS.len())].as_bytes();
    let from = rng.below(data.len());
    let start = (from..data.len())
        .chain(0..from)
        .find(|&i| data[i].is_ascii_digit());
    match start {
        None => {
            data.splice(from..from, number.iter().copied());
        }
        Some(mut s) => {
            while s > 0 && (data[s - 1].is_ascii_digit() || data[s - 1] == b'-') {
                s -= 1;
            }
            let mut e = s;
            while e < data.len() && (data[e].is_ascii_digit() || data[e] == b'-') {
                e += 1;
            }
            data.splice(s..e, number.iter().copied());
        }
    }
}

/// What a run is given.
pub struct Options {
    /// How long the run takes, the seeds included.
    pub duration: Duration,
    /// Stop after this many executions instead (seeds included), if sooner.
    pub runs: Option<u64>,
    /// The target's own seed (`target_seed`).
    pub seed: u64,
    /// Inputs to start from besides the built-in seeds: the files in these directories.
    pub inputs: Vec<PathBuf>,
    /// Where the target's findings go.
    pub findings: PathBuf,
    /// Each input is written here before it runs, so that a crash that is not a panic (a stack
    /// overflow, an abort) leaves it behind.
    pub in_flight: Option<PathBuf>,
    /// Print each new outcome as it is found (`RAFT_FUZZ_SHOW=1`), to see what the novelty
    /// signal tells apart.
    pub show_outcomes: bool,
}

pub struct Finding {
    pub message: String,
    pub saved: PathBuf,
}

pub struct Report {
    pub target: &'static str,
    pub execs: u64,
    pub elapsed: Duration,
    /// Inputs kept in the corpus: the seeds and every input with a new outcome.
    pub kept: usize,
    pub findings: Vec<Finding>,
    /// The longest one execution took.
    pub slowest: Duration,
}

impl Report {
    pub fn execs_per_second(&self) -> f64 {
        self.execs as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

thread_local! {
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Panics are recorded for the driver instead of printed: it reports each distinct one once.
pub fn capture_panics() {
    panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_string());
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        LAST_PANIC.with(|p| *p.borrow_mut() = Some(format!("{message}{location}")));
    }));
}

/// Runs `target` on `input`: its outcome, or the message of the panic it raised.
pub fn execute(target: &Target, input: &[u8]) -> Result<String, String> {
    panic::catch_unwind(AssertUnwindSafe(|| (target.run)(input))).map_err(|_| {
        LAST_PANIC
            .with(|p| p.borrow_mut().take())
            .unwrap_or_else(|| "a panic".to_string())
    })
}

/// The files directly in `dir`, by name; none if it does not exist.
pub fn inputs_in(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let Ok(items) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = items
        .filter_map(|i| i.ok().map(|i| i.path()))
        .filter(|p| p.is_file())
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    paths.sort();
    paths
        .into_iter()
        .filter_map(|p| fs::read(&p).ok().map(|b| (p, b)))
        .collect()
}

/// Saves `input` as `dir/<hash>`; returns the path.
pub fn save_input(dir: &Path, input: &[u8]) -> PathBuf {
    let path = dir.join(format!("{:016x}", hash(input)));
    if let Err(e) = fs::create_dir_all(dir).and_then(|_| fs::write(&path, input)) {
        eprintln!("raft-fuzz: cannot save {}: {e}", path.display());
    }
    path
}

struct InFlight(File);

impl InFlight {
    fn open(path: &Path) -> Option<InFlight> {
        if let Some(dir) = path.parent() {
            let _ = fs::create_dir_all(dir);
        }
        File::create(path).ok().map(InFlight)
    }

    /// One write per input: its length, then its bytes.
    fn record(&self, input: &[u8], buf: &mut Vec<u8>) {
        buf.clear();
        buf.extend_from_slice(&(input.len() as u32).to_le_bytes());
        buf.extend_from_slice(input);
        let _ = self.0.write_all_at(buf, 0);
    }
}

/// The input an in-flight file holds, if any.
pub fn read_in_flight(path: &Path) -> Option<Vec<u8>> {
    let bytes = fs::read(path).ok()?;
    let len = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    bytes.get(4..4 + len).map(<[u8]>::to_vec)
}

/// The state of one target's run.
struct Runner<'a> {
    target: &'static Target,
    opts: &'a Options,
    in_flight: Option<InFlight>,
    buf: Vec<u8>,
    corpus: Vec<Vec<u8>>,
    outcomes: HashSet<u64>,
    /// How often each distinct panic (its message, numbers left out) was seen.
    panics: HashMap<String, usize>,
    findings: Vec<Finding>,
    execs: u64,
    slowest: Duration,
}

impl Runner<'_> {
    /// Runs one input; keeps it if its outcome is new (or it is a seed), reports a new panic.
    fn one(&mut self, input: Vec<u8>, is_seed: bool) {
        if let Some(f) = &self.in_flight {
            f.record(&input, &mut self.buf);
        }
        self.execs += 1;
        let started = Instant::now();
        let result = execute(self.target, &input);
        let took = started.elapsed();
        self.slowest = self.slowest.max(took);
        match result {
            Ok(outcome) => {
                let new = self.outcomes.insert(hash(outcome.as_bytes()));
                if new && self.opts.show_outcomes {
                    eprintln!("{}: new outcome: {outcome}", self.target.name);
                }
                if (new || is_seed) && self.corpus.len() < MAX_CORPUS {
                    self.corpus.push(input);
                }
            }
            Err(message) => {
                let count = self.panics.entry(shape(&message)).or_insert(0);
                *count += 1;
                if *count == 1 && self.findings.len() < MAX_FINDINGS {
                    let saved = save_input(&self.opts.findings, &input);
                    eprintln!(
                        "raft-fuzz: {} panicked: {message}\n  input saved to {}",
                        self.target.name,
                        saved.display()
                    );
                    self.findings.push(Finding { message, saved });
                }
            }
        }
    }
}

/// Fuzzes `target`: the seeds and the files of `opts.inputs`, then mutations until the time or
/// the run count is up.
pub fn run(target: &'static Target, seeds: Vec<Vec<u8>>, opts: &Options) -> Report {
    let start = Instant::now();
    let mut rng = Rng::new(opts.seed);
    let mut r = Runner {
        target,
        opts,
        in_flight: opts.in_flight.as_deref().and_then(InFlight::open),
        buf: Vec::new(),
        corpus: Vec::new(),
        outcomes: HashSet::new(),
        panics: HashMap::new(),
        findings: Vec::new(),
        execs: 0,
        slowest: Duration::ZERO,
    };
    let mut starting = seeds;
    for dir in &opts.inputs {
        starting.extend(inputs_in(dir).into_iter().map(|(_, b)| b));
    }
    for input in starting {
        r.one(input, true);
    }
    if r.corpus.is_empty() {
        r.corpus.push(Vec::new());
    }
    let deadline = start + opts.duration;
    let runs = opts.runs.unwrap_or(u64::MAX);
    while r.execs < runs && Instant::now() < deadline {
        let parent = &r.corpus[rng.below(r.corpus.len())];
        let child = mutate(&mut rng, parent, &r.corpus, target.max_len);
        r.one(child, false);
    }
    if let Some(path) = &opts.in_flight {
        let _ = fs::remove_file(path);
    }
    Report {
        target: target.name,
        execs: r.execs,
        elapsed: start.elapsed(),
        kept: r.corpus.len(),
        findings: r.findings,
        slowest: r.slowest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mutations(seed: u64, parent: &[u8]) -> Vec<Vec<u8>> {
        let others = vec![b"id = 7\nname = \"x\"".to_vec(), vec![0xff; 40]];
        let mut rng = Rng::new(seed);
        (0..2000)
            .map(|_| mutate(&mut rng, parent, &others, 24))
            .collect()
    }

    #[test]
    fn mutations_follow_the_seed_and_the_length_limit() {
        let parent = b"tick_ms = 100 and more";
        assert_eq!(mutations(5, parent), mutations(5, parent));
        assert_ne!(mutations(5, parent), mutations(6, parent));
        let all = mutations(5, parent);
        assert!(all.iter().all(|m| m.len() <= 24));
        assert!(
            all.iter().any(|m| m.len() < parent.len()),
            "nothing shrinks"
        );
        assert!(all.iter().any(|m| m.len() > parent.len()), "nothing grows");
        assert!(
            all.iter()
                .any(|m| m.windows(3).any(|w| w == b"-1 ")
                    || m.windows(10).any(|w| w == b"4294967296")),
            "no boundary number in the text"
        );
        // An empty input grows.
        assert!(mutations(5, b"").iter().any(|m| !m.is_empty()));
    }

    #[test]
    fn a_panic_is_reported_with_its_message_and_place() {
        fn boom(data: &[u8]) -> String {
            assert!(data.is_empty(), "not empty: {}", data.len());
            "empty".to_string()
        }
        let t = Target {
            name: "boom",
            run: boom,
            max_len: 8,
            about: "",
        };
        capture_panics();
        assert_eq!(execute(&t, b""), Ok("empty".to_string()));
        let e = execute(&t, b"xy").unwrap_err();
        let _ = panic::take_hook();
        assert!(e.starts_with("not empty: 2 at "), "{e}");
        assert!(e.contains("engine.rs"), "{e}");
    }
}
