//! An in-process cluster of `raft-core` nodes on in-memory storage and an in-memory network, for
//! tests, scenario scripts and benchmarks (the core's integration tests live in this package). It
//! follows the Ready contract exactly (persist, then send, then apply, then advance), optionally
//! sending a leader's AppendEntries before persisting as the contract allows, and records what
//! every server applied, so safety can be checked after any step. A server can be made to crash in
//! the middle of its next write.

use std::collections::{BTreeMap, BTreeSet};

use raft_core::{
    may_send_before_persisting, Body, Config, Entry, MemStorage, Message, Node, NodeId, Payload,
    ReadState, Ready, Role,
};

/// One server of the simulated cluster: its node, what it persisted, and its state machine (the
/// list of applied entries, reset from a snapshot's index when one is restored).
#[derive(Clone, Debug)]
pub struct Server {
    pub config: Config,
    pub node: Node,
    pub storage: MemStorage,
    /// Index of the snapshot the state machine was last restored from.
    pub restored_from: u64,
    /// Entries applied since that snapshot.
    pub applied: Vec<Entry>,
    /// Reads released to this server's application.
    pub reads: Vec<ReadState>,
}

#[derive(Clone, Debug, Default)]
pub struct Cluster {
    pub servers: BTreeMap<NodeId, Server>,
    /// Messages in flight, in the order they were sent.
    pub network: Vec<Message>,
    /// Links that drop everything, as unordered pairs `(min, max)`.
    pub cut: BTreeSet<(NodeId, NodeId)>,
    /// Every entry any server ever applied, by index: State Machine Safety says one per index.
    pub applied_at: BTreeMap<u64, Entry>,
    /// Set when two servers applied different entries at one index.
    pub violation: Option<String>,
    /// Send what `may_send_before_persisting` allows before persisting a batch, as raft-node does.
    pub early_append: bool,
    /// This server crashes during its next write: after the messages sent early, before the
    /// batch is stored. It restarts from what it stored before.
    pub crash_mid_write: Option<NodeId>,
    /// How many such crashes came after messages had gone out early.
    pub crashes_after_early_send: usize,
}

impl Server {
    /// Rebuilds the node from exactly what it stored; the state machine restarts from the stored
    /// snapshot.
    fn recover(&mut self) {
        self.node = Node::new(self.config.clone(), &self.storage);
        self.restored_from = self.storage.snapshot.index;
        self.applied.clear();
    }
}

impl Cluster {
    /// A cluster of fresh servers with the given configurations.
    pub fn new(configs: impl IntoIterator<Item = Config>) -> Cluster {
        let mut cluster = Cluster::default();
        for cfg in configs {
            cluster.add(cfg);
        }
        cluster
    }

    /// `n` servers in the basic mode of the contract.
    pub fn basic(n: u64) -> Cluster {
        Cluster::new((0..n).map(|i| Config::basic(i, n)))
    }

    /// `n` servers with every extension on.
    pub fn full(n: u64) -> Cluster {
        Cluster::new((0..n).map(|i| Config::new(i, 0..n)))
    }

    /// Adds a fresh server (for example a new member about to be added as a learner).
    pub fn add(&mut self, cfg: Config) {
        let storage = MemStorage::new();
        let node = Node::new(cfg.clone(), &storage);
        self.servers.insert(
            cfg.id,
            Server {
                config: cfg,
                node,
                storage,
                restored_from: 0,
                applied: Vec::new(),
                reads: Vec::new(),
            },
        );
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.servers[&id].node
    }

    /// Runs `f` on node `id`, then handles its Ready.
    pub fn with<R>(&mut self, id: NodeId, f: impl FnOnce(&mut Node) -> R) -> Option<R> {
        let server = self.servers.get_mut(&id)?;
        let r = f(&mut server.node);
        self.process(id);
        Some(r)
    }

    /// Handles node `id`'s Ready batches until it has none: persist, send, apply, advance.
    pub fn process(&mut self, id: NodeId) {
        let Some(server) = self.servers.get_mut(&id) else {
            return;
        };
        while server.node.has_ready() {
            let mut ready = server.node.ready();
            let durable = server.storage.snapshot.index + server.storage.entries.len() as u64;
            let early = |m: &Message| self.early_append && may_send_before_persisting(m, durable);
            // Copies go out early; the batch keeps every message for `check_persisted`.
            let mut sent_early = false;
            for m in ready.messages.iter().filter(|m| early(m)) {
                post(&mut self.network, &self.cut, m.clone());
                sent_early = true;
            }
            if self.crash_mid_write == Some(id) {
                self.crash_mid_write = None;
                self.crashes_after_early_send += usize::from(sent_early);
                server.recover();
                return;
            }
            server.storage.persist(&ready);
            if let Err(e) = check_persisted(&server.storage, &ready) {
                self.violation.get_or_insert(format!("server {id}: {e}"));
            }
            for m in std::mem::take(&mut ready.messages) {
                if !early(&m) {
                    post(&mut self.network, &self.cut, m);
                }
            }
            if ready.restore_snapshot {
                if let Some(s) = &ready.snapshot {
                    server.restored_from = s.index;
                    server.applied.clear();
                }
            }
            for e in &ready.committed_entries {
                let expected = server.restored_from + server.applied.len() as u64 + 1;
                if e.index != expected && self.violation.is_none() {
                    self.violation = Some(format!(
                        "server {id} applied index {} but expected {expected}",
                        e.index
                    ));
                }
                match self.applied_at.get(&e.index) {
                    Some(prev) if prev != e && self.violation.is_none() => {
                        self.violation = Some(format!(
                            "State Machine Safety: index {} applied as {prev:?} and as {e:?}",
                            e.index
                        ));
                    }
                    _ => {
                        self.applied_at.insert(e.index, e.clone());
                    }
                }
                server.applied.push(e.clone());
            }
            server.reads.extend(ready.read_states.iter().copied());
            server.node.advance(&ready);
        }
    }

