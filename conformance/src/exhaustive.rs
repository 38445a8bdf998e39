//! Exhaustive mode: every transition out of every reachable model state, checked against the
//! impl.
//!
//! A depth-first search over the model's graph within its bounds keeps, for every state on the
//! stack, the impl cluster that reached it (forked per transition: the cluster is cheap to clone,
//! see `driver`). Visited states are kept as 64-bit fingerprints of the full model state, the
//! same notion of "state" as the model checker's unique-state count, so each reachable state is
//! expanded once and each of its enabled actions is checked once, including actions whose
//! target lies outside the bounds (they are transitions out of a reachable state; their targets
//! are just not expanded further).

use crate::coverage::Coverage;
use crate::driver::{Cluster, Perturbation};
use crate::lockstep::{self, Mismatch};
use raft_model::minimise::{fingerprint, FingerprintSet};
use raft_model::{Action, RaftModel, State};
use serde::Serialize;
use stateright::{Model, Representative};
use std::time::{Duration, Instant};

#[derive(Clone, Debug, Default)]
pub struct Options {
    pub perturbation: Option<Perturbation>,
    /// Stop (incomplete) once this much time has passed.
    pub time_limit: Option<Duration>,
    /// Collect per-kind coverage and evaluate the `sometimes` properties (costs some speed).
    pub coverage: bool,
    /// Print progress on stderr every few seconds.
    pub progress: bool,
    /// Expand one state of each class of server renamings (the model's `representative`): sound
    /// because neither side treats one server id differently from another, and about the
    /// number of servers factorial times fewer states. The count is then of representatives.
    pub symmetry: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// Distinct reachable model states within the bounds (each expanded once).
    pub states: u64,
    /// Transitions checked against the impl (every enabled action of every expanded state).
    pub transitions: u64,
    /// Of those, the ones whose target lies outside the bounds.
    pub transitions_leaving_bounds: u64,
    pub max_depth: usize,
    pub seconds: f64,
    pub transitions_per_second: f64,
    /// False when the time limit stopped the search early.
    pub complete: bool,
}

pub struct Outcome {
    pub summary: Summary,
    /// The first divergence: the path from the initial state through the diverging action.
    pub divergence: Option<(Vec<Action>, Box<Mismatch>)>,
    pub coverage: Coverage,
}

struct Frame {
    state: State,
    cluster: Cluster,
    depth: usize,
    /// The action that led here (none for the initial state).
    action: Option<Action>,
}

pub fn run(model: &RaftModel, options: &Options) -> Outcome {
    let start = Instant::now();
    let mut coverage = Coverage::new(options.coverage);
    let mut visited = FingerprintSet::default();
    let init = model.initial_state();
    let key = |s: &State| {
        if options.symmetry {
            fingerprint(&s.representative())
        } else {
            fingerprint(s)
        }
    };
    visited.insert(key(&init));
    coverage.state(model, &init);
    let mut stack = vec![Frame {
        cluster: Cluster::new(model, options.perturbation),
        state: init,
        depth: 0,
        action: None,
    }];
    // The actions from the initial state to the frame being expanded.
    let mut path: Vec<Action> = Vec::new();
    let (mut states, mut transitions, mut leaving, mut max_depth) = (0u64, 0u64, 0u64, 0usize);
    let mut actions = Vec::new();
    let mut complete = true;
    let mut last_progress = Instant::now();
    let mut divergence = None;

    'search: while let Some(frame) = stack.pop() {
        path.truncate(frame.depth.saturating_sub(1));
        if let Some(a) = frame.action {
            path.push(a);
        }
        states += 1;
        max_depth = max_depth.max(frame.depth);
        if states % 4096 == 0 {
            if options
                .time_limit
                .is_some_and(|limit| start.elapsed() >= limit)
            {
                complete = false;
                break;
            }
            if options.progress && last_progress.elapsed() >= Duration::from_secs(5) {
                last_progress = Instant::now();
                eprintln!(
                    "exhaustive: {states} states, {transitions} transitions, depth {max_depth}, {:.0} s",
                    start.elapsed().as_secs_f64()
                );
            }
        }
        model.enabled_actions(&frame.state, &mut actions);
        for action in actions.drain(..) {
            transitions += 1;
            let mut cluster = frame.cluster.clone();
            match lockstep::step(model, &frame.state, &mut cluster, &action) {
                Ok(next) => {
                    coverage.transition(&frame.state, &action, &next);
                    if !model.within_boundary(&next) {
                        leaving += 1;
                        continue;
                    }
                    if visited.insert(key(&next)) {
                        coverage.state(model, &next);
                        stack.push(Frame {
                            state: next,
                            cluster,
                            depth: frame.depth + 1,
                            action: Some(action),
                        });
                    }
                }
                Err(mismatch) => {
                    let mut trace = path.clone();
                    trace.push(action);
                    divergence = Some((trace, mismatch));
                    complete = false;
                    break 'search;
                }
            }
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    Outcome {
        summary: Summary {
            states,
            transitions,
            transitions_leaving_bounds: leaving,
            max_depth,
            seconds,
            transitions_per_second: transitions as f64 / seconds.max(1e-9),
            complete,
        },
        divergence,
        coverage,
    }
}

/// The shortest diverging trace within the model's bounds: a level-by-level breadth-first
/// search that keeps the impl cluster of every state on the current level, so the first
/// divergence found lies at the least possible depth. Levels grow fast, so it gives up (returns
/// `None`) past `max_depth` levels or `max_level_states` states on one level; callers then fall
/// back to shrinking by deletion.
pub fn shortest_divergence(
    model: &RaftModel,
    perturbation: Option<Perturbation>,
    max_depth: usize,
    max_level_states: usize,
) -> Option<Vec<Action>> {
    let mut visited = FingerprintSet::default();
    // parents[node] = (parent node, action taken there); the root's parent is itself.
    let mut parents: Vec<(u32, Option<Action>)> = vec![(0, None)];
    let init = model.initial_state();
    visited.insert(fingerprint(&init));
    let mut level = vec![(init, Cluster::new(model, perturbation), 0u32)];
    let path_to = |parents: &Vec<(u32, Option<Action>)>, mut node: u32| {
        let mut path = Vec::new();
        while let (parent, Some(a)) = &parents[node as usize] {
            path.push(a.clone());
            node = *parent;
        }
        path.reverse();
        path
    };
    let mut actions = Vec::new();
    for _ in 0..max_depth {
        let mut next_level = Vec::new();
        for (state, cluster, node) in &level {
            model.enabled_actions(state, &mut actions);
            for action in actions.drain(..) {
                let mut forked = cluster.clone();
                match lockstep::step(model, state, &mut forked, &action) {
                    Ok(next) => {
                        if model.within_boundary(&next) && visited.insert(fingerprint(&next)) {
                            parents.push((*node, Some(action)));
                            next_level.push((next, forked, (parents.len() - 1) as u32));
                        }
                    }
                    Err(_) => {
                        let mut path = path_to(&parents, *node);
                        path.push(action);
                        return Some(path);
                    }
                }
            }
        }
        if next_level.is_empty() || next_level.len() > max_level_states {
            return None;
        }
        level = next_level;
    }
    None
}
