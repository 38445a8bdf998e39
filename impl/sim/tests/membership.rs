//! Membership changes by joint consensus, with learners (thesis ch. 4).

use std::collections::BTreeSet;

use raft_core::{Config, Error, Membership, Node, Payload, Role};
use raft_sim::Cluster;

fn full_cluster_with_newcomers(n: u64, extra: &[u64]) -> Cluster {
    let mut c = Cluster::full(n);
    for &id in extra {
        // A new server starts with no configuration and learns it from the leader's log.
        c.add(Config::new(id, []));
    }
    c
}

fn set(ids: &[u64]) -> BTreeSet<u64> {
    ids.iter().copied().collect()
}

#[test]
fn joint_quorum_needs_a_majority_of_both_halves() {
    let m = Membership {
        voters: set(&[3, 4, 5]),
        outgoing: set(&[0, 1, 2]),
        learners: BTreeSet::new(),
    };
    // A majority of the new voters alone is not enough (raft-bugs #14).
    assert!(!m.has_quorum(|v| [3, 4].contains(&v)));
    assert!(!m.has_quorum(|v| [0, 1].contains(&v)));
    assert!(m.has_quorum(|v| [0, 1, 3, 4].contains(&v)));
    let matched = [9, 9, 1, 9, 1, 1];
    assert_eq!(m.committed_index(|v| matched[v as usize]), 1);
}

#[test]
fn a_learner_catches_up_without_voting_then_is_promoted_through_a_joint_configuration() {
    let mut c = full_cluster_with_newcomers(3, &[3]);
    let leader = c.elect(200).unwrap();
    for v in 0..5 {
        c.with(leader, |n| n.propose(vec![v]).unwrap());
    }
    c.deliver_all(10_000);
    c.with(leader, |n| n.propose_membership([0, 1, 2], [3]).unwrap());
    c.deliver_all(10_000);
    c.run(3);
    assert_eq!(c.node(3).membership().learners, set(&[3]));
    assert_eq!(
        c.node(3).commit_index(),
        c.node(leader).commit_index(),
        "the learner caught up"
    );
    assert_eq!(c.applied_values(3).len(), 5);
    // A learner never campaigns.
    c.with(3, Node::timeout);
    assert_eq!(c.node(3).role(), Role::Follower);
    // Promote it: C(old,new) and then C(new), automatically.
    let joint_index = c
        .with(leader, |n| n.propose_membership([0, 1, 2, 3], []).unwrap())
        .unwrap();
    assert!(
        c.node(leader).membership().is_joint(),
        "used as soon as appended (thesis 4.1)"
    );
    c.deliver_all(10_000);
    c.run(3);
    let m = c.node(leader).membership().clone();
    assert_eq!(
        (m.voters.clone(), m.is_joint()),
        (set(&[0, 1, 2, 3]), false)
    );
    let kinds: Vec<bool> = c
        .node(leader)
        .entries()
        .iter()
        .filter(|e| e.index >= joint_index)
        .filter_map(|e| match &e.payload {
            Payload::Config(m) => Some(m.is_joint()),
            _ => None,
        })
        .collect();
    assert_eq!(kinds, vec![true, false]);
    for id in 0..4 {
        assert_eq!(c.node(id).membership().voters, set(&[0, 1, 2, 3]));
    }
}

#[test]
fn one_change_at_a_time_and_only_after_committing_in_the_current_term() {
    let mut c = Cluster::full(3);
    let leader = c.elect(200).unwrap();
    c.with(leader, |n| n.propose_membership([0, 1, 2], [5]).unwrap());
    assert_eq!(
        c.with(leader, |n| n.propose_membership([0, 1, 2], [6])),
        Some(Err(Error::ConfigChangeInProgress))
    );
    // A fresh leader that has not committed its no-op yet refuses (raft-bugs #13).
    let mut b = Node::new(Config::basic(0, 3), &raft_core::MemStorage::new());
    b.timeout();
    b.step(raft_core::Message {
        from: 1,
        to: 0,
        term: 1,
        body: raft_core::Body::RequestVoteResponse {
            granted: true,
            pre_vote: false,
        },
    });
    assert_eq!(b.role(), Role::Leader);
    assert_eq!(
        b.propose_membership([0, 1], []),
        Err(Error::NotCommittedInTerm)
    );
}

#[test]
fn a_removed_leader_steps_down_once_the_new_configuration_commits() {
    let mut c = Cluster::full(5);
    let leader = c.elect(200).unwrap();
    let rest: Vec<u64> = (0..5).filter(|&i| i != leader).collect();
    c.with(leader, |n| n.propose_membership(rest.clone(), []).unwrap());
    c.deliver_all(10_000);
    // It led the cluster through C(old,new) and C(new) without counting itself (thesis 4.2.2),
    // then stepped down.
    assert_eq!(c.node(leader).role(), Role::Follower);
    c.run(50);
    let new_leader = c.leader().unwrap();
    assert_ne!(new_leader, leader);
    assert_eq!(
        c.node(new_leader).membership().voters,
        rest.iter().copied().collect()
    );
    assert!(c.with(new_leader, |n| n.propose(vec![1])).unwrap().is_ok());
    c.deliver_all(10_000);
}

#[test]
fn a_server_outside_the_configuration_cannot_disrupt_it() {
    // Server 4 is removed while cut off, so it never learns of its removal and keeps timing out.
    let mut c = Cluster::full(5);
    let leader = c.elect(200).unwrap();
    let removed = (leader + 1) % 5;
    c.isolate(removed);
    let rest: Vec<u64> = (0..5).filter(|&i| i != removed).collect();
    c.with(leader, |n| n.propose_membership(rest, []).unwrap());
    c.deliver_all(10_000);
    c.run(5);
    let term = c.node(leader).term();
    run_isolated(&mut c, removed, 200);
    c.heal();
    c.run(100);
    // Pre-vote and the leader lease keep its requests from raising anyone's term.
    assert_eq!(c.leader(), Some(leader));
    assert_eq!(c.node(leader).term(), term);
}

fn run_isolated(c: &mut Cluster, id: u64, ticks: usize) {
    c.run(ticks);
    assert_eq!(
        c.node(id).membership().voters.len(),
        5,
        "it never heard of the change"
    );
}

#[test]
fn a_configuration_entry_truncated_away_is_no_longer_used() {
    // Thesis 4.1: the latest configuration in the log is in force, committed or not; when a
    // follower's uncommitted configuration entry is overwritten, it reverts to the previous one.
    use raft_core::{Body, Entry, Message};
    let mut f = Node::new(Config::basic(1, 3), &raft_core::MemStorage::new());
    let joint = Membership {
        voters: set(&[0, 1, 2, 3]),
        outgoing: set(&[0, 1, 2]),
        learners: BTreeSet::new(),
    };
    let append = |term: u64, entry: Entry| Message {
        from: 0,
        to: 1,
        term,
        body: Body::AppendEntries {
            prev_log_index: 0,
            prev_log_term: 0,
            entries: vec![entry],
            leader_commit: 0,
            read_ctx: 0,
        },
    };
    f.step(append(
        1,
        Entry {
            index: 1,
            term: 1,
            payload: Payload::Config(joint.clone()),
        },
    ));
    assert_eq!(f.membership(), &joint);
    f.step(append(
        2,
        Entry {
            index: 1,
            term: 2,
            payload: Payload::Noop,
        },
    ));
    assert_eq!(f.membership(), &Membership::new(0..3));
}
