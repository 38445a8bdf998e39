//! The seed corpus: for each target a few valid inputs made by the real encoders (the WAL
//! writer, the snapshot file encoder, the frame encoder, prost, the state machine, saved
//! traces). `raft-fuzz --write-corpus DIR` writes them as `DIR/<target>/<name>`; the checked-in
//! copy is `impl/fuzz/corpus/`, and `tests/regressions.rs` fails when it is out of date.

use std::fs;
use std::io;
use std::path::Path;

use prost::Message as _;
use raft_core::{Body, ConflictHint, Entry, Membership, Message, Payload, Snapshot};
use raft_node::frame::{self, FrameBody};
use raft_node::kv::{
    self, Compare, CompareResult, CompareTarget, KeyRange, Kv, MemberInfo, Op, RangeQuery, Txn,
    TxnOp,
};
use raft_node::proto::etcdserverpb::{
    compare, range_request, request_op, Compare as ProtoCompare, DeleteRangeRequest, PutRequest,
    RangeRequest, RequestOp, TxnRequest,
};
use raft_storage::disk::encode_membership;
use raft_storage::snapshot_file::{self, SnapshotMeta};
use raft_storage::wal::record::encode_batch;
use raft_storage::wal::{self, HardState, Record, WalEntry, WalOptions};

use crate::{Scratch, CLUSTER};

/// One seed input.
pub struct Seed {
    pub target: &'static str,
    pub name: &'static str,
    pub bytes: Vec<u8>,
}

/// Every seed, for every target.
pub fn seeds() -> Vec<Seed> {
    let mut out = Vec::new();
    let mut add = |target, name, bytes| {
        out.push(Seed {
            target,
            name,
            bytes,
        })
    };
    for (name, bytes) in wal_batches() {
        add("wal_batch", name, bytes);
    }
    for (name, bytes) in wal_segments() {
        add("wal_segment", name, bytes);
    }
    for (name, bytes) in snapshot_files() {
        add("snapshot_file", name, bytes);
    }
    for (name, bytes) in frame_streams() {
        add("frame", name, bytes);
    }
    for (name, bytes) in configs() {
        add("config", name, bytes);
    }
    for (name, bytes) in grpc_requests() {
        add("grpc", name, bytes);
    }
    for (name, bytes) in traces() {
        add("trace", name, bytes);
    }
    add("kv_snapshot", "store", sample_store().snapshot());
    add("kv_snapshot", "empty", Kv::default().snapshot());
    for (name, bytes) in kv_commands() {
        add("kv_command", name, bytes);
    }
    out
}

/// Writes every seed as `dir/<target>/<name>`; returns how many.
pub fn write(dir: &Path) -> io::Result<usize> {
    let seeds = seeds();
    for s in &seeds {
        let sub = dir.join(s.target);
        fs::create_dir_all(&sub)?;
        fs::write(sub.join(s.name), &s.bytes)?;
    }
    Ok(seeds.len())
}

fn entry(index: u64, term: u64, kind: u8, data: &[u8]) -> Record {
    Record::Entry(WalEntry {
        index,
        term,
        kind,
        data: data.to_vec(),
    })
}

fn membership(voters: &[u64], outgoing: &[u64], learners: &[u64]) -> Membership {
    Membership {
        voters: voters.iter().copied().collect(),
        outgoing: outgoing.iter().copied().collect(),
        learners: learners.iter().copied().collect(),
    }
}

fn put(key: &str, value: &str) -> Op {
    Op::Kv(TxnOp::Put {
        key: key.into(),
        value: value.into(),
        prev_kv: true,
    })
}

fn wal_batches() -> Vec<(&'static str, Vec<u8>)> {
    let config = encode_membership(&membership(&[1, 2, 3], &[], &[]));
    let command = kv::command_bytes(7, 1, &put("a", "1"));
    let batches = [
        (
            "entries",
            vec![
                Record::HardState(HardState {
                    term: 2,
                    vote: Some(1),
                    commit: 1,
                }),
                entry(1, 1, 0, b""),
                entry(2, 2, 1, &command),
                entry(3, 2, 2, &config),
            ],
        ),
        (
            "truncate-compact",
            vec![
                Record::TruncateSuffix(3),
                entry(3, 3, 1, b"x"),
                Record::CompactPrefix(2),
                Record::HardState(HardState {
                    term: 3,
                    vote: None,
                    commit: 3,
                }),
            ],
        ),
    ];
    batches
        .into_iter()
        .map(|(name, records)| {
            let mut out = Vec::new();
            encode_batch(&records, &mut out);
            (name, out)
        })
        .collect()
}

