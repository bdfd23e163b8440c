//! What stored answers or judge replies cost, per model: shared by a run's totals and
//! classification's summary (neither owns the other).

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
    /// `usage`: per resolved model name, what the run's answers used.
    pub fn of(prices: &PriceTable, usage: &BTreeMap<String, ModelUsage>) -> Self {
        let mut cost = CostSummary::default();
        for (model, u) in usage {
            match prices.price_of(model) {
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
        let c = CostSummary::of(&prices, &usage);
        let gpt = prices.price_of("openai/gpt-4.1").unwrap();
        let gpt_cost = cost_usd(&gpt, &usage["openai/gpt-4.1"].tokens, false);
        assert_eq!(c.per_model["openai/gpt-4.1"], gpt_cost);
        // Batch answers at half price: $15 per 1M output for Sonnet, halved.
        assert!((c.per_model["anthropic/claude-sonnet-4-5"] - 7.5).abs() < 1e-9);
        assert!((c.usd - (gpt_cost + 7.5)).abs() < 1e-9);
        assert_eq!(c.unpriced, vec!["house/unpriced-7b".to_string()]);
        assert!(!c.per_model.contains_key("mock/idle") || c.per_model["mock/idle"] == 0.0);
    }
}
