//! Snapshot files: round trip, a crash before the rename, damage, pruning.

use std::fs;

use raft_storage::snapshot_file::{self, Snapshot, SnapshotError, SnapshotMeta, SnapshotStore};

fn snap(index: u64, term: u64, data: &[u8]) -> Snapshot {
    Snapshot {
        meta: SnapshotMeta {
            last_index: index,
            last_term: term,
            config: format!("voters=1,2,3;at={index}").into_bytes(),
        },
        data: data.to_vec(),
    }
}

fn names(store: &SnapshotStore) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(store.dir())
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn round_trip_and_pruning() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SnapshotStore::open(dir.path()).expect("open");
    assert_eq!(store.load_latest().expect("load"), None);

    let a = snap(10, 2, b"state at 10");
    store.save(&a).expect("save");
    assert_eq!(store.load_latest().expect("load"), Some(a));

    // A large, newer snapshot replaces it; the old file is pruned once the new one is durable.
    let big: Vec<u8> = (0..1_000_000u32).map(|i| (i * 7) as u8).collect();
    let b = snap(20, 3, &big);
    let path = store.save(&b).expect("save");
    assert_eq!(names(&store), vec![snapshot_file::file_name(20, 3)]);
    assert_eq!(snapshot_file::load(&path).expect("load"), b);
    assert_eq!(store.load_latest().expect("load"), Some(b));

    // Reopening finds it again.
    let store = SnapshotStore::open(dir.path())
        .expect("reopen")
        .with_retain(2);
    let c = snap(30, 3, b"");
    store.save(&c).expect("save");
    assert_eq!(store.list().expect("list").len(), 2, "retain 2 keeps two");
    assert_eq!(store.load_latest().expect("load"), Some(c));

    // An older snapshot than the newest one is refused and changes nothing.
    match store.save(&snap(25, 3, b"old")) {
        Err(SnapshotError::Invalid(_)) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(store.list().expect("list").len(), 2);
}

#[test]
fn crash_before_rename_leaves_the_old_snapshot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SnapshotStore::open(dir.path()).expect("open");
    let old = snap(5, 1, b"old state");
    store.save(&old).expect("save");

    // What a save of a newer snapshot leaves when it crashes after writing its temp file
    // (completely or in part) but before the rename.
    let newer = snapshot_file::encode(&snap(9, 2, b"new state")).expect("encode");
    let temp = dir
        .path()
        .join(format!("{}.tmp", snapshot_file::file_name(9, 2)));
    fs::write(&temp, &newer[..newer.len() / 2]).expect("write temp");
    let other_temp = dir
        .path()
        .join(format!("{}.tmp", snapshot_file::file_name(12, 2)));
    fs::write(&other_temp, &newer).expect("write temp");

    let store = SnapshotStore::open(dir.path()).expect("reopen");
    let mut removed = store.removed_temp_files().to_vec();
    removed.sort();
    assert_eq!(removed, vec![temp.clone(), other_temp.clone()]);
    assert!(!temp.exists() && !other_temp.exists(), "temp files cleaned");
    assert_eq!(store.load_latest().expect("load"), Some(old));
    assert_eq!(names(&store), vec![snapshot_file::file_name(5, 1)]);
}

#[test]
fn damaged_snapshots_are_errors_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SnapshotStore::open(dir.path()).expect("open");
    let s = snap(7, 2, b"some state machine bytes");
    let path = store.save(&s).expect("save");
    let good = fs::read(&path).expect("read");

    let expect_corrupt = |bytes: &[u8], what: &str| {
        fs::write(&path, bytes).expect("write");
        match store.load_latest() {
            Err(e @ SnapshotError::Corrupt { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains(&path.display().to_string()), "{what}: {msg}");
            }
            other => panic!("{what}: {other:?}"),
        }
    };
    for at in [0, 5, 12, 30, good.len() / 2, good.len() - 1] {
        let mut bad = good.clone();
        bad[at] ^= 0x40;
        expect_corrupt(&bad, &format!("flip at {at}"));
    }
    expect_corrupt(&good[..good.len() - 3], "truncated");
    expect_corrupt(&[], "empty");
    let mut longer = good.clone();
    longer.push(0);
    expect_corrupt(&longer, "extra byte");

    // Intact content under a name that does not match it.
    fs::write(&path, &good).expect("restore");
    let renamed = dir.path().join(snapshot_file::file_name(8, 2));
    fs::rename(&path, &renamed).expect("rename");
    match store.load_latest() {
        Err(SnapshotError::Corrupt { file, .. }) => assert_eq!(file, renamed),
        other => panic!("{other:?}"),
    }
}
