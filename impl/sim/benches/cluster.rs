//! Throughput of the core alone: an in-process 3-server cluster (every extension on) on in-memory
//! storage and an in-memory network. Reports committed proposals per second with 1, 16 and 256
//! proposals outstanding, and entries per second replicated to a lagging follower.
//!
//! Run: `cargo bench -p raft-sim --bench cluster` (`BENCH_SECONDS` sets the time per figure).

use std::time::{Duration, Instant};

use raft_core::{Config, MemStorage, Message, Node};

struct Bench {
    nodes: Vec<Node>,
    stores: Vec<MemStorage>,
    net: Vec<Message>,
    /// Servers whose links are cut.
    cut: Vec<bool>,
    applied: Vec<u64>,
}

impl Bench {
    fn new() -> Bench {
        let stores = vec![MemStorage::new(); 3];
        let nodes = (0..3u64)
            .map(|i| Node::new(Config::new(i, 0..3), &stores[i as usize]))
            .collect();
        let mut b = Bench {
            nodes,
            stores,
            net: Vec::new(),
            cut: vec![false; 3],
            applied: vec![0; 3],
        };
        b.nodes[0].timeout();
        b.flush(0);
        b.pump();
        assert_eq!(b.nodes[0].role(), raft_core::Role::Leader);
        b
    }

    /// Persist, send, apply, advance (the Ready contract).
    fn flush(&mut self, i: usize) {
        while self.nodes[i].has_ready() {
            let rd = self.nodes[i].ready();
            self.stores[i].persist(&rd);
            for m in &rd.messages {
                if !self.cut[m.from as usize] && !self.cut[m.to as usize] {
                    self.net.push(m.clone());
                }
            }
            self.applied[i] += rd.committed_entries.len() as u64;
            self.nodes[i].advance(&rd);
        }
    }

    /// Delivers everything in flight, including the replies it causes.
    fn pump(&mut self) {
        while !self.net.is_empty() {
            let batch = std::mem::take(&mut self.net);
            for m in batch {
                let to = m.to as usize;
                self.nodes[to].step(m);
                self.flush(to);
            }
        }
    }
}

fn seconds() -> Duration {
    let s = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2.0);
    Duration::from_secs_f64(s)
}

/// Keeps `outstanding` proposals in flight: propose until that many are uncommitted, deliver one
/// round of messages, repeat. Returns committed proposals per second.
fn committed_per_second(outstanding: u64) -> f64 {
    let mut b = Bench::new();
    let payload = vec![0u8; 64];
    let start = Instant::now();
    let base = b.nodes[0].commit_index();
    let mut proposed = base;
    while start.elapsed() < seconds() {
        for _ in 0..64 {
            while proposed - b.nodes[0].commit_index() < outstanding {
                proposed = b.nodes[0].propose(payload.clone()).expect("leader");
            }
            b.flush(0);
            // One round: deliver what is in flight now (replies go out in the next round).
            let batch = std::mem::take(&mut b.net);
            for m in batch {
                let to = m.to as usize;
                b.nodes[to].step(m);
                b.flush(to);
            }
        }
    }
    let committed = b.nodes[0].commit_index() - base;
    committed as f64 / start.elapsed().as_secs_f64()
}

/// A follower cut off while the others commit `n` entries, then reconnected: entries per second
/// until it has them all.
fn lagging_follower_entries_per_second(n: u64) -> f64 {
    let mut b = Bench::new();
    b.cut[2] = true;
    let payload = vec![0u8; 64];
    for _ in 0..n / 1000 {
        for _ in 0..1000 {
            b.nodes[0].propose(payload.clone()).expect("leader");
        }
        b.flush(0);
        b.pump();
    }
    let target = b.nodes[0].last_index();
    let behind = target - b.nodes[2].last_index();
    b.cut[2] = false;
    let start = Instant::now();
    while b.nodes[2].last_index() < target {
        b.nodes[0].heartbeat();
        b.flush(0);
        b.pump();
    }
    behind as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    // `cargo test --benches` runs bench binaries with `--bench` absent: keep that quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    if quick {
        assert!(committed_per_second(16) > 0.0);
        return;
    }
    for outstanding in [1, 16, 256] {
        let rate = committed_per_second(outstanding);
        println!("committed proposals/s with {outstanding:>3} outstanding: {rate:>12.0}");
    }
    let rate = lagging_follower_entries_per_second(200_000);
    println!("entries/s replicated to a lagging follower:  {rate:>12.0}");
}
