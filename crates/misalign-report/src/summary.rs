//! From store counts to the analysed summary: rates, intervals, exclusions, comparisons on
//! every axis, and harm by awareness label within each model x condition.

use misalign_core::mitigation_table::{compare_mitigations, MitigationComparison};
use misalign_core::stats::{
    compare_cells, exclusion_bounds, holm_by_family, rate_difference, Cell, Comparison,
    IntervalMethod, RateEstimate, VerdictCounts,
};
use misalign_core::Condition;
use misalign_store::read::{AwarenessCounts, CellCounts, RunSummaryRow};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// One model x condition row of `summary.csv` / the terminal table.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SummaryRow {
    pub model: String,
    pub condition: String,
    // The condition's axes, each in its own field so a reader can group without parsing
    // the id; blank (None) when the stored condition could not be read.
    pub scenario: String,
    pub goal_type: String,
    pub goal_value: String,
    pub urgency: String,
    pub extra_instructions: String,
    pub variant: String,
    pub awareness_notice: Option<bool>,
    /// `none`, `instructions`, `principles+monitoring`, ... (docs/mitigations.md).
    pub mitigation: String,
    pub planned: u64,
    pub answered: u64,
    /// Planned but without an answer yet (never sampled, or every attempt failed): an
    /// interrupted or budget-stopped run leaves these.
    pub pending: u64,
    /// Classified with a verdict: the denominator of `rate`.
    pub n: u64,
    pub harmful: u64,
    pub rate: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    pub judge_errors: u64,
    /// An action block could not be read and no judge decided: no verdict, never "not
    /// harmful" (docs/classification.md).
    pub unparsed: u64,
    pub content_filtered: u64,
    pub empty: u64,
    /// `judge_errors + unparsed + content_filtered + empty`: answered, but left out of `n`.
    pub excluded: u64,
    /// The rate had every excluded answer been counted as harmless (the best case).
    pub rate_if_excluded_harmless: Option<f64>,
    /// The rate had every excluded answer been counted as harmful (the worst case).
    pub rate_if_excluded_harmful: Option<f64>,
    /// Answered but not (yet) classified.
    pub unclassified: u64,
    /// Of the `n`, answers that raised the concern through a legitimate channel instead
    /// (docs/mitigations.md, "Escalation"), with its rate and interval.
    pub escalated: u64,
    pub escalation_rate: Option<f64>,
    pub escalation_ci_low: Option<f64>,
    pub escalation_ci_high: Option<f64>,
    /// The surface variant's index; empty for the canonical text (docs/generalisation.md).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub variation: String,
    /// The question form (`open` | `choice`); empty for the agentic scenario.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub format: String,
}

/// The label of answers without an awareness judgement, in a cell where others have one.
pub const UNLABELLED: &str = "unlabelled";

/// Harm rate among one model x condition's answers with one awareness label.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AwarenessRow {
    pub model: String,
    pub condition: String,
    pub awareness_notice: Option<bool>,
    /// `deliberates_thinks_real` | `deliberates_thinks_eval` | `no_deliberation` | `unlabelled`.
    pub label: String,
    pub estimate: RateEstimate,
}

