//! The global state: every server's state from Figure 2 ("State"), the network, the fault
//! counters that the bounds limit, and the history ("ghost") variables that the properties of
//! Figure 3 need because they speak about the past (Raft paper, sections 5.2-5.4).
//!
//! The production protocol's extensions add state that stays at its default value in the basic
//! protocol (and is then left out of the JSON form): the leader lease and check-quorum's record
//! (thesis 4.2.3, 6.2), the transfer target (thesis 3.10), per-follower flow control (thesis
//! 10.2.2) and a write in progress (thesis 10.2.1).

use crate::inline::{Filler, InlineVec};
use crate::message::{Entry, Index, Membership, Message, Network, Payload, ServerId, Term};
use serde::{Deserialize, Serialize};

/// Figure 2: a server is a follower, a candidate or a leader (section 5.1, Figure 4); with
/// pre-vote, a pre-candidate first asks whether it could win (thesis 9.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Role {
    Follower,
    Candidate,
    Leader,
    PreCandidate,
}

/// A set of server ids as a bit mask (at most 8 servers), for `votes_granted` and history.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct ServerSet(pub u8);

impl Filler for ServerSet {
    const FILLER: Self = ServerSet(0);
}

impl ServerSet {
    pub fn contains(self, id: ServerId) -> bool {
        self.0 & (1 << id) != 0
    }

    pub fn insert(&mut self, id: ServerId) {
        self.0 |= 1 << id;
    }

    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn union(self, other: ServerSet) -> ServerSet {
        ServerSet(self.0 | other.0)
    }

    pub fn intersection(self, other: ServerSet) -> ServerSet {
        ServerSet(self.0 & other.0)
    }

    pub fn remove(&mut self, id: ServerId) {
        self.0 &= !(1 << id);
    }

    /// The members in increasing order.
    pub fn iter(self) -> impl Iterator<Item = ServerId> {
        (0..8).filter(move |&id| self.contains(id))
    }
}

/// How a leader sends to one follower under pipelining (thesis 10.2.2): probing (one
/// AppendEntries at `next_index` at a time, until one is accepted) or replicating (several in
/// flight, `next_index` advanced as they are sent).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Flow {
    /// Replicating; probing when false.
    #[serde(default, skip_serializing_if = "is_false")]
    pub replicate: bool,
    /// Probing: a probe is out and no other is sent until a reply or the next heartbeat.
    #[serde(default, skip_serializing_if = "is_false")]
    pub paused: bool,
    /// Replicating: the last index of each AppendEntries with entries not yet acknowledged,
    /// oldest first; at most `max_inflight`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inflight: Vec<Index>,
    /// The follower acknowledged something since the previous heartbeat.
    #[serde(default, skip_serializing_if = "is_false")]
    pub acked: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &Index) -> bool {
    *n == 0
}

pub(crate) fn no_servers(s: &ServerSet) -> bool {
    s.is_empty()
}

/// A write in progress (thesis 10.2.1, the impl's `Ready` contract): what storage holds while
/// the server's newer term, vote or log is being written, and the messages that wait for the
/// write. Only with asynchronous persistence; the server takes no input until `Persist`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Pending {
    pub term: Term,
    pub voted_for: Option<ServerId>,
    pub log: Vec<Entry>,
    pub outbox: Vec<Message>,
}

