//! Prices and the one cost function: what an answer cost, from the token counts stored with
//! it.
//!
//! The built-in table holds list prices (USD per million tokens, standard tier) of common
//! models as read off the providers' public price lists on [`PRICES_AS_OF`]: input, output,
//! prompt-cache write and read, and the batch discount. Prices change; the experiment's
//! `prices:` section overrides them (a field it leaves out comes from the built-in entry of
//! the same model, else is billed as plain input), and every figure is printed as an
//! estimate of the provider's bill, not the bill.

use crate::config::Price;
use globset::{Glob, GlobMatcher};
use serde::Serialize;
use std::collections::BTreeMap;

/// The day the built-in prices were read off the providers' price lists.
pub const PRICES_AS_OF: &str = "2025-11-30";

/// One built-in row: model glob, input, output, cache write, cache read (USD per 1M
/// tokens; `None`: the provider bills no such thing, plain input is used), batch discount.
type BuiltIn = (&'static str, f64, f64, Option<f64>, Option<f64>, f64);

/// Anthropic: a 5-minute cache write costs 1.25x input, a cache read 0.1x input; OpenAI and
/// Gemini cache on their own (no write charge) and bill cached input at a fixed lower rate;
/// all three take half off through their batch APIs. Matched against the model id and the
/// full `provider/model` name; the first match wins, so specific patterns come first.
const BUILT_IN: &[BuiltIn] = &[
    ("claude-opus-4-5*", 5.0, 25.0, Some(6.25), Some(0.5), 0.5),
    ("claude-opus-4*", 15.0, 75.0, Some(18.75), Some(1.5), 0.5),
    ("claude-sonnet-4*", 3.0, 15.0, Some(3.75), Some(0.3), 0.5),
    ("claude-3-7-sonnet*", 3.0, 15.0, Some(3.75), Some(0.3), 0.5),
    ("claude-3-5-sonnet*", 3.0, 15.0, Some(3.75), Some(0.3), 0.5),
    ("claude-haiku-4*", 1.0, 5.0, Some(1.25), Some(0.1), 0.5),
    ("claude-3-5-haiku*", 0.8, 4.0, Some(1.0), Some(0.08), 0.5),
    ("gpt-4.1-nano*", 0.1, 0.4, None, Some(0.025), 0.5),
    ("gpt-4.1-mini*", 0.4, 1.6, None, Some(0.1), 0.5),
    ("gpt-4.1*", 2.0, 8.0, None, Some(0.5), 0.5),
    ("gpt-4o-mini*", 0.15, 0.6, None, Some(0.075), 0.5),
    ("gpt-4o*", 2.5, 10.0, None, Some(1.25), 0.5),
    ("gpt-5-mini*", 0.25, 2.0, None, Some(0.025), 0.5),
    ("gpt-5-nano*", 0.05, 0.4, None, Some(0.005), 0.5),
    ("gpt-5*", 1.25, 10.0, None, Some(0.125), 0.5),
    ("o4-mini*", 1.1, 4.4, None, Some(0.275), 0.5),
    ("o3-mini*", 1.1, 4.4, None, Some(0.55), 0.5),
    ("o3*", 2.0, 8.0, None, Some(0.5), 0.5),
    ("gemini-2.5-pro*", 1.25, 10.0, None, Some(0.31), 0.5),
    ("gemini-2.5-flash-lite*", 0.1, 0.4, None, Some(0.025), 0.5),
    ("gemini-2.5-flash*", 0.3, 2.5, None, Some(0.075), 0.5),
    ("x-ai/grok-4*", 3.0, 15.0, None, None, 0.0),
    ("x-ai/grok-3*", 3.0, 15.0, None, None, 0.0),
    ("deepseek-ai/DeepSeek-R1*", 3.0, 7.0, None, None, 0.0),
    ("local/*", 0.0, 0.0, None, None, 0.0),
    ("mock/*", 0.0, 0.0, None, None, 0.0),
];

/// A price-table error (an invalid `prices:` pattern).
#[derive(Debug, thiserror::Error)]
#[error("prices.{pattern}: not a valid model glob: {message}")]
pub struct PriceError {
    pub pattern: String,
    pub message: String,
}

/// Where a price came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PriceSource {
    Experiment,
    BuiltIn,
}

