//! The Raft server as a deterministic state machine: state, role changes, and the single `step`
//! that every peer message goes through (paper Figure 2).
//!
//! The algorithm itself lives in the sibling modules, each an `impl Node` block: `election`,
//! `replication`, `snapshot`, `membership`, `read_index`.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::Config;
use crate::log::RaftLog;
use crate::progress::Progress;
use crate::read_only::ReadOnly;
use crate::ready::Ready;
use crate::rng::Rng;
use crate::storage::Storage;
use crate::types::{
    Body, Entry, HardState, Membership, Message, NodeId, Payload, ReadState, Snapshot,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    Follower,
    /// Running a pre-vote (thesis 9.6): asking whether it could win before raising its term.
    PreCandidate,
    Candidate,
    Leader,
}

/// Why an input was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// Only the leader takes this input; `leader` is the last one heard of, if any.
    NotLeader { leader: Option<NodeId> },
    /// A leadership transfer is under way: proposals wait until it ends (thesis 3.10).
    TransferInProgress,
    /// The previous configuration change has not finished (thesis 4.1: one at a time).
    ConfigChangeInProgress,
    /// The leader has not yet committed an entry in its term (raft-bugs #13, #16).
    NotCommittedInTerm,
    /// The request makes no sense (bad configuration, unknown transfer target, snapshot index out
    /// of range); the text says which.
    Invalid(&'static str),
}

/// Terms and indexes at or above this are treated as malformed (they could never be reached, and
/// arithmetic on them could overflow).
const MAX_SANE: u64 = u64::MAX / 4;

fn indexes_sane(body: &Body) -> bool {
    match body {
        Body::RequestVote { last_log_index, .. } => *last_log_index < MAX_SANE,
        Body::AppendEntries {
            prev_log_index,
            entries,
            leader_commit,
            ..
        } => *prev_log_index < MAX_SANE && *leader_commit < MAX_SANE && entries.len() < 1 << 32,
        Body::AppendEntriesResponse { index, .. } => *index < MAX_SANE,
        Body::InstallSnapshot { snapshot } => snapshot.index < MAX_SANE,
        Body::RequestVoteResponse { .. } | Body::TimeoutNow => true,
    }
}

/// One Raft server. Cloning forks it; the same inputs on two clones give the same outputs.
#[derive(Clone, Debug)]
pub struct Node {
    pub(crate) cfg: Config,
    pub(crate) id: NodeId,
    // Persistent state (Figure 2).
    pub(crate) term: u64,
    pub(crate) voted_for: Option<NodeId>,
    pub(crate) log: RaftLog,
    // Volatile state.
    pub(crate) role: Role,
    pub(crate) leader: Option<NodeId>,
    /// The configuration in force: the latest in the log (thesis 4.1), and its index.
    pub(crate) membership: Membership,
    pub(crate) membership_index: u64,
    /// Candidate and pre-candidate: the replies received this election.
    pub(crate) votes: BTreeMap<NodeId, bool>,
    /// Leader: one entry per other member.
    pub(crate) progress: BTreeMap<NodeId, Progress>,
    pub(crate) election_elapsed: u64,
    /// Follower: ticks since it last heard from its leader, which is what the lease measures
    /// (thesis 4.2.3). Granting a vote restarts the election timer (Figure 2) but is not hearing
    /// from a leader, so it leaves this alone.
    pub(crate) lease_elapsed: u64,
    pub(crate) heartbeat_elapsed: u64,
    pub(crate) randomized_timeout: u64,
    pub(crate) rng: Rng,
    /// Leader: the transfer target and the ticks since the transfer began.
    pub(crate) transfer: Option<(NodeId, u64)>,
    pub(crate) reads: ReadOnly,
    // Output not yet taken by `ready`.
    pub(crate) msgs: Vec<Message>,
    pub(crate) read_states: Vec<ReadState>,
    pub(crate) persisted_hard_state: HardState,
    /// Leader: proposals arrived since the last Ready; replicate them when it is taken.
    pub(crate) replicate_pending: bool,
}

