//! `misalign validate FILE`: check an experiment file and print its plan; the checks are
//! `misalign_run::validate`.
//!
//! Exit 0 when the file is valid, 2 with a located error (`file:line:col: field: message`)
//! when it is not. No network, no API keys: only the file is read.

use super::Outcome;
use misalign_core::scenario::ScenarioSource;
use misalign_run::validate::{validate_file, Invalid, ValidateSettings};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The experiment file(s) (YAML) to check.
    #[arg(required = true, num_args = 1.., value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Check scenario names against this template folder instead of the built-in packs.
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
    /// Accept a file without models (it will only be used with `misalign generate`).
    #[arg(long)]
    pub generate_only: bool,
    /// Print the plan (or the error) as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// The plan as `misalign run` would see it with the same overrides.
    #[command(flatten)]
    pub overrides: crate::overrides::OverrideArgs,
}

/// `--json`'s form of a parse error.
#[derive(serde::Serialize)]
struct ErrorReport<'a> {
    valid: bool,
    error: &'a misalign_core::config::ConfigError,
}

/// Checks every file (each reported on its own); exit 2 when any is invalid.
pub fn run(args: Args) -> Outcome {
    let source = ScenarioSource::open(args.templates.as_deref())?;
    let settings = ValidateSettings {
        generate_only: args.generate_only,
        overrides: args.overrides.to_overrides(),
    };
    let mut all_valid = true;
    for (i, file) in args.files.iter().enumerate() {
        if args.files.len() > 1 && !args.json {
            if i > 0 {
                println!();
            }
            println!("== {}", file.display());
        }
        let valid = match validate_file(file, &source, &settings) {
            Ok(report) if args.json => {
                println!("{}", serde_json::to_string_pretty(&report)?);
                true
            }
            Ok(report) => {
                print!("{report}");
                true
            }
            Err(Invalid::Config(error)) if args.json => {
                let report = ErrorReport {
                    valid: false,
                    error: &error,
                };
                println!("{}", serde_json::to_string_pretty(&report)?);
                false
            }
            Err(Invalid::UnknownScenarios(lines)) => {
                lines.iter().for_each(|l| eprintln!("error: {l}"));
                false
            }
            Err(e) => {
                eprintln!("error: {e}");
                false
            }
        };
        all_valid &= valid;
    }
    Ok(if all_valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}
