//! Asynchronous persistence (thesis 10.2.1; the impl's `Ready` contract, `raft_core::ready`):
//! a step that changes a server's term, vote or log starts a write; the messages that depend
//! on it wait for `Persist`, except a leader's AppendEntries that promise nothing about its own
//! storage (the leader writes its log in parallel with replicating it); a crash before
//! `Persist` loses the write. While the write is in progress the server takes no input, so no
//! acknowledgement can count an entry its leader has not stored.

use crate::actions::Action;
use crate::message::{Body, Message, ServerId};
use crate::state::{Pending, Server, State};
use crate::RaftModel;

impl RaftModel {
    /// After a step in asynchronous mode: if the step changed its server's term, vote or log,
    /// that server now has a write in progress and its new messages wait for it (bar the early
    /// AppendEntries).
    pub(crate) fn hold_for_write(&self, before: &State, after: &mut State, action: &Action) {
        let (actor, delivered) = match action {
            Action::Deliver(m) => (m.dst, Some(m)),
            Action::Timeout(i)
            | Action::Heartbeat(i)
            | Action::ClientRequest(i, _)
            | Action::CheckQuorum(i)
            | Action::TransferLeadership(i, _)
            | Action::ProposeMembership(i, _) => (*i, None),
            // Nothing of these writes, or they are the write's own events.
            Action::Drop(_)
            | Action::Duplicate(_)
            | Action::Restart(_)
            | Action::LeaseExpires(_)
            | Action::AbortTransfer(_)
            | Action::Persist(_)
            | Action::Compact(..) => return,
        };
        let b = &before.servers[actor as usize];
        let a = &after.servers[actor as usize];
        if (a.current_term, a.voted_for, &a.log) == (b.current_term, b.voted_for, &b.log) {
            return;
        }
        let sent = after.network.added_since(&before.network, delivered);
        let s = &mut after.servers[actor as usize];
        let pending = s.pending.get_or_insert_with(|| {
            Box::new(Pending {
                term: b.current_term,
                voted_for: b.voted_for,
                log: b.log.clone(),
                outbox: Vec::new(),
            })
        });
        let durable_last = pending.log.len() as u8;
        for m in sent {
            if !early(&m, durable_last) {
                after.network.remove_one(&m);
                let outbox = &mut after.servers[actor as usize]
                    .pending
                    .as_mut()
                    .expect("just set")
                    .outbox;
                let at = outbox.partition_point(|x| x <= &m);
                outbox.insert(at, m);
            }
        }
    }

    /// `Persist(i)`: the write is done; the messages that waited go out.
    pub(crate) fn persist(&self, state: &mut State, i: ServerId) {
        if let Some(p) = state.servers[i as usize].pending.take() {
            for m in p.outbox {
                state.network.send(m);
            }
        }
    }

    /// On a crash: storage still holds what it held before the write in progress, if any, and
    /// the messages waiting for it are never sent. True when a write was lost.
    pub(crate) fn lose_write(&self, s: &mut Server) -> bool {
        match s.pending.take() {
            Some(p) => {
                s.current_term = p.term;
                s.voted_for = p.voted_for;
                s.log = p.log;
                true
            }
            None => false,
        }
    }
}

/// Thesis 10.2.1: a leader may send AppendEntries before its own write is done, as long as they
/// do not tell followers to commit past what it had stored before (`durable_last`). Only
/// leaders send AppendEntries.
fn early(m: &Message, durable_last: u8) -> bool {
    matches!(m.body, Body::AppendEntries { leader_commit, .. } if leader_commit <= durable_last)
}
