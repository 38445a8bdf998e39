//! The replicated key-value state machine.
//!
//! Keys and values are bytes, kept in key order. Revisions follow etcd's rules: the store has one
//! revision counter that every write request (a put, a delete that removes something, a
//! transaction with at least one such write) raises by one; each key remembers the revision that
//! created it, the revision that last modified it, and its version (modifications since creation;
//! a delete ends the key's life and a later put starts a new one at version 1). Only the latest
//! value of each key is kept: there is no history, so reads at an older revision are refused.
//!
//! Every command arrives wrapped in the core's session header ([`Command`]) and goes through
//! [`Sessions`]: a retried command (same client id and sequence number) is answered from the
//! session table instead of being applied twice (thesis 6.3). The table is part of the state and
//! of its snapshots.
//!
//! The state machine also holds the cluster's member directory (names and addresses), because
//! addresses must be replicated with the configuration changes that use them.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};

use imbl::OrdMap;
use raft_core::{Command, Outcome, Sessions};
use serde::{Deserialize, Deserializer, Serialize};

use crate::wire;

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyValue {
    #[serde(with = "serde_bytes")]
    pub key: Vec<u8>,
    #[serde(with = "serde_bytes")]
    pub value: Vec<u8>,
    pub create_revision: i64,
    pub mod_revision: i64,
    pub version: i64,
}

/// A key range as etcd defines it: `range_end` empty means the single key `key`; `range_end`
/// `[0]` means every key at or after `key`; otherwise the half-open interval `[key, range_end)`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyRange {
    #[serde(with = "serde_bytes")]
    pub key: Vec<u8>,
    #[serde(with = "serde_bytes")]
    pub range_end: Vec<u8>,
}

