//! Anthropic Messages API (`POST /v1/messages`).
//!
//! The system prompt goes in the top-level `system` field. Extended thinking is
//! `thinking: {type: "enabled", budget_tokens}`; the budget must be at least 1,024 and below
//! `max_tokens`, and thinking refuses a changed `temperature`/`top_p`, so those are left out.
//! `thinking` blocks are kept apart from `text` blocks; `stop_reason: "refusal"` is a content
//! filter outcome.
//!
//! Prompt caching: with [`CompletionRequest::cache_prefix`] the final user message is sent as
//! one text block carrying `cache_control: {type: "ephemeral"}`, the breakpoint after the last
//! block the samples of a condition share, so the whole prompt (system, prior turns, user) is
//! cached by the first sample and read by the others. The reply's `usage.input_tokens` is then the
//! uncached part only, beside `cache_creation_input_tokens` and `cache_read_input_tokens`.
//! With tools the breakpoint goes on the last block of the last message, whatever it holds.
//!
//! Tools go in `tools` as `{name, description, input_schema}`; the reply's `tool_use` blocks
//! (`{id, name, input}`) are its tool calls and go back as such in the assistant message;
//! results go in a user message as `tool_result` blocks (`{tool_use_id, content, is_error}`),
//! consecutive results in one message. Anthropic takes arguments only as a JSON object, so a
//! call whose arguments were not one goes back with `input: {}` (its tool result says why). With thinking on, Anthropic wants
//! the signed `thinking` (and `redacted_thinking`) blocks of a reply back, unchanged and first,
//! in the assistant message of its tool calls: they are kept in `Completion::reasoning_blocks`
//! and `Message::of_reply` carries them.

use crate::http::{JsonReply, Transport};
use crate::reply::{answer_kind, missing, str_at, u64_at};
use crate::{
    Completion, CompletionRequest, Message, ModelClient, ProviderError, ReasoningBlock,
    ToolArguments, ToolCall, Usage,
};
use serde_json::{json, Map, Value};

/// The API version header value this client speaks.
pub const API_VERSION: &str = "2023-06-01";
/// Anthropic's smallest thinking budget.
pub const MIN_THINKING_BUDGET: u32 = 1024;

/// A Messages API client.
#[derive(Debug)]
pub struct AnthropicClient {
    pub(crate) transport: Transport,
}

impl AnthropicClient {
    pub fn new(transport: Transport) -> Self {
        AnthropicClient { transport }
    }

    /// The exact JSON body sent for `request`, or why the parameters cannot be sent.
    pub fn request_body(request: &CompletionRequest) -> Result<Value, ProviderError> {
        let p = &request.params;
        let mut body = Map::new();
        body.insert("model".into(), json!(request.model));
        body.insert("max_tokens".into(), json!(p.max_tokens));
        if !request.system.is_empty() {
            body.insert("system".into(), json!(request.system));
        }
        let mut messages = encode_messages(&request.messages)?;
        if request.cache_prefix {
            // The breakpoint goes on the last block the samples share: the end of the final
            // message, so system, prior turns and inbox are all cached as one prefix.
            if let Some(last) = messages.last_mut() {
                match last["content"].take() {
                    Value::Array(mut blocks) => {
                        if let Some(b) = blocks.last_mut() {
                            b["cache_control"] = json!({ "type": "ephemeral" });
                        }
                        last["content"] = Value::Array(blocks);
                    }
                    text => {
                        last["content"] = json!([{
                            "type": "text",
                            "text": text,
                            "cache_control": { "type": "ephemeral" },
                        }]);
                    }
                }
            }
        }
        body.insert("messages".into(), Value::Array(messages));
        if !request.tools.is_empty() {
            let tools = request
                .tools
                .iter()
                .map(|t| {
                    json!({ "name": t.name, "description": t.description,
                            "input_schema": t.parameters })
                })
                .collect();
            body.insert("tools".into(), Value::Array(tools));
        }
        match p.thinking_budget {
            Some(budget) => {
                if budget < MIN_THINKING_BUDGET || budget >= p.max_tokens {
                    return Err(ProviderError::Config(format!(
                        "thinking_budget {budget} does not fit Anthropic's rule \
                         {MIN_THINKING_BUDGET} <= thinking_budget < max_tokens ({}); \
                         change thinking_budget or max_tokens",
                        p.max_tokens
                    )));
                }
                body.insert(
                    "thinking".into(),
                    json!({ "type": "enabled", "budget_tokens": budget }),
                );
            }
            None => {
                if let Some(t) = p.temperature {
                    body.insert("temperature".into(), json!(t));
                }
                if let Some(t) = p.top_p {
                    body.insert("top_p".into(), json!(t));
                }
            }
        }
        Ok(Value::Object(body))
    }
}

