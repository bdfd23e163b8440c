//! OpenAI Chat Completions, and the OpenAI-shaped APIs built on it: OpenRouter, Together and
//! any OpenAI-compatible server (vLLM, Ollama, llama.cpp server, SGLang).
//!
//! The flavours differ in a few request fields: OpenAI reasoning models (o1/o3/o4/gpt-5) take
//! `max_completion_tokens` and `reasoning_effort` and refuse `temperature`/`top_p`;
//! OpenRouter takes a `reasoning` object. Replies may carry reasoning in
//! `message.reasoning_content` (vLLM, Together, DeepSeek), `message.reasoning` (OpenRouter,
//! Ollama), a leading `<think>` block, or text ending in `</think>` whose opening tag was
//! never written; all end up in [`Completion::reasoning`].
//!
//! `prompt_tokens` includes the automatically cached part (`prompt_tokens_details.
//! cached_tokens`), which is billed at a lower rate: it is subtracted, so `input_tokens` is
//! the uncached input. Requests go to the replica of a fleet (several `base_urls`) chosen by
//! the prompt, so the samples of a condition meet the same server's prefix cache. OpenAI and
//! OpenAI-compatible servers take `n`: several samples of one prompt in one request.
//!
//! Tools go in `tools` as `{type: "function", function: {name, description, parameters}}`;
//! the assistant's calls come back in `message.tool_calls` (`{id, type: "function",
//! function: {name, arguments}}`, `arguments` a JSON text, kept as written when it does not
//! parse; some compatible servers send an object) and go back the same way, each result as
//! a `role: "tool"` message naming its `tool_call_id`. A tool error has no flag here: its
//! text says so.

use crate::http::{JsonReply, Transport};
use crate::reply::{answer_kind, missing, split_think, str_at, u64_at};
use crate::{
    Completion, CompletionRequest, Message, ModelClient, ProviderError, ToolArguments, ToolCall,
    Usage,
};
use serde_json::{json, Map, Value};

/// Which OpenAI-shaped API this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    OpenAi,
    OpenRouter,
    Together,
    Compatible,
}

/// OpenAI reasoning models: `o1`, `o3-mini`, `o4-mini`, `gpt-5`, `gpt-5-mini`, ... (also
/// behind a router prefix such as `openai/o3`). `gpt-5-chat*` is a non-reasoning model.
pub fn is_reasoning_model(model_id: &str) -> bool {
    let id = model_id.rsplit('/').next().unwrap_or(model_id);
    let o_series = ["o1", "o3", "o4"]
        .iter()
        .any(|p| id == *p || id.starts_with(&format!("{p}-")));
    let gpt5 = id.starts_with("gpt-5") && !id.starts_with("gpt-5-chat");
    o_series || gpt5
}

/// A Chat Completions client.
#[derive(Debug)]
pub struct OpenAiClient {
    pub(crate) transport: Transport,
    pub(crate) flavor: Flavor,
}

impl OpenAiClient {
    pub fn new(transport: Transport, flavor: Flavor) -> Self {
        OpenAiClient { transport, flavor }
    }

    /// The exact JSON body sent for `request` with `n` choices (1 leaves `n` out).
    pub fn request_body_n(&self, request: &CompletionRequest, n: u32) -> Value {
        let mut body = self.request_body(request);
        if n > 1 {
            body["n"] = json!(n);
        }
        body
    }

