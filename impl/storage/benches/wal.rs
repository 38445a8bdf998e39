//! Storage micro-benchmarks: the disk's fsync latency and the log's append throughput.
//!
//! Run with `cargo bench -p raft-storage --bench wal`. The files go to a temporary directory
//! under `WAL_BENCH_DIR` (default: the system temp directory); point it at the disk the log
//! will live on, since fsync cost is a property of the device and filesystem.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use raft_storage::wal::{Batch, Wal, WalEntry, WalOptions};

const FSYNC_ITERATIONS: usize = 200;
const ENTRY_BYTES: usize = 256;
/// Each throughput case runs for about this long (and at least 50 batches).
const CASE_TIME: Duration = Duration::from_secs(2);

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn fsync_latency(base: &std::path::Path) -> std::io::Result<()> {
    let dir = tempfile::tempdir_in(base)?;
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.path().join("fsync.bin"))?;
    let block = vec![0x5Au8; 4096];
    let mut samples = Vec::with_capacity(FSYNC_ITERATIONS);
    for _ in 0..FSYNC_ITERATIONS {
        let start = Instant::now();
        file.write_all(&block)?;
        file.sync_data()?;
        samples.push(start.elapsed());
    }
    samples.sort();
    println!(
        "fsync: write 4 KiB + fdatasync, {FSYNC_ITERATIONS} iterations: p50 {:.0} us, p99 {:.0} us, max {:.0} us",
        micros(percentile(&samples, 0.50)),
        micros(percentile(&samples, 0.99)),
        micros(samples[samples.len() - 1]),
    );
    Ok(())
}

fn append_throughput(
    base: &std::path::Path,
    per_batch: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir_in(base)?;
    let (mut wal, _) = Wal::open(dir.path(), WalOptions::default())?;
    let payload = vec![0xA5u8; ENTRY_BYTES];
    let mut index = 0u64;
    let mut batch = Batch::new();
    let mut latencies = Vec::new();
    let started = Instant::now();
    while started.elapsed() < CASE_TIME || latencies.len() < 50 {
        batch.clear();
        for _ in 0..per_batch {
            index += 1;
            batch.entry(WalEntry {
                index,
                term: 1,
                kind: 0,
                data: payload.clone(),
            });
        }
        let t = Instant::now();
        wal.append_batch(&batch)?;
        latencies.push(t.elapsed());
    }
    let elapsed = started.elapsed().as_secs_f64();
    let batches = latencies.len();
    latencies.sort();
    let entries = index as f64;
    println!(
        "append: {per_batch:>3} x {ENTRY_BYTES} B entries per batch: {batches} batches in {elapsed:.2} s, \
         {:.0} entries/s, {:.2} MB/s of payload, batch latency p50 {:.0} us p99 {:.0} us",
        entries / elapsed,
        entries * ENTRY_BYTES as f64 / elapsed / 1e6,
        micros(percentile(&latencies, 0.50)),
        micros(percentile(&latencies, 0.99)),
    );
    Ok(())
}

/// Group commit: `group` one-entry batches written, then one sync.
fn group_commit(base: &std::path::Path, group: usize) -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir_in(base)?;
    let (mut wal, _) = Wal::open(dir.path(), WalOptions::default())?;
    let payload = vec![0xA5u8; ENTRY_BYTES];
    let mut index = 0u64;
    let mut batch = Batch::new();
    let mut syncs = 0usize;
    let started = Instant::now();
    while started.elapsed() < CASE_TIME || syncs < 50 {
        for _ in 0..group {
            index += 1;
            batch.clear();
            batch.entry(WalEntry {
                index,
                term: 1,
                kind: 0,
                data: payload.clone(),
            });
            wal.write(&batch)?;
        }
        wal.sync()?;
        syncs += 1;
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "group commit: {group} one-entry batches per sync: {syncs} syncs in {elapsed:.2} s, {:.0} entries/s, {:.2} MB/s of payload",
        index as f64 / elapsed,
        index as f64 * ENTRY_BYTES as f64 / elapsed / 1e6,
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let base = std::env::var_os("WAL_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    println!("directory: {}", base.display());
    fsync_latency(&base)?;
    for per_batch in [1, 16, 256] {
        append_throughput(&base, per_batch)?;
    }
    group_commit(&base, 16)?;
    Ok(())
}
