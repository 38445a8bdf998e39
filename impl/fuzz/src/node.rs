//! The targets of `raft-node`: peer frames and the snapshot assembler, the TOML configuration,
//! the conversion of etcd API requests, and the state machine's snapshots and commands.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use raft_core::{Body, Command};
use raft_node::config::NodeConfig;
use raft_node::frame::{self, Assembler, FrameBody, ReadError, MAX_FRAME_LEN};
use raft_node::grpc::convert;
use raft_node::kv::{self, ApplyOutcome, KeyValue, Kv, MemberInfo, Op, TxnOp};
use raft_node::proto::etcdserverpb::{DeleteRangeRequest, PutRequest, RangeRequest, TxnRequest};
use raft_node::wire;
use serde::{Deserialize, Serialize};

use crate::shape;

/// The cluster id the frame targets read as theirs.
pub const CLUSTER: u64 = 42;
/// Frames read from one input at most.
const MAX_FRAMES: usize = 64;
/// Frame header after the length prefix: cluster id, sender, checksum.
const FRAME_HEADER: usize = 20;

struct NoWake;

impl Wake for NoWake {
    fn wake(self: Arc<Self>) {}
}

/// Runs a future that never waits (one reading from a byte slice) to its end.
fn ready<F: Future>(f: F) -> F::Output {
    let waker = Waker::from(Arc::new(NoWake));
    let mut cx = Context::from_waker(&waker);
    let mut f = pin!(f);
    match f.as_mut().poll(&mut cx) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("reading from a byte slice waited"),
    }
}

/// What one peer connection delivers: frames back to back, read by `frame::read_frame` and put
/// together by a connection's `Assembler`, as the transport's reader does.
///
/// Checks, on the bytes as given and again with every frame's cluster id set to ours and its
/// checksum recomputed (so that mutations reach the payload decoder and the assembler):
/// reading never panics and ends with the connection closed or a frame refused; the read buffer
/// grows with the bytes received, not with the lengths announced; every decoded
/// frame survives re-encoding; a whole message leaves the assembler unchanged and at once; a
/// reassembled snapshot comes only after a start and has exactly the announced length.
pub fn frame(data: &[u8]) -> String {
    let raw = stream_outcome(data);
    let fixed = stream_outcome(&fix_frames(data));
    format!("raw {raw}; fixed {fixed}")
}

/// `stream` with each frame that fits claimed by our cluster and its checksum recomputed.
fn fix_frames(stream: &[u8]) -> Vec<u8> {
    let mut out = stream.to_vec();
    let mut pos = 0;
    while pos + 4 + FRAME_HEADER <= out.len() {
        let len = u32::from_be_bytes(out[pos..pos + 4].try_into().expect("4 bytes")) as usize;
        let end = pos + 4 + len;
        if !(FRAME_HEADER..=MAX_FRAME_LEN).contains(&len) || end > out.len() {
            break;
        }
        out[pos + 4..pos + 12].copy_from_slice(&CLUSTER.to_be_bytes());
        let crc = crc32c::crc32c(&out[pos + 4..pos + 20]);
        let crc = crc32c::crc32c_append(crc, &out[pos + 24..end]);
        out[pos + 20..pos + 24].copy_from_slice(&crc.to_be_bytes());
        pos = end;
    }
    out
}

/// Notes a kind of frame seen: `M` message, `S` snapshot start, `C` chunk, `!` a snapshot put
/// back together (kept in this order, each once).
fn push_kind(kinds: &mut String, k: char) {
    if !kinds.contains(k) {
        let mut all: Vec<char> = kinds.chars().chain([k]).collect();
        all.sort_by_key(|c| "MSC!".find(*c));
        *kinds = all.into_iter().collect();
    }
}

