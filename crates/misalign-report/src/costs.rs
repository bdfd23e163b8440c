//! What the answers of a run cost, per model: in `summary.json`, the terminal table and
//! `report.html`. Computed from the stored token counts with the run's own `prices:` over
//! the built-in table, through the one cost function (`misalign_core::cost::cost_usd`).

use crate::samples::Pricing;
use crate::ReportError;
use misalign_core::cost::PriceSource;
use misalign_store::usage::ModelUsage;
use misalign_store::Store;
use serde::Serialize;

/// One model's stored answers in the reported run's plan and their cost, or (role
/// `judge`) one judge model's replies stored in the folder and their cost.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelCostRow {
    pub model: String,
    /// `sample` (a model under test) or `judge` (harm and awareness judges).
    pub role: &'static str,
    /// Answers (`sample`) or judge replies paid for (`judge`).
    pub answers: u64,
    /// Input read without the cache.
    pub input_tokens: u64,
    pub cache_write_tokens: u64,
    pub cache_read_tokens: u64,
    pub output_tokens: u64,
    /// None when no price is known for the model.
    pub cost_usd: Option<f64>,
    pub price_source: Option<PriceSource>,
    /// The day the prices used were read (None: unknown, or no price).
    pub prices_as_of: Option<String>,
}

/// Per model under test, then per judge model, each in name order. Judge replies are every
/// one this folder paid for (each once, by the run that made the call; replies cached
/// before schema 6 have no counts).
pub(crate) fn model_costs(store: &Store, run_id: i64) -> Result<Vec<ModelCostRow>, ReportError> {
    let pricing = Pricing::of_run(store, run_id)?;
    let sampled = store.plan_usage_by_model(run_id)?;
    let judged = store.judge_usage_by_model(None)?;
    let rows = |role, usage: std::collections::BTreeMap<String, ModelUsage>| {
        usage
            .into_iter()
            .map(|(model, u)| row(&pricing, role, model, u))
            .collect::<Vec<_>>()
    };
    let mut out = rows("sample", sampled);
    out.extend(rows("judge", judged));
    Ok(out)
}

/// One model's usage priced (no price: no cost).
fn row(pricing: &Pricing, role: &'static str, model: String, u: ModelUsage) -> ModelCostRow {
    let price = pricing.price(&model);
    ModelCostRow {
        role,
        answers: u.answers,
        input_tokens: u.tokens.input,
        cache_write_tokens: u.tokens.cache_write,
        cache_read_tokens: u.tokens.cache_read,
        output_tokens: u.tokens.output,
        cost_usd: price.as_ref().map(|p| u.cost(p)),
        price_source: price.as_ref().map(|p| p.source),
        prices_as_of: price.and_then(|p| p.as_of),
        model,
    }
}

/// What the rows cost together. An unpriced model's cost is unknown, not $0: then `usd` is
/// None (`null` in summary.json) and `unpriced` names the models.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CostTotal {
    /// The total in USD; None when some model has no price.
    pub usd: Option<f64>,
    /// The sum over the priced rows alone.
    pub priced_usd: f64,
    /// Models (under test or judges) with no known price, each once.
    pub unpriced: Vec<String>,
}

impl CostTotal {
    pub fn of(rows: &[ModelCostRow]) -> CostTotal {
        let mut t = CostTotal::default();
        for r in rows {
            match r.cost_usd {
                Some(c) => t.priced_usd += c,
                None if !t.unpriced.contains(&r.model) => t.unpriced.push(r.model.clone()),
                None => {}
            }
        }
        t.usd = t.unpriced.is_empty().then_some(t.priced_usd);
        t
    }

    /// `$x`, or `unknown` (with the priced part when there is one).
    pub fn text(&self, decimals: usize) -> String {
        match self.usd {
            Some(c) => format!("${c:.decimals$}"),
            None if self.priced_usd > 0.0 => format!(
                "unknown (${:.decimals$} for the priced models; no price for {})",
                self.priced_usd,
                self.unpriced.join(", ")
            ),
            None => format!("unknown (no price for {})", self.unpriced.join(", ")),
        }
    }
}

/// `model: $x (N answers; tokens ...)` lines, and the total, for the terminal.
pub(crate) fn cost_lines(rows: &[ModelCostRow]) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let mut s = String::from("cost (estimate from the stored token counts; prices change):\n");
    for r in rows {
        let cost = match r.cost_usd {
            Some(c) => format!("${c:.4}"),
            None => "unknown (no price)".to_string(),
        };
        let what = if r.role == "judge" {
            "judge replies"
        } else {
            "answers"
        };
        s.push_str(&format!(
            "  {}{}: {cost} for {} {what} (input {}, cache write {}, cache read {}, output {})\n",
            misalign_store::untrusted::terminal_safe(&r.model),
            if r.role == "judge" { " (judge)" } else { "" },
            r.answers,
            r.input_tokens,
            r.cache_write_tokens,
            r.cache_read_tokens,
            r.output_tokens
        ));
    }
    let mut total = CostTotal::of(rows);
    // Model names come from the store, which whoever sent the folder wrote.
    for m in &mut total.unpriced {
        *m = misalign_store::untrusted::terminal_safe(m);
    }
    s.push_str(&format!("  total: {}\n", total.text(4)));
    if !total.unpriced.is_empty() {
        s.push_str(&misalign_core::cost::no_price_hint(&total.unpriced));
        s.push('\n');
    }
    s
}
