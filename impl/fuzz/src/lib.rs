//! Fuzz targets for every decoder of the workspace that reads bytes from outside the process
//! (`specs/fuzzing.md`): one function per target, taking the bytes and checking what a user of
//! the decoder expects of it. A target panics when a check fails, and only then; the decoders
//! themselves must answer any input with a value or an error.
//!
//! Each target returns a short description of what the input did (which error, which kinds of
//! records), with numbers left out, that a fuzzer can use as a cheap novelty signal: an input
//! whose description is new is worth mutating further.
//!
//! The same functions run under the stable driver (`raft-fuzz`, [`engine`]), in the regression
//! test over the corpus, and under libFuzzer (`impl/fuzz/libfuzzer`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

pub mod corpus;
pub mod engine;
mod node;
mod storage;
mod traces;

pub use node::{config, frame, grpc, kv_command, kv_snapshot, CLUSTER, GRPC_REQUESTS};
pub use storage::{snapshot_file, wal_batch, wal_segment};
pub use traces::trace;

/// One fuzz target.
pub struct Target {
    pub name: &'static str,
    /// Feeds the bytes to the decoder and checks the result; panics on a failed check.
    pub run: fn(&[u8]) -> String,
    /// Longest input the driver makes for it.
    pub max_len: usize,
    pub about: &'static str,
}

/// Every target, in the order `--all` runs them.
pub const TARGETS: &[Target] = &[
    Target {
        name: "wal_batch",
        run: wal_batch,
        max_len: 4096,
        about: "a WAL batch frame and its records (raft-storage wal::record)",
    },
    Target {
        name: "wal_segment",
        run: wal_segment,
        max_len: 16384,
        about: "WAL segment files read back by wal::inspect and Wal::open (raft-storage)",
    },
    Target {
        name: "snapshot_file",
        run: snapshot_file,
        max_len: 4096,
        about: "a snapshot file and the configuration in it (raft-storage snapshot_file, disk)",
    },
    Target {
        name: "frame",
        run: frame,
        max_len: 16384,
        about: "a peer connection's frames and the snapshot chunk assembler (raft-node frame)",
    },
    Target {
        name: "config",
        run: config,
        max_len: 4096,
        about: "a TOML configuration file (raft-node config)",
    },
    Target {
        name: "grpc",
        run: grpc,
        max_len: 4096,
        about: "an etcd KV request in protobuf, converted to a command (raft-node grpc::convert)",
    },
    Target {
        name: "trace",
        run: trace,
        max_len: 32768,
        about: "a conformance trace file, replayed and converted (raft-conformance trace)",
    },
    Target {
        name: "kv_snapshot",
        run: kv_snapshot,
        max_len: 8192,
        about: "a state machine snapshot restored (raft-node kv::Kv::restore)",
    },
    Target {
        name: "kv_command",
        run: kv_command,
        max_len: 4096,
        about: "a committed entry's command applied to the state machine (raft-node kv)",
    },
];

/// The driver's own test target, not one of [`TARGETS`]: it panics on an input holding `PANIC`
/// and aborts the process on one holding `ABORT`, so that the tests can see both reported.
pub const SELF_TEST: Target = Target {
    name: "selftest",
    run: self_test,
    max_len: 64,
    about: "the driver's own test: panics on PANIC, aborts on ABORT",
};

fn self_test(data: &[u8]) -> String {
    let has = |word: &[u8]| data.windows(word.len()).any(|w| w == word);
    if has(b"PANIC") {
        panic!("the input says PANIC");
    }
    if has(b"ABORT") {
        std::process::abort();
    }
    format!("{} bytes", data.len().min(4))
}

/// The target called `name` (the self-test included).
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().chain([&SELF_TEST]).find(|t| t.name == name)
}

/// The kind of a message, for an outcome: its first and last lines, with what lies between the
/// first and the last quote (`, ' or ") replaced by `_` and every word with a digit in it by `#`,
/// cut to 100 characters. The same kind of error at another offset, for another value or field
/// name, is the same outcome.
pub(crate) fn shape(message: &str) -> String {
    let mut lines = message.lines().filter(|l| !l.trim().is_empty());
    let first = lines.next().unwrap_or_default();
    let mut text = match lines.next_back() {
        Some(last) => format!("{first} / {}", last.trim()),
        None => first.to_string(),
    };
    let is_quote = |c: char| matches!(c, '`' | '\'' | '"');
    if let (Some(a), Some(b)) = (text.find(is_quote), text.rfind(is_quote)) {
        if a < b {
            text = format!("{}_{}", &text[..=a], &text[b..]);
        }
    }
    let mut out = String::new();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if word.chars().any(|c| c.is_ascii_digit()) {
            out.push('#');
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_alphanumeric() {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out.chars().take(100).collect()
}

/// Scratch directories for the targets that need files, under one directory per process that
/// [`remove_scratch`] deletes.
pub(crate) struct Scratch;

static NEXT_SLOT: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Threads of one process (the tests) each get their own directories.
    static SLOT: u64 = NEXT_SLOT.fetch_add(1, Ordering::Relaxed);
}

impl Scratch {
    /// An empty directory `name` of this thread.
    pub(crate) fn dir(name: &str) -> PathBuf {
        let dir = scratch_root().join(format!("{}-{name}", SLOT.with(|s| *s)));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        dir
    }
}

/// This process's scratch directory: in `/dev/shm` where there is one (memory, where an fsync
/// costs nothing: the WAL target syncs several times per input), else in the system's temporary
/// directory.
pub fn scratch_root() -> PathBuf {
    scratch_root_of(std::process::id())
}

/// The scratch directory of process `pid`: the driver removes a worker's after it crashed.
pub fn scratch_root_of(pid: u32) -> PathBuf {
    let shm = std::path::Path::new("/dev/shm");
    let base = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    base.join(format!("raft-fuzz-{pid}"))
}

/// Deletes this process's scratch directory.
pub fn remove_scratch() {
    let _ = std::fs::remove_dir_all(scratch_root());
}

#[cfg(test)]
mod tests {
    use super::shape;

    #[test]
    fn shapes_leave_out_numbers_and_quoted_text() {
        assert_eq!(
            shape("corrupt: record at body offset 17: unknown record tag 9"),
            "corrupt: record at body offset #: unknown record tag #"
        );
        assert_eq!(
            shape("unknown field `idd`, expected one of `id`, `name` at line 3 column 4"),
            "unknown field `_` at line # column #"
        );
        assert_eq!(
            shape("TOML parse error at line 1, column 5\n  |\n1 | a = \n  |     ^\nexpected a value\n"),
            "TOML parse error at line #, column # / expected a value"
        );
        assert_eq!(shape("checksum 0xdeadbeef"), "checksum #");
        assert_eq!(shape(&"x".repeat(300)).len(), 100);
    }
}
