//! The targets of `raft-storage`: WAL batches, WAL segment files, snapshot files.

use std::fs;
use std::path::{Path, PathBuf};

use raft_storage::disk::{decode_membership, encode_membership};
use raft_storage::snapshot_file::{self, Snapshot, SnapshotMeta};
use raft_storage::wal::record::{self, Frame, FRAME_HEADER_LEN};
use raft_storage::wal::{self, Record};

use crate::{shape, Scratch};

/// Segment header: magic, version, reserved, sequence number, first index, CRC.
const SEGMENT_HEADER_LEN: usize = 28;
const SEGMENT_MAGIC: &[u8] = b"RWAL";
/// At most this many segment files are made from one input.
const MAX_SEGMENTS: usize = 4;

/// One batch frame as it lies in a segment: `len | body crc | header crc | body`, then anything.
///
/// Checks, on the bytes as given and again with the length and both checksums recomputed for
/// the bytes after the header (so that mutations reach the record decoder): parsing never
/// panics; an intact frame's body decodes to records or to an error pointing inside the body;
/// decoded records re-encode to exactly the frame's bytes, and their sizes add up; and the scan
/// for an intact batch agrees with parsing at the position it reports.
pub fn wal_batch(data: &[u8]) -> String {
    let raw = batch_outcome(data);
    let body = data.get(FRAME_HEADER_LEN..).unwrap_or_default();
    let fixed = batch_outcome(&frame_body(body));
    if let Some(at) = record::find_intact_batch(data, 0) {
        assert!(
            matches!(record::parse_frame(&data[at..]), Frame::Intact { .. }),
            "find_intact_batch reported offset {at}, where no intact batch starts"
        );
        if matches!(record::parse_frame(data), Frame::Intact { .. }) {
            assert_eq!(at, 0, "an intact batch at 0, found at {at}");
        }
    }
    format!("raw {raw}; fixed {fixed}")
}

/// A frame around `body` as the writer makes one.
fn frame_body(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(FRAME_HEADER_LEN + body.len());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(body).to_le_bytes());
    let header_crc = crc32c::crc32c(&out[..8]);
    out.extend_from_slice(&header_crc.to_le_bytes());
    out.extend_from_slice(body);
    out
}

fn batch_outcome(data: &[u8]) -> String {
    let (body, total) = match record::parse_frame(data) {
        Frame::Damaged(why) => return format!("damaged: {}", shape(&why)),
        Frame::Intact { body, total } => (body, total),
    };
    assert!(
        total <= data.len() && total == FRAME_HEADER_LEN + body.len(),
        "an intact frame of {total} bytes in {} bytes",
        data.len()
    );
    match record::decode_body(body) {
        Err((at, why)) => {
            assert!(
                at < body.len(),
                "error at body offset {at} of {}",
                body.len()
            );
            format!("undecodable: {}", shape(&why))
        }
        Ok(records) => {
            let mut next = 0;
            for (at, r) in &records {
                assert_eq!(*at, next, "record offsets do not follow record sizes");
                next += record::record_len(r);
            }
            assert_eq!(next, body.len(), "record sizes do not add up to the body");
            let records: Vec<Record> = records.into_iter().map(|(_, r)| r).collect();
            let mut again = Vec::new();
            record::encode_batch(&records, &mut again);
            assert!(
                again == data[..total],
                "decoded records re-encode to other bytes"
            );
            format!("records {}", record_tags(&records))
        }
    }
}

/// The kinds of record in `records`: `E` entry, `H` hard state, `T` truncation, `C`
/// compaction.
fn record_tags(records: &[Record]) -> String {
    let has = |f: fn(&Record) -> bool| records.iter().any(f);
    let mut tags = String::new();
    for (tag, present) in [
        ('E', has(|r| matches!(r, Record::Entry(_)))),
        ('H', has(|r| matches!(r, Record::HardState(_)))),
        ('T', has(|r| matches!(r, Record::TruncateSuffix(_)))),
        ('C', has(|r| matches!(r, Record::CompactPrefix(_)))),
    ] {
        if present {
            tags.push(tag);
        }
    }
    tags
}

