//! Node configuration: command-line flags, optionally layered over a TOML file, validated into
//! a [`NodeConfig`]. Flags win over the file.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use serde::Deserialize;

use crate::kv::MemberInfo;

#[derive(Parser, Debug, Default)]
#[command(
    name = "raft-node",
    version,
    about = "A replicated key-value server speaking the etcd v3 API"
)]
pub struct Flags {
    /// TOML file with any of the settings below (flag names with '_' for '-').
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// This node's id (a positive integer, unique in the cluster).
    #[arg(long)]
    pub id: Option<u64>,
    /// Human-readable name shown by `member list` (default: node-<id>).
    #[arg(long)]
    pub name: Option<String>,
    /// Shared by all members; frames carrying another cluster id are refused.
    #[arg(long)]
    pub cluster_id: Option<u64>,
    /// Directory for the write-ahead log and snapshots.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Address the etcd-compatible gRPC API listens on.
    #[arg(long)]
    pub client_addr: Option<String>,
    /// Address peers connect to.
    #[arg(long)]
    pub peer_addr: Option<String>,
    /// The initial members: `ID=PEER_ADDR/CLIENT_ADDR` separated by commas, this node included
    /// (unless --join).
    #[arg(long)]
    pub initial_cluster: Option<String>,
    /// Start with no configuration and wait to be added by `member add` (the initial cluster
    /// then lists the existing members, for their addresses).
    #[arg(long)]
    pub join: bool,
    /// Length of one Raft tick in milliseconds.
    #[arg(long)]
    pub tick_ms: Option<u64>,
    /// Election timeout range in milliseconds, `MIN-MAX` (e.g. 1000-2000); rounded to ticks.
    #[arg(long)]
    pub election_timeout_ms: Option<String>,
    /// Leader heartbeat interval in ticks.
    #[arg(long)]
    pub heartbeat_ticks: Option<u64>,
    /// Snapshot the state machine after this many applied entries (0: never; default 100000).
    #[arg(long)]
    pub snapshot_threshold: Option<u64>,
    /// How long a client request may wait for commit, in milliseconds.
    #[arg(long)]
    pub request_timeout_ms: Option<u64>,
}

/// The TOML file: the same settings as the flags.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    id: Option<u64>,
    name: Option<String>,
    cluster_id: Option<u64>,
    data_dir: Option<PathBuf>,
    client_addr: Option<String>,
    peer_addr: Option<String>,
    initial_cluster: Option<String>,
    join: Option<bool>,
    tick_ms: Option<u64>,
    election_timeout_ms: Option<String>,
    heartbeat_ticks: Option<u64>,
    snapshot_threshold: Option<u64>,
    request_timeout_ms: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub id: u64,
    pub name: String,
    pub cluster_id: u64,
    pub data_dir: PathBuf,
    pub client_addr: SocketAddr,
    pub peer_addr: SocketAddr,
    pub members: Vec<MemberInfo>,
    pub join: bool,
    pub tick: Duration,
    pub election_ticks: (u64, u64),
    pub heartbeat_ticks: u64,
    pub snapshot_threshold: u64,
    pub request_timeout: Duration,
}

fn parse_addr(what: &str, s: &str) -> Result<SocketAddr, String> {
    s.parse()
        .map_err(|_| format!("{what}: '{s}' is not an IP:PORT address"))
}

/// Parses `ID=PEER/CLIENT,...`.
pub fn parse_members(s: &str) -> Result<Vec<MemberInfo>, String> {
    let mut out: Vec<MemberInfo> = Vec::new();
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (id, addrs) = item
            .split_once('=')
            .ok_or_else(|| format!("initial-cluster: '{item}' is not ID=PEER_ADDR/CLIENT_ADDR"))?;
        let id: u64 = id
            .trim()
            .parse()
            .ok()
            .filter(|&i| i > 0)
            .ok_or_else(|| format!("initial-cluster: '{id}' is not a positive integer id"))?;
        let (peer, client) = addrs
            .split_once('/')
            .ok_or_else(|| format!("initial-cluster: '{item}' is not ID=PEER_ADDR/CLIENT_ADDR"))?;
        parse_addr("initial-cluster", peer)?;
        parse_addr("initial-cluster", client)?;
        if out.iter().any(|m| m.id == id) {
            return Err(format!("initial-cluster: id {id} appears twice"));
        }
        out.push(MemberInfo {
            id,
            name: format!("node-{id}"),
            peer_addr: peer.to_string(),
            client_addr: client.to_string(),
        });
    }
    if out.is_empty() {
        return Err("initial-cluster: no members given".to_string());
    }
    Ok(out)
}