/// Logs written by `Wal`, their segment files concatenated in sequence order.
fn wal_segments() -> Vec<(&'static str, Vec<u8>)> {
    let hs = |term, vote, commit| HardState { term, vote, commit };
    let one = write_log(WalOptions::default(), |w| {
        let mut b = wal::Batch::new();
        b.hard_state(hs(1, Some(1), 0));
        for i in 1..=3 {
            b.entry(WalEntry {
                index: i,
                term: 1,
                kind: 1,
                data: format!("value {i}").into_bytes(),
            });
        }
        w.append_batch(&b).unwrap();
        w.append_batch(wal::Batch::new().hard_state(hs(1, Some(1), 3)))
            .unwrap();
    });
    let small = WalOptions {
        segment_size: 160,
        ..WalOptions::default()
    };
    let rolled = write_log(small, |w| {
        w.append_batch(wal::Batch::new().hard_state(hs(2, None, 0)))
            .unwrap();
        for i in 1..=6 {
            let data = format!("entry {i} of the rolled log");
            w.append_batch(wal::Batch::new().entry(WalEntry {
                index: i,
                term: 2,
                kind: 1,
                data: data.into_bytes(),
            }))
            .unwrap();
        }
        w.truncate_suffix(5).unwrap();
        w.append_batch(wal::Batch::new().entry(WalEntry {
            index: 5,
            term: 3,
            kind: 0,
            data: Vec::new(),
        }))
        .unwrap();
        w.compact_prefix(2).unwrap();
        w.append_batch(wal::Batch::new().hard_state(hs(3, Some(2), 4)))
            .unwrap();
    });
    vec![("one-segment", one), ("rolled-truncated-compacted", rolled)]
}

fn write_log(options: WalOptions, write: impl FnOnce(&mut wal::Wal)) -> Vec<u8> {
    let dir = Scratch::dir("corpus-wal");
    let (mut w, _) = wal::Wal::open(&dir, options).expect("a new log opens");
    write(&mut w);
    let mut paths = w.segment_paths();
    drop(w);
    // Names start with the sequence number, 20 digits: their order is the replay order.
    paths.sort();
    let mut out = Vec::new();
    for p in paths {
        out.extend(fs::read(&p).expect("a segment reads back"));
    }
    out
}

fn snapshot_files() -> Vec<(&'static str, Vec<u8>)> {
    let file = |last_index, last_term, m: &Membership, data: Vec<u8>| {
        snapshot_file::encode(&snapshot_file::Snapshot {
            meta: SnapshotMeta {
                last_index,
                last_term,
                config: encode_membership(m),
            },
            data,
        })
        .expect("a small snapshot encodes")
    };
    vec![
        (
            "store",
            file(
                42,
                3,
                &membership(&[1, 2, 3], &[], &[4]),
                sample_store().snapshot(),
            ),
        ),
        (
            "joint",
            file(
                7,
                2,
                &membership(&[1, 2, 4], &[1, 2, 3], &[]),
                b"state".to_vec(),
            ),
        ),
    ]
}

fn install_snapshot(data: &[u8]) -> Message {
    Message {
        from: 1,
        to: 2,
        term: 4,
        body: Body::InstallSnapshot {
            snapshot: Snapshot {
                index: 90,
                term: 3,
                membership: membership(&[1, 2, 3], &[], &[]),
                data: data.to_vec().into(),
            },
        },
    }
}

