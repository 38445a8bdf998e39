//! The peer wire format: one length-delimited frame per Raft message.
//!
//! ```text
//! length u32 | cluster_id u64 | sender u64 | crc32c u32 | payload
//! ```
//!
//! All integers are big-endian. `length` counts the bytes after itself (20 + payload). The CRC32C
//! covers cluster id, sender and payload, so a frame whose header was damaged is caught too. The
//! payload is a [`WireMessage`] encoded with [`crate::wire::codec`]. A frame is rejected when its
//! length is out of bounds, its checksum does not match, its cluster id is not ours, its payload
//! does not decode, or the sender named in the header differs from the one in the message.

use std::fmt;

use raft_impl::Message;
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::wire::{self, WireMessage};

/// Bytes after the length prefix and before the payload.
const HEADER_LEN: usize = 8 + 8 + 4;
/// Largest frame accepted; a snapshot travels in one message, so this bounds snapshot size too.
pub const MAX_FRAME_LEN: usize = 512 << 20;

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
        }
    }
}

impl std::error::Error for FrameError {}

fn checksum(cluster_id: u64, sender: u64, payload: &[u8]) -> u32 {
    let crc = crc32c::crc32c(&cluster_id.to_be_bytes());
    let crc = crc32c::crc32c_append(crc, &sender.to_be_bytes());
    crc32c::crc32c_append(crc, payload)
}

/// Appends the frame for `msg` to `out`.
pub fn encode(cluster_id: u64, msg: &Message, out: &mut Vec<u8>) {
    let payload = wire::encode(&WireMessage::from_message(msg));
    let len = (HEADER_LEN + payload.len()) as u32;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&cluster_id.to_be_bytes());
    out.extend_from_slice(&msg.from.to_be_bytes());
    out.extend_from_slice(&checksum(cluster_id, msg.from, &payload).to_be_bytes());
    out.extend_from_slice(&payload);
}

/// Decodes the body of one frame (everything after the length prefix).
pub fn decode_body(cluster_id: u64, body: &[u8]) -> Result<Message, FrameError> {
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
    let wm: WireMessage = wire::decode(payload).map_err(FrameError::Undecodable)?;
    if wm.from_id() != sender {
        return Err(FrameError::SenderMismatch {
            header: sender,
            message: wm.from_id(),
        });
    }
    Ok(wm.into_message())
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
) -> Result<Message, ReadError> {
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
    buf.clear();
    buf.resize(len, 0);
    r.read_exact(buf).await.map_err(ReadError::Io)?;
    decode_body(cluster_id, buf).map_err(ReadError::Frame)
}

#[cfg(test)]
mod tests {
    use super::*;
    use raft_impl::{Body, Entry, Payload};

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
                        payload: Payload::Config(raft_impl::Membership::new([1, 2, 3])),
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
        encode(42, &sample(), &mut out);
        assert_eq!(decode_body(42, &out[4..]), Ok(sample()));
    }

    #[test]
    fn every_flipped_bit_is_rejected() {
        let mut out = Vec::new();
        encode(42, &sample(), &mut out);
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
        encode(42, &sample(), &mut out);
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
}
