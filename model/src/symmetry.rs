//! Symmetry reduction over server ids. Raft treats servers alike (sections 5.1-5.2: any server
//! may time out and become candidate), so two states that differ only by a renaming of the
//! servers satisfy the same properties and have renamed successors.
//!
//! The representative sorts servers by their local state with ids left out, then renames every
//! id (votes, nextIndex/matchIndex slots, message ends, history) accordingly. Every field that
//! holds a server id or is indexed by one must be renamed here. Ties keep their
//! order, so this is not a canonical form: some equivalent states keep distinct
//! representatives (less reduction, never a wrong answer).

use crate::message::{Message, Network, ServerId};
use crate::state::{Server, ServerSet, State};
use stateright::Representative;

impl Representative for State {
    fn representative(&self) -> Self {
        let n = self.servers.len();
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| {
            id_free_key(&self.servers[a], a).cmp(&id_free_key(&self.servers[b], b))
        });
        // new_id[old] = position of old in the sorted order.
        let mut new_id = vec![0 as ServerId; n];
        for (new, &old) in order.iter().enumerate() {
            new_id[old] = new as ServerId;
        }
        rename(self, &order, &new_id)
    }
}

/// What a server looks like without naming anyone: the sort key.
fn id_free_key(s: &Server, me: usize) -> impl Ord + '_ {
    (
        s.current_term,
        s.role,
        &s.log,
        s.commit_index,
        s.voted_for.map(|v| v as usize == me),
        s.votes_granted.len(),
    )
}

/// The same state with server `old` renamed to `new_id[old]`; `order[new]` is the old id.
pub fn rename(state: &State, order: &[usize], new_id: &[ServerId]) -> State {
    let map = |id: ServerId| new_id[id as usize];
    let map_set = |set: ServerSet| {
        let mut out = ServerSet::default();
        for id in set.iter() {
            out.insert(map(id));
        }
        out
    };
    let permute = |slots: &Vec<u8>| {
        if slots.is_empty() {
            Vec::new()
        } else {
            order.iter().map(|&old| slots[old]).collect()
        }
    };
    let servers = order
        .iter()
        .map(|&old| {
            let s = &state.servers[old];
            Server {
                voted_for: s.voted_for.map(map),
                votes_granted: map_set(s.votes_granted),
                next_index: permute(&s.next_index),
                match_index: permute(&s.match_index),
                ..s.clone()
            }
        })
        .collect();
    let messages = state
        .network
        .messages()
        .iter()
        .map(|m| Message {
            src: map(m.src),
            dst: map(m.dst),
            ..m.clone()
        })
        .collect();
    let mut history = state.history.clone();
    for (_, leader) in history.elected.iter_mut() {
        *leader = map(*leader);
    }
    history.elected.sort();
    history.restarted = map_set(history.restarted);
    history.votes_cast = order
        .iter()
        .map(|&old| state.history.votes_cast[old].map(|(term, c)| (term, map(c))))
        .collect();
    State {
        servers,
        network: Network::from_messages(messages),
        faults: state.faults,
        history,
    }
}