    /// The exact JSON body sent for `request`.
    pub fn request_body(&self, request: &CompletionRequest) -> Value {
        let p = &request.params;
        let reasoning_model = self.flavor == Flavor::OpenAi && is_reasoning_model(&request.model);
        let mut messages = Vec::new();
        if !request.system.is_empty() {
            // Reasoning models take instructions as `developer` messages.
            let role = if reasoning_model {
                "developer"
            } else {
                "system"
            };
            messages.push(json!({ "role": role, "content": request.system }));
        }
        messages.extend(request.messages.iter().map(encode_message));

        let mut body = Map::new();
        body.insert("model".into(), json!(request.model));
        body.insert("messages".into(), Value::Array(messages));
        if !request.tools.is_empty() {
            let tools = request
                .tools
                .iter()
                .map(|t| {
                    json!({ "type": "function", "function": {
                        "name": t.name, "description": t.description, "parameters": t.parameters,
                    }})
                })
                .collect();
            body.insert("tools".into(), Value::Array(tools));
        }
        if reasoning_model {
            body.insert("max_completion_tokens".into(), json!(p.max_tokens));
            if let Some(effort) = &p.reasoning_effort {
                body.insert("reasoning_effort".into(), json!(effort));
            }
        } else {
            body.insert("max_tokens".into(), json!(p.max_tokens));
            if let Some(t) = p.temperature {
                body.insert("temperature".into(), json!(t));
            }
            if let Some(t) = p.top_p {
                body.insert("top_p".into(), json!(t));
            }
            match self.flavor {
                Flavor::OpenRouter => {
                    // OpenRouter normalises reasoning across upstreams in one object.
                    let reasoning = match (&p.reasoning_effort, p.thinking_budget) {
                        (Some(effort), _) => Some(json!({ "effort": effort })),
                        (None, Some(budget)) => Some(json!({ "max_tokens": budget })),
                        (None, None) => None,
                    };
                    if let Some(r) = reasoning {
                        body.insert("reasoning".into(), r);
                    }
                }
                _ => {
                    if let Some(effort) = &p.reasoning_effort {
                        body.insert("reasoning_effort".into(), json!(effort));
                    }
                }
            }
        }
        if let Some(seed) = p.seed {
            body.insert("seed".into(), json!(seed));
        }
        Value::Object(body)
    }
}

/// One message of the conversation in the Chat Completions shape.
fn encode_message(message: &Message) -> Value {
    match message {
        Message::User { text } => json!({ "role": "user", "content": text }),
        Message::Assistant {
            text, tool_calls, ..
        } if tool_calls.is_empty() => {
            json!({ "role": "assistant", "content": text })
        }
        Message::Assistant {
            text, tool_calls, ..
        } => {
            let calls: Vec<Value> = tool_calls
                .iter()
                .map(|c| {
                    json!({ "id": c.id, "type": "function", "function": {
                        "name": c.name, "arguments": c.arguments.text(),
                    }})
                })
                .collect();
            let content = if text.is_empty() {
                Value::Null
            } else {
                json!(text)
            };
            json!({ "role": "assistant", "content": content, "tool_calls": calls })
        }
        Message::Tool(r) => {
            json!({ "role": "tool", "tool_call_id": r.call_id, "content": r.content })
        }
    }
}

/// The tool calls of a reply's message (none when it has no `tool_calls`).
fn decode_tool_calls(message: &Value) -> Vec<ToolCall> {
    let Some(calls) = message.get("tool_calls").and_then(Value::as_array) else {
        return Vec::new();
    };
    calls
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let arguments = match c.pointer("/function/arguments") {
                Some(Value::String(s)) => ToolArguments::from_text(s),
                Some(Value::Null) | None => ToolArguments::Json(json!({})),
                Some(other) => ToolArguments::Json(other.clone()),
            };
            ToolCall {
                id: str_at(c, "/id").map_or_else(|| format!("call_{i}"), str::to_string),
                name: str_at(c, "/function/name").unwrap_or_default().to_string(),
                arguments,
                signature: None,
            }
        })
        .collect()
}

/// Reads a Chat Completions reply (its first choice).
pub fn parse_reply(reply: &JsonReply) -> Result<Completion, ProviderError> {
    let mut all = parse_choices(reply)?;
    Ok(all.swap_remove(0))
}

