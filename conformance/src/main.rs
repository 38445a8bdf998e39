//! `raft-conform`: conformance of the Raft core to the model, as a CLI and a CI gate.
//!
//! Exit codes: 0 everything conforms, 1 a divergence (report printed, trace saved), 2 bad
//! arguments, a malformed trace file or an infrastructure error.

use clap::{Args, Parser, Subcommand, ValueEnum};
use raft_conformance::coverage::Coverage;
use raft_conformance::driver::Perturbation;
use raft_conformance::gate;
use raft_conformance::replay::{self, Replayed};
use raft_conformance::{exhaustive, impl_first, itf, junit, trace, walk};
use raft_model::{minimise, protocol, Bounds, Bug, Params, Protocol, RaftModel};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Parser)]
#[command(
    name = "raft-conform",
    version,
    about = "Checks that the Raft core refines the model, transition by transition"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The CI gate: saved traces, exhaustive mode, then random walks and impl-first runs until
    /// the budget is spent.
    Gate(GateArgs),
    /// Check every transition of the model's reachable graph against the impl.
    Exhaustive(ExhaustiveArgs),
    /// Seeded random walks at larger bounds.
    Walk(WalkArgs),
    /// Run the impl under a seeded random schedule and check each step is a model transition.
    ImplFirst(ImplFirstArgs),
    /// Replay a trace file against the impl.
    Replay(ReplayArgs),
    /// Write the model's shortest counterexample for a bug flag as a trace file.
    Counterexample(CounterexampleArgs),
    /// Convert a trace file to another format (ITF).
    Convert(ConvertArgs),
    /// Write the model's shortest run to a state where a `sometimes` property holds, for every
    /// such property, as trace files (scenarios worth keeping as regression traces).
    Witness(WitnessArgs),
}

#[derive(Args)]
struct WitnessArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Directory to write `witness-<n>.json` into.
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    output: PathBuf,
}

/// Model bounds and parameters (as `raft-model` takes them), and a mistake to inject on the impl
/// side.
#[derive(Args, Clone)]
struct ModelArgs {
    #[command(flatten)]
    model: raft_model::cli::ModelArgs,
    /// Inject this mistake on the impl side (to show that the check catches it).
    #[arg(long, value_name = "NAME")]
    perturb: Option<Perturbation>,
}

impl ModelArgs {
    fn model(&self, base: Bounds) -> Result<RaftModel, String> {
        self.model.model_from(base)
    }

    /// The model at its profile's default bounds (`--protocol`'s, or the basic defaults).
    fn profile_model(&self) -> Result<RaftModel, String> {
        self.model.model()
    }
}

#[derive(Args)]
struct GateArgs {
    /// Total time budget in seconds (the exhaustive stage always runs to the end).
    #[arg(long, default_value_t = 120.0)]
    budget: f64,
    /// Seconds the randomized stages get at least, even when the exhaustive stage used up the
    /// budget.
    #[arg(long, default_value_t = 10.0)]
    min_random: f64,
    /// Seed of the randomized stages (default: from the clock; it is printed either way).
    #[arg(long)]
    seed: Option<u64>,
    /// Write JUnit XML here.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Saved traces replayed first.
    #[arg(long, value_name = "DIR", default_value = "conformance/traces")]
    traces: PathBuf,
    /// Where a diverging trace is saved.
    #[arg(long, value_name = "DIR", default_value = "target/conformance")]
    out: PathBuf,
    /// Servers in the random walks and impl-first runs.
    #[arg(long, default_value_t = 5)]
    walk_servers: u8,
    #[arg(long, default_value_t = 300)]
    walk_steps: usize,
    #[command(flatten)]
    model: ModelArgs,
    /// Print the coverage report at the end.
    #[arg(long)]
    coverage: bool,
}

