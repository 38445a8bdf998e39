//! Impl-first validation: the other direction. The impl cluster runs under a seeded random
//! schedule of impl inputs chosen without asking the model (including inputs the model never
//! offers: a timeout at a leader, a heartbeat at a follower, a proposal at a non-leader, and no
//! bounds on terms, log length or messages in flight). Each step is recorded and checked:
//!
//! - if the model offers the matching event in the abstract state before the step, the abstract
//!   state after it must be the model's successor under that event;
//! - if it does not, the impl must leave the abstract state unchanged (a refused proposal, an
//!   ignored timer), or at least make some transition the model allows.
//!
//! The first catches an impl doing what the model forbids; a model event the impl refuses (it
//! stays put while the model would move) shows a model looser than the impl.
//!
//! With any production extension on, time is the impl's own: the schedule gives nodes ticks,
//! as raft-node does, instead of the explicit timer events, and a tick is judged as the
//! sequence of the node's timer events (timeout, lease expiry, check-quorum, transfer given up,
//! heartbeat; at most three in one tick) that explains it. It also asks for leadership
//! transfers, and with asynchronous persistence finishes each node's writes before giving the
//! node another input, as the `Ready` contract requires.

use crate::compare;
use crate::driver::{Cluster, Perturbation, StepError};
use crate::report::format_action;
use raft_core::rng::Rng;
use raft_model::{Action, Bounds, Params, RaftModel, State, Value};
use serde::Serialize;
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct Options {
    pub servers: u8,
    pub values: u8,
    pub params: Params,
    pub perturbation: Option<Perturbation>,
    pub seed: u64,
    /// Inputs per run.
    pub steps: usize,
    pub runs: Option<u64>,
    pub time_limit: Option<Duration>,
    /// The schedule stops duplicating once this many messages are in flight.
    pub max_in_flight: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            servers: 3,
            values: 3,
            params: Params::default(),
            perturbation: None,
            seed: 0,
            steps: 400,
            runs: None,
            time_limit: None,
            max_in_flight: 24,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub seed: u64,
    pub runs: u64,
    pub steps: u64,
    /// Steps whose input the model offered (checked against its successor).
    pub model_events: u64,
    /// Inputs the model does not offer that the impl ignored, as it must.
    pub ignored_inputs: u64,
    pub seconds: f64,
    pub steps_per_second: f64,
}

/// A step that is not a model transition.
#[derive(Clone, Debug)]
pub struct Violation {
    pub run_seed: u64,
    /// Every input of the run, through the offending one: the model action it is labelled
    /// with, or none for a tick.
    pub inputs: Vec<Labelled>,
    /// The model transitions the run took before the offending input. With the offending input
    /// appended, a model trace that diverges in lock step when `offered` (see `as_trace`).
    pub events: Vec<Action>,
    /// Whether the model offered the offending input.
    pub offered: bool,
    pub before: State,
    pub differences: Vec<compare::Difference>,
    pub error: Option<String>,
}

/// One input of a run as the report shows it.
#[derive(Clone, Debug)]
pub struct Labelled {
    pub text: String,
    /// The model action of the same name, if the input is one.
    pub action: Option<Action>,
}

impl Violation {
    pub fn render(&self) -> String {
        let mut out = format!(
            "IMPL-FIRST VIOLATION in run seed {} after {} inputs\n",
            self.run_seed,
            self.inputs.len()
        );
        for (k, a) in self.inputs.iter().enumerate() {
            out.push_str(&format!("  {:>3}. {}\n", k + 1, a.text));
        }
        out.push_str(&format!(
            "replay the run: raft-conform impl-first --seed {} --runs 1 (same --servers)\n",
            self.run_seed
        ));
        let last = self
            .inputs
            .last()
            .map(|a| a.text.clone())
            .unwrap_or_default();
        if self.offered {
            out.push_str(&format!(
                "the model offers {last}, but the impl's abstract state after it is not the model's successor:\n"
            ));
        } else {
            out.push_str(&format!(
                "the model does not offer {last}, yet the impl changed state in a way no model event explains:\n"
            ));
        }
        if let Some(e) = &self.error {
            out.push_str(&format!("  {e}\n"));
        }
        for d in &self.differences {
            out.push_str(&format!(
                "  {:<26} model {:<30} impl {}\n",
                d.field, d.model, d.impl_side
            ));
        }
        out
    }
}

impl Violation {
    /// The model events of the run followed by the offending input: a lock-step trace of the
    /// judging model that diverges, when the model offered that input.
    pub fn as_trace(&self) -> Option<Vec<Action>> {
        let last = self.inputs.last()?.action.clone()?;
        self.offered.then(|| {
            let mut t = self.events.clone();
            t.push(last);
            t
        })
    }
}

pub struct Outcome {
    pub summary: Summary,
    pub violation: Option<Violation>,
}

