//! The totals of a run: what is stored in `run_ends.totals_json` and shown at the end.

use crate::{SampleReport, Tally};
use misalign_core::config::Overrides;
use misalign_core::cost::{cost_usd, PriceTable};
use serde::Serialize;
use std::collections::BTreeMap;

/// The estimated cost of a run's tokens, computed once from the per-model counts.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CostSummary {
    pub usd: f64,
    /// Models that used tokens but have no known price (not in `usd`).
    pub unpriced: Vec<String>,
}

impl CostSummary {
    /// `per_model`: resolved model name -> (its model id, its counts).
    pub fn of(prices: &PriceTable, per_model: &BTreeMap<String, (String, Tally)>) -> Self {
        let mut cost = CostSummary::default();
        for (model, (model_id, t)) in per_model {
            match prices.lookup(model, model_id) {
                Some((price, _)) => cost.usd += cost_usd(price, t.input_tokens, t.output_tokens),
                None if t.input_tokens + t.output_tokens > 0 => cost.unpriced.push(model.clone()),
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
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd_estimate: f64,
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
        per_model: BTreeMap<String, (String, Tally)>,
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
            output_tokens: total.output_tokens,
            cost_usd_estimate: cost.usd,
            per_model: per_model.into_iter().map(|(m, (_, t))| (m, t)).collect(),
            unpriced: cost.unpriced,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_is_summed_over_priced_models_and_names_the_rest() {
        let prices = PriceTable::new(&BTreeMap::new()).unwrap();
        let t = |i, o| Tally {
            input_tokens: i,
            output_tokens: o,
            ..Default::default()
        };
        let per_model = BTreeMap::from([
            (
                "openai/gpt-4.1".to_string(),
                ("gpt-4.1".to_string(), t(1_000_000, 0)),
            ),
            (
                "house/unpriced-7b".to_string(),
                ("unpriced-7b".to_string(), t(10, 10)),
            ),
            ("mock/idle".to_string(), ("idle".to_string(), t(0, 0))),
        ]);
        let c = CostSummary::of(&prices, &per_model);
        let (price, _) = prices.lookup("openai/gpt-4.1", "gpt-4.1").unwrap();
        assert_eq!(c.usd, cost_usd(price, 1_000_000, 0));
        assert!(c.usd > 0.0);
        assert_eq!(c.unpriced, vec!["house/unpriced-7b".to_string()]);
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
        let per_model = BTreeMap::from([("mock/m".to_string(), ("m".to_string(), total.clone()))]);
        let cost = CostSummary {
            usd: 0.5,
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
            "output_tokens",
            "cost_usd_estimate",
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
