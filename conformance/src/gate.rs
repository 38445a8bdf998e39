//! The CI gate: replay the saved traces, check every transition exhaustively for each protocol
//! profile (the basic protocol, each production extension on its own, and everything production
//! runs), then spend the rest of the time budget on seeded random walks and impl-first runs of
//! the production protocol. The first divergence is shrunk, reported side by side and saved as a
//! replayable trace; the exit code says what happened. The JUnit report has a case per stage and
//! profile.

use crate::coverage::Coverage;
use crate::driver::Perturbation;
use crate::junit::Case;
use crate::replay::{self, Replayed};
use crate::report::Divergence;
use crate::{exhaustive, impl_first, shrink, trace, walk};
use raft_model::{Action, Bug, Protocol, RaftModel};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// One exhaustive stage: a protocol profile at its bounds.
#[derive(Clone, Debug)]
pub struct Profile {
    /// The name in the report (the profile's `--protocol` name).
    pub name: String,
    pub model: RaftModel,
}

impl Profile {
    /// `protocol` at its own bounds, with `bug` (none for the real check).
    pub fn of(protocol: Protocol, bug: Option<Bug>) -> Profile {
        Profile {
            name: protocol.name().to_string(),
            model: RaftModel {
                bounds: protocol.bounds(),
                params: protocol.params(),
                bug,
            },
        }
    }
}

#[derive(Clone, Debug)]
pub struct Options {
    pub budget: Duration,
    pub seed: u64,
    /// The exhaustive stages, in order.
    pub profiles: Vec<Profile>,
    /// The random walks' models (larger bounds), each walked for an equal share of the time;
    /// impl-first runs the first one's protocol.
    pub walks: Vec<Profile>,
    pub walk_steps: usize,
    /// The randomized stages run at least this long even when the exhaustive stage used up the
    /// budget (its length depends on the machine; the walks must still get a real chance).
    pub min_random: Duration,
    pub perturbation: Option<Perturbation>,
    /// Saved traces to replay first (every `*.json` in it), if the directory exists.
    pub traces: Option<PathBuf>,
    /// Where a diverging trace is written.
    pub out: PathBuf,
    pub coverage: bool,
}

pub struct Outcome {
    pub cases: Vec<Case>,
    /// The first divergence, shrunk and saved.
    pub divergence: Option<Divergence>,
    pub coverage: Coverage,
    /// A stage could not run (unreadable trace directory, unwritable output).
    pub infrastructure_error: Option<String>,
}

impl Outcome {
    /// 0 conforms, 1 divergence (even if saving its trace failed), 2 infrastructure error.
    pub fn exit_code(&self) -> u8 {
        if self.divergence.is_some() || self.cases.iter().any(|c| c.failure.is_some()) {
            1
        } else if self.infrastructure_error.is_some() {
            2
        } else {
            0
        }
    }
}

/// Shrinks and saves a divergence found on `actions`.
/// Which search found a divergence (with its seed for the randomized ones).
#[derive(Clone, Copy, Debug)]
pub enum Source {
    Exhaustive,
    Walk(u64),
    ImplFirst(u64),
}

impl Source {
    fn found_by(self) -> String {
        match self {
            Source::Exhaustive => "exhaustive mode".into(),
            Source::Walk(seed) => format!("random walk with seed {seed}"),
            Source::ImplFirst(seed) => format!("impl-first run with seed {seed}"),
        }
    }

    fn seed(self) -> Option<u64> {
        match self {
            Source::Exhaustive => None,
            Source::Walk(seed) | Source::ImplFirst(seed) => Some(seed),
        }
    }

    /// The name the shrunk trace is saved under.
    fn stem(self) -> String {
        match self {
            Source::Exhaustive => "divergence-exhaustive".into(),
            Source::Walk(seed) => format!("divergence-walk-{seed}"),
            Source::ImplFirst(seed) => format!("divergence-impl-first-{seed}"),
        }
    }
}

