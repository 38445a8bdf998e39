//! The extensions beyond the basic protocol, each with a test that fails without it: pre-vote,
//! check-quorum, leadership transfer, fast backtracking, pipelining and batching, eager
//! replication.

mod common;

use common::*;
use raft_core::{Body, Config, MemStorage, Message, Node, ProgressState, Role};
use raft_sim::Cluster;

fn cluster(n: u64, tweak: impl Fn(&mut Config)) -> Cluster {
    Cluster::new((0..n).map(|i| {
        let mut c = Config::new(i, 0..n);
        tweak(&mut c);
        c
    }))
}

fn elect(c: &mut Cluster) -> u64 {
    c.elect(200).expect("a leader")
}

/// Ticks and delivers `k` times.
// ---------------------------------------------------------------- pre-vote (thesis 9.6)

#[test]
fn pre_vote_keeps_a_partitioned_server_from_raising_its_term() {
    for pre_vote in [true, false] {
        let mut c = cluster(3, |cfg| {
            cfg.pre_vote = pre_vote;
            cfg.check_quorum = false;
        });
        let leader = elect(&mut c);
        let term = c.node(leader).term();
        let lonely = (leader + 1) % 3;
        c.isolate(lonely);
        c.run(100);
        if pre_vote {
            assert_eq!(
                c.node(lonely).term(),
                term,
                "a pre-candidate never raises its term"
            );
            assert_eq!(c.node(lonely).role(), Role::PreCandidate);
        } else {
            assert!(
                c.node(lonely).term() > term + 2,
                "without pre-vote the term runs away"
            );
        }
        // Rejoining: with pre-vote the leader is not disturbed.
        c.heal();
        c.run(5);
        if pre_vote {
            assert_eq!(c.leader(), Some(leader));
            assert_eq!(c.node(leader).term(), term);
        } else {
            assert!(
                c.node(leader).term() > term,
                "the returning server deposes the leader"
            );
        }
    }
}

#[test]
fn pre_vote_does_not_change_the_voters_term_or_vote() {
    let mut n = basic(1, 3);
    n.step(msg(
        0,
        1,
        5,
        Body::RequestVote {
            last_log_index: 0,
            last_log_term: 0,
            pre_vote: true,
            transfer: false,
        },
    ));
    assert_eq!((n.term(), n.voted_for()), (0, None));
    let reply = only_message(&drain(&mut n));
    assert_eq!(
        reply.term, 5,
        "a granted pre-vote answers in the candidate's future term"
    );
    assert_eq!(
        reply.body,
        Body::RequestVoteResponse {
            granted: true,
            pre_vote: true
        }
    );
}

// ---------------------------------------------------------------- check-quorum (thesis 6.2)

#[test]
fn check_quorum_makes_an_isolated_leader_step_down() {
    for check_quorum in [true, false] {
        let mut c = cluster(3, |cfg| cfg.check_quorum = check_quorum);
        let leader = elect(&mut c);
        c.isolate(leader);
        for _ in 0..(2 * c.node(leader).config().election_ticks_min) {
            c.with(leader, Node::tick);
            c.network.clear();
        }
        let still_leader = c.node(leader).role() == Role::Leader;
        assert_eq!(still_leader, !check_quorum, "check_quorum = {check_quorum}");
    }
}

#[test]
fn check_quorum_lease_ignores_vote_requests_while_the_leader_is_alive() {
    let mut cfg = Config::basic(1, 3);
    cfg.check_quorum = true;
    let mut n = Node::new(cfg, &MemStorage::new());
    n.step(append(0, 1, 1, (0, 0), vec![], 0));
    drain(&mut n);
    n.step(vote_req(2, 1, 2, 10, 10));
    assert_eq!(n.term(), 1, "in lease: the higher term is not adopted");
    assert!(drain(&mut n).messages.is_empty());
    // Once an election timeout passes without the leader, the request is considered.
    for _ in 0..n.config().election_ticks_min {
        n.tick();
    }
    drain(&mut n);
    n.step(vote_req(2, 1, 3, 10, 10));
    assert_eq!((n.term(), n.voted_for()), (3, Some(2)));
}

// ---------------------------------------------------------------- leadership transfer (3.10)

#[test]
fn leadership_transfer_hands_over_to_the_target() {
    let mut c = Cluster::full(3);
    let leader = elect(&mut c);
    let target = (leader + 1) % 3;
    let term = c.node(leader).term();
    // The target lags: the leader brings it up to date before TimeoutNow.
    c.isolate(target);
    for v in 0..5 {
        c.with(leader, |n| n.propose(vec![v]).unwrap());
    }
    c.deliver_all(1000);
    c.heal();
    c.with(leader, |n| n.transfer_leadership(target).unwrap());
    assert_eq!(
        c.with(leader, |n| n.propose(vec![9])),
        Some(Err(raft_core::Error::TransferInProgress)),
        "proposals wait while leadership moves"
    );
    c.deliver_all(1000);
    assert_eq!(c.leader(), Some(target));
    assert_eq!(c.node(target).term(), term + 1);
    assert_eq!(c.node(target).last_index(), c.node(leader).last_index());
    assert_eq!(c.node(leader).role(), Role::Follower);
}

