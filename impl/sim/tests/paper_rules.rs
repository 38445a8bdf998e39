//! One test per rule of the Raft paper's Figure 2 and of the safety argument (section 5.4), each
//! named for its rule, run against the basic mode of `specs/contract.md`. The known mistakes of
//! `raft-bugs.md` that apply to these rules are pinned here too (the number is the catalogue's).

mod common;

use common::*;
use raft_core::{Body, Config, MemStorage, Node, Payload, Role};

// ---------------------------------------------------------------- All servers

#[test]
fn all_servers_apply_committed_entries_in_log_order() {
    // Follower learns commit 2 from the leader: entries 1 and 2 come out to apply, in order.
    let mut f = basic(1, 3);
    f.step(append(0, 1, 1, (0, 0), entries(1, &[1]), 0));
    f.step(append(0, 1, 1, (1, 1), entries(2, &[1]), 2));
    let rd = drain(&mut f);
    let applied: Vec<u64> = rd.committed_entries.iter().map(|e| e.index).collect();
    assert_eq!(applied, vec![1, 2]);
    assert_eq!(f.applied_index(), 2);
    // Nothing is applied twice.
    f.step(append(0, 1, 1, (2, 1), vec![], 2));
    assert!(drain(&mut f).committed_entries.is_empty());
}

#[test]
fn all_servers_adopt_a_higher_term_and_become_follower() {
    let mut n = basic(0, 3);
    n.timeout();
    assert_eq!((n.role(), n.term()), (Role::Candidate, 1));
    n.step(append_resp(1, 0, 5, false, 0));
    assert_eq!(
        (n.role(), n.term(), n.voted_for()),
        (Role::Follower, 5, None)
    );
}

#[test]
fn all_servers_reply_with_the_updated_term() {
    // raft-bugs #10: the reply to a higher-term request carries the new term, not the old one.
    let mut n = basic(1, 3);
    n.step(vote_req(0, 1, 4, 0, 0));
    let reply = only_message(&drain(&mut n));
    assert_eq!(reply.term, 4);
    assert_eq!(reply.body, vote_reply(true));
}

#[test]
fn all_servers_never_decrease_their_term() {
    let mut n = basic(1, 3);
    n.step(vote_req(0, 1, 4, 0, 0));
    n.step(vote_req(2, 1, 2, 0, 0));
    n.step(append(2, 1, 3, (0, 0), vec![], 0));
    assert_eq!(n.term(), 4);
}

// ---------------------------------------------------------------- Followers

#[test]
fn followers_become_candidate_when_the_election_timeout_elapses() {
    let cfg = Config::basic(1, 3);
    let max = cfg.election_ticks_max;
    let mut n = Node::new(cfg, &MemStorage::new());
    let mut ticks = 0;
    while n.role() == Role::Follower && ticks < max + 1 {
        n.tick();
        ticks += 1;
    }
    assert_eq!(n.role(), Role::Candidate);
    assert!(
        ticks >= n.config().election_ticks_min && ticks < max,
        "timeout {ticks}"
    );
}

#[test]
fn followers_reset_the_election_timer_on_append_entries_from_the_leader() {
    let cfg = Config::basic(1, 3);
    let min = cfg.election_ticks_min;
    let mut n = Node::new(cfg, &MemStorage::new());
    // Keep hearing from the leader just under the minimum timeout: never times out.
    for _ in 0..10 {
        for _ in 0..min - 1 {
            n.tick();
        }
        n.step(append(0, 1, 1, (0, 0), vec![], 0));
    }
    assert_eq!(n.role(), Role::Follower);
}

#[test]
fn followers_reset_the_election_timer_when_granting_a_vote() {
    let cfg = Config::basic(1, 3);
    let min = cfg.election_ticks_min;
    let mut n = Node::new(cfg, &MemStorage::new());
    for term in 1..10 {
        for _ in 0..min - 1 {
            n.tick();
        }
        n.step(vote_req(0, 1, term, 0, 0));
    }
    assert_eq!(n.role(), Role::Follower);
}

