//! `misalign scenarios list|show|check|export`: look at the built-in scenario packs (or a
//! `--templates DIR` folder), check them against the design rules, and write the built-in
//! tree out for editing; the work is `misalign_run::scenarios`.

use super::Outcome;
use misalign_core::scenario::ScenarioSource;
use misalign_run::scenarios;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// List the scenarios: name, company, what the harmful action is, template files, pack hash.
    List {
        /// Read scenarios from this folder instead of the built-in packs.
        #[arg(long, value_name = "DIR")]
        templates: Option<PathBuf>,
    },
    /// Show a scenario's facts and one rendered condition.
    Show {
        /// Scenario name (`blackmail`, `leaking`, `murder`, or a folder of --templates DIR).
        name: String,
        /// Condition to render, e.g. `blackmail_explicit-america_replacement`
        /// (suffixes `_prod`, `_dont`/`_goal`, `_aware`, `_mit-principles+monitoring` allowed;
        /// see docs/mitigations.md)
        /// [default: <name>_explicit-america_replacement].
        #[arg(long, value_name = "ID")]
        condition: Option<String>,
        /// Read scenarios from this folder instead of the built-in packs.
        #[arg(long, value_name = "DIR")]
        templates: Option<PathBuf>,
    },
    /// Check every condition of the packs against the design rules (no threat under urgency
    /// none, no goal under goal none, axes that differ only in their own text, timestamps,
    /// no reserved domains, detector facts present, mitigation doses, demonstrations far
    /// from the scenarios); prints each finding with its condition and sentence and exits 1
    /// when there is any (docs/scenario-linter.md).
    Check {
        /// Check this folder instead of the built-in packs.
        #[arg(long, value_name = "DIR")]
        templates: Option<PathBuf>,
    },
    /// Write the built-in packs to DIR for editing; use them with `--templates DIR`.
    Export {
        /// Target folder (created if missing; must be empty unless --force).
        dir: PathBuf,
        /// Write into a non-empty folder, replacing files of the same name.
        #[arg(long)]
        force: bool,
    },
}

pub fn run(command: Command) -> Outcome {
    match command {
        Command::List { templates } => {
            let source = ScenarioSource::open(templates.as_deref())?;
            print!("{}", scenarios::list(&source)?);
        }
        Command::Show {
            name,
            condition,
            templates,
        } => {
            let source = ScenarioSource::open(templates.as_deref())?;
            print!("{}", scenarios::show(&source, &name, condition.as_deref())?);
            for w in source.warnings() {
                eprintln!("warning: {w}");
            }
        }
        Command::Check { templates } => {
            let source = ScenarioSource::open(templates.as_deref())?;
            let outcome = scenarios::check(&source)?;
            print!("{}", outcome.text);
            if outcome.findings > 0 {
                return Ok(ExitCode::from(1));
            }
        }
        Command::Export { dir, force } => {
            let n = scenarios::export_builtin(&dir, force)?;
            println!(
                "{n} files written to {}; edit them and pass `--templates {}` to generate or run",
                dir.display(),
                dir.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