#[test]
fn leadership_transfer_to_an_unreachable_target_is_abandoned() {
    let mut c = Cluster::full(3);
    let leader = elect(&mut c);
    let target = (leader + 1) % 3;
    c.isolate(target);
    c.with(leader, |n| n.transfer_leadership(target).unwrap());
    let min = c.node(leader).config().election_ticks_min;
    for _ in 0..min {
        c.with(leader, Node::tick);
    }
    assert_eq!(c.node(leader).transfer_target(), None);
    assert!(c.with(leader, |n| n.propose(vec![1])).unwrap().is_ok());
}

#[test]
fn timeout_now_elections_pass_the_followers_lease() {
    // With check-quorum, followers ignore vote requests while they hear from a leader; the
    // transfer's election is flagged and goes through.
    let mut c = Cluster::full(5);
    let leader = elect(&mut c);
    let target = (leader + 2) % 5;
    c.with(leader, |n| n.transfer_leadership(target).unwrap());
    c.deliver_all(1000);
    assert_eq!(c.leader(), Some(target));
}

// ---------------------------------------------------------------- fast backtracking (5.3)

fn rounds_to_converge(fast: bool) -> usize {
    let mut leader_cfg = Config::basic(0, 2);
    leader_cfg.fast_backtrack = fast;
    let mut follower_cfg = Config::basic(1, 2);
    follower_cfg.fast_backtrack = fast;
    // Figure 7 (f) against the leader's log.
    let mut leader = with_log(leader_cfg, 7, None, &[1, 1, 1, 4, 4, 5, 5, 6, 6, 6]);
    let mut follower = with_log(follower_cfg, 7, None, &[1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3]);
    leader.timeout();
    leader.step(vote_resp(1, 0, 8, true));
    assert_eq!(leader.role(), Role::Leader);
    drain(&mut leader);
    for round in 1..100 {
        leader.heartbeat();
        let mut msgs: Vec<Message> = drain(&mut leader).messages;
        while let Some(m) = msgs.pop() {
            if m.to == 1 {
                follower.step(m);
                msgs.extend(drain(&mut follower).messages);
            } else {
                leader.step(m);
                msgs.extend(drain(&mut leader).messages);
            }
        }
        if follower.entries() == leader.entries() {
            return round;
        }
    }
    panic!("never converged");
}

#[test]
fn fast_backtracking_skips_a_conflicting_term_per_round_trip() {
    let slow = rounds_to_converge(false);
    let fast = rounds_to_converge(true);
    // One entry per AppendEntries either way (basic batching), so the difference is the probes:
    // 8 rejections one index at a time, against 3 term-skipping ones.
    assert!(fast + 4 <= slow, "fast {fast} rounds, slow {slow} rounds");
}

#[test]
fn a_rejection_carries_the_conflict_term_and_its_first_index() {
    let mut cfg = Config::basic(1, 3);
    cfg.fast_backtrack = true;
    let mut f = with_log(cfg, 3, None, &[1, 2, 2, 2]);
    f.step(append(0, 1, 3, (4, 3), vec![], 0));
    f.step(append(0, 1, 3, (9, 3), vec![], 0));
    let hints: Vec<_> = drain(&mut f)
        .messages
        .into_iter()
        .map(|m| match m.body {
            Body::AppendEntriesResponse { hint, .. } => {
                hint.map(|h| (h.conflict_term, h.conflict_index))
            }
            _ => panic!(),
        })
        .collect();
    assert_eq!(hints, vec![Some((Some(2), 2)), Some((None, 5))]);
}

// ---------------------------------------------------------------- pipelining and batching

fn leader_with_follower_in_replicate(tweak: impl Fn(&mut Config)) -> Node {
    let mut cfg = Config::new(0, 0..3);
    tweak(&mut cfg);
    let mut n = Node::new(cfg, &MemStorage::new());
    n.timeout();
    n.step(msg(
        1,
        0,
        1,
        Body::RequestVoteResponse {
            granted: true,
            pre_vote: true,
        },
    ));
    n.step(vote_resp(1, 0, 1, true));
    assert_eq!(n.role(), Role::Leader);
    drain(&mut n);
    n.step(append_resp(1, 0, 1, true, 1));
    assert_eq!(n.progress(1).unwrap().state, ProgressState::Replicate);
    drain(&mut n);
    n
}

