//! The totals of a run: what is stored in `run_ends.totals_json` and shown at the end.

use crate::cost_summary::CostSummary;
use crate::scheduler::SampleReport;
use crate::Tally;
use misalign_core::config::Overrides;
use serde::Serialize;
use std::collections::BTreeMap;

/// `run_ends.totals_json` of a `misalign run` (field names are part of the store's format,
/// docs/store.md).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunTotals {
    pub overrides: Overrides,
    pub planned: usize,
    pub already_stored: usize,
    pub answers: u64,
    pub errors: u64,
    pub duplicates: u64,
    pub abandoned: u64,
    pub retries: u64,
    /// Input read without the prompt cache.
    pub input_tokens: u64,
    pub cache_write_tokens: u64,
    pub cache_read_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd_estimate: f64,
    /// USD per priced model (from the stored token counts).
    pub cost_usd_per_model: BTreeMap<String, f64>,
    /// Set when `--max-cost` stopped the run: why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget_stop: Option<String>,
    pub per_model: BTreeMap<String, Tally>,
    /// Shown, not stored (the per-model counts say which models used tokens).
    #[serde(skip)]
    pub unpriced: Vec<String>,
}

impl RunTotals {
    pub(crate) fn new(
        overrides: &Overrides,
        planned: usize,
        already_stored: usize,
        report: &SampleReport,
        total: &Tally,
        per_model: BTreeMap<String, Tally>,
        cost: CostSummary,
    ) -> RunTotals {
        RunTotals {
            overrides: overrides.clone(),
            planned,
            already_stored,
            answers: report.answers,
            errors: report.errors,
            duplicates: report.duplicates,
            abandoned: report.abandoned,
            retries: total.retries,
            input_tokens: total.input_tokens,
            cache_write_tokens: total.cache_write_tokens,
            cache_read_tokens: total.cache_read_tokens,
            output_tokens: total.output_tokens,
            cost_usd_estimate: cost.usd,
            cost_usd_per_model: cost.per_model,
            budget_stop: match &report.stopped {
                Some(crate::StopReason::Budget(why)) => Some(why.clone()),
                _ => None,
            },
            per_model,
            unpriced: cost.unpriced,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_serialize_with_the_stored_field_names() {
        let report = SampleReport {
            answers: 3,
            errors: 1,
            ..Default::default()
        };
        let total = Tally {
            retries: 2,
            input_tokens: 30,
            output_tokens: 40,
            ..Default::default()
        };
        let per_model = BTreeMap::from([("mock/m".to_string(), total.clone())]);
        let cost = CostSummary {
            usd: 0.5,
            per_model: BTreeMap::from([("mock/m".to_string(), 0.5)]),
            unpriced: vec!["x".into()],
        };
        let t = RunTotals::new(
            &Overrides::default(),
            5,
            1,
            &report,
            &total,
            per_model,
            cost,
        );
        let v = serde_json::to_value(&t).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        let mut expected = vec![
            "overrides",
            "planned",
            "already_stored",
            "answers",
            "errors",
            "duplicates",
            "abandoned",
            "retries",
            "input_tokens",
            "cache_write_tokens",
            "cache_read_tokens",
            "output_tokens",
            "cost_usd_estimate",
            "cost_usd_per_model",
            "per_model",
        ];
        let mut keys = keys;
        keys.sort();
        expected.sort();
        assert_eq!(keys, expected);
        assert_eq!(v["per_model"]["mock/m"]["input_tokens"], 30);
        assert_eq!(v["cost_usd_estimate"], 0.5);
    }
}
