//! Reports of `misalign` runs: the terminal table, `summary.csv` / `summary.json`, the
//! self-contained `report.html` with charts and a transcript viewer, the agreement and
//! calibration sections when judges or human labels exist ([`agreement`]), and `misalign view`,
//! which serves the same viewer on loopback and pages transcripts from the store.
//!
//! Counting happens in SQLite (`GROUP BY`), so a report over 100,000 samples holds counts,
//! not transcripts; the HTML embeds transcripts only while the file stays under a budget.
//! Everything a model wrote is untrusted: it is escaped before it reaches HTML or a terminal.

pub mod agreement;
mod agreement_html;
mod costs;
mod files;
pub mod generalisation;
pub mod generalisation_csv;
mod generalisation_html;
mod generalisation_table;
mod html;
mod inspect;
mod inspect_episode;
pub mod judges;
mod label_api;
pub mod labels;
mod mitigation_html;
mod run_facts;
mod samples;
mod samples_parquet;
pub mod serve;
pub use label_api::Labelling;
mod summary;
mod table;

pub use agreement::{agreement_inputs, agreement_summary, AgreementSummary};
pub use costs::{CostTotal, ModelCostRow};
pub use files::CSV_COLUMNS;
pub use html::{EmbedInfo, DEFAULT_HTML_BUDGET};
pub use inspect::{write_inspect_logs, InspectLog, INSPECT_LOG_VERSION, SCORE_NAMES};
pub use misalign_core::stats::IntervalMethod;
pub use run_facts::{RunFacts, CUT_OFF_WARNING_SHARE};
pub use samples::{row_verdict, write_samples_csv, SAMPLES_CSV_COLUMNS};
pub use samples_parquet::write_samples_parquet;
pub use summary::{summarize, AwarenessContrast, AwarenessRow, ReportSummary, SummaryRow};
pub use table::render_table;

use misalign_store::read::RunSummaryRow;
use misalign_store::{Store, StoreError, STORE_FILE};
use std::path::{Path, PathBuf};

/// A report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write {path}: {message}")]
    Write { path: PathBuf, message: String },
    #[error("{0}")]
    Invalid(String),
    /// The `prices:` of a run's recorded experiment file cannot be read, so its costs
    /// cannot be computed.
    #[error(
        "{store}: run {run_id}: cannot read the prices of its recorded experiment ({message}); \
         its costs cannot be computed"
    )]
    RecordedPrices {
        store: PathBuf,
        run_id: i64,
        message: String,
    },
}

impl ReportError {
    pub(crate) fn write(path: &Path, message: String) -> Self {
        ReportError::Write {
            path: path.to_path_buf(),
            message,
        }
    }
}

/// What to report and how.
#[derive(Clone, Debug)]
pub struct ReportOptions {
    /// Interval for single rates (Wilson by default).
    pub interval: IntervalMethod,
    /// Report this `runs.id` instead of the newest `run`.
    pub run_id: Option<i64>,
    /// Write `report.html`.
    pub html: bool,
    /// Size budget for transcripts embedded in `report.html`, in bytes.
    pub html_budget: u64,
    /// Whose label counts in the calibration section: the majority of the reviewers, or a
    /// named adjudicator wherever they labelled (docs/labels.md).
    pub label_rule: misalign_core::agreement::LabelRule,
    /// A results folder with the same grid run on the other prompt source (built-in packs
    /// or `--templates`), for the public-prompt gap.
    pub compare_prompts: Option<PathBuf>,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            interval: IntervalMethod::Wilson,
            run_id: None,
            html: true,
            html_budget: DEFAULT_HTML_BUDGET,
            label_rule: misalign_core::agreement::LabelRule::Majority,
            compare_prompts: None,
        }
    }
}