impl Node {
    /// A server started (or restarted) from what `storage` holds: term, vote, snapshot and log
    /// come back; everything else starts afresh as a follower (Figure 2: commitIndex, lastApplied,
    /// nextIndex and matchIndex are volatile).
    pub fn new(cfg: Config, storage: &impl Storage) -> Node {
        let hard_state = storage.hard_state();
        let log = RaftLog::restore(storage.snapshot(), storage.entries());
        let mut node = Node {
            id: cfg.id,
            rng: Rng::new(cfg.seed),
            cfg,
            term: hard_state.term,
            voted_for: hard_state.voted_for,
            log,
            role: Role::Follower,
            leader: None,
            membership: Membership::default(),
            membership_index: 0,
            votes: BTreeMap::new(),
            progress: BTreeMap::new(),
            election_elapsed: 0,
            lease_elapsed: 0,
            heartbeat_elapsed: 0,
            randomized_timeout: 0,
            transfer: None,
            reads: ReadOnly::default(),
            msgs: Vec::new(),
            read_states: Vec::new(),
            persisted_hard_state: hard_state,
            replicate_pending: false,
        };
        node.refresh_membership();
        node.reset_election_timer();
        node
    }

    // ---- accessors (the conformance abstraction function reads these) ----

    pub fn id(&self) -> NodeId {
        self.id
    }
    pub fn config(&self) -> &Config {
        &self.cfg
    }
    pub fn role(&self) -> Role {
        self.role
    }
    pub fn term(&self) -> u64 {
        self.term
    }
    pub fn voted_for(&self) -> Option<NodeId> {
        self.voted_for
    }
    /// The leader of the current term, if known.
    pub fn leader(&self) -> Option<NodeId> {
        self.leader
    }
    pub fn commit_index(&self) -> u64 {
        self.log.committed
    }
    /// Highest index the application acknowledged applying.
    pub fn applied_index(&self) -> u64 {
        self.log.applied
    }
    pub fn last_index(&self) -> u64 {
        self.log.last_index()
    }
    pub fn last_term(&self) -> u64 {
        self.log.last_term()
    }
    /// The entries after the snapshot, in index order (`entries()[k].index == first + k`).
    pub fn entries(&self) -> &[Entry] {
        &self.log.entries
    }
    /// The entry at `index`, if held (not compacted, not beyond the end).
    pub fn entry(&self, index: u64) -> Option<&Entry> {
        self.log.entry(index)
    }
    /// The term of the entry at `index`, if known.
    pub fn term_at(&self, index: u64) -> Option<u64> {
        self.log.term(index)
    }
    /// The compacted prefix (index 0 when nothing has been compacted).
    pub fn snapshot(&self) -> &Snapshot {
        &self.log.snapshot
    }
    /// Candidate or pre-candidate: the servers that granted their vote, itself included.
    pub fn votes_granted(&self) -> BTreeSet<NodeId> {
        self.votes
            .iter()
            .filter(|(_, &granted)| granted)
            .map(|(&id, _)| id)
            .collect()
    }
    /// Leader: what it knows of `peer`.
    pub fn progress(&self, peer: NodeId) -> Option<&Progress> {
        self.progress.get(&peer)
    }
    /// Leader: every peer's progress.
    pub fn progresses(&self) -> &BTreeMap<NodeId, Progress> {
        &self.progress
    }
    pub fn membership(&self) -> &Membership {
        &self.membership
    }
    pub fn hard_state(&self) -> HardState {
        HardState {
            term: self.term,
            voted_for: self.voted_for,
        }
    }
    /// Leader: the target of a leadership transfer under way.
    pub fn transfer_target(&self) -> Option<NodeId> {
        self.transfer.map(|(t, _)| t)
    }

    // ---- the one entry point for peer messages ----

