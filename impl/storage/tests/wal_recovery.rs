//! End-to-end tests of the write-ahead log: round trips across segments, truncation and
//! compaction, and crash/corruption injection on the files themselves.
//!
//! A plain in-test model (a vector of entries) says what the log must hold after any sequence
//! of batches; every reopen is compared against it.

use std::fs;
use std::path::{Path, PathBuf};

use raft_core::rng::Rng;
use raft_storage::wal::{
    self, Batch, HardState, Record, Recovered, Wal, WalEntry, WalError, WalOptions,
};

fn seed() -> u64 {
    let seed = std::env::var("WAL_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
                | 1
        });
    println!("seed {seed} (set WAL_TEST_SEED={seed} to repeat)");
    seed
}

/// A scratch directory. These tests open logs thousands of times and each open fsyncs a
/// few times; on tmpfs (`/dev/shm`) that costs nothing, so it is used when present. Set
/// `WAL_TEST_DIR` to run them on a particular filesystem instead.
fn scratch() -> tempfile::TempDir {
    let base = std::env::var_os("WAL_TEST_DIR")
        .map(PathBuf::from)
        .or_else(|| Some(PathBuf::from("/dev/shm")).filter(|p| p.is_dir()))
        .unwrap_or_else(std::env::temp_dir);
    tempfile::tempdir_in(base).expect("tempdir")
}

/// What the log must contain: the obvious meaning of each record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Model {
    hard_state: Option<HardState>,
    compacted: u64,
    last_index: u64,
    entries: Vec<WalEntry>,
}

impl Model {
    fn apply(&mut self, batch: &Batch) {
        for r in batch.records() {
            match r {
                Record::Entry(e) => {
                    assert_eq!(e.index, self.last_index + 1, "test generated a bad entry");
                    self.entries.push(e.clone());
                    self.last_index = e.index;
                }
                Record::HardState(h) => self.hard_state = Some(*h),
                Record::TruncateSuffix(from) => {
                    self.entries.retain(|e| e.index < *from);
                    self.last_index = self.last_index.min(from - 1);
                }
                Record::CompactPrefix(up_to) => {
                    if *up_to > self.compacted {
                        self.compacted = *up_to;
                        self.entries.retain(|e| e.index > *up_to);
                        self.last_index = self.last_index.max(*up_to);
                    }
                }
            }
        }
    }

    fn assert_matches(&self, r: &Recovered, context: &str) {
        assert_eq!(r.hard_state, self.hard_state, "hard state, {context}");
        assert_eq!(r.compacted, self.compacted, "compaction point, {context}");
        assert_eq!(r.last_index, self.last_index, "last index, {context}");
        assert_eq!(r.entries, self.entries, "entries, {context}");
    }
}

/// Generates valid batches: entries, hard states, truncations and compactions.
struct Workload {
    rng: Rng,
    term: u64,
}

impl Workload {
    fn entry(&mut self, index: u64) -> WalEntry {
        let len = self.rng.range(0, 48) as usize;
        let data = (0..len).map(|_| self.rng.next_u64() as u8).collect();
        WalEntry {
            index,
            term: self.term,
            kind: self.rng.range(0, 3) as u8,
            data,
        }
    }

    fn batch(&mut self, model: &Model) -> Batch {
        let mut b = Batch::new();
        let mut last = model.last_index;
        match self.rng.range(0, 10) {
            // A conflict: truncate somewhere after the compaction point, then append.
            0 if last > model.compacted => {
                let from = model.compacted + 1 + self.rng.range(0, last - model.compacted);
                b.truncate_suffix(from);
                last = from - 1;
                self.term += 1;
            }
            // A snapshot: compact up to a point in the log, or past it (installed snapshot).
            1 => {
                let up_to = model.compacted + self.rng.range(0, last - model.compacted + 3);
                if up_to > model.compacted {
                    b.compact_prefix(up_to);
                    last = last.max(up_to);
                }
            }
            _ => {}
        }
        if self.rng.range(0, 3) == 0 {
            self.term += self.rng.range(0, 2);
            let vote = model
                .hard_state
                .filter(|h| h.term == self.term)
                .map_or_else(
                    || (self.rng.range(0, 2) == 0).then(|| self.rng.range(0, 5)),
                    |h| h.vote,
                );
            b.hard_state(HardState {
                term: self.term,
                vote,
                commit: model.compacted.max(last / 2),
            });
        }
        for _ in 0..self.rng.range(0, 6) {
            last += 1;
            let e = self.entry(last);
            b.entry(e);
        }
        if b.is_empty() {
            last += 1;
            let e = self.entry(last);
            b.entry(e);
        }
        b
    }
}

