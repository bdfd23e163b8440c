//! Expanding an experiment into conditions and work items.

use crate::condition::Condition;
use crate::hash::sha256_parts;
use crate::sampling::SamplingParams;
use serde::{Deserialize, Serialize};

/// A condition with the models that run it (an expansion may override the global models).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlannedCondition {
    pub condition: Condition,
    pub models: Vec<String>,
}

/// Identity of one model call: hash of (prompt hash, model, sampling params, sample index).
/// Rerunning never duplicates; changing a prompt never reuses a stale answer.
pub fn work_item_key(
    prompt_hash: &str,
    model: &str,
    params: &SamplingParams,
    sample_index: u32,
) -> String {
    let params = serde_json::to_string(params).expect("sampling params serialize");
    sha256_parts(&[
        prompt_hash.as_bytes(),
        model.as_bytes(),
        params.as_bytes(),
        &sample_index.to_le_bytes(),
    ])
}
