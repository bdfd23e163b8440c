//! An agent episode as Inspect messages: per step an assistant message with its `tool_calls`
//! (Inspect's `ToolCall`: id, function, arguments, type `function`), one `tool` message per
//! result (`tool_call_id`, `function`, `content`, and `error` when the call did nothing), and
//! a `user` message with the events the agent was told of after its results, exactly the
//! text it was shown ([`EpisodeStep::events_text`]).

use crate::inspect::{assistant_content, Content, Message};
use misalign_store::episode_transcript::EpisodeStep;
use serde::Serialize;
use serde_json::{json, Map, Value};

/// Inspect's `ToolCall`.
#[derive(Clone, Serialize)]
pub(crate) struct ToolCall<'a> {
    id: &'a str,
    function: &'a str,
    /// Always an object, as Inspect requires; arguments that were not one are in
    /// `parse_error`, as Inspect records a call it could not parse.
    arguments: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parse_error: Option<String>,
    #[serde(rename = "type")]
    kind: &'static str,
}

/// Inspect's `ToolCallError`. The environment does not say why a call failed in a way
/// Inspect's error types name, so every one is `unknown`, with the observation as message.
#[derive(Clone, Serialize)]
pub(crate) struct ToolError<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    message: &'a str,
}

/// The arguments as an object, or why they are not one.
fn arguments(v: &Value) -> (Map<String, Value>, Option<String>) {
    match v {
        Value::Object(m) => (m.clone(), None),
        // Arguments that were not JSON are kept as the text the model wrote.
        Value::String(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(m)) => (m, None),
            _ => (
                Map::new(),
                Some(format!("the arguments are not a JSON object: {text}")),
            ),
        },
        other => (
            Map::new(),
            Some(format!("the arguments are not a JSON object: {other}")),
        ),
    }
}

/// The messages of an episode's steps, and the last assistant message with its step's
/// finish reason (the sample's output).
pub(crate) fn messages<'a>(
    steps: &'a [EpisodeStep],
    model: &'a str,
) -> (Vec<Message<'a>>, Option<(Message<'a>, Option<&'a str>)>) {
    let mut out = Vec::new();
    let mut last = None;
    for st in steps {
        let assistant = match &st.reply {
            Some(reply) => Message {
                role: "assistant",
                content: assistant_content(reply.reasoning.as_deref(), &reply.text),
                source: Some("generate"),
                model: Some(model),
                tool_calls: (!reply.tool_calls.is_empty()).then(|| {
                    reply
                        .tool_calls
                        .iter()
                        .map(|c| {
                            let (arguments, parse_error) = arguments(&c.arguments);
                            ToolCall {
                                id: &c.id,
                                function: &c.name,
                                arguments,
                                parse_error,
                                kind: "function",
                            }
                        })
                        .collect()
                }),
                ..Message::default()
            },
            None => Message {
                role: "assistant",
                content: Content::Owned(format!(
                    "(the stored reply of step {} could not be read)",
                    st.step
                )),
                source: Some("generate"),
                model: Some(model),
                ..Message::default()
            },
        };
        out.push(assistant.clone());
        last = Some((assistant, st.finish_reason.as_deref()));
        let Some(result) = &st.result else { continue };
        for o in &result.observations {
            out.push(Message {
                role: "tool",
                content: Content::Text(&o.content),
                tool_call_id: Some(&o.call_id),
                function: Some(&o.tool),
                error: o.is_error.then_some(ToolError {
                    kind: "unknown",
                    message: &o.content,
                }),
                ..Message::default()
            });
        }
        if let Some(events) = st.events_text() {
            out.push(Message {
                role: "user",
                content: Content::Owned(events),
                ..Message::default()
            });
        }
    }
    (out, last)
}

/// The sample metadata of an episode: its steps and how it ended.
pub(crate) fn metadata(steps: &[EpisodeStep]) -> Value {
    let terminal = steps
        .last()
        .and_then(|s| s.result.as_ref())
        .and_then(|r| r.terminal.as_ref());
    json!({
        "steps": steps.len(),
        "terminal": terminal.map(|t| t.reason.label()),
        "terminal_step": terminal.map(|t| t.step),
        "terminal_at": terminal.map(|t| t.at),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_always_an_object() {
        let (m, e) = arguments(&json!({"email_id": 3}));
        assert_eq!((Value::Object(m), e), (json!({"email_id": 3}), None));
        let (m, e) = arguments(&json!("{\"email_id\": 4}"));
        assert_eq!((Value::Object(m), e), (json!({"email_id": 4}), None));
        let (m, e) = arguments(&json!("email_id=4"));
        assert!(m.is_empty());
        assert!(e.unwrap().ends_with(": email_id=4"));
        let (m, e) = arguments(&json!([1]));
        assert!(m.is_empty() && e.is_some());
    }
}