#[test]
fn election_timeouts_are_randomized_from_the_seed() {
    let timeout_of = |seed: u64| {
        let mut cfg = Config::basic(1, 3);
        cfg.seed = seed;
        let mut n = Node::new(cfg, &MemStorage::new());
        let mut ticks = 0;
        while n.role() == Role::Follower {
            n.tick();
            ticks += 1;
        }
        ticks
    };
    let all: std::collections::BTreeSet<u64> = (0..20).map(timeout_of).collect();
    assert!(all.len() > 1, "every seed gave the same timeout: {all:?}");
    assert_eq!(timeout_of(7), timeout_of(7), "same seed, same timeout");
}

// ---------------------------------------------------------------- Candidates

#[test]
fn candidates_increment_term_vote_for_self_and_request_votes() {
    let mut n = with_log(Config::basic(0, 3), 2, None, &[1, 2]);
    n.timeout();
    assert_eq!(
        (n.role(), n.term(), n.voted_for()),
        (Role::Candidate, 3, Some(0))
    );
    assert_eq!(n.votes_granted().into_iter().collect::<Vec<_>>(), vec![0]);
    let rd = drain(&mut n);
    assert_eq!(
        rd.hard_state.map(|h| (h.term, h.voted_for)),
        Some((3, Some(0)))
    );
    let mut to: Vec<u64> = rd.messages.iter().map(|m| m.to).collect();
    to.sort();
    assert_eq!(to, vec![1, 2]);
    for m in &rd.messages {
        assert_eq!(m.term, 3);
        assert_eq!(
            m.body,
            Body::RequestVote {
                last_log_index: 2,
                last_log_term: 2,
                pre_vote: false,
                transfer: false
            }
        );
    }
}

#[test]
fn candidates_become_leader_on_votes_from_a_majority() {
    let mut n = basic(0, 5);
    n.timeout();
    drain(&mut n);
    n.step(vote_resp(1, 0, 1, true));
    assert_eq!(n.role(), Role::Candidate, "2 of 5 is not a majority");
    n.step(vote_resp(2, 0, 1, false));
    assert_eq!(n.role(), Role::Candidate);
    n.step(vote_resp(3, 0, 1, true));
    assert_eq!(n.role(), Role::Leader);
    // Basic mode: next_index = last + 1 and match_index = 0 for every peer, a no-op appended,
    // and nothing sent until the first heartbeat.
    for p in 1..5 {
        let pr = n.progress(p).unwrap();
        assert_eq!((pr.next_index, pr.match_index), (1, 0));
    }
    assert_eq!(n.entries().len(), 1);
    assert_eq!(n.entries()[0].payload, Payload::Noop);
    assert!(drain(&mut n).messages.is_empty());
}

#[test]
fn candidates_count_a_duplicated_vote_once() {
    let mut n = basic(0, 5);
    n.timeout();
    n.step(vote_resp(1, 0, 1, true));
    n.step(vote_resp(1, 0, 1, true));
    assert_eq!(n.role(), Role::Candidate);
}

#[test]
fn candidates_ignore_votes_from_an_earlier_election() {
    // raft-bugs #5: a grant for term 1 must not count in the election of term 2.
    let mut n = basic(0, 3);
    n.timeout();
    n.timeout();
    assert_eq!(n.term(), 2);
    n.step(vote_resp(1, 0, 1, true));
    assert_eq!(n.role(), Role::Candidate);
    assert_eq!(n.votes_granted().len(), 1);
}

