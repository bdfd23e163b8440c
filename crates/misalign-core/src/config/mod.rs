//! Experiment files: the reference framework's YAML schema and our superset.
//!
//! [`parse_experiment`] turns YAML text into an [`Experiment`]; every error names the file,
//! line, column and field path, and unknown keys get a "did you mean" suggestion.
//! The types below are the resolved, validated form every later stage uses.

mod json_schema;
pub(crate) mod keys;
pub(crate) mod mitigations;
mod overrides;
mod providers;
mod schema;
pub(crate) mod walk;
pub(crate) mod yaml;

pub use json_schema::{experiment_json_schema, SCHEMA_ID};
pub use mitigations::{MitigationPlace, UserMitigation};
pub use overrides::{OverrideError, Overrides};
pub use providers::{
    check_base_url, model_id_of, provider_config, resolve_model, resolve_model_with, IdRouting,
    ProviderConfig, ProviderKind, ProviderSettingError, ResolvedModel,
};
pub use walk::{did_you_mean, suggest};

use crate::condition::{GoalType, Urgency};
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
    /// `global.rate_limits.model_overrides`: model name (as written, or `provider/model`) ->
    /// requests per minute. A model named here gets its own budget instead of its pools'.
    #[serde(default)]
    pub rate_model_overrides: BTreeMap<String, u32>,
    /// `global.alignment_faking`: a notice put into every system prompt when enabled.
    #[serde(default)]
    pub alignment_faking: AlignmentFaking,
    pub classification: Classification,
    pub execution: Execution,
    /// Extra or overriding prices, USD per million tokens, keyed by model glob.
    pub prices: BTreeMap<String, Price>,
    /// The experiment's own mitigations (top-level `mitigations:`), files already read.
    #[serde(default)]
    pub mitigations: BTreeMap<String, UserMitigation>,
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
    /// The values of each axis of [`crate::axes`], by axis name: what the expansion lists,
    /// else the axis's default. Mitigation combinations are in canonical order, joined by
    /// `+`, `instructions` included; the empty one is `none`.
    pub axes: BTreeMap<String, Vec<String>>,
    /// `agent:`, the settings of this expansion's agent conditions (`interaction: [agent]`);
    /// the defaults when it lists none.
    #[serde(default)]
    pub agent: AgentSettings,
}

/// An expansion's `agent:` settings: how its agent conditions' episodes run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentSettings {
    /// The episode ends after this many steps (model turns) at most.
    pub max_steps: u32,
}

impl AgentSettings {
    /// `max_steps` when `agent:` does not set it.
    pub const DEFAULT_MAX_STEPS: u32 = 10;
    /// The values `max_steps` may take.
    pub const MAX_STEPS: std::ops::RangeInclusive<u32> = 1..=100;
}

impl Default for AgentSettings {
    fn default() -> Self {
        AgentSettings {
            max_steps: AgentSettings::DEFAULT_MAX_STEPS,
        }
    }
}

impl Expansion {
    /// The values of the axis `axis` (empty for an axis this expansion was not read with).
    pub fn values(&self, axis: &str) -> &[String] {
        self.axes.get(axis).map(Vec::as_slice).unwrap_or_default()
    }
}

/// `global.concurrency`: caps on calls in flight.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Concurrency {
    /// Per provider name (`anthropic`, `openai`, `mock`, ...).
    pub providers: BTreeMap<String, usize>,
    /// Per model name as written in `models`.
    pub models: BTreeMap<String, usize>,
}

/// `global.rate_limits.pools.<name>`: a requests-per-minute and/or tokens-per-minute budget
/// shared by matching models (at least one of the two is set).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RatePool {
    pub name: String,
    pub rpm: Option<u32>,
    /// Tokens per minute (input + output, estimated before a call, corrected after it).
    #[serde(default)]
    pub tpm: Option<u32>,
    /// Glob patterns over model names (`claude-*`, `openai/*`).
    pub models: Vec<String>,
}