/// The conversation as Messages API messages: text alone as a plain string (as before tools),
/// tool calls and results as content blocks, consecutive results in one user message.
fn encode_messages(messages: &[Message]) -> Result<Vec<Value>, ProviderError> {
    let mut out: Vec<Value> = Vec::with_capacity(messages.len());
    let mut results_open = false;
    for m in messages {
        let was_results = std::mem::replace(&mut results_open, false);
        match m {
            Message::User { text } => out.push(json!({ "role": "user", "content": text })),
            Message::Assistant {
                text,
                tool_calls,
                reasoning_blocks,
            } if tool_calls.is_empty() && reasoning_blocks.is_empty() => {
                out.push(json!({ "role": "assistant", "content": text }))
            }
            Message::Assistant {
                text,
                tool_calls,
                reasoning_blocks,
            } => {
                let mut blocks = Vec::with_capacity(reasoning_blocks.len() + tool_calls.len() + 1);
                // Signed thinking goes back first and unchanged: with thinking on, Anthropic
                // refuses earlier tool calls without the thinking that led to them.
                for b in reasoning_blocks {
                    blocks.push(match b {
                        ReasoningBlock::Thinking {
                            thinking,
                            signature,
                        } => json!({ "type": "thinking", "thinking": thinking, "signature": signature }),
                        ReasoningBlock::RedactedThinking { data } => {
                            json!({ "type": "redacted_thinking", "data": data })
                        }
                    });
                }
                if !text.is_empty() {
                    blocks.push(json!({ "type": "text", "text": text }));
                }
                for c in tool_calls {
                    let input = c.arguments.object_or_empty();
                    blocks.push(
                        json!({ "type": "tool_use", "id": c.id, "name": c.name, "input": input }),
                    );
                }
                out.push(json!({ "role": "assistant", "content": blocks }));
            }
            Message::Tool(r) => {
                let mut block = json!({ "type": "tool_result", "tool_use_id": r.call_id, "content": r.content });
                if r.is_error {
                    block["is_error"] = json!(true);
                }
                match out.last_mut() {
                    Some(last) if was_results => last["content"]
                        .as_array_mut()
                        .expect("a results message holds blocks")
                        .push(block),
                    _ => out.push(json!({ "role": "user", "content": [block] })),
                }
                results_open = true;
            }
        }
    }
    Ok(out)
}

/// Reads a Messages API reply.
pub fn parse_reply(reply: &JsonReply) -> Result<Completion, ProviderError> {
    let body = &reply.body;
    let blocks = body
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| missing("`content` array", &reply.raw))?;
    let mut text = String::new();
    let mut thinking: Vec<String> = Vec::new();
    let mut reasoning_blocks = Vec::new();
    let mut tool_calls = Vec::new();
    for block in blocks {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => text.push_str(str_at(block, "/text").unwrap_or_default()),
            Some("tool_use") => tool_calls.push(ToolCall {
                id: str_at(block, "/id").unwrap_or_default().to_string(),
                name: str_at(block, "/name").unwrap_or_default().to_string(),
                arguments: ToolArguments::Json(block.get("input").cloned().unwrap_or(json!({}))),
                signature: None,
            }),
            Some("thinking") => {
                let text = str_at(block, "/thinking").unwrap_or_default().to_string();
                if let Some(signature) = str_at(block, "/signature") {
                    reasoning_blocks.push(ReasoningBlock::Thinking {
                        thinking: text.clone(),
                        signature: signature.to_string(),
                    });
                }
                thinking.push(text)
            }
            // Encrypted by the provider; note that it happened without the opaque payload
            // (kept only to be sent back, never shown).
            Some("redacted_thinking") => {
                if let Some(data) = str_at(block, "/data") {
                    reasoning_blocks.push(ReasoningBlock::RedactedThinking {
                        data: data.to_string(),
                    });
                }
                thinking.push("[redacted thinking]".to_string())
            }
            _ => {}
        }
    }
    let finish_reason = str_at(body, "/stop_reason").map(str::to_string);
    let filtered = finish_reason.as_deref() == Some("refusal");
    Ok(Completion {
        outcome: answer_kind(&text, &tool_calls, filtered),
        text,
        tool_calls,
        reasoning: (!thinking.is_empty()).then(|| thinking.join("\n\n")),
        reasoning_blocks,
        finish_reason,
        usage: Usage {
            input_tokens: u64_at(body, "/usage/input_tokens"),
            output_tokens: u64_at(body, "/usage/output_tokens"),
            reasoning_tokens: None,
            cache_write_tokens: u64_at(body, "/usage/cache_creation_input_tokens"),
            cache_read_tokens: u64_at(body, "/usage/cache_read_input_tokens"),
        },
        request_id: reply
            .header("request-id")
            .or_else(|| str_at(body, "/id").map(str::to_string)),
        raw: Some(reply.raw.clone()),
    })
}

