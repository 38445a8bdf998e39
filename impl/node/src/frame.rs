//! The peer wire format: length-delimited frames, each carrying one Raft message or one chunk of
//! a snapshot.
//!
//! ```text
//! length u32 | cluster_id u64 | sender u64 | crc32c u32 | payload
//! ```
//!
//! All integers are big-endian. `length` counts the bytes after itself (20 + payload) and is at
//! most [`MAX_FRAME_LEN`]. The CRC32C covers cluster id, sender and payload, so a frame whose
//! header was damaged is caught too. The payload is a [`FrameBody`] encoded with
//! [`crate::wire::codec`].
//!
//! A snapshot larger than [`CHUNK_LEN`] travels as a `SnapshotStart` (the InstallSnapshot message
//! with its data left out, and the data's length) followed by `SnapshotChunk`s in order, on one
//! connection; other messages may come between the chunks, so heartbeats keep flowing during a
//! long transfer. The [`Assembler`] of the receiving connection hands the core the whole message
//! once the last byte arrived (the paper's Figure 13 `offset`/`done`, kept out of the core).
//!
//! A frame is rejected when its length is out of bounds, its checksum does not match, its cluster
//! id is not ours, its payload does not decode, the sender named in the header differs from the
//! one in the message, or a chunk does not continue the snapshot under way.

use std::fmt;

use raft_core::{Body, Bytes, Message, NodeId};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::wire;

/// Bytes after the length prefix and before the payload.
const HEADER_LEN: usize = 8 + 8 + 4;
/// Largest frame accepted. Snapshots are chunked, so only one AppendEntries batch of large
/// entries comes near it (client requests are limited to 4 MiB by the gRPC server).
pub const MAX_FRAME_LEN: usize = 64 << 20;
/// Snapshot data per chunk frame.
pub const CHUNK_LEN: usize = 1 << 20;
/// Largest snapshot accepted: the largest the state machine decodes.
pub const MAX_SNAPSHOT_LEN: u64 = wire::MAX_DECODE_BYTES;

/// What one frame carries.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum FrameBody {
    Message(Message),
    /// An InstallSnapshot whose `snapshot.data` (`len` bytes) follows in chunks.
    SnapshotStart {
        message: Message,
        len: u64,
    },
    /// The snapshot data at byte `offset` of the snapshot started last on this connection.
    SnapshotChunk {
        offset: u64,
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
    },
}

#[derive(Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The length prefix is smaller than a header or larger than `MAX_FRAME_LEN`.
    BadLength(u64),
    BadChecksum {
        expected: u32,
        actual: u32,
    },
    ForeignCluster {
        expected: u64,
        actual: u64,
    },
    Undecodable(String),
    SenderMismatch {
        header: u64,
        message: u64,
    },
    /// A snapshot start or chunk that does not fit the transfer under way.
    BadChunk(String),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::BadLength(n) => write!(f, "frame length {n} out of bounds"),
            FrameError::BadChecksum { expected, actual } => write!(
                f,
                "frame checksum mismatch (header says {expected:#010x}, content is {actual:#010x})"
            ),
            FrameError::ForeignCluster { expected, actual } => write!(
                f,
                "frame from cluster {actual:#x}, this node belongs to cluster {expected:#x}"
            ),
            FrameError::Undecodable(why) => write!(f, "frame payload does not decode: {why}"),
            FrameError::SenderMismatch { header, message } => write!(
                f,
                "frame header names sender {header} but the message is from {message}"
            ),
            FrameError::BadChunk(why) => write!(f, "bad snapshot chunk: {why}"),
        }
    }
}

impl std::error::Error for FrameError {}

fn checksum(cluster_id: u64, sender: u64, payload: &[u8]) -> u32 {
    let crc = crc32c::crc32c(&cluster_id.to_be_bytes());
    let crc = crc32c::crc32c_append(crc, &sender.to_be_bytes());
    crc32c::crc32c_append(crc, payload)
}

