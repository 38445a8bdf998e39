//! A 3-node cluster inside the test process, driven through the gRPC API with the generated
//! client (no external tools needed): replication, forwarding from followers, group commit,
//! restart from disk.

use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use raft_node::config::{parse_members, NodeConfig};
use raft_node::node_loop::NodeStatus;
use raft_node::proto::etcdserverpb::kv_client::KvClient;
use raft_node::proto::etcdserverpb::{PutRequest, RangeRequest};
use raft_node::server;
use tokio::sync::watch;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Node {
    cfg: NodeConfig,
    stop: watch::Sender<bool>,
    status: watch::Receiver<NodeStatus>,
    done: tokio::task::JoinHandle<Result<(), String>>,
}

fn configs(dir: &Path, n: u64) -> Vec<NodeConfig> {
    let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port(), free_port())).collect();
    let cluster = ports
        .iter()
        .enumerate()
        .map(|(i, (p, c))| format!("{}=127.0.0.1:{p}/127.0.0.1:{c}", i + 1))
        .collect::<Vec<_>>()
        .join(",");
    let members = parse_members(&cluster).unwrap();
    members
        .iter()
        .map(|m| NodeConfig {
            id: m.id,
            name: m.name.clone(),
            cluster_id: 9,
            data_dir: dir.join(format!("node{}", m.id)),
            client_addr: m.client_addr.parse().unwrap(),
            peer_addr: m.peer_addr.parse().unwrap(),
            members: members.clone(),
            join: false,
            tick: Duration::from_millis(20),
            election_ticks: (10, 20),
            heartbeat_ticks: 2,
            snapshot_threshold: 50,
            request_timeout: Duration::from_secs(5),
        })
        .collect()
}

async fn start(cfg: NodeConfig) -> Node {
    let (stop, rx) = watch::channel(false);
    let started = server::start(cfg.clone(), rx).await.unwrap();
    Node {
        cfg,
        stop,
        status: started.status,
        done: started.done,
    }
}

async fn stop(node: Node) -> NodeConfig {
    node.stop.send(true).unwrap();
    let r = tokio::time::timeout(Duration::from_secs(10), node.done)
        .await
        .expect("node did not stop");
    r.unwrap().unwrap();
    node.cfg
}

async fn wait_leader(nodes: &[Node], timeout: Duration) -> usize {
    let deadline = Instant::now() + timeout;
    loop {
        for (i, n) in nodes.iter().enumerate() {
            if n.status.borrow().role == raft_core::Role::Leader {
                return i;
            }
        }
        assert!(Instant::now() < deadline, "no leader elected");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn client(n: &Node) -> KvClient<tonic::transport::Channel> {
    KvClient::connect(format!("http://{}", n.cfg.client_addr))
        .await
        .unwrap()
}

async fn get(
    c: &mut KvClient<tonic::transport::Channel>,
    key: &str,
    serializable: bool,
) -> Option<Vec<u8>> {
    let r = c
        .range(RangeRequest {
            key: key.into(),
            serializable,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    r.kvs.into_iter().next().map(|kv| kv.value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicates_forwards_group_commits_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = Vec::new();
    for cfg in configs(dir.path(), 3) {
        nodes.push(start(cfg).await);
    }
    let leader = wait_leader(&nodes, Duration::from_secs(10)).await;
    let follower = (leader + 1) % 3;

    // Writes through a follower are forwarded to the leader.
    let mut fc = client(&nodes[follower]).await;
    let put = fc
        .put(PutRequest {
            key: b"via-follower".to_vec(),
            value: b"1".to_vec(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(put.header.unwrap().revision, 1);
    // A linearizable read on a follower (forwarded) sees it.
    assert_eq!(
        get(&mut fc, "via-follower", false).await,
        Some(b"1".to_vec())
    );

    // Stop a follower; the writes below go on without it, and the leader compacts its log
    // past what the follower holds, so that the follower must catch up from a snapshot.
    let f = nodes.remove(follower);
    let follower_cfg = stop(f).await;
    let leader = nodes
        .iter()
        .position(|n| n.status.borrow().role == raft_core::Role::Leader)
        .expect("the leader is still leader");

    // Many concurrent writes: fewer fsyncs than writes (group commit).
    let syncs_before = nodes[leader].status.borrow().wal_syncs;
    let lc = client(&nodes[leader]).await;
    let writes = 200;
    let mut tasks = Vec::new();
    for i in 0..writes {
        let mut c = lc.clone();
        tasks.push(tokio::spawn(async move {
            c.put(PutRequest {
                key: format!("k{i:03}").into_bytes(),
                value: vec![b'v'; 256],
                ..Default::default()
            })
            .await
            .map(|_| ())
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let syncs = nodes[leader].status.borrow().wal_syncs - syncs_before;
    assert!(
        syncs < writes,
        "{syncs} fsyncs for {writes} writes: no group commit"
    );
    // 201 entries and a threshold of 50: the leader compacts its log into a snapshot file (in
    // the turn after the one that applied the writes, so allow it a moment).
    let leader_id = nodes[leader].cfg.id;
    let snap_dir = dir.path().join(format!("node{leader_id}/snap"));
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::read_dir(&snap_dir).unwrap().next().is_none() {
        assert!(Instant::now() < deadline, "no snapshot file written");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Restart the follower from its data directory: it comes back with every write (through
    // InstallSnapshot, the leader having compacted the entries it lacks).
    let restarted = start(follower_cfg).await;
    let mut rc = client(&restarted).await;
    let target = nodes
        .iter()
        .map(|n| n.status.borrow().commit)
        .max()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if restarted.status.borrow().applied >= target {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "restarted follower did not catch up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for i in 0..writes {
        let key = format!("k{i:03}");
        assert_eq!(
            get(&mut rc, &key, true).await.map(|v| v.len()),
            Some(256),
            "{key}"
        );
    }
    assert_eq!(
        get(&mut rc, "via-follower", true).await,
        Some(b"1".to_vec())
    );
    nodes.push(restarted);
    for n in nodes {
        stop(n).await;
    }
}