    /// Delivers the message at position `k` of the network (removing it).
    pub fn deliver(&mut self, k: usize) {
        if k >= self.network.len() {
            return;
        }
        let m = self.network.remove(k);
        let to = m.to;
        if self.servers.contains_key(&to) {
            self.with(to, |n| n.step(m));
        }
    }

    /// Delivers messages in order until the network is empty or `max` messages were delivered.
    /// Returns how many were delivered.
    pub fn deliver_all(&mut self, max: usize) -> usize {
        let mut delivered = 0;
        while !self.network.is_empty() && delivered < max {
            self.deliver(0);
            delivered += 1;
        }
        delivered
    }

    /// Crash and recover: the node is rebuilt from exactly what it persisted; its state machine
    /// restarts from the stored snapshot.
    pub fn restart(&mut self, id: NodeId) {
        if let Some(server) = self.servers.get_mut(&id) {
            server.recover();
        }
    }

    /// Ticks every server once.
    pub fn tick_all(&mut self) {
        let ids: Vec<NodeId> = self.servers.keys().copied().collect();
        for id in ids {
            self.with(id, Node::tick);
        }
    }

    /// Cuts every link between `a` and the rest (or heals them all with `heal`).
    pub fn isolate(&mut self, a: NodeId) {
        for &b in self.servers.keys() {
            if a != b {
                self.cut.insert((a.min(b), a.max(b)));
            }
        }
    }

    pub fn heal(&mut self) {
        self.cut.clear();
    }

    /// The current leader with the highest term, if any.
    pub fn leader(&self) -> Option<NodeId> {
        self.servers
            .values()
            .filter(|s| s.node.role() == Role::Leader)
            .max_by_key(|s| s.node.term())
            .map(|s| s.node.id())
    }

    /// `rounds` times: tick every server, then deliver what is in flight (up to 100,000
    /// messages).
    pub fn run(&mut self, rounds: usize) {
        for _ in 0..rounds {
            self.tick_all();
            self.deliver_all(100_000);
        }
    }

    /// Ticks and delivers everything until a leader exists, for at most `max_ticks` ticks.
    pub fn elect(&mut self, max_ticks: u64) -> Option<NodeId> {
        for _ in 0..max_ticks {
            self.run(1);
            if let Some(l) = self.leader() {
                return Some(l);
            }
        }
        None
    }

    /// The payloads of normal entries node `id` applied since its last restore, in order.
    pub fn applied_values(&self, id: NodeId) -> Vec<Vec<u8>> {
        self.servers[&id]
            .applied
            .iter()
            .filter_map(|e| match &e.payload {
                Payload::Normal(d) => Some(d.clone()),
                _ => None,
            })
            .collect()
    }
}

/// Puts `m` on the network unless its link is cut.
fn post(network: &mut Vec<Message>, cut: &BTreeSet<(NodeId, NodeId)>, m: Message) {
    if !cut.contains(&(m.from.min(m.to), m.from.max(m.to))) {
        network.push(m);
    }
}

/// The persistence half of the Ready contract: once a batch's durable part is stored, every
/// message in it is backed by storage. A vote grant needs the vote (and its term) stored; a success
/// reply acknowledging index `i` needs entries up to `i` stored; an AppendEntries needs its
/// entries and the term it is sent in stored (raft-bugs #3).
pub fn check_persisted(storage: &MemStorage, ready: &Ready) -> Result<(), String> {
    let stored_term = |index: u64| {
        if index == storage.snapshot.index {
            return Some(storage.snapshot.term);
        }
        let base = storage.snapshot.index;
        (index > base)
            .then(|| {
                storage
                    .entries
                    .get((index - base - 1) as usize)
                    .map(|e| e.term)
            })
            .flatten()
    };
    for m in &ready.messages {
        if m.term > storage.hard_state.term
            && !matches!(m.body, Body::RequestVote { pre_vote: true, .. })
            && !matches!(m.body, Body::RequestVoteResponse { pre_vote: true, .. })
        {
            return Err(format!("sent {m:?} before persisting term {}", m.term));
        }
        match &m.body {
            Body::RequestVoteResponse {
                granted: true,
                pre_vote: false,
            } if storage.hard_state.voted_for != Some(m.to) => {
                return Err(format!("granted a vote to {} before persisting it", m.to));
            }
            Body::AppendEntriesResponse {
                success: true,
                index,
                ..
            } if *index > storage.snapshot.index
                && *index > storage.snapshot.index + storage.entries.len() as u64 =>
            {
                return Err(format!("acknowledged index {index} before persisting it"));
            }
            Body::AppendEntries { entries, .. } => {
                if let Some(e) = entries
                    .iter()
                    .find(|e| stored_term(e.index) != Some(e.term))
                {
                    return Err(format!("sent entry {} before persisting it", e.index));
                }
            }
            _ => {}
        }
    }
    Ok(())
}
