//! A segmented write-ahead log for Raft's persistent state.
//!
//! The log is a directory of segment files. Each holds a header and then checksummed
//! batches; a batch holds any mix of records: log entries, a hard state, a truncation of the
//! log's tail and a compaction point. The log is the durable copy of what the Raft core
//! must keep on stable storage before it answers an RPC (the paper's Figure 2), so every
//! `append_batch` returns only after the batch is on disk.
//!
//! Group commit: `append_batch` is `write` + `sync`. A caller that has several batches ready
//! (e.g. proposals that arrived together) may `write` each and `sync` once; none of them is
//! durable, and none may be acknowledged, before that `sync` returns `Ok`.
//!
//! The storage layer does not know the core's types; the glue converts to `WalEntry` and
//! `HardState`. The on-disk format and the durability and recovery rules are described in
//! `specs/storage.md`.

mod error;
// Public for the fuzz targets (impl/fuzz), which feed it bytes directly; not a stable API.
#[doc(hidden)]
pub mod record;
mod recovery;
mod segment;
mod state;

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

pub use error::WalError;

use recovery::SegmentMeta;
use segment::Header;
use state::LogState;

/// One log entry. `kind` and `data` are opaque to the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalEntry {
    pub index: u64,
    pub term: u64,
    pub kind: u8,
    pub data: Vec<u8>,
}

/// The persistent per-server state besides the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HardState {
    pub term: u64,
    pub vote: Option<u64>,
    pub commit: u64,
}

/// One record of a batch, applied in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// Appends an entry; its index must be the last index plus one.
    Entry(WalEntry),
    /// Replaces the hard state. The term may not decrease and a vote, once recorded, may not
    /// change within its term.
    HardState(HardState),
    /// Voids every entry with index >= the given one (a conflict found by the core).
    TruncateSuffix(u64),
    /// Entries up to and including the given index are covered by a snapshot and may be
    /// dropped. May exceed the last index (a snapshot installed from the leader): the log is
    /// then empty and continues after that index.
    CompactPrefix(u64),
}

/// An ordered group of records that is written, checksummed and synced as one unit: after
/// a crash either all of it is recovered or none of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    records: Vec<Record>,
}

impl Batch {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, record: Record) -> &mut Self {
        self.records.push(record);
        self
    }

    pub fn entry(&mut self, entry: WalEntry) -> &mut Self {
        self.push(Record::Entry(entry))
    }

    pub fn hard_state(&mut self, hard_state: HardState) -> &mut Self {
        self.push(Record::HardState(hard_state))
    }

    pub fn truncate_suffix(&mut self, from_index: u64) -> &mut Self {
        self.push(Record::TruncateSuffix(from_index))
    }

    pub fn compact_prefix(&mut self, up_to_index: u64) -> &mut Self {
        self.push(Record::CompactPrefix(up_to_index))
    }

    pub fn records(&self) -> &[Record] {
        &self.records
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn clear(&mut self) {
        self.records.clear();
    }
}

impl From<Vec<Record>> for Batch {
    fn from(records: Vec<Record>) -> Self {
        Batch { records }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalOptions {
    /// A new segment is started before a write once the current one has reached this size.
    pub segment_size: u64,
    /// Largest encoded batch body accepted by `write` (at most `u32::MAX`).
    pub max_batch_bytes: usize,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            segment_size: 64 << 20,
            max_batch_bytes: 64 << 20,
        }
    }
}

/// Damage at the end of the newest segment that `open` removed (or `inspect` would remove).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    pub file: PathBuf,
    /// Where the damage starts; the file was cut back to this length.
    pub offset: u64,
    pub discarded_bytes: u64,
    pub reason: String,
    /// The segment's own header was incomplete, so the whole file was removed.
    pub file_removed: bool,
}

/// What the log holds, as read back by `open` or `inspect`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// The last hard state written, if any.
    pub hard_state: Option<HardState>,
    /// The compaction point: entries up to here are in a snapshot, not in `entries`.
    pub compacted: u64,
    /// Index of the last entry, or `compacted` if `entries` is empty.
    pub last_index: u64,
    /// The live entries `compacted + 1 ..= last_index`, in order, truncations applied.
    pub entries: Vec<WalEntry>,
    /// Set when a torn tail was found.
    pub torn_tail: Option<TornTail>,
    /// Segment files read.
    pub segments: usize,
    /// Intact batches replayed.
    pub batches: u64,
}

/// The log, open for appending. Not thread-safe by itself: the runtime owns it from one
/// blocking task.
#[derive(Debug)]
pub struct Wal {
    dir: PathBuf,
    options: WalOptions,
    /// Oldest first; the last one is the segment being appended to.
    segments: Vec<SegmentMeta>,
    active: File,
    active_len: u64,
    /// The state after every batch written so far (synced or not).
    state: LogState,
    unsynced: bool,
    /// A compaction point was written; old segments go once it is synced.
    pending_compaction: bool,
    poisoned: bool,
    buf: Vec<u8>,
}

