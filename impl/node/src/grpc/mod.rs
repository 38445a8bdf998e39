//! The client API: the etcd v3 gRPC subset (KV, Cluster, Maintenance.Status), served by tonic.
//!
//! Each call becomes a [`Request`] to the node loop and waits for its answer, bounded by the
//! request timeout. A node that is not the leader forwards writes and linearizable reads to the
//! leader's client address (marked so that a forwarded call is never forwarded again), so any
//! member can be given to a client as its endpoint.

mod cluster;
// Public for the fuzz targets (impl/fuzz), which convert decoded requests; not a stable API.
#[doc(hidden)]
pub mod convert;
mod kv;
mod maintenance;
mod members;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use raft_core::NodeId;
use tokio::sync::{mpsc, oneshot, watch};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

use crate::kv::{Applied, Op};
use crate::node_loop::{ApiError, NodeStatus, Request};
use crate::proto::etcdserverpb::ResponseHeader;

pub use crate::proto::etcdserverpb::cluster_server::ClusterServer;
pub use crate::proto::etcdserverpb::kv_server::KvServer;
pub use crate::proto::etcdserverpb::maintenance_server::MaintenanceServer;
pub use crate::proto::raftnode::members_server::MembersServer;

/// Metadata key set on calls a follower forwards to the leader.
const FORWARDED: &str = "raft-node-forwarded";

/// State shared by the three services.
#[derive(Clone)]
pub struct Api {
    inner: Arc<Inner>,
}

struct Inner {
    cluster_id: u64,
    requests: mpsc::Sender<Request>,
    status: watch::Receiver<NodeStatus>,
    timeout: Duration,
    channels: Mutex<HashMap<String, Channel>>,
}

impl Api {
    pub fn new(
        cluster_id: u64,
        requests: mpsc::Sender<Request>,
        status: watch::Receiver<NodeStatus>,
        timeout: Duration,
    ) -> Api {
        Api {
            inner: Arc::new(Inner {
                cluster_id,
                requests,
                status,
                timeout,
                channels: Mutex::new(HashMap::new()),
            }),
        }
    }

    pub fn status(&self) -> NodeStatus {
        self.inner.status.borrow().clone()
    }

    fn header(&self, revision: i64) -> Option<ResponseHeader> {
        let s = self.inner.status.borrow();
        Some(ResponseHeader {
            cluster_id: self.inner.cluster_id,
            member_id: s.id,
            revision,
            raft_term: s.term,
        })
    }

    async fn send(&self, r: Request) -> Result<(), ApiError> {
        self.inner
            .requests
            .send(r)
            .await
            .map_err(|_| ApiError::Stopped)
    }

    /// The node loop's answer on `rx`, or `Unavailable` once the request timeout passed.
    async fn answer<T>(&self, rx: oneshot::Receiver<T>) -> Result<T, Status> {
        match tokio::time::timeout(self.inner.timeout, rx).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(_)) => Err(to_status(ApiError::Stopped)),
            Err(_) => Err(Status::new(
                Code::Unavailable,
                "etcdserver: request timed out",
            )),
        }
    }

    async fn wait<T>(&self, rx: oneshot::Receiver<Result<T, ApiError>>) -> Result<T, Status> {
        self.answer(rx).await?.map_err(to_status)
    }

    /// Replicates `op`; `Err(ApiError::NotLeader)` is returned as such so that the caller can
    /// forward.
    async fn write(&self, op: Op) -> Result<Result<Applied, ApiError>, Status> {
        let (reply, rx) = oneshot::channel();
        if let Err(e) = self.send(Request::Write { op, reply }).await {
            return Err(to_status(e));
        }
        self.answer(rx).await
    }

    /// Runs `f` against the state machine: at once if `serializable`, else after ReadIndex.
    async fn read<T: Send + 'static>(
        &self,
        serializable: bool,
        f: impl FnOnce(&crate::kv::Kv) -> T + Send + 'static,
    ) -> Result<Result<T, ApiError>, Status> {
        let (tx, rx) = oneshot::channel();
        let f = Box::new(move |kv: Result<&crate::kv::Kv, ApiError>| {
            let _ = tx.send(kv.map(f));
        });
        if let Err(e) = self.send(Request::Read { serializable, f }).await {
            return Err(to_status(e));
        }
        self.answer(rx).await
    }

    async fn reconfigure(
        &self,
        change: impl Fn(&raft_core::Membership) -> Result<raft_core::Membership, Status>,
    ) -> Result<u64, Status> {
        // A previous change may still be finishing (C(old,new) -> C(new)); retry briefly.
        let mut last = Status::unavailable("etcdserver: configuration change did not start");
        for _ in 0..50 {
            let next = change(&self.status().membership)?;
            let (reply, rx) = oneshot::channel();
            self.send(Request::Reconfigure {
                voters: next.voters,
                learners: next.learners,
                reply,
            })
            .await
            .map_err(to_status)?;
            match self.wait(rx).await {
                Ok(index) => return Ok(index),
                Err(s) if s.message().starts_with("busy") => last = s,
                Err(s) => return Err(s),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(last)
    }

    /// A channel to the leader's client address, when it is known and this call may be
    /// forwarded.
    fn leader_channel<T>(
        &self,
        req: &tonic::Request<T>,
        leader: Option<NodeId>,
    ) -> Result<Channel, Status> {
        if req.metadata().contains_key(FORWARDED) {
            return Err(Status::unavailable(
                "etcdserver: not leader (forwarded request reached a non-leader)",
            ));
        }
        let s = self.status();
        let Some(leader) = leader.or(s.leader).filter(|&l| l != s.id) else {
            return Err(Status::unavailable("etcdserver: no leader"));
        };
        let addr = s
            .members
            .get(&leader)
            .map(|m| m.client_addr.clone())
            .filter(|a| !a.is_empty())
            .ok_or_else(|| {
                Status::unavailable(format!(
                    "etcdserver: not leader; leader {leader:x} has no known client address"
                ))
            })?;
        let mut channels = self
            .inner
            .channels
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(c) = channels.get(&addr) {
            return Ok(c.clone());
        }
        let endpoint = Endpoint::from_shared(format!("http://{addr}"))
            .map_err(|e| Status::internal(format!("leader address {addr}: {e}")))?
            .connect_timeout(Duration::from_secs(1))
            .timeout(self.inner.timeout);
        let channel = endpoint.connect_lazy();
        channels.insert(addr, channel.clone());
        Ok(channel)
    }
}

/// Copies `req`'s message into a new request marked as forwarded.
fn forwarded<T: Clone>(req: &tonic::Request<T>) -> tonic::Request<T> {
    let mut out = tonic::Request::new(req.get_ref().clone());
    out.metadata_mut()
        .insert(FORWARDED, tonic::metadata::MetadataValue::from_static("1"));
    out
}

fn to_status(e: ApiError) -> Status {
    let msg = e.to_string();
    match e {
        ApiError::Invalid(_) => Status::invalid_argument(msg),
        _ => Status::unavailable(msg),
    }
}