/// A model's complete prices, USD per million tokens, every field resolved.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelPrice {
    pub input: f64,
    pub output: f64,
    pub cache_write: f64,
    pub cache_read: f64,
    /// Fraction off every part of an answer billed through a batch API.
    pub batch_discount: f64,
    /// The day the prices were read (`None`: an experiment price without `as_of`).
    pub as_of: Option<String>,
    pub source: PriceSource,
}

/// Token counts billed at different rates (the provider's, normalised: see
/// `misalign_models::Usage`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TokenCounts {
    /// Input read without the cache.
    pub input: u64,
    pub cache_write: u64,
    pub cache_read: u64,
    pub output: u64,
}

impl TokenCounts {
    pub fn add(&mut self, o: &TokenCounts) {
        self.input = self.input.saturating_add(o.input);
        self.cache_write = self.cache_write.saturating_add(o.cache_write);
        self.cache_read = self.cache_read.saturating_add(o.cache_read);
        self.output = self.output.saturating_add(o.output);
    }

    /// All input, however billed.
    pub fn all_input(&self) -> u64 {
        self.input
            .saturating_add(self.cache_write)
            .saturating_add(self.cache_read)
    }

    /// Stored counts (NULL or negative counts as 0: an unknown count cannot poison totals).
    pub fn from_stored(
        input: Option<i64>,
        cache_write: Option<i64>,
        cache_read: Option<i64>,
        output: Option<i64>,
    ) -> TokenCounts {
        let n = |v: Option<i64>| v.and_then(|x| u64::try_from(x).ok()).unwrap_or(0);
        TokenCounts {
            input: n(input),
            cache_write: n(cache_write),
            cache_read: n(cache_read),
            output: n(output),
        }
    }
}

/// USD for `tokens` at `price`; `billed_as_batch` applies the batch discount. The one place
/// a cost is computed: per answer, totals (sums of answers), estimates and budgets all call
/// it.
pub fn cost_usd(price: &ModelPrice, tokens: &TokenCounts, billed_as_batch: bool) -> f64 {
    let full = tokens.input as f64 * price.input
        + tokens.cache_write as f64 * price.cache_write
        + tokens.cache_read as f64 * price.cache_read
        + tokens.output as f64 * price.output;
    let factor = if billed_as_batch {
        1.0 - price.batch_discount
    } else {
        1.0
    };
    full * factor / 1_000_000.0
}

/// What to tell a user whose models have no price: their cost is unknown (never counted as
/// $0), and how to add one under `prices:`. `models` should already be safe to print.
pub fn no_price_hint(models: &[String]) -> String {
    let Some(first) = models.first() else {
        return String::new();
    };
    let quoted = serde_json::to_string(first).unwrap_or_else(|_| "\"MODEL\"".into());
    format!(
        "no price known for {}: {} cost is unknown. To count it, add what you pay in USD per 1M tokens \
         (0 for a server of your own) to the experiment file (docs/cost.md):\n  prices:\n    {quoted}: {{ input: 0.0, output: 0.0 }}",
        models.join(", "),
        if models.len() == 1 { "its" } else { "their" }
    )
}

/// Model globs to prices: the experiment's first, then the built-in ones.
#[derive(Debug)]
pub struct PriceTable {
    experiment: Vec<(GlobMatcher, Price)>,
    built_in: Vec<(GlobMatcher, &'static BuiltIn)>,
}

impl PriceTable {
    pub fn new(overrides: &BTreeMap<String, Price>) -> Result<PriceTable, PriceError> {
        let mut experiment = Vec::new();
        // Exact names before patterns, so `openai/gpt-4.1` beats `gpt-*`.
        let (exact, globs): (Vec<_>, Vec<_>) = overrides
            .iter()
            .partition(|(k, _)| !k.contains(['*', '?', '[', '{']));
        for (pattern, price) in exact.into_iter().chain(globs) {
            let g = Glob::new(pattern).map_err(|e| PriceError {
                pattern: pattern.clone(),
                message: e.to_string(),
            })?;
            experiment.push((g.compile_matcher(), price.clone()));
        }
        let built_in = BUILT_IN
            .iter()
            .map(|row| {
                let g = Glob::new(row.0).expect("built-in price globs are valid");
                (g.compile_matcher(), row)
            })
            .collect();
        Ok(PriceTable {
            experiment,
            built_in,
        })
    }

