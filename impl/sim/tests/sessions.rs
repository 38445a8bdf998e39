//! Client sessions: a retried command is applied once (thesis 6.3).

use raft_core::{Command, Outcome, Payload, Sessions};
use raft_sim::Cluster;

/// A counter state machine behind the session table: each command adds its byte.
fn apply_all(entries: &[raft_core::Entry]) -> (u64, Vec<Outcome>) {
    let mut sessions = Sessions::new();
    let mut counter = 0u64;
    let mut outcomes = Vec::new();
    for e in entries {
        let Payload::Normal(bytes) = &e.payload else {
            continue;
        };
        let Some(cmd) = Command::decode(bytes) else {
            continue;
        };
        outcomes.push(sessions.apply(&cmd, |data| {
            counter += data[0] as u64;
            counter.to_be_bytes().to_vec()
        }));
    }
    (counter, outcomes)
}

#[test]
fn commands_round_trip_through_their_encoding() {
    let cmd = Command {
        client_id: 7,
        seq: 3,
        data: b"put x 1".to_vec(),
    };
    assert_eq!(Command::decode(&cmd.encode()), Some(cmd));
    assert_eq!(Command::decode(b"short"), None);
}

#[test]
fn a_retried_command_is_applied_once_and_answered_from_the_session() {
    let mut s = Sessions::new();
    let cmd = |seq| Command {
        client_id: 1,
        seq,
        data: vec![5],
    };
    let runs = std::cell::Cell::new(0u8);
    let run = |_: &[u8]| {
        runs.set(runs.get() + 1);
        vec![runs.get()]
    };
    assert_eq!(s.apply(&cmd(1), run), Outcome::Applied(vec![1]));
    assert_eq!(s.apply(&cmd(1), run), Outcome::Duplicate(vec![1]));
    assert_eq!(s.apply(&cmd(2), run), Outcome::Applied(vec![2]));
    assert_eq!(s.apply(&cmd(1), run), Outcome::Stale);
    assert_eq!(runs.get(), 2);
    // Sessions are per client.
    let other = Command {
        client_id: 2,
        seq: 1,
        data: vec![],
    };
    assert!(matches!(s.apply(&other, run), Outcome::Applied(_)));
}

#[test]
fn a_command_retried_after_a_leader_change_takes_effect_once_on_every_server() {
    let mut c = Cluster::full(3);
    let first = c.elect(200).unwrap();
    let cmd = Command {
        client_id: 9,
        seq: 1,
        data: vec![10],
    }
    .encode();
    c.with(first, |n| n.propose(cmd.clone()).unwrap());
    c.deliver_all(1000);
    // The client did not hear back (say the reply was lost) and retries with another leader.
    c.with(first, |n| n.transfer_leadership((first + 1) % 3).unwrap());
    c.deliver_all(1000);
    let second = c.leader().unwrap();
    assert_ne!(second, first);
    c.with(second, |n| n.propose(cmd.clone()).unwrap());
    c.deliver_all(1000);
    c.with(second, |n| n.heartbeat());
    c.deliver_all(1000);
    for s in c.servers.values() {
        let (counter, outcomes) = apply_all(&s.applied);
        assert_eq!(outcomes.len(), 2, "both copies are in the log");
        assert_eq!(counter, 10, "but the command took effect once");
        assert!(matches!(outcomes[1], Outcome::Duplicate(_)));
    }
}
