//! Byte encoding of records and of the checksummed batch frame.
//!
//! A batch frame is `len: u32 | body_crc: u32 | header_crc: u32 | body`, all little endian.
//! `body_crc` is CRC32C over the body; `header_crc` is CRC32C over the first 8 bytes. The
//! header has its own checksum so that a damaged length is recognised as damage instead of
//! being followed to a wrong place, and so that recovery can cheaply look for any intact
//! batch after a damaged one (see `find_intact_batch`).

use super::{HardState, Record, WalEntry};

/// Bytes in the frame header that precedes every batch body.
pub const FRAME_HEADER_LEN: usize = 12;

const TAG_ENTRY: u8 = 1;
const TAG_HARD_STATE: u8 = 2;
const TAG_TRUNCATE_SUFFIX: u8 = 3;
const TAG_COMPACT_PREFIX: u8 = 4;

/// Encoded size of one record.
pub fn record_len(record: &Record) -> usize {
    match record {
        // tag, index, term, kind, data length, data
        Record::Entry(e) => 1 + 8 + 8 + 1 + 4 + e.data.len(),
        // tag, term, vote flag, vote, commit
        Record::HardState(_) => 1 + 8 + 1 + 8 + 8,
        Record::TruncateSuffix(_) | Record::CompactPrefix(_) => 1 + 8,
    }
}

fn encode_record(record: &Record, out: &mut Vec<u8>) {
    match record {
        Record::Entry(e) => {
            out.push(TAG_ENTRY);
            out.extend_from_slice(&e.index.to_le_bytes());
            out.extend_from_slice(&e.term.to_le_bytes());
            out.push(e.kind);
            // The caller has checked that the batch (and so each payload) fits in u32.
            out.extend_from_slice(&(e.data.len() as u32).to_le_bytes());
            out.extend_from_slice(&e.data);
        }
        Record::HardState(h) => {
            out.push(TAG_HARD_STATE);
            out.extend_from_slice(&h.term.to_le_bytes());
            out.push(u8::from(h.vote.is_some()));
            out.extend_from_slice(&h.vote.unwrap_or(0).to_le_bytes());
            out.extend_from_slice(&h.commit.to_le_bytes());
        }
        Record::TruncateSuffix(from) => {
            out.push(TAG_TRUNCATE_SUFFIX);
            out.extend_from_slice(&from.to_le_bytes());
        }
        Record::CompactPrefix(up_to) => {
            out.push(TAG_COMPACT_PREFIX);
            out.extend_from_slice(&up_to.to_le_bytes());
        }
    }
}

/// Appends one framed batch to `out`. The caller guarantees the body length fits in u32.
pub fn encode_batch(records: &[Record], out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0u8; FRAME_HEADER_LEN]);
    for r in records {
        encode_record(r, out);
    }
    let body_start = start + FRAME_HEADER_LEN;
    let body_len = (out.len() - body_start) as u32;
    let body_crc = crc32c::crc32c(&out[body_start..]);
    out[start..start + 4].copy_from_slice(&body_len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&body_crc.to_le_bytes());
    let header_crc = crc32c::crc32c(&out[start..start + 8]);
    out[start + 8..start + 12].copy_from_slice(&header_crc.to_le_bytes());
}

/// What lies at some position of a segment.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// An intact batch: its body and the total number of bytes it occupies.
    Intact { body: &'a [u8], total: usize },
    /// Not an intact batch; the string says why. Whether this is a torn tail or corruption
    /// is for the caller to decide from where it is.
    Damaged(String),
}

fn u32_at(buf: &[u8], at: usize) -> Option<u32> {
    let bytes = buf.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(bytes.try_into().ok()?))
}

fn u64_at(buf: &[u8], at: usize) -> Option<u64> {
    let bytes = buf.get(at..at.checked_add(8)?)?;
    Some(u64::from_le_bytes(bytes.try_into().ok()?))
}

/// Parses the frame at the start of `buf` (which runs to the end of the file).
pub fn parse_frame(buf: &[u8]) -> Frame<'_> {
    let (Some(len), Some(body_crc), Some(header_crc)) =
        (u32_at(buf, 0), u32_at(buf, 4), u32_at(buf, 8))
    else {
        return Frame::Damaged(format!(
            "incomplete batch header ({} of {FRAME_HEADER_LEN} bytes)",
            buf.len()
        ));
    };
    if crc32c::crc32c(&buf[..8]) != header_crc {
        return Frame::Damaged("batch header checksum mismatch".to_string());
    }
    if len == 0 {
        // The writer never emits empty batches.
        return Frame::Damaged("batch header declares an empty body".to_string());
    }
    let total = FRAME_HEADER_LEN + len as usize;
    let Some(body) = buf.get(FRAME_HEADER_LEN..total) else {
        return Frame::Damaged(format!(
            "incomplete batch body ({} of {len} bytes)",
            buf.len() - FRAME_HEADER_LEN
        ));
    };
    if crc32c::crc32c(body) != body_crc {
        return Frame::Damaged("batch body checksum mismatch".to_string());
    }
    Frame::Intact { body, total }
}

/// Offset of the first intact batch at or after `from`, if any.
///
/// Used only on the failure path, to tell a torn tail (nothing intact follows the damage)
/// from corruption in the middle of the log (something intact follows it). The header
/// checksum makes each candidate position cost one 8-byte CRC, so the scan is linear.
pub fn find_intact_batch(buf: &[u8], from: usize) -> Option<usize> {
    let last_start = buf.len().checked_sub(FRAME_HEADER_LEN)?;
    (from..=last_start).find(|&at| matches!(parse_frame(&buf[at..]), Frame::Intact { .. }))
}

