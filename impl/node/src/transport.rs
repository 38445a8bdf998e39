//! Peer transport: Raft messages over TCP, one frame per message (see [`crate::frame`]).
//!
//! Each node keeps one outgoing connection per peer, owned by a writer task fed through a bounded
//! queue; incoming connections are read by one task each and feed the node loop. Sending never
//! blocks the node loop: when a peer's queue is full or its connection is down, messages are
//! dropped, which Raft tolerates (the leader retries on its next heartbeat). A writer reconnects
//! with exponential backoff. A frame that fails to decode, carries another cluster's id or
//! disagrees about its sender closes that one connection and is logged; nothing else is affected.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use raft_impl::{Message, NodeId};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::frame;

/// Messages queued per peer before new ones are dropped.
const QUEUE_LEN: usize = 4096;
const BACKOFF_MIN: Duration = Duration::from_millis(20);
const BACKOFF_MAX: Duration = Duration::from_secs(1);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Bytes gathered into one write when several messages are queued.
const WRITE_BATCH_BYTES: usize = 1 << 20;

/// Peer id to peer address, shared with the node loop, which updates it as members come and go.
pub type AddressBook = Arc<RwLock<BTreeMap<NodeId, String>>>;

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
    while let Some(first) = rx.recv().await {
        let addr = addresses
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&to)
            .cloned();
        let Some(addr) = addr else {
            tracing::debug!(to, "no address known for peer, message dropped");
            continue;
        };
        // The member may have moved (removed and added again at another address).
        if conn.as_ref().is_some_and(|(a, _)| *a != addr) {
            conn = None;
        }
        if conn.is_none() {
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
        frame::encode(cluster_id, &first, &mut buf);
        while buf.len() < WRITE_BATCH_BYTES {
            match rx.try_recv() {
                Ok(m) => frame::encode(cluster_id, &m, &mut buf),
                Err(_) => break,
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

fn note_failure(failing: &mut bool, to: NodeId, addr: &str, why: &str) {
    // Logged once per outage, not once per retry.
    if !*failing {
        tracing::warn!(to, %addr, error = why, "cannot connect to peer; retrying with backoff");
    }
    *failing = true;
}

/// Accepts peer connections on `listener` and hands every valid message to `inbox`.
pub async fn serve(listener: TcpListener, cluster_id: u64, inbox: mpsc::Sender<Message>) {
    loop {
        match listener.accept().await {
            Ok((stream, addr)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(read_loop(stream, addr, cluster_id, inbox.clone()));
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
    inbox: mpsc::Sender<Message>,
) {
    let mut reader = tokio::io::BufReader::with_capacity(64 << 10, stream);
    let mut buf = Vec::new();
    loop {
        match frame::read_frame(&mut reader, cluster_id, &mut buf).await {
            Ok(msg) => {
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
    use raft_impl::Body;
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
        tokio::spawn(serve(listener, cluster_id, tx));
        (addr, rx)
    }

    #[tokio::test]
    async fn a_bad_frame_closes_only_its_connection() {
        let (addr, mut inbox) = listening(7).await;
        let mut good = TcpStream::connect(addr).await.unwrap();
        let mut bad = TcpStream::connect(addr).await.unwrap();
        let mut foreign = TcpStream::connect(addr).await.unwrap();

        // Garbage: a plausible length followed by bytes that fail the checksum.
        let mut garbage = 40u32.to_be_bytes().to_vec();
        garbage.extend_from_slice(&[0xab; 40]);
        bad.write_all(&garbage).await.unwrap();
        // A well-formed frame of another cluster.
        let mut frame_buf = Vec::new();
        frame::encode(8, &msg(2, 1), &mut frame_buf);
        foreign.write_all(&frame_buf).await.unwrap();

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

        frame_buf.clear();
        frame::encode(7, &msg(2, 1), &mut frame_buf);
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
        let book: AddressBook = Arc::new(RwLock::new(BTreeMap::from([(1, addr.to_string())])));
        let transport = Transport::new(7, book);
        let (tx, mut inbox) = mpsc::channel(16);
        let server = tokio::spawn(serve(listener, 7, tx));
        transport.send(msg(2, 1));
        let got = tokio::time::timeout(Duration::from_secs(5), inbox.recv()).await;
        assert_eq!(got.unwrap(), Some(msg(2, 1)));

        // The peer goes away and comes back on the same address.
        server.abort();
        drop(inbox);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let listener = TcpListener::bind(addr).await.unwrap();
        let (tx, mut inbox) = mpsc::channel(16);
        tokio::spawn(serve(listener, 7, tx));
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
}
