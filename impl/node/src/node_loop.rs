//! The node loop: one tokio task that owns the Raft core, the durable storage and the key-value
//! state machine, and is the only place they change.
//!
//! Each turn waits for one event (a tick, a peer message, a client request), then takes every
//! other event already queued without waiting, and then handles the core's `Ready` in the order
//! its contract asks (`raft_core::ready`): persist (one WAL fsync for the whole batch: group
//! commit), then send, then apply, then answer reads, then `advance`. Requests that arrive while
//! the fsync runs queue up and go into the next batch, so the fsync rate, not the request rate,
//! bounds the loop. The fsync runs in `block_in_place`, so the transport and the client API keep
//! running on the other runtime threads meanwhile.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use raft_core::{
    may_send_before_persisting, Error as CoreError, Membership, Message, Node, NodeId, Payload,
    Ready, Role,
};
use raft_storage::{DiskStorage, StorageError};
use tokio::sync::{mpsc, oneshot, watch};

use crate::kv::{command_bytes, Applied, ApplyOutcome, Kv, MemberInfo, Op};
use crate::transport::{AddressBook, Transport};

/// Why a request was not served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// This node is not the leader; the leader it knows of, if any.
    NotLeader {
        leader: Option<NodeId>,
    },
    /// The proposal was lost (leadership changed before it committed) or its outcome is unknown;
    /// the client may retry.
    Dropped(&'static str),
    /// The core refused for now (a configuration change or leadership transfer under way).
    Busy(String),
    Invalid(String),
    /// The node is shutting down.
    Stopped,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiError::NotLeader { leader: Some(l) } => write!(f, "not the leader (leader is {l})"),
            ApiError::NotLeader { leader: None } => write!(f, "not the leader (no leader known)"),
            ApiError::Dropped(why) => write!(f, "request dropped: {why}"),
            ApiError::Busy(why) => write!(f, "busy: {why}"),
            ApiError::Invalid(why) => write!(f, "invalid request: {why}"),
            ApiError::Stopped => write!(f, "node is stopping"),
        }
    }
}

fn core_error(e: CoreError) -> ApiError {
    match e {
        CoreError::NotLeader { leader } => ApiError::NotLeader { leader },
        CoreError::TransferInProgress => ApiError::Busy("leadership transfer in progress".into()),
        CoreError::ConfigChangeInProgress => {
            ApiError::Busy("a configuration change is in progress".into())
        }
        CoreError::NotCommittedInTerm => {
            ApiError::Busy("the new leader has not committed an entry yet".into())
        }
        CoreError::Invalid(why) => ApiError::Invalid(why.to_string()),
    }
}

/// A read served against the state machine once it is safe to: immediately for a serializable
/// read, after ReadIndex confirmation and catching up for a linearizable one.
pub type ReadFn = Box<dyn FnOnce(Result<&Kv, ApiError>) + Send>;

pub enum Request {
    /// Replicate `op` and answer with its result once applied.
    Write {
        op: Op,
        reply: oneshot::Sender<Result<Applied, ApiError>>,
    },
    Read {
        serializable: bool,
        f: ReadFn,
    },
    /// Hand leadership to `to` (thesis 3.10); answered once the transfer started.
    Transfer {
        to: NodeId,
        reply: oneshot::Sender<Result<(), ApiError>>,
    },
    /// Propose a new configuration; answered with its index once it is applied.
    Reconfigure {
        voters: BTreeSet<NodeId>,
        learners: BTreeSet<NodeId>,
        reply: oneshot::Sender<Result<u64, ApiError>>,
    },
}

/// What the node loop publishes after every turn, for the client API.
#[derive(Clone, Debug)]
pub struct NodeStatus {
    pub id: NodeId,
    pub role: Role,
    pub term: u64,
    pub leader: Option<NodeId>,
    pub commit: u64,
    pub applied: u64,
    pub revision: i64,
    pub db_size: i64,
    pub membership: Membership,
    pub members: BTreeMap<NodeId, MemberInfo>,
    /// The highest member id ever used, removed members included.
    pub highest_member_id: u64,
    /// WAL fsyncs issued since start (one per Ready that had something to persist).
    pub wal_syncs: u64,
    /// Leader only: how far each learner's log matches the leader's.
    pub learner_match: BTreeMap<NodeId, u64>,
}

