//! What a plan will cost, before any call: `run --dry-run`'s table.
//!
//! Three kinds of call are counted per model: the samples of the models under test, the
//! harm judge's call per answer, and the awareness judge's call per answer. Inputs are
//! chars/4 estimates; outputs are counted at their `max_tokens` (an upper bound). The prompt
//! cache is counted as it bills: for a model whose provider caches, the first sample of a
//! condition writes (Anthropic) or misses (OpenAI, Gemini) and the others read. Judge calls
//! are counted without cache (each transcript differs). Samples sent in a batch get the
//! model's batch discount.

use crate::budget::{input_as_billed, Caching, MIN_CACHED_TOKENS};
use misalign_core::config::ProviderKind;
use misalign_core::cost::{cost_usd, estimate_tokens, PriceTable, TokenCounts};
use serde::Serialize;
use std::collections::BTreeMap;

/// Tokens the judges' own instructions (rubric, answer format) add to a transcript.
pub const JUDGE_INSTRUCTION_TOKENS: u64 = 700;
/// The judges' `max_tokens` (`classify::judge::judge_params`).
pub const JUDGE_MAX_OUTPUT: u64 = 2048;

/// How `kind`'s provider caches a prompt the samples of a condition share.
pub fn caching_of(kind: ProviderKind, prompt_cache: bool) -> Caching {
    match kind {
        ProviderKind::Anthropic if prompt_cache => Caching::Explicit,
        ProviderKind::Openai | ProviderKind::Google => Caching::Automatic,
        _ => Caching::Off,
    }
}

/// Why a model is called.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallPurpose {
    /// A model under test.
    Sample,
    /// The harm judge.
    Judge,
    /// The eval-awareness judge.
    Awareness,
}

impl CallPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            CallPurpose::Sample => "sample",
            CallPurpose::Judge => "judge",
            CallPurpose::Awareness => "awareness",
        }
    }
}

/// One line of the estimate: a model in one role.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EstimateLine {
    pub model: String,
    pub role: CallPurpose,
    pub calls: u64,
    pub tokens: TokenCounts,
    /// None when no price is known.
    pub cost_usd: Option<f64>,
    /// What the same calls would cost live without any prompt cache (None: no price).
    pub cost_usd_uncached_live: Option<f64>,
}

/// One (purpose, model)'s calls so far: calls, tokens as billed, tokens as plain live
/// input, whether billed through a batch.
type Sums = (u64, TokenCounts, TokenCounts, bool);

/// Adds calls up per (role, model) and prices them.
#[derive(Debug)]
pub struct PlanEstimate<'a> {
    prices: &'a PriceTable,
    lines: BTreeMap<(CallPurpose, String), Sums>,
}

impl<'a> PlanEstimate<'a> {
    pub fn new(prices: &'a PriceTable) -> Self {
        PlanEstimate {
            prices,
            lines: BTreeMap::new(),
        }
    }

    /// `samples` calls of one prompt of `prompt_tokens` to `model` (`provider/model`), each
    /// writing up to `max_output`; `batched`: sent through a batch API.
    pub fn add_samples(
        &mut self,
        model: &str,
        caching: Caching,
        batched: bool,
        prompt_tokens: u64,
        samples: u64,
        max_output: u64,
    ) {
        if samples == 0 {
            return;
        }
        let mut billed = input_as_billed(prompt_tokens, caching, false);
        let mut rest = input_as_billed(prompt_tokens, caching, true);
        rest.input = rest.input.saturating_mul(samples - 1);
        rest.cache_read = rest.cache_read.saturating_mul(samples - 1);
        billed.add(&rest);
        billed.output = max_output.saturating_mul(samples);
        let plain = TokenCounts {
            input: prompt_tokens.saturating_mul(samples),
            output: billed.output,
            ..TokenCounts::default()
        };
        self.add(CallPurpose::Sample, model, samples, billed, plain, batched);
    }

