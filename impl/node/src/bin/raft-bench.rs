//! Closed-loop put benchmark: a 3-node raft-node cluster and a 3-member etcd cluster, both on
//! loopback with fsync on, driven in the same run by the same client (the etcd v3 KV API through
//! the generated tonic client). Reports throughput and p50/p99/p99.9 latency per concurrency
//! level, the ratios raft-node / etcd, and the disk's fdatasync latency.
//!
//! Usage: raft-bench [--clients 1,16,256] [--seconds 5] [--etcd PATH | --no-etcd] [--dir DIR]
//!
//! Every process it starts is killed when it ends, on success or failure.

use std::fs::File;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use raft_node::proto::etcdserverpb::kv_client::KvClient;
use raft_node::proto::etcdserverpb::maintenance_client::MaintenanceClient;
use raft_node::proto::etcdserverpb::{PutRequest, StatusRequest};
use tonic::transport::Channel;

#[derive(Parser)]
#[command(
    name = "raft-bench",
    about = "Closed-loop put benchmark: raft-node against etcd"
)]
struct Args {
    /// Concurrency levels, comma-separated.
    #[arg(long, default_value = "1,16,256")]
    clients: String,
    /// Measured seconds per level (after one second of warm-up).
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// The etcd server binary (Debian package etcd-server).
    #[arg(long, default_value = "etcd")]
    etcd: String,
    /// Skip the etcd comparison.
    #[arg(long)]
    no_etcd: bool,
    /// The raft-node binary (default: next to this one).
    #[arg(long)]
    raft_node: Option<PathBuf>,
    /// Where data directories go (default: a new temporary directory, removed at the end).
    #[arg(long)]
    dir: Option<PathBuf>,
}

