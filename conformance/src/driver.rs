//! The lock-step driver: a cluster of impl cores, each with in-memory storage, and the impl
//! messages in flight. A model action becomes the matching impl input; after every input the
//! node's `Ready` is handled exactly as `raft_core::ready` prescribes (persist, then send, then
//! `advance`), so `Restart(i)` can rebuild node i from nothing but what it handed to storage.
//!
//! Nodes and storages sit behind `Rc` so that forking the cluster at a model state (exhaustive
//! mode clones it once per transition) copies only the node an action touches.

use crate::abstraction::{self, AbstractionError};
use raft_core::{Body as IBody, Config, MemStorage, Message as IMessage, Node};
use raft_model::{Action, Bug, Message, RaftModel, ServerId, Value};
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
}

impl Perturbation {
    pub const ALL: [Perturbation; 5] = [
        Perturbation::ForgetVotedForOnRestart,
        Perturbation::ForgetTermOnRestart,
        Perturbation::CountStaleVotes,
        Perturbation::CountStaleAppendReplies,
        Perturbation::VoteWithoutUpToDateCheck,
    ];

    /// The model bug flag that makes the same mistake.
    pub fn bug(self) -> Bug {
        match self {
            Perturbation::ForgetVotedForOnRestart => Bug::ForgetVotedForOnRestart,
            Perturbation::ForgetTermOnRestart => Bug::ForgetTermOnRestart,
            Perturbation::CountStaleVotes => Bug::CountStaleVotes,
            Perturbation::CountStaleAppendReplies => Bug::CountStaleAppendReplies,
            Perturbation::VoteWithoutUpToDateCheck => Bug::VoteWithoutUpToDateCheck,
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
    /// The impl produced something the basic model cannot express.
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

#[derive(Clone, Debug)]
pub struct Cluster {
    n: usize,
    model: RaftModel,
    perturbation: Option<Perturbation>,
    nodes: Vec<Rc<Node>>,
    storage: Vec<Rc<MemStorage>>,
    /// Sorted by abstraction, like the model's network, so equal multisets compare equal.
    network: Vec<InFlight>,
}

impl Cluster {
    /// Fresh nodes with empty storage, configured to the contract's basic mode with the model's
    /// protocol parameters (entries per AppendEntries, no-op on election).
    pub fn new(model: &RaftModel, perturbation: Option<Perturbation>) -> Cluster {
        let n = model.bounds.servers as usize;
        let mut cluster = Cluster {
            n,
            model: model.clone(),
            perturbation,
            nodes: Vec::with_capacity(n),
            storage: (0..n).map(|_| Rc::new(MemStorage::new())).collect(),
            network: Vec::new(),
        };
        for id in 0..n {
            let node = Node::new(cluster.config(id), &*cluster.storage[id]);
            cluster.nodes.push(Rc::new(node));
        }
        cluster
    }

    /// The impl configuration used for server `id`: `Config::basic` plus the model's parameters.
    pub fn config(&self, id: usize) -> Config {
        let mut cfg = Config::basic(id as u64, self.n as u64);
        cfg.max_entries_per_append = self.model.params.max_entries as usize;
        cfg.noop_on_election = self.model.params.noop;
        cfg
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
        }
    }

    // ---- the raw impl inputs (impl-first validation drives these directly) ----

    /// The election timer of node `i` fires (the impl ignores it at a leader).
    pub fn timeout(&mut self, i: usize) -> Result<(), StepError> {
        Rc::make_mut(&mut self.nodes[i]).timeout();
        self.flush(i)
    }

    /// A heartbeat round at node `i` (the impl ignores it unless leader).
    pub fn heartbeat(&mut self, i: usize) -> Result<(), StepError> {
        Rc::make_mut(&mut self.nodes[i]).heartbeat();
        self.flush(i)
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
        Rc::make_mut(&mut self.nodes[dst]).step(msg);
        self.flush(dst)
    }

    pub fn drop_message(&mut self, at: usize) {
        self.network.remove(at);
    }

    pub fn duplicate(&mut self, at: usize) {
        let copy = self.network[at].clone();
        self.network.insert(at, copy);
    }

    /// Crash and recover: node `i` is rebuilt from its storage alone; in-flight messages stay.
    pub fn restart(&mut self, i: usize) {
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
                IBody::RequestVote { last_log_term, .. },
            ) => {
                *last_log_term = (*last_log_term).max(node.last_term() + 1);
            }
            _ => {}
        }
    }

    /// Handles node `i`'s Ready: persist, then send, then acknowledge.
    fn flush(&mut self, i: usize) -> Result<(), StepError> {
        if !self.nodes[i].has_ready() {
            return Ok(());
        }
        let node = Rc::make_mut(&mut self.nodes[i]);
        let ready = node.ready();
        Rc::make_mut(&mut self.storage[i]).persist(&ready);
        node.advance(&ready);
        for msg in ready.messages {
            let abs = abstraction::message(&msg).map_err(StepError::Abstraction)?;
            let at = self.network.partition_point(|f| f.abs <= abs);
            self.network.insert(at, InFlight { abs, msg });
        }
        Ok(())
    }
}