impl KeyRange {
    pub fn contains(&self, k: &[u8]) -> bool {
        if self.range_end.is_empty() {
            return k == self.key.as_slice();
        }
        if k < self.key.as_slice() {
            return false;
        }
        self.range_end == [0] || k < self.range_end.as_slice()
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    #[default]
    None,
    Ascend,
    Descend,
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortTarget {
    #[default]
    Key,
    Version,
    Create,
    Mod,
    Value,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct RangeQuery {
    pub range: KeyRange,
    /// 0: no limit.
    pub limit: i64,
    pub keys_only: bool,
    pub count_only: bool,
    pub sort_order: SortOrder,
    pub sort_target: SortTarget,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum CompareResult {
    Equal,
    Greater,
    Less,
    NotEqual,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum CompareTarget {
    Version(i64),
    Create(i64),
    Mod(i64),
    Value(Vec<u8>),
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Compare {
    pub range: KeyRange,
    pub result: CompareResult,
    pub target: CompareTarget,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum TxnOp {
    Range(RangeQuery),
    Put {
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        #[serde(with = "serde_bytes")]
        value: Vec<u8>,
        prev_kv: bool,
    },
    Delete {
        range: KeyRange,
        prev_kv: bool,
    },
    Txn(#[serde(deserialize_with = "nested")] Txn),
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct Txn {
    pub compare: Vec<Compare>,
    pub success: Vec<TxnOp>,
    pub failure: Vec<TxnOp>,
}

/// Most transactions a command may nest in one another (the outermost counts as one). Decoding
/// recurses once per level, and the bytes of a command come from peers and from disk: without a
/// bound, a few hundred kilobytes of nesting overflow the stack and abort the process. The API
/// refuses deeper requests before they are replicated (`grpc::convert`).
pub const MAX_TXN_DEPTH: usize = 32;

thread_local! {
    /// Levels of `nested` being decoded on this thread.
    static TXN_DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// Decodes one level of a transaction (or of a transaction's results), refusing to go deeper
/// than [`MAX_TXN_DEPTH`].
fn nested<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    struct Level;
    impl Drop for Level {
        fn drop(&mut self) {
            TXN_DEPTH.with(|n| n.set(n.get() - 1));
        }
    }
    let depth = TXN_DEPTH.with(|n| {
        n.set(n.get() + 1);
        n.get()
    });
    let _level = Level;
    if depth > MAX_TXN_DEPTH {
        return Err(serde::de::Error::custom(format!(
            "transactions nested deeper than {MAX_TXN_DEPTH}"
        )));
    }
    T::deserialize(d)
}

/// A member of the cluster as clients see it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct MemberInfo {
    pub id: u64,
    pub name: String,
    pub peer_addr: String,
    /// Empty until the member reports it (a member added but not yet started).
    pub client_addr: String,
}

/// A replicated write: what a normal entry's command carries.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// A put, a delete or a transaction, as a transaction branch holds them.
    Kv(TxnOp),
    /// Adds or replaces a member directory entry.
    SetMember(MemberInfo),
    RemoveMember(u64),
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct RangeResult {
    pub kvs: Vec<KeyValue>,
    pub count: i64,
    pub more: bool,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum OpResult {
    Range(RangeResult),
    Put {
        prev: Option<KeyValue>,
    },
    Delete {
        deleted: i64,
        prev_kvs: Vec<KeyValue>,
    },
    Txn {
        succeeded: bool,
        #[serde(deserialize_with = "nested")]
        responses: Vec<OpResult>,
    },
    Member,
}

/// The answer to a command: its result and the store revision after it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub revision: i64,
    pub result: OpResult,
}

/// What applying one entry's command produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyOutcome {
    Done(Applied),
    /// A retry of a command already applied (answered from the session table).
    Duplicate(Applied),
    /// Older than the client's latest command.
    Stale,
    /// The entry did not hold a command this state machine understands; nothing changed.
    Malformed(String),
}

#[derive(Debug, Clone, Default)]
pub struct Kv {
    /// A persistent map: cloning it is O(1), so a snapshot can be encoded off the node loop
    /// from a copy while the loop keeps applying.
    data: OrdMap<Vec<u8>, KeyValue>,
    revision: i64,
    sessions: Sessions,
    members: BTreeMap<u64, MemberInfo>,
    /// Ids of removed members: never given to a new member, so that a removed server still
    /// running cannot pass for the new one.
    retired: BTreeSet<u64>,
    /// Bytes of keys and values stored, kept up to date on every change.
    size: i64,
}

#[derive(Serialize, Deserialize)]
struct KvSnapshot {
    kvs: Vec<KeyValue>,
    revision: i64,
    sessions: Vec<(u64, u64, Vec<u8>)>,
    members: Vec<MemberInfo>,
    retired: Vec<u64>,
}

/// [`KvSnapshot`] as it is encoded, borrowing from the store instead of copying it.
#[derive(Serialize)]
struct KvSnapshotRef<'a> {
    kvs: Values<'a>,
    revision: i64,
    sessions: Vec<(u64, u64, &'a [u8])>,
    members: Vec<&'a MemberInfo>,
    retired: &'a BTreeSet<u64>,
}

/// The values of the store, encoded as a sequence.
struct Values<'a>(&'a OrdMap<Vec<u8>, KeyValue>);

impl Serialize for Values<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.values())
    }
}

impl Kv {
    /// An empty store whose member directory starts as `members` (the initial cluster).
    pub fn new(members: impl IntoIterator<Item = MemberInfo>) -> Kv {
        Kv {
            members: members.into_iter().map(|m| (m.id, m)).collect(),
            ..Kv::default()
        }
    }

    pub fn revision(&self) -> i64 {
        self.revision
    }

    pub fn members(&self) -> &BTreeMap<u64, MemberInfo> {
        &self.members
    }

    /// The highest member id ever used (current or removed), 0 if none.
    pub fn highest_member_id(&self) -> u64 {
        let current = self.members.keys().next_back().copied().unwrap_or(0);
        let retired = self.retired.iter().next_back().copied().unwrap_or(0);
        current.max(retired)
    }

    /// Approximate size of the stored keys and values, reported as the database size.
    pub fn size_bytes(&self) -> i64 {
        self.size
    }

    /// Applies the command in a normal entry's payload.
    pub fn apply_entry(&mut self, payload: &[u8]) -> ApplyOutcome {
        let Some(cmd) = Command::decode(payload) else {
            return ApplyOutcome::Malformed("entry shorter than a session header".to_string());
        };
        let op: Op = match wire::decode(&cmd.data) {
            Ok(op) => op,
            Err(e) => return ApplyOutcome::Malformed(format!("undecodable command: {e}")),
        };
        // The session table decides; the closure needs the rest of `self`, so the table is taken
        // out for the call. It keeps the encoded result for retries; this call's result is
        // returned as it is, not decoded back.
        let mut sessions = std::mem::take(&mut self.sessions);
        let mut fresh = None;
        let outcome = sessions.apply(&cmd, |_| {
            let applied = self.apply_op(op);
            let bytes = wire::encode(&applied);
            fresh = Some(applied);
            bytes
        });
        self.sessions = sessions;
        match outcome {
            Outcome::Applied(_) => ApplyOutcome::Done(fresh.expect("the table ran the command")),
            Outcome::Duplicate(resp) => match wire::decode::<Applied>(&resp) {
                Ok(a) => ApplyOutcome::Duplicate(a),
                Err(e) => ApplyOutcome::Malformed(e),
            },
            Outcome::Stale => ApplyOutcome::Stale,
        }
    }

    fn apply_op(&mut self, op: Op) -> Applied {
        let next = self.revision + 1;
        let result = match op {
            Op::Kv(op) => self.apply_kv(op, next),
            Op::SetMember(m) => {
                self.members.insert(m.id, m);
                OpResult::Member
            }
            Op::RemoveMember(id) => {
                self.members.remove(&id);
                self.retired.insert(id);
                OpResult::Member
            }
        };
        if writes(&result) {
            self.revision = next;
        }
        Applied {
            revision: self.revision,
            result,
        }
    }

    fn put(&mut self, key: Vec<u8>, value: Vec<u8>, want_prev: bool, rev: i64) -> OpResult {
        let old = self.data.get(&key);
        // The previous value is copied only when the client asked for it.
        let prev = old.filter(|_| want_prev).cloned();
        let (create_revision, version, old_size) = old.map_or((rev, 0, 0), |o| {
            (o.create_revision, o.version, entry_size(o))
        });
        let kv = KeyValue {
            key: key.clone(),
            value,
            create_revision,
            mod_revision: rev,
            version: version + 1,
        };
        self.size += entry_size(&kv) - old_size;
        self.data.insert(key, kv);
        OpResult::Put { prev }
    }

    fn delete(&mut self, range: &KeyRange, want_prev: bool, _rev: i64) -> OpResult {
        let keys: Vec<Vec<u8>> = self.keys_in(range).cloned().collect();
        let mut prev_kvs = Vec::new();
        for k in &keys {
            if let Some(kv) = self.data.remove(k) {
                self.size -= entry_size(&kv);
                if want_prev {
                    prev_kvs.push(kv);
                }
            }
        }
        OpResult::Delete {
            deleted: keys.len() as i64,
            prev_kvs,
        }
    }

    /// Applies one operation; every write in it takes revision `rev`.
    fn apply_kv(&mut self, op: TxnOp, rev: i64) -> OpResult {
        match op {
            TxnOp::Range(q) => OpResult::Range(self.range(&q)),
            TxnOp::Put {
                key,
                value,
                prev_kv,
            } => self.put(key, value, prev_kv, rev),
            TxnOp::Delete { range, prev_kv } => self.delete(&range, prev_kv, rev),
            TxnOp::Txn(txn) => {
                let succeeded = txn.compare.iter().all(|c| self.compare(c));
                let ops = if succeeded { txn.success } else { txn.failure };
                let responses = ops.into_iter().map(|op| self.apply_kv(op, rev)).collect();
                OpResult::Txn {
                    succeeded,
                    responses,
                }
            }
        }
    }

    /// etcd's rule: a comparison on a range holds when it holds for every key in it; a missing
    /// key compares as version, create and mod revision 0, and its value compares false.
    fn compare(&self, c: &Compare) -> bool {
        let kvs: Vec<&KeyValue> = self.keys_in(&c.range).map(|k| &self.data[k]).collect();
        if kvs.is_empty() {
            if let CompareTarget::Value(_) = c.target {
                return false;
            }
            return compare_one(&KeyValue::default(), c);
        }
        kvs.iter().all(|kv| compare_one(kv, c))
    }

    fn keys_in<'a>(&'a self, range: &'a KeyRange) -> impl Iterator<Item = &'a Vec<u8>> + 'a {
        use std::ops::Bound;
        let upper = if range.range_end.is_empty() {
            Bound::Included(range.key.clone())
        } else if range.range_end == [0] {
            Bound::Unbounded
        } else {
            Bound::Excluded(range.range_end.clone())
        };
        let empty = match &upper {
            Bound::Excluded(end) => end <= &range.key,
            _ => false,
        };
        let iter = (!empty).then(|| {
            self.data
                .range((Bound::Included(range.key.clone()), upper))
                .map(|(k, _)| k)
        });
        iter.into_iter().flatten()
    }

    /// Reads the latest values in `q.range`.
    pub fn range(&self, q: &RangeQuery) -> RangeResult {
        let mut kvs: Vec<KeyValue> = self
            .keys_in(&q.range)
            .map(|k| self.data[k].clone())
            .collect();
        let count = kvs.len() as i64;
        let key_of = |kv: &KeyValue| -> (i64, Vec<u8>) {
            match q.sort_target {
                SortTarget::Key => (0, kv.key.clone()),
                SortTarget::Version => (kv.version, Vec::new()),
                SortTarget::Create => (kv.create_revision, Vec::new()),
                SortTarget::Mod => (kv.mod_revision, Vec::new()),
                SortTarget::Value => (0, kv.value.clone()),
            }
        };
        match q.sort_order {
            SortOrder::None => {}
            SortOrder::Ascend => kvs.sort_by_key(key_of),
            SortOrder::Descend => {
                kvs.sort_by_key(key_of);
                kvs.reverse();
            }
        }
        let mut more = false;
        if q.limit > 0 && kvs.len() as i64 > q.limit {
            kvs.truncate(q.limit as usize);
            more = true;
        }
        if q.count_only {
            kvs.clear();
        } else if q.keys_only {
            for kv in &mut kvs {
                kv.value.clear();
            }
        }
        RangeResult { kvs, count, more }
    }

    /// The encoded state: keys and values, revision, session table, member directory. It takes
    /// time in proportion to the data; the node loop runs it on a copy (`clone` is cheap).
    pub fn snapshot(&self) -> Vec<u8> {
        wire::encode(&KvSnapshotRef {
            kvs: Values(&self.data),
            revision: self.revision,
            sessions: self.sessions.iter().collect(),
            members: self.members.values().collect(),
            retired: &self.retired,
        })
    }

    /// The store a [`Kv::snapshot`] encoded. Bytes that hold a key, a client's session or a
    /// member twice were not written by `snapshot` (each is a map there): they are refused rather
    /// than restored with one of the two silently dropped.
    pub fn restore(bytes: &[u8]) -> Result<Kv, String> {
        let snap: KvSnapshot = wire::decode(bytes)?;
        let (kvs, sessions, members) = (snap.kvs.len(), snap.sessions.len(), snap.members.len());
        let mut kv = Kv {
            data: snap
                .kvs
                .into_iter()
                .map(|kv| (kv.key.clone(), kv))
                .collect(),
            revision: snap.revision,
            members: snap.members.into_iter().map(|m| (m.id, m)).collect(),
            retired: snap.retired.into_iter().collect(),
            sessions: snap.sessions.into_iter().collect(),
            ..Kv::default()
        };
        if kv.data.len() != kvs {
            return Err("snapshot holds a key twice".to_string());
        }
        if kv.sessions.iter().count() != sessions {
            return Err("snapshot holds a client's session twice".to_string());
        }
        if kv.members.len() != members {
            return Err("snapshot holds a member twice".to_string());
        }
        kv.size = kv.data.values().map(entry_size).sum();
        Ok(kv)
    }
}

fn entry_size(kv: &KeyValue) -> i64 {
    (kv.key.len() + kv.value.len()) as i64
}

fn compare_one(kv: &KeyValue, c: &Compare) -> bool {
    use std::cmp::Ordering;
    let ord: Ordering = match &c.target {
        CompareTarget::Version(v) => kv.version.cmp(v),
        CompareTarget::Create(v) => kv.create_revision.cmp(v),
        CompareTarget::Mod(v) => kv.mod_revision.cmp(v),
        CompareTarget::Value(v) => kv.value.as_slice().cmp(v.as_slice()),
    };
    match c.result {
        CompareResult::Equal => ord == Ordering::Equal,
        CompareResult::Greater => ord == Ordering::Greater,
        CompareResult::Less => ord == Ordering::Less,
        CompareResult::NotEqual => ord != Ordering::Equal,
    }
}

/// Whether a result changed the key space (and so takes a new revision).
fn writes(r: &OpResult) -> bool {
    match r {
        OpResult::Put { .. } => true,
        OpResult::Delete { deleted, .. } => *deleted > 0,
        OpResult::Txn { responses, .. } => responses.iter().any(writes),
        OpResult::Range(_) | OpResult::Member => false,
    }
}

/// Wraps `op` in a session header, as an entry payload.
pub fn command_bytes(client_id: u64, seq: u64, op: &Op) -> Vec<u8> {
    Command {
        client_id,
        seq,
        data: wire::encode(op),
    }
    .encode()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(kv: &mut Kv, seq: u64, k: &str, v: &str) -> ApplyOutcome {
        let op = Op::Kv(TxnOp::Put {
            key: k.into(),
            value: v.into(),
            prev_kv: true,
        });
        kv.apply_entry(&command_bytes(1, seq, &op))
    }

    fn get(kv: &Kv, k: &str) -> Option<KeyValue> {
        let q = RangeQuery {
            range: KeyRange {
                key: k.into(),
                range_end: vec![],
            },
            ..RangeQuery::default()
        };
        kv.range(&q).kvs.into_iter().next()
    }

    #[test]
    fn revisions_follow_etcd() {
        let mut kv = Kv::default();
        put(&mut kv, 1, "a", "1");
        put(&mut kv, 2, "b", "1");
        put(&mut kv, 3, "a", "2");
        let a = get(&kv, "a").unwrap();
        assert_eq!((a.create_revision, a.mod_revision, a.version), (1, 3, 2));
        assert_eq!(kv.revision(), 3);
        // Deleting nothing does not take a revision; deleting something does.
        let del = |r: &str| {
            Op::Kv(TxnOp::Delete {
                range: KeyRange {
                    key: r.into(),
                    range_end: vec![],
                },
                prev_kv: false,
            })
        };
        kv.apply_entry(&command_bytes(1, 4, &del("zz")));
        assert_eq!(kv.revision(), 3);
        kv.apply_entry(&command_bytes(1, 5, &del("a")));
        assert_eq!(kv.revision(), 4);
        put(&mut kv, 6, "a", "3");
        let a = get(&kv, "a").unwrap();
        assert_eq!((a.create_revision, a.mod_revision, a.version), (5, 5, 1));
    }

    #[test]
    fn retried_command_is_applied_once() {
        let mut kv = Kv::default();
        let first = put(&mut kv, 1, "a", "1");
        let ApplyOutcome::Done(applied) = first else {
            panic!("{first:?}")
        };
        assert_eq!(put(&mut kv, 1, "a", "1"), ApplyOutcome::Duplicate(applied));
        assert_eq!(get(&kv, "a").unwrap().version, 1);
        put(&mut kv, 2, "a", "2");
        assert_eq!(put(&mut kv, 1, "a", "1"), ApplyOutcome::Stale);
        assert_eq!(get(&kv, "a").unwrap().value, b"2");
    }

    #[test]
    fn prefix_range_and_compare_and_swap() {
        let mut kv = Kv::default();
        for (i, k) in ["p/a", "p/b", "q"].iter().enumerate() {
            put(&mut kv, i as u64 + 1, k, "v");
        }
        let q = RangeQuery {
            range: KeyRange {
                key: b"p/".to_vec(),
                range_end: b"p0".to_vec(),
            },
            ..RangeQuery::default()
        };
        assert_eq!(kv.range(&q).count, 2);
        let cas = |expect: &str, new: &str| {
            Op::Kv(TxnOp::Txn(Txn {
                compare: vec![Compare {
                    range: KeyRange {
                        key: b"q".to_vec(),
                        range_end: vec![],
                    },
                    result: CompareResult::Equal,
                    target: CompareTarget::Value(expect.into()),
                }],
                success: vec![TxnOp::Put {
                    key: b"q".to_vec(),
                    value: new.into(),
                    prev_kv: false,
                }],
                failure: vec![],
            }))
        };
        let ApplyOutcome::Done(a) = kv.apply_entry(&command_bytes(1, 10, &cas("x", "y"))) else {
            panic!()
        };
        assert!(matches!(
            a.result,
            OpResult::Txn {
                succeeded: false,
                ..
            }
        ));
        let ApplyOutcome::Done(a) = kv.apply_entry(&command_bytes(1, 11, &cas("v", "w"))) else {
            panic!()
        };
        assert!(matches!(
            a.result,
            OpResult::Txn {
                succeeded: true,
                ..
            }
        ));
        assert_eq!(get(&kv, "q").unwrap().value, b"w");
    }

    #[test]
    fn snapshot_round_trip_keeps_sessions() {
        let mut kv = Kv::default();
        put(&mut kv, 1, "a", "1");
        put(&mut kv, 2, "b", "2");
        let mut restored = Kv::restore(&kv.snapshot()).unwrap();
        assert_eq!(restored.revision(), 2);
        assert_eq!(get(&restored, "a"), get(&kv, "a"));
        assert_eq!(restored.snapshot(), kv.snapshot());
        // The session table came along: the latest command is a duplicate, an older one stale.
        assert!(matches!(
            put(&mut restored, 2, "b", "2"),
            ApplyOutcome::Duplicate(_)
        ));
        assert_eq!(put(&mut restored, 1, "a", "1"), ApplyOutcome::Stale);
        assert!(Kv::restore(b"\xff\xff garbage").is_err());
    }

    /// A transaction nested `depth` deep, as a command's bytes.
    fn nested_txn(depth: usize) -> Vec<u8> {
        let mut txn = Txn::default();
        for _ in 1..depth {
            txn = Txn {
                success: vec![TxnOp::Txn(txn)],
                ..Txn::default()
            };
        }
        command_bytes(1, 1, &Op::Kv(TxnOp::Txn(txn)))
    }

    #[test]
    fn transactions_nest_up_to_the_limit_and_no_deeper() {
        let mut kv = Kv::default();
        let applied = kv.apply_entry(&nested_txn(MAX_TXN_DEPTH));
        let ApplyOutcome::Done(applied) = applied else {
            panic!("{applied:?}");
        };
        // Its result nests as deep, and a retry decodes it from the session table.
        let ApplyOutcome::Duplicate(again) = kv.apply_entry(&nested_txn(MAX_TXN_DEPTH)) else {
            panic!("not a duplicate");
        };
        assert_eq!(again, applied);
        let mut kv = Kv::default();
        match kv.apply_entry(&nested_txn(MAX_TXN_DEPTH + 1)) {
            ApplyOutcome::Malformed(why) => assert!(why.contains("nested deeper"), "{why}"),
            other => panic!("{other:?}"),
        }
        // Hand-made bytes nested far deeper are refused, not a stack overflow: Op::Kv,
        // then TxnOp::Txn with no compares and one success, over and over.
        let levels = 200_000;
        let mut op = vec![0];
        for _ in 0..levels {
            op.extend_from_slice(&[3, 0, 1]);
        }
        op.extend_from_slice(&[3, 0, 0, 0]);
        op.resize(op.len() + levels, 0);
        let bytes = Command {
            client_id: 1,
            seq: 1,
            data: op,
        }
        .encode();
        assert!(matches!(kv.apply_entry(&bytes), ApplyOutcome::Malformed(_)));
        assert_eq!(kv.revision(), 0);
    }

    #[test]
    fn a_snapshot_holding_something_twice_is_refused() {
        let mut kv = Kv::new([MemberInfo {
            id: 1,
            name: "node-1".to_string(),
            peer_addr: "127.0.0.1:1".to_string(),
            client_addr: String::new(),
        }]);
        put(&mut kv, 1, "a", "1");
        let snap: KvSnapshot = wire::decode(&kv.snapshot()).unwrap();
        let twice = |change: fn(&mut KvSnapshot)| {
            let mut s: KvSnapshot = wire::decode(&kv.snapshot()).unwrap();
            change(&mut s);
            Kv::restore(&wire::encode(&s)).unwrap_err()
        };
        assert_eq!(snap.kvs.len(), 1);
        assert!(twice(|s| s.kvs.push(s.kvs[0].clone())).contains("key twice"));
        assert!(twice(|s| s.sessions.push(s.sessions[0].clone())).contains("session twice"));
        assert!(twice(|s| s.members.push(s.members[0].clone())).contains("member twice"));
    }

    #[test]
    fn removed_member_ids_stay_retired() {
        let member = |id| MemberInfo {
            id,
            name: format!("node-{id}"),
            peer_addr: format!("127.0.0.1:{id}"),
            client_addr: String::new(),
        };
        let mut kv = Kv::new([member(1), member(2)]);
        kv.apply_entry(&command_bytes(1, 1, &Op::SetMember(member(3))));
        kv.apply_entry(&command_bytes(1, 2, &Op::RemoveMember(3)));
        assert!(!kv.members().contains_key(&3));
        assert_eq!(kv.highest_member_id(), 3);
        let restored = Kv::restore(&kv.snapshot()).unwrap();
        assert_eq!(restored.highest_member_id(), 3);
        assert_eq!(restored.members().len(), 2);
    }

    #[test]
    fn malformed_entries_change_nothing() {
        let mut kv = Kv::default();
        assert!(matches!(
            kv.apply_entry(b"short"),
            ApplyOutcome::Malformed(_)
        ));
        let mut bad = 1u64.to_be_bytes().to_vec();
        bad.extend_from_slice(&1u64.to_be_bytes());
        bad.extend_from_slice(b"\xff\xff\xff");
        assert!(matches!(kv.apply_entry(&bad), ApplyOutcome::Malformed(_)));
        assert_eq!(kv.revision(), 0);
    }
}
