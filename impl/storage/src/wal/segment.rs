//! Segment files: naming, the per-file header, creation and listing.
//!
//! A segment is named `SSSSSSSSSSSSSSSSSSSS-IIIIIIIIIIIIIIIIIIII.wal`: the segment's sequence
//! number and the index the next entry had when the segment was created, both 20 decimal
//! digits. The sequence number orders the segments; the first index alone cannot, because
//! a truncation may rewind the log below the index a previous segment started at.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// `RWAL`: marks a file as a segment of this log.
const MAGIC: [u8; 4] = *b"RWAL";
/// Bumped on any incompatible change of the layout.
pub(crate) const VERSION: u16 = 1;
/// magic(4) version(2) reserved(2) seq(8) first_index(8) crc(4)
pub(crate) const HEADER_LEN: usize = 28;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub seq: u64,
    pub first_index: u64,
}

impl Header {
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[0..4].copy_from_slice(&MAGIC);
        h[4..6].copy_from_slice(&VERSION.to_le_bytes());
        // h[6..8] reserved, zero.
        h[8..16].copy_from_slice(&self.seq.to_le_bytes());
        h[16..24].copy_from_slice(&self.first_index.to_le_bytes());
        let crc = crc32c::crc32c(&h[..24]);
        h[24..28].copy_from_slice(&crc.to_le_bytes());
        h
    }

    pub fn decode(buf: &[u8]) -> Result<Header, String> {
        let Some(h) = buf.get(..HEADER_LEN) else {
            return Err(format!(
                "incomplete segment header ({} of {HEADER_LEN} bytes)",
                buf.len()
            ));
        };
        let word = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&h[at..at + 8]);
            u64::from_le_bytes(b)
        };
        let crc = u32::from_le_bytes([h[24], h[25], h[26], h[27]]);
        if crc32c::crc32c(&h[..24]) != crc {
            return Err("segment header checksum mismatch".to_string());
        }
        if h[0..4] != MAGIC {
            return Err("not a log segment (bad magic)".to_string());
        }
        let version = u16::from_le_bytes([h[4], h[5]]);
        if version != VERSION || h[6..8] != [0, 0] {
            return Err(format!("unsupported segment version {version}"));
        }
        Ok(Header {
            seq: word(8),
            first_index: word(16),
        })
    }
}

pub(crate) fn file_name(seq: u64, first_index: u64) -> String {
    format!("{seq:020}-{first_index:020}.wal")
}

/// Parses a segment file name; `None` for any other file.
pub(crate) fn parse_name(name: &str) -> Option<Header> {
    let stem = name.strip_suffix(".wal")?;
    let (seq, first) = stem.split_once('-')?;
    let digits = |s: &str| s.len() == 20 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(seq) || !digits(first) {
        return None;
    }
    Some(Header {
        seq: seq.parse().ok()?,
        first_index: first.parse().ok()?,
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Listed {
    pub name: Header,
    pub path: PathBuf,
}

/// The segment files in `dir`, in sequence order. Other files are left alone.
pub(crate) fn list(dir: &Path) -> io::Result<Vec<Listed>> {
    let mut out = Vec::new();
    for item in fs::read_dir(dir)? {
        let item = item?;
        let Some(name) = item.file_name().to_str().and_then(parse_name) else {
            continue;
        };
        out.push(Listed {
            name,
            path: item.path(),
        });
    }
    out.sort_by_key(|l| l.name.seq);
    Ok(out)
}

/// Makes the directory's entries (created, renamed or removed files) durable. Without it a
/// crash may undo the creation of a segment even though its contents were fsynced.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates a segment holding its header followed by `initial` (already framed batches), and
/// makes both the file and its directory entry durable before returning. Entries are only
/// appended to a segment after this, so an acknowledged batch can never sit in a file that a
/// crash could make disappear.
pub(crate) fn create(
    dir: &Path,
    header: Header,
    initial: &[u8],
) -> io::Result<(File, PathBuf, u64)> {
    let path = dir.join(file_name(header.seq, header.first_index));
    // create_new: never reuse an existing file, whatever is in it.
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)?;
    let mut bytes = header.encode().to_vec();
    bytes.extend_from_slice(initial);
    file.write_all(&bytes)?;
    file.sync_all()?;
    sync_dir(dir)?;
    Ok((file, path, bytes.len() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_damage() {
        let h = Header {
            seq: 7,
            first_index: 1234,
        };
        let bytes = h.encode();
        assert_eq!(Header::decode(&bytes), Ok(h));
        for cut in 0..HEADER_LEN {
            assert!(Header::decode(&bytes[..cut]).is_err());
        }
        for at in 0..HEADER_LEN {
            let mut bad = bytes;
            bad[at] ^= 1;
            assert!(Header::decode(&bad).is_err(), "flip at {at}");
        }
    }

    #[test]
    fn names() {
        let n = file_name(3, 101);
        assert_eq!(n, "00000000000000000003-00000000000000000101.wal");
        assert_eq!(
            parse_name(&n),
            Some(Header {
                seq: 3,
                first_index: 101
            })
        );
        assert_eq!(parse_name("3-101.wal"), None);
        assert_eq!(
            parse_name("00000000000000000003-00000000000000000101.wal.tmp"),
            None
        );
        assert_eq!(
            parse_name("0000000000000000000x-00000000000000000101.wal"),
            None
        );
        // 20 digits can exceed u64::MAX.
        assert_eq!(
            parse_name("99999999999999999999-00000000000000000101.wal"),
            None
        );
    }
}
