//! The lock-step driver: a cluster of impl cores, each with in-memory storage, and the impl
//! messages in flight. A model action becomes the matching impl input; after every input the
//! node's `Ready` is handled exactly as `raft_core::ready` prescribes (persist, then send, then
//! `advance`), so `Restart(i)` can rebuild node i from nothing but what it handed to storage.
//!
//! Nodes and storages sit behind `Rc` so that forking the cluster at a model state (exhaustive
//! mode clones it once per transition) copies only the node an action touches.

use crate::abstraction::{self, AbstractionError};
use raft_core::{
    may_send_before_persisting, Body as IBody, Config, MemStorage, Message as IMessage, Node, Ready,
};
use raft_model::{Action, Bug, Change, Message, RaftModel, ServerId, Value};
use std::rc::Rc;

/// A mistake injected on the impl side of the comparison, each the same mistake as one of the
/// model's bug flags, made by perturbing what the impl reads back from storage or receives. The
/// gate must report every one of them as a divergence from the correct model; against the model
/// with the matching bug flag on, the perturbed impl must conform (so the perturbation really
/// is that mistake).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Perturbation {
    /// votedFor is not read back on restart.
    ForgetVotedForOnRestart,
    /// currentTerm is not read back on restart.
    ForgetTermOnRestart,
    /// A candidate is handed stale vote grants as if they were from its current term.
    CountStaleVotes,
    /// A leader is handed stale AppendEntries replies as if they were from its current term.
    CountStaleAppendReplies,
    /// A voter is shown every candidate's log as more up-to-date than its own.
    VoteWithoutUpToDateCheck,
    /// A pre-vote voter is shown every pre-candidate's log as more up-to-date than its own.
    PreVoteWithoutUpToDateCheck,
    /// The receiver of a pre-vote request or grant of a higher term is first moved to that
    /// term.
    PreVoteBumpsTerm,
    /// A server in its lease is first moved to the term of a higher-term vote request.
    LeaseIgnored,
    /// A stale AppendEntries reply at a leader comes with a current-term acknowledgement of what
    /// the follower is known to hold (which changes nothing but check-quorum's record).
    CheckQuorumCountsStaleReply,
}

impl Perturbation {
    pub const ALL: [Perturbation; 9] = [
        Perturbation::ForgetVotedForOnRestart,
        Perturbation::ForgetTermOnRestart,
        Perturbation::CountStaleVotes,
        Perturbation::CountStaleAppendReplies,
        Perturbation::VoteWithoutUpToDateCheck,
        Perturbation::PreVoteWithoutUpToDateCheck,
        Perturbation::PreVoteBumpsTerm,
        Perturbation::LeaseIgnored,
        Perturbation::CheckQuorumCountsStaleReply,
    ];

    /// The model bug flag that makes the same mistake.
    pub fn bug(self) -> Bug {
        match self {
            Perturbation::ForgetVotedForOnRestart => Bug::ForgetVotedForOnRestart,
            Perturbation::ForgetTermOnRestart => Bug::ForgetTermOnRestart,
            Perturbation::CountStaleVotes => Bug::CountStaleVotes,
            Perturbation::CountStaleAppendReplies => Bug::CountStaleAppendReplies,
            Perturbation::VoteWithoutUpToDateCheck => Bug::VoteWithoutUpToDateCheck,
            Perturbation::PreVoteWithoutUpToDateCheck => Bug::PreVoteWithoutUpToDateCheck,
            Perturbation::PreVoteBumpsTerm => Bug::PreVoteBumpsTerm,
            Perturbation::LeaseIgnored => Bug::LeaseIgnored,
            Perturbation::CheckQuorumCountsStaleReply => Bug::CheckQuorumCountsStaleReply,
        }
    }

    pub fn name(self) -> &'static str {
        self.bug().name()
    }
}

/// One message in flight: the impl's message and its abstraction (the key it is found by).
#[derive(Clone, Debug)]
pub struct InFlight {
    pub abs: Message,
    pub msg: IMessage,
}

/// Why the impl could not take a model action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepError {
    /// The impl refused an input the model accepts (e.g. a proposal at a leader).
    Refused(String),
    /// The impl produced something the model cannot express.
    Abstraction(AbstractionError),
    /// The action names a message the impl does not have in flight.
    NotInFlight(Message),
    /// The action names a server outside the cluster.
    NoSuchServer(ServerId),
}

