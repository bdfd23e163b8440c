//! `--max-cost`: a spending limit the scheduler checks before it starts each call.
//!
//! Every call reserves an upper estimate of its cost before it starts (its input as the
//! cache will bill it, and `max_tokens` of output per sample); when the answer is stored the
//! reservation is replaced by what the stored usage costs ([`misalign_core::cost::cost_usd`]). A call
//! whose reservation would take spent + reserved past the limit is not started, and the run
//! stops starting calls: so what a run spends stays within the limit as long as providers
//! honour `max_tokens` and the input estimate holds (it is the reported input of an earlier
//! sample of the same prompt once there is one, else chars/4 plus a quarter).

use misalign_core::cost::{cost_usd, ModelPrice, TokenCounts};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

/// How a model's provider caches the prompt the samples of a condition share.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caching {
    /// We ask for it (Anthropic `cache_control`): the first sample writes, the others read.
    Explicit,
    /// The provider caches on its own (OpenAI, Gemini): the first sample reads nothing, the
    /// others read the prompt.
    Automatic,
    /// Every sample pays full input.
    Off,
}

/// The smallest prompt providers cache (Anthropic's smallest minimum, OpenAI's); a shorter
/// prompt is estimated as plain input.
pub const MIN_CACHED_TOKENS: u64 = 1024;

/// Input tokens of one call of a prompt of `prompt_tokens`, as the cache bills it: `warm` is
/// whether an earlier sample of the prompt has already been sent.
pub fn input_as_billed(prompt_tokens: u64, caching: Caching, warm: bool) -> TokenCounts {
    let caching = if prompt_tokens < MIN_CACHED_TOKENS {
        Caching::Off
    } else {
        caching
    };
    let mut t = TokenCounts::default();
    match (caching, warm) {
        (Caching::Off, _) | (Caching::Automatic, false) => t.input = prompt_tokens,
        (Caching::Explicit, false) => t.cache_write = prompt_tokens,
        (Caching::Explicit | Caching::Automatic, true) => t.cache_read = prompt_tokens,
    }
    t
}

/// What the budget knows of one model.
#[derive(Clone, Debug)]
pub struct BudgetModel {
    pub price: ModelPrice,
    pub caching: Caching,
    /// Output tokens one sample may write (`max_tokens`).
    pub max_output: u64,
    /// Whether its answers are billed through a batch API.
    pub billed_as_batch: bool,
}

#[derive(Debug, Default)]
struct State {
    spent: f64,
    reserved: f64,
    /// (model, prompt hash) pairs with a sample sent: later samples read the cache.
    warm: HashSet<(String, String)>,
    /// Reported input (all parts) per (model, prompt hash).
    prompt_input: HashMap<(String, String), u64>,
}

/// A spending limit shared by every dispatcher of a run.
#[derive(Debug)]
pub struct Budget {
    limit: f64,
    models: HashMap<String, BudgetModel>,
    state: Mutex<State>,
}

/// The cost set aside for one started call; give it back with [`Budget::settle`].
#[derive(Debug, Clone, PartialEq)]
pub struct Reservation {
    amount: f64,
}

/// Why the budget refused a call.
#[derive(Debug, Clone, PartialEq)]
pub struct OverBudget {
    pub limit: f64,
    pub spent: f64,
    pub reserved: f64,
    pub next_call: f64,
}

impl std::fmt::Display for OverBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the cost limit of ${:.4} is reached: ${:.4} spent, ${:.4} set aside for calls in \
             flight, and the next call may cost up to ${:.4}",
            self.limit, self.spent, self.reserved, self.next_call
        )
    }
}