pub struct LoopParams {
    pub tick: Duration,
    /// Take a snapshot once this many entries were applied since the last one (0: never).
    pub snapshot_threshold: u64,
}

struct PendingWrite {
    term: u64,
    reply: oneshot::Sender<Result<Applied, ApiError>>,
}

struct PendingReconfig {
    term: u64,
    reply: oneshot::Sender<Result<u64, ApiError>>,
}

pub struct NodeLoop {
    core: Node,
    disk: DiskStorage,
    kv: Kv,
    transport: Transport,
    addresses: AddressBook,
    params: LoopParams,
    /// The session this process proposes under; fresh per start so that sequence numbers never
    /// repeat across restarts.
    client_id: u64,
    seq: u64,
    next_read_id: u64,
    writes: BTreeMap<u64, PendingWrite>,
    reconfigs: BTreeMap<u64, PendingReconfig>,
    /// Linearizable reads registered with the core and not yet confirmed by a quorum.
    reads_unconfirmed: HashMap<u64, ReadFn>,
    /// Confirmed reads waiting for the state machine to reach their read index.
    reads_confirmed: Vec<(u64, ReadFn)>,
    status: watch::Sender<NodeStatus>,
    known_members: BTreeMap<NodeId, MemberInfo>,
    /// A local snapshot under way off the loop.
    snapshot_job: Option<SnapshotJob>,
}

/// A local snapshot in its two steps off the loop.
enum SnapshotJob {
    /// The state machine as of `index`, being encoded.
    Encoding {
        index: u64,
        data: oneshot::Receiver<Vec<u8>>,
    },
    /// The snapshot file being written; answers with its index.
    Writing(oneshot::Receiver<Result<u64, StorageError>>),
}

/// How many queued events one turn takes at most before handling the Ready.
const MAX_EVENTS_PER_TURN: usize = 4096;

impl NodeLoop {
    pub fn new(
        core: Node,
        disk: DiskStorage,
        kv: Kv,
        transport: Transport,
        addresses: AddressBook,
        params: LoopParams,
    ) -> (NodeLoop, watch::Receiver<NodeStatus>) {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let client_id = (core.id() << 48) ^ nanos;
        let (status, status_rx) = watch::channel(snapshot_status(&core, &kv, disk.syncs));
        let mut node = NodeLoop {
            core,
            disk,
            kv,
            transport,
            addresses,
            params,
            client_id,
            seq: 0,
            next_read_id: 0,
            writes: BTreeMap::new(),
            reconfigs: BTreeMap::new(),
            reads_unconfirmed: HashMap::new(),
            reads_confirmed: Vec::new(),
            status,
            known_members: BTreeMap::new(),
            snapshot_job: None,
        };
        node.refresh_addresses();
        (node, status_rx)
    }

