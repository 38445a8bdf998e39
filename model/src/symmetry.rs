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
use crate::state::{Pending, Server, ServerSet, State};
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
        s.lease,
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
    let rename_message = |m: &Message| Message {
        src: map(m.src),
        dst: map(m.dst),
        ..m.clone()
    };
    let servers = order
        .iter()
        .map(|&old| {
            let s = &state.servers[old];
            let flow = if s.flow.is_empty() {
                Vec::new()
            } else {
                order.iter().map(|&o| s.flow[o].clone()).collect()
            };
            let pending = s.pending.as_ref().map(|p| {
                let mut outbox: Vec<Message> = p.outbox.iter().map(rename_message).collect();
                outbox.sort();
                Box::new(Pending {
                    voted_for: p.voted_for.map(map),
                    outbox,
                    ..(**p).clone()
                })
            });
            Server {
                voted_for: s.voted_for.map(map),
                votes_granted: map_set(s.votes_granted),
                next_index: permute(&s.next_index),
                match_index: permute(&s.match_index),
                heard: map_set(s.heard),
                transfer: s.transfer.map(map),
                flow,
                pending,
                ..s.clone()
            }
        })
        .collect();
    let messages = state
        .network
        .messages()
        .iter()
        .map(rename_message)
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
    if !state.history.heard.is_empty() {
        let heard = |old: usize| state.history.heard.get(old).copied().unwrap_or_default();
        history.heard = order.iter().map(|&old| map_set(heard(old))).collect();
    }
    history.transfer_campaign = state
        .history
        .transfer_campaign
        .map(|(term, c)| (term, map(c)));
    State {
        servers,
        network: Network::from_messages(messages),
        faults: state.faults,
        history,
    }
}
