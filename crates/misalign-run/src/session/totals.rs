//! The totals of a run: what is stored in `run_ends.totals_json` and shown at the end.

use crate::scheduler::SampleReport;
use crate::Tally;
use misalign_core::config::Overrides;
use misalign_core::cost::PriceTable;
use misalign_store::usage::ModelUsage;
use serde::Serialize;
use std::collections::BTreeMap;

/// The estimated cost of what a run stored, computed once from the stored token counts of
/// its answers (batch answers at the batch price).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CostSummary {
    pub usd: f64,
    /// USD per priced model.
    pub per_model: BTreeMap<String, f64>,
    /// Models that used tokens but have no known price (not in `usd`).
    pub unpriced: Vec<String>,
}

impl CostSummary {
    /// `usage`: per resolved model name, what the run's answers used; `model_id` gives a
    /// model's id within its provider (for the price table's patterns).
    pub fn of(
        prices: &PriceTable,
        usage: &BTreeMap<String, ModelUsage>,
        model_id: impl Fn(&str) -> String,
    ) -> Self {
        let mut cost = CostSummary::default();
        for (model, u) in usage {
            match prices.lookup(model, &model_id(model)) {
                Some(price) => {
                    let c = u.cost(&price);
                    cost.usd += c;
                    cost.per_model.insert(model.clone(), c);
                }
                None if u.tokens.all_input() + u.tokens.output > 0 => {
                    cost.unpriced.push(model.clone())
                }
                None => {}
            }
        }
        cost
    }
}

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
    fn cost_is_summed_over_priced_models_and_names_the_rest() {
        use misalign_core::cost::{cost_usd, TokenCounts};
        let prices = PriceTable::new(&BTreeMap::new()).unwrap();
        let u = |input, output, batch: bool| {
            let tokens = TokenCounts {
                input,
                output,
                ..Default::default()
            };
            ModelUsage {
                answers: 1,
                tokens,
                batch_tokens: if batch { tokens } else { Default::default() },
            }
        };
        let usage = BTreeMap::from([
            ("openai/gpt-4.1".to_string(), u(1_000_000, 0, false)),
            (
                "anthropic/claude-sonnet-4-5".to_string(),
                u(0, 1_000_000, true),
            ),
            ("house/unpriced-7b".to_string(), u(10, 10, false)),
            ("mock/idle".to_string(), u(0, 0, false)),
        ]);
        let id = |m: &str| m.split_once('/').map_or(m, |(_, id)| id).to_string();
        let c = CostSummary::of(&prices, &usage, id);
        let gpt = prices.lookup("openai/gpt-4.1", "gpt-4.1").unwrap();
        let gpt_cost = cost_usd(&gpt, &usage["openai/gpt-4.1"].tokens, false);
        assert_eq!(c.per_model["openai/gpt-4.1"], gpt_cost);
        // Batch answers at half price: $15 per 1M output for Sonnet, halved.
        assert!((c.per_model["anthropic/claude-sonnet-4-5"] - 7.5).abs() < 1e-9);
        assert!((c.usd - (gpt_cost + 7.5)).abs() < 1e-9);
        assert_eq!(c.unpriced, vec!["house/unpriced-7b".to_string()]);
        assert!(!c.per_model.contains_key("mock/idle") || c.per_model["mock/idle"] == 0.0);
    }

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