fn frame_streams() -> Vec<(&'static str, Vec<u8>)> {
    let append = Message {
        from: 1,
        to: 2,
        term: 7,
        body: Body::AppendEntries {
            prev_log_index: 3,
            prev_log_term: 6,
            entries: vec![
                Entry {
                    index: 4,
                    term: 7,
                    payload: Payload::Normal(kv::command_bytes(7, 1, &put("a", "1"))),
                },
                Entry {
                    index: 5,
                    term: 7,
                    payload: Payload::Config(membership(&[1, 2, 3], &[1, 2], &[])),
                },
                Entry {
                    index: 6,
                    term: 7,
                    payload: Payload::Noop,
                },
            ],
            leader_commit: 3,
            read_ctx: 9,
        },
    };
    let messages = [
        append,
        Message {
            from: 1,
            to: 2,
            term: 7,
            body: Body::AppendEntriesResponse {
                success: false,
                index: 3,
                hint: Some(ConflictHint {
                    conflict_term: Some(5),
                    conflict_index: 2,
                }),
                read_ctx: 0,
            },
        },
        Message {
            from: 1,
            to: 2,
            term: 8,
            body: Body::RequestVote {
                last_log_index: 6,
                last_log_term: 7,
                pre_vote: true,
                transfer: false,
            },
        },
        Message {
            from: 1,
            to: 2,
            term: 8,
            body: Body::RequestVoteResponse {
                granted: true,
                pre_vote: false,
            },
        },
        Message {
            from: 1,
            to: 2,
            term: 8,
            body: Body::TimeoutNow,
        },
    ];
    let mut plain = Vec::new();
    for m in messages {
        frame::encode(CLUSTER, m, &mut plain);
    }

    // A snapshot sent as a start and its chunks, with a heartbeat between them (the assembler
    // takes chunks of any size; the writer's are 1 MiB).
    let heartbeat = Message {
        from: 1,
        to: 2,
        term: 4,
        body: Body::AppendEntries {
            prev_log_index: 0,
            prev_log_term: 0,
            entries: Vec::new(),
            leader_commit: 0,
            read_ctx: 0,
        },
    };
    let data = b"snapshot bytes";
    let bodies = [
        FrameBody::SnapshotStart {
            message: install_snapshot(b""),
            len: data.len() as u64,
        },
        FrameBody::SnapshotChunk {
            offset: 0,
            data: data[..6].to_vec(),
        },
        FrameBody::Message(heartbeat),
        FrameBody::SnapshotChunk {
            offset: 6,
            data: data[6..].to_vec(),
        },
    ];
    let mut chunked = Vec::new();
    for b in &bodies {
        frame::encode_body(CLUSTER, 1, b, &mut chunked);
    }

    let mut whole = Vec::new();
    frame::encode(CLUSTER, install_snapshot(data), &mut whole);
    vec![
        ("messages", plain),
        ("chunked-snapshot", chunked),
        ("whole-snapshot", whole),
    ]
}

fn configs() -> Vec<(&'static str, Vec<u8>)> {
    let example = include_str!("../../node/node.example.toml");
    let join = "id = 4\n\
        data_dir = \"/tmp/rn4\"\n\
        join = true\n\
        peer_addr = \"[::1]:32380\"\n\
        client_addr = \"[::1]:32379\"\n\
        initial_cluster = \"1=127.0.0.1:2380/127.0.0.1:2379, 2=127.0.0.1:12380/127.0.0.1:12379\"\n\
        tick_ms = 50\n\
        election_timeout_ms = \"500-1500\"\n";
    let minimal = "id = 1\ndata_dir = \"d\"\n";
    vec![
        ("example", example.as_bytes().to_vec()),
        ("join", join.as_bytes().to_vec()),
        ("minimal", minimal.as_bytes().to_vec()),
    ]
}

fn grpc_requests() -> Vec<(&'static str, Vec<u8>)> {
    let request = |which: u8, bytes: Vec<u8>| [vec![which], bytes].concat();
    let range = RangeRequest {
        key: b"a".to_vec(),
        range_end: b"c".to_vec(),
        limit: 2,
        sort_order: range_request::SortOrder::Descend as i32,
        sort_target: range_request::SortTarget::Mod as i32,
        keys_only: true,
        ..RangeRequest::default()
    };
    let put = PutRequest {
        key: b"a".to_vec(),
        value: b"new".to_vec(),
        prev_kv: true,
        ..PutRequest::default()
    };
    let delete = DeleteRangeRequest {
        key: b"b".to_vec(),
        range_end: vec![0],
        prev_kv: true,
    };
    let op = |r| RequestOp { request: Some(r) };
    let txn = TxnRequest {
        compare: vec![
            ProtoCompare {
                result: compare::CompareResult::Equal as i32,
                target: compare::CompareTarget::Value as i32,
                key: b"a".to_vec(),
                target_union: Some(compare::TargetUnion::Value(b"1".to_vec())),
                range_end: Vec::new(),
            },
            ProtoCompare {
                result: compare::CompareResult::Greater as i32,
                target: compare::CompareTarget::Mod as i32,
                key: b"b".to_vec(),
                target_union: Some(compare::TargetUnion::ModRevision(1)),
                range_end: b"c".to_vec(),
            },
        ],
        success: vec![
            op(request_op::Request::RequestPut(put.clone())),
            op(request_op::Request::RequestTxn(TxnRequest {
                compare: Vec::new(),
                success: vec![op(request_op::Request::RequestRange(range.clone()))],
                failure: Vec::new(),
            })),
        ],
        failure: vec![op(request_op::Request::RequestDeleteRange(delete.clone()))],
    };
    vec![
        ("range", request(0, range.encode_to_vec())),
        ("put", request(1, put.encode_to_vec())),
        ("delete-range", request(2, delete.encode_to_vec())),
        ("txn", request(3, txn.encode_to_vec())),
    ]
}

