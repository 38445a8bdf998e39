//! Randomized cluster simulation: 5 servers under random delivery order, drops, duplicates,
//! partitions, restarts (also in the middle of a write, after a leader's AppendEntries went out
//! ahead of it: every other seed sends them early, as raft-node does), snapshots, configuration
//! changes, leadership transfers and reads. After
//! every step the five properties of the paper's Figure 3 are checked; after the schedule the
//! network heals and every committed entry must reach every server's state machine.
//!
//! `PROPTEST_CASES` sets the number of schedules per mode (default 1000); a failure shrinks to a
//! minimal schedule and prints it with its seed.

use std::collections::BTreeMap;

use proptest::prelude::*;
use raft_core::{Config, Entry, NodeId, Role};
use raft_sim::Cluster;

const N: u64 = 5;

#[derive(Clone, Debug)]
enum Action {
    Tick(NodeId),
    TickAll,
    Timeout(NodeId),
    Heartbeat(NodeId),
    Deliver(usize),
    Drop(usize),
    Duplicate(usize),
    Partition(u8),
    Heal,
    Restart(NodeId),
    CrashMidWrite(NodeId),
    Propose(NodeId, u8),
    Compact(NodeId),
    Reconfigure(NodeId, u8),
    Transfer(NodeId, NodeId),
    Read(NodeId),
}

fn action() -> impl Strategy<Value = Action> {
    let id = 0..N;
    prop_oneof![
        6 => id.clone().prop_map(Action::Tick),
        6 => Just(Action::TickAll),
        2 => id.clone().prop_map(Action::Timeout),
        3 => id.clone().prop_map(Action::Heartbeat),
        30 => any::<usize>().prop_map(Action::Deliver),
        3 => any::<usize>().prop_map(Action::Drop),
        2 => any::<usize>().prop_map(Action::Duplicate),
        1 => any::<u8>().prop_map(Action::Partition),
        1 => Just(Action::Heal),
        1 => id.clone().prop_map(Action::Restart),
        1 => id.clone().prop_map(Action::CrashMidWrite),
        6 => (id.clone(), any::<u8>()).prop_map(|(i, v)| Action::Propose(i, v)),
        1 => id.clone().prop_map(Action::Compact),
        1 => (id.clone(), any::<u8>()).prop_map(|(i, m)| Action::Reconfigure(i, m)),
        1 => (id.clone(), id.clone()).prop_map(|(i, t)| Action::Transfer(i, t)),
        1 => id.prop_map(Action::Read),
    ]
}

/// Ghost state for the properties that need history.
#[derive(Default)]
struct Checker {
    /// Election Safety: the leader of each term.
    leaders: BTreeMap<u64, NodeId>,
    /// Leader Append-Only: each current leader's log as of the previous step.
    leader_logs: BTreeMap<NodeId, (u64, Vec<Entry>)>,
    /// Every entry seen committed, with the highest term any server had when it was first seen.
    committed: BTreeMap<u64, (Entry, u64)>,
    /// Terms never decrease on a server, across restarts too.
    terms: BTreeMap<NodeId, u64>,
}