/// Appends the frame carrying `body` from `sender` to `out`.
pub fn encode_body(cluster_id: u64, sender: NodeId, body: &FrameBody, out: &mut Vec<u8>) {
    let payload = wire::encode(body);
    let len = (HEADER_LEN + payload.len()) as u32;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&cluster_id.to_be_bytes());
    out.extend_from_slice(&sender.to_be_bytes());
    out.extend_from_slice(&checksum(cluster_id, sender, &payload).to_be_bytes());
    out.extend_from_slice(&payload);
}

/// Appends the frame for the whole message `msg` to `out`.
pub fn encode(cluster_id: u64, msg: Message, out: &mut Vec<u8>) {
    let from = msg.from;
    encode_body(cluster_id, from, &FrameBody::Message(msg), out);
}

/// Decodes the body of one frame (everything after the length prefix) into its sender and what
/// it carries.
pub fn decode_body(cluster_id: u64, body: &[u8]) -> Result<(NodeId, FrameBody), FrameError> {
    if body.len() < HEADER_LEN {
        return Err(FrameError::BadLength(body.len() as u64));
    }
    let u64_at = |at: usize| u64::from_be_bytes(body[at..at + 8].try_into().expect("8 bytes"));
    let frame_cluster = u64_at(0);
    let sender = u64_at(8);
    let expected = u32::from_be_bytes(body[16..20].try_into().expect("4 bytes"));
    let payload = &body[HEADER_LEN..];
    let actual = checksum(frame_cluster, sender, payload);
    if actual != expected {
        return Err(FrameError::BadChecksum { expected, actual });
    }
    if frame_cluster != cluster_id {
        return Err(FrameError::ForeignCluster {
            expected: cluster_id,
            actual: frame_cluster,
        });
    }
    let fb: FrameBody = wire::decode(payload).map_err(FrameError::Undecodable)?;
    if let FrameBody::Message(m) | FrameBody::SnapshotStart { message: m, .. } = &fb {
        if m.from != sender {
            return Err(FrameError::SenderMismatch {
                header: sender,
                message: m.from,
            });
        }
    }
    Ok((sender, fb))
}

/// Splits `msg` into the frame bodies it travels in: itself, or for a snapshot larger than
/// [`CHUNK_LEN`] a start and the data still to send (see [`next_chunk`]).
pub fn split(mut msg: Message) -> (FrameBody, Bytes) {
    match &mut msg.body {
        Body::InstallSnapshot { snapshot } if snapshot.data.len() > CHUNK_LEN => {
            let data = std::mem::take(&mut snapshot.data);
            let len = data.len() as u64;
            (FrameBody::SnapshotStart { message: msg, len }, data)
        }
        _ => (FrameBody::Message(msg), Bytes::new()),
    }
}

/// The chunk of `data` at `offset`; the caller advances `offset` by its length.
pub fn next_chunk(data: &[u8], offset: usize) -> FrameBody {
    let end = (offset + CHUNK_LEN).min(data.len());
    FrameBody::SnapshotChunk {
        offset: offset as u64,
        data: data[offset..end].to_vec(),
    }
}

/// Reassembles the messages of one connection: whole ones pass through, a chunked snapshot is
/// held until its last chunk arrives.
#[derive(Default)]
pub struct Assembler {
    partial: Option<Partial>,
}

struct Partial {
    sender: NodeId,
    message: Message,
    len: u64,
    data: Vec<u8>,
}