/// Reads the log in `dir` without changing anything on disk: what `open` would recover,
/// including a torn tail it would cut.
pub fn inspect(dir: impl AsRef<Path>) -> Result<Recovered, WalError> {
    let replayed = recovery::replay(dir.as_ref(), false)?;
    Ok(recovered(replayed))
}

fn recovered(r: recovery::Replayed) -> Recovered {
    Recovered {
        hard_state: r.state.hard_state,
        compacted: r.state.compacted,
        last_index: r.state.last_index,
        entries: r.entries,
        torn_tail: r.torn_tail,
        segments: r.segments.len(),
        batches: r.batches,
    }
}

impl Wal {
    /// Opens (or creates) the log in `dir`, recovers its contents, cuts a torn tail, and
    /// starts a fresh segment for new writes, so that nothing is ever appended after bytes
    /// that recovery had to repair.
    pub fn open(dir: impl AsRef<Path>, options: WalOptions) -> Result<(Wal, Recovered), WalError> {
        if options.max_batch_bytes > u32::MAX as usize {
            return Err(WalError::InvalidBatch(format!(
                "max_batch_bytes {} exceeds the format's limit {}",
                options.max_batch_bytes,
                u32::MAX
            )));
        }
        let dir = dir.as_ref().to_path_buf();
        create_dir_durably(&dir)?;
        let replayed = recovery::replay(&dir, true)?;
        // What was read may still be only in the page cache (a process that crashed before
        // its sync). It is about to be treated as persisted, so make it so.
        if let Some(last) = replayed.segments.last() {
            File::open(&last.path)
                .and_then(|f| f.sync_all())
                .map_err(|e| WalError::io("sync", &last.path, e))?;
        }
        segment::sync_dir(&dir).map_err(|e| WalError::io("sync", &dir, e))?;
        let seq = match replayed.segments.last() {
            None => 0,
            Some(s) => s
                .header
                .seq
                .checked_add(1)
                .ok_or_else(|| WalError::Corrupt {
                    file: s.path.clone(),
                    offset: 0,
                    reason: "segment sequence number exhausted".to_string(),
                })?,
        };
        let (active, meta, active_len) = new_segment(&dir, seq, &replayed.state)?;
        let mut segments = replayed.segments.clone();
        segments.push(meta);
        let wal = Wal {
            dir,
            options,
            segments,
            active,
            active_len,
            state: replayed.state.clone(),
            unsynced: false,
            // A crash between a compaction record and its deletions leaves old segments
            // behind; the first sync removes them.
            pending_compaction: replayed.state.compacted > 0,
            poisoned: false,
            buf: Vec::new(),
        };
        Ok((wal, recovered(replayed)))
    }

    /// Writes `batch` and makes it durable: on `Ok` it survives any crash.
    pub fn append_batch(&mut self, batch: &Batch) -> Result<(), WalError> {
        self.write(batch)?;
        self.sync()
    }

    /// Writes `batch` without syncing. It is not durable (and must not be acknowledged)
    /// until a later `sync` returns `Ok`. The batch is checked first; an invalid one is
    /// rejected with `InvalidBatch` and nothing is written.
    pub fn write(&mut self, batch: &Batch) -> Result<(), WalError> {
        if self.poisoned {
            return Err(WalError::Poisoned);
        }
        if batch.is_empty() {
            return Err(WalError::InvalidBatch("empty batch".to_string()));
        }
        let mut next = self.state.clone();
        for r in batch.records() {
            next.check(r).map_err(WalError::InvalidBatch)?;
            next.apply(r);
        }
        let body: usize = batch.records().iter().map(record::record_len).sum();
        if body > self.options.max_batch_bytes {
            return Err(WalError::InvalidBatch(format!(
                "batch of {body} bytes exceeds max_batch_bytes {}",
                self.options.max_batch_bytes
            )));
        }
        if self.active_len >= self.options.segment_size {
            self.roll()?;
        }
        self.buf.clear();
        record::encode_batch(batch.records(), &mut self.buf);
        if let Err(e) = self.active.write_all(&self.buf) {
            // Part of the batch may be in the file; appending after it would bury damage
            // in the middle of the segment.
            self.poisoned = true;
            return Err(WalError::io("write", self.active_path(), e));
        }
        self.active_len += self.buf.len() as u64;
        self.unsynced = true;
        for r in batch.records() {
            match r {
                Record::Entry(e) => {
                    if let Some(s) = self.segments.last_mut() {
                        s.max_index = Some(e.index);
                    }
                }
                Record::TruncateSuffix(from) => {
                    recovery::clamp_max_index(&mut self.segments, *from)
                }
                Record::CompactPrefix(up_to) if *up_to > self.state.compacted => {
                    self.pending_compaction = true;
                }
                _ => {}
            }
        }
        self.state = next;
        Ok(())
    }

