//! Scripted scenarios for the transition function, one per rule of specs/contract.md that is
//! easy to get wrong.

use raft_model::actions::Action;
use raft_model::{Body, Bounds, Entry, Message, Payload, RaftModel, Role, State};

fn model(servers: u8) -> RaftModel {
    RaftModel {
        bounds: Bounds {
            servers,
            ..Bounds::default()
        },
        ..RaftModel::default()
    }
}

fn run(model: &RaftModel, actions: &[Action]) -> State {
    let mut state = model.initial_state();
    for action in actions {
        assert!(model.is_enabled(&state, action), "{action:?} in {state:#?}");
        state = model.step(&state, action);
    }
    state
}

fn find(state: &State, pred: impl Fn(&Message) -> bool) -> Message {
    state
        .network
        .messages()
        .iter()
        .find(|m| pred(m))
        .cloned()
        .expect("message in flight")
}

#[test]
fn one_server_elects_itself_and_commits_its_no_op() {
    let m = model(1);
    let s = run(&m, &[Action::Timeout(0)]);
    let s0 = &s.servers[0];
    assert_eq!(s0.role, Role::Leader);
    assert_eq!(s0.current_term, 1);
    assert_eq!(
        s0.log,
        vec![Entry {
            term: 1,
            payload: Payload::Noop
        }]
    );
    assert_eq!(s0.commit_index, 1);
    assert!(s.network.is_empty());
}

#[test]
fn a_quorum_of_votes_makes_a_leader_with_fresh_indices_and_a_no_op() {
    let m = model(3);
    let s = run(&m, &[Action::Timeout(0)]);
    let rv = find(&s, |m| m.dst == 1);
    let s = m.step(&s, &Action::Deliver(rv));
    assert_eq!(s.servers[1].voted_for, Some(0));
    let reply = find(&s, |m| {
        matches!(m.body, Body::RequestVoteResponse { granted: true, .. })
    });
    let s = m.step(&s, &Action::Deliver(reply));
    let leader = &s.servers[0];
    assert_eq!(leader.role, Role::Leader);
    assert_eq!(leader.next_index, vec![0, 1, 1]);
    assert_eq!(leader.match_index, vec![0, 0, 0]);
    assert_eq!(leader.log.len(), 1);
    assert_eq!(leader.commit_index, 0, "the leader alone is no quorum");
}

#[test]
fn a_follower_truncates_only_at_a_conflict_and_never_past_its_new_entries() {
    let m = model(3);
    let mut s = m.initial_state();
    let e = |term| Entry {
        term,
        payload: Payload::Value(0),
    };
    s.servers[1].current_term = 2;
    s.servers[1].log = vec![e(1), e(1), e(1)];
    // A matching entry is kept, the rest of the log too (5.3).
    let keep = Message {
        term: 2,
        src: 0,
        dst: 1,
        body: Body::AppendEntries {
            prev_log_index: 0,
            prev_log_term: 0,
            entries: vec![e(1)],
            leader_commit: 3,
        },
    };
    s.network.send(keep.clone());
    let s = m.step(&s, &Action::Deliver(keep));
    assert_eq!(s.servers[1].log.len(), 3);
    assert_eq!(
        s.servers[1].commit_index, 1,
        "min(leaderCommit, last new entry)"
    );
    assert!(!s.history.truncated_conflict);
    // A conflicting entry removes it and everything after it.
    let mut s = s;
    let conflict = Message {
        term: 2,
        src: 0,
        dst: 1,
        body: Body::AppendEntries {
            prev_log_index: 1,
            prev_log_term: 1,
            entries: vec![e(2)],
            leader_commit: 1,
        },
    };
    s.network.send(conflict.clone());
    let s = m.step(&s, &Action::Deliver(conflict));
    assert_eq!(s.servers[1].log, vec![e(1), e(2)]);
    assert!(s.history.truncated_conflict);
    // Both replies are in flight; the second acknowledges up to its last new entry.
    let acknowledged = Body::AppendEntriesResponse {
        success: true,
        index: 2,
        hint: None,
    };
    assert!(s.network.messages().iter().any(|m| m.body == acknowledged));
}

#[test]
fn restart_keeps_term_vote_and_log_and_forgets_the_rest() {
    let m = model(1);
    let s = run(&m, &[Action::Timeout(0), Action::Restart(0)]);
    let s0 = &s.servers[0];
    assert_eq!(
        (s0.current_term, s0.voted_for, s0.log.len()),
        (1, Some(0), 1)
    );
    assert_eq!((s0.role, s0.commit_index), (Role::Follower, 0));
    assert!(s0.next_index.is_empty() && s0.match_index.is_empty());
    assert_eq!(s.faults.restarts, 1);
}

#[test]
fn a_stale_rejection_never_moves_next_index_below_match_index() {
    let m = model(2);
    let mut s = run(&m, &[Action::Timeout(0)]);
    let rv = find(&s, |m| m.dst == 1);
    s = m.step(&s, &Action::Deliver(rv));
    let reply = find(&s, |m| m.dst == 0);
    s = m.step(&s, &Action::Deliver(reply));
    s.servers[0].match_index[1] = 1;
    s.servers[0].next_index[1] = 2;
    let stale = Message {
        term: 1,
        src: 1,
        dst: 0,
        body: Body::AppendEntriesResponse {
            success: false,
            index: 0,
            hint: None,
        },
    };
    s.network.send(stale.clone());
    let s = m.step(&s, &Action::Deliver(stale));
    assert_eq!(s.servers[0].next_index[1], 2);
}

#[test]
fn actions_offer_each_distinct_message_once() {
    let m = model(3);
    let mut s = run(&m, &[Action::Timeout(0)]);
    let rv = find(&s, |m| m.dst == 1);
    s = m.step(&s, &Action::Duplicate(rv.clone()));
    let mut actions = Vec::new();
    m.enabled_actions(&s, &mut actions);
    let delivers = actions
        .iter()
        .filter(|a| **a == Action::Deliver(rv.clone()))
        .count();
    assert_eq!(delivers, 1);
    assert_eq!(s.network.len(), 3);
}
