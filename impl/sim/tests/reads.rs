//! Linearizable reads by ReadIndex (thesis 6.4).

use raft_core::{Body, Node, ReadState, Role};
use raft_sim::Cluster;

#[test]
fn a_read_is_released_after_a_quorum_confirms_leadership() {
    let mut c = Cluster::full(3);
    let leader = c.elect(200).unwrap();
    c.with(leader, |n| n.propose(vec![1]).unwrap());
    c.deliver_all(1000);
    let commit = c.node(leader).commit_index();
    c.with(leader, |n| n.read_index(7).unwrap());
    assert!(
        c.servers[&leader].reads.is_empty(),
        "not before the heartbeat round"
    );
    let round: Vec<_> = c
        .network
        .iter()
        .filter(|m| matches!(m.body, Body::AppendEntries { read_ctx: 1, .. }))
        .collect();
    assert_eq!(
        round.len(),
        2,
        "a heartbeat to every follower carries the read round"
    );
    // One follower's acknowledgement makes a quorum of 3 with the leader.
    c.deliver(0);
    c.deliver_all(1000);
    assert_eq!(
        c.servers[&leader].reads,
        vec![ReadState {
            request_id: 7,
            index: commit
        }]
    );
}

#[test]
fn a_new_leader_waits_for_its_first_commit_before_serving_reads() {
    // raft-bugs #16: before its no-op commits, a new leader's commit index may be stale.
    let mut c = Cluster::basic(3);
    c.with(0, Node::timeout);
    c.deliver_all(100);
    assert_eq!(c.node(0).role(), Role::Leader);
    c.with(0, |n| n.read_index(1).unwrap());
    assert!(
        c.network.is_empty(),
        "no confirmation round yet: the read waits for the commit"
    );
    c.with(0, Node::heartbeat);
    c.deliver_all(100);
    // The heartbeat carried the no-op; its acknowledgements commit it, and only then does the
    // read take the commit index (1, not the stale 0) and start its confirmation round.
    assert_eq!(c.node(0).commit_index(), 1);
    assert_eq!(
        c.servers[&0].reads,
        vec![ReadState {
            request_id: 1,
            index: 1
        }]
    );
}

#[test]
fn a_deposed_leader_cannot_serve_a_read() {
    // raft-bugs #17: a leader cut off from the majority gets no confirmations, so its read never
    // comes out, while the majority side elects a new leader and moves on.
    let mut c = Cluster::full(3);
    let old = c.elect(200).unwrap();
    c.isolate(old);
    c.with(old, |n| n.read_index(9).unwrap());
    for _ in 0..100 {
        c.tick_all();
        c.deliver_all(10_000);
    }
    assert!(c.servers[&old].reads.is_empty());
    assert!(c.leader().is_some_and(|l| l != old));
}

#[test]
fn acknowledgements_of_older_rounds_do_not_confirm_a_newer_read() {
    let mut c = Cluster::full(3);
    let leader = c.elect(200).unwrap();
    c.deliver_all(1000);
    c.with(leader, |n| n.heartbeat());
    let old_round: Vec<_> = c.network.drain(..).collect();
    c.with(leader, |n| n.read_index(3).unwrap());
    c.network.clear();
    // Replies to heartbeats sent before the read (round 0) arrive: no release.
    for m in old_round {
        let to = m.to;
        c.with(to, |n| n.step(m));
    }
    c.deliver_all(1000);
    assert!(c.servers[&leader].reads.is_empty());
}

#[test]
fn followers_refuse_reads_and_name_the_leader() {
    let mut c = Cluster::full(3);
    let leader = c.elect(200).unwrap();
    c.deliver_all(1000);
    let f = (leader + 1) % 3;
    assert_eq!(
        c.with(f, |n| n.read_index(1)).unwrap(),
        Err(raft_core::Error::NotLeader {
            leader: Some(leader)
        })
    );
}