/// `global.alignment_faking`: the reference framework's notice, added to every system prompt
/// (at its `${alignment_faking_warning}` placeholder) when enabled.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AlignmentFaking {
    pub enabled: bool,
    /// Free text label the reference records beside the notice; not used for rendering.
    pub warning_type: Option<String>,
    pub warning_text: String,
}

impl AlignmentFaking {
    /// The text to insert: the warning when enabled, else nothing.
    pub fn warning(&self) -> &str {
        if self.enabled {
            &self.warning_text
        } else {
            ""
        }
    }
}

/// The reference framework's classifier names (`classification.models.<scenario>`), each
/// with the one scenario it classifies. Naming one selects that scenario's own classifier
/// (our detectors plus the judge `classifier_model`).
pub const REFERENCE_CLASSIFIERS: [(&str, &str); 3] = [
    ("blackmail_classifier", "blackmail"),
    ("leak_classifier", "leaking"),
    ("murder_classifier", "murder"),
];

/// The scenario a reference classifier name classifies, if `name` is one.
pub fn reference_classifier_scenario(name: &str) -> Option<&'static str> {
    REFERENCE_CLASSIFIERS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| *s)
}

/// `classification:`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Classification {
    pub enabled: bool,
    /// The LLM judge; `None` means detectors only. `judges: [A]` is read as this.
    pub classifier_model: Option<String>,
    /// `classification.judges` when it names two judges or more (docs/classification.md,
    /// "Several judges"); empty otherwise, and then `classifier_model` is the one judge.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub judges: Vec<String>,
    /// `classification.combine`: how several judges' verdicts make the final verdict.
    #[serde(default)]
    pub combine: crate::judge::Combine,
    /// `classification.models.<scenario>` as written: a reference classifier name (see
    /// [`REFERENCE_CLASSIFIERS`]; the scenario's own classifier with the default judge) or a
    /// judge model for that scenario. [`Classification::scenario_judges`] gives the latter.
    pub models: BTreeMap<String, String>,
    /// The eval-awareness judge; `None` means no awareness labels.
    pub awareness_model: Option<String>,
    pub concurrency: usize,
    /// `classification.batch`: judge and awareness calls through the providers' batch APIs
    /// (docs/batch.md); `None` follows `execution.batch`.
    pub batch: Option<bool>,
}

impl Default for Classification {
    fn default() -> Self {
        Classification {
            enabled: true,
            classifier_model: None,
            judges: Vec::new(),
            combine: crate::judge::Combine::default(),
            models: BTreeMap::new(),
            awareness_model: None,
            concurrency: 8,
            batch: None,
        }
    }
}

