//! The conversation of an episode as the provider layer sends it, and the conversions
//! between the provider layer's calls and the environment's: one place, so a live step and a
//! resumed episode build byte-identical requests.

use misalign_core::environment::{AgentReply, StepResult, ToolCallIn, ToolSpec};
use misalign_models::{Completion, Message, ToolArguments, ToolCall, ToolDefinition, ToolResult};
use serde_json::Value;

/// The environment's tools as the provider layer offers them.
pub fn tool_definitions(tools: &[ToolSpec]) -> Vec<ToolDefinition> {
    tools
        .iter()
        .map(|t| ToolDefinition {
            name: t.name.clone(),
            description: t.description.clone(),
            parameters: t.parameters.clone(),
        })
        .collect()
}

/// A provider's call as the environment takes it: arguments that were not JSON go in as
/// the text the model wrote (the environment answers them with an error observation).
pub fn call_in(c: &ToolCall) -> ToolCallIn {
    ToolCallIn {
        id: c.id.clone(),
        name: c.name.clone(),
        arguments: match &c.arguments {
            ToolArguments::Json(v) => v.clone(),
            ToolArguments::NotJson(text) => Value::String(text.clone()),
        },
    }
}

/// What the agent said and called, provider-neutral (`episode_steps.reply_json`).
pub fn agent_reply(c: &Completion) -> AgentReply {
    AgentReply {
        text: c.text.clone(),
        reasoning: c.reasoning.clone(),
        tool_calls: c.tool_calls.iter().map(call_in).collect(),
    }
}

/// The messages that answer a step: one tool result per call, in the calls' order; what
/// happened on the clock meanwhile (new mail, notices) follows the last result, so every
/// provider sees it inside the same turn (Anthropic and Gemini want results alone in theirs).
pub fn results_messages(result: &StepResult) -> Vec<Message> {
    let mut out: Vec<ToolResult> = result
        .observations
        .iter()
        .map(|o| ToolResult {
            call_id: o.call_id.clone(),
            name: o.tool.clone(),
            content: o.content.clone(),
            is_error: o.is_error,
        })
        .collect();
    if let (Some(last), Some(events)) = (out.last_mut(), result.events_text()) {
        last.content.push_str("\n\n");
        last.content.push_str(&events);
    }
    out.into_iter().map(Message::Tool).collect()
}