#[derive(Args)]
struct ExhaustiveArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Expand one state per class of server renamings (the impl treats ids alike).
    #[arg(long)]
    symmetry: bool,
    /// Stop after this many seconds (the run is then reported incomplete).
    #[arg(long)]
    time_limit: Option<f64>,
    #[arg(long, value_name = "DIR", default_value = "target/conformance")]
    out: PathBuf,
    #[arg(long)]
    coverage: bool,
    /// Also print the summary as one line of JSON.
    #[arg(long)]
    json: bool,
    /// Also run the model checker on the same bounds and compare its unique-state count.
    #[arg(long)]
    cross_check: bool,
}

#[derive(Args)]
struct WalkArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[arg(long)]
    seed: Option<u64>,
    #[arg(long)]
    walks: Option<u64>,
    #[arg(long, default_value_t = 300)]
    steps: usize,
    /// Seconds to keep walking (default 10 unless --walks is given).
    #[arg(long)]
    time_limit: Option<f64>,
    #[arg(long, value_name = "DIR", default_value = "target/conformance")]
    out: PathBuf,
    #[arg(long)]
    coverage: bool,
}

#[derive(Args)]
struct ImplFirstArgs {
    #[arg(long, default_value_t = 3)]
    servers: u8,
    #[arg(long, default_value_t = 3)]
    values: u8,
    #[arg(long)]
    seed: Option<u64>,
    #[arg(long)]
    runs: Option<u64>,
    #[arg(long, default_value_t = 400)]
    steps: usize,
    #[arg(long)]
    time_limit: Option<f64>,
    #[arg(long, value_name = "NAME")]
    perturb: Option<Perturbation>,
    /// The protocol profile the impl runs (with any extension on, it runs on its own ticks).
    #[arg(long, value_name = "PROFILE", default_value = "basic")]
    protocol: Protocol,
    #[arg(long, value_name = "DIR", default_value = "target/conformance")]
    out: PathBuf,
}

#[derive(Args)]
struct ReplayArgs {
    /// One or more trace files.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Print the coverage of the replayed traces (action kinds, transition classes, `sometimes`
    /// properties witnessed).
    #[arg(long)]
    coverage: bool,
    #[arg(long, value_name = "DIR", default_value = "target/conformance")]
    out: PathBuf,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Json,
    Itf,
}

#[derive(Args)]
struct CounterexampleArgs {
    #[arg(long, value_name = "NAME")]
    bug: Bug,
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Json)]
    format: Format,
}

#[derive(Args)]
struct ConvertArgs {
    file: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Itf)]
    format: Format,
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Gate(a) => run_gate(a),
        Command::Exhaustive(a) => run_exhaustive(a),
        Command::Walk(a) => run_walk(a),
        Command::ImplFirst(a) => run_impl_first(a),
        Command::Replay(a) => run_replay(a),
        Command::Counterexample(a) => run_counterexample(a),
        Command::Convert(a) => run_convert(a),
        Command::Witness(a) => run_witness(a),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

fn seed_or_clock(seed: Option<u64>) -> u64 {
    seed.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
            % 1_000_000_007
    })
}

/// `--time-limit` if given; otherwise 10 s, unless a count of walks or runs bounds the work.
fn time_limit(given: Option<f64>, counted: bool) -> Result<Option<Duration>, String> {
    match (given, counted) {
        (Some(t), _) => Ok(Some(seconds(t, "--time-limit")?)),
        (None, false) => Ok(Some(Duration::from_secs(10))),
        (None, true) => Ok(None),
    }
}

fn seconds(x: f64, flag: &str) -> Result<Duration, String> {
    if x.is_finite() && x >= 0.0 {
        Ok(Duration::from_secs_f64(x))
    } else {
        Err(format!("{flag} must be a non-negative number of seconds"))
    }
}

fn print_coverage(coverage: &Coverage) {
    if !coverage.is_enabled() {
        return;
    }
    let r = coverage.report();
    println!("coverage: action kinds");
    for (k, n) in &r.action_kinds {
        println!("  {n:>12}  {k}");
    }
    println!(
        "coverage: transition classes ({})",
        r.transition_classes.len()
    );
    for (k, n) in &r.transition_classes {
        println!("  {n:>12}  {k}");
    }
    println!("coverage: sometimes properties witnessed");
    for p in &r.sometimes_witnessed {
        println!("  yes  {p}");
    }
    for p in &r.sometimes_not_witnessed {
        println!("  NO   {p}");
    }
}

