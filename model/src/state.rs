//! The global state: every server's state from Figure 2 ("State"), the network, the fault
//! counters that the bounds limit, and the history ("ghost") variables that the properties of
//! Figure 3 need because they speak about the past (Raft paper, sections 5.2-5.4).

use crate::inline::{Filler, InlineVec};
use crate::message::{Entry, Index, Network, Payload, ServerId, Term};
use serde::{Deserialize, Serialize};

/// Figure 2: a server is a follower, a candidate or a leader (section 5.1, Figure 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Role {
    Follower,
    Candidate,
    Leader,
}

/// A set of server ids as a bit mask (at most 8 servers), for `votes_granted` and history.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct ServerSet(pub u8);

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

    /// The members in increasing order.
    pub fn iter(self) -> impl Iterator<Item = ServerId> {
        (0..8).filter(move |&id| self.contains(id))
    }
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