    /// Runs until `shutdown` turns true or storage fails. A storage failure is fatal: after a
    /// failed fsync nothing more may be acknowledged.
    pub async fn run(
        mut self,
        mut inbox: mpsc::Receiver<Message>,
        mut requests: mpsc::Receiver<Request>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), StorageError> {
        let mut ticker = tokio::time::interval(self.params.tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                biased;
                _ = shutdown.changed() => {
                    if *shutdown.borrow() {
                        break;
                    }
                }
                _ = ticker.tick() => self.core.tick(),
                Some(m) = inbox.recv() => self.core.step(m),
                Some(r) = requests.recv() => self.handle(r),
            }
            for _ in 0..MAX_EVENTS_PER_TURN {
                let mut any = false;
                if let Ok(m) = inbox.try_recv() {
                    self.core.step(m);
                    any = true;
                }
                if let Ok(r) = requests.try_recv() {
                    self.handle(r);
                    any = true;
                }
                if !any {
                    break;
                }
            }
            self.process_ready()?;
        }
        self.fail_all(ApiError::Stopped);
        self.poll_snapshot_job(true)
    }

    fn handle(&mut self, r: Request) {
        match r {
            Request::Write { op, reply } => {
                if self.core.role() != Role::Leader {
                    let _ = reply.send(Err(ApiError::NotLeader {
                        leader: self.core.leader(),
                    }));
                    return;
                }
                self.seq += 1;
                let data = command_bytes(self.client_id, self.seq, &op);
                match self.core.propose(data) {
                    Ok(index) => {
                        let term = self.core.term();
                        self.writes.insert(index, PendingWrite { term, reply });
                    }
                    Err(e) => {
                        let _ = reply.send(Err(core_error(e)));
                    }
                }
            }
            Request::Read { serializable, f } => {
                if serializable {
                    f(Ok(&self.kv));
                    return;
                }
                self.next_read_id += 1;
                match self.core.read_index(self.next_read_id) {
                    Ok(()) => {
                        self.reads_unconfirmed.insert(self.next_read_id, f);
                    }
                    Err(e) => f(Err(core_error(e))),
                }
            }
            Request::Transfer { to, reply } => {
                let _ = reply.send(self.core.transfer_leadership(to).map_err(core_error));
            }
            Request::Reconfigure {
                voters,
                learners,
                reply,
            } => match self.core.propose_membership(voters, learners) {
                Ok(index) => {
                    let term = self.core.term();
                    self.reconfigs
                        .insert(index, PendingReconfig { term, reply });
                }
                Err(e) => {
                    let _ = reply.send(Err(core_error(e)));
                }
            },
        }
    }

    fn process_ready(&mut self) -> Result<(), StorageError> {
        self.poll_snapshot_job(false)?;
        let was_leader = self.core.role() == Role::Leader;
        let term = self.core.term();
        // Applying can make more output (a compaction); a few rounds drain it without waiting
        // for the next event.
        for _ in 0..4 {
            if !self.core.has_ready() {
                break;
            }
            let ready = self.core.ready();
            self.handle_ready(ready)?;
            self.maybe_snapshot();
        }
        if was_leader && (self.core.role() != Role::Leader || self.core.term() != term) {
            // Unconfirmed reads of a deposed leader will never be confirmed.
            for (_, f) in self.reads_unconfirmed.drain() {
                f(Err(ApiError::NotLeader {
                    leader: self.core.leader(),
                }));
            }
        }
        self.refresh_addresses();
        self.publish_status();
        Ok(())
    }

    fn publish_status(&self) {
        self.status
            .send_replace(snapshot_status(&self.core, &self.kv, self.disk.syncs));
    }

    fn handle_ready(&mut self, mut ready: Ready) -> Result<(), StorageError> {
        // A new role or leader is published before any message tells other servers of it: a
        // request they forward here on the strength of such a message must find it already.
        let changed = {
            let s = self.status.borrow();
            (s.role, s.term, s.leader) != (self.core.role(), self.core.term(), self.core.leader())
        };
        if changed {
            self.publish_status();
        }
        // 0. A leader's AppendEntries go out before its own write, so that its fsync overlaps the
        // followers' (thesis 10.2.1; the conditions are on `may_send_before_persisting`). This
        // turn steps no input until the write below is done, so no reply is counted before then.
        let durable = self.disk.last_index();
        let (early, late): (Vec<Message>, Vec<Message>) = std::mem::take(&mut ready.messages)
            .into_iter()
            .partition(|m| may_send_before_persisting(m, durable));
        for m in early {
            self.transport.send(m);
        }
        // 1. Persist: snapshot, entries, hard state; one fsync. Snapshot files are written in
        // index order, so a leader's snapshot waits for a local one still being written.
        if ready.restore_snapshot {
            self.poll_snapshot_job(true)?;
        }
        let commit = self.core.commit_index();
        let disk = &mut self.disk;
        if let Some(write) = tokio::task::block_in_place(|| disk.persist(&ready, commit))? {
            let (tx, rx) = oneshot::channel();
            tokio::task::spawn_blocking(move || {
                let _ = tx.send(write.run());
            });
            self.snapshot_job = Some(SnapshotJob::Writing(rx));
        }
        // 2. Send the rest, only now that what they promise (a vote, an acknowledged entry) is
        // durable.
        for m in late {
            self.transport.send(m);
        }
        // 3. Restore from a leader's snapshot, then apply.
        if ready.restore_snapshot {
            if let Some(snap) = &ready.snapshot {
                self.kv = Kv::restore(&snap.data).map_err(|why| {
                    StorageError::Inconsistent(format!(
                        "snapshot at index {} from the leader does not decode: {why}",
                        snap.index
                    ))
                })?;
                tracing::info!(
                    index = snap.index,
                    term = snap.term,
                    bytes = snap.data.len(),
                    "restored the state machine from the leader's snapshot"
                );
                // Proposals the snapshot covers: whether they made it is unknown here.
                let later = self.writes.split_off(&(snap.index + 1));
                for (_, p) in std::mem::replace(&mut self.writes, later) {
                    let _ = p.reply.send(Err(ApiError::Dropped("outcome unknown")));
                }
                let later = self.reconfigs.split_off(&(snap.index + 1));
                for (_, p) in std::mem::replace(&mut self.reconfigs, later) {
                    let _ = p.reply.send(Err(ApiError::Dropped("outcome unknown")));
                }
            }
        }
        for e in &ready.committed_entries {
            let result = match &e.payload {
                Payload::Normal(data) => match self.kv.apply_entry(data) {
                    ApplyOutcome::Done(a) | ApplyOutcome::Duplicate(a) => Ok(a),
                    ApplyOutcome::Stale => Err(ApiError::Dropped("superseded by a later command")),
                    ApplyOutcome::Malformed(why) => {
                        tracing::warn!(index = e.index, %why, "skipped an entry with no valid command");
                        Err(ApiError::Invalid(why))
                    }
                },
                Payload::Noop | Payload::Config(_) => Err(ApiError::Dropped("entry overwritten")),
            };
            if let Some(p) = self.writes.remove(&e.index) {
                let r = if p.term == e.term {
                    result
                } else {
                    Err(ApiError::Dropped("leadership changed before commit"))
                };
                let _ = p.reply.send(r);
            }
            if let Some(p) = self.reconfigs.remove(&e.index) {
                let ok = p.term == e.term && matches!(e.payload, Payload::Config(_));
                let _ = p.reply.send(if ok {
                    Ok(e.index)
                } else {
                    Err(ApiError::Dropped("leadership changed before commit"))
                });
            }
        }
        // 4. Reads confirmed by a quorum wait for their index to be applied.
        for rs in &ready.read_states {
            if let Some(f) = self.reads_unconfirmed.remove(&rs.request_id) {
                self.reads_confirmed.push((rs.index, f));
            }
        }
        // 5. Acknowledge.
        self.core.advance(&ready);
        let applied = self.core.applied_index();
        let (now, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.reads_confirmed)
            .into_iter()
            .partition(|(index, _)| *index <= applied);
        self.reads_confirmed = later;
        for (_, f) in now {
            f(Ok(&self.kv));
        }
        Ok(())
    }

    /// Starts a local snapshot once `snapshot_threshold` entries were applied since the last one:
    /// a copy of the state machine (cheap: a persistent map) is encoded on a blocking thread.
    fn maybe_snapshot(&mut self) {
        let threshold = self.params.snapshot_threshold;
        let applied = self.core.applied_index();
        if threshold == 0
            || applied < self.core.snapshot().index + threshold
            || self.snapshot_job.is_some()
        {
            return;
        }
        let copy = self.kv.clone();
        let (tx, rx) = oneshot::channel();
        tokio::task::spawn_blocking(move || {
            let _ = tx.send(copy.snapshot());
        });
        self.snapshot_job = Some(SnapshotJob::Encoding {
            index: applied,
            data: rx,
        });
    }

    /// Moves the local snapshot along: encoded data goes to the core (`compact`, whose next Ready
    /// hands back the file to write); a written file lets the log drop what it covers. With
    /// `wait` (a leader's snapshot is about to be saved, or the node stops), an encoding is
    /// abandoned and a file write waited for, so that snapshot files are written in index order.
    fn poll_snapshot_job(&mut self, wait: bool) -> Result<(), StorageError> {
        let lost = || StorageError::Inconsistent("a snapshot task stopped without a result".into());
        match self.snapshot_job.take() {
            None => {}
            Some(SnapshotJob::Encoding { .. }) if wait => {}
            Some(SnapshotJob::Encoding { index, mut data }) => match data.try_recv() {
                Err(oneshot::error::TryRecvError::Empty) => {
                    self.snapshot_job = Some(SnapshotJob::Encoding { index, data });
                }
                Err(oneshot::error::TryRecvError::Closed) => return Err(lost()),
                Ok(data) => {
                    // Refused when a leader's snapshot moved the log past `index` meanwhile.
                    if let Err(e) = self.core.compact(index, data) {
                        tracing::info!(index, error = ?e, "local snapshot dropped");
                    }
                }
            },
            Some(SnapshotJob::Writing(rx)) if wait => {
                let index =
                    tokio::task::block_in_place(|| rx.blocking_recv()).map_err(|_| lost())??;
                self.compact_log(index)?;
            }
            Some(SnapshotJob::Writing(mut rx)) => match rx.try_recv() {
                Err(oneshot::error::TryRecvError::Empty) => {
                    self.snapshot_job = Some(SnapshotJob::Writing(rx));
                }
                Err(oneshot::error::TryRecvError::Closed) => return Err(lost()),
                Ok(written) => self.compact_log(written?)?,
            },
        }
        Ok(())
    }

    fn compact_log(&mut self, index: u64) -> Result<(), StorageError> {
        let disk = &mut self.disk;
        tokio::task::block_in_place(|| disk.compact(index))?;
        tracing::info!(index, "took a snapshot");
        Ok(())
    }

    /// Keeps the transport's address book in step with the replicated member directory.
    fn refresh_addresses(&mut self) {
        if *self.kv.members() == self.known_members {
            return;
        }
        self.known_members = self.kv.members().clone();
        let mut book = self.addresses.write().unwrap_or_else(|e| e.into_inner());
        book.clear();
        for m in self.known_members.values() {
            if m.id != self.core.id() && !m.peer_addr.is_empty() {
                book.insert(m.id, m.peer_addr.clone());
            }
        }
    }

    fn fail_all(&mut self, e: ApiError) {
        for (_, p) in std::mem::take(&mut self.writes) {
            let _ = p.reply.send(Err(e.clone()));
        }
        for (_, p) in std::mem::take(&mut self.reconfigs) {
            let _ = p.reply.send(Err(e.clone()));
        }
        for (_, f) in self.reads_unconfirmed.drain() {
            f(Err(e.clone()));
        }
        for (_, f) in std::mem::take(&mut self.reads_confirmed) {
            f(Err(e.clone()));
        }
    }
}

fn snapshot_status(core: &Node, kv: &Kv, wal_syncs: u64) -> NodeStatus {
    NodeStatus {
        id: core.id(),
        role: core.role(),
        term: core.term(),
        leader: core.leader(),
        commit: core.commit_index(),
        applied: core.applied_index(),
        revision: kv.revision(),
        db_size: kv.size_bytes(),
        membership: core.membership().clone(),
        members: kv.members().clone(),
        highest_member_id: kv.highest_member_id(),
        wal_syncs,
        learner_match: core
            .membership()
            .learners
            .iter()
            .filter_map(|l| core.progress(*l).map(|p| (*l, p.match_index)))
            .collect(),
    }
}