impl Assembler {
    /// Takes the next frame of the connection; returns a message when one is complete.
    pub fn push(&mut self, sender: NodeId, body: FrameBody) -> Result<Option<Message>, FrameError> {
        match body {
            FrameBody::Message(m) => Ok(Some(m)),
            FrameBody::SnapshotStart { message, len } => {
                let empty = matches!(&message.body, Body::InstallSnapshot { snapshot } if snapshot.data.is_empty());
                if !empty {
                    return Err(FrameError::BadChunk(format!(
                        "a snapshot start carries a {} with data",
                        message.kind()
                    )));
                }
                if len > MAX_SNAPSHOT_LEN {
                    return Err(FrameError::BadChunk(format!(
                        "snapshot of {len} bytes exceeds the limit of {MAX_SNAPSHOT_LEN}"
                    )));
                }
                // A new start abandons a transfer the sender gave up on. The buffer grows with
                // the data that arrives rather than with what the start announces.
                self.partial = Some(Partial {
                    sender,
                    message,
                    len,
                    data: Vec::with_capacity(len.min(MAX_FRAME_LEN as u64) as usize),
                });
                self.finish()
            }
            FrameBody::SnapshotChunk { offset, data } => {
                let Some(p) = self.partial.as_mut() else {
                    return Err(FrameError::BadChunk(format!(
                        "chunk at offset {offset} with no snapshot under way"
                    )));
                };
                if p.sender != sender || offset != p.data.len() as u64 {
                    return Err(FrameError::BadChunk(format!(
                        "chunk from {sender} at offset {offset}; expected one from {} at {}",
                        p.sender,
                        p.data.len()
                    )));
                }
                if offset + data.len() as u64 > p.len {
                    return Err(FrameError::BadChunk(format!(
                        "chunk ends at {} past the snapshot's {} bytes",
                        offset + data.len() as u64,
                        p.len
                    )));
                }
                p.data.extend_from_slice(&data);
                self.finish()
            }
        }
    }

    fn finish(&mut self) -> Result<Option<Message>, FrameError> {
        if self
            .partial
            .as_ref()
            .is_some_and(|p| p.data.len() as u64 == p.len)
        {
            let Partial {
                mut message, data, ..
            } = self.partial.take().expect("checked above");
            if let Body::InstallSnapshot { snapshot } = &mut message.body {
                snapshot.data = data.into();
            }
            return Ok(Some(message));
        }
        Ok(None)
    }
}

/// Why reading a frame from a stream stopped.
#[derive(Debug)]
pub enum ReadError {
    /// The peer closed the connection between frames.
    Closed,
    Io(std::io::Error),
    Frame(FrameError),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Closed => write!(f, "connection closed"),
            ReadError::Io(e) => write!(f, "read failed: {e}"),
            ReadError::Frame(e) => write!(f, "{e}"),
        }
    }
}