impl Checker {
    fn check(&mut self, c: &Cluster) -> Result<(), String> {
        if let Some(v) = &c.violation {
            return Err(v.clone());
        }
        let max_term = c.servers.values().map(|s| s.node.term()).max().unwrap_or(0);
        for (&id, s) in &c.servers {
            let n = &s.node;
            let last = self.terms.insert(id, n.term()).unwrap_or(0);
            if n.term() < last {
                return Err(format!("term of {id} went from {last} to {}", n.term()));
            }
            if n.commit_index() > n.last_index() {
                return Err(format!(
                    "{id}: commit {} beyond last {}",
                    n.commit_index(),
                    n.last_index()
                ));
            }
            // Election Safety.
            if n.role() == Role::Leader {
                let l = *self.leaders.entry(n.term()).or_insert(id);
                if l != id {
                    return Err(format!(
                        "Election Safety: {l} and {id} both lead term {}",
                        n.term()
                    ));
                }
            }
            // State Machine Safety on commit: one entry per committed index, ever.
            for e in n.entries().iter().filter(|e| e.index <= n.commit_index()) {
                match self.committed.get(&e.index) {
                    Some((prev, _)) if prev != e => {
                        return Err(format!(
                            "State Machine Safety: index {} committed as {prev:?} and {e:?}",
                            e.index
                        ));
                    }
                    Some(_) => {}
                    None => {
                        self.committed.insert(e.index, (e.clone(), max_term));
                    }
                }
            }
        }
        // Leader Append-Only.
        let mut logs = BTreeMap::new();
        for (&id, s) in &c.servers {
            let n = &s.node;
            if n.role() != Role::Leader {
                continue;
            }
            if let Some((term, old)) = self.leader_logs.get(&id) {
                if *term == n.term() {
                    for e in old.iter().filter(|e| e.index > n.snapshot().index) {
                        if n.entry(e.index) != Some(e) {
                            return Err(format!(
                                "Leader Append-Only: leader {id} lost or changed {e:?}"
                            ));
                        }
                    }
                }
            }
            logs.insert(id, (n.term(), n.entries().to_vec()));
        }
        self.leader_logs = logs;
        // Log Matching: same index and term means same entry and same preceding entry.
        let nodes: Vec<_> = c.servers.values().map(|s| &s.node).collect();
        for (k, a) in nodes.iter().enumerate() {
            for b in &nodes[k + 1..] {
                for e in a.entries() {
                    let Some(other) = b.entry(e.index) else {
                        continue;
                    };
                    if other.term != e.term {
                        continue;
                    }
                    if other != e {
                        return Err(format!(
                            "Log Matching: {} and {} differ at {}",
                            a.id(),
                            b.id(),
                            e.index
                        ));
                    }
                    if let (Some(x), Some(y)) = (a.term_at(e.index - 1), b.term_at(e.index - 1)) {
                        if x != y {
                            return Err(format!(
                                "Log Matching: {} and {} agree at {} but not before",
                                a.id(),
                                b.id(),
                                e.index
                            ));
                        }
                    }
                }
            }
        }
        // Leader Completeness: a leader elected after an entry was committed holds it.
        for n in &nodes {
            if n.role() != Role::Leader {
                continue;
            }
            for (&index, (e, seen_term)) in &self.committed {
                if n.term() > *seen_term && index > n.snapshot().index && n.entry(index) != Some(e)
                {
                    return Err(format!(
                        "Leader Completeness: leader {} of term {} lacks committed {e:?}",
                        n.id(),
                        n.term()
                    ));
                }
            }
        }
        Ok(())
    }
}

fn config(mode_full: bool, id: NodeId, seed: u64) -> Config {
    let mut cfg = if mode_full {
        Config::new(id, 0..N)
    } else {
        Config::basic(id, N)
    };
    cfg.seed = seed.wrapping_mul(31).wrapping_add(id);
    if mode_full {
        // Small bounds so that batching, pipelining limits and snapshots all come into play.
        cfg.max_entries_per_append = 3;
        cfg.max_inflight_msgs = 2;
    }
    cfg
}

/// What a schedule exercised, so a test can show the simulation is not vacuous.
#[derive(Default, Debug)]
struct Coverage {
    delivered: BTreeMap<&'static str, usize>,
    snapshots_restored: usize,
    joint_committed: usize,
    reads_released: usize,
    max_commit: u64,
    crashes_after_early_send: usize,
}

impl Coverage {
    fn observe(&mut self, c: &Cluster) {
        self.crashes_after_early_send = self
            .crashes_after_early_send
            .max(c.crashes_after_early_send);
        for s in c.servers.values() {
            self.max_commit = self.max_commit.max(s.node.commit_index());
            self.reads_released = self.reads_released.max(s.reads.len());
            if s.restored_from > 0 && s.node.snapshot().index > 0 {
                self.snapshots_restored += 1;
            }
            let joint_committed = s.node.entries().iter().any(|e| {
                e.index <= s.node.commit_index()
                    && matches!(&e.payload, raft_core::Payload::Config(m) if m.is_joint())
            });
            if joint_committed {
                self.joint_committed += 1;
            }
        }
    }
}