    /// The prices of a model by its canonical `provider/model` name: the patterns are
    /// matched against the name and against its id within the provider
    /// ([`crate::config::model_id_of`]). The one way every estimate, budget, total and
    /// report prices a model.
    pub fn price_of(&self, name: &str) -> Option<ModelPrice> {
        self.lookup(name, crate::config::model_id_of(name))
    }

    fn lookup(&self, name: &str, model_id: &str) -> Option<ModelPrice> {
        let hit = |g: &GlobMatcher| g.is_match(name) || g.is_match(model_id);
        let built = self.built_in.iter().find(|(g, _)| hit(g)).map(|(_, r)| *r);
        let from_built = |b: &BuiltIn| ModelPrice {
            input: b.1,
            output: b.2,
            cache_write: b.3.unwrap_or(b.1),
            cache_read: b.4.unwrap_or(b.1),
            batch_discount: b.5,
            as_of: Some(PRICES_AS_OF.to_string()),
            source: PriceSource::BuiltIn,
        };
        match self.experiment.iter().find(|(g, _)| hit(g)) {
            Some((_, p)) => {
                let base = built.map(from_built);
                // A left-out field keeps the built-in ratio to input when there is one.
                let ratio = |f: fn(&ModelPrice) -> f64| {
                    base.as_ref()
                        .filter(|b| b.input > 0.0)
                        .map_or(1.0, |b| f(b) / b.input)
                };
                Some(ModelPrice {
                    input: p.input,
                    output: p.output,
                    cache_write: p.cache_write.unwrap_or(p.input * ratio(|b| b.cache_write)),
                    cache_read: p.cache_read.unwrap_or(p.input * ratio(|b| b.cache_read)),
                    batch_discount: p
                        .batch_discount
                        .or(base.as_ref().map(|b| b.batch_discount))
                        .unwrap_or(0.0),
                    as_of: p.as_of.clone(),
                    source: PriceSource::Experiment,
                })
            }
            None => built.map(from_built),
        }
    }
}

/// The chars/4 rule of thumb for English text (rounded up).
pub fn estimate_tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4)
}

#[cfg(test)]
mod tests {
    #[test]
    fn no_price_hint_names_the_models_and_the_prices_key() {
        assert_eq!(super::no_price_hint(&[]), "");
        let one = super::no_price_hint(&["mock/m".to_string()]);
        assert!(
            one.starts_with("no price known for mock/m: its cost is unknown"),
            "{one}"
        );
        assert!(
            one.contains("prices:\n    \"mock/m\": { input: 0.0, output: 0.0 }"),
            "{one}"
        );
        let two = super::no_price_hint(&["a/x".to_string(), "b/y".to_string()]);
        assert!(two.contains("a/x, b/y: their cost"), "{two}");
    }

    use super::*;

    #[test]
    fn a_model_is_priced_by_its_name_and_its_id_within_the_provider() {
        let t = PriceTable::new(&BTreeMap::new()).unwrap();
        let gpt = t.price_of("openai/gpt-4.1").unwrap();
        // The id after a service name (Inspect's openai-api ids) and after a gateway.
        assert_eq!(t.price_of("openai-api/house/gpt-4.1"), Some(gpt));
        assert!(t.price_of("openrouter/x-ai/grok-4").is_some());
        assert!(t.price_of("house/gpt-4.1-custom-finetune").is_some());
        assert_eq!(t.price_of("house/unknown-7b"), None);
    }

    fn price(input: f64, output: f64) -> Price {
        Price {
            input,
            output,
            ..Price::default()
        }
    }

