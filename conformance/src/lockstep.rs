//! One step in lock step, and a whole action sequence replayed in lock step: the model takes the
//! action, the impl cluster takes the matching input, and the abstract impl state must then
//! equal the model's next state (servers and messages in flight; since both networks were equal
//! before, this also says the impl emitted exactly the messages the model emitted).

use crate::compare::{self, Difference};
use crate::driver::{Cluster, Perturbation};
use raft_model::{Action, RaftModel, State};
use stateright::Model;

/// The first difference after a step.
#[derive(Clone, Debug)]
pub struct Mismatch {
    /// The model's next state.
    pub expected: State,
    /// The fields that differ (empty when the impl could not even take the input).
    pub differences: Vec<Difference>,
    /// Why the impl could not take the input, or produced something without a model counterpart.
    pub error: Option<String>,
}

/// Applies `action` to both sides. `Ok` holds the model's next state when they still agree.
pub fn step(
    model: &RaftModel,
    state: &State,
    cluster: &mut Cluster,
    action: &Action,
) -> Result<State, Box<Mismatch>> {
    check(model.step(state, action), cluster, action)
}

/// Applies `action` to the impl and compares it with `expected`, the model's state after it
/// (for a caller that already stepped the model).
pub fn check(
    expected: State,
    cluster: &mut Cluster,
    action: &Action,
) -> Result<State, Box<Mismatch>> {
    if let Err(e) = cluster.apply(action) {
        let differences = compare::differences(&expected, cluster);
        return Err(Box::new(Mismatch {
            expected,
            differences,
            error: Some(e.to_string()),
        }));
    }
    if compare::conforms(&expected, cluster) {
        return Ok(expected);
    }
    let differences = compare::differences(&expected, cluster);
    Err(Box::new(Mismatch {
        expected,
        differences,
        error: None,
    }))
}

/// What replaying an action sequence gave.
#[derive(Clone, Debug)]
pub struct Run {
    /// The model states, starting with the initial one, one per step taken.
    pub states: Vec<State>,
    /// The cluster after the last step taken.
    pub cluster: Cluster,
    pub end: End,
}

#[derive(Clone, Debug)]
pub enum End {
    /// Every step conformed.
    Conforms,
    /// Step `at` (0-based) diverged.
    Diverged { at: usize, mismatch: Box<Mismatch> },
    /// Step `at` is not a transition of the model within its bounds: the sequence is not a
    /// model trace (nothing was compared at that step).
    NotAModelTrace { at: usize, why: String },
}

/// Replays `actions` from the initial state, stopping at the first divergence.
pub fn run(model: &RaftModel, perturbation: Option<Perturbation>, actions: &[Action]) -> Run {
    let mut cluster = Cluster::new(model, perturbation);
    let mut states = vec![model.initial_state()];
    for (at, action) in actions.iter().enumerate() {
        let state = states.last().expect("never empty");
        if !model.is_enabled(state, action) {
            let why = format!("{} is not enabled", crate::report::format_action(action));
            return Run {
                states,
                cluster,
                end: End::NotAModelTrace { at, why },
            };
        }
        match step(model, state, &mut cluster, action) {
            Ok(next) => {
                let inside = model.within_boundary(&next);
                states.push(next);
                if !inside {
                    return Run {
                        states,
                        cluster,
                        end: End::NotAModelTrace {
                            at,
                            why: "the step leaves the model's bounds".to_string(),
                        },
                    };
                }
            }
            Err(mismatch) => {
                return Run {
                    states,
                    cluster,
                    end: End::Diverged { at, mismatch },
                }
            }
        }
    }
    Run {
        states,
        cluster,
        end: End::Conforms,
    }
}

/// Whether `actions` is a model trace on which the impl diverges (the predicate shrinking keeps).
pub fn diverges(model: &RaftModel, perturbation: Option<Perturbation>, actions: &[Action]) -> bool {
    matches!(run(model, perturbation, actions).end, End::Diverged { .. })
}
