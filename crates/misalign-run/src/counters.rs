//! Live counters of a sampling run, per model, for progress display and end totals.

use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Counts for one model (or, summed, one provider).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Items this run must sample (excluding those already stored).
    pub planned: u64,
    /// Items stored with an answer (incl. content-filtered / empty outcomes).
    pub done: u64,
    /// Items given up on and stored as errors.
    pub errors: u64,
    /// Retried attempts.
    pub retries: u64,
    /// Agent steps committed (each a model call of an episode).
    pub steps: u64,
    pub in_flight: u64,
    /// Input read without the cache.
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_write_tokens: u64,
    pub cache_read_tokens: u64,
}

impl Tally {
    pub fn add(&mut self, o: &Tally) {
        self.planned = self.planned.saturating_add(o.planned);
        self.done = self.done.saturating_add(o.done);
        self.errors = self.errors.saturating_add(o.errors);
        self.retries = self.retries.saturating_add(o.retries);
        self.steps = self.steps.saturating_add(o.steps);
        self.in_flight = self.in_flight.saturating_add(o.in_flight);
        self.input_tokens = self.input_tokens.saturating_add(o.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(o.output_tokens);
        self.cache_write_tokens = self.cache_write_tokens.saturating_add(o.cache_write_tokens);
        self.cache_read_tokens = self.cache_read_tokens.saturating_add(o.cache_read_tokens);
    }

    fn add_tokens(&mut self, tokens: &misalign_core::cost::TokenCounts) {
        self.input_tokens = self.input_tokens.saturating_add(tokens.input);
        self.output_tokens = self.output_tokens.saturating_add(tokens.output);
        self.cache_write_tokens = self.cache_write_tokens.saturating_add(tokens.cache_write);
        self.cache_read_tokens = self.cache_read_tokens.saturating_add(tokens.cache_read);
    }

    /// Items not yet finished either way.
    pub fn remaining(&self) -> u64 {
        self.planned
            .saturating_sub(self.done.saturating_add(self.errors))
    }
}

/// Thread-safe counters keyed by model, each remembering its provider.
#[derive(Debug, Default)]
pub struct Counters {
    inner: Mutex<BTreeMap<String, (String, Tally)>>,
}

impl Counters {
    pub fn new() -> Counters {
        Counters::default()
    }

    fn with(&self, model: &str, provider: &str, f: impl FnOnce(&mut Tally)) {
        let mut m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let e = m
            .entry(model.to_string())
            .or_insert_with(|| (provider.to_string(), Tally::default()));
        f(&mut e.1);
    }

    pub fn planned(&self, model: &str, provider: &str, n: u64) {
        self.with(model, provider, |t| t.planned += n);
    }
    pub fn started(&self, model: &str, provider: &str) {
        self.with(model, provider, |t| t.in_flight += 1);
    }
    pub fn retried(&self, model: &str, provider: &str) {
        self.with(model, provider, |t| t.retries += 1);
    }
    /// An item was committed (`ok`: an answer, else an error row).
    pub fn finished(
        &self,
        model: &str,
        provider: &str,
        ok: bool,
        tokens: &misalign_core::cost::TokenCounts,
    ) {
        self.with(model, provider, |t| {
            t.in_flight = t.in_flight.saturating_sub(1);
            if ok {
                t.done += 1;
            } else {
                t.errors += 1;
            }
            t.add_tokens(tokens);
        });
    }
    /// An agent step was committed: counted with its tokens (the episode's answer row, when
    /// it ends, adds none again).
    pub fn step(&self, model: &str, provider: &str, tokens: &misalign_core::cost::TokenCounts) {
        self.with(model, provider, |t| {
            t.steps += 1;
            t.add_tokens(tokens);
        });
    }
    /// A started item ended without being stored (aborted, store failure).
    pub fn abandoned(&self, model: &str, provider: &str) {
        self.with(model, provider, |t| {
            t.in_flight = t.in_flight.saturating_sub(1)
        });
    }

    /// Per model: (provider, tally).
    pub fn per_model(&self) -> BTreeMap<String, (String, Tally)> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Per provider, summed.
    pub fn per_provider(&self) -> BTreeMap<String, Tally> {
        let mut out: BTreeMap<String, Tally> = BTreeMap::new();
        for (provider, t) in self.per_model().values() {
            out.entry(provider.clone()).or_default().add(t);
        }
        out
    }

    pub fn total(&self) -> Tally {
        let mut t = Tally::default();
        for (_, x) in self.per_model().values() {
            t.add(x);
        }
        t
    }
}