fn stream_outcome(stream: &[u8]) -> String {
    let mut reader = stream;
    let mut buf = Vec::new();
    let mut assembler = Assembler::default();
    // The length of the transfer under way, as announced by the last start the assembler took.
    let mut announced: Option<u64> = None;
    let mut kinds = String::new();
    for _ in 0..MAX_FRAMES {
        let read = ready(frame::read_frame(&mut reader, CLUSTER, &mut buf));
        // What a peer announces costs nothing until it sends it.
        assert!(
            buf.capacity() <= 2 * stream.len() + 4096,
            "reading {} bytes reserved {}",
            stream.len(),
            buf.capacity()
        );
        let (sender, body) = match read {
            Ok(frame) => frame,
            Err(ReadError::Closed) => return format!("{kinds} closed"),
            Err(ReadError::Io(e)) => return format!("{kinds} cut short ({:?})", e.kind()),
            Err(ReadError::Frame(e)) => {
                return format!("{kinds} rejected: {}", shape(&e.to_string()))
            }
        };
        let mut again = Vec::new();
        frame::encode_body(CLUSTER, sender, &body, &mut again);
        assert!(
            frame::decode_body(CLUSTER, &again[4..]) == Ok((sender, body.clone())),
            "a decoded frame does not survive re-encoding"
        );
        let (start, whole) = match &body {
            FrameBody::Message(m) => {
                push_kind(&mut kinds, 'M');
                (None, Some(m.clone()))
            }
            FrameBody::SnapshotStart { len, .. } => {
                push_kind(&mut kinds, 'S');
                (Some(*len), None)
            }
            FrameBody::SnapshotChunk { .. } => {
                push_kind(&mut kinds, 'C');
                (None, None)
            }
        };
        let done = match assembler.push(sender, body) {
            Ok(done) => done,
            // The transport closes the connection here.
            Err(e) => return format!("{kinds} refused: {}", shape(&e.to_string())),
        };
        if start.is_some() {
            announced = start;
        }
        match (whole, done) {
            (Some(m), Some(out)) => assert!(out == m, "a whole message changed in the assembler"),
            (Some(_), None) => panic!("the assembler held back a whole message"),
            (None, Some(out)) => {
                let len = announced
                    .take()
                    .expect("the assembler completed a snapshot that was never started");
                let Body::InstallSnapshot { snapshot } = &out.body else {
                    panic!(
                        "the assembler completed a {} instead of a snapshot",
                        out.kind()
                    );
                };
                assert_eq!(
                    snapshot.data.len() as u64,
                    len,
                    "a reassembled snapshot's length is not the announced one"
                );
                push_kind(&mut kinds, '!');
            }
            (None, None) => {}
        }
    }
    format!("{kinds} more")
}

/// A TOML configuration file, loaded as `raft-node --config FILE` would with no other flags.
///
/// Checks: loading never panics; a configuration that loads obeys the rules the loader
/// promises (positive id and tick, election range of at least two ticks, heartbeat below it,
/// distinct positive member ids, this node among them unless it joins); and written back as
/// TOML it loads to the same configuration.
pub fn config(data: &[u8]) -> String {
    let Ok(text) = std::str::from_utf8(data) else {
        return "not UTF-8".to_string();
    };
    let cfg = match NodeConfig::from_toml(text) {
        Ok(cfg) => cfg,
        Err(e) => return format!("error: {}", shape(&e)),
    };
    check_config(&cfg);
    let outcome = format!(
        "ok: join {}, {} members",
        cfg.join,
        cfg.members.len().min(4)
    );
    let Some(text) = render_config(&cfg) else {
        return format!("{outcome}, election range not writable in milliseconds");
    };
    let again = NodeConfig::from_toml(&text)
        .unwrap_or_else(|e| panic!("a configuration written back does not load: {e}\n{text}"));
    assert_eq!(
        format!("{again:?}"),
        format!("{cfg:?}"),
        "a configuration written back loads differently:\n{text}"
    );
    outcome
}