impl std::fmt::Display for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StepError::Refused(why) => write!(f, "the impl refused the input: {why}"),
            StepError::Abstraction(why) => write!(f, "abstraction failed: {why}"),
            StepError::NotInFlight(m) => write!(f, "the impl has no message in flight like {m:?}"),
            StepError::NoSuchServer(i) => write!(f, "no server {i}"),
        }
    }
}

/// A batch taken from a node whose writes are not done yet (asynchronous persistence): the
/// messages that wait for them, sorted by abstraction. The batch's own messages are moved out.
#[derive(Clone, Debug)]
pub struct Held {
    pub ready: Ready,
    pub outbox: Vec<InFlight>,
}

#[derive(Clone, Debug)]
pub struct Cluster {
    n: usize,
    model: RaftModel,
    perturbation: Option<Perturbation>,
    nodes: Vec<Rc<Node>>,
    storage: Vec<Rc<MemStorage>>,
    /// Per node, with asynchronous persistence: the batch being written, if any.
    held: Vec<Option<Rc<Held>>>,
    /// Sorted by abstraction, like the model's network, so equal multisets compare equal.
    network: Vec<InFlight>,
}

impl Cluster {
    /// Fresh nodes with empty storage, each configured to the model's protocol parameters
    /// (`config`: every extension the model has off is off in the impl).
    pub fn new(model: &RaftModel, perturbation: Option<Perturbation>) -> Cluster {
        let n = model.bounds.servers as usize;
        let mut cluster = Cluster {
            n,
            model: model.clone(),
            perturbation,
            nodes: Vec::with_capacity(n),
            storage: (0..n).map(|_| Rc::new(MemStorage::new())).collect(),
            held: vec![None; n],
            network: Vec::new(),
        };
        for id in 0..n {
            let node = Node::new(cluster.config(id), &*cluster.storage[id]);
            cluster.nodes.push(Rc::new(node));
        }
        cluster
    }

    /// The impl configuration used for server `id`: `Config::basic` with the model's protocol
    /// parameters (each extension switched on as the model has it).
    pub fn config(&self, id: usize) -> Config {
        config(&self.model.params, id, self.n)
    }

    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    pub fn node(&self, i: usize) -> &Node {
        &self.nodes[i]
    }

    /// What node `i` has stored.
    pub fn storage(&self, i: usize) -> &MemStorage {
        &self.storage[i]
    }

    /// Node `i`'s batch whose writes are in progress (asynchronous persistence).
    pub fn held(&self, i: usize) -> Option<&Held> {
        self.held[i].as_deref()
    }

    pub fn model(&self) -> &RaftModel {
        &self.model
    }

    /// The messages in flight, sorted by their abstraction.
    pub fn network(&self) -> &[InFlight] {
        &self.network
    }

    fn check_server(&self, i: ServerId) -> Result<usize, StepError> {
        let i = i as usize;
        if i < self.n {
            Ok(i)
        } else {
            Err(StepError::NoSuchServer(i as ServerId))
        }
    }

    fn find(&self, m: &Message) -> Result<usize, StepError> {
        let at = self.network.partition_point(|f| f.abs < *m);
        match self.network.get(at) {
            Some(f) if f.abs == *m => Ok(at),
            _ => Err(StepError::NotInFlight(m.clone())),
        }
    }