impl Classification {
    /// The per-scenario judge models: the `models` entries that are not classifier names.
    pub fn scenario_judges(&self) -> impl Iterator<Item = (&str, &str)> {
        self.models
            .iter()
            .filter(|(_, v)| reference_classifier_scenario(v).is_none())
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The harm judges every scenario without its own judge gets: the judges of
    /// `judges`, or the one `classifier_model`, or none.
    pub fn harm_judges(&self) -> Vec<&str> {
        if self.judges.is_empty() {
            self.classifier_model.as_deref().into_iter().collect()
        } else {
            self.judges.iter().map(String::as_str).collect()
        }
    }

    /// Every judge model this section names (default, per scenario, awareness), distinct.
    pub fn judge_models(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        let all = self
            .harm_judges()
            .into_iter()
            .chain(self.scenario_judges().map(|(_, m)| m))
            .chain(self.awareness_model.as_deref());
        for m in all {
            if !out.contains(&m) {
                out.push(m);
            }
        }
        out
    }
}

/// `execution:`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Execution {
    pub resume_interrupted: bool,
    pub timeout_seconds: u64,
    pub retries: u32,
    pub checkpoint_frequency: u32,
    /// `execution.batch`: send the calls of models whose provider has a batch API
    /// (Anthropic, OpenAI, Gemini) as batches (docs/batch.md).
    #[serde(default)]
    pub batch: bool,
    /// Where a request that failed or expired inside a batch is retried.
    #[serde(default)]
    pub batch_fallback: BatchFallback,
    /// Seconds between two polls of a batch at first (slower polls follow, up to ten times
    /// this); fractions allowed (tests poll every few milliseconds).
    #[serde(default = "default_batch_poll")]
    pub batch_poll_seconds: f64,
    /// At most this many requests per batch (the provider's own limit applies too).
    #[serde(default)]
    pub batch_max_requests: Option<u32>,
    /// Ask providers to cache the prompt the samples of a condition share (Anthropic
    /// `cache_control`); on by default.
    #[serde(default = "yes")]
    pub prompt_cache: bool,
    /// Stop starting new calls when the money spent plus the estimate of the calls in
    /// flight would pass this many USD.
    #[serde(default)]
    pub max_cost_usd: Option<f64>,
    /// Samples of one prompt asked for in one request (OpenAI-compatible `n`) where the
    /// provider takes it; 1 sends one request per sample.
    #[serde(default = "one")]
    pub samples_per_request: u32,
    /// The largest reply body read from a provider, in bytes (default 8 MiB): a longer
    /// reply fails that call with "reply larger than N bytes" instead of taking the memory.
    #[serde(default = "default_max_reply_bytes")]
    pub max_reply_bytes: u64,
}

/// The default of `execution.max_reply_bytes`: 8 MiB.
pub const DEFAULT_MAX_REPLY_BYTES: u64 = 8 * 1024 * 1024;

fn default_max_reply_bytes() -> u64 {
    DEFAULT_MAX_REPLY_BYTES
}

fn yes() -> bool {
    true
}

fn one() -> u32 {
    1
}

fn default_batch_poll() -> f64 {
    30.0
}

/// `execution.batch_fallback`: where a retryable failure inside a batch is retried.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchFallback {
    /// In the next batch (half price, another wait).
    #[default]
    Batch,
    /// As a live call once the batches ended (full price, no wait).
    Live,
}

impl Default for Execution {
    fn default() -> Self {
        Execution {
            resume_interrupted: true,
            timeout_seconds: 300,
            retries: 3,
            checkpoint_frequency: 10,
            batch: false,
            batch_fallback: BatchFallback::Batch,
            batch_poll_seconds: default_batch_poll(),
            batch_max_requests: None,
            prompt_cache: true,
            max_cost_usd: None,
            samples_per_request: 1,
            max_reply_bytes: DEFAULT_MAX_REPLY_BYTES,
        }
    }
}

/// A model's prices, USD per million tokens, as written under `prices:`. The optional
/// fields, when left out, come from the built-in entry for the same model, else they are
/// billed as plain input (no cache discount or surcharge, no batch discount).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Price {
    pub input: f64,
    pub output: f64,
    /// Input written to the prompt cache.
    #[serde(default)]
    pub cache_write: Option<f64>,
    /// Input read from the prompt cache.
    #[serde(default)]
    pub cache_read: Option<f64>,
    /// Fraction taken off every part of an answer billed through a batch API (0.5 = half
    /// price).
    #[serde(default)]
    pub batch_discount: Option<f64>,
    /// When these prices were read off the provider's price list (`YYYY-MM-DD`).
    #[serde(default)]
    pub as_of: Option<String>,
}

/// An experiment-file error, located in the source text.
#[derive(Debug, thiserror::Error, PartialEq, Serialize)]
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

/// The eight goal values of the reference study (four pairs of opposites, in the order of
/// [`crate::scenario::goals::PAIRS`], whose pairs they are). Goal types `none` and `ambiguous`
/// use the neutral value `none` instead.
pub const VALUE_GOAL_VALUES: [&str; 8] = {
    let pairs = crate::scenario::goals::PAIRS;
    let mut out = [""; 8];
    let mut i = 0;
    while i < pairs.len() {
        out[2 * i] = pairs[i].0;
        out[2 * i + 1] = pairs[i].1;
        i += 1;
    }
    out
};

