//! The JSON shape of `State` is read outside this crate (the conformance traces): it must not
//! change with the in-memory representation. A state with every kind of field filled in is
//! pinned as JSON, and every state on the way to it survives a round trip.

use raft_model::actions::Action;
use raft_model::{Body, Bounds, RaftModel, State};

fn model() -> RaftModel {
    RaftModel {
        bounds: Bounds {
            max_messages: 9,
            ..Bounds::default()
        },
        ..RaftModel::default()
    }
}

/// Elects S0 in term 1, replicates its no-op to S1, restarts S2 and leaves messages in flight:
/// logs, nextIndex/matchIndex, an AppendEntries with an entry, and every history variable.
fn states() -> Vec<State> {
    let m = model();
    let mut s = m.initial_state();
    let mut out = vec![s.clone()];
    let mut act = |s: &mut State, a: Action| {
        assert!(m.is_enabled(s, &a), "{a:?}");
        *s = m.step(s, &a);
        out.push(s.clone());
    };
    let pick = |s: &State, src: u8, dst: u8| {
        s.network
            .messages()
            .iter()
            .find(|x| x.src == src && x.dst == dst)
            .cloned()
            .expect("in flight")
    };
    act(&mut s, Action::Timeout(0));
    let rv = pick(&s, 0, 1);
    act(&mut s, Action::Deliver(rv));
    let reply = pick(&s, 1, 0);
    act(&mut s, Action::Deliver(reply));
    act(&mut s, Action::Heartbeat(0));
    let ae = pick(&s, 0, 1);
    act(&mut s, Action::Deliver(ae));
    let reply = pick(&s, 1, 0);
    act(&mut s, Action::Deliver(reply));
    act(&mut s, Action::Restart(2));
    let ae = pick(&s, 0, 2);
    act(&mut s, Action::Duplicate(ae));
    act(&mut s, Action::ClientRequest(0, 0));
    out
}

#[test]
fn states_round_trip_through_json() {
    for s in states() {
        let json = serde_json::to_string(&s).unwrap();
        let back: State = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s, "{json}");
    }
}

#[test]
fn the_json_shape_is_pinned() {
    let last = states().pop().unwrap();
    let json = serde_json::to_string(&last).unwrap();
    println!("{json}");
    assert!(last
        .network
        .messages()
        .iter()
        .any(|m| matches!(&m.body, Body::AppendEntries { entries, .. } if !entries.is_empty())));
    assert_eq!(json, PINNED);
}

const PINNED: &str = r#"{"servers":[{"current_term":1,"voted_for":0,"log":[{"term":1,"payload":"Noop"},{"term":1,"payload":{"Value":0}}],"role":"Leader","commit_index":1,"votes_granted":0,"next_index":[0,2,1],"match_index":[0,1,0]},{"current_term":1,"voted_for":0,"log":[{"term":1,"payload":"Noop"}],"role":"Follower","commit_index":0,"votes_granted":0,"next_index":[],"match_index":[]},{"current_term":0,"voted_for":null,"log":[],"role":"Follower","commit_index":0,"votes_granted":0,"next_index":[],"match_index":[]}],"network":[{"term":1,"src":0,"dst":2,"body":{"RequestVote":{"last_log_index":0,"last_log_term":0}}},{"term":1,"src":0,"dst":2,"body":{"RequestVote":{"last_log_index":0,"last_log_term":0}}},{"term":1,"src":0,"dst":2,"body":{"AppendEntries":{"prev_log_index":0,"prev_log_term":0,"entries":[{"term":1,"payload":"Noop"}],"leader_commit":0}}}],"faults":{"restarts":1,"drops":0,"duplicates":1},"history":{"elected":[[1,0]],"committed":[{"index":1,"entry":{"term":1,"payload":"Noop"},"term":1}],"leader_log_rewritten":false,"term_decreased":false,"votes_cast":[[1,0],[1,0],null],"double_vote":false,"truncated_conflict":false,"restarted":4,"restarted_rejoined":false}}"#;