    /// Applies one model action as the matching impl input.
    pub fn apply(&mut self, action: &Action) -> Result<(), StepError> {
        match action {
            Action::Timeout(i) => {
                let i = self.check_server(*i)?;
                self.timeout(i)
            }
            Action::Heartbeat(i) => {
                let i = self.check_server(*i)?;
                self.heartbeat(i)
            }
            Action::ClientRequest(i, v) => {
                let i = self.check_server(*i)?;
                self.propose(i, *v)
                    .map_err(|e| StepError::Refused(format!("propose at {i}: {e:?}")))?
            }
            Action::Deliver(m) => {
                let at = self.find(m)?;
                self.deliver(at)
            }
            Action::Drop(m) => {
                let at = self.find(m)?;
                self.drop_message(at);
                Ok(())
            }
            Action::Duplicate(m) => {
                let at = self.find(m)?;
                self.duplicate(at);
                Ok(())
            }
            Action::Restart(i) => {
                let i = self.check_server(*i)?;
                self.restart(i);
                Ok(())
            }
            Action::CheckQuorum(i) => {
                let i = self.check_server(*i)?;
                self.input(i, Node::check_quorum)
            }
            Action::LeaseExpires(i) => {
                let i = self.check_server(*i)?;
                self.input(i, Node::expire_lease)
            }
            Action::TransferLeadership(i, t) => {
                let i = self.check_server(*i)?;
                let result = Rc::make_mut(&mut self.nodes[i]).transfer_leadership(*t as u64);
                let flushed = self.flush(i);
                result.map_err(|e| StepError::Refused(format!("transfer at {i}: {e:?}")))?;
                flushed
            }
            Action::AbortTransfer(i) => {
                let i = self.check_server(*i)?;
                self.input(i, Node::abort_transfer)
            }
            Action::Persist(i) => {
                let i = self.check_server(*i)?;
                self.persist(i);
                Ok(())
            }
            Action::Compact(i, k) => {
                let i = self.check_server(*i)?;
                self.compact(i, *k as u64)
            }
            Action::ProposeMembership(i, change) => {
                let i = self.check_server(*i)?;
                self.propose_membership(i, *change)
            }
        }
    }

    /// The configuration `change` leads to from node `i`'s, as the impl takes it: the new
    /// voters and learners (the impl goes through the joint configuration itself).
    pub fn propose_membership(&mut self, i: usize, change: Change) -> Result<(), StepError> {
        let current = self.nodes[i].membership().clone();
        let (mut voters, mut learners) = (current.voters, current.learners);
        match change {
            Change::AddLearner(t) => {
                learners.insert(t as u64);
            }
            Change::Promote(t) => {
                learners.remove(&(t as u64));
                voters.insert(t as u64);
            }
            Change::Remove(t) => {
                learners.remove(&(t as u64));
                voters.remove(&(t as u64));
            }
        }
        let result = Rc::make_mut(&mut self.nodes[i]).propose_membership(voters, learners);
        let flushed = self.flush(i);
        result.map_err(|e| StepError::Refused(format!("membership change at {i}: {e:?}")))?;
        flushed
    }

    /// The application at node `i` snapshots its state machine (the entries it applied) up to
    /// `index`, and the node compacts its log.
    pub fn compact(&mut self, i: usize, index: u64) -> Result<(), StepError> {
        let log = abstraction::server(&self.nodes[i], self.n, &self.model.params)
            .map_err(StepError::Abstraction)?
            .log;
        let upto = (index as usize).min(log.len());
        let data = abstraction::snapshot_data(&log[..upto]);
        let result = Rc::make_mut(&mut self.nodes[i]).compact(index, data);
        let flushed = self.flush(i);
        result.map_err(|e| StepError::Refused(format!("compact at {i}: {e:?}")))?;
        flushed
    }

    /// One input without a result at node `i`, then its batch.
    fn input(&mut self, i: usize, f: impl FnOnce(&mut Node)) -> Result<(), StepError> {
        f(Rc::make_mut(&mut self.nodes[i]));
        self.flush(i)
    }

    // ---- the raw impl inputs (impl-first validation drives these directly) ----

    /// The election timer of node `i` fires (the impl ignores it at a leader).
    pub fn timeout(&mut self, i: usize) -> Result<(), StepError> {
        self.input(i, Node::timeout)
    }

    /// A heartbeat round at node `i` (the impl ignores it unless leader).
    pub fn heartbeat(&mut self, i: usize) -> Result<(), StepError> {
        self.input(i, Node::heartbeat)
    }

    /// One tick of node `i`'s clock: whatever timers fire (impl-first runs drive time so).
    pub fn tick(&mut self, i: usize) -> Result<(), StepError> {
        self.input(i, Node::tick)
    }

    /// A client value at node `i`, as the payload `[v]`. The outer error is the impl's refusal.
    pub fn propose(
        &mut self,
        i: usize,
        v: Value,
    ) -> Result<Result<(), StepError>, raft_core::Error> {
        let result = Rc::make_mut(&mut self.nodes[i]).propose(vec![v]);
        let flushed = self.flush(i);
        result.map(|_| flushed)
    }