    /// Handles a message from a peer. As in Figure 2 ("All Servers"), the term is normalised
    /// first: a higher term turns this server into a follower of it, a lower one is answered
    /// (so a stale sender learns the new term) or ignored. Then the message goes to its role.
    /// Malformed or unexpected messages are ignored; nothing here panics on peer input.
    pub fn step(&mut self, m: Message) {
        // Misaddressed, or with a term or index so large that counting up from it would
        // overflow: no correct peer sends that.
        if m.to != self.id || m.from == self.id || m.term >= MAX_SANE || !indexes_sane(&m.body) {
            return;
        }
        if m.term > self.term {
            if let Body::RequestVote { transfer, .. } = m.body {
                // Thesis 4.2.3 / 9.6: while a leader is known to be alive, vote requests are
                // ignored, so a partitioned or removed server cannot depose it. A transfer's
                // election is deliberate and passes.
                if self.in_lease() && !transfer {
                    return;
                }
            }
            match m.body {
                // A pre-vote and a granted pre-vote reply carry a term nobody is in yet: they
                // change no state (thesis 9.6).
                Body::RequestVote { pre_vote: true, .. } => {}
                Body::RequestVoteResponse {
                    pre_vote: true,
                    granted: true,
                } => {}
                Body::AppendEntries { .. } | Body::InstallSnapshot { .. } | Body::TimeoutNow => {
                    self.become_follower(m.term, Some(m.from))
                }
                _ => self.become_follower(m.term, None),
            }
        } else if m.term < self.term {
            self.reply_to_stale(&m);
            return;
        }
        if let Body::RequestVote { .. } = m.body {
            // The vote rules are the same for every role.
            self.handle_vote_request(&m);
            return;
        }
        match self.role {
            Role::Leader => self.step_leader(m),
            Role::Candidate | Role::PreCandidate => self.step_candidate(m),
            Role::Follower => self.step_follower(m),
        }
    }

    fn step_leader(&mut self, m: Message) {
        match m.body {
            Body::AppendEntriesResponse {
                success,
                index,
                hint,
                read_ctx,
            } => self.handle_append_response(m.from, success, index, hint, read_ctx),
            // Another leader in this term contradicts Election Safety and cannot happen in a
            // correct cluster; the contract has the receiver defer to it, as a candidate would.
            Body::AppendEntries { .. } | Body::InstallSnapshot { .. } => {
                self.become_follower(m.term, Some(m.from));
                self.step_follower(m);
            }
            // A stale vote reply or a TimeoutNow meant for a follower needs nothing.
            _ => {}
        }
    }

    fn step_candidate(&mut self, m: Message) {
        match m.body {
            Body::RequestVoteResponse { granted, pre_vote } => {
                self.handle_vote_response(m.from, m.term, granted, pre_vote)
            }
            // A leader exists in this term: give up, keeping votedFor (raft-bugs #4).
            Body::AppendEntries { .. } | Body::InstallSnapshot { .. } => {
                self.become_follower(m.term, Some(m.from));
                self.step_follower(m);
            }
            // A transfer target whose election timer fired before the leader's TimeoutNow came
            // is pre-voting, or campaigning, in the leader's term. TimeoutNow "has the same
            // effect as the target server's election timer firing" (thesis 3.10): a new election
            // starts now.
            Body::TimeoutNow => self.handle_timeout_now(m.from),
            _ => {}
        }
    }

    fn step_follower(&mut self, m: Message) {
        match m.body {
            Body::AppendEntries {
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit,
                read_ctx,
            } => {
                self.heard_from_leader(m.from);
                self.handle_append(
                    m.from,
                    m.term,
                    prev_log_index,
                    prev_log_term,
                    entries,
                    leader_commit,
                    read_ctx,
                );
            }
            Body::InstallSnapshot { snapshot } => {
                self.heard_from_leader(m.from);
                self.handle_snapshot(m.from, m.term, snapshot);
            }
            Body::TimeoutNow => self.handle_timeout_now(m.from),
            _ => {}
        }
    }

    /// A message from an earlier term. Stale AppendEntries, InstallSnapshot and RequestVote get a
    /// negative reply carrying the current term so the sender steps down (paper 5.1); replies from
    /// old terms are dropped (raft-bugs #9).
    fn reply_to_stale(&mut self, m: &Message) {
        match &m.body {
            Body::InstallSnapshot { snapshot } => self.send(
                m.from,
                Body::AppendEntriesResponse {
                    success: false,
                    index: snapshot.index,
                    hint: None,
                    read_ctx: 0,
                },
            ),
            Body::AppendEntries { prev_log_index, .. } => self.send(
                m.from,
                Body::AppendEntriesResponse {
                    success: false,
                    index: *prev_log_index,
                    hint: None,
                    read_ctx: 0,
                },
            ),
            Body::RequestVote { pre_vote, .. } => self.send(
                m.from,
                Body::RequestVoteResponse {
                    granted: false,
                    pre_vote: *pre_vote,
                },
            ),
            _ => {}
        }
    }