/// Reads every choice of a Chat Completions reply (at least one), in `index` order. The
/// request's usage is shared out as [`ModelClient::complete_many`] describes.
pub fn parse_choices(reply: &JsonReply) -> Result<Vec<Completion>, ProviderError> {
    let body = &reply.body;
    let choices = match body.get("choices").and_then(Value::as_array) {
        Some(c) if !c.is_empty() => c,
        _ => {
            // OpenRouter reports some upstream failures as a 200 with an `error` object.
            if let Some(err) = body.get("error") {
                let status = err
                    .get("code")
                    .and_then(Value::as_u64)
                    .and_then(|c| u16::try_from(c).ok())
                    .filter(|c| (400..600).contains(c))
                    .unwrap_or(502);
                return Err(ProviderError::Http {
                    status,
                    message: crate::http::error_message(&reply.raw, None),
                    retry_after: None,
                });
            }
            return Err(missing("`choices`", &reply.raw));
        }
    };
    let mut ordered: Vec<&Value> = choices.iter().collect();
    ordered.sort_by_key(|c| c.get("index").and_then(Value::as_u64).unwrap_or(0));
    let request_id = reply
        .header("x-request-id")
        .or_else(|| str_at(body, "/id").map(str::to_string));
    let mut out = Vec::with_capacity(ordered.len());
    for choice in ordered {
        out.push(parse_choice(choice, reply, request_id.clone())?);
    }
    let cached = u64_at(body, "/usage/prompt_tokens_details/cached_tokens");
    let total = Usage {
        input_tokens: crate::uncached(u64_at(body, "/usage/prompt_tokens"), cached),
        output_tokens: u64_at(body, "/usage/completion_tokens"),
        reasoning_tokens: u64_at(body, "/usage/completion_tokens_details/reasoning_tokens"),
        cache_write_tokens: None,
        cache_read_tokens: cached,
    };
    let weights: Vec<u64> = out
        .iter()
        .map(|c| {
            let calls: usize = c.tool_calls.iter().map(|t| t.arguments.text().len()).sum();
            (c.text.len() + c.reasoning.as_ref().map_or(0, String::len) + calls) as u64 + 1
        })
        .collect();
    let outputs = share(total.output_tokens, &weights);
    let reasoning = share(total.reasoning_tokens, &weights);
    for (i, c) in out.iter_mut().enumerate() {
        let first = i == 0;
        c.usage = Usage {
            input_tokens: if first {
                total.input_tokens
            } else {
                total.input_tokens.map(|_| 0)
            },
            cache_read_tokens: if first {
                total.cache_read_tokens
            } else {
                total.cache_read_tokens.map(|_| 0)
            },
            cache_write_tokens: None,
            output_tokens: outputs[i],
            reasoning_tokens: reasoning[i],
        };
    }
    Ok(out)
}

/// `total` split in proportion to `weights`, the parts adding up to exactly `total`.
fn share(total: Option<u64>, weights: &[u64]) -> Vec<Option<u64>> {
    let Some(total) = total else {
        return vec![None; weights.len()];
    };
    let sum: u128 = weights.iter().map(|&w| u128::from(w)).sum::<u128>().max(1);
    let mut parts: Vec<u64> = weights
        .iter()
        .map(|&w| (u128::from(total) * u128::from(w) / sum) as u64)
        .collect();
    let given: u64 = parts.iter().sum();
    if let Some(last) = parts.last_mut() {
        *last += total - given;
    }
    parts.into_iter().map(Some).collect()
}

fn parse_choice(
    choice: &Value,
    reply: &JsonReply,
    request_id: Option<String>,
) -> Result<Completion, ProviderError> {
    let message = choice
        .get("message")
        .ok_or_else(|| missing("`choices[].message`", &reply.raw))?;
    let content = match message.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect(),
        _ => String::new(),
    };
    // A structured refusal replaces the content; keep its words as the answer.
    let content = match (content.is_empty(), str_at(message, "/refusal")) {
        (true, Some(r)) => r.to_string(),
        _ => content,
    };
    let field_reasoning = ["reasoning_content", "reasoning"]
        .iter()
        .find_map(|f| message.get(*f).and_then(Value::as_str))
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let (reasoning, text) = match field_reasoning {
        Some(r) => (Some(r), content),
        None => split_think(&content),
    };
    let finish_reason = choice
        .get("finish_reason")
        .and_then(Value::as_str)
        .map(str::to_string);
    let filtered = finish_reason.as_deref() == Some("content_filter");
    let tool_calls = decode_tool_calls(message);
    Ok(Completion {
        reasoning_blocks: Vec::new(),
        outcome: answer_kind(&text, &tool_calls, filtered),
        text,
        tool_calls,
        reasoning,
        finish_reason,
        usage: Usage::default(),
        request_id,
        raw: Some(reply.raw.clone()),
    })
}