fn apply(c: &mut Cluster, a: &Action, next_read: &mut u64) {
    let len = c.network.len();
    match *a {
        Action::Tick(i) => {
            c.with(i, |n| n.tick());
        }
        Action::TickAll => c.tick_all(),
        Action::Timeout(i) => {
            c.with(i, |n| n.timeout());
        }
        Action::Heartbeat(i) => {
            c.with(i, |n| n.heartbeat());
        }
        Action::Deliver(k) if len > 0 => c.deliver(k % len),
        Action::Drop(k) if len > 0 => {
            c.network.remove(k % len);
        }
        Action::Duplicate(k) if len > 0 && len < 500 => {
            let m = c.network[k % len].clone();
            c.network.push(m);
        }
        Action::Partition(mask) => {
            c.heal();
            for a in 0..N {
                for b in a + 1..N {
                    if (mask >> a) & 1 != (mask >> b) & 1 {
                        c.cut.insert((a, b));
                    }
                }
            }
        }
        Action::Heal => c.heal(),
        Action::Restart(i) => c.restart(i),
        Action::CrashMidWrite(i) => c.crash_mid_write = Some(i),
        Action::Propose(i, v) => {
            c.with(i, |n| n.propose(vec![v]).ok());
        }
        Action::Compact(i) => {
            c.with(i, |n| {
                let at = n.applied_index();
                n.compact(at, vec![]).ok()
            });
        }
        Action::Reconfigure(i, mask) => {
            // Between 3 and 5 voters; everyone else stays on as a learner.
            let mut voters: Vec<NodeId> = (0..N).filter(|b| (mask >> b) & 1 == 1).collect();
            for extra in 0..N {
                if voters.len() >= 3 {
                    break;
                }
                if !voters.contains(&extra) {
                    voters.push(extra);
                }
            }
            let learners: Vec<NodeId> = (0..N).filter(|b| !voters.contains(b)).collect();
            c.with(i, |n| n.propose_membership(voters, learners).ok());
        }
        Action::Transfer(i, t) => {
            c.with(i, |n| n.transfer_leadership(t).ok());
        }
        Action::Read(i) => {
            *next_read += 1;
            let r = *next_read;
            c.with(i, |n| n.read_index(r).ok());
        }
        _ => {}
    }
}

/// Runs a schedule, checking the properties after every step, then heals the network and checks
/// that everything committed reaches every state machine and that a new proposal commits.
fn run(full: bool, seed: u64, actions: &[Action]) -> Result<(), String> {
    run_with(full, seed, actions, &mut Coverage::default())
}

fn run_with(full: bool, seed: u64, actions: &[Action], cov: &mut Coverage) -> Result<(), String> {
    let mut c = Cluster::new((0..N).map(|i| config(full, i, seed)));
    c.early_append = seed & 1 == 0;
    let mut checker = Checker::default();
    let mut next_read = 0;
    for (step, a) in actions.iter().enumerate() {
        if let Action::Deliver(k) = a {
            if let Some(m) = c.network.get(k % c.network.len().max(1)) {
                *cov.delivered.entry(m.kind()).or_default() += 1;
            }
        }
        apply(&mut c, a, &mut next_read);
        cov.observe(&c);
        checker
            .check(&c)
            .map_err(|e| format!("after step {step} ({a:?}): {e}"))?;
    }
    // Heal: the network works again and time passes. A proposal lost with a deposed leader's
    // uncommitted entries is made again to the next leader.
    c.heal();
    let mut proposed: Option<(u64, u64)> = None; // (leader term, index)
    for round in 0..400 {
        c.tick_all();
        c.deliver_all(20_000);
        checker
            .check(&c)
            .map_err(|e| format!("healing round {round}: {e}"))?;
        if let Some(l) = c.leader() {
            let term = c.node(l).term();
            if proposed.is_none_or(|(t, _)| t != term) {
                if let Some(index) = c.with(l, |n| n.propose(vec![0xAB]).ok()).flatten() {
                    proposed = Some((term, index));
                }
            }
        }
        let Some((term, index)) = proposed else {
            continue;
        };
        let committed = checker
            .committed
            .get(&index)
            .is_some_and(|(e, _)| e.term == term);
        let max_committed = checker.committed.keys().max().copied().unwrap_or(0);
        let all_applied = c
            .servers
            .values()
            .all(|s| s.restored_from + s.applied.len() as u64 >= max_committed);
        if committed && all_applied {
            return Ok(());
        }
    }
    let state: Vec<String> = c
        .servers
        .values()
        .map(|s| {
            format!(
                "{}: {:?} t{} commit {} last {} applied {}",
                s.node.id(),
                s.node.role(),
                s.node.term(),
                s.node.commit_index(),
                s.node.last_index(),
                s.restored_from + s.applied.len() as u64
            )
        })
        .collect();
    Err(format!(
        "no progress after healing (proposed {proposed:?}):\n{}",
        state.join("\n")
    ))
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        // Schedules are long: bound the time spent shrinking a failure.
        max_shrink_time: 120_000,
        ..ProptestConfig::default()
    })]

    #[test]
    fn five_servers_full_protocol_stay_safe_and_converge(
        seed in any::<u64>(),
        actions in prop::collection::vec(action(), 100..1500),
    ) {
        if let Err(e) = run(true, seed, &actions) {
            panic!("seed {seed}: {e}");
        }
    }

    #[test]
    fn five_servers_basic_mode_stay_safe_and_converge(
        seed in any::<u64>(),
        actions in prop::collection::vec(action(), 100..1500),
    ) {
        if let Err(e) = run(false, seed, &actions) {
            panic!("seed {seed}: {e}");
        }
    }
}