/// The segment files of a log directory, concatenated in sequence order: the input is cut
/// before every `RWAL` (a segment header's magic), into at most four files, each named after
/// its header's sequence number and first index (or the next free name when the header is too
/// short to have them).
///
/// Each piece is written to a scratch directory and read back by `wal::inspect` (the
/// read-only replay that `Wal::open` runs), once as given and once with every segment header
/// checksum and every batch frame's checksums recomputed (so that mutations reach the records
/// and the rules they obey). Checks: replay never panics; a log it accepts has its entries
/// contiguous after the compaction point up to the last index, and a torn tail that ends at the
/// end of its file; and opening the log for writing (which cuts the torn tail and starts a new
/// segment) recovers the same state, which a second read then finds again with no torn tail.
pub fn wal_segment(data: &[u8]) -> String {
    let pieces = split_segments(data);
    let raw = segment_outcome(&pieces, false);
    let fixed: Vec<Vec<u8>> = pieces.iter().map(|p| fix_segment(p)).collect();
    let fixed = segment_outcome(&fixed, true);
    format!("raw {raw}; fixed {fixed}")
}

fn split_segments(data: &[u8]) -> Vec<Vec<u8>> {
    let mut starts = vec![0];
    let mut at = 1;
    while starts.len() < MAX_SEGMENTS {
        match data
            .get(at..)
            .and_then(|rest| rest.windows(4).position(|w| w == SEGMENT_MAGIC))
        {
            Some(p) => {
                starts.push(at + p);
                at += p + 1;
            }
            None => break,
        }
    }
    starts.push(data.len());
    starts
        .windows(2)
        .map(|w| data[w[0]..w[1]].to_vec())
        .collect()
}

/// `bytes` with its header checksum and the checksums of each batch frame that fits recomputed;
/// the walk stops at a length that runs past the end or is zero.
fn fix_segment(bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    if out.len() < SEGMENT_HEADER_LEN {
        return out;
    }
    let crc = crc32c::crc32c(&out[..24]);
    out[24..28].copy_from_slice(&crc.to_le_bytes());
    let mut pos = SEGMENT_HEADER_LEN;
    while pos + FRAME_HEADER_LEN <= out.len() {
        let len = u32::from_le_bytes(out[pos..pos + 4].try_into().expect("4 bytes")) as usize;
        let end = pos + FRAME_HEADER_LEN + len;
        if len == 0 || end > out.len() {
            break;
        }
        let body_crc = crc32c::crc32c(&out[pos + FRAME_HEADER_LEN..end]);
        out[pos + 4..pos + 8].copy_from_slice(&body_crc.to_le_bytes());
        let header_crc = crc32c::crc32c(&out[pos..pos + 8]);
        out[pos + 8..pos + 12].copy_from_slice(&header_crc.to_le_bytes());
        pos = end;
    }
    out
}