    fn heard_from_leader(&mut self, from: NodeId) {
        self.leader = Some(from);
        self.election_elapsed = 0;
        self.lease_elapsed = 0;
    }

    /// Whether a leader has been heard from within the minimum election timeout (check-quorum's
    /// lease, thesis 4.2.3): vote requests of higher terms are then ignored.
    pub fn in_lease(&self) -> bool {
        self.cfg.check_quorum
            && self.leader.is_some()
            && self.lease_elapsed < self.cfg.election_ticks_min
    }

    // ---- time ----

    /// One unit of time. Followers and candidates time out after a randomized number of ticks
    /// (paper 5.2); a leader sends heartbeats and, with check-quorum, steps down when it has not
    /// heard from a quorum for an election timeout (thesis 6.2).
    pub fn tick(&mut self) {
        if self.role == Role::Leader {
            self.tick_leader();
        } else {
            self.election_elapsed += 1;
            self.lease_elapsed = self.lease_elapsed.saturating_add(1);
            if self.election_elapsed >= self.randomized_timeout {
                self.timeout();
            }
        }
    }

    fn tick_leader(&mut self) {
        self.election_elapsed += 1;
        if self.election_elapsed >= self.cfg.election_ticks_min {
            self.check_quorum();
            if self.role != Role::Leader {
                return;
            }
        }
        if let Some((_, ticks)) = &mut self.transfer {
            *ticks += 1;
            if *ticks >= self.cfg.election_ticks_min {
                self.abort_transfer();
            }
        }
        self.heartbeat_elapsed += 1;
        if self.heartbeat_elapsed >= self.cfg.heartbeat_ticks {
            self.heartbeat();
        }
    }

    // ---- the timer events `tick` is made of, for drivers that keep time themselves ----

    /// An election timeout has passed at a leader (contract `CheckQuorum(i)`): with check-quorum,
    /// it steps down, staying in its term, unless it heard from a quorum since the previous check
    /// (thesis 6.2). `tick` runs it every `election_ticks_min` ticks.
    pub fn check_quorum(&mut self) {
        if self.role != Role::Leader {
            return;
        }
        self.election_elapsed = 0;
        if self.cfg.check_quorum && !self.quorum_recently_active() {
            self.become_follower(self.term, None);
        }
    }

    /// The minimum election timeout has passed since this follower last heard from its leader
    /// (contract `LeaseExpires(i)`): its lease is over and it will consider vote requests again
    /// (thesis 4.2.3). `tick` gets there by counting; its own election timer keeps running.
    pub fn expire_lease(&mut self) {
        if self.role != Role::Leader {
            self.lease_elapsed = self.lease_elapsed.max(self.cfg.election_ticks_min);
        }
    }

    /// A transfer that has not finished within an election timeout is given up, and the leader
    /// takes proposals again (thesis 3.10; contract `AbortTransfer(i)`). `tick` runs it once the
    /// transfer has taken `election_ticks_min` ticks.
    pub fn abort_transfer(&mut self) {
        self.transfer = None;
    }

    fn quorum_recently_active(&mut self) -> bool {
        let me = self.id;
        let progress = &self.progress;
        let active = self
            .membership
            .has_quorum(|v| v == me || progress.get(&v).is_some_and(|p| p.recent_active));
        for p in self.progress.values_mut() {
            p.recent_active = false;
        }
        active
    }

    pub(crate) fn reset_election_timer(&mut self) {
        self.election_elapsed = 0;
        self.lease_elapsed = 0;
        self.heartbeat_elapsed = 0;
        self.randomized_timeout = self
            .rng
            .range(self.cfg.election_ticks_min, self.cfg.election_ticks_max);
    }

    // ---- role changes ----

    /// Follower of `term`. The vote is kept when the term does not change (raft-bugs #4).
    pub(crate) fn become_follower(&mut self, term: u64, leader: Option<NodeId>) {
        if term > self.term {
            self.term = term;
            self.voted_for = None;
        }
        self.role = Role::Follower;
        self.leader = leader;
        self.votes.clear();
        self.progress.clear();
        self.transfer = None;
        self.reads = ReadOnly::default();
        self.reset_election_timer();
    }