/// Reads one frame from `r`. `buf` is reused between calls to avoid an allocation per frame.
pub async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
    cluster_id: u64,
    buf: &mut Vec<u8>,
) -> Result<(NodeId, FrameBody), ReadError> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(ReadError::Closed),
        Err(e) => return Err(ReadError::Io(e)),
    }
    let len = u32::from_be_bytes(len) as usize;
    if !(HEADER_LEN..=MAX_FRAME_LEN).contains(&len) {
        return Err(ReadError::Frame(FrameError::BadLength(len as u64)));
    }
    // The buffer grows with the bytes that arrive, not with what the length announces: four
    // bytes from anyone who connects must not cost 64 MiB.
    buf.clear();
    r.take(len as u64)
        .read_to_end(buf)
        .await
        .map_err(ReadError::Io)?;
    if buf.len() < len {
        return Err(ReadError::Io(std::io::ErrorKind::UnexpectedEof.into()));
    }
    decode_body(cluster_id, buf).map_err(ReadError::Frame)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use raft_core::{Body, Entry, Payload};

    fn sample() -> Message {
        Message {
            from: 2,
            to: 1,
            term: 7,
            body: Body::AppendEntries {
                prev_log_index: 3,
                prev_log_term: 6,
                entries: vec![
                    Entry {
                        index: 4,
                        term: 7,
                        payload: Payload::Normal(b"hello".to_vec()),
                    },
                    Entry {
                        index: 5,
                        term: 7,
                        payload: Payload::Config(raft_core::Membership::new([1, 2, 3])),
                    },
                ],
                leader_commit: 3,
                read_ctx: 9,
            },
        }
    }

    #[test]
    fn round_trip() {
        let mut out = Vec::new();
        encode(42, sample(), &mut out);
        assert_eq!(
            decode_body(42, &out[4..]),
            Ok((2, FrameBody::Message(sample())))
        );
    }

    #[test]
    fn every_flipped_bit_is_rejected() {
        let mut out = Vec::new();
        encode(42, sample(), &mut out);
        for byte in 4..out.len() {
            for bit in 0..8 {
                let mut bad = out.clone();
                bad[byte] ^= 1 << bit;
                assert!(decode_body(42, &bad[4..]).is_err(), "byte {byte} bit {bit}");
            }
        }
    }

    #[test]
    fn foreign_cluster_is_rejected() {
        let mut out = Vec::new();
        encode(42, sample(), &mut out);
        assert_eq!(
            decode_body(43, &out[4..]),
            Err(FrameError::ForeignCluster {
                expected: 43,
                actual: 42
            })
        );
    }

    #[test]
    fn garbage_with_valid_checksum_is_rejected_not_panicking() {
        let payload = vec![0xff; 64];
        let mut body = Vec::new();
        body.extend_from_slice(&42u64.to_be_bytes());
        body.extend_from_slice(&2u64.to_be_bytes());
        body.extend_from_slice(&checksum(42, 2, &payload).to_be_bytes());
        body.extend_from_slice(&payload);
        assert!(matches!(
            decode_body(42, &body),
            Err(FrameError::Undecodable(_))
        ));
    }

    /// An InstallSnapshot from 1 to 2 with `len` bytes of data.
    pub(crate) fn snapshot_message(len: usize) -> Message {
        Message {
            from: 1,
            to: 2,
            term: 4,
            body: Body::InstallSnapshot {
                snapshot: raft_core::Snapshot {
                    index: 90,
                    term: 3,
                    membership: raft_core::Membership::new([1, 2, 3]),
                    data: (0..len).map(|i| (i % 251) as u8).collect(),
                },
            },
        }
    }

    /// Every frame body a message travels in, through the encoding and back.
    fn frames_of(msg: Message) -> Vec<(NodeId, FrameBody)> {
        let (first, data) = split(msg);
        let mut bodies = vec![first];
        let mut offset = 0;
        while offset < data.len() {
            bodies.push(next_chunk(&data, offset));
            offset += CHUNK_LEN;
        }
        bodies
            .into_iter()
            .map(|b| {
                let mut out = Vec::new();
                encode_body(42, 1, &b, &mut out);
                decode_body(42, &out[4..]).unwrap()
            })
            .collect()
    }

    #[test]
    fn a_large_snapshot_is_chunked_and_reassembled_around_other_messages() {
        let msg = snapshot_message(2 * CHUNK_LEN + 12345);
        let frames = frames_of(msg.clone());
        assert_eq!(frames.len(), 4, "a start and three chunks");
        let mut asm = Assembler::default();
        let mut out = Vec::new();
        for (i, (sender, body)) in frames.into_iter().enumerate() {
            if let Some(m) = asm.push(sender, body).unwrap() {
                out.push(m);
            }
            // A heartbeat between chunks passes straight through.
            let hb = asm.push(2, FrameBody::Message(sample())).unwrap().unwrap();
            assert_eq!(hb, sample(), "after frame {i}");
        }
        assert_eq!(out, vec![msg]);
    }

    #[test]
    fn a_small_snapshot_travels_whole() {
        let msg = snapshot_message(CHUNK_LEN);
        let frames = frames_of(msg.clone());
        assert_eq!(frames, vec![(1, FrameBody::Message(msg))]);
    }

    #[test]
    fn chunks_that_do_not_continue_the_transfer_are_rejected() {
        let frames = frames_of(snapshot_message(3 * CHUNK_LEN));
        let start = frames[0].1.clone();
        let chunk = |i: usize| frames[i].1.clone();
        let bad = |steps: Vec<(NodeId, FrameBody)>| {
            let mut asm = Assembler::default();
            let mut last = Ok(None);
            for (sender, body) in steps {
                last = asm.push(sender, body);
                if last.is_err() {
                    break;
                }
            }
            matches!(last, Err(FrameError::BadChunk(_)))
        };
        assert!(bad(vec![(1, chunk(1))]), "a chunk with no start");
        assert!(bad(vec![(1, start.clone()), (1, chunk(2))]), "a gap");
        assert!(
            bad(vec![(1, start.clone()), (1, chunk(1)), (1, chunk(1))]),
            "a repeat"
        );
        assert!(
            bad(vec![(1, start.clone()), (3, chunk(1))]),
            "another sender"
        );
        let FrameBody::SnapshotStart { message, .. } = start.clone() else {
            panic!("not a start");
        };
        let short = FrameBody::SnapshotStart {
            message: message.clone(),
            len: CHUNK_LEN as u64 - 1,
        };
        assert!(bad(vec![(1, short), (1, chunk(1))]), "past the length");
        let huge = FrameBody::SnapshotStart {
            message,
            len: MAX_SNAPSHOT_LEN + 1,
        };
        assert!(bad(vec![(1, huge)]), "over the limit");
        let with_data = FrameBody::SnapshotStart {
            message: snapshot_message(10),
            len: 10,
        };
        assert!(bad(vec![(1, with_data)]), "a start that carries data");
        // A new start abandons the transfer under way; the new one completes.
        let mut asm = Assembler::default();
        asm.push(1, start.clone()).unwrap();
        asm.push(1, chunk(1)).unwrap();
        asm.push(1, start).unwrap();
        for i in 1..4 {
            let done = asm.push(1, chunk(i)).unwrap();
            assert_eq!(done.is_some(), i == 3);
        }
    }

    #[tokio::test]
    async fn oversized_length_is_rejected_before_allocating() {
        let bytes = u32::MAX.to_be_bytes();
        let mut r = &bytes[..];
        let mut buf = Vec::new();
        assert!(matches!(
            read_frame(&mut r, 42, &mut buf).await,
            Err(ReadError::Frame(FrameError::BadLength(_)))
        ));
    }

    #[tokio::test]
    async fn a_large_length_costs_only_the_bytes_that_arrive() {
        let mut bytes = (MAX_FRAME_LEN as u32).to_be_bytes().to_vec();
        bytes.extend_from_slice(&[7; 100]);
        let mut r = &bytes[..];
        let mut buf = Vec::new();
        assert!(matches!(
            read_frame(&mut r, 42, &mut buf).await,
            Err(ReadError::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof
        ));
        assert!(
            buf.capacity() < 1 << 20,
            "{} bytes reserved",
            buf.capacity()
        );
        // A whole frame still reads, after a short one, with the same buffer.
        let mut out = Vec::new();
        encode(42, sample(), &mut out);
        let mut r = &out[..];
        assert_eq!(
            read_frame(&mut r, 42, &mut buf).await.unwrap(),
            (2, FrameBody::Message(sample()))
        );
    }

    proptest::proptest! {
        /// Whatever a peer sends, decoding answers with a message or an error, never a panic.
        #[test]
        fn arbitrary_bytes_never_panic(body in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            let _ = decode_body(42, &body);
        }

        /// The same for well-checksummed payloads of random content, and for what the assembler
        /// makes of any order of starts and chunks.
        #[test]
        fn arbitrary_payloads_and_chunk_orders_never_panic(
            payloads in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..64), 1..8),
            order in proptest::collection::vec((0usize..6, 0u64..4), 0..12),
        ) {
            for payload in &payloads {
                let mut body = Vec::new();
                body.extend_from_slice(&42u64.to_be_bytes());
                body.extend_from_slice(&1u64.to_be_bytes());
                body.extend_from_slice(&checksum(42, 1, payload).to_be_bytes());
                body.extend_from_slice(payload);
                let _ = decode_body(42, &body);
            }
            let frames = frames_of(snapshot_message(3 * CHUNK_LEN + 7));
            let mut asm = Assembler::default();
            for (i, sender) in order {
                let (_, body) = frames[i % frames.len()].clone();
                let _ = asm.push(sender, body);
            }
        }
    }
}