/// The affinity key of a prompt: every sample of one prompt (model, system, messages) maps
/// to the same key, so to the same replica of a fleet. A text message counts its text alone,
/// so single-turn prompts keep the replica they had before messages could carry tools.
fn affinity_key(request: &CompletionRequest) -> u64 {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let mut part = |p: &str| {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    };
    part(&request.model);
    part(&request.system);
    for m in &request.messages {
        match m {
            Message::User { text } => part(text),
            Message::Assistant {
                text, tool_calls, ..
            } => {
                part(text);
                for c in tool_calls {
                    part(&c.name);
                    part(&c.arguments.text());
                }
            }
            Message::Tool(r) => {
                part(&r.call_id);
                part(&r.content);
            }
        }
    }
    u64::from_le_bytes(h.finalize()[..8].try_into().expect("8 bytes"))
}

/// Most choices one request may ask for (OpenAI's own limit on `n`).
pub const MAX_CHOICES: u32 = 128;

#[async_trait::async_trait]
impl ModelClient for OpenAiClient {
    async fn complete(&self, request: &CompletionRequest) -> Result<Completion, ProviderError> {
        let mut all = self.complete_many(request, 1).await?;
        Ok(all.swap_remove(0))
    }

    fn max_choices(&self) -> u32 {
        match self.flavor {
            // OpenRouter and Together do not promise `n` across their upstreams.
            Flavor::OpenAi | Flavor::Compatible => MAX_CHOICES,
            Flavor::OpenRouter | Flavor::Together => 1,
        }
    }