/// Opens `out_dir/results.sqlite` read-only and computes the summary.
pub fn load_summary(store: &Store, options: &ReportOptions) -> Result<ReportSummary, ReportError> {
    let run = store.report_run(options.run_id)?;
    if options.run_id.is_some() && run.is_none() {
        return Err(ReportError::Invalid(format!(
            "run {} is not a sampling run in {}; `misalign status` shows the newest run's id",
            options.run_id.unwrap_or_default(),
            store.path().display()
        )));
    }
    let (cells, awareness) = match &run {
        Some(r) => (
            store.cell_counts(r.run_id)?,
            store.awareness_counts(r.run_id)?,
        ),
        None => (Vec::new(), Vec::new()),
    };
    let mut summary = summarize(run, &cells, &awareness, options.interval);
    if let Some(dir) = &options.compare_prompts {
        let source = generalisation::source_of(summary.run.as_ref());
        let (mut arms, compared) = generalisation::compared_arms(dir, source)?;
        arms.extend(generalisation::arms(&cells, source));
        summary.generalisation =
            generalisation::section(&arms, source, Some(compared), options.interval);
    }
    summary.run_facts = run_facts::run_facts(store, &summary)?;
    if let Some(r) = &summary.run {
        summary.costs = costs::model_costs(store, r.run_id)?;
        summary.cost_total = costs::CostTotal::of(&summary.costs);
        summary.judges = judges::judge_agreement(store, r.run_id, options.interval)?;
        summary.agreement = agreement::agreement_summary(
            &agreement::agreement_inputs(store, r.run_id)?,
            &options.label_rule,
        );
    }
    Ok(summary)
}

/// The run an export covers: `run_id`, or the newest `misalign run` of the store.
pub fn export_run(store: &Store, run_id: Option<i64>) -> Result<RunSummaryRow, ReportError> {
    store.report_run(run_id)?.ok_or_else(|| {
        ReportError::Invalid(match run_id {
            Some(id) => format!(
                "run {id} is not a sampling run in {}; `misalign status` shows the newest run's id",
                store.path().display()
            ),
            None => format!(
                "{} holds no `misalign run` yet; there is nothing to export",
                store.path().display()
            ),
        })
    })
}

/// Opens the store of results folder `out_dir` read-only.
pub fn open_store(out_dir: &Path) -> Result<Store, ReportError> {
    Ok(Store::open_read_only(&out_dir.join(STORE_FILE))?)
}

/// Writes `summary.csv`, `summary.json` and (unless disabled) `report.html` into `out_dir`
/// from its store, and returns the summary (print it with [`render_table`]).
pub fn write_reports(
    out_dir: &Path,
    options: &ReportOptions,
) -> Result<ReportSummary, ReportError> {
    write_reports_to(out_dir, out_dir, options)
}

/// Like [`write_reports`], but writes the files into `dest` (created if missing); the store
/// of `results` is only read, so it may be another user's or on a read-only mount.
pub fn write_reports_to(
    results: &Path,
    dest: &Path,
    options: &ReportOptions,
) -> Result<ReportSummary, ReportError> {
    let store = open_store(results)?;
    let mut summary = load_summary(&store, options)?;
    summary.results_dir = results.display().to_string();
    std::fs::create_dir_all(dest).map_err(|e| ReportError::write(dest, e.to_string()))?;
    files::write_csv(&dest.join("summary.csv"), &summary)?;
    let generalisation_csv = dest.join(generalisation_csv::GENERALISATION_CSV);
    match &summary.generalisation {
        Some(g) => generalisation_csv::write(&generalisation_csv, g)?,
        // A report without the section leaves no older report's file behind.
        None => match std::fs::remove_file(&generalisation_csv) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(ReportError::write(&generalisation_csv, e.to_string()))
            }
            _ => {}
        },
    }
    if options.html {
        summary.html_embedded = Some(html::write_report_html(
            &dest.join("report.html"),
            &store,
            &summary,
            options.html_budget,
        )?);
    }
    // After the page, so it records what the page embeds.
    files::write_json(&dest.join("summary.json"), &summary)?;
    Ok(summary)
}