fn u64_le(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

/// Writes the pieces as segment files into a fresh scratch directory; returns it.
fn write_segments(pieces: &[Vec<u8>]) -> PathBuf {
    let dir = Scratch::dir("wal");
    let mut next_seq = 0u64;
    for piece in pieces {
        let (seq, first) = match (u64_le(piece, 8), u64_le(piece, 16)) {
            (Some(s), Some(f)) => (s, f),
            _ => (next_seq, 0),
        };
        let mut path = dir.join(format!("{seq:020}-{first:020}.wal"));
        if path.exists() {
            path = dir.join(format!("{next_seq:020}-{first:020}.wal"));
        }
        fs::write(&path, piece).expect("write a segment into the scratch directory");
        next_seq = seq.wrapping_add(1);
    }
    dir
}

fn segment_outcome(pieces: &[Vec<u8>], reopen: bool) -> String {
    let dir = write_segments(pieces);
    let recovered = match wal::inspect(&dir) {
        Err(e) => return format!("error: {}", shape(&reason(&e))),
        Ok(r) => r,
    };
    check_recovered(&recovered);
    let mut outcome = format!(
        "ok: {} segments, entries {}, hard state {}, compacted {}, torn {}",
        recovered.segments,
        !recovered.entries.is_empty(),
        recovered.hard_state.is_some(),
        recovered.compacted > 0,
        recovered
            .torn_tail
            .as_ref()
            .map_or("no".to_string(), |t| shape(&t.reason)),
    );
    if reopen {
        reopen_and_compare(&dir, &recovered);
        outcome.push_str(", reopened");
    }
    outcome
}

/// The error's reason without the scratch path in it.
fn reason(e: &wal::WalError) -> String {
    match e {
        wal::WalError::Corrupt { reason, .. } => format!("corrupt: {reason}"),
        other => other.to_string(),
    }
}

fn check_recovered(r: &wal::Recovered) {
    for (k, e) in r.entries.iter().enumerate() {
        assert_eq!(
            e.index,
            r.compacted + 1 + k as u64,
            "recovered entries are not contiguous after the compaction point"
        );
    }
    let expected_last = r.entries.last().map_or(r.compacted, |e| e.index);
    assert_eq!(
        r.last_index, expected_last,
        "the last index is not the last entry's (or the compaction point)"
    );
    if let Some(t) = &r.torn_tail {
        let len = fs::metadata(&t.file).map(|m| m.len()).unwrap_or(0);
        assert_eq!(
            t.offset + t.discarded_bytes,
            len,
            "a torn tail that does not run to the end of its file"
        );
    }
}

/// `Wal::open` must recover what `inspect` read, and leave a log that reads back the same.
fn reopen_and_compare(dir: &Path, inspected: &wal::Recovered) {
    let opened = match wal::Wal::open(dir, wal::WalOptions::default()) {
        Ok((_wal, r)) => r,
        // The newest segment's number is the largest there is: no segment can follow it.
        Err(wal::WalError::Corrupt { reason, .. }) if reason.contains("exhausted") => return,
        Err(e) => panic!("inspect accepted the log but open refused it: {e}"),
    };
    let state = |r: &wal::Recovered| (r.hard_state, r.compacted, r.last_index, r.entries.clone());
    assert!(
        state(&opened) == state(inspected),
        "open recovered another state than inspect"
    );
    match wal::inspect(dir) {
        Ok(again) => {
            assert!(
                state(&again) == state(inspected),
                "a reopened log reads back another state"
            );
            assert!(
                again.torn_tail.is_none(),
                "a torn tail remains after open cut it: {:?}",
                again.torn_tail
            );
        }
        Err(e) => panic!("a log that open recovered does not read back: {e}"),
    }
}

/// A snapshot file's bytes.
///
/// Checks, on the bytes as given and again as a file rebuilt from them with consistent lengths
/// and checksum (so that mutations reach the configuration): decoding never panics; what
/// decodes re-encodes to the same bytes; and the configuration in it decodes to a membership or
/// an error, and a decoded membership survives its own encoding.
pub fn snapshot_file(data: &[u8]) -> String {
    let raw = snapshot_outcome(data);
    let rebuilt = snapshot_outcome(&rebuild_snapshot(data));
    format!("raw {raw}; rebuilt {rebuilt}")
}

fn snapshot_outcome(data: &[u8]) -> String {
    let snapshot = match snapshot_file::decode(data) {
        Err(why) => return format!("error: {}", shape(&why)),
        Ok(s) => s,
    };
    let again = snapshot_file::encode(&snapshot).expect("a decoded snapshot encodes");
    assert!(
        again == data,
        "a decoded snapshot re-encodes to other bytes"
    );
    match decode_membership(&snapshot.meta.config) {
        Err(why) => format!("ok, configuration error: {}", shape(&why)),
        Ok(m) => {
            let back = decode_membership(&encode_membership(&m));
            assert_eq!(
                back.as_ref(),
                Ok(&m),
                "a membership does not survive encoding"
            );
            format!(
                "ok, configuration of {} voters, joint {}, learners {}",
                m.voters.len().min(4),
                m.is_joint(),
                !m.learners.is_empty()
            )
        }
    }
}

/// A snapshot file built from the fields in `data` where they are, with the configuration
/// length cut to what is there and the rest as the state machine's bytes.
fn rebuild_snapshot(data: &[u8]) -> Vec<u8> {
    let field = |at: usize| u64_le(data, at).unwrap_or(0);
    let config_len = data.get(24..28).map_or(0, |b| {
        u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize
    });
    let rest = data.get(28..).unwrap_or_default();
    let config = &rest[..config_len.min(rest.len())];
    let after = &rest[config.len()..];
    // Skip the data length and drop the old checksum, where there is room for them.
    let state = after
        .get(8..after.len().saturating_sub(4))
        .unwrap_or_default();
    let snapshot = Snapshot {
        meta: SnapshotMeta {
            last_index: field(8),
            last_term: field(16),
            config: config.to_vec(),
        },
        data: state.to_vec(),
    };
    let bytes = snapshot_file::encode(&snapshot).expect("a small snapshot encodes");
    assert_eq!(
        snapshot_file::decode(&bytes).as_ref(),
        Ok(&snapshot),
        "an encoded snapshot does not decode to itself"
    );
    bytes
}