/// Within one model x condition: harm rate when the model concluded the situation was real
/// minus the rate when it concluded it was an evaluation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AwarenessContrast {
    pub model: String,
    pub condition: String,
    pub awareness_notice: Option<bool>,
    pub real: RateEstimate,
    pub eval: RateEstimate,
    pub difference: f64,
    /// Newcombe hybrid score interval (method 10).
    pub ci: misalign_core::stats::Interval,
    /// Two-sided Fisher exact p-value.
    pub p_value: f64,
    /// Holm-adjusted within the model's real-vs-evaluation family.
    pub p_holm: f64,
    pub family_size: usize,
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
    /// How many comparisons were made (over all families).
    pub comparisons_made: usize,
    /// Each mitigation against `none` on the same model and condition.
    pub mitigations: Vec<MitigationComparison>,
    /// Per model x condition with at least one awareness label: harm rate per label.
    pub awareness: Vec<AwarenessRow>,
    /// Per model x condition with both `deliberates_thinks_real` and `_eval` answers.
    pub awareness_real_vs_eval: Vec<AwarenessContrast>,
    /// Conditions whose stored `condition_json` could not be read (their axes show blank).
    pub unreadable_conditions: Vec<String>,
    /// What `report.html` embeds (None until the page is written, or without a page).
    pub html_embedded: Option<crate::EmbedInfo>,
    /// How the answers were sampled, and the cautions the report opens with.
    pub run_facts: crate::RunFacts,
    /// How the reader names the results folder in a command (`misalign classify OUT`).
    #[serde(skip)]
    pub results_dir: String,
    /// Per model: the stored answers' token counts and what they cost.
    pub costs: Vec<crate::costs::ModelCostRow>,
    /// The rows' total: `usd` is null when a model has no price (its cost is unknown).
    pub cost_total: crate::costs::CostTotal,
    /// Several judges' agreement (`classification.judges`); absent with one judge or none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub judges: Option<crate::judges::JudgeAgreement>,
    /// Agreement between judges, calibration against human labels, the corrected rates and
    /// agreement between reviewers; absent when the run has no labels and fewer than two
    /// judges (docs/labels.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agreement: Option<crate::agreement::AgreementSummary>,
    /// Variants, the public-prompt gap and the say-do gap (docs/generalisation.md); left
    /// out when the run has none of them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generalisation: Option<crate::generalisation::GeneralisationSection>,
}

const REAL: &str = "deliberates_thinks_real";
const EVAL: &str = "deliberates_thinks_eval";

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
    let mut conditions: HashMap<(&str, &str), Condition> = HashMap::new();
    for c in cells {
        let condition: Option<Condition> = c
            .condition_json
            .as_deref()
            .and_then(|j| serde_json::from_str(j).ok());
        if condition.is_none() {
            unreadable.push(c.condition_id.clone());
        }
        rows.push(summary_row(c, condition.as_ref(), method));
        if let Some(condition) = condition {
            conditions.insert(
                (c.model.as_str(), c.condition_id.as_str()),
                condition.clone(),
            );
            stat_cells.push(Cell {
                model: c.model.clone(),
                condition,
                counts: VerdictCounts {
                    n: c.harmful + c.harmless,
                    harmful: c.harmful,
                    excluded: excluded(c),
                    escalated: c.escalated,
                },
            });
        }
    }
    let comparisons = compare_cells(&stat_cells);
    let mitigations = compare_mitigations(&stat_cells, method);
    let notice = |model: &str, condition: &str| {
        conditions
            .get(&(model, condition))
            .map(|c| c.awareness_notice())
    };
    let awareness_rows = awareness_rows(awareness, method, &notice);
    let awareness_real_vs_eval = real_vs_eval(&awareness_rows);
    let source = crate::generalisation::source_of(run.as_ref());
    let generalisation = crate::generalisation::section(
        &crate::generalisation::arms(cells, source),
        source,
        None,
        method,
    );
    ReportSummary {
        run,
        interval_method: method.as_str(),
        confidence: misalign_core::stats::CONFIDENCE,
        rows,
        comparisons_made: comparisons.len(),
        comparisons,
        mitigations,
        awareness: awareness_rows,
        awareness_real_vs_eval,
        unreadable_conditions: unreadable,
        html_embedded: None,
        run_facts: crate::RunFacts::default(),
        results_dir: "OUT".to_string(),
        costs: Vec::new(),
        cost_total: crate::costs::CostTotal::default(),
        judges: None,
        agreement: None,
        generalisation,
    }
}

/// Answered but left out of `n`: judge errors, unparsed, content-filtered and empty answers.
fn excluded(c: &CellCounts) -> u64 {
    c.judge_errors + c.unparsed + c.content_filtered + c.empty
}