    /// Hands the message at position `at` of `network()` to its destination.
    pub fn deliver(&mut self, at: usize) -> Result<(), StepError> {
        let InFlight { mut msg, .. } = self.network.remove(at);
        let dst = msg.to as usize;
        if dst >= self.n {
            return Ok(()); // addressed outside the cluster: lost
        }
        self.perturb_delivery(dst, &mut msg);
        if let Some(first) = self.perturb_before(dst, &msg) {
            Rc::make_mut(&mut self.nodes[dst]).step(first);
        }
        Rc::make_mut(&mut self.nodes[dst]).step(msg);
        self.flush(dst)
    }

    /// The injected mistakes that act before a delivery: a message handed to the receiver
    /// first, so that the correct impl code then makes the model bug's mistake.
    fn perturb_before(&self, dst: usize, msg: &IMessage) -> Option<IMessage> {
        let node = &self.nodes[dst];
        let higher = msg.term > node.term();
        // A refused vote reply of the message's term moves the receiver to that term and does
        // nothing else: the term step the bug takes.
        let bump = || IMessage {
            from: msg.from,
            to: msg.to,
            term: msg.term,
            body: IBody::RequestVoteResponse {
                granted: false,
                pre_vote: false,
            },
        };
        match (self.perturbation?, &msg.body) {
            (Perturbation::PreVoteBumpsTerm, IBody::RequestVote { pre_vote: true, .. })
                if higher && !node.in_lease() =>
            {
                Some(bump())
            }
            (
                Perturbation::PreVoteBumpsTerm,
                IBody::RequestVoteResponse {
                    pre_vote: true,
                    granted: true,
                },
            ) if higher => Some(bump()),
            (
                Perturbation::LeaseIgnored,
                IBody::RequestVote {
                    transfer: false, ..
                },
            ) if higher && node.in_lease() => Some(bump()),
            // A current-term ack of an entry the leader does not have: the leader marks the
            // follower as heard from and ignores the rest, so check-quorum alone sees the reply.
            (Perturbation::CheckQuorumCountsStaleReply, IBody::AppendEntriesResponse { .. })
                if msg.term < node.term() && node.role() == raft_core::Role::Leader =>
            {
                node.progress(msg.from)?;
                Some(IMessage {
                    term: node.term(),
                    body: IBody::AppendEntriesResponse {
                        success: true,
                        index: node.last_index() + 1,
                        hint: None,
                        read_ctx: 0,
                    },
                    ..msg.clone()
                })
            }
            _ => None,
        }
    }

    pub fn drop_message(&mut self, at: usize) {
        self.network.remove(at);
    }

    pub fn duplicate(&mut self, at: usize) {
        let copy = self.network[at].clone();
        self.network.insert(at, copy);
    }

    /// Crash and recover: node `i` is rebuilt from its storage alone; in-flight messages stay,
    /// and a batch whose writes were in progress is lost with what waited for it.
    pub fn restart(&mut self, i: usize) {
        self.held[i] = None;
        let mut stored = (*self.storage[i]).clone();
        match self.perturbation {
            Some(Perturbation::ForgetVotedForOnRestart) => stored.hard_state.voted_for = None,
            Some(Perturbation::ForgetTermOnRestart) => stored.hard_state.term = 0,
            _ => {}
        }
        self.nodes[i] = Rc::new(Node::new(self.config(i), &stored));
    }

    /// The injected mistakes that act on delivery: rewriting what the receiver sees so that the
    /// correct impl code makes the model bug's mistake.
    fn perturb_delivery(&self, dst: usize, msg: &mut IMessage) {
        let node = &self.nodes[dst];
        match (self.perturbation, &mut msg.body) {
            (
                Some(Perturbation::CountStaleVotes),
                IBody::RequestVoteResponse { granted: true, .. },
            ) if msg.term < node.term() && node.role() == raft_core::Role::Candidate => {
                msg.term = node.term();
            }
            (Some(Perturbation::CountStaleAppendReplies), IBody::AppendEntriesResponse { .. })
                if msg.term < node.term() && node.role() == raft_core::Role::Leader =>
            {
                msg.term = node.term();
            }
            (
                Some(Perturbation::VoteWithoutUpToDateCheck),
                IBody::RequestVote {
                    last_log_term,
                    pre_vote: false,
                    ..
                },
            )
            | (
                Some(Perturbation::PreVoteWithoutUpToDateCheck),
                IBody::RequestVote {
                    last_log_term,
                    pre_vote: true,
                    ..
                },
            ) => {
                *last_log_term = (*last_log_term).max(node.last_term() + 1);
            }
            _ => {}
        }
    }