/// The model used to judge impl steps: same servers and parameters, bounds wide open (fault
/// counters are capped by the schedule instead, below the model's u8 range).
pub fn judge(options: &Options) -> RaftModel {
    RaftModel {
        bounds: Bounds {
            servers: options.servers,
            max_term: u8::MAX,
            max_log: u8::MAX,
            values: options.values,
            max_messages: u8::MAX,
            max_restarts: 200,
            max_drops: 200,
            max_duplicates: 200,
            max_config_changes: 0,
        },
        params: options.params,
        bug: None,
    }
}

/// One impl input, chosen by the schedule.
enum Input {
    Timeout(usize),
    Heartbeat(usize),
    Tick(usize),
    Propose(usize, Value),
    Transfer(usize, usize),
    Persist(usize),
    Deliver(usize),
    Drop(usize),
    Duplicate(usize),
    Restart(usize),
}

fn choose(rng: &mut Rng, cluster: &Cluster, state: &State, options: &Options) -> Input {
    let n = cluster.len();
    let in_flight = cluster.network().len();
    let ticks = options.params.extended();
    // A node whose writes are in progress takes nothing but their end (or a crash).
    let busy = |i: usize| cluster.held(i).is_some();
    loop {
        let roll = rng.below(100);
        let i = rng.below(n);
        if busy(i) && roll < 96 {
            return Input::Persist(i);
        }
        let input = match roll {
            0..=44 if in_flight > 0 => {
                let k = rng.below(in_flight);
                if busy(cluster.network()[k].msg.to as usize) {
                    continue;
                }
                Input::Deliver(k)
            }
            45..=51 if in_flight > 0 && state.faults.drops < 200 => {
                Input::Drop(rng.below(in_flight))
            }
            52..=55
                if in_flight > 0
                    && in_flight < options.max_in_flight
                    && state.faults.duplicates < 200 =>
            {
                Input::Duplicate(rng.below(in_flight))
            }
            56..=65 if ticks && cluster.node(i).term() < 250 => Input::Tick(i),
            56..=65 if cluster.node(i).term() < 250 => Input::Timeout(i),
            66..=78 if ticks && cluster.node(i).term() < 250 => Input::Tick(i),
            79..=80 if options.params.transfer => Input::Transfer(i, rng.below(n)),
            66..=80 => Input::Heartbeat(i),
            81..=95 if cluster.node(i).last_index() < 250 => {
                Input::Propose(i, rng.below(options.values.max(1) as usize) as Value)
            }
            96..=99 if state.faults.restarts < 200 => Input::Restart(i),
            _ => continue,
        };
        return input;
    }
}

/// The model event an impl input corresponds to (before it is applied); none for a tick.
fn label(input: &Input, cluster: &Cluster) -> Labelled {
    let id = |i: usize| i as u8;
    let action = match *input {
        Input::Timeout(i) => Action::Timeout(id(i)),
        Input::Heartbeat(i) => Action::Heartbeat(id(i)),
        Input::Tick(i) => {
            return Labelled {
                text: format!("Tick(S{i})"),
                action: None,
            }
        }
        Input::Propose(i, v) => Action::ClientRequest(id(i), v),
        Input::Transfer(i, t) => Action::TransferLeadership(id(i), id(t)),
        Input::Persist(i) => Action::Persist(id(i)),
        Input::Deliver(k) => Action::Deliver(cluster.network()[k].abs.clone()),
        Input::Drop(k) => Action::Drop(cluster.network()[k].abs.clone()),
        Input::Duplicate(k) => Action::Duplicate(cluster.network()[k].abs.clone()),
        Input::Restart(i) => Action::Restart(id(i)),
    };
    Labelled {
        text: format_action(&action),
        action: Some(action),
    }
}

fn perform(input: &Input, cluster: &mut Cluster) -> Result<(), StepError> {
    match *input {
        Input::Timeout(i) => cluster.timeout(i),
        Input::Heartbeat(i) => cluster.heartbeat(i),
        Input::Tick(i) => cluster.tick(i),
        // A refused transfer (to itself, or at a non-leader) leaves the node as it was.
        Input::Transfer(i, t) => cluster
            .apply(&Action::TransferLeadership(i as u8, t as u8))
            .or_else(|e| match e {
                StepError::Refused(_) => Ok(()),
                e => Err(e),
            }),
        Input::Persist(i) => {
            cluster.persist(i);
            Ok(())
        }
        // A refusal leaves the node as it was; whether that is right is judged below.
        Input::Propose(i, v) => cluster.propose(i, v).unwrap_or(Ok(())),
        Input::Deliver(k) => cluster.deliver(k),
        Input::Drop(k) => {
            cluster.drop_message(k);
            Ok(())
        }
        Input::Duplicate(k) => {
            cluster.duplicate(k);
            Ok(())
        }
        Input::Restart(i) => {
            cluster.restart(i);
            Ok(())
        }
    }
}