fn options(segment_size: u64) -> WalOptions {
    WalOptions {
        segment_size,
        ..WalOptions::default()
    }
}

fn wal_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "wal"))
        .collect();
    v.sort();
    v
}

#[test]
fn round_trip_across_segments_truncations_and_compactions() {
    let seed = seed();
    let dir = scratch();
    let mut w = Workload {
        rng: Rng::new(seed),
        term: 1,
    };
    let mut model = Model::default();
    let (mut wal, rec) = Wal::open(dir.path(), options(700)).expect("open");
    model.assert_matches(&rec, "fresh");
    let mut max_files = 0;
    let mut kinds = [0usize; 4];
    for step in 0..400 {
        // Sometimes several batches share one sync (group commit).
        let group = 1 + w.rng.range(0, 3);
        for _ in 0..group {
            let b = w.batch(&model);
            for r in b.records() {
                kinds[match r {
                    Record::Entry(_) => 0,
                    Record::HardState(_) => 1,
                    Record::TruncateSuffix(_) => 2,
                    Record::CompactPrefix(_) => 3,
                }] += 1;
            }
            wal.write(&b).expect("write");
            model.apply(&b);
        }
        wal.sync().expect("sync");
        assert_eq!(wal.last_index(), model.last_index);
        max_files = max_files.max(wal_files(dir.path()).len());
        if step % 50 == 49 {
            drop(wal);
            let before = wal::inspect(dir.path()).expect("inspect");
            model.assert_matches(&before, &format!("inspect at step {step}"));
            let (again, rec) = Wal::open(dir.path(), options(700)).expect("reopen");
            model.assert_matches(&rec, &format!("reopen at step {step}"));
            assert_eq!(rec.torn_tail, None);
            wal = again;
        }
    }
    drop(wal);
    let (_, rec) = Wal::open(dir.path(), options(700)).expect("final reopen");
    model.assert_matches(&rec, "final reopen");
    println!("record kinds written (entry, hard state, truncate, compact): {kinds:?}");
    println!(
        "segments: at most {max_files} at once, {} at the end, {} entries live",
        wal_files(dir.path()).len(),
        rec.entries.len()
    );
    assert!(
        kinds.iter().all(|&k| k > 10),
        "workload covers every record kind"
    );
    assert!(max_files >= 4, "the log spanned several segments");
}

#[test]
fn compaction_deletes_old_segments_and_keeps_the_hard_state() {
    let dir = scratch();
    let (mut wal, _) = Wal::open(dir.path(), options(256)).expect("open");
    let hs = HardState {
        term: 3,
        vote: Some(2),
        commit: 5,
    };
    wal.append_batch(Batch::new().hard_state(hs))
        .expect("hard state");
    for i in 1..=100 {
        let e = WalEntry {
            index: i,
            term: 3,
            kind: 0,
            data: vec![i as u8; 20],
        };
        wal.append_batch(Batch::new().entry(e)).expect("append");
    }
    let before = wal_files(dir.path()).len();
    assert!(before > 5, "{before} segments");
    wal.compact_prefix(90).expect("compact");
    let after = wal_files(dir.path()).len();
    assert!(after < before / 2, "{before} -> {after} segments");
    // The only hard-state record was in a deleted segment; the checkpoint that opens every
    // segment carries it.
    drop(wal);
    let (mut wal, rec) = Wal::open(dir.path(), options(256)).expect("reopen");
    assert_eq!(rec.hard_state, Some(hs));
    assert_eq!(rec.compacted, 90);
    assert_eq!(
        rec.entries.iter().map(|e| e.index).collect::<Vec<_>>(),
        (91..=100).collect::<Vec<_>>()
    );
    // A snapshot from the leader beyond the end: the log restarts after it.
    wal.compact_prefix(500).expect("compact past the end");
    assert_eq!(wal.last_index(), 500);
    let e = WalEntry {
        index: 501,
        term: 4,
        kind: 1,
        data: b"x".to_vec(),
    };
    wal.append_batch(Batch::new().entry(e.clone()))
        .expect("append after snapshot");
    drop(wal);
    let rec = wal::inspect(dir.path()).expect("inspect");
    assert_eq!((rec.compacted, rec.last_index), (500, 501));
    assert_eq!(rec.entries, vec![e]);
    assert_eq!(
        wal_files(dir.path()).len(),
        1,
        "only the active segment remains"
    );
}

