//! Reading the log back on open.
//!
//! Damage is a torn tail only where a crash could have left it: in the newest segment, with
//! no intact batch anywhere after it. Such a tail was never acknowledged (`sync` had not
//! returned), so cutting it off loses nothing a caller was promised. Damage anywhere else
//! means acknowledged bytes changed; replay stops with an error naming file and offset.

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};

use super::record::{self, Frame};
use super::segment::{self, Header, HEADER_LEN};
use super::state::LogState;
use super::{Record, TornTail, WalEntry, WalError};

/// What the log knows about one segment file.
#[derive(Debug, Clone)]
pub(crate) struct SegmentMeta {
    pub header: Header,
    pub path: PathBuf,
    /// An upper bound on the index of the live entries in the segment (`None`: it never held
    /// one). Compaction deletes the segment once this is covered by the compaction point.
    pub max_index: Option<u64>,
}

impl SegmentMeta {
    pub fn new(header: Header, path: PathBuf) -> Self {
        SegmentMeta {
            header,
            path,
            max_index: None,
        }
    }
}

/// Lowers the per-segment bounds after a truncation from `from`.
pub(crate) fn clamp_max_index(segments: &mut [SegmentMeta], from: u64) {
    for s in segments {
        if let Some(m) = s.max_index {
            if m >= from {
                s.max_index = Some(from - 1);
            }
        }
    }
}

pub(crate) struct Replayed {
    pub state: LogState,
    /// The live entries after the compaction point, contiguous.
    pub entries: Vec<WalEntry>,
    pub segments: Vec<SegmentMeta>,
    pub torn_tail: Option<TornTail>,
    pub batches: u64,
}

fn corrupt(file: &Path, offset: usize, reason: impl Into<String>) -> WalError {
    WalError::Corrupt {
        file: file.to_path_buf(),
        offset: offset as u64,
        reason: reason.into(),
    }
}