fn parse_range(s: &str) -> Result<(u64, u64), String> {
    let bad = || format!("election-timeout-ms: '{s}' is not MIN-MAX in milliseconds");
    let (a, b) = s.split_once('-').ok_or_else(bad)?;
    let a: u64 = a.trim().parse().map_err(|_| bad())?;
    let b: u64 = b.trim().parse().map_err(|_| bad())?;
    if a == 0 || b <= a {
        return Err(format!(
            "election-timeout-ms: need 0 < MIN < MAX, got {a}-{b}"
        ));
    }
    Ok((a, b))
}

impl NodeConfig {
    /// Merges the flags over the file they name (if any) and validates the result.
    pub fn load(flags: Flags) -> Result<NodeConfig, String> {
        let file = match &flags.config {
            None => FileConfig::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("config file {}: {e}", path.display()))?;
                toml::from_str(&text).map_err(|e| format!("config file {}: {e}", path.display()))?
            }
        };
        Self::merge(flags, file)
    }

    /// The settings of a TOML file's text with no flags over them, as `load` reads a file.
    /// Public for the fuzz targets (impl/fuzz); not a stable API.
    #[doc(hidden)]
    pub fn from_toml(text: &str) -> Result<NodeConfig, String> {
        let file = toml::from_str(text).map_err(|e| format!("config file: {e}"))?;
        Self::merge(Flags::default(), file)
    }

    fn merge(flags: Flags, file: FileConfig) -> Result<NodeConfig, String> {
        let id = flags
            .id
            .or(file.id)
            .ok_or("missing --id (or `id` in the config file)")?;
        if id == 0 {
            return Err("id must be a positive integer".to_string());
        }
        let data_dir = flags
            .data_dir
            .or(file.data_dir)
            .ok_or("missing --data-dir (or `data_dir` in the config file)")?;
        let client_addr = parse_addr(
            "client-addr",
            &flags
                .client_addr
                .or(file.client_addr)
                .unwrap_or_else(|| "127.0.0.1:2379".to_string()),
        )?;
        let peer_addr = parse_addr(
            "peer-addr",
            &flags
                .peer_addr
                .or(file.peer_addr)
                .unwrap_or_else(|| "127.0.0.1:2380".to_string()),
        )?;
        let join = flags.join || file.join.unwrap_or(false);
        let name = flags
            .name
            .or(file.name)
            .unwrap_or_else(|| format!("node-{id}"));
        let members = match flags.initial_cluster.or(file.initial_cluster) {
            Some(s) => parse_members(&s)?,
            None if join => {
                return Err(
                    "--join needs --initial-cluster listing the existing members".to_string(),
                )
            }
            None => vec![MemberInfo {
                id,
                name: name.clone(),
                peer_addr: peer_addr.to_string(),
                client_addr: client_addr.to_string(),
            }],
        };
        // The directory starts with default names on every member, so that it is the same
        // everywhere; a member with another name publishes it once running.
        match members.iter().find(|m| m.id == id) {
            Some(_) if !join => {}
            Some(_) => {
                return Err(format!(
                    "--join: id {id} is already in the initial cluster; a joining node must be new"
                ))
            }
            None if !join => {
                return Err(format!(
                    "this node's id {id} is not in --initial-cluster (use --join to join an existing cluster)"
                ))
            }
            None => {}
        }
        let tick_ms = flags.tick_ms.or(file.tick_ms).unwrap_or(100);
        if tick_ms == 0 {
            return Err("tick-ms must be positive".to_string());
        }
        let (emin, emax) = parse_range(
            &flags
                .election_timeout_ms
                .or(file.election_timeout_ms)
                .unwrap_or_else(|| "1000-2000".to_string()),
        )?;
        let election_ticks = ((emin / tick_ms).max(2), (emax / tick_ms).max(3));
        if election_ticks.1 <= election_ticks.0 {
            return Err(format!(
                "election-timeout-ms {emin}-{emax} spans less than one tick of {tick_ms} ms"
            ));
        }
        let heartbeat_ticks = flags
            .heartbeat_ticks
            .or(file.heartbeat_ticks)
            .unwrap_or(1.max(election_ticks.0 / 10));
        if heartbeat_ticks == 0 || heartbeat_ticks >= election_ticks.0 {
            return Err(format!(
                "heartbeat-ticks must be in 1..{} (below the minimum election timeout)",
                election_ticks.0
            ));
        }
        Ok(NodeConfig {
            id,
            name,
            cluster_id: flags.cluster_id.or(file.cluster_id).unwrap_or(1),
            data_dir,
            client_addr,
            peer_addr,
            members,
            join,
            tick: Duration::from_millis(tick_ms),
            election_ticks,
            heartbeat_ticks,
            snapshot_threshold: flags
                .snapshot_threshold
                .or(file.snapshot_threshold)
                .unwrap_or(100_000),
            request_timeout: Duration::from_millis(
                flags
                    .request_timeout_ms
                    .or(file.request_timeout_ms)
                    .unwrap_or(5_000),
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(args: &[&str]) -> Flags {
        let mut all = vec!["raft-node"];
        all.extend_from_slice(args);
        Flags::try_parse_from(all).unwrap()
    }

    #[test]
    fn minimal_flags_give_a_single_node() {
        let c = NodeConfig::load(flags(&["--id", "1", "--data-dir", "/tmp/x"])).unwrap();
        assert_eq!(c.members.len(), 1);
        assert_eq!(c.election_ticks, (10, 20));
    }

    #[test]
    fn bad_input_is_a_clear_error() {
        let err = |args: &[&str]| NodeConfig::load(flags(args)).unwrap_err();
        assert!(err(&["--data-dir", "d"]).contains("--id"));
        assert!(
            err(&["--id", "1", "--data-dir", "d", "--client-addr", "nope"]).contains("client-addr")
        );
        assert!(err(&[
            "--id",
            "4",
            "--data-dir",
            "d",
            "--initial-cluster",
            "1=127.0.0.1:1/127.0.0.1:2"
        ])
        .contains("not in --initial-cluster"));
        assert!(
            err(&["--id", "1", "--data-dir", "d", "--initial-cluster", "1=x"])
                .contains("ID=PEER_ADDR")
        );
        assert!(err(&[
            "--id",
            "1",
            "--data-dir",
            "d",
            "--election-timeout-ms",
            "500-100"
        ])
        .contains("MIN < MAX"));
    }

    #[test]
    fn file_settings_are_overridden_by_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        std::fs::write(
            &path,
            "id = 2\ndata_dir = \"/tmp/d\"\ntick_ms = 50\ninitial_cluster = \"1=127.0.0.1:1/127.0.0.1:2,2=127.0.0.1:3/127.0.0.1:4\"\n",
        )
        .unwrap();
        let c = NodeConfig::load(flags(&[
            "--config",
            path.to_str().unwrap(),
            "--tick-ms",
            "20",
        ]))
        .unwrap();
        assert_eq!(c.id, 2);
        assert_eq!(c.tick, Duration::from_millis(20));
        assert_eq!(c.members.len(), 2);
    }

    #[test]
    fn the_example_file_is_valid() {
        let example = concat!(env!("CARGO_MANIFEST_DIR"), "/node.example.toml");
        let c = NodeConfig::load(flags(&["--config", example])).unwrap();
        assert_eq!(c.members.len(), 3);
        assert_eq!(c.election_ticks, (10, 20));
    }

    #[test]
    fn unknown_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        std::fs::write(&path, "idd = 2\n").unwrap();
        let e = NodeConfig::load(flags(&["--config", path.to_str().unwrap()])).unwrap_err();
        assert!(e.contains("unknown field"), "{e}");
    }
}