impl Budget {
    /// A limit of `limit` USD of which `already_spent` (answers stored by earlier runs of the
    /// same plan) is gone. Every model the run calls must be in `models`.
    pub fn new(limit: f64, already_spent: f64, models: HashMap<String, BudgetModel>) -> Budget {
        Budget {
            limit,
            models,
            state: Mutex::new(State {
                spent: already_spent,
                ..State::default()
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn limit(&self) -> f64 {
        self.limit
    }

    pub fn spent(&self) -> f64 {
        self.lock().spent
    }

    /// Sets aside the upper estimate of `samples` samples of one prompt of `model` sent in
    /// one request (keyed by `prompt_hash`; `prompt_guess` is its chars/4 size, used until a
    /// sample of the prompt reports its real input), or refuses when it would pass the
    /// limit. A model the budget does not know costs nothing here.
    pub fn reserve(
        &self,
        model: &str,
        prompt_hash: &str,
        prompt_guess: u64,
        samples: u32,
    ) -> Result<Reservation, OverBudget> {
        self.set_aside(model, prompt_hash, prompt_guess, |m, warm| {
            // One request bills its prompt once, whatever the number of samples it asks for.
            let mut tokens = input_as_billed(m.0, m.1.caching, warm);
            tokens.output = m.1.max_output.saturating_mul(u64::from(samples.max(1)));
            (
                cost_usd(&m.1.price, &tokens, m.1.billed_as_batch),
                true,
                false,
            )
        })
    }

    /// Sets aside the upper estimate of one sample of a prompt sent inside a provider batch,
    /// at the batch price. Inside a batch the provider answers requests in any order, so a
    /// cache hit is not certain: every request is estimated as if it found the cache cold
    /// (a cache write where the request asks for caching). `committed`: the request is in a
    /// batch the provider already holds (an earlier run's), paid whatever the limit says, so
    /// it is set aside without the check.
    pub fn reserve_batched(
        &self,
        model: &str,
        prompt_hash: &str,
        prompt_guess: u64,
        committed: bool,
    ) -> Result<Reservation, OverBudget> {
        self.set_aside(model, prompt_hash, prompt_guess, |m, _warm| {
            let mut tokens = input_as_billed(m.0, m.1.caching, false);
            tokens.output = m.1.max_output;
            (cost_usd(&m.1.price, &tokens, true), false, committed)
        })
    }

    /// The shared part of both reservations: the prompt's size (reported, else the guess
    /// plus a quarter), the limit check and the bookkeeping. `estimate` gets (prompt tokens,
    /// model) and whether the prompt's cache is warm, and returns (amount, whether this call
    /// warms the cache, whether it is committed and skips the check).
    fn set_aside(
        &self,
        model: &str,
        prompt_hash: &str,
        prompt_guess: u64,
        estimate: impl FnOnce((u64, &BudgetModel), bool) -> (f64, bool, bool),
    ) -> Result<Reservation, OverBudget> {
        let Some(m) = self.models.get(model) else {
            return Ok(Reservation { amount: 0.0 });
        };
        let mut st = self.lock();
        let key = (model.to_string(), prompt_hash.to_string());
        let prompt_tokens = match st.prompt_input.get(&key) {
            Some(&n) => n,
            None => prompt_guess + prompt_guess.div_ceil(4),
        };
        let warm = st.warm.contains(&key);
        let (amount, warms, committed) = estimate((prompt_tokens, m), warm);
        if !committed && st.spent + st.reserved + amount > self.limit + 1e-12 {
            return Err(OverBudget {
                limit: self.limit,
                spent: st.spent,
                reserved: st.reserved,
                next_call: amount,
            });
        }
        st.reserved += amount;
        if warms {
            st.warm.insert(key);
        }
        Ok(Reservation { amount })
    }

    /// Replaces a reservation by what the stored answers of the call cost (`tokens`, their
    /// summed usage; zero for a call that failed).
    pub fn settle(
        &self,
        r: Reservation,
        model: &str,
        prompt_hash: &str,
        tokens: &TokenCounts,
        billed_as_batch: bool,
    ) {
        let cost = self
            .models
            .get(model)
            .map_or(0.0, |m| cost_usd(&m.price, tokens, billed_as_batch));
        let mut st = self.lock();
        st.reserved = (st.reserved - r.amount).max(0.0);
        st.spent += cost;
        if tokens.all_input() > 0 {
            st.prompt_input.insert(
                (model.to_string(), prompt_hash.to_string()),
                tokens.all_input(),
            );
        }
    }
}

/// Models a cost limit cannot count: no built-in price and none under `prices:`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a cost limit needs a price for every model, and no price is known for {}: add them under \
     `prices:` (USD per million tokens, e.g. `{}: {{input: 1.0, output: 2.0}}`)",
    .0.join(", "),
    .0[0]
)]
pub struct Unpriced(pub Vec<String>);

/// A model the run calls, as [`budget_for`] needs it.
#[derive(Clone, Debug)]
pub struct BudgetTarget<'a> {
    /// `provider/model`.
    pub name: &'a str,
    pub caching: Caching,
}

/// The budget of a run: `limit` USD, `already_spent` by stored answers of the plan, every
/// model priced by `prices`. A model without a known price is an error (its calls could not
/// be counted against the limit): the message names them and says what to add.
pub fn budget_for(
    limit: f64,
    already_spent: f64,
    targets: &[BudgetTarget<'_>],
    prices: &misalign_core::cost::PriceTable,
    max_output: u64,
) -> Result<Budget, Unpriced> {
    let mut models = HashMap::new();
    let mut unpriced = Vec::new();
    for t in targets {
        match prices.price_of(t.name) {
            Some(price) => {
                models.insert(
                    t.name.to_string(),
                    BudgetModel {
                        price,
                        caching: t.caching,
                        max_output,
                        billed_as_batch: false,
                    },
                );
            }
            None => unpriced.push(t.name.to_string()),
        }
    }
    if !unpriced.is_empty() {
        return Err(Unpriced(unpriced));
    }
    Ok(Budget::new(limit, already_spent, models))
}

#[cfg(test)]
mod tests {
    use super::*;
    use misalign_core::cost::{estimate_tokens, PriceSource};

    fn model(caching: Caching) -> BudgetModel {
        BudgetModel {
            price: ModelPrice {
                input: 3.0,
                output: 15.0,
                cache_write: 3.75,
                cache_read: 0.3,
                batch_discount: 0.5,
                as_of: None,
                source: PriceSource::BuiltIn,
            },
            caching,
            max_output: 1000,
            billed_as_batch: false,
        }
    }

    #[test]
    fn the_cache_bills_first_and_later_samples_differently() {
        let w = input_as_billed(3000, Caching::Explicit, false);
        assert_eq!((w.cache_write, w.input, w.cache_read), (3000, 0, 0));
        let r = input_as_billed(3000, Caching::Explicit, true);
        assert_eq!((r.cache_read, r.input), (3000, 0));
        let a = input_as_billed(3000, Caching::Automatic, false);
        assert_eq!((a.input, a.cache_write), (3000, 0));
        // Too short to be cached.
        assert_eq!(input_as_billed(500, Caching::Explicit, true).input, 500);
        assert_eq!(input_as_billed(3000, Caching::Off, true).input, 3000);
    }

    #[test]
    fn batched_samples_are_estimated_cold_at_the_batch_price_and_committed_ones_always_fit() {
        let b = Budget::new(
            0.03,
            0.0,
            HashMap::from([("anthropic/c".to_string(), model(Caching::Explicit))]),
        );
        // 2,000 tokens by chars/4, 2,500 with the margin, written to the cache every time
        // (a hit inside a batch is not certain), 1,000 out, all at half price.
        let each = (2500.0 * 3.75 + 1000.0 * 15.0) / 1e6 * 0.5;
        let r1 = b.reserve_batched("anthropic/c", "p", 2000, false).unwrap();
        assert!((r1.amount - each).abs() < 1e-9, "{r1:?}");
        let r2 = b.reserve_batched("anthropic/c", "p", 2000, false).unwrap();
        assert!((r2.amount - each).abs() < 1e-9, "not warm: {r2:?}");
        let over = b
            .reserve_batched("anthropic/c", "p", 2000, false)
            .unwrap_err();
        assert!((over.reserved - 2.0 * each).abs() < 1e-9, "{over}");
        // An earlier run's batch is paid whatever the limit: set aside, never refused.
        let held = b.reserve_batched("anthropic/c", "q", 2000, true).unwrap();
        assert!((held.amount - each).abs() < 1e-9);
        // Settling at the batch price frees what the answer did not use.
        let used = TokenCounts {
            cache_read: 2000,
            output: 100,
            ..TokenCounts::default()
        };
        b.settle(r1, "anthropic/c", "p", &used, true);
        let paid = (2000.0 * 0.3 + 100.0 * 15.0) / 1e6 * 0.5;
        assert!((b.spent() - paid).abs() < 1e-9, "{}", b.spent());
    }

    #[test]
    fn calls_are_refused_once_spent_plus_reserved_would_pass_the_limit() {
        let b = Budget::new(
            0.05,
            0.0,
            HashMap::from([("anthropic/c".to_string(), model(Caching::Explicit))]),
        );
        let prompt = "x".repeat(8000); // 2,000 tokens by chars/4, 2,500 with the margin
                                       // First sample: 2,500 written at 3.75 + 1,000 out at 15 = 0.009375 + 0.015.
        let r1 = b
            .reserve("anthropic/c", "p", estimate_tokens(&prompt), 1)
            .unwrap();
        assert!((r1.amount - 0.024375).abs() < 1e-9, "{r1:?}");
        // Second: the cache is warm; reads at 0.3.
        let r2 = b
            .reserve("anthropic/c", "p", estimate_tokens(&prompt), 1)
            .unwrap();
        assert!((r2.amount - (2500.0 * 0.3 + 1000.0 * 15.0) / 1e6).abs() < 1e-9);
        // A third would pass 0.05 while both are in flight.
        let e = b
            .reserve("anthropic/c", "p", estimate_tokens(&prompt), 1)
            .unwrap_err();
        assert!(e.to_string().contains("cost limit of $0.0500"), "{e}");
        // The first answer was short: settling frees room, and its reported input is used.
        let used = TokenCounts {
            cache_write: 2100,
            output: 100,
            ..TokenCounts::default()
        };
        b.settle(r1, "anthropic/c", "p", &used, false);
        assert!((b.spent() - (2100.0 * 3.75 + 100.0 * 15.0) / 1e6).abs() < 1e-12);
        let r3 = b
            .reserve("anthropic/c", "p", estimate_tokens(&prompt), 1)
            .unwrap();
        assert!((r3.amount - (2100.0 * 0.3 + 1000.0 * 15.0) / 1e6).abs() < 1e-9);
        // A model without a budget entry is not limited here.
        assert_eq!(
            b.reserve("other/m", "p", estimate_tokens("x"), 1)
                .unwrap()
                .amount,
            0.0
        );
        let _ = (r2, r3);
    }

    #[test]
    fn spending_from_earlier_runs_counts() {
        let b = Budget::new(
            1.0,
            0.99,
            HashMap::from([("m".to_string(), model(Caching::Off))]),
        );
        assert!(b.reserve("m", "p", estimate_tokens("short"), 1).is_err());
        let b = Budget::new(
            1.0,
            0.0,
            HashMap::from([("m".to_string(), model(Caching::Off))]),
        );
        // Four samples in one request: the prompt once, four outputs.
        let r = b.reserve("m", "p", estimate_tokens("abcd"), 4).unwrap();
        assert!(
            (r.amount - (2.0 * 3.0 + 4000.0 * 15.0) / 1e6).abs() < 1e-9,
            "{r:?}"
        );
    }
}
