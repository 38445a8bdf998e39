//! Helpers shared by the tests that run `raft-node` processes and `etcdctl`.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const TICK_MS: u64 = 50;
pub const ELECTION_MS: (u64, u64) = (500, 1000);

pub fn etcdctl_present() -> bool {
    Command::new("etcdctl")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Member {
    pub id: u64,
    pub peer: u16,
    pub client: u16,
    /// Extra flags (e.g. --join).
    pub extra: Vec<String>,
}

impl Member {
    pub fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.client)
    }
}

/// The cluster's processes; each is killed when this is dropped.
pub struct Procs {
    pub dir: PathBuf,
    pub members: Vec<Member>,
    pub children: Vec<Option<Child>>,
}

impl Drop for Procs {
    fn drop(&mut self) {
        for c in self.children.iter_mut().flatten() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Procs {
    pub fn new(dir: &Path, n: u64) -> Procs {
        let members = (1..=n)
            .map(|id| Member {
                id,
                peer: free_port(),
                client: free_port(),
                extra: Vec::new(),
            })
            .collect();
        let mut p = Procs {
            dir: dir.to_path_buf(),
            members,
            children: Vec::new(),
        };
        for i in 0..n as usize {
            let child = p.spawn(i);
            p.children.push(Some(child));
        }
        p
    }

    pub fn initial_cluster(&self) -> String {
        // A joining member is not part of the initial cluster: it learns about itself from the
        // log.
        self.members
            .iter()
            .filter(|m| !m.extra.iter().any(|a| a == "--join"))
            .map(|m| format!("{}=127.0.0.1:{}/127.0.0.1:{}", m.id, m.peer, m.client))
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn spawn(&self, i: usize) -> Child {
        let m = &self.members[i];
        let log = std::fs::File::create(self.dir.join(format!("node{}.log", m.id))).unwrap();
        Command::new(env!("CARGO_BIN_EXE_raft-node"))
            .args(["--id", &m.id.to_string()])
            .args([
                "--data-dir",
                self.dir.join(format!("data{}", m.id)).to_str().unwrap(),
            ])
            .args(["--client-addr", &m.endpoint()])
            .args(["--peer-addr", &format!("127.0.0.1:{}", m.peer)])
            .args(["--initial-cluster", &self.initial_cluster()])
            .args(["--tick-ms", &TICK_MS.to_string()])
            .args([
                "--election-timeout-ms",
                &format!("{}-{}", ELECTION_MS.0, ELECTION_MS.1),
            ])
            .args(["--snapshot-threshold", "100"])
            .args(&m.extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start raft-node")
    }

    pub fn endpoints(&self) -> String {
        self.members
            .iter()
            .map(Member::endpoint)
            .collect::<Vec<_>>()
            .join(",")
    }
}

pub fn etcdctl(endpoints: &str, args: &[&str]) -> Output {
    etcdctl_stdin(endpoints, args, None)
}

pub fn etcdctl_stdin(endpoints: &str, args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write;
    let mut cmd = Command::new("etcdctl");
    cmd.env("ETCDCTL_API", "3")
        .args([
            "--endpoints",
            endpoints,
            "--dial-timeout=2s",
            "--command-timeout=5s",
        ])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run etcdctl");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "etcdctl failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// `endpoint status` of one endpoint: (member id, leader id, applied index), or None if it does
/// not answer.
pub fn status(endpoint: &str) -> Option<(u64, u64, u64)> {
    let out = etcdctl(endpoint, &["endpoint", "status", "-w", "json"]);
    if !out.status.success() {
        return None;
    }
    let v: Value = serde_json::from_slice(&out.stdout).ok()?;
    let s = &v[0]["Status"];
    Some((
        s["header"]["member_id"].as_u64()?,
        s["leader"].as_u64().unwrap_or(0),
        s["raftAppliedIndex"].as_u64().unwrap_or(0),
    ))
}

/// Polls until every given endpoint names the same leader, other than 0 and `not`.
pub fn wait_leader(endpoints: &[String], timeout: Duration, not: u64) -> Option<u64> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        let leaders: Vec<u64> = endpoints
            .iter()
            .filter_map(|e| status(e).map(|s| s.1))
            .collect();
        if leaders.len() == endpoints.len()
            && leaders[0] != 0
            && leaders[0] != not
            && leaders.iter().all(|&l| l == leaders[0])
        {
            return Some(leaders[0]);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

pub fn get_value(endpoint: &str, key: &str, serializable: bool) -> Option<String> {
    let consistency = if serializable { "s" } else { "l" };
    let out = etcdctl(
        endpoint,
        &[
            "get",
            key,
            "--print-value-only",
            &format!("--consistency={consistency}"),
        ],
    );
    let s = ok(&out);
    let v = s.trim_end_matches('\n');
    (!v.is_empty()).then(|| v.to_string())
}

/// Every key and value of one member's own state (a serializable read of the whole key space).
pub fn all_pairs(endpoint: &str) -> std::collections::BTreeMap<String, String> {
    let out = ok(&etcdctl(
        endpoint,
        &["get", "", "--from-key", "--consistency=s"],
    ));
    let lines: Vec<&str> = out.lines().collect();
    lines
        .chunks(2)
        .map(|kv| (kv[0].to_string(), kv.get(1).unwrap_or(&"").to_string()))
        .collect()
}
