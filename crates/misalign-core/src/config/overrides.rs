//! Command-line overrides (`misalign run --model ... --samples 1`): a smoke test or a second
//! model without editing the experiment file. Applied to the parsed experiment, so every
//! later stage sees one experiment; recorded with the run so its rows say what differed
//! from the file.

use super::{resolve_model_with, Experiment, IdRouting};
use serde::Serialize;

/// What the command line changes; `None` / empty leaves the file's value.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Overrides {
    /// Replace the models under test (the file's `global.models` and every expansion's).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<String>,
    /// Keep only the first N conditions of the plan, in plan order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// `samples_per_condition`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub samples: Option<u32>,
    /// Calls in flight per provider (and at most this per model).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<usize>,
    /// The LLM judge (`classification.classifier_model`; replaces `classification.judges`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub judge: Option<String>,
    /// The base sampling seed (sample i is sent seed + i).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// `execution.batch: true` (`--batch`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub batch: bool,
    /// `execution.max_cost_usd` (`--max-cost`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_cost_usd: Option<f64>,
    /// `execution.max_reply_bytes` (`--max-reply-bytes`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_reply_bytes: Option<u64>,
}

/// An override the experiment cannot take; the message names the flag and the fix.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{flag}: {message}")]
pub struct OverrideError {
    pub flag: &'static str,
    pub message: String,
}

impl Overrides {
    pub fn is_empty(&self) -> bool {
        *self == Overrides::default()
    }

    /// Applies every override to `exp`, checking each new model name resolves (with the
    /// file's `providers:`, and without guessing: [`IdRouting::Strict`]) before anything runs.
    pub fn apply(&self, exp: &mut Experiment) -> Result<(), OverrideError> {
        let bad = |flag, message: String| OverrideError { flag, message };
        if self.limit == Some(0) {
            return Err(bad("--limit", "must be at least 1 condition".into()));
        }
        if !self.models.is_empty() {
            for m in &self.models {
                resolve_model_with(m, &exp.providers, IdRouting::Strict)
                    .map_err(|e| bad("--model", format!("`{m}`: {e}")))?;
            }
            exp.models = self.models.clone();
            for e in &mut exp.expansions {
                e.models = None;
            }
        }
        if let Some(n) = self.samples {
            if n == 0 {
                return Err(bad("--samples", "must be at least 1".into()));
            }
            exp.samples_per_condition = n;
        }
        if let Some(seed) = self.seed {
            exp.sampling.seed = Some(seed);
        }
        if self.batch {
            exp.execution.batch = true;
        }
        if let Some(usd) = self.max_cost_usd {
            if !(usd.is_finite() && usd >= 0.0) {
                return Err(bad(
                    "--max-cost",
                    format!("{usd}: give the limit in USD, a number of 0 or more"),
                ));
            }
            exp.execution.max_cost_usd = Some(usd);
        }
        if let Some(n) = self.max_reply_bytes {
            if !(1024..=1024 * 1024 * 1024).contains(&n) {
                return Err(bad(
                    "--max-reply-bytes",
                    format!("{n}: give a size in bytes from 1024 to 1073741824 (1 GiB)"),
                ));
            }
            exp.execution.max_reply_bytes = n;
        }
        if let Some(judge) = &self.judge {
            resolve_model_with(judge, &exp.providers, IdRouting::Strict)
                .map_err(|e| bad("--judge", format!("`{judge}`: {e}")))?;
            exp.classification.enabled = true;
            exp.classification.classifier_model = Some(judge.clone());
            // One judge from the command line replaces a panel of the file.
            exp.classification.judges.clear();
        }
        if let Some(n) = self.max_connections {
            if n == 0 {
                return Err(bad("--max-connections", "must be at least 1".into()));
            }
            let providers: Vec<String> = exp
                .models_in_use()
                .into_iter()
                .filter_map(|m| exp.resolve(m).ok().map(|r| r.provider))
                .collect();
            for p in providers {
                exp.concurrency.providers.insert(p, n);
            }
            // A smaller per-model cap in the file is a real limit of that model: kept.
            for cap in exp.concurrency.models.values_mut() {
                *cap = (*cap).min(n);
            }
        }
        Ok(())
    }
}