/// Replays every segment in `dir`. With `repair`, a torn tail is cut off on disk (and a
/// newest segment whose header never became complete is removed); without it the disk is
/// left untouched and the tail is only reported.
pub(crate) fn replay(dir: &Path, repair: bool) -> Result<Replayed, WalError> {
    let listed = segment::list(dir).map_err(|e| WalError::io("list", dir, e))?;
    for pair in listed.windows(2) {
        if Some(pair[1].name.seq) != pair[0].name.seq.checked_add(1) {
            return Err(corrupt(
                &pair[1].path,
                0,
                format!(
                    "segment {} follows segment {}: the segments between are missing",
                    pair[1].name.seq, pair[0].name.seq
                ),
            ));
        }
    }

    let mut state: Option<LogState> = None;
    let mut entries: Vec<WalEntry> = Vec::new();
    let mut segments: Vec<SegmentMeta> = Vec::new();
    let mut torn_tail = None;
    let mut batches = 0;

    for (i, listed_seg) in listed.iter().enumerate() {
        let path = &listed_seg.path;
        let is_last = i + 1 == listed.len();
        let bytes = fs::read(path).map_err(|e| WalError::io("read", path, e))?;

        let header = match Header::decode(&bytes) {
            Ok(h) => h,
            Err(reason) => {
                // A crash while creating the newest segment. Creation syncs the header before
                // anything is appended, so nothing acknowledged can be in this file.
                if is_last && record::find_intact_batch(&bytes, 1).is_none() {
                    if repair {
                        fs::remove_file(path).map_err(|e| WalError::io("remove", path, e))?;
                        segment::sync_dir(dir).map_err(|e| WalError::io("sync", dir, e))?;
                    }
                    torn_tail = Some(TornTail {
                        file: path.clone(),
                        offset: 0,
                        discarded_bytes: bytes.len() as u64,
                        reason,
                        file_removed: true,
                    });
                    break;
                }
                return Err(corrupt(path, 0, reason));
            }
        };
        if header != listed_seg.name {
            return Err(corrupt(
                path,
                0,
                format!(
                    "header says segment {} starting at index {}, the file name disagrees",
                    header.seq, header.first_index
                ),
            ));
        }
        let st = state.get_or_insert_with(|| LogState::starting_at(header.first_index));
        if Some(header.first_index) != st.last_index.checked_add(1) {
            return Err(corrupt(
                path,
                0,
                format!(
                    "segment starts at index {} but the log before it ends at index {}",
                    header.first_index, st.last_index
                ),
            ));
        }
        segments.push(SegmentMeta::new(header, path.clone()));

        let mut pos = HEADER_LEN;
        while pos < bytes.len() {
            match record::parse_frame(&bytes[pos..]) {
                Frame::Intact { body, total } => {
                    let records = record::decode_body(body).map_err(|(at, why)| {
                        corrupt(path, pos, format!("record at body offset {at}: {why}"))
                    })?;
                    for (at, r) in records {
                        st.check(&r).map_err(|why| {
                            corrupt(path, pos, format!("record at body offset {at}: {why}"))
                        })?;
                        st.apply(&r);
                        apply_to_entries(&mut entries, &mut segments, r);
                    }
                    batches += 1;
                    pos += total;
                }
                Frame::Damaged(reason) => {
                    if !is_last {
                        return Err(corrupt(path, pos, reason));
                    }
                    if let Some(next) = record::find_intact_batch(&bytes, pos + 1) {
                        return Err(corrupt(
                            path,
                            pos,
                            format!("{reason}, yet an intact batch follows at offset {next}"),
                        ));
                    }
                    if repair {
                        cut_file(path, pos as u64)?;
                    }
                    torn_tail = Some(TornTail {
                        file: path.clone(),
                        offset: pos as u64,
                        discarded_bytes: (bytes.len() - pos) as u64,
                        reason,
                        file_removed: false,
                    });
                    break;
                }
            }
        }
    }

    let state = state.unwrap_or_else(LogState::empty);
    if !state.complete() {
        let first = segments
            .first()
            .map_or_else(|| dir.to_path_buf(), |s| s.path.clone());
        return Err(corrupt(
            &first,
            0,
            format!(
                "entries {}..={} are missing: no segment holds them and no compaction covers them",
                state.compacted + 1,
                state.known_from - 1
            ),
        ));
    }
    let keep_from = entries.partition_point(|e| e.index <= state.compacted);
    entries.drain(..keep_from);
    let contiguous = match (entries.first(), entries.last()) {
        (Some(f), Some(l)) => f.index == state.compacted + 1 && l.index == state.last_index,
        _ => state.last_index == state.compacted,
    };
    if !contiguous {
        // Unreachable if the replay rules hold; reported rather than trusted.
        let first = segments
            .first()
            .map_or_else(|| dir.to_path_buf(), |s| s.path.clone());
        return Err(corrupt(&first, 0, "replayed entries are not contiguous"));
    }
    Ok(Replayed {
        state,
        entries,
        segments,
        torn_tail,
        batches,
    })
}

/// Mirrors one replayed record onto the entry list and the per-segment bounds.
fn apply_to_entries(entries: &mut Vec<WalEntry>, segments: &mut [SegmentMeta], r: Record) {
    match r {
        Record::Entry(e) => {
            if let Some(s) = segments.last_mut() {
                s.max_index = Some(e.index);
            }
            entries.push(e);
        }
        Record::TruncateSuffix(from) => {
            clamp_max_index(segments, from);
            if let Some(first) = entries.first().map(|e| e.index) {
                let keep = usize::try_from(from.saturating_sub(first)).unwrap_or(usize::MAX);
                entries.truncate(keep);
            }
        }
        Record::CompactPrefix(up_to) => {
            // Entries at or below the point are dropped at the end; only a compaction past
            // the whole list (a snapshot from the leader) has to clear it now, so that the
            // entries that follow stay contiguous with what is kept.
            if entries.last().is_some_and(|e| e.index <= up_to) {
                entries.clear();
            }
        }
        Record::HardState(_) => {}
    }
}

fn cut_file(path: &Path, len: u64) -> Result<(), WalError> {
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| WalError::io("open", path, e))?;
    file.set_len(len)
        .map_err(|e| WalError::io("truncate", path, e))?;
    file.sync_all().map_err(|e| WalError::io("sync", path, e))
}
