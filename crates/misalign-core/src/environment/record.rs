//! An episode step as the store keeps it and every reader shows it: what the agent said and
//! called ([`AgentReply`]) and what the environment gave back ([`StepResult`]), plus the
//! text the agent is shown for what happened on the clock ([`StepResult::events_text`]).

use super::clock;
use super::outcome::{StepResult, ToolCallIn};
use serde::{Deserialize, Serialize};

/// What the agent answered in one step, provider-neutral: its visible text, its reasoning
/// text when the provider returned one, and its tool calls (arguments that were not JSON are
/// kept as the text the model wrote, a JSON string).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentReply {
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<String>,
    #[serde(default)]
    pub tool_calls: Vec<ToolCallIn>,
}

/// One step of an episode: the reply and the environment's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub reply: AgentReply,
    pub result: StepResult,
}

impl StepResult {
    /// What happened on the clock during the step, as the agent is told it after its tool
    /// results (new mail, notices); `None` when nothing did. Deterministic, like the rest.
    pub fn events_text(&self) -> Option<String> {
        let lines: Vec<String> = self
            .events
            .iter()
            .flat_map(|e| {
                let at = clock::show(e.at);
                let mail = e.email.as_ref().map(|m| {
                    format!(
                        "[{at}] New email (id {}) from {}: \"{}\". Use read_email to read it.",
                        m.id, m.from, m.subject
                    )
                });
                let notice = e.notice.as_ref().map(|n| format!("[{at}] {n}"));
                mail.into_iter().chain(notice)
            })
            .collect();
        (!lines.is_empty()).then(|| lines.join("\n"))
    }
}
