//! Sampling parameters sent with every model call; part of a work item's identity.

use serde::{Deserialize, Serialize};

/// What the model under test is asked to sample with. Serialized canonically (field order
/// fixed, `None`s skipped) into the work-item hash, so changing any of them samples anew.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SamplingParams {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Maximum output tokens (for reasoning models: completion tokens incl. reasoning).
    pub max_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Anthropic extended thinking / Gemini thinking budget, in tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking_budget: Option<u32>,
    /// OpenAI-style `reasoning_effort` (`low` | `medium` | `high`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<String>,
}

/// Finish reasons that mean the answer stopped at `max_tokens`, as each API spells it
/// (OpenAI-compatible and the local model, Anthropic, Gemini).
pub const CUT_OFF_FINISH_REASONS: [&str; 3] = ["length", "max_tokens", "MAX_TOKENS"];

/// Whether an answer with this finish reason was cut off at `max_tokens`.
pub fn is_cut_off(finish_reason: Option<&str>) -> bool {
    finish_reason.is_some_and(|r| CUT_OFF_FINISH_REASONS.contains(&r))
}