/// Liveness under a healed network: from a cold start, a leader within a bounded number of ticks,
/// and every proposal committed and applied everywhere.
#[test]
fn a_leader_is_elected_and_every_proposal_commits() {
    for full in [false, true] {
        for seed in 0..20 {
            let mut c = Cluster::new((0..N).map(|i| config(full, i, seed)));
            let max_ticks = 3 * c.node(0).config().election_ticks_max;
            let leader = c
                .elect(max_ticks)
                .unwrap_or_else(|| panic!("no leader, seed {seed}"));
            let mut last = 0;
            for v in 0..20u8 {
                last = c.with(leader, |n| n.propose(vec![v]).unwrap()).unwrap();
            }
            // Basic mode sends one entry per heartbeat, so it needs a round per entry.
            c.run(100);
            for s in c.servers.values() {
                assert!(
                    s.node.commit_index() >= last,
                    "full={full} seed {seed}: {} not committed",
                    s.node.id()
                );
                let values: Vec<u8> = c.applied_values(s.node.id()).iter().map(|v| v[0]).collect();
                assert_eq!(
                    values,
                    (0..20).collect::<Vec<u8>>(),
                    "full={full} seed {seed}"
                );
            }
        }
    }
}

/// The schedules do reach the interesting parts of the protocol: snapshots sent and installed,
/// joint configurations committed, reads released, transfers, fast-backtracking rejections.
#[test]
fn the_simulation_exercises_every_feature() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let mut cov = Coverage::default();
    for seed in 0..60 {
        let actions = prop::collection::vec(action(), 1000..1500)
            .new_tree(&mut runner)
            .unwrap()
            .current();
        run_with(true, seed, &actions, &mut cov).unwrap();
    }
    for kind in [
        "PreVote",
        "RequestVote",
        "AppendEntriesResponse",
        "InstallSnapshot",
        "TimeoutNow",
    ] {
        assert!(
            cov.delivered.get(kind).copied().unwrap_or(0) > 0,
            "{kind} never delivered: {cov:?}"
        );
    }
    assert!(cov.snapshots_restored > 0, "{cov:?}");
    assert!(cov.joint_committed > 0, "{cov:?}");
    assert!(cov.reads_released > 0, "{cov:?}");
    assert!(cov.max_commit >= 10, "{cov:?}");
    assert!(cov.crashes_after_early_send > 0, "{cov:?}");
    eprintln!("{cov:?}");
}

/// A leader that is the only voter commits its own entry as soon as it appends it. Its
/// AppendEntries may go out before its write, but not with a commit index that covers the
/// unwritten entry: a learner would apply it, the leader crash and lose it, and write another
/// entry at that index.
#[test]
fn an_early_append_never_announces_an_unwritten_commit() {
    let cfg = |id: NodeId| {
        let mut c = Config::new(id, [0]);
        c.initial = raft_core::Membership {
            voters: [0].into(),
            outgoing: Default::default(),
            learners: [1].into(),
        };
        c
    };
    let mut c = Cluster::new([cfg(0), cfg(1)]);
    c.early_append = true;
    assert_eq!(c.elect(100), Some(0));
    c.deliver_all(1000);
    c.crash_mid_write = Some(0);
    c.with(0, |n| n.propose(vec![7]).ok());
    c.deliver_all(1000);
    assert_eq!(c.elect(100), Some(0));
    c.with(0, |n| n.propose(vec![8]).ok());
    c.run(10);
    assert_eq!(c.violation, None);
    assert_eq!(c.applied_values(1), vec![vec![8]]);
    assert_eq!(c.applied_values(0), vec![vec![8]]);
}