/// Decodes the records of an intact batch body. On failure returns the offset within the
/// body of the record that could not be decoded, and why.
pub fn decode_body(body: &[u8]) -> Result<Vec<(usize, Record)>, (usize, String)> {
    let mut records = Vec::new();
    let mut at = 0;
    while at < body.len() {
        let start = at;
        let fail = |why: &str| (start, why.to_string());
        let tag = body[at];
        at += 1;
        let record = match tag {
            TAG_ENTRY => {
                let index = u64_at(body, at).ok_or_else(|| fail("entry record cut short"))?;
                let term = u64_at(body, at + 8).ok_or_else(|| fail("entry record cut short"))?;
                let kind = *body
                    .get(at + 16)
                    .ok_or_else(|| fail("entry record cut short"))?;
                let len =
                    u32_at(body, at + 17).ok_or_else(|| fail("entry record cut short"))? as usize;
                at += 21;
                let data = body
                    .get(at..at + len)
                    .ok_or_else(|| fail("entry payload runs past the batch"))?
                    .to_vec();
                at += len;
                Record::Entry(WalEntry {
                    index,
                    term,
                    kind,
                    data,
                })
            }
            TAG_HARD_STATE => {
                let short = || fail("hard state record cut short");
                let term = u64_at(body, at).ok_or_else(short)?;
                let flag = *body.get(at + 8).ok_or_else(short)?;
                let vote = u64_at(body, at + 9).ok_or_else(short)?;
                let commit = u64_at(body, at + 17).ok_or_else(short)?;
                at += 25;
                let vote = match (flag, vote) {
                    (0, 0) => None,
                    (1, v) => Some(v),
                    _ => return Err(fail("hard state record has a malformed vote")),
                };
                Record::HardState(HardState { term, vote, commit })
            }
            TAG_TRUNCATE_SUFFIX => {
                let from = u64_at(body, at).ok_or_else(|| fail("truncate record cut short"))?;
                at += 8;
                Record::TruncateSuffix(from)
            }
            TAG_COMPACT_PREFIX => {
                let up_to = u64_at(body, at).ok_or_else(|| fail("compact record cut short"))?;
                at += 8;
                Record::CompactPrefix(up_to)
            }
            other => return Err((start, format!("unknown record tag {other}"))),
        };
        records.push((start, record));
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Record> {
        vec![
            Record::HardState(HardState {
                term: 3,
                vote: Some(2),
                commit: 7,
            }),
            Record::HardState(HardState {
                term: 4,
                vote: None,
                commit: 0,
            }),
            Record::Entry(WalEntry {
                index: 8,
                term: 3,
                kind: 1,
                data: b"hello".to_vec(),
            }),
            Record::Entry(WalEntry {
                index: 9,
                term: 4,
                kind: 0,
                data: Vec::new(),
            }),
            Record::TruncateSuffix(9),
            Record::CompactPrefix(5),
        ]
    }

    #[test]
    fn batch_round_trip() {
        let records = sample();
        let mut buf = Vec::new();
        encode_batch(&records, &mut buf);
        let expected_len: usize = records.iter().map(record_len).sum::<usize>() + FRAME_HEADER_LEN;
        assert_eq!(buf.len(), expected_len);
        let Frame::Intact { body, total } = parse_frame(&buf) else {
            panic!("frame should be intact");
        };
        assert_eq!(total, buf.len());
        let decoded: Vec<Record> = decode_body(body)
            .expect("decodes")
            .into_iter()
            .map(|(_, r)| r)
            .collect();
        assert_eq!(decoded, records);
    }

    #[test]
    fn every_prefix_and_every_flip_is_damaged() {
        let mut buf = Vec::new();
        encode_batch(&sample(), &mut buf);
        for cut in 0..buf.len() {
            assert!(
                matches!(parse_frame(&buf[..cut]), Frame::Damaged(_)),
                "cut {cut}"
            );
        }
        for at in 0..buf.len() {
            let mut bad = buf.clone();
            bad[at] ^= 0x10;
            assert!(matches!(parse_frame(&bad), Frame::Damaged(_)), "flip {at}");
        }
    }

    #[test]
    fn zeroes_are_not_a_batch() {
        assert!(matches!(parse_frame(&[0u8; 64]), Frame::Damaged(_)));
        assert_eq!(find_intact_batch(&[0u8; 64], 0), None);
    }

    #[test]
    fn finds_intact_batch_after_garbage() {
        let mut buf = vec![0xAB; 37];
        encode_batch(&sample(), &mut buf);
        assert_eq!(find_intact_batch(&buf, 0), Some(37));
        assert_eq!(find_intact_batch(&buf, 38), None);
    }

    #[test]
    fn malformed_bodies_are_rejected() {
        assert_eq!(decode_body(&[9]).unwrap_err().0, 0);
        assert!(decode_body(&[TAG_TRUNCATE_SUFFIX, 1, 2]).is_err());
        // An entry whose declared payload length runs past the body.
        let mut body = vec![TAG_ENTRY];
        body.extend_from_slice(&1u64.to_le_bytes());
        body.extend_from_slice(&1u64.to_le_bytes());
        body.push(0);
        body.extend_from_slice(&100u32.to_le_bytes());
        body.extend_from_slice(b"short");
        assert!(decode_body(&body).is_err());
        // A vote flag that is neither 0 nor 1.
        let mut hs = vec![TAG_HARD_STATE];
        hs.extend_from_slice(&1u64.to_le_bytes());
        hs.push(2);
        hs.extend_from_slice(&[0u8; 16]);
        assert!(decode_body(&hs).is_err());
    }
}
