//! Assembles a node: storage, core, state machine, transport, node loop and client API.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use raft_core::{Config, Membership, Node};
use raft_storage::DiskStorage;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use crate::config::NodeConfig;
use crate::grpc::{Api, ClusterServer, KvServer, MaintenanceServer, MembersServer};
use crate::kv::Kv;
use crate::node_loop::{LoopParams, NodeLoop, NodeStatus};
use crate::transport::{self, Transport};

/// A node that is up: its published status, and the task that ends when it stops.
pub struct Started {
    pub status: watch::Receiver<NodeStatus>,
    pub done: tokio::task::JoinHandle<Result<(), String>>,
}

/// Runs a node until `shutdown` turns true. Errors are reported to the caller with enough context
/// to act on (the file and offset of a corrupt log, the address that could not be bound).
pub async fn run(cfg: NodeConfig, shutdown: watch::Receiver<bool>) -> Result<(), String> {
    let started = start(cfg, shutdown).await?;
    started
        .done
        .await
        .map_err(|e| format!("node task failed: {e}"))?
}

/// Opens storage, binds the listeners and starts every task of a node; returns once it serves.
pub async fn start(cfg: NodeConfig, shutdown: watch::Receiver<bool>) -> Result<Started, String> {
    let (disk, mem) = DiskStorage::open(&cfg.data_dir)
        .map_err(|e| format!("cannot open storage in {}: {e}", cfg.data_dir.display()))?;
    let voters: Vec<u64> = if cfg.join {
        Vec::new()
    } else {
        cfg.members.iter().map(|m| m.id).collect()
    };
    let mut core_cfg = Config::new(cfg.id, voters.clone());
    core_cfg.initial = Membership::new(voters);
    core_cfg.election_ticks_min = cfg.election_ticks.0;
    core_cfg.election_ticks_max = cfg.election_ticks.1;
    core_cfg.heartbeat_ticks = cfg.heartbeat_ticks;
    // Different timeouts after every restart, so that two nodes that keep colliding in
    // elections do not collide forever.
    core_cfg.seed = cfg.id
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
    let kv = if mem.snapshot.index > 0 {
        Kv::restore(&mem.snapshot.data).map_err(|e| {
            format!(
                "snapshot at index {} in {} does not decode: {e}",
                mem.snapshot.index,
                cfg.data_dir.join("snap").display()
            )
        })?
    } else {
        Kv::new(cfg.members.clone())
    };
    let core = Node::new(core_cfg, &mem);
    tracing::info!(
        id = cfg.id,
        term = core.term(),
        last_index = core.last_index(),
        snapshot_index = mem.snapshot.index,
        "recovered from storage"
    );

    let peer_listener = TcpListener::bind(cfg.peer_addr)
        .await
        .map_err(|e| format!("cannot listen for peers on {}: {e}", cfg.peer_addr))?;
    let client_listener = TcpListener::bind(cfg.client_addr)
        .await
        .map_err(|e| format!("cannot listen for clients on {}: {e}", cfg.client_addr))?;

    let addresses = Arc::new(RwLock::new(BTreeMap::new()));
    let transport = Transport::new(cfg.cluster_id, addresses.clone());
    let (inbox_tx, inbox_rx) = mpsc::channel(8192);
    let (req_tx, req_rx) = mpsc::channel(8192);
    let params = LoopParams {
        tick: cfg.tick,
        snapshot_threshold: cfg.snapshot_threshold,
    };
    let (node_loop, status) = NodeLoop::new(core, disk, kv, transport, addresses, params);

    let status_rx = status.clone();
    // A server outside the configuration has no say (thesis 4.2.3: a removed server must not
    // disrupt the cluster), except the leader this node follows: a leader that removed itself
    // still replicates until the new configuration commits (thesis 4.2.2). A node that knows no
    // configuration yet (started with --join) accepts the leader's messages.
    let members = status.clone();
    let admit: transport::Admit = Arc::new(move |id| {
        let s = members.borrow();
        s.membership.contains(id) || s.leader == Some(id) || s.membership.members().is_empty()
    });
    let peers = tokio::spawn(transport::serve(
        peer_listener,
        cfg.cluster_id,
        admit,
        inbox_tx,
    ));
    let api = Api::new(cfg.cluster_id, req_tx, status, cfg.request_timeout);
    let incoming =
        tonic::transport::server::TcpIncoming::from_listener(client_listener, true, None)
            .map_err(|e| format!("client listener: {e}"))?;
    let mut grpc_shutdown = shutdown.clone();
    let grpc = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(KvServer::new(api.clone()))
            .add_service(ClusterServer::new(api.clone()))
            .add_service(MaintenanceServer::new(api.clone()))
            .add_service(MembersServer::new(api))
            .serve_with_incoming_shutdown(incoming, async move {
                let _ = grpc_shutdown.wait_for(|stop| *stop).await;
            }),
    );
    tracing::info!(id = cfg.id, client = %cfg.client_addr, peer = %cfg.peer_addr, "serving");

    let publisher = tokio::spawn(publish_self(cfg.clone(), status_rx.clone()));
    let done = tokio::spawn(async move {
        let result = node_loop.run(inbox_rx, req_rx, shutdown).await;
        peers.abort();
        publisher.abort();
        // In-flight client calls were answered by the loop as it stopped; give the server a
        // moment to flush them, without letting a stuck connection hold the shutdown.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), grpc).await;
        result.map_err(|e| format!("storage failed, stopping: {e}"))
    });
    Ok(Started {
        status: status_rx,
        done,
    })
}

/// Keeps this member's name and client address in the replicated directory. A member added by
/// `member add` has neither until it runs; it then asks the leader (through its own API, which
/// forwards) to record them.
async fn publish_self(cfg: NodeConfig, mut status: watch::Receiver<NodeStatus>) {
    use crate::proto::raftnode::members_client::MembersClient;
    use crate::proto::raftnode::PublishRequest;
    let client_addr = cfg.client_addr.to_string();
    loop {
        let stale = status
            .borrow_and_update()
            .members
            .get(&cfg.id)
            .is_some_and(|m| m.client_addr != client_addr || m.name != cfg.name);
        if stale {
            let req = PublishRequest {
                id: cfg.id,
                name: cfg.name.clone(),
                client_addr: client_addr.clone(),
            };
            match MembersClient::connect(format!("http://{client_addr}")).await {
                Ok(mut c) => {
                    if let Err(e) = c.publish(req).await {
                        tracing::debug!(error = %e, "publishing this member's address failed; will retry");
                    }
                }
                Err(e) => tracing::debug!(error = %e, "cannot reach own client API"),
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        } else if status.changed().await.is_err() {
            return;
        }
    }
}
