//! The divergence report: the (shrunk) trace, the model's and the impl's states side by side
//! with the differing fields marked, and where the replayable trace was saved.

use crate::compare::{self, Difference};
use crate::driver::Perturbation;
use crate::lockstep::{self, End};
use crate::trace;
use raft_model::{Action, Message, RaftModel, Server, State};
use std::fmt::Write;
use std::path::{Path, PathBuf};

// Actions and messages read the same in divergence reports as in the model's counterexamples.
pub use raft_model::svg::{format_action, format_message};

/// A divergence, with everything needed to show and replay it.
#[derive(Clone, Debug)]
pub struct Divergence {
    pub model: RaftModel,
    pub perturbation: Option<Perturbation>,
    /// How it was found ("exhaustive", "random walk 17 of seed 5", ...).
    pub found_by: String,
    pub seed: Option<u64>,
    /// The trace as found and as shrunk (the last action diverges).
    pub found_len: usize,
    pub actions: Vec<Action>,
    /// Where the trace was saved.
    pub saved: Option<PathBuf>,
}

impl Divergence {
    pub fn trace_file(&self) -> trace::TraceFile {
        let description = format!(
            "divergence found by {}; the last step diverges",
            self.found_by
        );
        trace::from_actions(
            &self.model,
            self.perturbation.map(Perturbation::name),
            &self.actions,
            Some(description),
            self.seed,
        )
    }

    /// Saves the trace under `dir` with a name from the mode and seed.
    pub fn save_in(&mut self, dir: &Path, stem: &str) -> Result<PathBuf, String> {
        let path = dir.join(format!("{stem}.json"));
        trace::save(&path, &self.trace_file())?;
        self.saved = Some(path.clone());
        Ok(path)
    }

    /// The text report: trace, side-by-side states, differing fields marked with `<<`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "DIVERGENCE found by {}", self.found_by);
        if let Some(seed) = self.seed {
            let _ = writeln!(out, "seed: {seed}");
        }
        if let Some(p) = self.perturbation {
            let _ = writeln!(out, "impl-side perturbation injected: {}", p.name());
        }
        if let Some(bug) = self.model.bug {
            let _ = writeln!(out, "model bug flag: {}", bug.name());
        }
        let _ = writeln!(
            out,
            "shortest trace: {} steps (found with {})",
            self.actions.len(),
            self.found_len
        );
        for (k, a) in self.actions.iter().enumerate() {
            let _ = writeln!(out, "  {:>3}. {}", k + 1, format_action(a));
        }
        let run = lockstep::run(&self.model, self.perturbation, &self.actions);
        match &run.end {
            End::Diverged { at, mismatch } => {
                let before = &run.states[*at];
                let _ = writeln!(
                    out,
                    "\nstep {} ({}) diverges:",
                    at + 1,
                    format_action(&self.actions[*at])
                );
                if let Some(e) = &mismatch.error {
                    let _ = writeln!(out, "  {e}");
                }
                out.push_str(&side_by_side(
                    before,
                    &mismatch.expected,
                    &run.cluster,
                    &mismatch.differences,
                ));
            }
            End::Conforms => out.push_str("\n(the trace no longer diverges)\n"),
            End::NotAModelTrace { at, why } => {
                let _ = writeln!(out, "\n(step {} is not a model transition: {why})", at + 1);
            }
        }
        if let Some(path) = &self.saved {
            let _ = writeln!(
                out,
                "\ntrace saved to {} (replay: raft-conform replay {})",
                path.display(),
                path.display()
            );
        }
        out
    }
}

/// The model's next state and the abstracted impl state, field by field, `<<` on differences.
fn side_by_side(
    before: &State,
    expected: &State,
    cluster: &crate::driver::Cluster,
    differences: &[Difference],
) -> String {
    let mut out = String::new();
    let differs = |field: &str| differences.iter().any(|d| d.field == field);
    let _ = writeln!(out, "  {:<26} {:<38} {:<38}", "field", "model", "impl");
    let impl_servers: Vec<Option<Server>> = (0..cluster.len())
        .map(|i| crate::abstraction::cluster_server(cluster, i).ok())
        .collect();
    for (i, m) in expected.servers.iter().enumerate() {
        let impl_fields = impl_servers
            .get(i)
            .and_then(Option::as_ref)
            .map(compare::server_fields);
        for (k, (name, model_value)) in compare::server_fields(m).into_iter().enumerate() {
            let impl_value = impl_fields.as_ref().map(|f| f[k].1.clone());
            let field = format!("servers[{i}].{name}");
            let mark =
                if differs(&field) || (impl_value.is_none() && differs(&format!("servers[{i}]"))) {
                    "<<"
                } else {
                    ""
                };
            let impl_value = impl_value.unwrap_or_else(|| "(no abstraction)".to_string());
            let _ = writeln!(
                out,
                "  {field:<26} {model_value:<38} {impl_value:<38} {mark}"
            );
        }
    }
    let impl_network: Vec<Message> = cluster.network().iter().map(|f| f.abs.clone()).collect();
    let _ = writeln!(out, "  network (model | impl):");
    let (only_model, only_impl) =
        compare::multiset_difference(expected.network.messages(), &impl_network);
    for m in expected.network.messages() {
        let mark = if only_model.contains(m) {
            "  << model only"
        } else {
            ""
        };
        let _ = writeln!(out, "    model: {}{mark}", format_message(m));
    }
    for m in &impl_network {
        let mark = if only_impl.contains(m) {
            "  << impl only"
        } else {
            ""
        };
        let _ = writeln!(out, "    impl:  {}{mark}", format_message(m));
    }
    // What the step sent, on each side: what is in flight now and was not before.
    let (model_sent, _) =
        compare::multiset_difference(expected.network.messages(), before.network.messages());
    let (impl_sent, _) = compare::multiset_difference(&impl_network, before.network.messages());
    let _ = writeln!(out, "  sent by this step (model): {}", list(&model_sent));
    let _ = writeln!(out, "  sent by this step (impl):  {}", list(&impl_sent));
    out
}

fn list(ms: &[Message]) -> String {
    if ms.is_empty() {
        return "nothing".to_string();
    }
    ms.iter().map(format_message).collect::<Vec<_>>().join("; ")
}