#[test]
fn invalid_batches_are_refused_without_harm() {
    let dir = scratch();
    let (mut wal, _) = Wal::open(
        dir.path(),
        WalOptions {
            max_batch_bytes: 1000,
            ..WalOptions::default()
        },
    )
    .expect("open");
    let e = |index| WalEntry {
        index,
        term: 1,
        kind: 0,
        data: Vec::new(),
    };
    wal.append_batch(Batch::new().entry(e(1)).entry(e(2)).hard_state(HardState {
        term: 2,
        vote: Some(1),
        commit: 1,
    }))
    .expect("valid");
    let bad: Vec<Batch> = vec![
        Batch::new(),
        Batch::from(vec![Record::Entry(e(4))]),
        Batch::from(vec![Record::Entry(e(2))]),
        Batch::from(vec![Record::Entry(e(3)), Record::Entry(e(5))]),
        Batch::from(vec![Record::TruncateSuffix(4)]),
        Batch::from(vec![Record::TruncateSuffix(0)]),
        Batch::from(vec![Record::HardState(HardState {
            term: 1,
            vote: None,
            commit: 0,
        })]),
        Batch::from(vec![Record::HardState(HardState {
            term: 2,
            vote: Some(3),
            commit: 0,
        })]),
        Batch::from(vec![Record::Entry(WalEntry {
            index: 3,
            term: 1,
            kind: 0,
            data: vec![0; 2000],
        })]),
    ];
    for b in &bad {
        match wal.append_batch(b) {
            Err(WalError::InvalidBatch(why)) => assert!(!why.is_empty()),
            other => panic!("{b:?} gave {other:?}"),
        }
    }
    // Truncation into the compacted prefix.
    wal.compact_prefix(1).expect("compact");
    assert!(matches!(
        wal.truncate_suffix(1),
        Err(WalError::InvalidBatch(_))
    ));
    // Still usable, and nothing of the refused batches reached the disk.
    wal.truncate_suffix(2).expect("truncate");
    wal.append_batch(Batch::new().entry(e(2))).expect("append");
    drop(wal);
    let rec = wal::inspect(dir.path()).expect("inspect");
    assert_eq!(rec.entries, vec![e(2)]);
    assert_eq!(rec.hard_state.map(|h| h.vote), Some(Some(1)));
}

/// One synced batch of the fault-injection log: the file it ended in, where it ended, and
/// the model state once it is applied.
struct Synced {
    file: PathBuf,
    end: u64,
    model: Model,
    /// The segment files present once the batch was synced (compaction deletes some).
    present: Vec<std::ffi::OsString>,
}

/// Builds a log of at least `segments` segments whose last segment holds at least
/// `in_last` appended batches, and returns the state after each synced batch.
/// Every segment file ever present is also copied to `archive`, so that the directory as it
/// was at any point can be rebuilt (sealed segments do not change until they are deleted).
fn build_log(
    dir: &Path,
    archive: &Path,
    seed: u64,
    segments: usize,
    in_last: usize,
    segment_size: u64,
) -> Vec<Synced> {
    let mut w = Workload {
        rng: Rng::new(seed),
        term: 1,
    };
    let mut model = Model::default();
    let (mut wal, _) = Wal::open(dir, options(segment_size)).expect("open");
    let mut out = Vec::new();
    loop {
        let files = wal.segment_paths();
        let active = files.last().cloned().expect("active segment");
        let in_active = out.iter().filter(|s: &&Synced| s.file == active).count();
        if files.len() >= segments && in_active >= in_last {
            break;
        }
        let b = w.batch(&model);
        wal.append_batch(&b).expect("append");
        model.apply(&b);
        let file = wal.segment_paths().last().cloned().expect("active segment");
        let end = fs::metadata(&file).expect("stat").len();
        copy_dir(dir, archive);
        let present = wal_files(dir)
            .iter()
            .map(|p| p.file_name().expect("name").to_owned())
            .collect();
        out.push(Synced {
            file,
            end,
            model: model.clone(),
            present,
        });
    }
    out
}

