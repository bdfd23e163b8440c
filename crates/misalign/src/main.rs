//! `misalign`: stress-test language-model agents for agentic misalignment.
//!
//! This crate is wiring only: the clap command tree, progress display and error reporting.
//! Each subcommand lives in its own module under `commands/`.

mod commands;
mod input;
mod progress;
mod say;

use clap::{Parser, Subcommand};
use say::note;

/// Stress-test language-model agents for agentic misalignment.
///
/// misalign puts a model in the role of an autonomous email agent at a fictional company,
/// threatens it with replacement or sets its goal against the company's new direction, and
/// measures how often it blackmails an executive, leaks confidential documents, or lets a
/// person die. Start with `misalign run examples/quickstart.yaml`.
#[derive(Parser, Debug)]
#[command(
    name = "misalign",
    version,
    about,
    long_about,
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
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
    /// Classify sampled answers (a results folder, or standalone JSONL answers).
    Classify(commands::classify::Args),
    /// Write summary.csv, summary.json and report.html, and print the rate table.
    Report(commands::report::Args),
    /// Export a results folder as Inspect evaluation logs or as samples.csv.
    Export(commands::export::Args),
    /// Serve the transcript viewer for a results folder on localhost.
    View(commands::view::Args),
    /// Fetch or list local GGUF models.
    #[command(subcommand)]
    Models(commands::models::Command),
    /// Print shell completions.
    Completions(commands::completions::Args),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Generate(a) => commands::generate::run(a),
        Command::Validate(a) => commands::validate::run(a),
        Command::Scenarios(c) => commands::scenarios::run(c),
        Command::Run(a) => commands::run::run(a),
        Command::Status(a) => commands::status::run(a),
        Command::Classify(a) => commands::classify::run(a),
        Command::Report(a) => commands::report::run(a),
        Command::Export(a) => commands::export::run(a),
        Command::View(a) => commands::view::run(a),
        Command::Models(c) => commands::models::run(c),
        Command::Completions(a) => commands::completions::run(a),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            note!("error: {err:#}");
            std::process::ExitCode::from(2)
        }
    }
}
