//! `misalign status OUT`: completed / failed / pending per model and per provider.

use super::Outcome;
use crate::say::say;
use misalign_store::{ItemCounts, Store, STORE_FILE};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// A results folder (holding results.sqlite) [default: the most recent under results/].
    pub out: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

fn row(name: &str, c: &ItemCounts) -> String {
    format!(
        "{:<44} {:>8} {:>9} {:>7} {:>8}",
        clean(name),
        c.planned,
        c.completed,
        c.failed,
        c.pending
    )
}

/// Everything shown here comes from the store, which whoever sent the folder wrote.
fn clean(s: &str) -> String {
    misalign_store::untrusted::terminal_safe(s)
}

pub fn run(args: Args) -> Outcome {
    let out = crate::results_dir::resolve(args.out)?;
    let path = out.join(STORE_FILE);
    let store = Store::open_read_only(&path)?;
    let st = store.status()?;
    // A folder name is as untrusted as the store in it (a tree someone sent).
    let shown = misalign_store::untrusted::path_safe(&out);
    if args.json {
        // Names in the store may hold bidi or C1 controls serde_json prints raw.
        say!(
            "{}",
            misalign_store::untrusted::json_terminal_safe(&serde_json::to_string_pretty(&st)?)
        );
        return Ok(ExitCode::SUCCESS);
    }
    let Some(run_id) = st.run_id else {
        say!("{}: no run recorded yet", shown);
        return Ok(ExitCode::SUCCESS);
    };
    let state = match (&st.end_status, &st.ended_at) {
        (Some(s), Some(at)) => clean(&format!("{s} at {at}")),
        _ => "running, or stopped without finishing (rerun the same command to resume)".into(),
    };
    say!(
        "{}  experiment {}  run {run_id}  started {}  {state}",
        shown,
        clean(st.experiment_id.as_deref().unwrap_or("?")),
        clean(st.started_at.as_deref().unwrap_or("?")),
    );
    say!(
        "{:<44} {:>8} {:>9} {:>7} {:>8}",
        "model",
        "planned",
        "completed",
        "failed",
        "pending"
    );
    for (m, c) in &st.per_model {
        say!("{}", row(m, c));
    }
    if st.per_provider.len() > 1 {
        say!();
        for (p, c) in &st.per_provider {
            say!("{}", row(&format!("provider {p}"), c));
        }
    }
    say!("{}", row("total", &st.total));
    if !st.top_errors.is_empty() {
        say!("\nmost frequent errors of failed items:");
        for (e, n) in &st.top_errors {
            say!("  {n:>6}  {}", clean(e));
        }
    }
    Ok(ExitCode::SUCCESS)
}