fn copy_dir(from: &Path, to: &Path) {
    for f in wal_files(from) {
        fs::copy(&f, to.join(f.file_name().expect("name"))).expect("copy");
    }
}

/// Batch start offsets of one segment, read with the documented layout: a 28-byte header,
/// then frames of `len u32 | crc u32 | crc u32 | body[len]`.
fn frame_starts(bytes: &[u8]) -> Vec<u64> {
    let mut starts = Vec::new();
    let mut at = 28;
    while at + 12 <= bytes.len() {
        starts.push(at as u64);
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
        at += 12 + len;
    }
    assert_eq!(at, bytes.len(), "frames tile the segment");
    starts
}

#[test]
fn cut_at_every_offset_of_the_last_segment() {
    let seed = seed();
    let src = scratch();
    let archive = scratch();
    let synced = build_log(src.path(), archive.path(), seed, 3, 12, 1500);
    let last = synced.last().expect("batches").file.clone();
    let name = last.file_name().expect("name").to_owned();
    let len = fs::metadata(&last).expect("stat").len();
    // The state before the last segment's first appended batch.
    let first_in_last = synced.iter().position(|s| s.file == last).expect("in last");
    assert!(first_in_last > 0, "the log spans more than one segment");
    let base = &synced[first_in_last - 1];
    let in_last: Vec<&Synced> = synced[first_in_last..].iter().collect();
    assert!(
        in_last.len() >= 5,
        "{} batches in the last segment",
        in_last.len()
    );
    let last_bytes = fs::read(&last).expect("read");
    let starts = frame_starts(&last_bytes);

    let mut torn = 0;
    for cut in 0..=len {
        // The last batch that was complete at the cut: the directory is rebuilt as it was
        // then (a compaction in a later batch had not deleted anything yet), with the last
        // segment ending at the cut.
        let then = in_last
            .iter()
            .rev()
            .find(|s| s.end <= cut)
            .copied()
            .unwrap_or(base);
        let dir = scratch();
        for f in then.present.iter().filter(|f| **f != name) {
            fs::copy(archive.path().join(f), dir.path().join(f)).expect("copy");
        }
        let file = dir.path().join(&name);
        fs::write(&file, &last_bytes[..cut as usize]).expect("cut");
        // Exactly the batches that ended at or before the cut survive.
        let expected = &then.model;
        let context = format!("cut at {cut} of {len}");
        let (mut wal, rec) = match Wal::open(dir.path(), options(1500)) {
            Ok(x) => x,
            Err(e) => panic!("{context}: {e}"),
        };
        expected.assert_matches(&rec, &context);
        // A torn tail is reported exactly when the cut is not at a batch boundary.
        let boundary = cut == 28 || starts.iter().skip(1).any(|&s| s == cut) || cut == len;
        match &rec.torn_tail {
            None => assert!(boundary, "{context}: torn tail not reported"),
            Some(t) => {
                torn += 1;
                assert!(!boundary, "{context}: spurious torn tail {t:?}");
                assert_eq!(t.file, file, "{context}");
                let kept = if cut < 28 {
                    0
                } else {
                    *starts.iter().rev().find(|&&s| s <= cut).expect("start")
                };
                assert_eq!(
                    (t.offset, t.discarded_bytes),
                    (kept, cut - kept),
                    "{context}"
                );
                assert_eq!(t.file_removed, cut < 28, "{context}");
            }
        }
        // Every few cuts: the repaired log takes new writes and reopens cleanly.
        if cut % 8 == 0 {
            let mut model = expected.clone();
            let mut w = Workload {
                rng: Rng::new(seed ^ cut),
                term: model.hard_state.map_or(1, |h| h.term) + 1,
            };
            let b = w.batch(&model);
            wal.append_batch(&b).expect("append after repair");
            model.apply(&b);
            drop(wal);
            let (_, rec) = Wal::open(dir.path(), options(1500)).expect("reopen after repair");
            model.assert_matches(&rec, &format!("{context}, after repair and append"));
            assert_eq!(rec.torn_tail, None, "{context}");
        }
    }
    println!(
        "cut the last segment ({len} bytes, {} batches) at all {} offsets; {torn} torn tails",
        in_last.len(),
        len + 1
    );
}