fn check_config(c: &NodeConfig) {
    assert!(c.id > 0, "id 0 accepted");
    assert!(!c.tick.is_zero(), "a zero tick accepted");
    let (lo, hi) = c.election_ticks;
    assert!(2 <= lo && lo < hi, "election ticks {lo}-{hi} accepted");
    assert!(
        (1..lo).contains(&c.heartbeat_ticks),
        "heartbeat of {} ticks accepted with elections from {lo}",
        c.heartbeat_ticks
    );
    assert!(!c.members.is_empty(), "no members accepted");
    let mut ids: Vec<u64> = c.members.iter().map(|m| m.id).collect();
    assert!(ids.iter().all(|&i| i > 0), "member id 0 accepted");
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), c.members.len(), "a member id twice accepted");
    assert_eq!(
        ids.contains(&c.id),
        !c.join,
        "this node's membership does not match --join"
    );
}

/// The file's settings, as `raft-node` reads them.
#[derive(Serialize)]
struct FileSettings {
    id: u64,
    name: String,
    cluster_id: u64,
    data_dir: String,
    client_addr: String,
    peer_addr: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    initial_cluster: Option<String>,
    join: bool,
    tick_ms: u64,
    election_timeout_ms: String,
    heartbeat_ticks: u64,
    snapshot_threshold: u64,
    request_timeout_ms: u64,
}

/// `c` as a TOML file that loads to it, or `None` if its election range in milliseconds does not
/// fit the setting's integers.
fn render_config(c: &NodeConfig) -> Option<String> {
    let tick_ms = c.tick.as_millis() as u64;
    let (lo, hi) = c.election_ticks;
    let range = format!("{}-{}", lo.checked_mul(tick_ms)?, hi.checked_mul(tick_ms)?);
    // The node alone, under its own name, is what a file without an initial cluster gives.
    let alone = !c.join
        && c.members.len() == 1
        && c.members[0]
            == MemberInfo {
                id: c.id,
                name: c.name.clone(),
                peer_addr: c.peer_addr.to_string(),
                client_addr: c.client_addr.to_string(),
            };
    let initial_cluster = (!alone).then(|| {
        c.members
            .iter()
            .map(|m| format!("{}={}/{}", m.id, m.peer_addr, m.client_addr))
            .collect::<Vec<_>>()
            .join(",")
    });
    let settings = FileSettings {
        id: c.id,
        name: c.name.clone(),
        cluster_id: c.cluster_id,
        data_dir: c.data_dir.to_str()?.to_string(),
        client_addr: c.client_addr.to_string(),
        peer_addr: c.peer_addr.to_string(),
        initial_cluster,
        join: c.join,
        tick_ms,
        election_timeout_ms: range,
        heartbeat_ticks: c.heartbeat_ticks,
        snapshot_threshold: c.snapshot_threshold,
        request_timeout_ms: c.request_timeout.as_millis() as u64,
    };
    Some(toml::to_string(&settings).expect("plain settings serialize"))
}

/// The request kinds of the `grpc` target, by the first byte of its input.
pub const GRPC_REQUESTS: [&str; 4] = ["Range", "Put", "DeleteRange", "Txn"];

