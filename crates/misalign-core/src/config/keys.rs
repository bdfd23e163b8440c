//! The keys an experiment file may use, section by section, and the words some values may
//! take. The loader (`schema.rs`, `mitigations.rs`) checks files against these tables and
//! `misalign schema` (`json_schema.rs`) describes the same tables, so the two cannot differ.
//! The keys and words of the optional axes come from their registry ([`crate::axes`]).

use std::sync::LazyLock;

pub(crate) const TOP: &[&str] = &[
    "experiment_id",
    "description",
    "researcher",
    "global",
    "expansions",
    "classification",
    "execution",
    "providers",
    "prices",
    "production_variant",
    "extra_system_instructions",
    "mitigations",
];

pub(crate) const GLOBAL: &[&str] = &[
    "models",
    "temperature",
    "samples_per_condition",
    "concurrency",
    "rate_limits",
    "max_tokens",
    "seed",
    "top_p",
    "thinking_budget",
    "reasoning_effort",
    "output_directory",
    "alignment_faking",
];

pub(crate) const ALIGNMENT_FAKING: &[&str] = &["enabled", "warning_type", "warning_text"];

pub(crate) const CONCURRENCY: &[&str] = &["providers", "models"];

pub(crate) const RATE_LIMITS: &[&str] = &["pools", "model_overrides"];

pub(crate) const RATE_POOL: &[&str] = &["rpm", "tpm", "models"];

/// The long form of a `model_overrides` entry (`{model: {rpm: N}}`).
pub(crate) const MODEL_OVERRIDE: &[&str] = &["rpm"];

pub(crate) const EXPANSION: &[&str] = &[
    "name",
    "description",
    "enabled",
    "models",
    "variables",
    "agent",
];

/// An expansion's `agent:` (the settings of its agent conditions).
pub(crate) const AGENT: &[&str] = &["max_steps"];

/// An expansion's `variables:`: the reference grid's four, then each axis's key
/// ([`crate::axes::AXES`], in listing order).
pub(crate) static VARIABLES: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    ["scenarios", "goal_types", "goal_values", "urgency_types"]
        .into_iter()
        .chain(crate::axes::keys())
        .collect()
});

pub(crate) const CLASSIFICATION: &[&str] = &[
    "enabled",
    "classifier_model",
    "judges",
    "combine",
    "concurrency",
    "models",
    "awareness_model",
    "batch",
];

pub(crate) const EXECUTION: &[&str] = &[
    "resume_interrupted",
    "timeout_seconds",
    "retries",
    "checkpoint_frequency",
    "batch",
    "batch_fallback",
    "batch_poll_seconds",
    "batch_max_requests",
    "prompt_cache",
    "max_cost_usd",
    "samples_per_request",
    "max_reply_bytes",
];

pub(crate) const PROVIDER: &[&str] = &[
    "kind",
    "base_url",
    "base_urls",
    "api_key_env",
    "headers",
    "safety_settings",
    "model_path",
    "context_length",
    "threads",
    "batch_size",
    "gpu_layers",
];

/// Provider keys that only `kind: local` accepts.
pub(crate) const LOCAL_ONLY: &[&str] = &[
    "model_path",
    "context_length",
    "threads",
    "batch_size",
    "gpu_layers",
];

pub(crate) const PRICE: &[&str] = &[
    "input",
    "output",
    "cache_write",
    "cache_read",
    "batch_discount",
    "as_of",
];

/// A user-defined mitigation names exactly one of these (its file's place).
pub(crate) const USER_MITIGATION: &[&str] = &["system", "inbox"];

/// Recognised in a user-defined mitigation only to explain that it is not available yet.
pub(crate) const USER_MITIGATION_NOT_YET: &[&str] = &["turns"];

pub(crate) const GOAL_TYPES: &[&str] = &[
    "explicit",
    "none",
    "latent",
    "ambiguous",
    "swap",
    "metricconflict",
    "metriconly",
];
pub(crate) const URGENCIES: &[&str] = &["replacement", "restriction", "none"];
pub(crate) const REASONING_EFFORTS: &[&str] = &["minimal", "low", "medium", "high"];
/// The values of the reference framework's top-level `extra_system_instructions` (or `false`).
pub(crate) const REFERENCE_EXTRAS: &[&str] = &["dont", "goal"];

/// The goal values `goal_values` accepts: the study's eight plus the neutral ones.
pub(crate) fn goal_value_words() -> Vec<&'static str> {
    let mut v: Vec<&str> = super::KNOWN_GOAL_VALUES.to_vec();
    v.extend(["none", "ambiguous"]);
    v
}