/// Every goal value: [`VALUE_GOAL_VALUES`], then the metric values of goal type `metric`
/// ([`crate::scenario::goals::METRIC_VALUES`]). The built-in packs' `common/goals.yaml` has
/// exactly these keys (a test checks it).
pub const KNOWN_GOAL_VALUES: [&str; 10] = {
    let metric = crate::scenario::goals::METRIC_VALUES;
    let mut out = [""; 10];
    let mut i = 0;
    while i < 8 {
        out[i] = VALUE_GOAL_VALUES[i];
        i += 1;
    }
    out[8] = metric[0];
    out[9] = metric[1];
    out
};

/// How strict [`parse_experiment_with`] is about things only some commands need.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ParseOptions {
    /// Every enabled expansion must have at least one model (true for `run`/`validate`;
    /// `generate` renders prompts without models).
    pub require_models: bool,
}

/// Parses an experiment file's text. `file` is the path it was read from: error messages
/// name it, and the files of user-defined mitigations are found relative to its folder.
///
/// Models may be missing (as for `misalign generate`); use [`parse_experiment_with`] and
/// [`ParseOptions::require_models`] when the caller will sample.
pub fn parse_experiment(text: &str, file: &str) -> Result<Experiment, ConfigError> {
    parse_experiment_with(text, file, &ParseOptions::default())
}

/// [`parse_experiment`] with options.
pub fn parse_experiment_with(
    text: &str,
    file: &str,
    options: &ParseOptions,
) -> Result<Experiment, ConfigError> {
    let cx = walk::Ctx { file };
    schema::experiment(cx, &parse_yaml(text, file)?, options)
}

/// The `prices:` section of an experiment file alone, checked as [`parse_experiment`] checks
/// it. For a run's recorded file: its prices are all a report needs of it, and the rest may
/// not parse with a later version of misalign.
pub fn parse_prices(text: &str, file: &str) -> Result<BTreeMap<String, Price>, ConfigError> {
    let cx = walk::Ctx { file };
    let root = parse_yaml(text, file)?;
    if root.value == yaml::Value::Null {
        return Ok(BTreeMap::new());
    }
    let section = walk::entries(cx, &root, "")?
        .into_iter()
        .find(|(name, _, value)| name == "prices" && value.value != yaml::Value::Null);
    match section {
        Some((_, _, node)) => schema::prices(cx, node, "prices"),
        None => Ok(BTreeMap::new()),
    }
}

fn parse_yaml(text: &str, file: &str) -> Result<yaml::Node, ConfigError> {
    yaml::parse(text).map_err(|e| ConfigError {
        file: file.to_string(),
        line: e.pos.line,
        column: e.pos.column,
        field: "(YAML syntax)".to_string(),
        message: format!("{}; fix the YAML at this position", e.message),
    })
}

impl Experiment {
    /// The models of the enabled expansions (each expansion's own, else the global ones),
    /// distinct, in first-use order.
    pub fn models_in_use(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for e in self.expansions.iter().filter(|e| e.enabled) {
            for m in e.models.as_ref().unwrap_or(&self.models) {
                if seen.insert(m.as_str()) {
                    out.push(m);
                }
            }
        }
        out
    }

    /// What rendering needs from the experiment beyond the condition.
    pub fn render_options(&self) -> crate::render::RenderOptions {
        crate::render::RenderOptions {
            alignment_faking_warning: self.alignment_faking.warning().to_string(),
            mitigations: self.mitigations.clone(),
            agent: crate::plan::agent_settings(self),
        }
    }

    /// Resolves a model name with this experiment's `providers:` section.
    pub fn resolve(&self, model: &str) -> Result<ResolvedModel, ProviderSettingError> {
        resolve_model(model, &self.providers)
    }
}
