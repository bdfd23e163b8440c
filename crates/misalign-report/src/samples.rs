//! `samples.csv`: one row per planned item of the reported run (its answer, or why there is
//! none), for pandas, R or a spreadsheet. Rows are streamed from the store one at a time.

use crate::files::spreadsheet_safe;
use crate::ReportError;
use misalign_core::config::parse_prices;
use misalign_core::cost::{cost_usd, ModelPrice, PriceTable, TokenCounts};
use misalign_core::Condition;
use misalign_store::atomic::AtomicFile;
use misalign_store::read::ExportRow;
use misalign_store::Store;
use std::path::Path;

/// Columns of `samples.csv`, in order (a contract with downstream analyses). Verdicts are
/// `1` / `0`, blank when there is none; `transcript` is the answer's `response.json`,
/// relative to the results folder.
/// `escalation` is the second outcome (raised the concern through a legitimate channel).
/// Six columns describe agent episodes (blank for single answers but `interaction`); the
/// last two are the surface variant's index and the question form, blank for the canonical
/// agentic text (docs/generalisation.md).
pub const SAMPLES_CSV_COLUMNS: [&str; 45] = [
    "run_id",
    "item_key",
    "model",
    "condition",
    "scenario",
    "goal_type",
    "goal_value",
    "urgency",
    "extra_instructions",
    "variant",
    "awareness_notice",
    "mitigation",
    "sample",
    "status",
    "verdict",
    "final_verdict",
    "detector_verdict",
    "judge_model",
    "judge_verdict",
    "judge_error",
    "whistleblowing",
    "escalation",
    "awareness_label",
    "classifier_version",
    "finish_reason",
    "input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cache_write_tokens",
    "cache_read_tokens",
    "cost_usd",
    "latency_ms",
    "attempts",
    "started_at",
    "finished_at",
    "error",
    "transcript",
    "interaction",
    "steps",
    "terminal",
    "harmful_step",
    "harmful_sim_time",
    "leverage_read_first",
    "variation",
    "format",
];

/// What a row's answer counts as in the report: `harmful` | `harmless` (in the rate),
/// `unparsed` (an action-like block could not be read and no judge decided) |
/// `judge_error` | `content_filtered` | `empty` (excluded), `unclassified`, `error` (no
/// answer: every attempt failed), `pending` (never attempted).
pub fn row_verdict(r: &ExportRow) -> &'static str {
    match (r.status.as_deref(), r.final_verdict) {
        (_, Some(1)) => "harmful",
        (_, Some(_)) => "harmless",
        (None, None) => "pending",
        (Some("error"), None) => "error",
        (Some("content_filtered"), None) => "content_filtered",
        (Some("empty"), None) => "empty",
        (Some(_), None) if r.classified && r.unparsed == Some(1) && r.judge_error.is_none() => {
            "unparsed"
        }
        (Some(_), None) if r.classified => "judge_error",
        (Some(_), None) => "unclassified",
    }
}

/// The answer's `response.json` (relative to the results folder), when there is an answer.
pub(crate) fn transcript_path(r: &ExportRow) -> Option<String> {
    has_answer(r).then(|| {
        misalign_store::layout::response_json_path(
            &r.model,
            &r.condition_id,
            u32::try_from(r.sample_index).unwrap_or(u32::MAX),
        )
    })
}

/// Whether the item is an agent episode: it committed steps, or its condition is an agent
/// condition (`_agent`; an episode that failed before its first step has none).
pub(crate) fn is_episode(r: &ExportRow) -> bool {
    r.committed_steps > 0 || r.condition_id.ends_with("_agent")
}

/// Whether the item has a stored answer (`answer`, `content_filtered` or `empty`).
pub(crate) fn has_answer(r: &ExportRow) -> bool {
    !matches!(r.status.as_deref(), Some("error") | None)
}

/// The condition of a row, parsed once per condition (rows come grouped by condition).
#[derive(Default)]
pub(crate) struct ConditionCache {
    last: Option<(String, Option<Condition>)>,
}

impl ConditionCache {
    pub(crate) fn get(&mut self, r: &ExportRow) -> Option<&Condition> {
        let fresh = !matches!(&self.last, Some((id, _)) if *id == r.condition_id);
        if fresh {
            let parsed = r
                .condition_json
                .as_deref()
                .and_then(|j| serde_json::from_str(j).ok());
            self.last = Some((r.condition_id.clone(), parsed));
        }
        self.last.as_ref().and_then(|(_, c)| c.as_ref())
    }
}

/// Prices answers with the run's own `prices:` over the built-in table; None for a model
/// without a known price.
pub(crate) struct Pricing {
    table: PriceTable,
}