    pub(crate) fn become_leader(&mut self) {
        self.role = Role::Leader;
        self.leader = Some(self.id);
        self.votes.clear();
        self.transfer = None;
        self.reads = ReadOnly::default();
        self.reset_election_timer();
        let next = self.log.last_index() + 1;
        self.progress = self
            .membership
            .members()
            .into_iter()
            .filter(|&p| p != self.id)
            .map(|p| (p, Progress::new(next)))
            .collect();
        if self.cfg.noop_on_election {
            // Paper 8: committing an entry of its own term commits everything before it, and
            // tells the leader which entries are committed (needed by ReadIndex, thesis 6.4).
            self.log.push(self.term, Payload::Noop);
        }
        // The contract runs the commit rule here: it commits at once only when the leader alone
        // is a quorum.
        self.maybe_commit();
        if self.cfg.eager_replication {
            self.broadcast_append(true);
        }
    }

    /// Re-reads the configuration in force from the log (it changes when a configuration entry is
    /// appended or truncated away, thesis 4.1) and fits the leader's progress map to it.
    pub(crate) fn refresh_membership(&mut self) {
        let (index, membership) = match self.log.membership() {
            Some((i, m)) => (i, m.clone()),
            None => (0, self.cfg.initial.clone()),
        };
        self.membership_index = index;
        self.membership = membership;
        if self.role == Role::Leader {
            let next = self.log.last_index() + 1;
            let members = self.membership.members();
            self.progress.retain(|p, _| members.contains(p));
            for p in members {
                if p != self.id {
                    self.progress
                        .entry(p)
                        .or_insert_with(|| Progress::new(next));
                }
            }
        }
    }

    pub(crate) fn send(&mut self, to: NodeId, body: Body) {
        self.msgs.push(Message {
            from: self.id,
            to,
            term: self.term,
            body,
        });
    }

    // ---- output ----

    /// Whether `ready` would return anything.
    pub fn has_ready(&self) -> bool {
        self.replicate_pending
            || !self.msgs.is_empty()
            || !self.read_states.is_empty()
            || self.hard_state() != self.persisted_hard_state
            || self.log.snapshot_unpersisted
            || !self.log.unpersisted().is_empty()
            || !self.log.to_apply().is_empty()
    }

    /// Takes everything produced since the last call. See [`crate::ready`] for the order in which
    /// the driver must handle it.
    pub fn ready(&mut self) -> Ready {
        if std::mem::take(&mut self.replicate_pending) && self.role == Role::Leader {
            self.broadcast_append(false);
        }
        let hs = self.hard_state();
        let hard_state = (hs != self.persisted_hard_state).then_some(hs);
        self.persisted_hard_state = hs;
        let snapshot = self
            .log
            .snapshot_unpersisted
            .then(|| self.log.snapshot.clone());
        let restore_snapshot = snapshot.is_some() && self.log.snapshot_restores;
        self.log.snapshot_unpersisted = false;
        self.log.snapshot_restores = false;
        let entries = self.log.unpersisted().to_vec();
        self.log.persisted = self.log.last_index();
        let committed_entries = self.log.to_apply().to_vec();
        if let Some(last) = committed_entries.last() {
            self.log.applying = last.index;
        }
        Ready {
            hard_state,
            snapshot,
            restore_snapshot,
            entries,
            messages: std::mem::take(&mut self.msgs),
            committed_entries,
            read_states: std::mem::take(&mut self.read_states),
        }
    }

    /// Acknowledges that `ready` was handled: persisted, sent and applied.
    /// `Err(NotLeader)` (naming the leader this server knows of) unless it leads.
    pub(crate) fn require_leader(&self) -> Result<(), Error> {
        if self.role == Role::Leader {
            Ok(())
        } else {
            Err(Error::NotLeader {
                leader: self.leader,
            })
        }
    }

    pub fn advance(&mut self, ready: &Ready) {
        if let Some(s) = &ready.snapshot {
            self.log.applied = self.log.applied.max(s.index);
        }
        if let Some(last) = ready.committed_entries.last() {
            self.log.applied = self.log.applied.max(last.index);
        }
    }
}