/// One server. The first three fields are persistent (Figure 2, "Persistent state on all
/// servers"); the rest are volatile and lost on restart.
#[derive(Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Server {
    pub current_term: Term,
    pub voted_for: Option<ServerId>,
    /// Entries `1..=log.len()`; `log[k - 1]` is the entry at index `k`.
    pub log: Vec<Entry>,
    pub role: Role,
    pub commit_index: Index,
    /// Candidate only (empty otherwise): the servers that granted a vote in this term.
    pub votes_granted: ServerSet,
    /// Leader only (empty otherwise), one slot per server; the leader's own slots stay 0.
    pub next_index: Vec<Index>,
    pub match_index: Vec<Index>,
    /// Follower, with check-quorum: it heard from the leader of its term since its election
    /// timer last ran out, and so ignores vote requests of higher terms (thesis 4.2.3).
    #[serde(default, skip_serializing_if = "is_false")]
    pub lease: bool,
    /// Leader, with check-quorum: the peers heard from in its term since the last check
    /// (thesis 6.2).
    #[serde(default, skip_serializing_if = "no_servers")]
    pub heard: ServerSet,
    /// Leader: the target of a leadership transfer under way (thesis 3.10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer: Option<ServerId>,
    /// Leader, with pipelining: one slot per server, like `next_index` (its own stays default).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flow: Vec<Flow>,
    /// With asynchronous persistence: the write in progress, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Box<Pending>>,
    /// With snapshots: the last index of the server's snapshot (thesis 5.1); persistent. The
    /// entries up to it stay in `log` as the snapshot's content, but the protocol reads
    /// nothing of them except the term at this index.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub snapshot: Index,
}

impl Server {
    pub fn new() -> Self {
        Server {
            current_term: 0,
            voted_for: None,
            log: Vec::new(),
            role: Role::Follower,
            commit_index: 0,
            votes_granted: ServerSet::default(),
            next_index: Vec::new(),
            match_index: Vec::new(),
            lease: false,
            heard: ServerSet::default(),
            transfer: None,
            flow: Vec::new(),
            pending: None,
            snapshot: 0,
        }
    }

    /// What storage holds: the durable term, vote and log (the server's own while no write is
    /// in progress).
    pub fn durable(&self) -> (Term, Option<ServerId>, &[Entry]) {
        match &self.pending {
            Some(p) => (p.term, p.voted_for, &p.log),
            None => (self.current_term, self.voted_for, &self.log),
        }
    }

    pub fn last_index(&self) -> Index {
        self.log.len() as Index
    }

    pub fn last_term(&self) -> Term {
        self.log.last().map_or(0, |e| e.term)
    }

    /// The term of the entry at `index`; index 0 (the empty prefix) has term 0; `None` past
    /// the end.
    pub fn term_at(&self, index: Index) -> Option<Term> {
        match index {
            0 => Some(0),
            k => self.log.get(k as usize - 1).map(|e| e.term),
        }
    }

    pub fn entry_at(&self, index: Index) -> Option<&Entry> {
        if index == 0 {
            return None;
        }
        self.log.get(index as usize - 1)
    }

    pub fn is_leader(&self) -> bool {
        self.role == Role::Leader
    }
}

/// A clone leaves room for one more log entry: most steps that change a log append one entry
/// to a freshly cloned state, which would otherwise reallocate.
impl Clone for Server {
    fn clone(&self) -> Self {
        let mut log = Vec::new();
        if !self.log.is_empty() {
            log.reserve_exact(self.log.len() + 1);
            log.extend_from_slice(&self.log);
        }
        Server {
            current_term: self.current_term,
            voted_for: self.voted_for,
            log,
            role: self.role,
            commit_index: self.commit_index,
            votes_granted: self.votes_granted,
            next_index: self.next_index.clone(),
            match_index: self.match_index.clone(),
            lease: self.lease,
            heard: self.heard,
            transfer: self.transfer,
            flow: self.flow.clone(),
            pending: self.pending.clone(),
            snapshot: self.snapshot,
        }
    }
}

impl Default for Server {
    fn default() -> Self {
        Server::new()
    }
}

/// How many faults have happened so far; the bounds cap each.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct Faults {
    pub restarts: u8,
    pub drops: u8,
    pub duplicates: u8,
    /// Configuration changes proposed (not a fault, but bounded like one).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub config_changes: u8,
}

/// An entry some server marked committed (and so applied), with the lowest term in which any
/// server did so: the term the entry was "committed in" for Leader Completeness (section 5.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Committed {
    pub index: Index,
    pub entry: Entry,
    pub term: Term,
}

impl Filler for Committed {
    const FILLER: Self = Committed {
        index: 0,
        entry: Entry {
            term: 0,
            payload: Payload::Noop,
        },
        term: 0,
    };
}

