//! `misalign export OUT --format inspect|samples`: a results folder in other tools' formats.

use super::Outcome;
use crate::say::say;
use anyhow::Context;
use misalign_report::{
    export_run, open_store, write_inspect_logs, write_samples_csv, write_samples_parquet,
};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One Inspect evaluation log per model (`inspect view DIR`, `read_eval_log`).
    Inspect,
    /// `samples.csv` and `samples.parquet`: one row per planned answer, for pandas, R or a
    /// spreadsheet.
    Samples,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The results folder (holds results.sqlite).
    #[arg(value_name = "OUT")]
    pub results: PathBuf,
    /// What to write.
    #[arg(long, value_enum)]
    pub format: Format,
    /// Write into this folder instead of OUT/inspect (inspect) or OUT (samples); the store
    /// is only read.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Export this run id instead of the latest `misalign run`.
    #[arg(long)]
    pub run: Option<i64>,
}

/// The destination folder: the one the user named (created as needed), or a folder under
/// the results folder, where a planted symlink is refused rather than followed.
fn destination(args: &Args) -> anyhow::Result<PathBuf> {
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        return Ok(dir.clone());
    }
    let sub: &[&str] = match args.format {
        Format::Inspect => &["inspect"],
        Format::Samples => &[],
    };
    misalign_store::atomic::create_dirs_under(&args.results, sub).with_context(|| {
        format!(
            "cannot create the export folder in {}",
            args.results.display()
        )
    })
}

pub fn run(args: Args) -> Outcome {
    let store = open_store(&args.results)
        .with_context(|| format!("cannot export {}", args.results.display()))?;
    let run = export_run(&store, args.run)?;
    let dest = destination(&args)?;
    let started = std::time::Instant::now();
    match args.format {
        Format::Inspect => {
            let logs = write_inspect_logs(&store, &run, &dest)?;
            for log in &logs {
                say!("{:>8} samples  {}", log.samples, shown(&log.path));
            }
            say!(
                "Wrote {} Inspect log(s) of run {} in {:.1}s; open them with `inspect view --log-dir {}`",
                logs.len(),
                run.run_id,
                started.elapsed().as_secs_f64(),
                dest.display()
            );
        }
        Format::Samples => {
            let path = dest.join("samples.csv");
            let rows = write_samples_csv(&store, run.run_id, &path)?;
            let parquet = dest.join("samples.parquet");
            write_samples_parquet(&store, run.run_id, &parquet)?;
            say!(
                "Wrote {rows} rows of run {} to {} and {} in {:.1}s",
                run.run_id,
                shown(&path),
                shown(&parquet),
                started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// File names carry model names, which come from the store (untrusted).
fn shown(path: &Path) -> String {
    misalign_store::untrusted::terminal_safe(&path.display().to_string())
}
