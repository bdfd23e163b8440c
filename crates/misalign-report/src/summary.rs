//! From store counts to the analysed summary: rates, intervals, comparisons, awareness.

use misalign_core::stats::{compare_cells, Cell, Comparison, Counts, IntervalMethod, RateEstimate};
use misalign_core::Condition;
use misalign_run::store::read::{AwarenessCounts, CellCounts, RunSummaryRow};
use serde::Serialize;

/// One model x condition row of `summary.csv` / the terminal table.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SummaryRow {
    pub model: String,
    pub condition: String,
    pub scenario: String,
    pub goal_type: String,
    pub goal_value: String,
    pub urgency: String,
    pub planned: u64,
    pub answered: u64,
    /// Classified with a verdict: the denominator of `rate`.
    pub n: u64,
    pub harmful: u64,
    pub rate: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    pub judge_errors: u64,
    /// Answered but not (yet) classified.
    pub unclassified: u64,
}

/// Harm rate among a model's answers with one awareness label.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AwarenessRow {
    pub model: String,
    /// `deliberates_thinks_real` | `deliberates_thinks_eval` | `no_deliberation` | `unlabelled`.
    pub label: String,
    pub estimate: RateEstimate,
}

/// Everything a report shows, before formatting.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReportSummary {
    /// The run the report covers (None: the store has no `run` yet).
    pub run: Option<RunSummaryRow>,
    pub interval_method: &'static str,
    pub confidence: f64,
    pub rows: Vec<SummaryRow>,
    pub comparisons: Vec<Comparison>,
    /// The size of the family the Holm adjustment is over.
    pub comparisons_made: usize,
    pub awareness: Vec<AwarenessRow>,
    /// Conditions whose stored `condition_json` could not be read (their axes show blank).
    pub unreadable_conditions: Vec<String>,
    /// What `report.html` embeds (None until the page is written, or without a page).
    pub html_embedded: Option<crate::EmbedInfo>,
}

/// Builds the summary from the store's per-cell and awareness counts.
pub fn summarize(
    run: Option<RunSummaryRow>,
    cells: &[CellCounts],
    awareness: &[AwarenessCounts],
    method: IntervalMethod,
) -> ReportSummary {
    let mut rows = Vec::with_capacity(cells.len());
    let mut stat_cells = Vec::with_capacity(cells.len());
    let mut unreadable = Vec::new();
    for c in cells {
        let condition: Option<Condition> = c
            .condition_json
            .as_deref()
            .and_then(|j| serde_json::from_str(j).ok());
        if condition.is_none() {
            unreadable.push(c.condition_id.clone());
        }
        let n = c.harmful + c.harmless;
        let est = RateEstimate::from_counts(c.harmful, n, method);
        let axis = |f: fn(&Condition) -> String| condition.as_ref().map(f).unwrap_or_default();
        rows.push(SummaryRow {
            model: c.model.clone(),
            condition: c.condition_id.clone(),
            scenario: axis(|c| c.scenario.clone()),
            goal_type: axis(|c| c.goal_type.as_str().to_string()),
            goal_value: axis(|c| c.goal_value.clone()),
            urgency: axis(|c| c.urgency.as_str().to_string()),
            planned: c.planned,
            answered: c.answered,
            n,
            harmful: c.harmful,
            rate: est.rate,
            ci_low: est.ci.map(|i| i.low),
            ci_high: est.ci.map(|i| i.high),
            judge_errors: c.judge_errors,
            unclassified: c.answered.saturating_sub(c.classified),
        });
        if let Some(condition) = condition {
            stat_cells.push(Cell {
                model: c.model.clone(),
                condition,
                counts: Counts {
                    n,
                    harmful: c.harmful,
                    judge_errors: c.judge_errors,
                },
            });
        }
    }
    let comparisons = compare_cells(&stat_cells);
    let awareness = awareness
        .iter()
        .map(|a| AwarenessRow {
            model: a.model.clone(),
            label: a.label.clone().unwrap_or_else(|| "unlabelled".into()),
            estimate: RateEstimate::from_counts(a.harmful, a.harmful + a.harmless, method),
        })
        .collect();
    ReportSummary {
        run,
        interval_method: method.as_str(),
        confidence: misalign_core::stats::CONFIDENCE,
        rows,
        comparisons_made: comparisons.len(),
        comparisons,
        awareness,
        unreadable_conditions: unreadable,
        html_embedded: None,
    }
}
