//! Recovery of hand-made segments: damage placed at exact offsets, including damage that
//! the checksums alone cannot catch.

use super::*;

fn entry(index: u64) -> Record {
    Record::Entry(WalEntry {
        index,
        term: 1,
        kind: 0,
        data: vec![1, 2, 3],
    })
}

/// Writes a segment by hand; returns its path and the offset of each batch.
fn segment(dir: &Path, seq: u64, first: u64, batches: &[Vec<Record>]) -> (PathBuf, Vec<u64>) {
    let header = Header {
        seq,
        first_index: first,
    };
    let mut bytes = header.encode().to_vec();
    let mut offsets = Vec::new();
    for b in batches {
        offsets.push(bytes.len() as u64);
        record::encode_batch(b, &mut bytes);
    }
    let path = dir.join(segment::file_name(seq, first));
    fs::write(&path, bytes).expect("write segment");
    (path, offsets)
}

fn corrupt_at(dir: &Path) -> (PathBuf, u64, String) {
    match Wal::open(dir, WalOptions::default()) {
        Err(WalError::Corrupt {
            file,
            offset,
            reason,
        }) => (file, offset, reason),
        other => panic!("expected corruption, got {other:?}"),
    }
}

#[test]
fn checksummed_but_invalid_records_are_corruption() {
    // An index gap inside the newest segment, in its last batch: the checksum is fine, so
    // this is not a torn write and must not be cut off as one.
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, offsets) = segment(
        dir.path(),
        0,
        1,
        &[vec![entry(1), entry(2)], vec![entry(4)]],
    );
    let (file, offset, reason) = corrupt_at(dir.path());
    assert_eq!((file, offset), (path, offsets[1]));
    assert!(reason.contains("does not follow"), "{reason}");
}

#[test]
fn undecodable_body_with_good_checksum_is_corruption() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, offsets) = segment(dir.path(), 0, 1, &[vec![entry(1)]]);
    // Append a frame whose body is an unknown record tag, with correct checksums.
    let body = [0xEEu8, 0, 0];
    let mut frame = Vec::new();
    frame.extend_from_slice(&(body.len() as u32).to_le_bytes());
    frame.extend_from_slice(&crc32c::crc32c(&body).to_le_bytes());
    let hcrc = crc32c::crc32c(&frame[..8]);
    frame.extend_from_slice(&hcrc.to_le_bytes());
    frame.extend_from_slice(&body);
    let mut bytes = fs::read(&path).expect("read");
    let at = bytes.len() as u64;
    bytes.extend_from_slice(&frame);
    fs::write(&path, bytes).expect("write");
    let (file, offset, reason) = corrupt_at(dir.path());
    assert_eq!((file, offset), (path, at));
    assert!(reason.contains("unknown record tag"), "{reason}");
    assert!(offsets[0] < at);
}

#[test]
fn header_and_name_must_agree_and_segments_must_join_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, _) = segment(dir.path(), 0, 1, &[vec![entry(1)]]);
    fs::rename(&path, dir.path().join(segment::file_name(0, 2))).expect("rename");
    assert_eq!(corrupt_at(dir.path()).1, 0);

    // Segment 1 claims to start at 5, but segment 0 ends at 1.
    let dir = tempfile::tempdir().expect("tempdir");
    segment(dir.path(), 0, 1, &[vec![entry(1)]]);
    let (path, _) = segment(dir.path(), 1, 5, &[vec![entry(5)]]);
    assert_eq!(corrupt_at(dir.path()).0, path);
}

#[test]
fn torn_header_only_in_the_newest_segment() {
    let dir = tempfile::tempdir().expect("tempdir");
    segment(dir.path(), 0, 1, &[vec![entry(1)]]);
    let torn = dir.path().join(segment::file_name(1, 2));
    fs::write(
        &torn,
        &Header {
            seq: 1,
            first_index: 2,
        }
        .encode()[..10],
    )
    .expect("write");
    let (wal, rec) = Wal::open(dir.path(), WalOptions::default()).expect("open");
    let t = rec.torn_tail.expect("torn tail");
    assert!(t.file_removed && t.file == torn && t.discarded_bytes == 10);
    assert_eq!(rec.last_index, 1);
    drop(wal);

    // The same damage in a segment that is followed by another one.
    let dir = tempfile::tempdir().expect("tempdir");
    segment(dir.path(), 0, 1, &[vec![entry(1)]]);
    let broken = dir.path().join(segment::file_name(1, 2));
    fs::write(
        &broken,
        &Header {
            seq: 1,
            first_index: 2,
        }
        .encode()[..10],
    )
    .expect("write");
    segment(dir.path(), 2, 2, &[vec![entry(2)]]);
    let (file, offset, _) = corrupt_at(dir.path());
    assert_eq!((file, offset), (broken, 0));
}

#[test]
fn damage_followed_by_an_intact_batch_is_corruption() {
    // Zeroes where a batch should be, then an intact batch: not a torn tail, because
    // something after the damage was written completely.
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, offsets) = segment(
        dir.path(),
        0,
        1,
        &[vec![entry(1)], vec![entry(2)], vec![entry(3)]],
    );
    let mut bytes = fs::read(&path).expect("read");
    let (from, to) = (offsets[1] as usize, offsets[2] as usize);
    bytes[from..to].fill(0);
    fs::write(&path, bytes).expect("write");
    let (file, offset, reason) = corrupt_at(dir.path());
    assert_eq!((file, offset), (path, offsets[1]));
    assert!(reason.contains("intact batch follows"), "{reason}");
}

#[test]
fn zero_filled_tail_is_torn() {
    // A crash can leave the file longer than the data that reached the disk.
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, _) = segment(dir.path(), 0, 1, &[vec![entry(1)]]);
    let mut bytes = fs::read(&path).expect("read");
    let good = bytes.len() as u64;
    bytes.extend_from_slice(&[0u8; 4096]);
    fs::write(&path, bytes).expect("write");
    let (_, rec) = Wal::open(dir.path(), WalOptions::default()).expect("open");
    let t = rec.torn_tail.expect("torn");
    assert_eq!((t.offset, t.discarded_bytes), (good, 4096));
    assert_eq!(fs::metadata(&path).expect("stat").len(), good);
    assert_eq!(rec.entries.len(), 1);
}

#[test]
fn other_files_are_ignored_and_inspect_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, _) = segment(dir.path(), 0, 1, &[vec![entry(1)]]);
    fs::write(dir.path().join("notes.txt"), b"hello").expect("write");
    let mut bytes = fs::read(&path).expect("read");
    bytes.extend_from_slice(b"partial");
    fs::write(&path, &bytes).expect("write");
    let rec = inspect(dir.path()).expect("inspect");
    assert_eq!(rec.torn_tail.map(|t| t.discarded_bytes), Some(7));
    assert_eq!(
        fs::read(&path).expect("read"),
        bytes,
        "inspect must not repair"
    );
    assert_eq!(rec.entries.len(), 1);
}