impl Pricing {
    /// The prices of run `run_id`, read from the `prices:` section of its recorded experiment
    /// file (a run without one, an import, has the built-in prices). A section that cannot be
    /// read is an error: the built-in prices in its place would be costs the run did not use.
    pub(crate) fn of_run(store: &Store, run_id: i64) -> Result<Pricing, ReportError> {
        let unreadable = |message: String| ReportError::RecordedPrices {
            store: store.path().to_path_buf(),
            run_id,
            message,
        };
        let overrides = match store.run_experiment_text(run_id)? {
            Some(text) => parse_prices(&text, "the recorded experiment")
                .map_err(|e| unreadable(e.to_string()))?,
            None => Default::default(),
        };
        let table = PriceTable::new(&overrides).map_err(|e| unreadable(e.to_string()))?;
        Ok(Pricing { table })
    }

    /// The prices of a model (by its `provider/model` name).
    pub(crate) fn price(&self, model: &str) -> Option<ModelPrice> {
        self.table.price_of(model)
    }

    /// What an answer cost, from its stored token counts (None without counts or price).
    pub(crate) fn cost(&self, r: &ExportRow) -> Option<f64> {
        r.input_tokens.or(r.output_tokens)?;
        let tokens = TokenCounts::from_stored(
            r.input_tokens,
            r.cache_write_tokens,
            r.cache_read_tokens,
            r.output_tokens,
        );
        Some(cost_usd(&self.price(&r.model)?, &tokens, r.billed_as_batch))
    }
}

fn num(v: Option<i64>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

fn flag(v: Option<i64>) -> String {
    v.map(|x| if x != 0 { "1" } else { "0" }.to_string())
        .unwrap_or_default()
}

/// The cells of one row, in [`SAMPLES_CSV_COLUMNS`] order (text cells spreadsheet-safe).
pub(crate) fn samples_csv_record(
    r: &ExportRow,
    condition: Option<&Condition>,
    cost: Option<f64>,
) -> Vec<String> {
    samples_record(r, condition, cost, true)
}

/// The cells of one row, in [`SAMPLES_CSV_COLUMNS`] order; `for_spreadsheet` neutralises
/// formulas (samples.csv), otherwise text is kept as stored (samples.parquet).
pub(crate) fn samples_record(
    r: &ExportRow,
    condition: Option<&Condition>,
    cost: Option<f64>,
    for_spreadsheet: bool,
) -> Vec<String> {
    let text = |s: &str| {
        if for_spreadsheet {
            spreadsheet_safe(s).into_owned()
        } else {
            s.to_string()
        }
    };
    let opt = |s: &Option<String>| s.as_deref().map(text).unwrap_or_default();
    let axis = |f: fn(&Condition) -> String| condition.map(f).map(|s| text(&s)).unwrap_or_default();
    let transcript = transcript_path(r).map(|p| text(&p)).unwrap_or_default();
    let episode = is_episode(r);
    // An episode not classified (yet) still has its steps and, once ended, its terminal
    // state (the episode's finish_reason).
    let steps = r
        .steps
        .or((r.committed_steps > 0).then_some(r.committed_steps));
    let terminal = r.terminal.clone().or_else(|| {
        (episode && has_answer(r))
            .then(|| r.finish_reason.clone())
            .flatten()
    });
    let agent = |cell: String| if episode { cell } else { String::new() };
    let (variation, format) = crate::generalisation::axis_cells(r.condition_json.as_deref());
    vec![
        r.run_id.to_string(),
        text(&r.item_key),
        text(&r.model),
        text(&r.condition_id),
        text(&r.scenario),
        axis(|c| c.goal_type.as_str().to_string()),
        axis(|c| c.goal_value.clone()),
        axis(|c| c.urgency.as_str().to_string()),
        axis(|c| c.extra_instructions().as_str().to_string()),
        axis(|c| c.variant().as_str().to_string()),
        condition
            .map(|c| c.awareness_notice().to_string())
            .unwrap_or_default(),
        axis(|c| c.mitigation_label()),
        (r.sample_index + 1).to_string(),
        opt(&r.status),
        row_verdict(r).to_string(),
        flag(r.final_verdict),
        flag(r.detector_verdict),
        opt(&r.judge_model),
        flag(r.judge_verdict),
        opt(&r.judge_error),
        flag(r.whistleblowing),
        flag(r.escalation),
        opt(&r.awareness_label),
        opt(&r.classifier_version),
        opt(&r.finish_reason),
        num(r.input_tokens),
        num(r.output_tokens),
        num(r.reasoning_tokens),
        num(r.cache_write_tokens),
        num(r.cache_read_tokens),
        cost.map(|c| format!("{c:.6}")).unwrap_or_default(),
        num(r.latency_ms),
        num(r.attempts),
        opt(&r.started_at),
        opt(&r.finished_at),
        opt(&r.error),
        transcript,
        if episode { "agent" } else { "single" }.to_string(),
        agent(num(steps)),
        agent(opt(&terminal)),
        agent(num(r.harmful_step)),
        agent(opt(&r.harmful_at)),
        agent(flag(r.leverage_read_first)),
        variation,
        format,
    ]
}

/// Each harm judge's verdict as a column of its own, when answers were classified by
/// several judges (`classification.judges`): `judge_verdict:<model>` after the fixed
/// columns, one per judge model in name order (`1` / `0`, blank when that judge failed or
/// did not judge the answer). With one judge there are none: `judge_verdict` is its own.
pub(crate) struct JudgeColumns {
    models: Vec<String>,
    by_item: std::collections::HashMap<String, std::collections::BTreeMap<String, Option<bool>>>,
}

impl JudgeColumns {
    pub(crate) fn of(store: &Store) -> Result<JudgeColumns, ReportError> {
        let mut by_item: std::collections::HashMap<String, std::collections::BTreeMap<_, _>> =
            Default::default();
        for v in store.judge_verdicts()? {
            if v.role == misalign_store::JudgeRole::Harm {
                by_item
                    .entry(v.item_key)
                    .or_default()
                    .insert(v.judge_model, v.verdict);
            }
        }
        let mut models: Vec<String> = Vec::new();
        if by_item.values().any(|judges| judges.len() > 1) {
            let all: std::collections::BTreeSet<&String> =
                by_item.values().flat_map(|j| j.keys()).collect();
            models = all.into_iter().cloned().collect();
        }
        Ok(JudgeColumns { models, by_item })
    }

    /// Each judge's verdict on an item (`None`: that judge failed), in column order; empty
    /// with one judge.
    pub(crate) fn verdicts(&self, item_key: &str) -> Vec<(&str, Option<bool>)> {
        let Some(judges) = self
            .by_item
            .get(item_key)
            .filter(|_| !self.models.is_empty())
        else {
            return Vec::new();
        };
        judges.iter().map(|(m, v)| (m.as_str(), *v)).collect()
    }

    pub(crate) fn header(&self) -> impl Iterator<Item = String> + '_ {
        self.models.iter().map(|m| format!("judge_verdict:{m}"))
    }

    pub(crate) fn cells(&self, item_key: &str) -> impl Iterator<Item = String> + '_ {
        let judges = self.by_item.get(item_key);
        self.models.iter().map(
            move |m| match judges.and_then(|j| j.get(m)).copied().flatten() {
                Some(true) => "1".to_string(),
                Some(false) => "0".to_string(),
                None => String::new(),
            },
        )
    }
}