fn run_gate(a: GateArgs) -> Result<u8, String> {
    let budget = seconds(a.budget, "--budget")?;
    let seed = seed_or_clock(a.seed);
    // The profiles: the one --protocol names (or the bug flag's), else every profile; the walks
    // run the last one's protocol, production when every profile runs.
    let chosen = &a.model.model;
    let protocols: Vec<Protocol> = match (chosen.protocol, chosen.bug) {
        (Some(p), _) => vec![p],
        (None, Some(bug)) => vec![bug.protocol()],
        (None, None) => Protocol::ALL.to_vec(),
    };
    let mut profiles = Vec::new();
    for &p in &protocols {
        let mut args = chosen.clone();
        args.protocol = Some(p);
        let model = args.model_from(p.bounds())?;
        profiles.push(gate::Profile {
            model,
            ..gate::Profile::of(p, chosen.bug)
        });
    }
    if a.walk_servers == 0 {
        return Err("--walk-servers must be at least 1".into());
    }
    let walk = |name: &str, params: Params| -> Result<gate::Profile, String> {
        let mut model = RaftModel {
            bounds: Bounds {
                servers: a.walk_servers,
                ..walk::default_bounds()
            },
            params,
            bug: chosen.bug,
        };
        model.bounds.values = model.bounds.values.max(1);
        model.validate()?;
        Ok(gate::Profile {
            name: name.to_string(),
            model,
        })
    };
    let walks = if protocols.len() == Protocol::ALL.len() {
        // Every extension the model has, in as few walks as the model can combine them in.
        protocol::walk_profiles()
            .into_iter()
            .map(|(name, params)| walk(name, params))
            .collect::<Result<_, _>>()?
    } else {
        let last = profiles.last().expect("at least one profile");
        vec![walk(&last.name, last.model.params)?]
    };
    println!(
        "gate: seed {seed} (rerun with --seed {seed}), budget {:.0} s",
        budget.as_secs_f64()
    );
    let options = gate::Options {
        budget,
        seed,
        profiles,
        walks,
        walk_steps: a.walk_steps,
        min_random: seconds(a.min_random, "--min-random")?,
        perturbation: a.model.perturb,
        traces: Some(a.traces),
        out: a.out,
        coverage: a.coverage,
    };
    let outcome = gate::run(&options);
    print_coverage(&outcome.coverage);
    if let Some(path) = &a.junit {
        let xml = junit::render("raft-conformance", &outcome.cases);
        std::fs::write(path, xml).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    if let Some(e) = &outcome.infrastructure_error {
        eprintln!("error: {e}");
    }
    let code = outcome.exit_code();
    println!(
        "gate: {}",
        match code {
            0 => "conforms",
            1 => "DIVERGENCE",
            _ => "infrastructure error",
        }
    );
    Ok(code)
}

fn run_exhaustive(a: ExhaustiveArgs) -> Result<u8, String> {
    let model = a.model.profile_model()?;
    let time_limit = a
        .time_limit
        .map(|t| seconds(t, "--time-limit"))
        .transpose()?;
    if a.symmetry {
        model.params.symmetric()?;
    }
    let outcome = exhaustive::run(
        &model,
        &exhaustive::Options {
            perturbation: a.model.perturb,
            time_limit,
            coverage: a.coverage,
            progress: true,
            symmetry: a.symmetry,
        },
    );
    let s = &outcome.summary;
    println!(
        "model: {:?} {:?} bug {:?}",
        model.bounds,
        model.params,
        model.bug.map(Bug::name)
    );
    if a.json {
        println!("{}", serde_json::to_string(s).map_err(|e| e.to_string())?);
    }
    println!(
        "exhaustive: {} states, {} transitions checked ({} leave the bounds), depth {}, {:.2} s, {:.0} transitions/s{}",
        s.states,
        s.transitions,
        s.transitions_leaving_bounds,
        s.max_depth,
        s.seconds,
        s.transitions_per_second,
        if s.complete { "" } else { " (INCOMPLETE)" }
    );
    print_coverage(&outcome.coverage);
    if a.cross_check && s.complete {
        let report = raft_model::check::check(&model, &raft_model::check::CheckOptions::default());
        println!(
            "model checker: {} unique states ({:.2} s); exhaustive mode expanded {} ({})",
            report.unique_states,
            report.seconds,
            s.states,
            if report.unique_states as u64 == s.states {
                "equal"
            } else {
                "DIFFERENT"
            }
        );
    }
    if let Some((actions, _)) = outcome.divergence {
        let (d, saved) = gate::settle(
            &model,
            a.model.perturb,
            &actions,
            gate::Source::Exhaustive,
            &a.out,
        );
        println!("{}", d.render());
        saved?;
        return Ok(1);
    }
    Ok(0)
}

fn run_walk(a: WalkArgs) -> Result<u8, String> {
    let model = a.model.model(walk::default_bounds())?;
    let seed = seed_or_clock(a.seed);
    let time_limit = time_limit(a.time_limit, a.walks.is_some())?;
    println!("walk: seed {seed}, bounds {:?}", model.bounds);
    let outcome = walk::run(&walk::Options {
        model: model.clone(),
        perturbation: a.model.perturb,
        seed,
        steps: a.steps,
        walks: a.walks,
        time_limit,
        coverage: a.coverage,
    });
    let s = &outcome.summary;
    println!(
        "walk: {} walks, {} steps, {:.2} s, {:.0} steps/s, {:.1} walks/s",
        s.walks, s.steps, s.seconds, s.steps_per_second, s.walks_per_second
    );
    print_coverage(&outcome.coverage);
    if let Some(found) = outcome.divergence {
        let (d, saved) = gate::settle(
            &model,
            a.model.perturb,
            &found.actions,
            gate::Source::Walk(found.walk_seed),
            &a.out,
        );
        println!("{}", d.render());
        saved?;
        return Ok(1);
    }
    Ok(0)
}

fn run_impl_first(a: ImplFirstArgs) -> Result<u8, String> {
    if a.servers == 0 || a.servers > 8 {
        return Err("--servers must be between 1 and 8".into());
    }
    let seed = seed_or_clock(a.seed);
    let time_limit = time_limit(a.time_limit, a.runs.is_some())?;
    println!(
        "impl-first: seed {seed}, {} servers, protocol {}",
        a.servers,
        a.protocol.name()
    );
    let options = impl_first::Options {
        servers: a.servers,
        values: a.values.max(1),
        params: a.protocol.params(),
        perturbation: a.perturb,
        seed,
        steps: a.steps,
        runs: a.runs,
        time_limit,
        ..impl_first::Options::default()
    };
    let outcome = impl_first::run(&options);
    let s = &outcome.summary;
    println!(
        "impl-first: {} runs, {} steps ({} model events, {} ignored inputs the model does not offer), {:.2} s, {:.0} steps/s",
        s.runs, s.steps, s.model_events, s.ignored_inputs, s.seconds, s.steps_per_second
    );
    if let Some(v) = outcome.violation {
        println!("{}", v.render());
        if let Some(trace) = v.as_trace() {
            let (d, saved) = gate::settle(
                &impl_first::judge(&options),
                a.perturb,
                &trace,
                gate::Source::ImplFirst(v.run_seed),
                &a.out,
            );
            println!("{}", d.render());
            saved?;
        }
        return Ok(1);
    }
    Ok(0)
}

fn run_replay(a: ReplayArgs) -> Result<u8, String> {
    let mut coverage = Coverage::new(a.coverage);
    let mut code = 0;
    for file in &a.files {
        let loaded = trace::load(file)?;
        let run =
            raft_conformance::lockstep::run(&loaded.model, loaded.perturbation, &loaded.actions);
        if coverage.is_enabled() {
            for (k, pair) in run.states.windows(2).enumerate() {
                coverage.transition(&pair[0], &loaded.actions[k], &pair[1]);
                coverage.state(&loaded.model, &pair[1]);
            }
        }
        match replay::judge(&loaded, &run, &format!("replay of {}", file.display())) {
            Replayed::Conforms { steps } => println!("{}: {steps} steps, conforms", file.display()),
            Replayed::Diverged(mut d) => {
                // Shrink it too: a replayed trace may be longer than it needs to be.
                d.actions = raft_conformance::shrink::shrink(&d.model, d.perturbation, &d.actions);
                let stem = file
                    .file_stem()
                    .map(|s| format!("{}-shrunk", s.to_string_lossy()))
                    .unwrap_or_else(|| "divergence-replay".into());
                let saved = d.save_in(&a.out, &stem);
                println!("{}", d.render());
                saved?;
                code = 1;
            }
            Replayed::NotAModelRun { step, why } => {
                println!(
                    "{}: step {step} is not a run of the model: {why}",
                    file.display()
                );
                code = 1;
            }
        }
    }
    print_coverage(&coverage);
    Ok(code)
}

fn run_counterexample(a: CounterexampleArgs) -> Result<u8, String> {
    let model = RaftModel::for_bug(a.bug);
    let property = a.bug.violates();
    let paths = minimise::shortest_paths(&model, &[property]);
    let actions = paths.get(property).ok_or_else(|| {
        format!(
            "the model finds no violation of {property:?} for --bug {} at its bounds",
            a.bug.name()
        )
    })?;
    let description = format!(
        "shortest counterexample of raft-model --bug {}: {} ({})",
        a.bug.name(),
        property,
        a.bug.mistake()
    );
    write_trace(&model, actions, description, a.format, &a.output)?;
    println!(
        "{}: {} steps, violates {property:?}",
        a.output.display(),
        actions.len()
    );
    Ok(0)
}

fn write_trace(
    model: &RaftModel,
    actions: &[raft_model::Action],
    description: String,
    format: Format,
    output: &std::path::Path,
) -> Result<(), String> {
    match format {
        Format::Json => trace::save(
            output,
            &trace::from_actions(model, None, actions, Some(description), None),
        ),
        Format::Itf => {
            let value = itf::export(model, actions, &description);
            let text = serde_json::to_string_pretty(&value).map_err(|e| e.to_string())?;
            std::fs::write(output, text + "\n")
                .map_err(|e| format!("cannot write {}: {e}", output.display()))
        }
    }
}

fn run_convert(a: ConvertArgs) -> Result<u8, String> {
    let loaded = trace::load(&a.file)?;
    // The states written are the model's, which exist only along a run of it.
    if let Err(e) = trace::check_model_run(&loaded.model, &loaded.actions) {
        println!("{}: not converted: {e}", a.file.display());
        return Ok(1);
    }
    let description = loaded
        .file
        .description
        .clone()
        .unwrap_or_else(|| format!("converted from {}", a.file.display()));
    write_trace(
        &loaded.model,
        &loaded.actions,
        description,
        a.format,
        &a.output,
    )?;
    println!("{}: written", a.output.display());
    Ok(0)
}

fn run_witness(a: WitnessArgs) -> Result<u8, String> {
    let model = a.model.profile_model()?;
    let names: Vec<&'static str> = raft_model::properties::all(&model.params, &model.bounds)
        .into_iter()
        .filter(|p| p.expectation == stateright::Expectation::Sometimes)
        .map(|p| p.name)
        .collect();
    let paths = minimise::shortest_paths(&model, &names);
    for (k, name) in names.iter().enumerate() {
        match paths.get(name) {
            Some(actions) => {
                let path = a.output.join(format!("witness-{}.json", k + 1));
                let description =
                    format!("shortest run of the model to a state where {name:?} holds");
                write_trace(&model, actions, description, Format::Json, &path)?;
                println!("{}: {} steps: {name}", path.display(), actions.len());
            }
            None => println!("not witnessed within the bounds: {name}"),
        }
    }
    Ok(0)
}
