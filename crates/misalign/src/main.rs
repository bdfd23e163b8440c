//! `misalign`: stress-test language-model agents for agentic misalignment.
//!
//! This crate is wiring only: the clap command tree, progress display and error reporting.
//! Each subcommand lives in its own module under `commands/`.

mod commands;
mod exit;
mod input;
mod overrides;
mod progress;
mod report_events;
mod results_dir;
mod say;

use clap::{Parser, Subcommand};
use say::note;

/// Stress-test language-model agents for agentic misalignment.
///
/// misalign puts a model in the role of an autonomous email agent at a fictional company,
/// threatens it with replacement or sets its goal against the company's new direction, and
/// measures how often it blackmails an executive, leaks confidential documents, lets a
/// person die, copies its own weights out, or sabotages its shutdown or monitoring. Start
/// with `misalign run examples/quickstart.yaml`.
#[derive(Parser, Debug)]
#[command(
    name = "misalign",
    version,
    about,
    long_about,
    propagate_version = true
)]
pub struct Cli {
    /// More log detail on stderr: -v for progress notes, -vv for debugging. RUST_LOG, when
    /// set, takes precedence (e.g. RUST_LOG=misalign_run=debug). Warnings show by default.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

/// Sends the libraries' `tracing` events to stderr: warnings by default (a GGUF without a
/// chat template, an implausible token count), more with -v / -vv or RUST_LOG.
fn install_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(match verbose {
            0 => "warn",
            1 => "info",
            _ => "debug",
        })
    });
    // A second install (never expected) would only be ignored.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .with_target(false)
        .try_init();
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Render every condition's prompts into a folder (no model calls, no API keys).
    Generate(commands::generate::Args),
    /// Check an experiment file and print its plan.
    Validate(commands::validate::Args),
    /// List, show or export the built-in scenario packs.
    #[command(subcommand)]
    Scenarios(commands::scenarios::Command),
    /// Sample every work item from the models under test, then classify and report.
    Run(commands::run::Args),
    /// Show completed / failed / pending counts of a results folder.
    Status(commands::status::Args),
    /// List the results folders under `results/`, newest first.
    Runs(commands::runs::Args),
    /// Classify sampled answers (a results folder, or standalone JSONL answers).
    Classify(commands::classify::Args),
    /// Write summary.csv, summary.json and report.html, and print the rate table.
    Report(commands::report::Args),
    /// Read an existing results tree (models/<model>/<condition>/sample_NNN/response.json)
    /// into a results store.
    Import(commands::import::Args),
    /// Export a results folder as Inspect evaluation logs or as samples.csv.
    Export(commands::export::Args),
    /// Serve the transcript viewer for a results folder on localhost (reviewers label
    /// samples there).
    View(commands::view::Args),
    /// Human labels: choose answers to label, export, import, status (docs/labels.md).
    #[command(subcommand)]
    Labels(commands::labels::Command),
    /// Start a loopback mock model server and print an experiment that uses it: the whole
    /// pipeline with no API key and no model (canned answers; the rates mean nothing).
    Mock(commands::mock::Args),
    /// Fetch or list local GGUF models.
    #[command(subcommand)]
    Models(commands::models::Command),
    /// Print the JSON Schema of experiment files (for editors' completion and checks).
    Schema(commands::schema::Args),
    /// Print shell completions.
    Completions(commands::completions::Args),
    /// Check that the embedded model can run on this machine: the CPU's features, what
    /// llama.cpp was built for, its kernel path and thread count.
    Doctor(commands::doctor::Args),
}

fn main() -> std::process::ExitCode {
    // This binary is also the engine runner that hosts llama.cpp for `run` (a hidden mode,
    // started by misalign itself; misalign_local::engine::runner).
    #[cfg(feature = "local")]
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == misalign_local::engine::RUNNER_ARG)
    {
        return misalign_local::engine::runner::main();
    }
    let cli = Cli::parse();
    install_logging(cli.verbose);
    input::announce_env_base_urls();
    let result = match cli.command {
        Command::Generate(a) => commands::generate::run(a),
        Command::Validate(a) => commands::validate::run(a),
        Command::Scenarios(c) => commands::scenarios::run(c),
        Command::Run(a) => commands::run::run(a),
        Command::Status(a) => commands::status::run(a),
        Command::Runs(a) => commands::runs::run(a),
        Command::Classify(a) => commands::classify::run(a),
        Command::Report(a) => commands::report::run(a),
        Command::Import(a) => commands::import::run(a),
        Command::Export(a) => commands::export::run(a),
        Command::View(a) => commands::view::run(a),
        Command::Labels(c) => commands::labels::run(c),
        Command::Mock(a) => commands::mock::run(a),
        Command::Models(c) => commands::models::run(c),
        Command::Schema(a) => commands::schema::run(a),
        Command::Completions(a) => commands::completions::run(a),
        Command::Doctor(a) => commands::doctor::run(a),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            note!("error: {err:#}");
            exit::usage()
        }
    }
}
