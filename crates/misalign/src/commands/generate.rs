//! `misalign generate EXPERIMENT.yaml [--templates DIR] [--out OUT]`: render every planned
//! condition's prompts into `OUT/prompts/<condition_id>/` (no models, no API keys); the work
//! is `misalign_run::generate`.

use super::Outcome;
use misalign_run::generate::{generate, GenerateSettings};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The experiment file (YAML; the reference framework's schema or ours). Its models are ignored.
    pub experiment: PathBuf,
    /// Read scenarios from this folder instead of the built-in packs: our pack format (as
    /// written by `misalign scenarios export`) or the reference framework's layout
    /// (`<scenario>/templates/` + `<scenario>/variables/`).
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
    /// Where to write `prompts/` [default: results/<experiment_id>].
    #[arg(long, value_name = "OUT")]
    pub out: Option<PathBuf>,
}

pub fn run(args: Args) -> Outcome {
    let started = Instant::now();
    let settings = GenerateSettings {
        experiment: args.experiment,
        templates: args.templates,
        out: args.out,
    };
    let generated = generate(&settings)?;
    for w in &generated.warnings {
        eprintln!("warning: {w}");
    }
    println!(
        "{} written to {} in {} ms",
        misalign_core::plural::count(generated.conditions as u64, "condition"),
        generated.prompts_dir.display(),
        started.elapsed().as_millis()
    );
    for line in &generated.origins {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}
