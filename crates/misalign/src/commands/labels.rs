//! `misalign labels sample|export|import|status`: a round of human labels (docs/labels.md);
//! the work is `misalign_report::labels`.

use super::Outcome;
use crate::say::say;
use anyhow::Context;
use misalign_report::labels::{self, ExportKind, QueueOptions};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Choose answers to label, stratified by verdict x scenario x model (equal shares, so
    /// rare verdicts are covered), and write them as a label sheet in a shuffled order that
    /// `misalign view OUT --queue FILE` follows and that can be filled in and imported.
    Sample {
        /// The results folder [default: the most recent under results/].
        out: Option<PathBuf>,
        /// How many answers.
        #[arg(long, default_value_t = 100)]
        n: usize,
        /// The same seed gives the same choice and order.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Fill the sheet's reviewer column with this name.
        #[arg(long, value_name = "NAME")]
        reviewer: Option<String>,
        /// Where to write the sheet [default: OUT/labels-queue.csv].
        #[arg(long, value_name = "F.csv")]
        file: Option<PathBuf>,
    },
    /// Write every label (or, with --counted, the label that counts per answer) as CSV.
    Export {
        out: Option<PathBuf>,
        /// Where to write [default: OUT/labels.csv, or OUT/labels-counted.csv].
        #[arg(long, value_name = "F.csv")]
        file: Option<PathBuf>,
        /// One row per labelled answer: the majority of the reviewers' latest labels, or the
        /// adjudicator's.
        #[arg(long)]
        counted: bool,
        /// Whose latest label counts where they gave one (with --counted).
        #[arg(long, value_name = "NAME", requires = "counted")]
        adjudicator: Option<String>,
    },
    /// Add the labels of a label sheet (checked row by row first; a row already stored is
    /// skipped, so importing a file twice adds it once).
    Import {
        /// The results folder.
        out: PathBuf,
        /// The label sheet (CSV with item_key, reviewer, label; note, created_at optional).
        file: PathBuf,
    },
    /// Labels per reviewer and scenario, and the labels that count.
    Status {
        out: Option<PathBuf>,
        /// Whose latest label counts where they gave one.
        #[arg(long, value_name = "NAME")]
        adjudicator: Option<String>,
    },
}

pub fn run(command: Command) -> Outcome {
    match command {
        Command::Sample {
            out,
            n,
            seed,
            reviewer,
            file,
        } => {
            let out = crate::results_dir::resolve(out)?;
            let file = file.unwrap_or_else(|| out.join("labels-queue.csv"));
            let options = QueueOptions { n, seed, reviewer };
            let s = labels::sample_queue(&out, &options, &file)?;
            say!("{}", s.render(seed, &file));
            say!(
                "Label them with: misalign view {} --queue {}",
                out.display(),
                file.display()
            );
        }
        Command::Export {
            out,
            file,
            counted,
            adjudicator,
        } => {
            let out = crate::results_dir::resolve(out)?;
            let (kind, name) = if counted {
                (ExportKind::Counted { adjudicator }, "labels-counted.csv")
            } else {
                (ExportKind::Labels, "labels.csv")
            };
            let file = file.unwrap_or_else(|| out.join(name));
            let n = labels::export(&out, &file, &kind)?;
            say!("Wrote {n} rows to {}", file.display());
        }
        Command::Import { out, file } => {
            let s = labels::import(&out, &file)
                .with_context(|| format!("labels not imported into {}", out.display()))?;
            say!(
                "Read {} rows: added {} labels, {} already stored, {} not labelled yet",
                s.rows,
                s.added,
                s.rows - s.unlabelled - s.added,
                s.unlabelled
            );
        }
        Command::Status { out, adjudicator } => {
            let out = crate::results_dir::resolve(out)?;
            let s = labels::status(&out, adjudicator.as_deref())?;
            say!("{}", s.render(adjudicator.as_deref()));
        }
    }
    Ok(ExitCode::SUCCESS)
}
