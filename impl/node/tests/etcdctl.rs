//! Three `raft-node` processes on loopback driven by the real `etcdctl`: put/get/del/txn,
//! member list, endpoint status; then kill -9 of the leader, re-election, restart, and every
//! acknowledged write present on all three. Skips (with a printed reason) only when etcdctl is
//! not installed (Debian: etcd-client).
//!
//! Every process is started through [`Procs`], which kills it on drop, so a failing assertion
//! leaves nothing running.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

#[test]
fn etcdctl_against_a_three_node_cluster_with_leader_failover() {
    if !etcdctl_present() {
        eprintln!("SKIPPED: etcdctl not found on PATH (Debian package etcd-client)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut procs = Procs::new(dir.path(), 3);
    let all = procs.endpoints();
    let each: Vec<String> = procs.members.iter().map(Member::endpoint).collect();
    let leader = wait_leader(&each, Duration::from_secs(15), 0).expect("no leader elected");

    // put / get / del through the list of endpoints, and get through each member.
    assert_eq!(
        ok(&etcdctl(&all, &["put", "greeting", "hello"])).trim(),
        "OK"
    );
    for e in &each {
        assert_eq!(get_value(e, "greeting", false).as_deref(), Some("hello"));
    }
    let out = ok(&etcdctl(&all, &["get", "greeting", "-w", "json"]));
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["kvs"][0]["version"], 1);
    assert_eq!(v["kvs"][0]["create_revision"], v["kvs"][0]["mod_revision"]);
    assert_eq!(ok(&etcdctl(&all, &["put", "greeting", "hi"])).trim(), "OK");
    let out = ok(&etcdctl(&all, &["get", "greeting", "-w", "json"]));
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["kvs"][0]["version"], 2);
    assert_eq!(ok(&etcdctl(&all, &["del", "greeting"])).trim(), "1");
    assert_eq!(get_value(&all, "greeting", false), None);

    // Prefix reads.
    for k in ["app/a", "app/b", "other"] {
        ok(&etcdctl(&all, &["put", k, "x"]));
    }
    let keys = ok(&etcdctl(&all, &["get", "app/", "--prefix", "--keys-only"]));
    assert_eq!(
        keys.split_whitespace().collect::<Vec<_>>(),
        ["app/a", "app/b"]
    );

    // A compare-and-swap transaction, taken and not taken.
    let txn = |expect: &str, new: &str| {
        ok(&etcdctl_stdin(
            &all,
            &["txn"],
            Some(&format!(
                "value(\"other\") = \"{expect}\"\n\nput other {new}\n\nput failed yes\n\n"
            )),
        ))
    };
    assert!(txn("x", "y").starts_with("SUCCESS"));
    assert!(txn("x", "z").starts_with("FAILURE"));
    assert_eq!(get_value(&all, "other", false).as_deref(), Some("y"));
    assert_eq!(get_value(&all, "failed", false).as_deref(), Some("yes"));

    // member list and endpoint status.
    let out = ok(&etcdctl(&all, &["member", "list", "-w", "json"]));
    let v: Value = serde_json::from_str(&out).unwrap();
    let members = v["members"].as_array().unwrap();
    assert_eq!(members.len(), 3);
    for m in &procs.members {
        let found = members
            .iter()
            .find(|x| x["ID"].as_u64() == Some(m.id))
            .unwrap_or_else(|| panic!("member {} missing", m.id));
        assert_eq!(found["clientURLs"][0], format!("http://{}", m.endpoint()));
        assert_eq!(found["peerURLs"][0], format!("http://127.0.0.1:{}", m.peer));
    }
    let out = ok(&etcdctl(&all, &["endpoint", "status", "-w", "json"]));
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 3);
    for s in v.as_array().unwrap() {
        assert_eq!(s["Status"]["leader"].as_u64(), Some(leader));
    }

    // Acknowledged writes before the failure, spread over the members.
    let mut acked = Vec::new();
    for i in 0..60 {
        let key = format!("before/{i:02}");
        let e = &each[i % 3];
        if etcdctl(e, &["put", &key, &format!("v{i}")])
            .status
            .success()
        {
            acked.push((key, format!("v{i}")));
        }
    }
    assert_eq!(acked.len(), 60, "writes failed on a healthy cluster");

    // kill -9 the leader; a new one must be elected within the election timeout range (plus
    // the pre-vote and vote round trips and this test's polling).
    let li = procs.members.iter().position(|m| m.id == leader).unwrap();
    let mut child = procs.children[li].take().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let killed_at = Instant::now();
    let survivors: Vec<String> = each
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != li)
        .map(|(_, e)| e.clone())
        .collect();
    let new_leader = wait_leader(&survivors, Duration::from_secs(10), leader)
        .expect("no new leader after kill -9");
    let elected_in = killed_at.elapsed();
    assert_ne!(new_leader, leader);
    eprintln!("new leader {new_leader} elected {elected_in:?} after kill -9 of leader {leader}");
    // The bound: one full maximum timeout for the first follower to notice, a second one if the
    // first pre-vote collided with the other follower's leader lease, and slack for polling.
    let bound = Duration::from_millis(2 * ELECTION_MS.1 + 1000);
    assert!(
        elected_in <= bound,
        "re-election took {elected_in:?} (bound {bound:?})"
    );

    // Writes while one member is down: enough for the new leader to take a snapshot (the
    // threshold is 100 entries) past the end of the killed member's log, and large enough values
    // that the snapshot travels in several chunks.
    let survivors_list = survivors.join(",");
    for i in 0..150 {
        let key = format!("during/{i:03}");
        let value = format!("{i:03}{}", "w".repeat(12 << 10));
        if etcdctl(&survivors_list, &["put", &key, &value])
            .status
            .success()
        {
            acked.push((key, value));
        }
    }
    assert!(acked.len() >= 200, "too few writes while a member was down");

    // Restart the killed member from its data directory.
    let restarted = procs.spawn(li);
    procs.children[li] = Some(restarted);
    let target = survivors
        .iter()
        .filter_map(|e| status(e).map(|s| s.2))
        .max()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while status(&each[li]).is_none_or(|s| s.2 < target) {
        assert!(
            Instant::now() < deadline,
            "restarted member did not catch up"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // It caught up through InstallSnapshot, sent in chunks (frames are at most 1 MiB of data).
    let log = std::fs::read_to_string(dir.path().join(format!("node{leader}.log"))).unwrap();
    let restored = log
        .lines()
        .find(|l| l.contains("restored the state machine from the leader's snapshot"))
        .unwrap_or_else(|| panic!("no snapshot installed on the restarted member:\n{log}"));
    eprintln!("restarted member: {restored}");
    let bytes: u64 = restored
        .split("bytes=")
        .nth(1)
        .and_then(|b| b.split_whitespace().next())
        .and_then(|b| b.parse().ok())
        .expect("snapshot size in the log line");
    assert!(bytes > 1 << 20, "a snapshot of {bytes} bytes is one chunk");

    // Every acknowledged write is on every member (serializable reads: each one's own state).
    for e in &each {
        let stored = all_pairs(e);
        for (k, v) in &acked {
            assert_eq!(stored.get(k), Some(v), "{k} on {e}");
        }
    }

    // SIGTERM stops every member cleanly (exit status 0).
    for c in procs.children.iter_mut() {
        let child = c.as_mut().unwrap();
        let pid = child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
    }
    for c in procs.children.iter_mut() {
        let mut child = c.take().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "exit status {status} after SIGTERM");
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("member did not stop within 10 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn malformed_flags_exit_with_status_2() {
    let bin = env!("CARGO_BIN_EXE_raft-node");
    let run = |args: &[&str]| Command::new(bin).args(args).output().unwrap();
    let out = run(&["--id", "one", "--data-dir", "/tmp/x"]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&[
        "--id",
        "1",
        "--data-dir",
        "/tmp/x",
        "--election-timeout-ms",
        "900-100",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("election-timeout-ms"));
    let out = run(&["--id", "1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--data-dir"));
}

#[test]
fn corrupt_log_refuses_to_start_naming_file_and_offset() {
    use raft_core::{Entry, Payload, Ready};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    {
        let (mut disk, _) = raft_storage::DiskStorage::open(&data).unwrap();
        for i in 1..=3 {
            let ready = Ready {
                entries: vec![Entry {
                    index: i,
                    term: 1,
                    payload: Payload::Normal(vec![7; 64]),
                }],
                ..Ready::default()
            };
            disk.persist(&ready, 0).unwrap();
        }
    }
    let mut segs: Vec<_> = std::fs::read_dir(data.join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    segs.sort();
    let seg = segs
        .iter()
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let mut bytes = std::fs::read(seg).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x5a;
    std::fs::write(seg, &bytes).unwrap();
    let port = free_port();
    let out = Command::new(env!("CARGO_BIN_EXE_raft-node"))
        .args(["--id", "1", "--data-dir", data.to_str().unwrap()])
        .args(["--client-addr", &format!("127.0.0.1:{port}")])
        .args(["--peer-addr", &format!("127.0.0.1:{}", free_port())])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&seg.display().to_string()), "{err}");
    assert!(err.contains("offset"), "{err}");
}