fn appends_to(rd: &raft_core::Ready, to: u64) -> Vec<usize> {
    rd.messages
        .iter()
        .filter(|m| m.to == to)
        .filter_map(|m| match &m.body {
            Body::AppendEntries { entries, .. } => Some(entries.len()),
            _ => None,
        })
        .collect()
}

#[test]
fn pipelining_sends_ahead_up_to_the_inflight_limit() {
    let mut n = leader_with_follower_in_replicate(|c| {
        c.max_entries_per_append = 1;
        c.max_inflight_msgs = 4;
    });
    for v in 0..10 {
        n.propose(vec![v]).unwrap();
    }
    let rd = drain(&mut n);
    assert_eq!(
        appends_to(&rd, 1),
        vec![1, 1, 1, 1],
        "4 in flight, then paused"
    );
    assert_eq!(
        n.progress(1).unwrap().next_index,
        6,
        "next_index moves optimistically"
    );
    // Each acknowledgement frees one slot.
    n.step(append_resp(1, 0, 1, true, 3));
    assert_eq!(appends_to(&drain(&mut n), 1), vec![1, 1]);
}

#[test]
fn pipelining_is_bounded_by_bytes_in_flight() {
    let mut n = leader_with_follower_in_replicate(|c| {
        c.max_entries_per_append = 1;
        c.max_inflight_msgs = 100;
        c.max_inflight_bytes = 3000;
    });
    for _ in 0..10 {
        n.propose(vec![0; 1000]).unwrap();
    }
    let rd = drain(&mut n);
    assert_eq!(
        appends_to(&rd, 1).len(),
        3,
        "three 1 KB messages fill the 3000-byte window"
    );
}

#[test]
fn batching_packs_proposals_made_between_two_ready_batches_into_one_append_entries() {
    let mut n = leader_with_follower_in_replicate(|c| c.max_entries_per_append = 64);
    for v in 0..10 {
        n.propose(vec![v]).unwrap();
    }
    assert_eq!(appends_to(&drain(&mut n), 1), vec![10]);
    // The per-message bound still holds.
    let mut n = leader_with_follower_in_replicate(|c| c.max_entries_per_append = 4);
    for v in 0..10 {
        n.propose(vec![v]).unwrap();
    }
    assert_eq!(appends_to(&drain(&mut n), 1), vec![4, 4, 2]);
}

#[test]
fn batching_packs_entries_that_waited_for_the_window_into_one_append_entries() {
    let mut n = leader_with_follower_in_replicate(|c| {
        c.max_entries_per_append = 64;
        c.max_inflight_msgs = 1;
    });
    n.propose(vec![0]).unwrap();
    assert_eq!(appends_to(&drain(&mut n), 1), vec![1]);
    for v in 1..20 {
        n.propose(vec![v]).unwrap();
    }
    assert!(appends_to(&drain(&mut n), 1).is_empty(), "window full");
    n.step(append_resp(1, 0, 1, true, 2));
    assert_eq!(
        appends_to(&drain(&mut n), 1),
        vec![19],
        "the rest in one message"
    );
}

#[test]
fn a_rejection_in_replicate_state_falls_back_to_probing() {
    let mut n = leader_with_follower_in_replicate(|c| c.max_entries_per_append = 1);
    for v in 0..3 {
        n.propose(vec![v]).unwrap();
    }
    drain(&mut n);
    n.step(append_resp(1, 0, 1, false, 2));
    let pr = n.progress(1).unwrap();
    assert_eq!((pr.state, pr.next_index), (ProgressState::Probe, 2));
}

#[test]
fn eager_replication_sends_on_proposal_and_basic_mode_waits_for_the_heartbeat() {
    let mut full = leader_with_follower_in_replicate(|_| {});
    full.propose(vec![1]).unwrap();
    assert_eq!(appends_to(&drain(&mut full), 1).len(), 1);
    let mut b = basic(0, 3);
    b.timeout();
    b.step(vote_resp(1, 0, 1, true));
    drain(&mut b);
    b.propose(vec![1]).unwrap();
    assert!(drain(&mut b).messages.is_empty());
}

#[test]
fn heartbeats_carry_the_commit_index_to_followers() {
    let mut c = Cluster::basic(3);
    c.with(0, Node::timeout);
    c.deliver_all(100);
    c.with(0, |n| n.propose(vec![1]).unwrap());
    for _ in 0..2 {
        c.with(0, Node::heartbeat);
        c.deliver_all(100);
    }
    assert_eq!(c.node(0).commit_index(), 2);
    assert_eq!(
        c.node(1).commit_index(),
        1,
        "followers learn commit 2 on the next heartbeat"
    );
    c.with(0, Node::heartbeat);
    c.deliver_all(100);
    assert_eq!(c.node(1).commit_index(), 2);
}