#[test]
fn flipped_bytes_are_corruption_or_lose_only_the_last_batch() {
    let seed = seed();
    let src = scratch();
    let archive = scratch();
    let synced = build_log(src.path(), archive.path(), seed, 3, 8, 1200);
    let files = wal_files(src.path());
    assert!(files.len() >= 3, "{} segments", files.len());
    let last_file = files.last().expect("files").clone();
    let last_bytes = fs::read(&last_file).expect("read");
    let last_batch_start = *frame_starts(&last_bytes).last().expect("a batch");
    let before_last = &synced[synced.len() - 2].model;
    let final_model = &synced[synced.len() - 1].model;
    let mut rng = Rng::new(seed.rotate_left(17) | 1);

    let total: u64 = files
        .iter()
        .map(|f| fs::metadata(f).expect("stat").len())
        .sum();
    let (mut corrupt, mut tail_flips, mut tail_torn) = (0, 0, 0);
    for _ in 0..400 {
        // Pick a byte anywhere in the log, weighting files by size.
        let mut at = rng.range(0, total);
        let mut file = files[0].clone();
        for f in &files {
            let l = fs::metadata(f).expect("stat").len();
            if at < l {
                file = f.clone();
                break;
            }
            at -= l;
        }
        let mask = 1 + rng.range(0, 255) as u8;
        let dir = scratch();
        copy_dir(src.path(), dir.path());
        let target = dir.path().join(file.file_name().expect("name"));
        let mut bytes = fs::read(&target).expect("read");
        bytes[at as usize] ^= mask;
        fs::write(&target, &bytes).expect("write");
        let context = format!("flip {mask:#04x} at {} offset {at}", target.display());

        let in_last_batch = file == last_file && at >= last_batch_start;
        let result = Wal::open(dir.path(), options(1200));
        if in_last_batch {
            tail_flips += 1;
            match result {
                // Indistinguishable from a crash mid-write: only that batch may go.
                Ok((_, rec)) => {
                    tail_torn += 1;
                    before_last.assert_matches(&rec, &context);
                    assert_eq!(
                        rec.torn_tail.map(|t| t.offset),
                        Some(last_batch_start),
                        "{context}"
                    );
                }
                Err(WalError::Corrupt { file, offset, .. }) => {
                    assert_eq!(
                        (file, offset),
                        (target.clone(), last_batch_start),
                        "{context}"
                    );
                }
                Err(e) => panic!("{context}: {e}"),
            }
            continue;
        }
        let starts = frame_starts(&fs::read(&file).expect("read"));
        let batch = if at < 28 {
            0
        } else {
            *starts.iter().rev().find(|&&s| s <= at).expect("start")
        };
        match result {
            Err(e @ WalError::Corrupt { .. }) => {
                let msg = e.to_string();
                let WalError::Corrupt { file, offset, .. } = e else {
                    unreachable!()
                };
                assert_eq!((file, offset), (target.clone(), batch), "{context}: {msg}");
                assert!(msg.contains(&target.display().to_string()), "{msg}");
                assert!(msg.contains(&format!("offset {batch}")), "{msg}");
                corrupt += 1;
            }
            Ok((_, rec)) => panic!(
                "{context}: opened with {} entries (expected {}) instead of reporting corruption",
                rec.entries.len(),
                final_model.entries.len()
            ),
            Err(e) => panic!("{context}: wrong error {e}"),
        }
    }
    println!(
        "400 flips over {} segments ({total} bytes): {corrupt} corruption errors before the tail, \
         {tail_flips} in the last batch of which {tail_torn} opened as a torn tail",
        files.len()
    );
}

