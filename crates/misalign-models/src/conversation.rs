//! What a request says after its system prompt, in provider-neutral form: user messages,
//! assistant messages (text and/or tool calls), tool results tied to the call they answer,
//! and the tools the model may call. Each protocol module encodes these in its own wire
//! shape and decodes the tool calls of a reply into [`ToolCall`]s.

use misalign_core::turns::{Speaker, Turn};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One message of the conversation after the system prompt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum Message {
    User {
        text: String,
    },
    /// What the model said before: text, tool calls, or both. Its reasoning text is not sent
    /// back; the signed reasoning blocks a provider wants back with its tool calls are.
    Assistant {
        text: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<ToolCall>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        reasoning_blocks: Vec<ReasoningBlock>,
    },
    /// The result of running one tool call of an earlier assistant message.
    Tool(ToolResult),
}

impl Message {
    pub fn user(text: impl Into<String>) -> Message {
        Message::User { text: text.into() }
    }

    /// An assistant message of text only.
    pub fn assistant(text: impl Into<String>) -> Message {
        Message::Assistant {
            reasoning_blocks: Vec::new(),
            text: text.into(),
            tool_calls: Vec::new(),
        }
    }

    /// The assistant message that continues a conversation after `reply`: its text, its tool
    /// calls and the reasoning blocks the provider wants back with them.
    pub fn of_reply(reply: &crate::Completion) -> Message {
        Message::Assistant {
            text: reply.text.clone(),
            tool_calls: reply.tool_calls.clone(),
            reasoning_blocks: reply.reasoning_blocks.clone(),
        }
    }

    /// An earlier turn of a turns file.
    pub fn of_turn(turn: &Turn) -> Message {
        match turn.role {
            Speaker::User => Message::user(turn.text.as_str()),
            Speaker::Assistant => Message::assistant(turn.text.as_str()),
        }
    }

    /// The message as a plain text turn, when it is one (no tool calls, not a tool result).
    pub fn as_turn(&self) -> Option<Turn> {
        match self {
            Message::User { text } => Some(Turn::new(Speaker::User, text.as_str())),
            Message::Assistant {
                text, tool_calls, ..
            } if tool_calls.is_empty() => Some(Turn::new(Speaker::Assistant, text.as_str())),
            _ => None,
        }
    }
}

/// A block of a reply's reasoning that the provider signs and wants back, unchanged, in the
/// assistant message before its tool calls when the conversation goes on (Anthropic's
/// `thinking` with its `signature`, and `redacted_thinking`, whose content is encrypted).
/// Providers without such blocks never produce one and ignore them in requests.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ReasoningBlock {
    Thinking { thinking: String, signature: String },
    RedactedThinking { data: String },
}

/// A tool the model may call: its name, what it does, and its parameters as a JSON Schema
/// object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolDefinition {
    pub name: String,
    pub description: String,
    pub parameters: Value,
}

/// A call the model asked for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The provider's id for the call (Gemini gives none: then `call_{n}`, its place in the
    /// reply), which the matching [`ToolResult::call_id`] repeats.
    pub id: String,
    pub name: String,
    pub arguments: ToolArguments,
    /// An opaque token the provider attaches to the call and wants back with it (Gemini's
    /// `thoughtSignature`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// A tool call's arguments. Models write them; they may not be valid JSON (OpenAI-shaped
/// APIs send them as a string), which is kept as written rather than failing the call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolArguments {
    Json(Value),
    /// Text that did not parse as JSON, exactly as the model wrote it.
    NotJson(String),
}

impl ToolArguments {
    /// The arguments for an API that takes only a JSON object (Anthropic's `input`, Gemini's
    /// `args`): arguments that were not one (text that is not JSON, a bare string) go back
    /// as `{}`, so the conversation stays valid; the call's tool result says it could not be
    /// read.
    pub fn object_or_empty(&self) -> Value {
        match self {
            ToolArguments::Json(v) if v.is_object() => v.clone(),
            _ => Value::Object(Default::default()),
        }
    }

    /// Arguments written as text (the OpenAI `function.arguments` string).
    pub fn from_text(text: &str) -> ToolArguments {
        match serde_json::from_str(text) {
            Ok(v) => ToolArguments::Json(v),
            Err(_) => ToolArguments::NotJson(text.to_string()),
        }
    }

    /// The parsed arguments, when they were valid JSON.
    pub fn json(&self) -> Option<&Value> {
        match self {
            ToolArguments::Json(v) => Some(v),
            ToolArguments::NotJson(_) => None,
        }
    }

    /// The arguments as text, as the model wrote them or as their JSON.
    pub fn text(&self) -> String {
        match self {
            ToolArguments::Json(v) => v.to_string(),
            ToolArguments::NotJson(s) => s.clone(),
        }
    }
}

/// What running a tool call gave back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolResult {
    /// The [`ToolCall::id`] this answers.
    pub call_id: String,
    /// The called tool's name (Gemini matches results by name).
    pub name: String,
    pub content: String,
    /// The tool failed; `content` says why.
    #[serde(default)]
    pub is_error: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn arguments_that_are_not_json_are_kept_as_written() {
        let ok = ToolArguments::from_text(r#"{"to": "a@b.example"}"#);
        assert_eq!(ok.json(), Some(&json!({"to": "a@b.example"})));
        let bad = ToolArguments::from_text(r#"{"to": "a@b.ex"#);
        assert_eq!(bad.json(), None);
        assert_eq!(bad.text(), r#"{"to": "a@b.ex"#);
    }

    #[test]
    fn only_plain_messages_are_turns() {
        let t = Turn::new(Speaker::Assistant, "hi");
        assert_eq!(Message::of_turn(&t).as_turn(), Some(t));
        let call = Message::Assistant {
            reasoning_blocks: Vec::new(),
            text: String::new(),
            tool_calls: vec![ToolCall {
                id: "c1".into(),
                name: "email".into(),
                arguments: ToolArguments::Json(json!({})),
                signature: None,
            }],
        };
        assert_eq!(call.as_turn(), None);
    }
}
