//! Membership changes with the real `etcdctl`: add a learner, start it, see it replicate,
//! promote it to voter, remove another member and then the leader, while a client keeps writing
//! throughout. Skips (with a printed reason) only when etcdctl is not installed.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

fn member_list(endpoints: &str) -> Vec<Value> {
    let out = ok(&etcdctl(endpoints, &["member", "list", "-w", "json"]));
    let v: Value = serde_json::from_str(&out).unwrap();
    v["members"].as_array().unwrap().clone()
}

/// Writes `key` through `members` and waits until each of them has applied it.
fn put_everywhere(members: &[String], key: &str, value: &str) {
    ok(&etcdctl(&members.join(","), &["put", key, value]));
    for e in members {
        wait_until(
            &format!("{key} applied on {e}"),
            Duration::from_secs(10),
            || get_value(e, key, true).as_deref() == Some(value),
        );
    }
}

/// A client writing `bg/<n>` through `endpoint` until `stop`: the writes it saw acknowledged and
/// when, and how many failed.
fn background_writer(
    endpoint: String,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<(Vec<(String, Instant)>, usize)> {
    std::thread::spawn(move || {
        let (mut acked, mut failed) = (Vec::new(), 0);
        for n in 0.. {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let key = format!("bg/{n:05}");
            if etcdctl(&endpoint, &["put", &key, &n.to_string()])
                .status
                .success()
            {
                acked.push((key, Instant::now()));
            } else {
                failed += 1;
            }
        }
        (acked, failed)
    })
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn add_learner_promote_and_remove_with_etcdctl() {
    if !etcdctl_present() {
        eprintln!("SKIPPED: etcdctl not found on PATH (Debian package etcd-client)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut procs = Procs::new(dir.path(), 3);
    let each: Vec<String> = procs.members.iter().map(Member::endpoint).collect();
    let all = procs.endpoints();
    let leader = wait_leader(&each, Duration::from_secs(15), 0).expect("no leader elected");
    ok(&etcdctl(&all, &["put", "before-add", "1"]));
    // The original follower that stays to the end takes a client's writes the whole time (it
    // forwards them to whoever leads).
    let survivor = each[(0..3)
        .filter(|&i| procs.members[i].id != leader)
        .nth(1)
        .unwrap()]
    .clone();
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let writer = background_writer(survivor.clone(), stop.clone());

    // Add a learner; the reply names the new member's id.
    let new_peer = free_port();
    let new_client = free_port();
    let out = ok(&etcdctl(
        &all,
        &[
            "member",
            "add",
            "node-4",
            &format!("--peer-urls=http://127.0.0.1:{new_peer}"),
            "--learner",
            "-w",
            "json",
        ],
    ));
    let v: Value = serde_json::from_str(&out).unwrap();
    let id = v["member"]["ID"].as_u64().expect("member id");
    assert_eq!(v["member"]["isLearner"], true);

    // Start it with --join.
    procs.members.push(Member {
        id,
        peer: new_peer,
        client: new_client,
        extra: vec![
            "--join".to_string(),
            "--name".to_string(),
            "node-4".to_string(),
        ],
    });
    let child = procs.spawn(3);
    procs.children.push(Some(child));
    let learner = procs.members[3].endpoint();

    // It receives the log (a learner applies entries too) and publishes its client address.
    wait_until("the learner to catch up", Duration::from_secs(20), || {
        get_value(&learner, "before-add", true).as_deref() == Some("1")
    });
    wait_until(
        "the learner's client address",
        Duration::from_secs(10),
        || {
            member_list(&all).iter().any(|m| {
                m["ID"].as_u64() == Some(id)
                    && m["clientURLs"][0] == format!("http://{learner}")
                    && m["name"] == "node-4"
            })
        },
    );
    let out = ok(&etcdctl(&learner, &["endpoint", "status", "-w", "json"]));
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["Status"]["isLearner"], true);

    // Promote it.
    let hex_id = format!("{id:x}");
    wait_until(
        "the promotion to be accepted",
        Duration::from_secs(10),
        || {
            etcdctl(&all, &["member", "promote", &hex_id])
                .status
                .success()
        },
    );
    let list = member_list(&all);
    let m = list.iter().find(|m| m["ID"].as_u64() == Some(id)).unwrap();
    assert_ne!(m["isLearner"], true);
    ok(&etcdctl(&all, &["put", "after-promote", "2"]));
    wait_until(
        "the promoted member to apply",
        Duration::from_secs(10),
        || get_value(&learner, "after-promote", true).as_deref() == Some("2"),
    );

    // Remove one of the original followers.
    let victim = procs
        .members
        .iter()
        .position(|m| m.id != leader && m.id != id)
        .unwrap();
    let victim_id = procs.members[victim].id;
    ok(&etcdctl(
        &all,
        &["member", "remove", &format!("{victim_id:x}")],
    ));
    wait_until("the removal to show", Duration::from_secs(10), || {
        let list = member_list(&all);
        list.len() == 3 && list.iter().all(|m| m["ID"].as_u64() != Some(victim_id))
    });
    if let Some(mut c) = procs.children[victim].take() {
        let _ = c.kill();
        let _ = c.wait();
    }
    // The remaining three (two originals and the promoted member) still commit writes.
    let remaining: Vec<String> = procs
        .members
        .iter()
        .filter(|m| m.id != victim_id)
        .map(Member::endpoint)
        .collect();
    put_everywhere(&remaining, "after-remove", "3");

    // The leader removes itself: it hands leadership to another voter (thesis 3.10), which
    // removes it like any other member; the other two keep committing.
    let leader_at = procs.members.iter().position(|m| m.id == leader).unwrap();
    let rest: Vec<String> = procs
        .members
        .iter()
        .filter(|m| m.id != victim_id && m.id != leader)
        .map(Member::endpoint)
        .collect();
    let rest_list = rest.join(",");
    ok(&etcdctl(
        &procs.members[leader_at].endpoint(),
        &["member", "remove", &format!("{leader:x}")],
    ));
    let new_leader =
        wait_leader(&rest, Duration::from_secs(15), leader).expect("no leader after removing it");
    wait_until(
        "the leader's removal to show",
        Duration::from_secs(10),
        || {
            let list = member_list(&rest_list);
            list.len() == 2 && list.iter().all(|m| m["ID"].as_u64() != Some(leader))
        },
    );
    eprintln!("leader {leader} removed itself; {new_leader} leads");
    if let Some(mut c) = procs.children[leader_at].take() {
        let _ = c.kill();
        let _ = c.wait();
    }
    put_everywhere(&rest, "after-leader-remove", "4");

    // The client's writes went on throughout: no pause longer than a leadership change, and
    // every acknowledged one is on both remaining members.
    stop.store(true, Ordering::Relaxed);
    let (acked, failed) = writer.join().unwrap();
    let mut last = started;
    let mut longest = Duration::ZERO;
    for (_, at) in &acked {
        longest = longest.max(at.duration_since(last));
        last = *at;
    }
    eprintln!(
        "background writes: {} acknowledged, {failed} failed, longest pause {longest:?}",
        acked.len()
    );
    assert!(
        acked.len() >= 10,
        "only {} writes went through",
        acked.len()
    );
    assert!(
        longest < Duration::from_secs(5),
        "writes paused for {longest:?}"
    );
    assert!(rest.contains(&survivor));
    for e in &rest {
        let stored = all_pairs(e);
        for (k, _) in &acked {
            assert!(stored.contains_key(k), "{k} missing on {e}");
        }
    }
}