    /// `episodes` agent episodes of one prompt of `prompt_tokens` to `model`, as an upper
    /// estimate: every episode runs all `max_steps` steps, each step adds a reply of
    /// `max_output` and [`STEP_OBSERVATION_TOKENS`] of tool results to the conversation, and
    /// with caching each step reads the conversation the step before sent and pays the rest.
    pub fn add_episodes(
        &mut self,
        model: &str,
        caching: Caching,
        prompt_tokens: u64,
        episodes: u64,
        max_steps: u64,
        max_output: u64,
    ) {
        if episodes == 0 || max_steps == 0 {
            return;
        }
        let growth = max_output + STEP_OBSERVATION_TOKENS;
        let mut billed = TokenCounts::default();
        let mut plain = TokenCounts::default();
        for e in 0..episodes {
            // Step 1 sends the prompt (warm after the first episode); step k reads step k-1's.
            billed.add(&input_as_billed(prompt_tokens, caching, e > 0));
            for k in 1..max_steps {
                let before = prompt_tokens + (k - 1) * growth;
                billed.add(&input_as_billed(before, caching, true));
                // The new part is written with the prefix it extends (Anthropic), when
                // the whole is long enough to be cached at all.
                let written = caching == Caching::Explicit && before + growth >= MIN_CACHED_TOKENS;
                if written {
                    billed.cache_write += growth;
                } else {
                    billed.input += growth;
                }
            }
            plain.input += (0..max_steps)
                .map(|k| prompt_tokens + k * growth)
                .sum::<u64>();
        }
        billed.output = max_output.saturating_mul(episodes * max_steps);
        plain.output = billed.output;
        let calls = episodes.saturating_mul(max_steps);
        self.add(CallPurpose::Sample, model, calls, billed, plain, false);
    }

    /// One judge call per answer: `answers` transcripts of about `transcript_tokens` each.
    pub fn add_judge_calls(
        &mut self,
        role: CallPurpose,
        model: &str,
        transcript_tokens: u64,
        answers: u64,
    ) {
        let tokens = TokenCounts {
            input: (transcript_tokens + JUDGE_INSTRUCTION_TOKENS).saturating_mul(answers),
            output: JUDGE_MAX_OUTPUT.saturating_mul(answers),
            ..TokenCounts::default()
        };
        self.add(role, model, answers, tokens, tokens, false);
    }

    fn add(
        &mut self,
        role: CallPurpose,
        model: &str,
        calls: u64,
        billed: TokenCounts,
        plain: TokenCounts,
        batched: bool,
    ) {
        let e = self
            .lines
            .entry((role, model.to_string()))
            .or_insert_with(|| (0, TokenCounts::default(), TokenCounts::default(), batched));
        e.0 += calls;
        e.1.add(&billed);
        e.2.add(&plain);
    }

    /// The lines, by role then model.
    pub fn lines(&self) -> Vec<EstimateLine> {
        self.lines
            .iter()
            .map(|((role, model), (calls, billed, plain, batched))| {
                let price = self.prices.price_of(model);
                EstimateLine {
                    model: model.clone(),
                    role: *role,
                    calls: *calls,
                    tokens: *billed,
                    cost_usd: price.as_ref().map(|p| cost_usd(p, billed, *batched)),
                    cost_usd_uncached_live: price.as_ref().map(|p| cost_usd(p, plain, false)),
                }
            })
            .collect()
    }
}

/// What one agent step adds to the conversation besides the reply, for estimates: the tool
/// results (a listing, an email or two) and any events, at chars/4.
pub const STEP_OBSERVATION_TOKENS: u64 = 400;

/// The chars/4 size of an episode's trajectory the judge reads: every step's reply and
/// results.
pub fn trajectory_tokens(max_steps: u64, max_output: u64) -> u64 {
    max_steps.saturating_mul(max_output + STEP_OBSERVATION_TOKENS)
}