    /// Makes every batch written so far durable, then deletes the segments that a synced
    /// compaction point made unnecessary. An `Io` error from the deletion step (action
    /// "remove", or "sync" of the directory) comes after the batches are durable; the handle
    /// stays usable and the deletion is retried on a later sync. Any other error poisons it.
    pub fn sync(&mut self) -> Result<(), WalError> {
        if self.poisoned {
            return Err(WalError::Poisoned);
        }
        self.sync_active()?;
        if self.pending_compaction {
            self.pending_compaction = false;
            self.delete_compacted_segments()?;
        }
        Ok(())
    }

    /// Voids the entries from `from_index` on, durably. Equivalent to a batch holding only
    /// `Record::TruncateSuffix`.
    pub fn truncate_suffix(&mut self, from_index: u64) -> Result<(), WalError> {
        self.append_batch(&Batch::from(vec![Record::TruncateSuffix(from_index)]))
    }

    /// Records that entries up to `up_to_index` are in a durable snapshot, then deletes the
    /// segments whose live entries are all at or below it. A point at or below the current
    /// one is a no-op. Call only after the snapshot itself is durable.
    pub fn compact_prefix(&mut self, up_to_index: u64) -> Result<(), WalError> {
        if up_to_index <= self.state.compacted {
            return Ok(());
        }
        self.append_batch(&Batch::from(vec![Record::CompactPrefix(up_to_index)]))
    }

    /// Index of the last entry written, or the compaction point if there is none after it.
    pub fn last_index(&self) -> u64 {
        self.state.last_index
    }

    pub fn compacted(&self) -> u64 {
        self.state.compacted
    }

    pub fn hard_state(&self) -> Option<HardState> {
        self.state.hard_state
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The segment files, oldest first; the last is being appended to.
    pub fn segment_paths(&self) -> Vec<PathBuf> {
        self.segments.iter().map(|s| s.path.clone()).collect()
    }

    fn active_path(&self) -> PathBuf {
        self.segments
            .last()
            .map_or_else(|| self.dir.clone(), |s| s.path.clone())
    }

    fn sync_active(&mut self) -> Result<(), WalError> {
        if self.unsynced {
            // fdatasync also flushes the file size, which is all the metadata an append
            // changes.
            if let Err(e) = self.active.sync_data() {
                // After a failed fsync the kernel may have dropped the dirty pages; a retry
                // could report success for data that is gone.
                self.poisoned = true;
                return Err(WalError::io("sync", self.active_path(), e));
            }
            self.unsynced = false;
        }
        Ok(())
    }

    fn roll(&mut self) -> Result<(), WalError> {
        // The finished segment must be complete on disk before a newer one holds anything:
        // recovery treats damage anywhere but in the newest segment as corruption.
        self.sync_active()?;
        let seq = self
            .segments
            .last()
            .map_or(0, |s| s.header.seq.saturating_add(1));
        match new_segment(&self.dir, seq, &self.state) {
            Ok((file, meta, len)) => {
                self.active = file;
                self.active_len = len;
                self.segments.push(meta);
                Ok(())
            }
            Err(e) => {
                self.poisoned = true;
                Err(e)
            }
        }
    }

    fn delete_compacted_segments(&mut self) -> Result<(), WalError> {
        let compacted = self.state.compacted;
        let sealed = self.segments.len().saturating_sub(1);
        let deletable = self.segments[..sealed]
            .iter()
            .take_while(|s| !matches!(s.max_index, Some(m) if m > compacted))
            .count();
        if deletable == 0 {
            return Ok(());
        }
        // Oldest first, so that a crash part way leaves a suffix of the segments, which
        // recovery accepts.
        for _ in 0..deletable {
            let path = self.segments[0].path.clone();
            if let Err(e) = fs::remove_file(&path) {
                self.pending_compaction = true;
                return Err(WalError::io("remove", &path, e));
            }
            self.segments.remove(0);
        }
        segment::sync_dir(&self.dir).map_err(|e| WalError::io("sync", &self.dir, e))
    }
}

/// Creates a segment whose first batch restates the hard state and the compaction point,
/// so that deleting every older segment never loses them.
fn new_segment(
    dir: &Path,
    seq: u64,
    state: &LogState,
) -> Result<(File, SegmentMeta, u64), WalError> {
    let mut checkpoint = Vec::new();
    if let Some(h) = state.hard_state {
        checkpoint.push(Record::HardState(h));
    }
    if state.compacted > 0 {
        checkpoint.push(Record::CompactPrefix(state.compacted));
    }
    let mut initial = Vec::new();
    if !checkpoint.is_empty() {
        record::encode_batch(&checkpoint, &mut initial);
    }
    let header = Header {
        seq,
        first_index: state.last_index.saturating_add(1),
    };
    let (file, path, len) = segment::create(dir, header, &initial)
        .map_err(|e| WalError::io("create segment in", dir, e))?;
    Ok((file, SegmentMeta::new(header, path), len))
}

/// Creates `dir` if needed and makes its own directory entry durable.
fn create_dir_durably(dir: &Path) -> Result<(), WalError> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(dir).map_err(|e| WalError::io("create directory", dir, e))?;
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        segment::sync_dir(parent).map_err(|e| WalError::io("sync", parent, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
