//! `misalign runs`: the results folders under `results/`, newest first.

use super::Outcome;
use crate::results_dir::{list, RESULTS_ROOT};
use crate::say::say;
use misalign_store::untrusted::terminal_safe;
use misalign_store::{Store, STORE_FILE};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The folder holding results folders [default: results].
    #[arg(long)]
    pub root: Option<PathBuf>,
}

pub fn run(args: Args) -> Outcome {
    let root = match args.root {
        // A misspelt --root is an error (exit 2), not an empty list.
        Some(r) if !r.is_dir() => anyhow::bail!(
            "no such folder {}; check --root",
            terminal_safe(&r.display().to_string())
        ),
        Some(r) => r,
        None => PathBuf::from(RESULTS_ROOT),
    };
    let found = list(&root);
    if found.is_empty() {
        say!(
            "no results folders under {}",
            terminal_safe(&root.display().to_string())
        );
        return Ok(ExitCode::SUCCESS);
    }
    say!(
        "{:<40} {:<20} {:<12} {:>9} {:>7} {:>8}",
        "folder",
        "last write (UTC)",
        "state",
        "completed",
        "failed",
        "planned"
    );
    for (dir, modified) in found {
        let when = chrono::DateTime::<chrono::Utc>::from(modified)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string();
        // Every value comes from a folder someone may have sent: cleaned before printing.
        let name = terminal_safe(&dir.display().to_string());
        match Store::open_read_only(&dir.join(STORE_FILE)).and_then(|s| s.status()) {
            Ok(st) => say!(
                "{name:<40} {when:<20} {:<12} {:>9} {:>7} {:>8}",
                terminal_safe(st.end_status.as_deref().unwrap_or("unfinished")),
                st.total.completed,
                st.total.failed,
                st.total.planned
            ),
            Err(e) => say!(
                "{name:<40} {when:<20} unreadable: {}",
                terminal_safe(&e.to_string())
            ),
        }
    }
    Ok(ExitCode::SUCCESS)
}