/// One run of `options.steps` inputs from a fresh cluster.
fn run_one(
    options: &Options,
    model: &RaftModel,
    seed: u64,
    summary: &mut Summary,
) -> Option<Violation> {
    let mut rng = Rng::new(seed);
    let mut cluster = Cluster::new(model, options.perturbation);
    let mut state = model.initial_state();
    let mut inputs = Vec::new();
    let mut events = Vec::new();
    for _ in 0..options.steps {
        let input = choose(&mut rng, &cluster, &state, options);
        let labelled = label(&input, &cluster);
        inputs.push(labelled.clone());
        summary.steps += 1;
        let offered = labelled
            .action
            .as_ref()
            .is_some_and(|a| model.is_enabled(&state, a));
        let result = perform(&input, &mut cluster);
        let violation = |differences, error: Option<String>, inputs: Vec<Labelled>| Violation {
            run_seed: seed,
            inputs,
            events: events.clone(),
            offered,
            before: state.clone(),
            differences,
            error,
        };
        if let Err(e) = result {
            return Some(violation(Vec::new(), Some(e.to_string()), inputs));
        }
        if let (true, Some(action)) = (offered, labelled.action) {
            let expected = model.step(&state, &action);
            if !compare::conforms(&expected, &cluster) {
                let differences = compare::differences(&expected, &cluster);
                return Some(violation(differences, None, inputs));
            }
            summary.model_events += 1;
            events.push(action);
            state = expected;
            continue;
        }
        if compare::conforms(&state, &cluster) {
            summary.ignored_inputs += 1;
            continue;
        }
        // Not the offered event: is it any model transition at all, or, for a tick, a sequence
        // of the node's timer events?
        let explained = match input {
            Input::Tick(i) => timer_events(model, &state, i as u8, &cluster),
            _ => {
                let mut enabled = Vec::new();
                model.enabled_actions(&state, &mut enabled);
                enabled
                    .into_iter()
                    .map(|a| (model.step(&state, &a), a))
                    .find(|(next, _)| compare::conforms(next, &cluster))
                    .map(|(next, a)| (next, vec![a]))
            }
        };
        match explained {
            Some((next, taken)) => {
                summary.model_events += taken.len() as u64;
                events.extend(taken);
                state = next;
            }
            None => {
                let differences = compare::differences(&state, &cluster);
                return Some(violation(differences, None, inputs));
            }
        }
    }
    None
}

/// The timer events of server `i` that one tick can fire, in the order the impl's tick runs
/// them (at most one of each).
const TIMERS: [fn(u8) -> Action; 5] = [
    Action::LeaseExpires,
    Action::Timeout,
    Action::CheckQuorum,
    Action::AbortTransfer,
    Action::Heartbeat,
];

/// A sequence of at most three of server `i`'s timer events, taken in `TIMERS` order, that
/// leads from `state` to what the cluster shows, with the state it ends in.
fn timer_events(
    model: &RaftModel,
    state: &State,
    i: u8,
    cluster: &Cluster,
) -> Option<(State, Vec<Action>)> {
    fn search(
        model: &RaftModel,
        state: &State,
        from: usize,
        taken: &mut Vec<Action>,
        i: u8,
        cluster: &Cluster,
    ) -> Option<State> {
        if !taken.is_empty() && compare::conforms(state, cluster) {
            return Some(state.clone());
        }
        if taken.len() == 3 {
            return None;
        }
        for (k, event) in TIMERS.iter().enumerate().skip(from) {
            let a = event(i);
            if model.is_enabled(state, &a) {
                let next = model.step(state, &a);
                taken.push(a);
                if let Some(end) = search(model, &next, k + 1, taken, i, cluster) {
                    return Some(end);
                }
                taken.pop();
            }
        }
        None
    }
    let mut taken = Vec::new();
    search(model, state, 0, &mut taken, i, cluster).map(|end| (end, taken))
}

pub fn run(options: &Options) -> Outcome {
    let start = Instant::now();
    let model = judge(options);
    let mut summary = Summary {
        seed: options.seed,
        runs: 0,
        steps: 0,
        model_events: 0,
        ignored_inputs: 0,
        seconds: 0.0,
        steps_per_second: 0.0,
    };
    let mut violation = None;
    loop {
        let seed = options.seed.wrapping_add(summary.runs);
        summary.runs += 1;
        if let Some(v) = run_one(options, &model, seed, &mut summary) {
            violation = Some(v);
            break;
        }
        if options.runs.is_some_and(|n| summary.runs >= n)
            || options.time_limit.is_some_and(|t| start.elapsed() >= t)
        {
            break;
        }
    }
    summary.seconds = start.elapsed().as_secs_f64();
    summary.steps_per_second = summary.steps as f64 / summary.seconds.max(1e-9);
    Outcome { summary, violation }
}
