//! What a run tells its caller while it works. The library decides what happened; the
//! [`Reporter`] (the terminal, plain lines, a test's log) decides how to show it.

use super::totals::RunTotals;
use crate::batch::BatchTally;
use crate::classify::ClassifySummary;
use crate::Counters;
use misalign_core::config::Overrides;
use misalign_report::ReportSummary;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// One thing that happened during a run, in the order it happens.
#[derive(Debug)]
pub enum Event<'a> {
    /// A phase ended `seconds` after the run started (shown with `MISALIGN_TIMINGS`).
    Phase { name: &'static str, seconds: f64 },
    /// The scenario source had something to say about its templates (shown as warnings).
    TemplateWarning(&'a str),
    /// The folder's lock was left by a process that did not finish; this run took it over.
    TakingOver { out: &'a Path, previous: &'a str },
    /// The experiment file changed since the last run into this folder (sha256 prefixes,
    /// terminal-safe).
    ExperimentChanged {
        file: &'a Path,
        out: &'a Path,
        before: &'a str,
        now: &'a str,
    },
    /// The command line overrides these settings of the file.
    Overriding(&'a Overrides),
    /// The plan is stored; `to_sample` calls are still missing.
    Planned {
        experiment_id: &'a str,
        planned: usize,
        already: usize,
        to_sample: usize,
        out: &'a Path,
    },
    /// Sampling starts: the counters move until [`Event::SamplingEnded`].
    SamplingStarted {
        counters: &'a Arc<Counters>,
        to_sample: u64,
    },
    /// Batch mode: these models' providers have no batch API; they are called live.
    BatchLiveOnly { models: &'a [String] },
    /// Batch mode: the batches' state, with what just changed (provider text: untrusted).
    BatchProgress { tally: BatchTally, what: &'a str },
    /// Batch mode ended; `tally.submitted` batches were sent or resumed.
    BatchesDone { tally: BatchTally },
    /// Judge batches (`classification.batch`): these judges' providers have no batch API;
    /// their calls are made live.
    JudgeBatchLiveOnly { judges: &'a [String] },
    /// Judge batches' state, with what just changed (provider text: untrusted).
    JudgeBatchProgress { tally: BatchTally, what: &'a str },
    /// The judge batches of a classification are done (`tally.submitted` sent or resumed).
    JudgeBatchesDone { tally: BatchTally },
    /// A stop was asked for: no new calls; `in_flight` calls get `grace` to finish.
    Stopping { in_flight: u64, grace: Duration },
    /// A second stop: the calls in flight are cut off now.
    QuittingNow,
    /// Sampling is over (finished, stopped or cut off).
    SamplingEnded,
    /// What sampling did, with its cost (computed once, as stored in the run's totals).
    Sampled { totals: &'a RunTotals, seconds: f64 },
    /// `response.json` files of the reference layout written (`unchanged` were up to date).
    Exported {
        written: u64,
        unchanged: u64,
        models_dir: &'a Path,
    },
    /// Stopped by the user: `stored` answers are kept; `resume` continues the run.
    Interrupted { stored: u64, resume: &'a str },
    /// `--max-cost` stopped the run (`why`: the limit, spent, set aside); `stored` answers
    /// are kept; `resume` (with a higher limit) continues it.
    BudgetReached {
        why: &'a str,
        stored: u64,
        resume: &'a str,
    },
    /// After a stop: the report of what is stored, unclassified (`Err`: why there is none).
    PartialReport {
        out: &'a Path,
        written: Result<(), &'a str>,
    },
    /// Items of the plan failed for good (after retries): the most frequent errors
    /// (untrusted text: provider messages) with their counts.
    FailedForGood {
        failed: u64,
        top_errors: &'a [(String, u64)],
        out: &'a Path,
    },
    /// Every call failed: nothing to classify or report.
    NothingStored,
    /// Classification of the stored answers finished.
    Classified {
        summary: &'a ClassifySummary,
        seconds: f64,
    },
    /// summary.csv, summary.json and report.html are written into `out`.
    Reported {
        report: &'a ReportSummary,
        out: &'a Path,
    },
}

/// Receives the [`Event`]s of a run. Called from the run's tasks: keep it quick.
pub trait Reporter: Send + Sync {
    fn event(&self, event: Event<'_>);
}

/// Shows nothing (library callers that only want the outcome).
pub struct NullReporter;

impl Reporter for NullReporter {
    fn event(&self, _: Event<'_>) {}
}