#[test]
fn missing_segments_are_errors() {
    // Plain appends: no compaction covers anything, so every segment is needed.
    let src = scratch();
    let (mut wal, _) = Wal::open(src.path(), options(300)).expect("open");
    for index in 1..=40 {
        let e = WalEntry {
            index,
            term: 1,
            kind: 0,
            data: vec![7; 30],
        };
        wal.append_batch(Batch::new().entry(e)).expect("append");
    }
    drop(wal);
    let files = wal_files(src.path());
    assert!(files.len() >= 4);
    // A segment in the middle.
    let dir = scratch();
    copy_dir(src.path(), dir.path());
    fs::remove_file(dir.path().join(files[1].file_name().expect("name"))).expect("rm");
    assert!(matches!(
        Wal::open(dir.path(), options(600)),
        Err(WalError::Corrupt { .. })
    ));
    // The oldest segment, with no compaction covering its entries.
    let dir = scratch();
    copy_dir(src.path(), dir.path());
    fs::remove_file(dir.path().join(files[0].file_name().expect("name"))).expect("rm");
    match Wal::open(dir.path(), options(600)) {
        Err(WalError::Corrupt { reason, .. }) => assert!(reason.contains("missing"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn errors_are_std_errors_with_useful_text() {
    fn takes_error(_: &dyn std::error::Error) {}
    let e = WalError::Corrupt {
        file: PathBuf::from("/x/1.wal"),
        offset: 42,
        reason: "batch body checksum mismatch".to_string(),
    };
    takes_error(&e);
    assert_eq!(
        e.to_string(),
        "corrupt log segment /x/1.wal at byte offset 42: batch body checksum mismatch"
    );
}

#[test]
fn group_commit_defers_compaction_deletes_until_sync() {
    let dir = scratch();
    let (mut wal, _) = Wal::open(dir.path(), options(256)).expect("open");
    for index in 1..=50 {
        let mut b = Batch::new();
        b.entry(WalEntry {
            index,
            term: 1,
            kind: 0,
            data: vec![3; 24],
        });
        // Three batches per sync.
        wal.write(&b).expect("write");
        if index % 3 == 0 {
            wal.sync().expect("sync");
        }
    }
    let before = wal_files(dir.path()).len();
    wal.write(Batch::new().compact_prefix(40)).expect("write");
    assert_eq!(
        wal_files(dir.path()).len(),
        before,
        "nothing deleted before the sync"
    );
    wal.sync().expect("sync");
    let after = wal_files(dir.path()).len();
    assert!(after < before, "{before} -> {after}");
    drop(wal);
    let rec = wal::inspect(dir.path()).expect("inspect");
    assert_eq!(rec.compacted, 40);
    assert_eq!(rec.entries.first().map(|e| e.index), Some(41));
    assert_eq!(rec.last_index, 50);
}

#[test]
fn crash_between_compaction_record_and_deletions() {
    let dir = scratch();
    let saved = scratch();
    let (mut wal, _) = Wal::open(dir.path(), options(256)).expect("open");
    for index in 1..=40 {
        let mut b = Batch::new();
        b.entry(WalEntry {
            index,
            term: 1,
            kind: 0,
            data: vec![9; 24],
        });
        wal.append_batch(&b).expect("append");
    }
    copy_dir(dir.path(), saved.path());
    wal.compact_prefix(30).expect("compact");
    drop(wal);
    // Put back the segments the compaction deleted, as if the crash came before the deletions.
    let deleted: Vec<PathBuf> = wal_files(saved.path())
        .into_iter()
        .filter(|f| !dir.path().join(f.file_name().expect("name")).exists())
        .collect();
    assert!(!deleted.is_empty());
    for f in &deleted {
        fs::copy(f, dir.path().join(f.file_name().expect("name"))).expect("copy back");
    }
    let (mut wal, rec) = Wal::open(dir.path(), options(256)).expect("reopen");
    assert_eq!((rec.compacted, rec.last_index), (30, 40));
    assert_eq!(rec.entries.first().map(|e| e.index), Some(31));
    // The first sync finishes the interrupted deletions.
    wal.sync().expect("sync");
    for f in &deleted {
        assert!(!dir.path().join(f.file_name().expect("name")).exists());
    }
}