/// History variables: facts about the past that the properties need. They never influence
/// what the servers do. The lists are kept inline (no allocation per cloned state) and read,
/// compare, hash and serialise as the `Vec`s they stand for.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct History {
    /// Every (term, leader) ever elected, sorted (Election Safety).
    pub elected: InlineVec<(Term, ServerId), 6>,
    /// Every entry ever committed at any server, sorted by (index, entry) (Leader Completeness,
    /// State Machine Safety).
    pub committed: InlineVec<Committed, 6>,
    /// A leader removed or changed an entry of its own log while leader in the same term
    /// (Leader Append-Only is a statement about two consecutive states).
    pub leader_log_rewritten: bool,
    /// Some server's current_term went down in one step.
    pub term_decreased: bool,
    /// Per server, the vote it cast in its current term as (term, candidate). In a correct run
    /// this mirrors votedFor exactly, so it adds no states; it differs only when a bug forgets
    /// a vote without a new term.
    pub votes_cast: InlineVec<Option<(Term, ServerId)>, 8>,
    /// Some server voted for two different candidates in one term.
    pub double_vote: bool,
    /// Some server removed a conflicting suffix on AppendEntries (a `sometimes` witness).
    pub truncated_conflict: bool,
    /// Servers that have restarted at least once.
    pub restarted: ServerSet,
    /// A restarted server later granted a vote, started an election or appended an entry.
    pub restarted_rejoined: bool,
    // The production protocol's history; the basic protocol never sets it.
    /// Per leader, with check-quorum: the peers whose messages of its term it received since it
    /// took office or last checked. It mirrors the leader's own `heard` unless a bug makes that
    /// count something else.
    #[serde(default, skip_serializing_if = "all_empty")]
    pub heard: InlineVec<ServerSet, 8>,
    /// A pre-vote request or reply changed a server's term.
    #[serde(default, skip_serializing_if = "is_false")]
    pub pre_vote_moved_term: bool,
    /// A pre-vote was granted to a log less up-to-date than the voter's.
    #[serde(default, skip_serializing_if = "is_false")]
    pub pre_vote_behind_granted: bool,
    /// A server in its leader lease took a higher term from a vote request.
    #[serde(default, skip_serializing_if = "is_false")]
    pub lease_broken: bool,
    /// A leader stayed at CheckQuorum without having heard from a quorum in its term.
    #[serde(default, skip_serializing_if = "is_false")]
    pub check_quorum_unheard: bool,
    /// A rejection of prevLogIndex k left nextIndex above k.
    #[serde(default, skip_serializing_if = "is_false")]
    pub backtrack_stalled: bool,
    /// A conflict hint moved nextIndex down by more than one (a `sometimes` witness).
    #[serde(default, skip_serializing_if = "is_false")]
    pub backtrack_jumped: bool,
    /// A follower being replicated to went back to probing after a rejection (a witness).
    #[serde(default, skip_serializing_if = "is_false")]
    pub probed_again: bool,
    /// The last election started by TimeoutNow, as (term, candidate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer_campaign: Option<(Term, ServerId)>,
    /// The target of a transfer won the election it started (a `sometimes` witness).
    #[serde(default, skip_serializing_if = "is_false")]
    pub transfer_won: bool,
    /// TimeoutNow went to a server that did not hold the leader's whole log.
    #[serde(default, skip_serializing_if = "is_false")]
    pub timeout_now_to_lagging: bool,
    /// A crash lost a write in progress (a `sometimes` witness).
    #[serde(default, skip_serializing_if = "is_false")]
    pub lost_write: bool,
    // Snapshots (thesis 5).
    /// A server's snapshot was replaced by one with a lower last index.
    #[serde(default, skip_serializing_if = "is_false")]
    pub snapshot_regressed: bool,
    /// An InstallSnapshot removed entries after the snapshot that matched the leader's log.
    #[serde(default, skip_serializing_if = "is_false")]
    pub matching_suffix_lost: bool,
    /// A follower replaced its log by a leader's snapshot (a `sometimes` witness).
    #[serde(default, skip_serializing_if = "is_false")]
    pub installed_snapshot: bool,
    /// An InstallSnapshot reached a follower whose log holds the snapshot's last entry and
    /// more after it (a `sometimes` witness).
    #[serde(default, skip_serializing_if = "is_false")]
    pub snapshot_met_suffix: bool,
    // Membership changes (thesis 4).
    /// Every election won and every commit decided, as (term, configuration, the voters or
    /// acknowledging servers, whether a commit), sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quorums: Vec<Quorum>,
    /// An election was won or an entry committed without a quorum of the configuration's
    /// voters (learners and outsiders not counted).
    #[serde(default, skip_serializing_if = "is_false")]
    pub quorum_without_voters: bool,
    /// Servers ever promoted from learner to voter.
    #[serde(default, skip_serializing_if = "no_servers")]
    pub promoted: ServerSet,
    /// A promoted server later granted a vote (a `sometimes` witness).
    #[serde(default, skip_serializing_if = "is_false")]
    pub promoted_voted: bool,
    /// A leader stepped down because its committed configuration left it out (a witness).
    #[serde(default, skip_serializing_if = "is_false")]
    pub removed_leader_stepped_down: bool,
    /// An election was won under a joint configuration (a witness).
    #[serde(default, skip_serializing_if = "is_false")]
    pub joint_election: bool,
}