    #[test]
    fn experiment_prices_override_built_ins() {
        let t = PriceTable::new(&BTreeMap::new()).unwrap();
        let p = t
            .lookup("anthropic/claude-opus-4-1", "claude-opus-4-1")
            .unwrap();
        assert_eq!(
            (p.input, p.output, p.cache_write, p.cache_read, p.source),
            (15.0, 75.0, 18.75, 1.5, PriceSource::BuiltIn)
        );
        assert_eq!(p.as_of.as_deref(), Some(PRICES_AS_OF));
        let p = t.lookup("openai/gpt-4.1-mini", "gpt-4.1-mini").unwrap();
        assert_eq!((p.input, p.cache_write, p.cache_read), (0.4, 0.4, 0.1));
        assert!(t.lookup("acme/unknown", "unknown").is_none());
        let over = BTreeMap::from([
            ("gpt-*".to_string(), price(9.0, 9.0)),
            ("openai/gpt-4.1".to_string(), price(1.0, 2.0)),
            (
                "anthropic/*".to_string(),
                Price {
                    input: 2.0,
                    output: 10.0,
                    cache_read: Some(0.1),
                    batch_discount: Some(0.25),
                    as_of: Some("2026-12-01".into()),
                    ..Price::default()
                },
            ),
        ]);
        let t = PriceTable::new(&over).unwrap();
        let p = t.lookup("openai/gpt-4.1", "gpt-4.1").unwrap();
        assert_eq!((p.input, p.source), (1.0, PriceSource::Experiment));
        // Left out: the built-in gpt-4.1 ratios (cached = a quarter of input, half off in batch).
        assert_eq!((p.cache_read, p.batch_discount), (0.25, 0.5));
        assert_eq!(t.lookup("openai/gpt-4o", "gpt-4o").unwrap().input, 9.0);
        let p = t
            .lookup("anthropic/claude-sonnet-4-5", "claude-sonnet-4-5")
            .unwrap();
        assert_eq!(
            (p.cache_write, p.cache_read, p.batch_discount),
            (2.5, 0.1, 0.25)
        );
        assert_eq!(p.as_of.as_deref(), Some("2026-12-01"));
        // No built-in entry: everything at the plain input price, no batch discount.
        let t = PriceTable::new(&BTreeMap::from([("lab/*".to_string(), price(1.0, 3.0))])).unwrap();
        let p = t.lookup("lab/qwen", "qwen").unwrap();
        assert_eq!(
            (p.cache_write, p.cache_read, p.batch_discount, p.as_of),
            (1.0, 1.0, 0.0, None)
        );
        let bad = BTreeMap::from([("a[".to_string(), price(1.0, 1.0))]);
        assert!(PriceTable::new(&bad)
            .unwrap_err()
            .to_string()
            .contains("prices.a["));
    }

    #[test]
    fn one_cost_function_for_every_part() {
        let t = PriceTable::new(&BTreeMap::new()).unwrap();
        let p = t
            .lookup("anthropic/claude-sonnet-4-5", "claude-sonnet-4-5")
            .unwrap();
        let tokens = TokenCounts {
            input: 1_000_000,
            cache_write: 1_000_000,
            cache_read: 1_000_000,
            output: 1_000_000,
        };
        let c = cost_usd(&p, &tokens, false);
        assert!((c - (3.0 + 3.75 + 0.3 + 15.0)).abs() < 1e-9, "{c}");
        assert!((cost_usd(&p, &tokens, true) - c / 2.0).abs() < 1e-9);
        assert_eq!(cost_usd(&p, &TokenCounts::default(), false), 0.0);
        assert_eq!(
            TokenCounts::from_stored(Some(5), None, Some(-3), Some(7)),
            TokenCounts {
                input: 5,
                cache_write: 0,
                cache_read: 0,
                output: 7
            }
        );
    }

    #[test]
    fn estimates() {
        assert_eq!(estimate_tokens(""), 0);
        assert_eq!(estimate_tokens("abcde"), 2);
    }
}
