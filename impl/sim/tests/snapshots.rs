//! Log compaction and InstallSnapshot (paper section 7, Figure 13).

mod common;

use common::*;
use raft_core::{Body, Config, MemStorage, Membership, Node, Snapshot};
use raft_sim::Cluster;

fn snapshot_msg(term: u64, index: u64, snap_term: u64) -> raft_core::Message {
    msg(
        0,
        1,
        term,
        Body::InstallSnapshot {
            snapshot: Snapshot {
                index,
                term: snap_term,
                membership: Membership::new(0..3),
                data: b"state".to_vec().into(),
            },
        },
    )
}

#[test]
fn compaction_needs_an_applied_index_and_replaces_the_prefix() {
    let mut c = Cluster::full(3);
    let leader = c.elect(200).unwrap();
    for v in 0..5 {
        c.with(leader, |n| n.propose(vec![v]).unwrap());
    }
    c.deliver_all(1000);
    let applied = c.node(leader).applied_index();
    assert_eq!(applied, 6);
    assert!(c
        .with(leader, |n| n.compact(applied + 1, vec![]))
        .unwrap()
        .is_err());
    c.with(leader, |n| n.compact(4, b"s4".to_vec()).unwrap());
    let n = c.node(leader);
    assert_eq!(
        (n.snapshot().index, n.entries().first().map(|e| e.index)),
        (4, Some(5))
    );
    // Storage got the snapshot in the Ready and dropped what it covers.
    let st = &c.servers[&leader].storage;
    assert_eq!((st.snapshot.index, st.entries.len()), (4, 2));
    assert!(
        c.with(leader, |n| n.compact(3, vec![])).unwrap().is_err(),
        "not below the snapshot"
    );
    assert!(
        c.with(leader, |n| n.compact(4, vec![])).unwrap().is_err(),
        "not at the snapshot either: the conformance gate never asks for it"
    );
}

#[test]
fn the_leader_sends_a_snapshot_to_a_follower_whose_next_entry_was_compacted() {
    let mut c = Cluster::full(3);
    let leader = c.elect(200).unwrap();
    let lagging = (leader + 1) % 3;
    c.isolate(lagging);
    for v in 0..10 {
        c.with(leader, |n| n.propose(vec![v]).unwrap());
    }
    c.deliver_all(1000);
    let applied = c.node(leader).applied_index();
    c.with(leader, |n| {
        n.compact(applied, b"everything".to_vec()).unwrap()
    });
    c.heal();
    c.with(leader, |n| n.heartbeat());
    let sent_snapshot = c
        .network
        .iter()
        .any(|m| m.to == lagging && matches!(m.body, Body::InstallSnapshot { .. }));
    assert!(sent_snapshot);
    c.deliver_all(1000);
    let f = c.node(lagging);
    assert_eq!(f.snapshot().index, applied);
    assert_eq!(f.commit_index(), applied);
    assert_eq!(
        c.servers[&lagging].restored_from, applied,
        "state machine restored from it"
    );
    assert_eq!(
        c.servers[&lagging].storage.snapshot.data,
        b"everything".to_vec()
    );
    // Replication continues after it.
    c.with(leader, |n| n.propose(vec![42]).unwrap());
    c.deliver_all(1000);
    c.with(leader, |n| n.heartbeat());
    c.deliver_all(1000);
    assert_eq!(c.applied_values(lagging), vec![vec![42]]);
}

#[test]
fn install_snapshot_keeps_a_matching_suffix() {
    // Figure 13 step 6 (raft-bugs #15): the log holds the snapshot's last entry, so the entries
    // after it stay.
    let mut f = with_log(Config::basic(1, 3), 2, None, &[1, 1, 1, 2, 2]);
    f.step(snapshot_msg(2, 3, 1));
    assert_eq!(log_terms(&f), vec![1, 1, 1, 2, 2]);
    assert_eq!(f.commit_index(), 3);
    let rd = drain(&mut f);
    assert!(
        rd.snapshot.is_none() && !rd.restore_snapshot,
        "entries up to 3 are applied instead"
    );
    assert_eq!(rd.committed_entries.len(), 3);
    assert_eq!(
        only_message(&rd).body,
        Body::AppendEntriesResponse {
            success: true,
            index: 3,
            hint: None,
            read_ctx: 0
        }
    );
}

#[test]
fn install_snapshot_discards_a_conflicting_log() {
    // Figure 13 step 7: the entry at the snapshot's index has another term: the whole log goes.
    let cfg = Config::basic(1, 3);
    let mut storage = MemStorage::new();
    storage.hard_state.term = 3;
    storage.entries = entries(1, &[1, 1, 2, 2, 2]);
    let mut f = Node::new(cfg.clone(), &storage);
    f.step(snapshot_msg(3, 3, 3));
    assert!(f.entries().is_empty());
    assert_eq!(
        (f.snapshot().index, f.snapshot().term, f.commit_index()),
        (3, 3, 3)
    );
    let rd = f.ready();
    assert!(rd.restore_snapshot);
    storage.persist(&rd);
    f.advance(&rd);
    assert!(
        storage.entries.is_empty(),
        "storage dropped the conflicting suffix too"
    );
    // Restart restores the snapshot.
    let r = Node::new(cfg, &storage);
    assert_eq!(
        (
            r.snapshot().index,
            r.commit_index(),
            r.last_index(),
            r.last_term()
        ),
        (3, 3, 3, 3)
    );
}

#[test]
fn a_stale_snapshot_is_acknowledged_without_changes() {
    let mut f = with_log(Config::basic(1, 3), 2, None, &[1, 1, 1]);
    f.step(append(0, 1, 2, (3, 1), vec![], 3));
    drain(&mut f);
    f.step(snapshot_msg(2, 2, 1));
    assert_eq!(log_terms(&f), vec![1, 1, 1]);
    assert_eq!(f.snapshot().index, 0);
    let rd = drain(&mut f);
    assert_eq!(
        only_message(&rd).body,
        Body::AppendEntriesResponse {
            success: true,
            index: 3,
            hint: None,
            read_ctx: 0
        }
    );
}

#[test]
fn a_stale_leader_sending_a_snapshot_learns_the_new_term() {
    let mut f = with_log(Config::basic(1, 3), 5, None, &[1]);
    f.step(snapshot_msg(2, 3, 1));
    let reply = only_message(&drain(&mut f));
    assert_eq!(reply.term, 5);
    assert!(matches!(
        reply.body,
        Body::AppendEntriesResponse { success: false, .. }
    ));
}
