//! Peer transport: Raft messages over TCP, in the frames of [`crate::frame`].
//!
//! Each node keeps one outgoing connection per peer, owned by a writer task fed through a bounded
//! queue; incoming connections are read by one task each and feed the node loop. Sending never
//! blocks the node loop: when a peer's queue is full or its connection is down, messages are
//! dropped, which Raft tolerates (the leader retries on its next heartbeat). A writer reconnects
//! with exponential backoff. A large snapshot goes out one chunk per write, with the messages
//! queued meanwhile sent between chunks. A frame that fails to decode, carries another cluster's
//! id, disagrees about its sender, comes from a server outside the configuration or breaks a
//! snapshot transfer closes that one connection and is logged; nothing else is affected.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use raft_core::{Body, Bytes, Message, NodeId};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::frame::{self, Assembler, FrameBody};

/// Messages queued per peer before new ones are dropped.
const QUEUE_LEN: usize = 4096;
const BACKOFF_MIN: Duration = Duration::from_millis(20);
const BACKOFF_MAX: Duration = Duration::from_secs(1);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Bytes gathered into one write when several messages are queued.
const WRITE_BATCH_BYTES: usize = 1 << 20;

/// Peer id to peer address, shared with the node loop, which updates it as members come and go.
pub type AddressBook = Arc<RwLock<BTreeMap<NodeId, String>>>;

/// Whether frames from a sender are accepted: it is in the receiver's configuration.
pub type Admit = Arc<dyn Fn(NodeId) -> bool + Send + Sync>;

/// The sending half, used by the node loop.
pub struct Transport {
    cluster_id: u64,
    addresses: AddressBook,
    queues: Mutex<HashMap<NodeId, mpsc::Sender<Message>>>,
}

impl Transport {
    pub fn new(cluster_id: u64, addresses: AddressBook) -> Transport {
        Transport {
            cluster_id,
            addresses,
            queues: Mutex::new(HashMap::new()),
        }
    }

    /// Queues `msg` for its destination; never waits. Must be called inside a tokio runtime
    /// (the first message to a peer starts its writer task).
    pub fn send(&self, msg: Message) {
        let to = msg.to;
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        let tx = queues.entry(to).or_insert_with(|| {
            let (tx, rx) = mpsc::channel(QUEUE_LEN);
            tokio::spawn(write_loop(self.cluster_id, to, self.addresses.clone(), rx));
            tx
        });
        if let Err(mpsc::error::TrySendError::Full(m)) = tx.try_send(msg) {
            tracing::debug!(to, kind = m.kind(), "peer queue full, message dropped");
        }
    }
}

/// A snapshot being sent in chunks: which one (term of the message, index and term of the
/// snapshot), its data, and how much of it went out.
struct Outgoing {
    id: (u64, u64, u64),
    from: NodeId,
    data: Bytes,
    sent: usize,
}

fn snapshot_id(m: &Message) -> Option<(u64, u64, u64)> {
    match &m.body {
        Body::InstallSnapshot { snapshot } => Some((m.term, snapshot.index, snapshot.term)),
        _ => None,
    }
}

async fn write_loop(
    cluster_id: u64,
    to: NodeId,
    addresses: AddressBook,
    mut rx: mpsc::Receiver<Message>,
) {
    let mut conn: Option<(String, TcpStream)> = None;
    let mut backoff = BACKOFF_MIN;
    let mut failing = false;
    let mut buf = Vec::new();
    let mut outgoing: Option<Outgoing> = None;
    loop {
        // While a snapshot is under way, send its next chunk even when nothing else is queued.
        let first = if outgoing.is_some() {
            rx.try_recv().ok()
        } else {
            match rx.recv().await {
                Some(m) => Some(m),
                None => return,
            }
        };
        let addr = addresses
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&to)
            .cloned();
        let Some(addr) = addr else {
            tracing::debug!(to, "no address known for peer, message dropped");
            outgoing = None;
            continue;
        };
        // The member may have moved (removed and added again at another address).
        if conn.as_ref().is_some_and(|(a, _)| *a != addr) {
            conn = None;
        }
        if conn.is_none() {
            // The receiver of a new connection knows nothing of a transfer begun on the old one.
            outgoing = None;
            match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&addr)).await {
                Ok(Ok(stream)) => {
                    let _ = stream.set_nodelay(true);
                    if failing {
                        tracing::info!(to, %addr, "connected to peer");
                    }
                    failing = false;
                    backoff = BACKOFF_MIN;
                    conn = Some((addr.clone(), stream));
                }
                Ok(Err(e)) => {
                    note_failure(&mut failing, to, &addr, &e.to_string());
                }
                Err(_) => note_failure(&mut failing, to, &addr, "connect timed out"),
            }
            if conn.is_none() {
                // Wait before the next attempt; whatever queued meanwhile is stale by then.
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
                while rx.try_recv().is_ok() {}
                continue;
            }
        }
        buf.clear();
        let mut next = first;
        while let Some(m) = next {
            encode_into(cluster_id, m, &mut outgoing, &mut buf);
            next = if buf.len() < WRITE_BATCH_BYTES {
                rx.try_recv().ok()
            } else {
                None
            };
        }
        if let Some(o) = outgoing.as_mut() {
            let chunk = frame::next_chunk(&o.data, o.sent);
            frame::encode_body(cluster_id, o.from, &chunk, &mut buf);
            o.sent += frame::CHUNK_LEN;
            if o.sent >= o.data.len() {
                outgoing = None;
            }
        }
        if let Some((_, stream)) = conn.as_mut() {
            if let Err(e) = stream.write_all(&buf).await {
                tracing::info!(to, %addr, error = %e, "peer connection lost");
                conn = None;
            }
        }
    }
}
/// Appends the frame of `m` to `buf`; a large snapshot becomes its start frame and the transfer
/// under way, unless it is the very snapshot already under way (the leader re-sends it every
/// heartbeat round until the follower answers, which must not restart a long transfer).
fn encode_into(cluster_id: u64, m: Message, outgoing: &mut Option<Outgoing>, buf: &mut Vec<u8>) {
    let id = snapshot_id(&m);
    if id.is_some() && outgoing.as_ref().map(|o| o.id) == id {
        return;
    }
    let from = m.from;
    let (body, data) = frame::split(m);
    if let (FrameBody::SnapshotStart { .. }, Some(id)) = (&body, id) {
        *outgoing = Some(Outgoing {
            id,
            from,
            data,
            sent: 0,
        });
    }
    frame::encode_body(cluster_id, from, &body, buf);
}

