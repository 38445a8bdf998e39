//! Shrinking a diverging trace: cut everything after the first divergence, then remove runs of
//! steps (halves first, down to single steps, as in delta debugging) and lower client values,
//! keeping each change only while the result is still a model trace within the bounds on which
//! the impl still diverges.

use crate::driver::Perturbation;
use crate::lockstep::{self, End};
use raft_model::{Action, RaftModel};

/// Replays cut short by this many candidate evaluations: shrinking is best effort and must not
/// hold up the gate on a long trace.
const MAX_EVALUATIONS: usize = 20_000;

/// The trace up to and including its first diverging step, or `None` if it does not diverge.
fn cut(
    model: &RaftModel,
    perturbation: Option<Perturbation>,
    actions: &[Action],
) -> Option<Vec<Action>> {
    match lockstep::run(model, perturbation, actions).end {
        End::Diverged { at, .. } => Some(actions[..=at].to_vec()),
        _ => None,
    }
}

/// A shorter trace that still diverges (the input itself when nothing smaller is found).
pub fn shrink(
    model: &RaftModel,
    perturbation: Option<Perturbation>,
    actions: &[Action],
) -> Vec<Action> {
    let Some(mut best) = cut(model, perturbation, actions) else {
        return actions.to_vec();
    };
    let mut evaluations = 0;
    let mut chunk = (best.len() / 2).max(1);
    loop {
        let mut improved = false;
        let mut start = 0;
        while start < best.len() && evaluations < MAX_EVALUATIONS {
            let end = (start + chunk).min(best.len());
            let mut candidate = best[..start].to_vec();
            candidate.extend_from_slice(&best[end..]);
            evaluations += 1;
            match cut(model, perturbation, &candidate) {
                Some(shorter) if shorter.len() < best.len() => {
                    best = shorter;
                    improved = true;
                }
                _ => start += chunk,
            }
        }
        if evaluations >= MAX_EVALUATIONS {
            break;
        }
        if !improved {
            if chunk == 1 {
                break;
            }
            chunk = (chunk / 2).max(1);
        }
    }
    // Smaller client values read more easily; keep the change only if it still diverges.
    for k in 0..best.len() {
        if let Action::ClientRequest(i, v) = best[k] {
            if v > 0 {
                let mut candidate = best.clone();
                candidate[k] = Action::ClientRequest(i, 0);
                if let Some(c) = cut(model, perturbation, &candidate) {
                    if c.len() <= best.len() {
                        best = c;
                    }
                }
            }
        }
    }
    best
}