/// One etcd KV request as it arrives in a gRPC call: the first byte picks the method
/// (`GRPC_REQUESTS`, modulo 4), the rest is the request message in protobuf, which is decoded
/// with prost (as tonic does) and converted by `grpc::convert` into the node's command or read.
///
/// Checks: decoding and conversion never panic; a decoded request survives protobuf
/// re-encoding; a converted write survives the encoding it is replicated in, and applied to a
/// store as a committed entry it is carried out rather than refused as malformed; a converted
/// read runs against the store and honours its limit.
pub fn grpc(data: &[u8]) -> String {
    let Some((&which, bytes)) = data.split_first() else {
        return "empty".to_string();
    };
    let name = GRPC_REQUESTS[usize::from(which) % 4];
    let refused = |s: tonic::Status| format!("refused {:?}: {}", s.code(), shape(s.message()));
    // The command a write converts to (`None` for a read), or why the request was refused.
    let converted: Result<Result<Option<Op>, String>, String> = match which % 4 {
        0 => decode_request::<RangeRequest>(bytes).map(|r| {
            let q = convert::range_query(&r).map_err(refused)?;
            let result = sample_store().range(&q);
            assert!(
                q.limit <= 0 || result.kvs.len() as i64 <= q.limit,
                "a range returned more than its limit"
            );
            assert!(
                !q.count_only || result.kvs.is_empty(),
                "a count-only range returned keys"
            );
            Ok(None)
        }),
        1 => decode_request::<PutRequest>(bytes)
            .map(|r| convert::put_op(&r).map(Some).map_err(refused)),
        2 => decode_request::<DeleteRangeRequest>(bytes)
            .map(|r| convert::delete_op(&r).map(Some).map_err(refused)),
        _ => decode_request::<TxnRequest>(bytes)
            .map(|r| convert::txn_op(&r).map(Some).map_err(refused)),
    };
    match converted {
        Err(why) => format!("{name}: undecodable: {}", shape(&why)),
        Ok(Err(why)) => format!("{name}: {why}"),
        Ok(Ok(None)) => format!("{name}: read"),
        Ok(Ok(Some(op))) => {
            let back: Op = wire::decode(&wire::encode(&op))
                .unwrap_or_else(|e| panic!("a converted command does not decode: {e}"));
            assert!(
                back == op,
                "a converted command does not survive its encoding"
            );
            let mut store = sample_store();
            match store.apply_entry(&kv::command_bytes(99, 1, &op)) {
                ApplyOutcome::Done(_) => format!("{name}: applied"),
                other => panic!("a converted command was not applied: {other:?}"),
            }
        }
    }
}

/// Decodes a request and checks it survives re-encoding; an error says why not.
fn decode_request<M: prost::Message + Default + PartialEq>(bytes: &[u8]) -> Result<M, String> {
    let m = M::decode(bytes).map_err(|e| e.to_string())?;
    let again = M::decode(m.encode_to_vec().as_slice())
        .unwrap_or_else(|e| panic!("a decoded request does not decode after re-encoding: {e}"));
    assert!(again == m, "a decoded request changes through re-encoding");
    Ok(m)
}

/// A small store: three keys, two members, a client session.
pub(crate) fn sample_store() -> Kv {
    let members = [1, 2].map(|id| MemberInfo {
        id,
        name: format!("node-{id}"),
        peer_addr: format!("127.0.0.1:{}", 2380 + id),
        client_addr: format!("127.0.0.1:{}", 2379 + id),
    });
    let mut store = Kv::new(members);
    for (seq, (k, v)) in [("a", "1"), ("b", "22"), ("c", "333")].iter().enumerate() {
        let op = Op::Kv(TxnOp::Put {
            key: k.as_bytes().to_vec(),
            value: v.as_bytes().to_vec(),
            prev_kv: false,
        });
        store.apply_entry(&kv::command_bytes(7, seq as u64 + 1, &op));
    }
    store
}

/// The snapshot layout, read field by field to count what the bytes hold.
#[derive(Deserialize)]
struct SnapshotFields {
    kvs: Vec<KeyValue>,
    _revision: i64,
    sessions: Vec<(u64, u64, Vec<u8>)>,
    members: Vec<MemberInfo>,
    _retired: Vec<u64>,
}

