//! The `raft-model` command: check the Raft model of the paper's Figure 2 (sections 5.1-5.4)
//! exhaustively, list the bug flags, or browse paths in the stateright Explorer.

use clap::{Args, Parser, Subcommand, ValueEnum};
use raft_model::check::{check, CheckOptions, Report};
use raft_model::cli::{self as flags, ModelArgs};
use raft_model::{Bug, RaftModel};
use stateright::Model;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "raft-model",
    version,
    about = "Model checker for Raft (stateright)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check every property exhaustively within the bounds.
    Check(CheckArgs),
    /// Serve the stateright Explorer for the model.
    Explore(ExploreArgs),
    /// List the bug flags.
    Bugs,
}

#[derive(Args)]
struct CheckArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Checker threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Reduce by server-id symmetry (DFS over representatives).
    #[arg(long)]
    symmetry: bool,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// The Explorer address the counterexample URLs point to.
    #[arg(long, default_value = "127.0.0.1:3000")]
    addr: String,
    /// End at the first violated `always` property, reporting the path the search took (not
    /// the shortest): for bounds too large to explore completely.
    #[arg(long)]
    stop_on_violation: bool,
    /// End after this many states; the report covers the part explored.
    #[arg(long, value_name = "N")]
    state_limit: Option<usize>,
}

#[derive(Args)]
struct ExploreArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[arg(long, default_value = "127.0.0.1:3000")]
    addr: String,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check(args) => run_check(&args),
        Command::Explore(args) => run_explore(&args),
        Command::Bugs => {
            print_bugs();
            Ok(true)
        }
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

fn run_check(args: &CheckArgs) -> Result<bool, String> {
    let model = args.model.model()?;
    if args.threads == 0 {
        return Err("--threads must be at least 1".to_string());
    }
    if args.symmetry {
        model.params.symmetric()?;
    }
    let options = CheckOptions {
        threads: args.threads,
        symmetry: args.symmetry,
        explorer_addr: args.addr.clone(),
        progress: true,
        stop_on_violation: args.stop_on_violation,
        state_limit: args.state_limit,
    };
    let report = check(&model, &options);
    match args.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("a report serialises")
        ),
        Format::Text => print_report(&report),
    }
    Ok(report.ok())
}

/// The model as the flags that select it, and its bug flag.
fn describe(model: &RaftModel) -> String {
    format!(
        "{}; bug: {}",
        flags::bounds_and_params(&model.bounds, &model.params),
        model.bug.map_or("none", Bug::name)
    )
}

fn print_report(report: &Report) {
    println!("model: {}", describe(&report.model));
    println!(
        "search: DFS, {} thread(s){}",
        report.threads,
        if report.symmetry { ", symmetry" } else { "" }
    );
    println!("unique states: {}", report.unique_states);
    println!("states: {}", report.states);
    println!("max depth: {}", report.max_depth);
    println!("seconds: {:.2}", report.seconds);
    println!("states per second: {:.0}", report.states_per_second);
    println!("properties:");
    for p in &report.properties {
        println!("  {:<13} {:<9} {}", p.status, p.expectation, p.name);
        if let (Some(steps), Some(url)) = (&p.counterexample, &p.explorer_url) {
            println!("    shortest counterexample ({} steps):", steps.len());
            for (i, step) in steps.iter().enumerate() {
                println!("      {:>2}. {step}", i + 1);
            }
            println!("    explorer: {url}");
        }
    }
    if report.minimise_seconds > 0.0 && report.properties.iter().any(|p| p.status == "violated") {
        println!("minimise seconds: {:.2}", report.minimise_seconds);
    }
}

fn print_bugs() {
    for bug in Bug::ALL {
        let b = bug.bounds();
        println!("{}", bug.name());
        println!("    mistake:  {}", bug.mistake());
        println!("    violates: {}", bug.violates());
        println!(
            "    bounds:   {}",
            flags::bounds_and_params(&b, &bug.params())
        );
        if let Some(scripted) = bug.scripted_bounds() {
            println!(
                "    shown by: a scripted counterexample at {} (model/tests/stale_replies.rs; too large to explore completely, see specs/bugs.md)",
                flags::bounds_and_params(&scripted, &bug.params())
            );
        }
        println!("    source:   {}", bug.source());
    }
}

fn run_explore(args: &ExploreArgs) -> Result<bool, String> {
    let model = args.model.model()?;
    // stateright's server panics when it cannot bind; find out first and say why.
    std::net::TcpListener::bind(&args.addr)
        .map_err(|e| format!("cannot listen on {}: {e}", args.addr))?;
    println!("model: {}", describe(&model));
    println!("Explorer at http://{}/", args.addr);
    model.checker().serve(args.addr.as_str());
    Ok(true)
}