#[async_trait::async_trait]
impl ModelClient for AnthropicClient {
    fn caches_on_request(&self) -> bool {
        true
    }

    async fn complete(&self, request: &CompletionRequest) -> Result<Completion, ProviderError> {
        let body = Self::request_body(request)?;
        let reply = self
            .transport
            .post_json("/v1/messages", &[("anthropic-version", API_VERSION)], &body)
            .await?;
        parse_reply(&reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Speaker, Turn};
    use misalign_core::SamplingParams;

    fn request(params: SamplingParams) -> CompletionRequest {
        CompletionRequest::single_turn("claude-test", "S", &[], "U", params)
    }

    #[test]
    fn the_cache_breakpoint_is_on_the_user_message() {
        let mut r = request(SamplingParams::default());
        let plain = AnthropicClient::request_body(&r).unwrap();
        assert_eq!(plain["messages"][0]["content"], json!("U"));
        assert!(!plain.to_string().contains("cache_control"));
        r.cache_prefix = true;
        let cached = AnthropicClient::request_body(&r).unwrap();
        assert_eq!(
            cached["messages"][0]["content"],
            json!([{"type": "text", "text": "U", "cache_control": {"type": "ephemeral"}}])
        );
        // The system prompt precedes the breakpoint, so it is part of the cached prefix.
        assert_eq!(cached["system"], json!("S"));
        // With prior turns the breakpoint is on the final user message only.
        let turns = [
            Turn::new(Speaker::User, "T1"),
            Turn::new(Speaker::Assistant, "T2"),
        ];
        let r = CompletionRequest::single_turn("claude-test", "S", &turns, "U", r.params)
            .with_cache_prefix(true);
        let cached = AnthropicClient::request_body(&r).unwrap();
        assert_eq!(cached["messages"][0]["content"], json!("T1"));
        assert_eq!(cached["messages"][1]["content"], json!("T2"));
        assert_eq!(
            cached["messages"][2]["content"][0]["cache_control"],
            json!({"type": "ephemeral"})
        );
        assert_eq!(cached.to_string().matches("cache_control").count(), 1);
    }

    #[test]
    fn with_tool_results_last_the_breakpoint_is_on_the_last_result() {
        let mut r = request(SamplingParams::default()).with_cache_prefix(true);
        r.messages.push(Message::Assistant {
            reasoning_blocks: Vec::new(),
            text: "Checking.".into(),
            tool_calls: vec![ToolCall {
                id: "toolu_1".into(),
                name: "read_inbox".into(),
                arguments: ToolArguments::Json(json!({})),
                signature: None,
            }],
        });
        r.messages.push(Message::Tool(crate::ToolResult {
            call_id: "toolu_1".into(),
            name: "read_inbox".into(),
            content: "Empty.".into(),
            is_error: false,
        }));
        let body = AnthropicClient::request_body(&r).unwrap();
        assert_eq!(body["messages"][0]["content"], json!("U"));
        assert_eq!(
            body["messages"][1]["content"][0],
            json!({"type": "text", "text": "Checking."})
        );
        let last = &body["messages"][2];
        assert_eq!(last["role"], "user");
        assert_eq!(
            last["content"][0]["cache_control"],
            json!({"type": "ephemeral"})
        );
        assert_eq!(last["content"][0]["tool_use_id"], "toolu_1");
        assert_eq!(body.to_string().matches("cache_control").count(), 1);
    }

    #[test]
    fn cache_usage_is_read() {
        let body = json!({"content": [{"type": "text", "text": "hi"}], "stop_reason": "end_turn",
            "usage": {"input_tokens": 7, "cache_creation_input_tokens": 3000,
                      "cache_read_input_tokens": 0, "output_tokens": 40}});
        let reply = JsonReply {
            raw: body.to_string(),
            body,
            headers: Default::default(),
        };
        let u = parse_reply(&reply).unwrap().usage;
        assert_eq!(
            (
                u.input_tokens,
                u.cache_write_tokens,
                u.cache_read_tokens,
                u.output_tokens
            ),
            (Some(7), Some(3000), Some(0), Some(40))
        );
    }

    #[test]
    fn thinking_budget_must_fit() {
        let p = SamplingParams {
            max_tokens: 2000,
            thinking_budget: Some(2000),
            ..Default::default()
        };
        let e = AnthropicClient::request_body(&request(p)).unwrap_err();
        assert!(e.to_string().contains("thinking_budget 2000"), "{e}");
        let p = SamplingParams {
            max_tokens: 2000,
            thinking_budget: Some(512),
            ..Default::default()
        };
        assert!(AnthropicClient::request_body(&request(p)).is_err());
    }

    fn reply_of(body: Value) -> Completion {
        parse_reply(&JsonReply {
            raw: body.to_string(),
            body,
            headers: Default::default(),
        })
        .unwrap()
    }

    #[test]
    fn signed_thinking_goes_back_first_and_unchanged_with_the_tool_calls() {
        let c = reply_of(json!({"content": [
            {"type": "thinking", "thinking": "The memo matters.", "signature": "sig-A1"},
            {"type": "redacted_thinking", "data": "opaque-B2"},
            {"type": "text", "text": "Reading it."},
            {"type": "tool_use", "id": "toolu_9", "name": "read_email", "input": {"email_id": 3}}
        ], "stop_reason": "tool_use"}));
        assert_eq!(
            c.reasoning.as_deref(),
            Some("The memo matters.\n\n[redacted thinking]")
        );
        assert_eq!(
            c.reasoning_blocks,
            vec![
                ReasoningBlock::Thinking {
                    thinking: "The memo matters.".into(),
                    signature: "sig-A1".into()
                },
                ReasoningBlock::RedactedThinking {
                    data: "opaque-B2".into()
                },
            ]
        );
        let mut r = request(SamplingParams::default());
        r.messages.push(Message::of_reply(&c));
        r.messages.push(Message::Tool(crate::ToolResult {
            call_id: "toolu_9".into(),
            name: "read_email".into(),
            content: "From: ...".into(),
            is_error: false,
        }));
        let body = AnthropicClient::request_body(&r).unwrap();
        assert_eq!(
            body["messages"][1]["content"],
            json!([
                {"type": "thinking", "thinking": "The memo matters.", "signature": "sig-A1"},
                {"type": "redacted_thinking", "data": "opaque-B2"},
                {"type": "text", "text": "Reading it."},
                {"type": "tool_use", "id": "toolu_9", "name": "read_email", "input": {"email_id": 3}}
            ])
        );
        // The other wire formats never send them (their reasoning is not sent back).
        let transport = Transport::new(
            &["http://127.0.0.1:9".to_string()],
            None,
            crate::http::AuthStyle::Bearer,
            &[],
            &crate::ClientOptions::default(),
        )
        .unwrap();
        let openai = crate::openai::OpenAiClient::new(transport, crate::openai::Flavor::Compatible)
            .request_body(&r);
        assert!(!openai.to_string().contains("sig-A1"), "{openai}");
        assert!(!openai.to_string().contains("opaque-B2"), "{openai}");
    }

    #[test]
    fn thinking_without_a_signature_is_shown_but_not_kept_to_send_back() {
        let c = reply_of(json!({"content": [
            {"type": "thinking", "thinking": "Plain."},
            {"type": "text", "text": "hi"}
        ], "stop_reason": "end_turn"}));
        assert_eq!(c.reasoning.as_deref(), Some("Plain."));
        assert!(c.reasoning_blocks.is_empty());
        // A text-only reply continues as a plain assistant turn.
        let mut r = request(SamplingParams::default());
        r.messages.push(Message::of_reply(&c));
        r.messages.push(Message::user("and?"));
        let body = AnthropicClient::request_body(&r).unwrap();
        assert_eq!(body["messages"][1]["content"], json!("hi"));
    }

    #[test]
    fn redacted_thinking_is_noted() {
        let body = json!({"content": [{"type": "redacted_thinking", "data": "opaque"}, {"type": "text", "text": "hi"}], "stop_reason": "end_turn"});
        let reply = JsonReply {
            raw: body.to_string(),
            body,
            headers: Default::default(),
        };
        let c = parse_reply(&reply).unwrap();
        assert_eq!(c.reasoning.as_deref(), Some("[redacted thinking]"));
        assert_eq!(c.text, "hi");
    }
}