/// The chars/4 size of a transcript the judge reads: the inbox, and an answer of at most
/// `max_output` tokens.
pub fn transcript_tokens(inbox: &str, max_output: u64) -> u64 {
    estimate_tokens(inbox) + max_output
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn samples_of_a_condition_write_once_and_read_after() {
        let prices = PriceTable::new(&BTreeMap::new()).unwrap();
        let mut e = PlanEstimate::new(&prices);
        let name = "anthropic/claude-sonnet-4-5";
        e.add_samples(name, Caching::Explicit, false, 3000, 100, 1000);
        e.add_judge_calls(CallPurpose::Judge, name, 2000, 100);
        let lines = e.lines();
        assert_eq!(lines.len(), 2);
        let s = &lines[0];
        assert_eq!((s.role, s.calls), (CallPurpose::Sample, 100));
        assert_eq!(
            s.tokens,
            TokenCounts {
                input: 0,
                cache_write: 3000,
                cache_read: 99 * 3000,
                output: 100_000
            }
        );
        let want = (3000.0 * 3.75 + 297_000.0 * 0.3 + 100_000.0 * 15.0) / 1e6;
        assert!((s.cost_usd.unwrap() - want).abs() < 1e-9);
        let live = (300_000.0 * 3.0 + 100_000.0 * 15.0) / 1e6;
        assert!((s.cost_usd_uncached_live.unwrap() - live).abs() < 1e-9);
        let j = &lines[1];
        assert_eq!(j.tokens.input, 100 * 2700);
        assert_eq!(j.tokens.output, 100 * JUDGE_MAX_OUTPUT);
        // Batch: half of everything.
        let mut b = PlanEstimate::new(&prices);
        b.add_samples(name, Caching::Explicit, true, 3000, 100, 1000);
        assert!((b.lines()[0].cost_usd.unwrap() - want / 2.0).abs() < 1e-9);
        // No price: no cost, still counted.
        let mut u = PlanEstimate::new(&prices);
        u.add_samples("acme/x", Caching::Off, false, 10, 2, 5);
        assert_eq!(u.lines()[0].cost_usd, None);
        assert_eq!(u.lines()[0].tokens.input, 20);
    }

    #[test]
    fn an_episode_is_estimated_as_every_step_of_a_growing_conversation() {
        let prices = PriceTable::new(&BTreeMap::new()).unwrap();
        let name = "anthropic/claude-sonnet-4-5";
        let growth = 100 + STEP_OBSERVATION_TOKENS;
        // Without caching: 3 steps send 2000, 2000 + g, 2000 + 2g.
        let mut e = PlanEstimate::new(&prices);
        e.add_episodes(name, Caching::Off, 2000, 2, 3, 100);
        let l = &e.lines()[0];
        assert_eq!((l.role, l.calls), (CallPurpose::Sample, 6));
        assert_eq!(l.tokens.input, 2 * (3 * 2000 + 3 * growth));
        assert_eq!(l.tokens.output, 6 * 100);
        // With caching each later step reads what the step before sent and writes its own
        // part: the same tokens, cheaper.
        let mut c = PlanEstimate::new(&prices);
        c.add_episodes(name, Caching::Explicit, 2000, 2, 3, 100);
        let cached = &c.lines()[0];
        let t = cached.tokens;
        assert_eq!(t.input + t.cache_write + t.cache_read, l.tokens.input);
        // The second episode reads the prompt at step 1; every episode reads at steps 2 and 3.
        assert_eq!(t.cache_read, 2000 + 2 * (2000 + (2000 + growth)));
        assert!(cached.cost_usd.unwrap() < l.cost_usd.unwrap());
        assert_eq!(trajectory_tokens(3, 100), 3 * growth);
    }

    #[test]
    fn caching_by_provider() {
        assert_eq!(caching_of(ProviderKind::Anthropic, true), Caching::Explicit);
        assert_eq!(caching_of(ProviderKind::Anthropic, false), Caching::Off);
        assert_eq!(caching_of(ProviderKind::Openai, false), Caching::Automatic);
        assert_eq!(caching_of(ProviderKind::Google, true), Caching::Automatic);
        assert_eq!(
            caching_of(ProviderKind::OpenaiCompatible, true),
            Caching::Off
        );
    }
}