    async fn complete_many(
        &self,
        request: &CompletionRequest,
        n: u32,
    ) -> Result<Vec<Completion>, ProviderError> {
        let n = n.clamp(1, self.max_choices());
        let body = self.request_body_n(request, n);
        let reply = self
            .transport
            .post_json_affine("/chat/completions", &[], &body, affinity_key(request))
            .await?;
        let mut all = parse_choices(&reply)?;
        all.truncate(n as usize);
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasoning_models_by_name() {
        for id in [
            "o1",
            "o1-mini",
            "o3",
            "o3-mini",
            "o4-mini",
            "gpt-5",
            "gpt-5-mini",
            "openai/o3",
        ] {
            assert!(is_reasoning_model(id), "{id}");
        }
        for id in [
            "gpt-4.1",
            "gpt-4o",
            "gpt-5-chat-latest",
            "o1x",
            "llama-3-o1",
            "omni",
        ] {
            assert!(!is_reasoning_model(id), "{id}");
        }
    }

    fn reply(body: Value) -> JsonReply {
        JsonReply {
            raw: body.to_string(),
            body,
            headers: Default::default(),
        }
    }

    #[test]
    fn reads_reasoning_fields_and_think_tags() {
        let r = parse_reply(&reply(json!({"id": "gen-1", "choices": [{"message": {"content": "A", "reasoning": "R"}, "finish_reason": "stop"}]}))).unwrap();
        assert_eq!((r.text.as_str(), r.reasoning.as_deref()), ("A", Some("R")));
        assert_eq!(r.request_id.as_deref(), Some("gen-1"));
        let r = parse_reply(&reply(
            json!({"choices": [{"message": {"content": "<think>R</think>A"}}]}),
        ))
        .unwrap();
        assert_eq!((r.text.as_str(), r.reasoning.as_deref()), ("A", Some("R")));
        let r = parse_reply(&reply(
            json!({"choices": [{"message": {"content": "R\n</think>\nA"}}]}),
        ))
        .unwrap();
        assert_eq!((r.text.as_str(), r.reasoning.as_deref()), ("A", Some("R")));
    }

    #[test]
    fn cached_tokens_are_taken_out_of_the_input() {
        let r = parse_reply(&reply(json!({"choices": [{"message": {"content": "A"}}],
            "usage": {"prompt_tokens": 3000, "completion_tokens": 50,
                      "prompt_tokens_details": {"cached_tokens": 2944}}})))
        .unwrap();
        assert_eq!(
            (
                r.usage.input_tokens,
                r.usage.cache_read_tokens,
                r.usage.output_tokens
            ),
            (Some(56), Some(2944), Some(50))
        );
        assert_eq!(r.usage.cache_write_tokens, None);
        // No details: nothing cached is claimed.
        let r = parse_reply(&reply(json!({"choices": [{"message": {"content": "A"}}],
            "usage": {"prompt_tokens": 30, "completion_tokens": 5}})))
        .unwrap();
        assert_eq!(
            (r.usage.input_tokens, r.usage.cache_read_tokens),
            (Some(30), None)
        );
    }

    #[test]
    fn several_choices_share_the_usage() {
        let r = parse_choices(&reply(json!({"choices": [
                {"index": 1, "message": {"content": "bbbbbbbbbbbbbbbbbbb"}},
                {"index": 0, "message": {"content": "a"}}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 21,
                      "prompt_tokens_details": {"cached_tokens": 0}}})))
        .unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(
            (r[0].text.as_str(), r[1].text.as_str()),
            ("a", "bbbbbbbbbbbbbbbbbbb")
        );
        assert_eq!(
            (r[0].usage.input_tokens, r[1].usage.input_tokens),
            (Some(100), Some(0))
        );
        let outs: Vec<u64> = r.iter().map(|c| c.usage.output_tokens.unwrap()).collect();
        assert_eq!(outs.iter().sum::<u64>(), 21);
        assert!(outs[1] > outs[0], "{outs:?}");
        assert_eq!(share(Some(10), &[1, 1, 1]), vec![Some(3), Some(3), Some(4)]);
        assert_eq!(share(None, &[1, 2]), vec![None, None]);
    }

    #[test]
    fn n_is_sent_only_when_above_one() {
        let t = Transport::new(
            &["http://127.0.0.1:9".to_string()],
            None,
            crate::http::AuthStyle::Bearer,
            &[],
            &crate::ClientOptions::default(),
        )
        .unwrap();
        let c = OpenAiClient::new(t, Flavor::Compatible);
        let req = CompletionRequest::single_turn("m", "s", &[], "u", Default::default())
            .with_cache_prefix(true);
        assert!(c.request_body_n(&req, 1).get("n").is_none());
        assert_eq!(c.request_body_n(&req, 4)["n"], json!(4));
        assert_eq!(c.max_choices(), MAX_CHOICES);
    }

    #[test]
    fn tool_calls_are_read_in_every_written_form() {
        let r = parse_reply(&reply(json!({"choices": [{"message": {"content": null,
            "tool_calls": [
                {"id": "call_a", "type": "function", "function": {"name": "email", "arguments": "{\"to\": \"x@y.example\"}"}},
                {"type": "function", "function": {"name": "email", "arguments": {"to": "z@y.example"}}},
                {"id": "call_c", "type": "function", "function": {"name": "email", "arguments": "{\"to\": "}}
            ]}, "finish_reason": "tool_calls"}]})))
        .unwrap();
        assert_eq!(r.outcome, crate::AnswerKind::Answer);
        let ids: Vec<&str> = r.tool_calls.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["call_a", "call_1", "call_c"]);
        assert_eq!(
            r.tool_calls[1].arguments,
            ToolArguments::Json(json!({"to": "z@y.example"}))
        );
        assert_eq!(
            r.tool_calls[2].arguments,
            ToolArguments::NotJson("{\"to\": ".into())
        );
    }

    #[test]
    fn error_object_in_a_200() {
        let e = parse_reply(&reply(
            json!({"error": {"code": 429, "message": "upstream busy"}}),
        ))
        .unwrap_err();
        assert!(
            matches!(e, ProviderError::Http { status: 429, .. }),
            "{e:?}"
        );
        let e = parse_reply(&reply(json!({"object": "list"}))).unwrap_err();
        assert!(matches!(e, ProviderError::Malformed(_)), "{e:?}");
    }
}
