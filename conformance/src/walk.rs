//! Random walks: long seeded traces at bounds far beyond what exhaustive mode can cover
//! (5 servers, more terms, longer logs, more faults). Walk `k` of a run with seed `s` uses seed
//! `s + k`, so any walk can be replayed alone with `raft-conform walk --seed (s + k) --walks 1`.

use crate::coverage::Coverage;
use crate::driver::{Cluster, Perturbation};
use crate::lockstep::{self, Mismatch};
use raft_core::rng::Rng;
use raft_model::{Action, Bounds, RaftModel};
use serde::Serialize;
use stateright::Model;
use std::time::{Duration, Instant};

/// The walks' default bounds: five servers and room for several elections, restarts and faults.
pub fn default_bounds() -> Bounds {
    Bounds {
        servers: 5,
        max_term: 10,
        max_log: 8,
        values: 3,
        max_messages: 12,
        max_restarts: 4,
        max_drops: 8,
        max_duplicates: 4,
        max_config_changes: 2,
    }
}

#[derive(Clone, Debug)]
pub struct Options {
    pub model: RaftModel,
    pub perturbation: Option<Perturbation>,
    pub seed: u64,
    /// Steps per walk (a walk also ends when no action is enabled within the bounds).
    pub steps: usize,
    /// Stop after this many walks...
    pub walks: Option<u64>,
    /// ...or once this much time has passed (at least one walk always runs).
    pub time_limit: Option<Duration>,
    pub coverage: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub seed: u64,
    pub walks: u64,
    pub steps: u64,
    pub seconds: f64,
    pub steps_per_second: f64,
    pub walks_per_second: f64,
}

/// A diverging walk: its own seed and the actions up to the divergence.
pub struct Found {
    pub walk_seed: u64,
    pub actions: Vec<Action>,
    pub mismatch: Box<Mismatch>,
}

pub struct Outcome {
    pub summary: Summary,
    pub divergence: Option<Found>,
    pub coverage: Coverage,
}

/// One walk from the initial state: at each step a uniformly chosen enabled action whose target
/// lies within the bounds.
pub fn walk(
    model: &RaftModel,
    perturbation: Option<Perturbation>,
    seed: u64,
    steps: usize,
    coverage: &mut Coverage,
) -> (Vec<Action>, Option<Box<Mismatch>>) {
    let mut rng = Rng::new(seed);
    let mut state = model.initial_state();
    let mut cluster = Cluster::new(model, perturbation);
    let mut trace = Vec::new();
    let mut actions = Vec::new();
    coverage.state(model, &state);
    for _ in 0..steps {
        actions.clear();
        model.enabled_actions(&state, &mut actions);
        // Draw until an action stays within the bounds; drop the ones that do not.
        let (action, next) = loop {
            if actions.is_empty() {
                return (trace, None);
            }
            let k = rng.below(actions.len());
            let next = model.step(&state, &actions[k]);
            if model.within_boundary(&next) {
                break (actions.swap_remove(k), next);
            }
            actions.swap_remove(k);
        };
        trace.push(action.clone());
        match lockstep::check(next, &mut cluster, &action) {
            Ok(checked) => {
                coverage.transition(&state, &action, &checked);
                coverage.state(model, &checked);
                state = checked;
            }
            Err(mismatch) => return (trace, Some(mismatch)),
        }
    }
    (trace, None)
}

pub fn run(options: &Options) -> Outcome {
    let start = Instant::now();
    let mut coverage = Coverage::new(options.coverage);
    let (mut walks, mut steps) = (0u64, 0u64);
    let mut divergence = None;
    loop {
        let walk_seed = options.seed.wrapping_add(walks);
        let (trace, mismatch) = walk(
            &options.model,
            options.perturbation,
            walk_seed,
            options.steps,
            &mut coverage,
        );
        walks += 1;
        steps += trace.len() as u64;
        if let Some(mismatch) = mismatch {
            divergence = Some(Found {
                walk_seed,
                actions: trace,
                mismatch,
            });
            break;
        }
        if options.walks.is_some_and(|n| walks >= n)
            || options.time_limit.is_some_and(|t| start.elapsed() >= t)
        {
            break;
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    Outcome {
        summary: Summary {
            seed: options.seed,
            walks,
            steps,
            seconds,
            steps_per_second: steps as f64 / seconds.max(1e-9),
            walks_per_second: walks as f64 / seconds.max(1e-9),
        },
        divergence,
        coverage,
    }
}