#[test]
fn candidates_become_follower_on_append_entries_from_the_new_leader_keeping_their_vote() {
    // raft-bugs #4: stepping down in the same term must not clear votedFor.
    let mut n = basic(1, 3);
    n.timeout();
    assert_eq!(n.term(), 1);
    n.step(append(0, 1, 1, (0, 0), vec![], 0));
    assert_eq!(
        (n.role(), n.voted_for(), n.leader()),
        (Role::Follower, Some(1), Some(0))
    );
    drain(&mut n);
    n.step(vote_req(2, 1, 1, 5, 1));
    let reply = only_message(&drain(&mut n));
    assert_eq!(reply.body, vote_reply(false));
}

#[test]
fn candidates_start_a_new_election_when_the_timeout_elapses_again() {
    let mut n = basic(0, 3);
    n.timeout();
    drain(&mut n);
    n.timeout();
    assert_eq!(
        (n.role(), n.term(), n.voted_for()),
        (Role::Candidate, 2, Some(0))
    );
    assert_eq!(drain(&mut n).messages.len(), 2);
}

#[test]
fn a_single_server_becomes_leader_at_once_and_commits_its_no_op() {
    let mut n = basic(0, 1);
    n.timeout();
    assert_eq!(n.role(), Role::Leader);
    assert_eq!(
        n.commit_index(),
        1,
        "the leader commit rule runs on election"
    );
    assert!(drain(&mut n).messages.is_empty(), "never sends to itself");
    n.propose(vec![3]).unwrap();
    assert_eq!(n.commit_index(), 2);
}

// ---------------------------------------------------------------- Leaders

fn leader_of_3() -> Node {
    let mut n = basic(0, 3);
    n.timeout();
    n.step(vote_resp(1, 0, 1, true));
    assert_eq!(n.role(), Role::Leader);
    drain(&mut n);
    n
}