fn note_failure(failing: &mut bool, to: NodeId, addr: &str, why: &str) {
    // Logged once per outage, not once per retry.
    if !*failing {
        tracing::warn!(to, %addr, error = why, "cannot connect to peer; retrying with backoff");
    }
    *failing = true;
}

/// Accepts peer connections on `listener` and hands every valid message from an admitted sender
/// to `inbox`.
pub async fn serve(
    listener: TcpListener,
    cluster_id: u64,
    admit: Admit,
    inbox: mpsc::Sender<Message>,
) {
    loop {
        match listener.accept().await {
            Ok((stream, addr)) => {
                let _ = stream.set_nodelay(true);
                let conn = read_loop(stream, addr, cluster_id, admit.clone(), inbox.clone());
                tokio::spawn(conn);
            }
            Err(e) => {
                tracing::warn!(error = %e, "accepting a peer connection failed");
                tokio::time::sleep(BACKOFF_MIN).await;
            }
        }
    }
}

async fn read_loop(
    stream: TcpStream,
    addr: SocketAddr,
    cluster_id: u64,
    admit: Admit,
    inbox: mpsc::Sender<Message>,
) {
    let mut reader = tokio::io::BufReader::with_capacity(64 << 10, stream);
    let mut buf = Vec::new();
    let mut assembler = Assembler::default();
    loop {
        let frame = frame::read_frame(&mut reader, cluster_id, &mut buf).await;
        let message = match frame {
            Ok((sender, _)) if !admit(sender) => {
                tracing::warn!(%addr, sender, "closing peer connection: sender is not a member");
                return;
            }
            Ok((sender, body)) => assembler
                .push(sender, body)
                .map_err(frame::ReadError::Frame),
            Err(e) => Err(e),
        };
        match message {
            Ok(None) => {}
            Ok(Some(msg)) => {
                if inbox.send(msg).await.is_err() {
                    return; // The node is shutting down.
                }
            }
            Err(frame::ReadError::Closed) => return,
            Err(frame::ReadError::Io(e)) => {
                tracing::debug!(%addr, error = %e, "peer connection closed");
                return;
            }
            Err(frame::ReadError::Frame(e)) => {
                tracing::warn!(%addr, error = %e, "closing peer connection: bad frame");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use raft_core::Body;
    use tokio::io::AsyncReadExt;

    fn msg(from: u64, to: u64) -> Message {
        Message {
            from,
            to,
            term: 3,
            body: Body::TimeoutNow,
        }
    }

    async fn listening(cluster_id: u64) -> (SocketAddr, mpsc::Receiver<Message>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(serve(listener, cluster_id, members_1_to_3(), tx));
        (addr, rx)
    }

    /// A transport of cluster 7 that knows node 1 at `addr`.
    fn sending_to_1(addr: SocketAddr) -> Transport {
        let book: AddressBook = Arc::new(RwLock::new(BTreeMap::from([(1, addr.to_string())])));
        Transport::new(7, book)
    }

    /// A snapshot of `len` bytes from 2 to 1.
    fn snapshot_to_1(len: usize) -> Message {
        let mut m = frame::tests::snapshot_message(len);
        (m.from, m.to) = (2, 1);
        m
    }

    fn members_1_to_3() -> Admit {
        Arc::new(|id| (1..=3).contains(&id))
    }

    #[tokio::test]
    async fn a_bad_frame_closes_only_its_connection() {
        let (addr, mut inbox) = listening(7).await;
        let mut good = TcpStream::connect(addr).await.unwrap();
        let mut bad = TcpStream::connect(addr).await.unwrap();
        let mut foreign = TcpStream::connect(addr).await.unwrap();
        let mut stranger = TcpStream::connect(addr).await.unwrap();

        // Garbage: a plausible length followed by bytes that fail the checksum.
        let mut garbage = 40u32.to_be_bytes().to_vec();
        garbage.extend_from_slice(&[0xab; 40]);
        bad.write_all(&garbage).await.unwrap();
        // A well-formed frame of another cluster.
        let mut frame_buf = Vec::new();
        frame::encode(8, msg(2, 1), &mut frame_buf);
        foreign.write_all(&frame_buf).await.unwrap();
        // A well-formed frame from a server outside the configuration.
        frame_buf.clear();
        frame::encode(7, msg(9, 1), &mut frame_buf);
        stranger.write_all(&frame_buf).await.unwrap();

        let mut byte = [0u8; 1];
        let closed = tokio::time::timeout(Duration::from_secs(5), bad.read(&mut byte)).await;
        assert!(
            matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
            "bad connection not closed"
        );
        let closed = tokio::time::timeout(Duration::from_secs(5), foreign.read(&mut byte)).await;
        assert!(
            matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
            "foreign connection not closed"
        );
        let closed = tokio::time::timeout(Duration::from_secs(5), stranger.read(&mut byte)).await;
        assert!(
            matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
            "non-member connection not closed"
        );

        frame_buf.clear();
        frame::encode(7, msg(2, 1), &mut frame_buf);
        good.write_all(&frame_buf).await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(5), inbox.recv())
            .await
            .unwrap();
        assert_eq!(got, Some(msg(2, 1)));
    }

    #[tokio::test]
    async fn sender_reconnects_after_the_peer_restarts() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let transport = sending_to_1(addr);
        let (tx, mut inbox) = mpsc::channel(16);
        let server = tokio::spawn(serve(listener, 7, members_1_to_3(), tx));
        transport.send(msg(2, 1));
        let got = tokio::time::timeout(Duration::from_secs(5), inbox.recv()).await;
        assert_eq!(got.unwrap(), Some(msg(2, 1)));

        // The peer goes away and comes back on the same address.
        server.abort();
        drop(inbox);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let listener = TcpListener::bind(addr).await.unwrap();
        let (tx, mut inbox) = mpsc::channel(16);
        tokio::spawn(serve(listener, 7, members_1_to_3(), tx));
        // Messages sent while the old connection is found dead may be lost; keep sending until
        // one arrives, as Raft's heartbeats do.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            transport.send(msg(2, 1));
            if let Ok(Some(m)) =
                tokio::time::timeout(Duration::from_millis(100), inbox.recv()).await
            {
                assert_eq!(m, msg(2, 1));
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "never reconnected");
        }
    }

    #[tokio::test]
    async fn a_large_snapshot_arrives_whole_with_heartbeats_between_its_chunks() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let transport = sending_to_1(addr);
        let (tx, mut inbox) = mpsc::channel(64);
        tokio::spawn(serve(listener, 7, members_1_to_3(), tx));

        let snapshot = snapshot_to_1(7 * frame::CHUNK_LEN / 2);
        transport.send(snapshot.clone());
        // The same snapshot again (as the leader re-sends it) must not restart the transfer.
        transport.send(snapshot.clone());
        let mut got = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !got.contains(&snapshot) {
            transport.send(msg(2, 1));
            if let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(20), inbox.recv()).await
            {
                got.push(m);
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "snapshot never arrived"
            );
        }
        assert_eq!(got.iter().filter(|m| **m == snapshot).count(), 1);
        assert!(
            got.iter().position(|m| *m == snapshot) > Some(0),
            "no heartbeat overtook the 4-chunk snapshot"
        );
    }

    #[tokio::test]
    async fn a_transfer_cut_by_a_lost_connection_completes_when_the_leader_resends() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let transport = sending_to_1(addr);
        let snapshot = snapshot_to_1(3 * frame::CHUNK_LEN);
        transport.send(snapshot.clone());
        // The first connection dies after part of the first chunk.
        let (mut first, _) = listener.accept().await.unwrap();
        let mut part = vec![0u8; 64 << 10];
        first.read_exact(&mut part).await.unwrap();
        drop(first);
        let (tx, mut inbox) = mpsc::channel(16);
        tokio::spawn(serve(listener, 7, members_1_to_3(), tx));
        // The leader re-sends every heartbeat round until the follower answers.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            transport.send(snapshot.clone());
            if let Ok(Some(m)) =
                tokio::time::timeout(Duration::from_millis(100), inbox.recv()).await
            {
                assert_eq!(m, snapshot);
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "never completed");
        }
    }
}
