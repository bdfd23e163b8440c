//! `misalign import DIR`: read an existing results tree of the reference framework's layout
//! (`models/<model>/<condition>/sample_NNN/response.json`) into a results store, so that
//! `classify`, `report`, `status` and `view` work on it.
//!
//! Files that cannot be imported are listed (path: reason) and the rest is imported. Exit
//! status: 0 when the tree holds at least one importable sample (also when all of them were
//! imported before), 1 when it holds none.

use super::Outcome;
use anyhow::{bail, Context};
use misalign_run::import::import_tree;
use misalign_store::layout::{condition_folder as safe_name, MODELS_DIR};
use misalign_store::untrusted::{path_safe, terminal_safe};
use misalign_store::Store;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// At most this many issues are printed one by one; the rest are counted.
const SHOWN_ISSUES: usize = 50;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  misalign import old-results/my_experiment --out results/my_experiment-imported\n  misalign classify results/my_experiment-imported --judge anthropic/claude-sonnet-4-5\n  misalign report results/my_experiment-imported"
)]
pub struct Args {
    /// The results tree: a folder holding `models/` (and optionally the generated
    /// `prompts/`), or the `models/` folder itself.
    pub dir: PathBuf,
    /// Results folder to import into (its results.sqlite) [default:
    /// results/<folder name>-imported]. Must not be inside DIR: `classify` writes
    /// response.json files there.
    #[arg(long, value_name = "OUT")]
    pub out: Option<PathBuf>,
    /// Experiment id recorded for the import [default: DIR's folder name].
    #[arg(long, value_name = "ID")]
    pub experiment_id: Option<String>,
}

pub fn run(args: Args) -> Outcome {
    let dir = &args.dir;
    let name = folder_name(dir)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| Path::new("results").join(format!("{name}-imported")));
    refuse_out_inside(dir, &out)?;
    let experiment_id = args.experiment_id.clone().unwrap_or(name);
    let mut store = Store::open_dir(&out)?;
    let summary = import_tree(&mut store, dir, &experiment_id)
        .with_context(|| format!("cannot import {}", path_safe(dir)))?;

    for issue in summary.issues.iter().take(SHOWN_ISSUES) {
        eprintln!("not imported: {}", terminal_safe(&issue.to_string()));
    }
    if summary.issues.len() > SHOWN_ISSUES {
        eprintln!(
            "... and {} more files not imported",
            summary.issues.len() - SHOWN_ISSUES
        );
    }
    println!(
        "{} found in {}: {} imported ({} with a classification), {} already in {}; {} not imported; prompts found for {}",
        count(summary.samples, "sample", "samples"),
        path_safe(dir),
        summary.imported,
        summary.classifications,
        summary.already,
        path_safe(&out),
        count(summary.issues.len(), "file", "files"),
        count(summary.prompts_found, "condition", "conditions"),
    );
    if summary.samples == 0 {
        eprintln!(
            "error: nothing to import: expected {}/models/<model>/<condition>/sample_NNN/response.json",
            path_safe(dir)
        );
        return Ok(ExitCode::from(1));
    }
    // Every answer classified in the files: classify has nothing to add, report comes next.
    if unclassified_answers(&store)? == 0 {
        println!(
            "next: misalign report {0}   (every answer carries its classification from the files)",
            path_safe(&out)
        );
    } else {
        println!(
            "next: misalign classify {0}   (add --judge MODEL for the LLM judge), then misalign report {0}",
            path_safe(&out)
        );
    }
    // `status`, `report` and `view` without OUT read the newest folder under results/:
    // after an import that is this one, so say so rather than switch silently.
    if out.starts_with(crate::results_dir::RESULTS_ROOT) {
        eprintln!(
            "note: {} is now the most recently written results folder: `misalign status`, \
             `report` and `view` without OUT read it",
            path_safe(&out)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `n` with the singular or plural noun.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Answers of the store's newest run (this import's, or the earlier one when nothing was
/// added) that have no classification yet.
fn unclassified_answers(store: &Store) -> anyhow::Result<u64> {
    let Some(run) = store.report_run(None)? else {
        return Ok(0);
    };
    Ok(store
        .cell_counts(run.run_id)?
        .iter()
        .map(|c| c.unclassified)
        .sum())
}

/// The tree's folder name (the `models/` folder's parent when DIR is `models/`).
fn folder_name(dir: &Path) -> anyhow::Result<String> {
    let full = dir
        .canonicalize()
        .with_context(|| format!("cannot read {}", path_safe(dir)))?;
    let named = if full.file_name().is_some_and(|n| n == MODELS_DIR) {
        full.parent().unwrap_or(&full).to_path_buf()
    } else {
        full
    };
    Ok(named
        .file_name()
        .map(|n| safe_name(&n.to_string_lossy()))
        .unwrap_or_else(|| "import".into()))
}

/// `classify` and `report` write under OUT; inside DIR they would rewrite the imported tree.
fn refuse_out_inside(dir: &Path, out: &Path) -> anyhow::Result<()> {
    let dir = dir
        .canonicalize()
        .with_context(|| format!("cannot read {}", path_safe(dir)))?;
    // OUT may not exist yet: resolve its nearest existing ancestor.
    let mut probe = out.to_path_buf();
    let mut rest = Vec::new();
    let base = loop {
        match probe.canonicalize() {
            Ok(p) => break p,
            Err(_) => match (probe.parent(), probe.file_name()) {
                (Some(parent), Some(name)) => {
                    rest.push(name.to_os_string());
                    probe = if parent.as_os_str().is_empty() {
                        PathBuf::from(".")
                    } else {
                        parent.to_path_buf()
                    };
                }
                _ => break PathBuf::from(&probe),
            },
        }
    };
    let resolved = rest.iter().rev().fold(base, |p, n| p.join(n));
    if resolved.starts_with(&dir) {
        bail!(
            "--out {} is inside the tree being imported ({}); choose a folder outside it, e.g. --out results/imported",
            path_safe(out),
            path_safe(&dir)
        );
    }
    Ok(())
}