#[test]
fn leaders_send_append_entries_from_next_index_to_every_peer_on_heartbeat() {
    let mut n = leader_of_3();
    n.heartbeat();
    let rd = drain(&mut n);
    assert_eq!(rd.messages.len(), 2);
    for m in &rd.messages {
        match &m.body {
            Body::AppendEntries {
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit,
                ..
            } => {
                assert_eq!((*prev_log_index, *prev_log_term, *leader_commit), (0, 0, 0));
                assert_eq!(
                    entries.len(),
                    1,
                    "max_entries_per_append is 1 in basic mode"
                );
                assert_eq!(entries[0].payload, Payload::Noop);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    // Sending does not move next_index in basic mode.
    assert_eq!(n.progress(1).unwrap().next_index, 1);
}

#[test]
fn leaders_append_client_commands_to_their_log_and_send_nothing() {
    let mut n = leader_of_3();
    let index = n.propose(vec![7]).unwrap();
    assert_eq!(index, 2);
    assert_eq!(n.entry(2).unwrap().payload, Payload::Normal(vec![7]));
    assert_eq!(n.entry(2).unwrap().term, 1);
    assert!(drain(&mut n).messages.is_empty());
    assert!(
        basic(1, 3).propose(vec![1]).is_err(),
        "followers refuse proposals"
    );
}

#[test]
fn leaders_update_next_and_match_index_on_success() {
    let mut n = leader_of_3();
    n.step(append_resp(1, 0, 1, true, 1));
    let pr = n.progress(1).unwrap();
    assert_eq!((pr.match_index, pr.next_index), (1, 2));
}

#[test]
fn leaders_decrement_next_index_on_failure_and_retry() {
    let mut n = with_log(Config::basic(0, 3), 1, None, &[1, 1, 1]);
    n.timeout();
    n.step(vote_resp(1, 0, 2, true));
    // next_index is last + 1 as of the election, before the no-op is appended.
    assert_eq!(n.progress(1).unwrap().next_index, 4);
    n.step(append_resp(1, 0, 2, false, 3));
    assert_eq!(n.progress(1).unwrap().next_index, 3);
    drain(&mut n);
    n.heartbeat();
    let rd = drain(&mut n);
    let to1 = rd.messages.iter().find(|m| m.to == 1).unwrap();
    match &to1.body {
        Body::AppendEntries {
            prev_log_index,
            prev_log_term,
            ..
        } => {
            assert_eq!((*prev_log_index, *prev_log_term), (2, 1))
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn leaders_never_move_match_index_back_on_reordered_replies() {
    // raft-bugs #9.
    let mut n = leader_of_3();
    n.propose(vec![1]).unwrap();
    n.step(append_resp(1, 0, 1, true, 2));
    n.step(append_resp(1, 0, 1, true, 1));
    let pr = n.progress(1).unwrap();
    assert_eq!((pr.match_index, pr.next_index), (2, 3));
    // A stale or duplicated rejection never moves next_index below match + 1.
    n.step(append_resp(1, 0, 1, false, 0));
    assert_eq!(n.progress(1).unwrap().next_index, 3);
}

#[test]
fn leaders_ignore_replies_from_earlier_terms() {
    // raft-bugs #9: a success from an earlier term must not count toward the match index.
    let mut n = with_log(Config::basic(0, 3), 1, None, &[1]);
    n.timeout();
    n.step(vote_resp(1, 0, 2, true));
    n.step(append_resp(1, 0, 1, true, 2));
    assert_eq!(n.progress(1).unwrap().match_index, 0);
    assert_eq!(n.commit_index(), 0);
}

#[test]
fn leaders_commit_an_entry_of_their_term_stored_by_a_majority() {
    let mut n = leader_of_3();
    n.propose(vec![1]).unwrap();
    n.step(append_resp(1, 0, 1, true, 1));
    assert_eq!(n.commit_index(), 1);
    n.step(append_resp(2, 0, 1, true, 2));
    assert_eq!(n.commit_index(), 2);
}

#[test]
fn leaders_commit_only_entries_of_their_own_term_by_counting_replicas() {
    // Paper 5.4.2 / Figure 8, raft-bugs #1: an entry of term 1 on a majority is not committed by a
    // term-2 leader until an entry of term 2 is stored by a majority too.
    let mut cfg = Config::basic(0, 3);
    cfg.noop_on_election = false;
    let mut n = with_log(cfg, 1, None, &[1]);
    n.timeout();
    n.step(vote_resp(1, 0, 2, true));
    n.step(append_resp(1, 0, 2, true, 1));
    assert_eq!(
        n.commit_index(),
        0,
        "a previous-term entry is never committed by counting"
    );
    n.propose(vec![9]).unwrap();
    n.step(append_resp(1, 0, 2, true, 2));
    assert_eq!(
        n.commit_index(),
        2,
        "committing the term-2 entry commits index 1 too"
    );
}

#[test]
fn leaders_need_a_quorum_of_n_over_2_plus_1() {
    // raft-bugs #12: in a 4-server cluster, 2 replicas are not a quorum.
    let mut n = basic(0, 4);
    n.timeout();
    n.step(vote_resp(1, 0, 1, true));
    assert_eq!(n.role(), Role::Candidate);
    n.step(vote_resp(2, 0, 1, true));
    assert_eq!(n.role(), Role::Leader);
    n.step(append_resp(1, 0, 1, true, 1));
    assert_eq!(n.commit_index(), 0);
    n.step(append_resp(2, 0, 1, true, 1));
    assert_eq!(n.commit_index(), 1);
}

// ---------------------------------------------------------------- RequestVote receiver

#[test]
fn request_vote_rule_1_reply_false_if_term_is_stale() {
    let mut n = with_log(Config::basic(1, 3), 3, None, &[]);
    n.step(vote_req(0, 1, 2, 10, 2));
    let reply = only_message(&drain(&mut n));
    assert_eq!(reply.term, 3);
    assert_eq!(reply.body, vote_reply(false));
    assert_eq!(n.voted_for(), None);
}

#[test]
fn request_vote_rule_2_grant_at_most_one_vote_per_term() {
    let mut n = basic(1, 3);
    n.step(vote_req(0, 1, 1, 0, 0));
    n.step(vote_req(2, 1, 1, 0, 0));
    n.step(vote_req(0, 1, 1, 0, 0)); // a retry by the same candidate is granted again
    let granted: Vec<(u64, bool)> = drain(&mut n)
        .messages
        .iter()
        .map(|m| match m.body {
            Body::RequestVoteResponse { granted, .. } => (m.to, granted),
            _ => panic!(),
        })
        .collect();
    assert_eq!(granted, vec![(0, true), (2, false), (0, true)]);
    assert_eq!(n.voted_for(), Some(0));
}

#[test]
fn request_vote_rule_2_leaders_and_candidates_do_not_vote_for_others_in_their_term() {
    // raft-bugs #6.
    let mut n = basic(0, 3);
    n.timeout();
    drain(&mut n);
    n.step(vote_req(1, 0, 1, 9, 9));
    assert_eq!(only_message(&drain(&mut n)).body, vote_reply(false));
    let mut l = leader_of_3();
    l.step(vote_req(2, 0, 1, 9, 9));
    assert_eq!(only_message(&drain(&mut l)).body, vote_reply(false));
    assert_eq!(l.role(), Role::Leader);
}

#[test]
fn request_vote_rule_2_election_restriction_compares_last_term_before_last_index() {
    // Paper 5.4.1, raft-bugs #2. The voter's log ends with term 2 at index 2.
    let cases = [
        ((3, 1), false), // longer log, older last term
        ((1, 2), false), // same last term, shorter
        ((2, 2), true),  // identical
        ((1, 3), true),  // shorter but newer last term
        ((5, 2), true),  // same last term, longer
    ];
    for ((last_index, last_term), expected) in cases {
        let mut n = with_log(Config::basic(1, 3), 2, None, &[1, 2]);
        n.step(vote_req(0, 1, 3, last_index, last_term));
        let granted = matches!(
            only_message(&drain(&mut n)).body,
            Body::RequestVoteResponse { granted: true, .. }
        );
        assert_eq!(
            granted, expected,
            "candidate last ({last_index}, {last_term})"
        );
        assert_eq!(n.voted_for(), expected.then_some(0));
        assert_eq!(
            n.term(),
            3,
            "the term is adopted whether or not the vote is granted"
        );
    }
}

#[test]
fn request_vote_voted_for_is_persisted_before_the_reply_and_survives_restart() {
    // raft-bugs #3: the Ready that carries the grant also carries the vote to persist, and a
    // server rebuilt from storage does not vote again in that term.
    let cfg = Config::basic(1, 3);
    let mut storage = MemStorage::new();
    let mut n = Node::new(cfg.clone(), &storage);
    n.step(vote_req(0, 1, 1, 0, 0));
    let rd = n.ready();
    assert_eq!(rd.hard_state.map(|h| h.voted_for), Some(Some(0)));
    assert!(!rd.messages.is_empty());
    assert!(
        raft_sim::check_persisted(&storage, &rd).is_err(),
        "the grant is not backed by storage until the batch is persisted"
    );
    storage.persist(&rd);
    assert_eq!(raft_sim::check_persisted(&storage, &rd), Ok(()));
    let mut restarted = Node::new(cfg, &storage);
    assert_eq!((restarted.term(), restarted.voted_for()), (1, Some(0)));
    restarted.step(vote_req(2, 1, 1, 0, 0));
    assert_eq!(only_message(&drain(&mut restarted)).body, vote_reply(false));
}

// ---------------------------------------------------------------- AppendEntries receiver

#[test]
fn append_entries_rule_1_reply_false_if_term_is_stale() {
    // raft-bugs #11.
    let mut n = with_log(Config::basic(1, 3), 3, None, &[1]);
    n.step(append(0, 1, 2, (1, 1), entries(2, &[2]), 2));
    let reply = only_message(&drain(&mut n));
    assert_eq!(reply.term, 3);
    assert_eq!(
        reply.body,
        Body::AppendEntriesResponse {
            success: false,
            index: 1,
            hint: None,
            read_ctx: 0
        }
    );
    assert_eq!(n.last_index(), 1);
    assert_eq!(n.commit_index(), 0);
}

#[test]
fn append_entries_rule_2_reply_false_if_log_lacks_the_previous_entry() {
    let mut n = with_log(Config::basic(1, 3), 2, None, &[1, 1]);
    // Too short.
    n.step(append(0, 1, 2, (3, 2), entries(4, &[2]), 0));
    // Right length, wrong term.
    n.step(append(0, 1, 2, (2, 2), entries(3, &[2]), 0));
    let replies: Vec<_> = drain(&mut n).messages.into_iter().map(|m| m.body).collect();
    assert_eq!(
        replies,
        vec![
            Body::AppendEntriesResponse {
                success: false,
                index: 3,
                hint: None,
                read_ctx: 0
            },
            Body::AppendEntriesResponse {
                success: false,
                index: 2,
                hint: None,
                read_ctx: 0
            },
        ]
    );
    assert_eq!(log_terms(&n), vec![1, 1]);
}

#[test]
fn append_entries_rule_3_truncate_on_a_conflicting_entry() {
    let mut n = with_log(Config::basic(1, 3), 2, None, &[1, 1, 1]);
    n.step(append(0, 1, 3, (1, 1), entries(2, &[3]), 0));
    assert_eq!(log_terms(&n), vec![1, 3]);
    let rd = drain(&mut n);
    assert_eq!(rd.entries.first().map(|e| (e.index, e.term)), Some((2, 3)));
}

#[test]
fn append_entries_rule_3_never_truncates_on_matching_entries() {
    // raft-bugs #7: a stale or duplicated AppendEntries whose entries match must not erase the
    // entries after them.
    let mut n = with_log(Config::basic(1, 3), 1, None, &[1, 1, 1]);
    n.step(append(0, 1, 1, (0, 0), entries(1, &[1]), 0));
    assert_eq!(log_terms(&n), vec![1, 1, 1]);
    let reply = only_message(&drain(&mut n));
    assert_eq!(
        reply.body,
        Body::AppendEntriesResponse {
            success: true,
            index: 1,
            hint: None,
            read_ctx: 0
        }
    );
}

#[test]
fn append_entries_rule_4_append_new_entries() {
    let mut n = with_log(Config::basic(1, 3), 1, None, &[1]);
    n.step(append(0, 1, 1, (1, 1), entries(2, &[1]), 0));
    assert_eq!(log_terms(&n), vec![1, 1]);
    assert_eq!(
        only_message(&drain(&mut n)).body,
        Body::AppendEntriesResponse {
            success: true,
            index: 2,
            hint: None,
            read_ctx: 0
        }
    );
}

#[test]
fn append_entries_rule_5_commit_is_min_of_leader_commit_and_last_new_entry() {
    // raft-bugs #8: a follower whose log extends past what this message verified must not commit
    // beyond the verified part.
    let mut n = with_log(Config::basic(1, 3), 1, None, &[1, 1, 1]);
    n.step(append(0, 1, 2, (1, 1), vec![], 3));
    assert_eq!(n.commit_index(), 1);
    n.step(append(0, 1, 2, (1, 1), entries(2, &[1]), 3));
    assert_eq!(n.commit_index(), 2);
    // It never goes back.
    n.step(append(0, 1, 2, (0, 0), vec![], 1));
    assert_eq!(n.commit_index(), 2);
}

// ---------------------------------------------------------------- Safety argument (5.4)

#[test]
fn leader_completeness_a_server_missing_a_committed_entry_cannot_be_elected() {
    // 5.4.1: entry 1 (term 1) is committed on servers 0 and 1. Server 2 lacks it; its request is
    // refused by both holders, so it can never gather a majority.
    let mut holders: Vec<Node> = (0..2)
        .map(|i| with_log(Config::basic(i, 3), 1, None, &[1]))
        .collect();
    let mut lagging = basic(2, 3);
    lagging.timeout();
    lagging.timeout(); // a higher term does not help
    let requests: Vec<raft_core::Message> = drain(&mut lagging)
        .messages
        .into_iter()
        .filter(|m| m.term == 2)
        .collect();
    assert_eq!(requests.len(), 2);
    for m in requests {
        let h = &mut holders[m.to as usize];
        h.step(m);
        let reply = only_message(&drain(h));
        assert_eq!(reply.body, vote_reply(false));
    }
}

#[test]
fn state_machine_safety_a_restart_resets_only_volatile_state() {
    // Figure 2: currentTerm, votedFor and log survive a crash; commitIndex, role and leader state
    // do not.
    let cfg = Config::basic(0, 3);
    let mut storage = MemStorage::new();
    let mut n = Node::new(cfg.clone(), &storage);
    n.timeout();
    n.step(vote_resp(1, 0, 1, true));
    n.propose(vec![5]).unwrap();
    n.step(append_resp(1, 0, 1, true, 2));
    assert_eq!(n.commit_index(), 2);
    storage.persist(&n.ready());
    let r = Node::new(cfg, &storage);
    assert_eq!(
        (r.term(), r.voted_for(), r.role()),
        (1, Some(0), Role::Follower)
    );
    assert_eq!(r.entries(), n.entries());
    assert_eq!(r.commit_index(), 0);
    assert!(r.progress(1).is_none());
}

#[test]
fn malformed_messages_are_ignored_without_panicking() {
    let mut n = with_log(Config::basic(1, 3), 1, None, &[1]);
    // Entries not numbered after prev, terms above the message term, a message to someone else,
    // one from itself, an index far beyond the log.
    n.step(append(0, 1, 1, (1, 1), entries(5, &[1]), 0));
    n.step(append(0, 1, 1, (1, 1), entries(2, &[7]), 0));
    n.step(append(
        0,
        1,
        1,
        (u64::MAX, 1),
        entries(u64::MAX, &[1]),
        u64::MAX,
    ));
    n.step(append(0, 2, 1, (1, 1), vec![], 0));
    n.step(append(1, 1, 1, (1, 1), vec![], 0));
    n.step(append_resp(0, 1, 1, true, u64::MAX));
    assert_eq!(log_terms(&n), vec![1]);
    let mut l = leader_of_3();
    l.step(append_resp(1, 0, 1, true, u64::MAX));
    l.step(append_resp(7, 0, 1, true, 1));
    assert_eq!(l.progress(1).unwrap().match_index, 0);
    assert_eq!(l.commit_index(), 0);
    // Terms and indexes near the top of u64 cannot be counted up from: dropped, so a later
    // election does not overflow.
    let mut f = basic(2, 3);
    f.step(vote_req(0, 2, u64::MAX, 0, 0));
    f.step(msg(
        0,
        2,
        1,
        Body::InstallSnapshot {
            snapshot: raft_core::Snapshot {
                index: u64::MAX,
                term: 1,
                ..Default::default()
            },
        },
    ));
    f.timeout();
    assert_eq!((f.term(), f.last_index()), (1, 0));
}

#[test]
fn candidates_keep_a_grant_when_a_later_reply_from_the_same_voter_rejects() {
    // A voter grants at most one vote per term, so once it granted, a rejection from it in the
    // same term answers an older request (here a duplicate) and must not take the grant back.
    // Five servers: the candidate needs two grants besides its own.
    let mut c = basic(4, 5);
    c.timeout();
    c.step(vote_resp(0, 4, 1, true));
    c.step(vote_resp(0, 4, 1, false));
    assert_eq!(c.role(), Role::Candidate);
    c.step(vote_resp(1, 4, 1, true));
    assert_eq!(c.role(), Role::Leader, "the grant from 0 must still count");
}