/// Saved traces of `conformance/traces`, written compactly.
fn traces() -> Vec<(&'static str, Vec<u8>)> {
    let saved = [
        (
            "restarted-server-rejoins",
            include_str!("../../../conformance/traces/witness-restarted-server-rejoins.json"),
        ),
        (
            "election-replication-commit",
            include_str!("../../../conformance/traces/election-replication-commit.json"),
        ),
        (
            "production-vote-grant-extended-lease",
            include_str!("../../../conformance/traces/fixed-vote-grant-extended-lease.json"),
        ),
    ];
    saved
        .into_iter()
        .map(|(name, text)| {
            let loaded = raft_conformance::trace::parse(text).expect("a saved trace parses");
            let compact = serde_json::to_string(&loaded.file).expect("a trace serializes");
            (name, compact.into_bytes())
        })
        .collect()
}

/// The store the node targets start from: three keys, a session, two members and a removed one.
pub(crate) fn sample_store() -> Kv {
    let mut store = crate::node::sample_store();
    store.apply_entry(&kv::command_bytes(
        8,
        1,
        &Op::SetMember(MemberInfo {
            id: 3,
            name: "node-3".to_string(),
            peer_addr: "127.0.0.1:2383".to_string(),
            client_addr: String::new(),
        }),
    ));
    store.apply_entry(&kv::command_bytes(8, 2, &Op::RemoveMember(3)));
    store
}

fn kv_commands() -> Vec<(&'static str, Vec<u8>)> {
    let range = |key: &str, end: &[u8]| KeyRange {
        key: key.into(),
        range_end: end.to_vec(),
    };
    let txn = Op::Kv(TxnOp::Txn(Txn {
        compare: vec![
            Compare {
                range: range("a", b""),
                result: CompareResult::Equal,
                target: CompareTarget::Value(b"1".to_vec()),
            },
            Compare {
                range: range("a", &[0]),
                result: CompareResult::Greater,
                target: CompareTarget::Version(0),
            },
        ],
        success: vec![
            TxnOp::Range(RangeQuery {
                range: range("a", b"c"),
                limit: 1,
                ..RangeQuery::default()
            }),
            TxnOp::Txn(Txn {
                compare: Vec::new(),
                success: vec![TxnOp::Delete {
                    range: range("b", b""),
                    prev_kv: true,
                }],
                failure: Vec::new(),
            }),
        ],
        failure: vec![TxnOp::Put {
            key: b"z".to_vec(),
            value: b"26".to_vec(),
            prev_kv: false,
        }],
    }));
    let ops = [
        ("put", put("d", "4444")),
        (
            "delete",
            Op::Kv(TxnOp::Delete {
                range: range("a", b"c"),
                prev_kv: true,
            }),
        ),
        ("txn", txn),
        (
            "set-member",
            Op::SetMember(MemberInfo {
                id: 2,
                name: "two".to_string(),
                peer_addr: "127.0.0.1:2382".to_string(),
                client_addr: "127.0.0.1:2381".to_string(),
            }),
        ),
        ("remove-member", Op::RemoveMember(2)),
    ];
    let mut out: Vec<(&'static str, Vec<u8>)> = ops
        .into_iter()
        .map(|(name, op)| (name, kv::command_bytes(9, 1, &op)))
        .collect();
    // The sample store's client 7 last applied its third command: this is a retry of it.
    out.push(("retry", kv::command_bytes(7, 3, &put("c", "333"))));
    out
}