    /// Handles node `i`'s Ready as `raft_core::ready` prescribes: persist, then send, then
    /// acknowledge. With asynchronous persistence a batch that writes anything is held until
    /// `Persist(i)`: only the AppendEntries that may go before the write
    /// (`may_send_before_persisting`) are sent now, and the node gets no input meanwhile (the
    /// model offers none).
    fn flush(&mut self, i: usize) -> Result<(), StepError> {
        if !self.nodes[i].has_ready() {
            return Ok(());
        }
        let node = Rc::make_mut(&mut self.nodes[i]);
        let mut ready = node.ready();
        let writes =
            ready.hard_state.is_some() || ready.snapshot.is_some() || !ready.entries.is_empty();
        if !(self.model.params.async_persist && writes) {
            Rc::make_mut(&mut self.storage[i]).persist(&ready);
            node.advance(&ready);
            return self.send_all(std::mem::take(&mut ready.messages));
        }
        let stored = &self.storage[i];
        let durable_last = stored
            .entries
            .last()
            .map_or(stored.snapshot.index, |e| e.index);
        let (early, wait): (Vec<_>, Vec<_>) = std::mem::take(&mut ready.messages)
            .into_iter()
            .partition(|m| may_send_before_persisting(m, durable_last));
        self.send_all(early)?;
        let mut outbox = Vec::with_capacity(wait.len());
        for msg in wait {
            let abs = abstraction::message(&msg).map_err(StepError::Abstraction)?;
            outbox.push(InFlight { abs, msg });
        }
        outbox.sort_by(|a, b| a.abs.cmp(&b.abs));
        self.held[i] = Some(Rc::new(Held { ready, outbox }));
        Ok(())
    }

    /// `Persist(i)`: node `i`'s held batch is written and acknowledged, and what waited for it
    /// is sent.
    pub fn persist(&mut self, i: usize) {
        let Some(held) = self.held[i].take() else {
            return;
        };
        let held = Rc::unwrap_or_clone(held);
        Rc::make_mut(&mut self.storage[i]).persist(&held.ready);
        Rc::make_mut(&mut self.nodes[i]).advance(&held.ready);
        for f in held.outbox {
            let at = self.network.partition_point(|x| x.abs <= f.abs);
            self.network.insert(at, f);
        }
    }

    fn send_all(&mut self, messages: Vec<IMessage>) -> Result<(), StepError> {
        for msg in messages {
            let abs = abstraction::message(&msg).map_err(StepError::Abstraction)?;
            let at = self.network.partition_point(|f| f.abs <= abs);
            self.network.insert(at, InFlight { abs, msg });
        }
        Ok(())
    }
}

/// The impl configuration that runs `params`' protocol for server `id` of `0..n`:
/// `Config::basic` with each extension switched on as the model has it. Timers are driven by
/// explicit inputs in lock step, so the tick counts matter only to impl-first runs.
pub fn config(params: &raft_model::Params, id: usize, n: usize) -> Config {
    let mut cfg = Config::basic(id as u64, n as u64);
    cfg.max_entries_per_append = params.max_entries as usize;
    cfg.noop_on_election = params.noop;
    cfg.pre_vote = params.pre_vote;
    cfg.check_quorum = params.check_quorum;
    cfg.fast_backtrack = params.fast_backtrack;
    cfg.pipelining = params.pipelining();
    if params.pipelining() {
        cfg.max_inflight_msgs = params.max_inflight as usize;
    }
    cfg.eager_replication = params.eager;
    if params.membership && n > 1 {
        // The model's initial configuration: every id but the last is a voter.
        cfg.initial = raft_core::Membership::new(0..n as u64 - 1);
    }
    cfg
}