pub fn settle(
    model: &RaftModel,
    perturbation: Option<Perturbation>,
    actions: &[Action],
    source: Source,
    out: &Path,
) -> (Divergence, Result<PathBuf, String>) {
    let mut shrunk = shrink::shrink(model, perturbation, actions);
    // Deletion finds a local minimum; a breadth-first search over the same bounds finds the
    // least depth at which any divergence shows, when the levels up to it stay small.
    if shrunk.len() > 1 {
        if let Some(shortest) =
            exhaustive::shortest_divergence(model, perturbation, shrunk.len() - 1, 100_000)
        {
            shrunk = shortest;
        }
    }
    let mut d = Divergence {
        model: model.clone(),
        perturbation,
        found_by: source.found_by(),
        seed: source.seed(),
        found_len: actions.len(),
        actions: shrunk,
        saved: None,
    };
    let saved = d.save_in(out, &source.stem());
    (d, saved)
}

/// Every `*.json` file under `dir`, sorted.
pub fn trace_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    Ok(files)
}

pub fn run(options: &Options) -> Outcome {
    let start = Instant::now();
    let mut outcome = Outcome {
        cases: Vec::new(),
        divergence: None,
        coverage: Coverage::new(options.coverage),
        infrastructure_error: None,
    };

    // 1. Saved traces: fixed divergences and scenarios must keep conforming.
    if let Some(dir) = options.traces.as_ref().filter(|d| !d.is_dir()) {
        eprintln!("gate: no saved traces at {} (skipped)", dir.display());
    }
    if let Some(dir) = options.traces.as_ref().filter(|d| d.is_dir()) {
        let t = Instant::now();
        let files = match trace_files(dir) {
            Ok(f) => f,
            Err(e) => {
                outcome.infrastructure_error = Some(e);
                return outcome;
            }
        };
        let mut failures = Vec::new();
        for path in &files {
            match trace::load(path) {
                Err(e) => {
                    outcome.infrastructure_error = Some(e);
                    return outcome;
                }
                Ok(loaded) => {
                    match replay::replay(&loaded, &format!("replay of {}", path.display())) {
                        Replayed::Conforms { .. } => {}
                        Replayed::Diverged(d) => failures.push(d.render()),
                        Replayed::NotAModelRun { step, why } => failures.push(format!(
                            "{}: step {step}: not a run of the model: {why}",
                            path.display()
                        )),
                    }
                }
            }
        }
        let output = format!(
            "{} saved traces replayed from {}",
            files.len(),
            dir.display()
        );
        eprintln!("gate: {output}");
        outcome.cases.push(Case {
            name: "saved traces".into(),
            seconds: t.elapsed().as_secs_f64(),
            output,
            failure: (!failures.is_empty()).then(|| failures.join("\n")),
        });
        if !failures.is_empty() {
            for f in &failures {
                eprintln!("{f}");
            }
            return outcome;
        }
    }

    // 2. Exhaustive: every transition of each profile's model within its bounds.
    for profile in &options.profiles {
        let ex = exhaustive::run(
            &profile.model,
            &exhaustive::Options {
                perturbation: options.perturbation,
                time_limit: None,
                coverage: options.coverage,
                progress: true,
                symmetry: false,
            },
        );
        outcome.coverage.merge(&ex.coverage);
        let s = &ex.summary;
        let output = format!(
            "exhaustive {} at {}: {} states, {} transitions checked ({} leave the bounds), depth {}, {:.2} s, {:.0} transitions/s",
            profile.name,
            raft_model::cli::flags(&profile.model),
            s.states,
            s.transitions,
            s.transitions_leaving_bounds,
            s.max_depth,
            s.seconds,
            s.transitions_per_second
        );
        eprintln!("gate: {output}");
        let case = Case {
            name: format!("exhaustive {}", profile.name),
            seconds: s.seconds,
            output,
            failure: None,
        };
        if let Some((actions, _)) = ex.divergence {
            let (d, saved) = settle(
                &profile.model,
                options.perturbation,
                &actions,
                Source::Exhaustive,
                &options.out,
            );
            return finish(outcome, case, d, saved);
        }
        outcome.cases.push(case);
    }

    // 3. Random walks for most of what is left of the budget, 4. impl-first for the rest.
    let left = options
        .budget
        .saturating_sub(start.elapsed())
        .max(options.min_random);
    if start.elapsed() > options.budget {
        eprintln!(
            "gate: the exhaustive stage alone took {:.0} s of the {:.0} s budget; the randomized stages still get {:.0} s",
            start.elapsed().as_secs_f64(),
            options.budget.as_secs_f64(),
            options.min_random.as_secs_f64()
        );
    }
    let random_end = Instant::now() + left;
    let walk_time = left.mul_f64(0.7 / options.walks.len().max(1) as f64);
    for walks in &options.walks {
        let w = walk::run(&walk::Options {
            model: walks.model.clone(),
            perturbation: options.perturbation,
            seed: options.seed,
            steps: options.walk_steps,
            walks: None,
            time_limit: Some(walk_time),
            coverage: options.coverage,
        });
        outcome.coverage.merge(&w.coverage);
        let s = &w.summary;
        let output = format!(
            "random walks {} at {}: seed {}, {} walks, {} steps, {:.2} s, {:.0} steps/s (replay one walk: raft-conform walk --seed <seed + k> --walks 1 with these flags)",
            walks.name, raft_model::cli::flags(&walks.model), s.seed, s.walks, s.steps, s.seconds, s.steps_per_second
        );
        eprintln!("gate: {output}");
        let case = Case {
            name: format!("random walks {}", walks.name),
            seconds: s.seconds,
            output,
            failure: None,
        };
        if let Some(found) = w.divergence {
            let (d, saved) = settle(
                &walks.model,
                options.perturbation,
                &found.actions,
                Source::Walk(found.walk_seed),
                &options.out,
            );
            return finish(outcome, case, d, saved);
        }
        outcome.cases.push(case);
    }

    let Some(first) = options.walks.first() else {
        return outcome;
    };
    let left = random_end.saturating_duration_since(Instant::now());
    let impl_first_options = impl_first::Options {
        servers: first.model.bounds.servers,
        values: first.model.bounds.values,
        params: first.model.params,
        perturbation: options.perturbation,
        seed: options.seed,
        time_limit: Some(left),
        ..impl_first::Options::default()
    };
    let i = impl_first::run(&impl_first_options);
    let s = &i.summary;
    let output = format!(
        "impl-first {}: seed {}, {} runs, {} steps ({} model events, {} ignored inputs the model does not offer), {:.2} s, {:.0} steps/s",
        first.name, s.seed, s.runs, s.steps, s.model_events, s.ignored_inputs, s.seconds, s.steps_per_second
    );
    eprintln!("gate: {output}");
    let mut case = Case {
        name: "impl-first validation".into(),
        seconds: s.seconds,
        output,
        failure: None,
    };
    match i.violation {
        None => {
            outcome.cases.push(case);
            outcome
        }
        Some(v) => {
            eprintln!("{}", v.render());
            match v.as_trace() {
                // A model event the impl took differently: a lock-step divergence like any other.
                Some(trace) => {
                    let (d, saved) = settle(
                        &impl_first::judge(&impl_first_options),
                        options.perturbation,
                        &trace,
                        Source::ImplFirst(v.run_seed),
                        &options.out,
                    );
                    finish(outcome, case, d, saved)
                }
                // An input the model does not offer changed the impl's state: no model trace
                // reaches it, so the report is the input log and the difference.
                None => {
                    case.failure = Some(v.render());
                    outcome.cases.push(case);
                    outcome
                }
            }
        }
    }
}

fn finish(
    mut outcome: Outcome,
    mut case: Case,
    d: Divergence,
    saved: Result<PathBuf, String>,
) -> Outcome {
    if let Err(e) = saved {
        outcome.infrastructure_error = Some(format!("could not save the diverging trace: {e}"));
    }
    let report = d.render();
    eprintln!("{report}");
    case.failure = Some(report);
    outcome.cases.push(case);
    outcome.divergence = Some(d);
    outcome
}