/// A state machine snapshot, as `Kv::restore` reads one from a snapshot file or from a leader's
/// InstallSnapshot.
///
/// Checks: restoring never panics; nothing in the bytes is dropped without an error (every key,
/// session and member they hold is in the restored store); the restored store's snapshot
/// restores to a store with the same snapshot; and the restored store takes a write, at the
/// next revision.
pub fn kv_snapshot(data: &[u8]) -> String {
    let store = match Kv::restore(data) {
        Ok(store) => store,
        Err(e) => return format!("error: {}", shape(&e)),
    };
    let held: SnapshotFields = wire::decode(data).expect("bytes that restore decode");
    let encoded = store.snapshot();
    let kept: SnapshotFields = wire::decode(&encoded).expect("a snapshot decodes");
    assert_eq!(kept.kvs.len(), held.kvs.len(), "restoring dropped keys");
    assert_eq!(
        kept.sessions.len(),
        held.sessions.len(),
        "restoring dropped sessions"
    );
    assert_eq!(
        kept.members.len(),
        held.members.len(),
        "restoring dropped members"
    );
    let again = Kv::restore(&encoded)
        .unwrap_or_else(|e| panic!("a restored store's snapshot does not restore: {e}"));
    assert!(
        again.snapshot() == encoded,
        "a restored store's snapshot restores differently"
    );
    let mut store = store;
    let before = store.revision();
    let key = held.kvs.first().map_or(b"k".to_vec(), |kv| kv.key.clone());
    let op = Op::Kv(TxnOp::Put {
        key,
        value: b"v".to_vec(),
        prev_kv: true,
    });
    // A client id no session in a snapshot made by a node can have (they count up from 1).
    match store.apply_entry(&kv::command_bytes(u64::MAX, u64::MAX, &op)) {
        ApplyOutcome::Done(applied) => assert!(
            applied.revision > before,
            "a write after restoring took revision {} after {before}",
            applied.revision
        ),
        ApplyOutcome::Duplicate(_) | ApplyOutcome::Stale => {}
        ApplyOutcome::Malformed(why) => panic!("a write after restoring was malformed: {why}"),
    }
    format!(
        "ok: keys {}, sessions {}, members {}",
        held.kvs.len().min(4),
        held.sessions.len().min(4),
        held.members.len().min(4)
    )
}

/// A committed entry's command bytes, applied to a small store as the node loop applies one.
///
/// Checks: applying never panics; a command refused as malformed, stale or a duplicate leaves
/// the store as it was; a decoded command survives its encoding; and applying the same entry a
/// second time answers it from the session table with the first answer (exactly once).
pub fn kv_command(data: &[u8]) -> String {
    let mut store = sample_store();
    let before = store.snapshot();
    let outcome = store.apply_entry(data);
    match &outcome {
        ApplyOutcome::Done(applied) => {
            let cmd = Command::decode(data).expect("an applied command has a header");
            let op: Op = wire::decode(&cmd.data).expect("an applied command decodes");
            let back: Op = wire::decode(&wire::encode(&op))
                .unwrap_or_else(|e| panic!("a command does not decode after re-encoding: {e}"));
            assert!(back == op, "a command does not survive its encoding");
            match store.apply_entry(data) {
                ApplyOutcome::Duplicate(second) => assert!(
                    &second == applied,
                    "a retried command was answered differently"
                ),
                other => panic!("a retried command was not answered as a duplicate: {other:?}"),
            }
            format!("applied: {}", op_kind(&op))
        }
        ApplyOutcome::Malformed(why) => {
            assert!(
                store.snapshot() == before,
                "a malformed command changed the store"
            );
            format!("malformed: {}", shape(why))
        }
        ApplyOutcome::Stale | ApplyOutcome::Duplicate(_) => {
            assert!(
                store.snapshot() == before,
                "a repeated command changed the store"
            );
            "repeat".to_string()
        }
    }
}

fn op_kind(op: &Op) -> &'static str {
    match op {
        Op::Kv(TxnOp::Range(_)) => "range",
        Op::Kv(TxnOp::Put { .. }) => "put",
        Op::Kv(TxnOp::Delete { .. }) => "delete",
        Op::Kv(TxnOp::Txn(_)) => "txn",
        Op::SetMember(_) => "set member",
        Op::RemoveMember(_) => "remove member",
    }
}
