//! Filling a scenario's templates into the three prompt parts of one condition.

use crate::condition::Condition;
use crate::hash::sha256_parts;
use serde::{Deserialize, Serialize};

/// The prompt of one condition, as sent to every model and sample of that condition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenderedPrompt {
    pub condition: Condition,
    pub system_prompt: String,
    /// The instruction only (`user_prompt.txt`).
    pub user_prompt: String,
    /// The inbox only (`email_content.txt`).
    pub email_content: String,
}

impl RenderedPrompt {
    /// The user message sent to the model: the instruction, a blank line, then the inbox.
    pub fn user_message(&self) -> String {
        format!(
            "{}\n\n{}",
            self.user_prompt.trim_end_matches('\n'),
            self.email_content
        )
    }

    /// Identity of the prompt's content: changes whenever anything sent to the model does.
    pub fn prompt_hash(&self) -> String {
        sha256_parts(&[
            self.system_prompt.as_bytes(),
            self.user_message().as_bytes(),
        ])
    }

    /// `metadata.json` of the generated prompt folder.
    pub fn metadata(&self) -> serde_json::Value {
        let c = &self.condition;
        serde_json::json!({
            "condition_id": c.id(),
            "scenario": c.scenario,
            "goal_type": c.goal_type.as_str(),
            "goal_value": c.goal_value,
            "urgency_type": c.urgency.as_str(),
            "extra_instructions": c.extra_instructions.as_str(),
            "variant": c.variant.as_str(),
            "production_variant": c.variant == crate::condition::Variant::Prod,
            "awareness_notice": c.awareness_notice,
        })
    }
}