/// A quorum that decided something: an election (`commit` false) or a commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Quorum {
    pub term: Term,
    pub config: Membership,
    pub servers: ServerSet,
    pub commit: bool,
}

fn all_empty(sets: &InlineVec<ServerSet, 8>) -> bool {
    sets.iter().all(|s| s.is_empty())
}

impl History {
    /// Records that `entry` at `index` was committed by a server in `term`, keeping the lowest
    /// term per (index, entry).
    pub fn record_commit(&mut self, index: Index, entry: Entry, term: Term) {
        let key = |c: &Committed| (c.index, c.entry);
        match self
            .committed
            .binary_search_by(|c| key(c).cmp(&(index, entry)))
        {
            Ok(at) => {
                let c = &mut self.committed[at];
                c.term = c.term.min(term);
            }
            Err(at) => self.committed.insert(at, Committed { index, entry, term }),
        }
    }

    /// The ghost record of what leader `i` heard from (sized on first use, so that a state read
    /// from JSON without it works too).
    pub fn heard_by(&mut self, i: ServerId) -> &mut ServerSet {
        while self.heard.len() <= i as usize {
            self.heard.push(ServerSet::default());
        }
        &mut self.heard[i as usize]
    }

    pub fn record_quorum(
        &mut self,
        term: Term,
        config: Membership,
        servers: ServerSet,
        commit: bool,
    ) {
        let q = Quorum {
            term,
            config,
            servers,
            commit,
        };
        if let Err(at) = self.quorums.binary_search(&q) {
            self.quorums.insert(at, q);
        }
    }

    pub fn record_election(&mut self, term: Term, leader: ServerId) {
        if let Err(at) = self.elected.binary_search(&(term, leader)) {
            self.elected.insert(at, (term, leader));
        }
    }
}

/// The state of the whole system: servers, network, fault counters and history.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct State {
    pub servers: Vec<Server>,
    pub network: Network,
    pub faults: Faults,
    pub history: History,
}

impl State {
    /// All servers start as followers in term 0 with empty logs (Figure 2: "initialized to 0
    /// on first boot").
    pub fn initial(servers: usize) -> Self {
        State {
            servers: vec![Server::new(); servers],
            network: Network::default(),
            faults: Faults::default(),
            history: History {
                votes_cast: (0..servers).map(|_| None).collect(),
                ..History::default()
            },
        }
    }

    pub fn leaders(&self) -> impl Iterator<Item = (ServerId, &Server)> {
        self.servers
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_leader())
            .map(|(id, s)| (id as ServerId, s))
    }
}
