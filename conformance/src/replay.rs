//! Replaying a trace file against the impl: the recorded actions are taken in lock step, and
//! every recorded state must also be the model's (a trace the current model no longer produces
//! fails too, rather than silently checking something else).

use crate::lockstep::{self, End};
use crate::report::{format_action, Divergence};
use crate::trace::{self, Loaded};

#[derive(Debug)]
pub enum Replayed {
    /// Every step conformed and matched the recorded states.
    Conforms { steps: usize },
    /// The impl diverged; the trace (cut at the divergence) is in the report.
    Diverged(Box<Divergence>),
    /// The file is well-formed but is not a run of its model: an action is not enabled, leaves
    /// the bounds, or the model's state differs from the recorded one.
    NotAModelRun { step: usize, why: String },
}

pub fn replay(loaded: &Loaded, found_by: &str) -> Replayed {
    let run = lockstep::run(&loaded.model, loaded.perturbation, &loaded.actions);
    judge(loaded, &run, found_by)
}

/// What a lock-step `run` of `loaded`'s actions says about the file.
pub fn judge(loaded: &Loaded, run: &lockstep::Run, found_by: &str) -> Replayed {
    // Recorded states are compared for every step the model took.
    for (k, recorded) in loaded.states.iter().enumerate() {
        let (Some(recorded), Some(model_state)) = (recorded, run.states.get(k + 1)) else {
            continue;
        };
        if !trace::same_abstract_state(recorded, model_state) {
            return Replayed::NotAModelRun {
                step: k + 1,
                why: format!(
                    "after {} the recorded state differs from the model's",
                    format_action(&loaded.actions[k])
                ),
            };
        }
    }
    match &run.end {
        End::Conforms => Replayed::Conforms {
            steps: loaded.actions.len(),
        },
        End::Diverged { at, .. } => Replayed::Diverged(Box::new(Divergence {
            model: loaded.model.clone(),
            perturbation: loaded.perturbation,
            found_by: found_by.to_string(),
            seed: loaded.file.seed,
            found_len: loaded.actions.len(),
            actions: loaded.actions[..=*at].to_vec(),
            saved: None,
        })),
        End::NotAModelTrace { at, why } => Replayed::NotAModelRun {
            step: at + 1,
            why: why.clone(),
        },
    }
}