const KEY_BYTES: usize = 8;
const VALUE_BYTES: usize = 256;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// Child processes, killed on drop.
struct Cluster {
    name: &'static str,
    children: Vec<Child>,
    endpoints: Vec<String>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn start_raft_node(bin: &Path, dir: &Path) -> Result<Cluster, String> {
    let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
    let initial = ports
        .iter()
        .enumerate()
        .map(|(i, (p, c))| format!("{}=127.0.0.1:{p}/127.0.0.1:{c}", i + 1))
        .collect::<Vec<_>>()
        .join(",");
    let mut cluster = Cluster {
        name: "raft-node",
        children: Vec::new(),
        endpoints: Vec::new(),
    };
    for (i, (p, c)) in ports.iter().enumerate() {
        let id = i + 1;
        let log =
            File::create(dir.join(format!("raft-node-{id}.log"))).map_err(|e| e.to_string())?;
        let child = Command::new(bin)
            .args(["--id", &id.to_string()])
            .args([
                "--data-dir",
                &dir.join(format!("raft-node-{id}")).display().to_string(),
            ])
            .args(["--client-addr", &format!("127.0.0.1:{c}")])
            .args(["--peer-addr", &format!("127.0.0.1:{p}")])
            .args(["--initial-cluster", &initial])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        cluster.children.push(child);
        cluster.endpoints.push(format!("127.0.0.1:{c}"));
    }
    Ok(cluster)
}

fn start_etcd(bin: &str, dir: &Path) -> Result<Cluster, String> {
    let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
    let initial = ports
        .iter()
        .enumerate()
        .map(|(i, (p, _))| format!("e{}=http://127.0.0.1:{p}", i + 1))
        .collect::<Vec<_>>()
        .join(",");
    let mut cluster = Cluster {
        name: "etcd",
        children: Vec::new(),
        endpoints: Vec::new(),
    };
    for (i, (p, c)) in ports.iter().enumerate() {
        let name = format!("e{}", i + 1);
        let log = File::create(dir.join(format!("etcd-{name}.log"))).map_err(|e| e.to_string())?;
        let client = format!("http://127.0.0.1:{c}");
        let peer = format!("http://127.0.0.1:{p}");
        let child = Command::new(bin)
            .args(["--name", &name])
            .args([
                "--data-dir",
                &dir.join(format!("etcd-{name}")).display().to_string(),
            ])
            .args([
                "--listen-client-urls",
                &client,
                "--advertise-client-urls",
                &client,
            ])
            .args([
                "--listen-peer-urls",
                &peer,
                "--initial-advertise-peer-urls",
                &peer,
            ])
            .args(["--initial-cluster", &initial])
            .args([
                "--initial-cluster-state",
                "new",
                "--initial-cluster-token",
                "bench",
            ])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start {bin}: {e}"))?;
        cluster.children.push(child);
        cluster.endpoints.push(format!("127.0.0.1:{c}"));
    }
    Ok(cluster)
}

/// Waits until some member reports a leader, and returns the leader's endpoint.
async fn leader_endpoint(cluster: &Cluster) -> Result<String, String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        for e in &cluster.endpoints {
            let Ok(mut c) = MaintenanceClient::connect(format!("http://{e}")).await else {
                continue;
            };
            let Ok(s) = c.status(StatusRequest {}).await else {
                continue;
            };
            let s = s.into_inner();
            let me = s.header.map(|h| h.member_id).unwrap_or(0);
            if s.leader != 0 && s.leader == me {
                return Ok(e.clone());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("{}: no leader within 30 s", cluster.name))
}

struct LevelResult {
    ops: u64,
    errors: u64,
    secs: f64,
    p50: Duration,
    p99: Duration,
    p999: Duration,
}

impl LevelResult {
    fn throughput(&self) -> f64 {
        self.ops as f64 / self.secs
    }
}

fn percentile(sorted: &[u64], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    Duration::from_nanos(sorted[i])
}

/// `clients` closed loops of puts against `endpoint` for one second of warm-up plus `secs`.
async fn run_level(
    endpoint: &str,
    clients: usize,
    secs: u64,
    prefix: u8,
) -> Result<LevelResult, String> {
    let channels = clients.clamp(1, 16);
    let mut kv = Vec::new();
    for _ in 0..channels {
        let ch = Channel::from_shared(format!("http://{endpoint}"))
            .map_err(|e| e.to_string())?
            .connect()
            .await
            .map_err(|e| format!("connect {endpoint}: {e}"))?;
        kv.push(KvClient::new(ch));
    }
    let counter = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let measure_from = start + Duration::from_secs(1);
    let end = measure_from + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for i in 0..clients {
        let mut client = kv[i % channels].clone();
        let counter = counter.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0u64;
            let value = vec![b'v'; VALUE_BYTES];
            loop {
                let now = Instant::now();
                if now >= end {
                    break;
                }
                // 8-byte keys: a one-byte run prefix and a 7-byte counter.
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let mut key = [0u8; KEY_BYTES];
                key[0] = prefix;
                key[1..].copy_from_slice(&n.to_be_bytes()[1..]);
                let r = client
                    .put(PutRequest {
                        key: key.to_vec(),
                        value: value.clone(),
                        ..Default::default()
                    })
                    .await;
                let done = Instant::now();
                if now >= measure_from && done <= end {
                    match r {
                        Ok(_) => lat.push((done - now).as_nanos() as u64),
                        Err(_) => errors += 1,
                    }
                }
            }
            (lat, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (lat, e) = t.await.map_err(|e| e.to_string())?;
        all.extend(lat);
        errors += e;
    }
    all.sort_unstable();
    Ok(LevelResult {
        ops: all.len() as u64,
        errors,
        secs: secs as f64,
        p50: percentile(&all, 0.50),
        p99: percentile(&all, 0.99),
        p999: percentile(&all, 0.999),
    })
}

/// fdatasync latency in the benchmark's data directory: 200 appends of 300 bytes (about one WAL
/// batch of one put) to a growing file, each followed by fdatasync; (p50, p99). With `busy`, a
/// spinning thread keeps one CPU out of its idle state meanwhile, as a loaded server does: on
/// virtual machines the wake-up from idle can dominate the latency of an idle probe.
fn fsync_latency(dir: &Path, busy: bool) -> Result<(Duration, Duration), String> {
    use std::sync::atomic::AtomicBool;
    let stop = Arc::new(AtomicBool::new(false));
    let spinner = busy.then(|| {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::hint::spin_loop();
            }
        })
    });
    let path = dir.join("fsync-probe");
    let result = (|| {
        let mut f = File::create(&path).map_err(|e| e.to_string())?;
        let buf = vec![0u8; 300];
        let mut lat = Vec::new();
        for _ in 0..200 {
            let t = Instant::now();
            f.write_all(&buf).map_err(|e| e.to_string())?;
            f.sync_data().map_err(|e| e.to_string())?;
            lat.push(t.elapsed().as_nanos() as u64);
        }
        lat.sort_unstable();
        Ok((percentile(&lat, 0.5), percentile(&lat, 0.99)))
    })();
    stop.store(true, Ordering::Relaxed);
    if let Some(s) = spinner {
        let _ = s.join();
    }
    let _ = std::fs::remove_file(&path);
    result
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

