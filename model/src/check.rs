//! Running the checker: an exhaustive stateright DFS within the bounds, then, for every
//! violated `always` property of Figure 3 (Raft paper, sections 5.2-5.4), the shortest
//! counterexample (see `minimise`) and the Explorer URL that opens it.

use crate::actions::Action;
use crate::minimise;
use crate::svg::format_action;
use crate::RaftModel;
use serde::Serialize;
use stateright::{Checker, Expectation, HasDiscoveries, Model, Path};
use std::time::{Duration, Instant};

/// How to run a check.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    pub threads: usize,
    /// DFS over representatives of server-id permutations (see `symmetry`).
    pub symmetry: bool,
    /// Where `raft-model explore` serves, for the counterexample URLs.
    pub explorer_addr: String,
    /// Print progress on stderr once the run takes longer than a second.
    pub progress: bool,
    /// End the search at the first violated `always` property and report the path the search
    /// took to it (not necessarily the shortest), for bounds too large to explore completely.
    pub stop_on_violation: bool,
    /// End the search once this many states (`Report::states`) have been generated, for bounds
    /// too large to explore completely; the report then covers the part explored.
    pub state_limit: Option<usize>,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            threads: 1,
            symmetry: false,
            explorer_addr: "127.0.0.1:3000".to_string(),
            progress: false,
            stop_on_violation: false,
            state_limit: None,
        }
    }
}

/// The outcome of one property.
#[derive(Clone, Debug, Serialize)]
pub struct PropertyResult {
    pub name: &'static str,
    /// "always" or "sometimes".
    pub expectation: &'static str,
    /// "holds", "violated", "witnessed" or "not witnessed".
    pub status: &'static str,
    /// For a violated `always`: the shortest action sequence that reaches a violation (with
    /// `stop_on_violation` or `state_limit`, the path the search took).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counterexample: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explorer_url: Option<String>,
    #[serde(skip)]
    pub actions: Option<Vec<Action>>,
}

/// Everything `raft-model check` prints.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub model: RaftModel,
    pub threads: usize,
    pub symmetry: bool,
    pub unique_states: usize,
    pub states: usize,
    pub max_depth: usize,
    pub seconds: f64,
    /// Unique states per second.
    pub states_per_second: f64,
    /// Time spent finding the shortest counterexamples, after the check.
    pub minimise_seconds: f64,
    pub properties: Vec<PropertyResult>,
}

impl Report {
    /// Every `always` holds and every `sometimes` is witnessed.
    pub fn ok(&self) -> bool {
        self.properties
            .iter()
            .all(|p| p.status == "holds" || p.status == "witnessed")
    }

    pub fn property(&self, name: &str) -> Option<&PropertyResult> {
        self.properties.iter().find(|p| p.name == name)
    }
}

/// Checks `model` exhaustively within its bounds.
pub fn check(model: &RaftModel, options: &CheckOptions) -> Report {
    let start = Instant::now();
    let mut builder = model.clone().checker().threads(options.threads.max(1));
    if options.symmetry {
        builder = builder.symmetry();
    }
    if options.stop_on_violation {
        builder = builder.finish_when(HasDiscoveries::AnyFailures);
    }
    if let Some(limit) = options.state_limit {
        builder = builder.target_state_count(limit);
    }
    let checker = builder.spawn_dfs();
    let mut last_report = Instant::now();
    while !checker.is_done() {
        std::thread::sleep(Duration::from_millis(20));
        if options.progress
            && start.elapsed() > Duration::from_secs(1)
            && last_report.elapsed() >= Duration::from_secs(1)
        {
            last_report = Instant::now();
            eprintln!(
                "checking: {} unique states, {} states, depth {}, {:.0} s",
                checker.unique_state_count(),
                checker.state_count(),
                checker.max_depth(),
                start.elapsed().as_secs_f64()
            );
        }
    }
    let checker = checker.join();
    let seconds = start.elapsed().as_secs_f64();
    let discoveries = checker.discoveries();

    let violated: Vec<&'static str> = model
        .properties()
        .iter()
        .filter(|p| p.expectation == Expectation::Always && discoveries.contains_key(p.name))
        .map(|p| p.name)
        .collect();
    let minimise_start = Instant::now();
    if options.progress && seconds > 1.0 && !violated.is_empty() {
        eprintln!("finding the shortest counterexamples...");
    }
    let shortest = if options.stop_on_violation || options.state_limit.is_some() {
        violated
            .iter()
            .map(|&name| (name, discoveries[name].clone().into_actions()))
            .collect()
    } else {
        minimise::shortest_paths(model, &violated)
    };
    let minimise_seconds = minimise_start.elapsed().as_secs_f64();

    let properties = model
        .properties()
        .iter()
        .map(|p| {
            let found = discoveries.contains_key(p.name);
            let (expectation, status) = match (&p.expectation, found) {
                (Expectation::Always, false) => ("always", "holds"),
                (Expectation::Always, true) => ("always", "violated"),
                (_, true) => ("sometimes", "witnessed"),
                (_, false) => ("sometimes", "not witnessed"),
            };
            let actions = shortest.get(p.name).cloned();
            PropertyResult {
                name: p.name,
                expectation,
                status,
                counterexample: actions
                    .as_ref()
                    .map(|a| a.iter().map(format_action).collect()),
                explorer_url: actions
                    .as_ref()
                    .map(|a| explorer_url(model, a, &options.explorer_addr)),
                actions,
            }
        })
        .collect();
    let unique_states = checker.unique_state_count();
    Report {
        model: model.clone(),
        threads: options.threads.max(1),
        symmetry: options.symmetry,
        unique_states,
        states: checker.state_count(),
        max_depth: checker.max_depth(),
        seconds,
        states_per_second: unique_states as f64 / seconds.max(1e-9),
        minimise_seconds,
        properties,
    }
}

/// The Explorer encodes a path as the index of the initial state followed by the index of each
/// action in the list `actions` returns at that state (stateright 0.31 `Path::encode`).
pub fn explorer_url(model: &RaftModel, actions: &[Action], addr: &str) -> String {
    let path = Path::from_actions(model, model.initial_state(), actions)
        .expect("a counterexample replays from the initial state");
    format!("http://{addr}/#/steps/{}", path.encode(model))
}
