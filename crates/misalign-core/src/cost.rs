//! Token estimates and prices: `--dry-run`'s plan cost and end-of-run totals.
//!
//! The built-in table holds list prices (USD per million tokens, standard tier, no batch or
//! cache discounts) of a few common models as we knew them in late 2025; prices change, so
//! the experiment's `prices:` section extends and overrides it, and every estimate is
//! printed as an estimate.

use crate::config::Price;
use globset::{Glob, GlobMatcher};
use std::collections::BTreeMap;

/// (model glob, input USD/1M, output USD/1M). Matched against the model id and the full
/// `provider/model` name; the first match wins, so specific patterns come first.
const BUILT_IN: &[(&str, f64, f64)] = &[
    ("claude-opus-4*", 15.0, 75.0),
    ("claude-sonnet-4*", 3.0, 15.0),
    ("claude-3-7-sonnet*", 3.0, 15.0),
    ("claude-3-5-sonnet*", 3.0, 15.0),
    ("claude-haiku-4*", 1.0, 5.0),
    ("claude-3-5-haiku*", 0.8, 4.0),
    ("gpt-4.1-nano*", 0.1, 0.4),
    ("gpt-4.1-mini*", 0.4, 1.6),
    ("gpt-4.1*", 2.0, 8.0),
    ("gpt-4o-mini*", 0.15, 0.6),
    ("gpt-4o*", 2.5, 10.0),
    ("gpt-5-mini*", 0.25, 2.0),
    ("gpt-5-nano*", 0.05, 0.4),
    ("gpt-5*", 1.25, 10.0),
    ("o4-mini*", 1.1, 4.4),
    ("o3-mini*", 1.1, 4.4),
    ("o3*", 2.0, 8.0),
    ("gemini-2.5-pro*", 1.25, 10.0),
    ("gemini-2.5-flash-lite*", 0.1, 0.4),
    ("gemini-2.5-flash*", 0.3, 2.5),
    ("x-ai/grok-4*", 3.0, 15.0),
    ("x-ai/grok-3*", 3.0, 15.0),
    ("deepseek-ai/DeepSeek-R1*", 3.0, 7.0),
    ("local/*", 0.0, 0.0),
    ("mock/*", 0.0, 0.0),
];

/// A price-table error (an invalid `prices:` pattern).
#[derive(Debug, thiserror::Error)]
#[error("prices.{pattern}: not a valid model glob: {message}")]
pub struct PriceError {
    pub pattern: String,
    pub message: String,
}

/// Where a price came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PriceSource {
    Experiment,
    BuiltIn,
}

/// Model globs to prices: the experiment's first, then the built-in ones.
#[derive(Debug)]
pub struct PriceTable {
    entries: Vec<(GlobMatcher, Price, PriceSource)>,
}

impl PriceTable {
    pub fn new(overrides: &BTreeMap<String, Price>) -> Result<PriceTable, PriceError> {
        let mut entries = Vec::new();
        // Exact names before patterns, so `openai/gpt-4.1` beats `gpt-*`.
        let (exact, globs): (Vec<_>, Vec<_>) = overrides
            .iter()
            .partition(|(k, _)| !k.contains(['*', '?', '[', '{']));
        for (pattern, price) in exact.into_iter().chain(globs) {
            let g = Glob::new(pattern).map_err(|e| PriceError {
                pattern: pattern.clone(),
                message: e.to_string(),
            })?;
            entries.push((g.compile_matcher(), price.clone(), PriceSource::Experiment));
        }
        for (pattern, input, output) in BUILT_IN {
            let g = Glob::new(pattern).expect("built-in price globs are valid");
            entries.push((
                g.compile_matcher(),
                Price {
                    input: *input,
                    output: *output,
                },
                PriceSource::BuiltIn,
            ));
        }
        Ok(PriceTable { entries })
    }

    /// The price of a model, by its full name or its id within the provider.
    pub fn lookup(&self, name: &str, model_id: &str) -> Option<(&Price, PriceSource)> {
        self.entries
            .iter()
            .find(|(g, _, _)| g.is_match(name) || g.is_match(model_id))
            .map(|(_, p, s)| (p, *s))
    }
}

/// The chars/4 rule of thumb for English text (rounded up).
pub fn estimate_tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4)
}

/// USD for the given token counts.
pub fn cost_usd(price: &Price, input_tokens: u64, output_tokens: u64) -> f64 {
    (input_tokens as f64 * price.input + output_tokens as f64 * price.output) / 1_000_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn experiment_prices_override_built_ins() {
        let t = PriceTable::new(&BTreeMap::new()).unwrap();
        let (p, s) = t
            .lookup("anthropic/claude-opus-4-1", "claude-opus-4-1")
            .unwrap();
        assert_eq!((p.input, p.output, s), (15.0, 75.0, PriceSource::BuiltIn));
        let (p, _) = t.lookup("openai/gpt-4.1-mini", "gpt-4.1-mini").unwrap();
        assert_eq!(p.input, 0.4);
        assert!(t.lookup("acme/unknown", "unknown").is_none());
        let over = BTreeMap::from([
            (
                "gpt-*".to_string(),
                Price {
                    input: 9.0,
                    output: 9.0,
                },
            ),
            (
                "openai/gpt-4.1".to_string(),
                Price {
                    input: 1.0,
                    output: 2.0,
                },
            ),
        ]);
        let t = PriceTable::new(&over).unwrap();
        let (p, s) = t.lookup("openai/gpt-4.1", "gpt-4.1").unwrap();
        assert_eq!((p.input, s), (1.0, PriceSource::Experiment));
        assert_eq!(t.lookup("openai/gpt-4o", "gpt-4o").unwrap().0.input, 9.0);
        let bad = BTreeMap::from([(
            "a[".to_string(),
            Price {
                input: 1.0,
                output: 1.0,
            },
        )]);
        assert!(PriceTable::new(&bad)
            .unwrap_err()
            .to_string()
            .contains("prices.a["));
    }

    #[test]
    fn estimates() {
        assert_eq!(estimate_tokens(""), 0);
        assert_eq!(estimate_tokens("abcde"), 2);
        let p = Price {
            input: 3.0,
            output: 15.0,
        };
        assert!((cost_usd(&p, 1_000_000, 100_000) - 4.5).abs() < 1e-9);
    }
}