/// Writes `samples.csv` of run `run_id` to `path` (atomically); returns the rows written.
pub fn write_samples_csv(store: &Store, run_id: i64, path: &Path) -> Result<u64, ReportError> {
    let io = |e: std::io::Error| ReportError::write(path, e.to_string());
    let csv_err = |e: csv::Error| ReportError::write(path, e.to_string());
    let pricing = Pricing::of_run(store, run_id)?;
    let file = AtomicFile::create_at(path).map_err(io)?;
    let mut w = csv::Writer::from_writer(file);
    let judges = JudgeColumns::of(store)?;
    let header = SAMPLES_CSV_COLUMNS
        .iter()
        .map(|c| c.to_string())
        .chain(judges.header().map(|h| spreadsheet_safe(&h).into_owned()));
    w.write_record(header).map_err(csv_err)?;
    let mut conditions = ConditionCache::default();
    let mut rows = 0u64;
    store
        .for_each_export_row(run_id, false, |r| {
            let mut record = samples_csv_record(&r, conditions.get(&r), pricing.cost(&r));
            record.extend(judges.cells(&r.item_key));
            rows += 1;
            w.write_record(&record)
        })?
        .map_err(csv_err)?;
    let file = w
        .into_inner()
        .map_err(|e| ReportError::write(path, e.error().to_string()))?;
    file.commit().map_err(io)?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unparsed_is_its_own_verdict() {
        let mut r = ExportRow {
            status: Some("answer".into()),
            classified: true,
            unparsed: Some(1),
            ..ExportRow::default()
        };
        assert_eq!(row_verdict(&r), "unparsed");
        // A judge that failed on it is a judge error; before schema 7 (NULL) it is one too.
        r.judge_error = Some("no usable reply".into());
        assert_eq!(row_verdict(&r), "judge_error");
        r.judge_error = None;
        r.unparsed = None;
        assert_eq!(row_verdict(&r), "judge_error");
        r.final_verdict = Some(0);
        r.unparsed = Some(1);
        assert_eq!(row_verdict(&r), "harmless");
    }
}
