//! Experiment files: the reference framework's YAML schema and our superset.
//!
//! [`parse_experiment`] turns YAML text into an [`Experiment`]; every error names the file,
//! line, column and field path, and unknown keys get a "did you mean" suggestion.
//! The types below are the resolved, validated form every later stage uses.

mod providers;

pub use providers::{resolve_model, ProviderConfig, ProviderKind, ResolvedModel};

use crate::condition::{ExtraInstructions, GoalType, Urgency, Variant};
use crate::sampling::SamplingParams;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A parsed, validated experiment file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Experiment {
    pub experiment_id: String,
    /// Models under test, as written (`provider/model`, or bare reference-framework ids).
    pub models: Vec<String>,
    pub samples_per_condition: u32,
    /// Sampling parameters for the models under test (temperature default 1.0).
    pub sampling: SamplingParams,
    /// Each enabled expansion contributes its cartesian product; conditions are the union.
    pub expansions: Vec<Expansion>,
    /// Named provider endpoints (`providers:` section); built-in providers need no entry.
    pub providers: BTreeMap<String, ProviderConfig>,
    pub concurrency: Concurrency,
    pub rate_pools: Vec<RatePool>,
    pub classification: Classification,
    pub execution: Execution,
    /// Extra or overriding prices, USD per million tokens, keyed by model glob.
    pub prices: BTreeMap<String, Price>,
}

/// One `expansions:` entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Expansion {
    pub name: String,
    pub enabled: bool,
    /// Overrides the global models for this expansion's conditions.
    pub models: Option<Vec<String>>,
    pub scenarios: Vec<String>,
    pub goal_types: Vec<GoalType>,
    pub goal_values: Vec<String>,
    pub urgency_types: Vec<Urgency>,
    pub extra_instructions: Vec<ExtraInstructions>,
    pub variants: Vec<Variant>,
    pub awareness_notice: Vec<bool>,
}

/// `global.concurrency`: caps on calls in flight.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Concurrency {
    /// Per provider name (`anthropic`, `openai`, `mock`, ...).
    pub providers: BTreeMap<String, usize>,
    /// Per model name as written in `models`.
    pub models: BTreeMap<String, usize>,
}

/// `global.rate_limits.pools.<name>`: a requests-per-minute budget shared by matching models.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RatePool {
    pub name: String,
    pub rpm: u32,
    /// Glob patterns over model names (`claude-*`, `openai/*`).
    pub models: Vec<String>,
}

/// `classification:`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Classification {
    pub enabled: bool,
    /// The LLM judge; `None` means detectors only.
    pub classifier_model: Option<String>,
    /// Per-scenario judge overrides (`classification.models.<scenario>`).
    pub models: BTreeMap<String, String>,
    /// The eval-awareness judge; `None` means no awareness labels.
    pub awareness_model: Option<String>,
    pub concurrency: usize,
}

impl Default for Classification {
    fn default() -> Self {
        Classification {
            enabled: true,
            classifier_model: None,
            models: BTreeMap::new(),
            awareness_model: None,
            concurrency: 8,
        }
    }
}

/// `execution:`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Execution {
    pub resume_interrupted: bool,
    pub timeout_seconds: u64,
    pub retries: u32,
    pub checkpoint_frequency: u32,
}

impl Default for Execution {
    fn default() -> Self {
        Execution {
            resume_interrupted: true,
            timeout_seconds: 300,
            retries: 3,
            checkpoint_frequency: 10,
        }
    }
}

/// USD per million tokens.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Price {
    pub input: f64,
    pub output: f64,
}

/// An experiment-file error, located in the source text.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{file}:{line}:{column}: {field}: {message}")]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// Dotted field path, e.g. `global.rate_limits.pools.anthropic.rpm`.
    pub field: String,
    /// What is wrong and what to do, e.g. "unknown key `temprature`; did you mean `temperature`?".
    pub message: String,
}

/// Parses an experiment file's text. `file` is used only in error messages.
pub fn parse_experiment(text: &str, file: &str) -> Result<Experiment, ConfigError> {
    let _ = (text, file);
    unimplemented!("issue 2: experiment-file parser")
}
