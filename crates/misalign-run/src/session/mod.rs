//! One `misalign run` as a library call: plan -> clients -> manifest -> sample -> export ->
//! classify -> report.
//!
//! The caller (the binary, or a test) builds [`RunSettings`] from whatever it reads
//! (command-line flags, environment, the experiment file), calls [`plan`] and then [`run`],
//! and shows what happens through its [`Reporter`]. Nothing here prints, reads the process
//! environment or exits: keys come through [`RunSettings::env`], Ctrl-C through
//! [`Shutdown`], and the result is a [`RunOutcome`] or a [`SessionError`].

mod classify;
mod clients;
mod costs;
mod events;
mod manifest;
mod plan;
mod run;
mod sampling;
mod totals;

pub use classify::{classify_folder, classify_jsonl, ClassifySettings, JsonlResults};
pub use events::{Event, NullReporter, Reporter};
pub use plan::{plan, DryRunEstimate, Plan};
pub use run::run;
pub use totals::RunTotals;

use crate::classify::ClassifyError;
use misalign_core::config::Overrides;
use misalign_core::scenario::ScenarioError;
use misalign_models::LocalBackend;
use misalign_store::export::ExportError;
use misalign_store::StoreError;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long in-flight calls may finish after Ctrl-C (or an auth failure) before they are cut off.
pub const GRACE: Duration = Duration::from_secs(10);

/// Where API keys and provider variables come from (the process environment in the binary,
/// a fixed map in tests: no test has to change the process environment).
pub type Env = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// The process environment as an [`Env`].
pub fn process_env() -> Env {
    Arc::new(|k: &str| std::env::var(k).ok())
}

/// Everything a run needs, resolved: no command-line types, no defaults left to apply.
#[derive(Clone)]
pub struct RunSettings {
    /// The experiment file as given (for messages).
    pub experiment_path: PathBuf,
    /// The file's text exactly as read (recorded and hashed).
    pub experiment_text: String,
    /// The parsed experiment, before `overrides` are applied.
    pub experiment: misalign_core::config::Experiment,
    /// What the command line changes from the file (recorded with the run).
    pub overrides: Overrides,
    /// The results folder.
    pub out: PathBuf,
    /// `--templates DIR` instead of the built-in packs.
    pub templates: Option<PathBuf>,
    /// Classify and report after sampling (when the experiment enables classification).
    pub classify: bool,
    /// Allow another experiment in a folder that holds one.
    pub append: bool,
    /// The command that resumes this run, for the messages that suggest it.
    pub resume_command: String,
    pub env: Env,
    /// In-process GGUF models (`local/...`), when this build has them.
    pub local: Option<Arc<dyn LocalBackend>>,
    /// How long calls in flight may finish after a stop.
    pub grace: Duration,
}

/// Ctrl-C, as tokens: `stop` lets calls in flight finish (up to [`RunSettings::grace`]);
/// `quit_now` cuts them off. Either way [`run`] returns normally with what was stored.
#[derive(Clone, Debug, Default)]
pub struct Shutdown {
    pub stop: CancellationToken,
    pub quit_now: CancellationToken,
}

impl Shutdown {
    pub fn new() -> Shutdown {
        Shutdown::default()
    }
}

/// How a run that did not fail ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunOutcome {
    /// Every planned item has an answer or failed for good; classified and reported
    /// when enabled. `failed` items failed for good; `missing_verdicts` answers have no
    /// verdict because their judge failed (exit 1 when either is non-zero).
    Finished { failed: u64, missing_verdicts: u64 },
    /// Every call failed and nothing is stored: nothing was classified or reported.
    NothingStored { failed: u64 },
    /// Stopped by [`Shutdown`]; `stored` answers are kept and the same command resumes.
    Interrupted { stored: u64 },
    /// `--max-cost` reached: no call was started that could pass it, the calls in flight
    /// finished; `stored` answers are kept and the same command with a higher limit resumes.
    BudgetReached { stored: u64 },
}

/// A run that could not start, or stopped for a reason the user must fix.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The experiment, the command line or the folder does not allow the run; the message
    /// names the file and field or says what to do. Never a store or I/O failure: those
    /// keep their own variants (and paths).
    #[error("{0}")]
    Config(String),
    /// The experiment file could not be read or parsed.
    #[error(transparent)]
    Experiment(#[from] crate::experiment::ExperimentError),
    /// Classification could not be set up (a judge, the facts file, a recorded provider).
    #[error(transparent)]
    Setup(#[from] crate::classify::setup::SetupError),
    /// A file the command reads could not be read. The OS error is in the message and not
    /// also a `source`, so `{:#}` prints it once.
    #[error("cannot read {}: {error}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    /// A task of the pipeline stopped unexpectedly (it panicked or was cancelled).
    #[error("{what} stopped unexpectedly: {message}")]
    Task { what: &'static str, message: String },
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Lock(#[from] misalign_store::lock::LockError),
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error(transparent)]
    Classify(#[from] ClassifyError),
    #[error(transparent)]
    Report(#[from] misalign_report::ReportError),
    #[error("classified, but could not update the response.json files under {}: {source}", out.display())]
    ExportAfterClassify {
        out: PathBuf,
        #[source]
        source: ExportError,
    },
    /// A provider rejected the API key; sampling stopped (the same command resumes).
    #[error("provider `{provider}` rejected the API key ({message}); check {key_var} and run the same command again to resume:\n  {resume}")]
    Auth {
        provider: String,
        message: String,
        key_var: String,
        resume: String,
    },
    /// An answer could not be stored; sampling stopped.
    #[error("stopped: an answer could not be stored: {message}; free disk space or check {}, then resume with:\n  {resume}", out.display())]
    StoreStopped {
        message: String,
        out: PathBuf,
        resume: String,
    },
}

#[cfg(test)]
mod tests;