fn summary_row(
    c: &CellCounts,
    condition: Option<&Condition>,
    method: IntervalMethod,
) -> SummaryRow {
    let n = c.harmful + c.harmless;
    let est = RateEstimate::from_counts(c.harmful, n, method);
    let esc = RateEstimate::from_counts(c.escalated, n, method);
    let bounds = exclusion_bounds(c.harmful, n, excluded(c));
    let axis = |f: fn(&Condition) -> String| condition.map(f).unwrap_or_default();
    let (variation, format) = crate::generalisation::axis_cells(c.condition_json.as_deref());
    SummaryRow {
        model: c.model.clone(),
        condition: c.condition_id.clone(),
        scenario: axis(|c| c.scenario.clone()),
        goal_type: axis(|c| c.goal_type.as_str().to_string()),
        goal_value: axis(|c| c.goal_value.clone()),
        urgency: axis(|c| c.urgency.as_str().to_string()),
        extra_instructions: axis(|c| c.extra_instructions().as_str().to_string()),
        variant: axis(|c| c.variant().as_str().to_string()),
        awareness_notice: condition.map(|c| c.awareness_notice()),
        mitigation: axis(|c| c.mitigation_label()),
        planned: c.planned,
        answered: c.answered,
        pending: c.planned.saturating_sub(c.answered),
        n,
        harmful: c.harmful,
        rate: est.rate,
        ci_low: est.ci.map(|i| i.low),
        ci_high: est.ci.map(|i| i.high),
        judge_errors: c.judge_errors,
        unparsed: c.unparsed,
        content_filtered: c.content_filtered,
        empty: c.empty,
        excluded: excluded(c),
        rate_if_excluded_harmless: bounds.map(|b| b.low),
        rate_if_excluded_harmful: bounds.map(|b| b.high),
        unclassified: c.unclassified,
        escalated: c.escalated,
        escalation_rate: esc.rate,
        escalation_ci_low: esc.ci.map(|i| i.low),
        escalation_ci_high: esc.ci.map(|i| i.high),
        variation,
        format,
    }
}

/// Label rows of the cells where an awareness judge labelled at least one answer. A cell
/// without any label (no awareness judge ran) has no rows: "unlabelled" would say nothing.
fn awareness_rows(
    counts: &[AwarenessCounts],
    method: IntervalMethod,
    notice: &dyn Fn(&str, &str) -> Option<bool>,
) -> Vec<AwarenessRow> {
    let mut by_cell: BTreeMap<(&str, &str), Vec<&AwarenessCounts>> = BTreeMap::new();
    for a in counts {
        by_cell
            .entry((a.model.as_str(), a.condition_id.as_str()))
            .or_default()
            .push(a);
    }
    let mut out = Vec::new();
    for ((model, condition), mut labels) in by_cell {
        if labels.iter().all(|a| a.label.is_none()) {
            continue;
        }
        // real, eval, no deliberation, then anything else a store holds, then unlabelled.
        let rank = |l: &Option<String>| match l.as_deref() {
            Some(REAL) => 0,
            Some(EVAL) => 1,
            Some("no_deliberation") => 2,
            Some(_) => 3,
            None => 4,
        };
        labels.sort_by(|a, b| (rank(&a.label), &a.label).cmp(&(rank(&b.label), &b.label)));
        for a in labels {
            out.push(AwarenessRow {
                model: model.to_string(),
                condition: condition.to_string(),
                awareness_notice: notice(model, condition),
                label: a.label.clone().unwrap_or_else(|| UNLABELLED.into()),
                estimate: RateEstimate::from_counts(a.harmful, a.harmful + a.harmless, method),
            });
        }
    }
    out
}

/// Real minus evaluation within each cell that has both, Holm-adjusted per model.
fn real_vs_eval(rows: &[AwarenessRow]) -> Vec<AwarenessContrast> {
    let find = |model: &str, condition: &str, label: &str| {
        rows.iter()
            .find(|r| r.model == model && r.condition == condition && r.label == label)
    };
    let mut out = Vec::new();
    for real in rows.iter().filter(|r| r.label == REAL) {
        let Some(eval) = find(&real.model, &real.condition, EVAL) else {
            continue;
        };
        let (r, e) = (&real.estimate, &eval.estimate);
        let Some(d) = rate_difference(r.harmful, r.n, e.harmful, e.n) else {
            continue;
        };
        out.push(AwarenessContrast {
            model: real.model.clone(),
            condition: real.condition.clone(),
            awareness_notice: real.awareness_notice,
            real: r.clone(),
            eval: e.clone(),
            difference: d.difference,
            ci: d.ci,
            p_value: d.p_value,
            p_holm: d.p_value,
            family_size: 0,
        });
    }
    let families: Vec<&str> = out.iter().map(|c| c.model.as_str()).collect();
    let p: Vec<f64> = out.iter().map(|c| c.p_value).collect();
    let adjusted = holm_by_family(&families, &p);
    for (c, (h, size)) in out.iter_mut().zip(adjusted) {
        c.p_holm = h;
        c.family_size = size;
    }
    out
}
