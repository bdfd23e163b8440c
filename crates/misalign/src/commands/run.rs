//! `misalign run`: args -> settings -> `misalign_run::session` -> exit code. The pipeline
//! lives in the library; what it reports is printed by [`crate::report_events`].

use super::Outcome;
use crate::progress::Display;
use crate::report_events::{print_estimate, Terminal};
use anyhow::Context;
use misalign_core::config::ParseOptions;
use misalign_run::session::{self, RunOutcome, RunSettings, Shutdown};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The experiment file (YAML).
    pub experiment: PathBuf,
    /// Results folder [default: results/<experiment_id>; with --limit or --samples,
    /// results/<experiment_id>-smoke, so a smoke test never touches a real run's folder].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Read scenarios from this folder instead of the built-in packs.
    #[arg(long)]
    pub templates: Option<PathBuf>,
    /// No progress bar: a plain status line every few seconds.
    #[arg(long, short)]
    pub quiet: bool,
    /// Print the plan (calls, estimated tokens and cost) and exit without calling any model.
    #[arg(long)]
    pub dry_run: bool,
    /// Sample only; do not classify or write reports.
    #[arg(long)]
    pub no_classify: bool,
    /// Allow running a different experiment (or a changed experiment file) into a results
    /// folder that already holds one; answers stored for identical work items are reused.
    #[arg(long)]
    pub append: bool,
    #[command(flatten)]
    pub overrides: crate::overrides::OverrideArgs,
    #[command(flatten)]
    pub env_file: crate::input::EnvFileArg,
}

pub fn run(args: Args) -> Outcome {
    let t0 = Instant::now();
    crate::input::load_dotenv(&args.env_file)?;
    let settings = settings(&args)?;
    if is_smoke(&args) {
        crate::say::note!(
            "note: --limit/--samples without --out: this smoke run goes to {} (the full run's \
             results/{} is left alone; pass --out to choose the folder)",
            settings.out.display(),
            settings.experiment.experiment_id
        );
    }
    let display = if args.quiet || !std::io::stderr().is_terminal() {
        Display::Lines
    } else {
        Display::Bar
    };
    let terminal = Terminal::new(display);
    let plan = session::plan(&settings, &terminal)?;
    terminal.phase("plan+render", t0);
    if args.dry_run {
        let estimate = plan.estimate(&settings)?;
        print_estimate(&estimate, plan.experiment_id(), &settings.out);
        return Ok(ExitCode::SUCCESS);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let outcome = rt.block_on(async {
        let shutdown = Shutdown::new();
        let ctrl_c = tokio::spawn(ctrl_c_to(shutdown.clone()));
        let outcome = session::run(&settings, plan, &terminal, shutdown).await;
        ctrl_c.abort();
        outcome
    })?;
    Ok(match outcome {
        RunOutcome::Interrupted { .. } => crate::exit::interrupted(),
        RunOutcome::NothingStored { .. } => crate::exit::work_failed(),
        RunOutcome::BudgetReached { .. } => crate::exit::work_failed(),
        RunOutcome::Finished {
            failed,
            missing_verdicts,
        } if failed > 0 || missing_verdicts > 0 => crate::exit::work_failed(),
        RunOutcome::Finished { .. } => ExitCode::SUCCESS,
    })
}

/// First Ctrl-C: stop dispatching, let calls in flight finish. Second: cut them off.
async fn ctrl_c_to(shutdown: Shutdown) {
    if tokio::signal::ctrl_c().await.is_ok() {
        shutdown.stop.cancel();
        if tokio::signal::ctrl_c().await.is_ok() {
            shutdown.quit_now.cancel();
        }
    }
}

fn settings(args: &Args) -> anyhow::Result<RunSettings> {
    let loaded = misalign_run::experiment::load(&args.experiment, &ParseOptions::default())?;
    let out = args.out.clone().unwrap_or_else(|| {
        let id = &loaded.experiment.experiment_id;
        let name = if is_smoke(args) {
            format!("{id}{SMOKE_SUFFIX}")
        } else {
            id.clone()
        };
        Path::new(crate::results_dir::RESULTS_ROOT).join(name)
    });
    // Local models run in engine runner processes started from this very binary, so a crash
    // of llama.cpp fails the calls in flight instead of the run (docs/local-model.md).
    let mut models = misalign_local::LocalModels::from_env();
    match std::env::current_exe() {
        Ok(exe) => models = models.with_runner(exe),
        Err(e) => tracing::warn!("cannot find this executable ({e}): local models run in-process"),
    }
    let local: Arc<dyn misalign_models::LocalBackend> = Arc::new(models);
    Ok(RunSettings {
        experiment_path: loaded.path,
        experiment_text: loaded.text,
        experiment: loaded.experiment,
        overrides: args.overrides.to_overrides(),
        out,
        templates: args.templates.clone(),
        classify: !args.no_classify,
        append: args.append,
        resume_command: resume_command(args),
        env: session::process_env(),
        local: Some(local),
        grace: session::GRACE,
    })
}

/// What a smoke run's default folder adds to the experiment id.
const SMOKE_SUFFIX: &str = "-smoke";

/// A run that samples a cut of the plan (`--limit`, `--samples`, or their variables) into the
/// default folder: it gets a folder of its own, `results/<experiment_id>-smoke`, so that its
/// few answers never become the report of a full run of the same experiment.
fn is_smoke(args: &Args) -> bool {
    args.out.is_none() && (args.overrides.limit.is_some() || args.overrides.samples.is_some())
}

fn resume_command(args: &Args) -> String {
    let mut s = format!("misalign run {}", args.experiment.display());
    if let Some(o) = &args.out {
        s.push_str(&format!(" --out {}", o.display()));
    }
    if let Some(t) = &args.templates {
        s.push_str(&format!(" --templates {}", t.display()));
    }
    if args.no_classify {
        s.push_str(" --no-classify");
    }
    if args.append {
        s.push_str(" --append");
    }
    s.push_str(&args.overrides.as_flags());
    s
}