async fn bench(cluster: &Cluster, levels: &[usize], secs: u64) -> Result<Vec<LevelResult>, String> {
    let leader = leader_endpoint(cluster).await?;
    let mut out = Vec::new();
    for (i, &c) in levels.iter().enumerate() {
        let r = run_level(&leader, c, secs, i as u8 + 1).await?;
        println!(
            "{:<10} clients={:<4} ops/s={:>9.0} p50={:>7}ms p99={:>7}ms p99.9={:>7}ms ops={} errors={}",
            cluster.name,
            c,
            r.throughput(),
            ms(r.p50),
            ms(r.p99),
            ms(r.p999),
            r.ops,
            r.errors
        );
        out.push(r);
    }
    Ok(out)
}

async fn main_async(args: Args) -> Result<(), String> {
    let levels: Vec<usize> = args
        .clients
        .split(',')
        .map(|s| s.trim().parse::<usize>().ok().filter(|&n| n > 0))
        .collect::<Option<_>>()
        .ok_or_else(|| {
            format!(
                "--clients: '{}' is not a list of positive integers",
                args.clients
            )
        })?;
    let raft_bin = match args.raft_node {
        Some(p) => p,
        None => std::env::current_exe()
            .map_err(|e| e.to_string())?
            .with_file_name("raft-node"),
    };
    let tmp;
    let dir = match args.dir {
        Some(d) => {
            std::fs::create_dir_all(&d).map_err(|e| format!("{}: {e}", d.display()))?;
            d
        }
        None => {
            tmp = tempfile_dir()?;
            tmp.path().to_path_buf()
        }
    };
    let (a50, a99) = fsync_latency(&dir, false)?;
    let (b50, b99) = fsync_latency(&dir, true)?;
    println!(
        "disk ({}): append 300 B + fdatasync: idle p50={}ms p99={}ms; one CPU kept busy p50={}ms p99={}ms",
        dir.display(),
        ms(a50),
        ms(a99),
        ms(b50),
        ms(b99)
    );
    println!(
        "load: closed-loop puts, {KEY_BYTES}-byte keys, {VALUE_BYTES}-byte values, {} s per level after 1 s warm-up, clients on the leader",
        args.seconds
    );
    let raft = {
        let cluster = start_raft_node(&raft_bin, &dir)?;
        bench(&cluster, &levels, args.seconds).await?
    };
    let etcd_present = !args.no_etcd
        && Command::new(&args.etcd)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    if !etcd_present {
        println!(
            "etcd: not run ({})",
            if args.no_etcd {
                "--no-etcd"
            } else {
                "binary not found; Debian package etcd-server"
            }
        );
        return Ok(());
    }
    let etcd = {
        let cluster = start_etcd(&args.etcd, &dir)?;
        bench(&cluster, &levels, args.seconds).await?
    };
    println!(
        "ratios raft-node / etcd (throughput: higher is better for raft-node; latency: lower is)"
    );
    for ((c, r), e) in levels.iter().zip(&raft).zip(&etcd) {
        let ratio = |a: f64, b: f64| {
            if b > 0.0 {
                format!("{:.2}", a / b)
            } else {
                "n/a".into()
            }
        };
        println!(
            "clients={:<4} throughput={} p50={} p99={} p99.9={}",
            c,
            ratio(r.throughput(), e.throughput()),
            ratio(r.p50.as_secs_f64(), e.p50.as_secs_f64()),
            ratio(r.p99.as_secs_f64(), e.p99.as_secs_f64()),
            ratio(r.p999.as_secs_f64(), e.p999.as_secs_f64()),
        );
    }
    let _ = std::io::stdout().flush();
    Ok(())
}

/// A temporary directory under the system's temp dir, removed on drop.
fn tempfile_dir() -> Result<TempDir, String> {
    let base = std::env::temp_dir().join(format!("raft-bench-{}", std::process::id()));
    std::fs::create_dir_all(&base).map_err(|e| format!("{}: {e}", base.display()))?;
    Ok(TempDir(base))
}

struct TempDir(PathBuf);

impl TempDir {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("raft-bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(main_async(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("raft-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
