//! The three wire formats: reading a request's prompt, writing answer and error bodies.

use crate::config::MockToolCall;
use serde_json::{json, Value};

/// Which provider API a request came in on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    OpenAi,
    Anthropic,
    Google,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::OpenAi => "openai",
            Protocol::Anthropic => "anthropic",
            Protocol::Google => "google",
        }
    }

    /// Header carrying the request id in replies.
    pub fn request_id_header(self) -> &'static str {
        match self {
            Protocol::OpenAi => "x-request-id",
            Protocol::Anthropic => "request-id",
            Protocol::Google => "x-goog-request-id",
        }
    }
}

/// How the request asked for reasoning to come back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReasoningAsk {
    None,
    /// OpenAI-compatible `reasoning_effort` (answered in `reasoning_content`), Anthropic
    /// `thinking`, Gemini `includeThoughts`.
    Native,
    /// OpenRouter's `reasoning` object (answered in `message.reasoning`).
    OpenRouter,
}

/// The parts of a request that decide the answer.
#[derive(Clone, Debug)]
pub struct PromptInfo {
    pub model: String,
    pub system: String,
    pub user: String,
    pub seed: Option<u64>,
    pub reasoning: ReasoningAsk,
    /// Anthropic: the text up to and including the last block marked `cache_control` (the
    /// system prompt, then the user message's blocks); None when nothing is marked.
    pub cache_prefix: Option<String>,
    /// OpenAI `n`: how many choices to return (1 when absent).
    pub choices: u32,
    /// The request offers tools.
    pub offers_tools: bool,
    /// The conversation ends with a user message (not with tool results).
    pub ends_with_user: bool,
}

/// The tool calls of a conversation so far, to check that each result answers one of them,
/// as the providers do.
#[derive(Default)]
struct CallsSeen(std::collections::HashSet<String>);

impl CallsSeen {
    fn add(&mut self, id: Option<&str>) {
        if let Some(id) = id {
            self.0.insert(id.to_string());
        }
    }

    fn check(&self, id: Option<&str>) -> Result<(), BadRequest> {
        match id {
            Some(id) if self.0.contains(id) => Ok(()),
            other => Err(BadRequest::UnknownToolCall(
                other.unwrap_or_default().to_string(),
            )),
        }
    }
}

/// Whether `tools` (OpenAI, Anthropic) or `tools[].functionDeclarations` (Gemini) is a
/// non-empty list.
fn has_tools(obj: &serde_json::Map<String, Value>, protocol: Protocol) -> bool {
    let Some(tools) = obj.get("tools").and_then(Value::as_array) else {
        return false;
    };
    match protocol {
        Protocol::Google => tools.iter().any(|t| {
            t.get("functionDeclarations")
                .and_then(Value::as_array)
                .is_some_and(|d| !d.is_empty())
        }),
        _ => !tools.is_empty(),
    }
}

/// The blocks (or parts) of a message's content that have `key` set.
fn blocks_with<'a>(content: Option<&'a Value>, key: &'a str) -> impl Iterator<Item = &'a Value> {
    content
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(move |b| b.get(key).is_some() || b.get("type").and_then(Value::as_str) == Some(key))
}

/// How a reply's input was served by the prompt cache, in tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheUse {
    /// Anthropic: written to the cache by this request.
    pub write: u64,
    /// Read from the cache (Anthropic, OpenAI `cached_tokens`, Gemini
    /// `cachedContentTokenCount`).
    pub read: u64,
}

/// How the answer ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finish {
    Normal,
    ContentFilter,
}

/// Concatenates message `content` given as a string or as a list of text parts.
fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

/// Anthropic's cached prefix: the blocks in order (system, then each message's content), up
/// to and including the last one carrying `cache_control`.
fn anthropic_cache_prefix(system: Option<&Value>, messages: &[Value]) -> Option<String> {
    let mut blocks: Vec<&Value> = Vec::new();
    if let Some(Value::Array(parts)) = system {
        blocks.extend(parts);
    }
    let system_text = match system {
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    };
    for m in messages {
        if let Some(Value::Array(parts)) = m.get("content") {
            blocks.extend(parts);
        } else if let Some(c) = m.get("content") {
            blocks.push(c);
        }
    }
    let last = blocks
        .iter()
        .rposition(|b| b.get("cache_control").is_some())?;
    let mut prefix = system_text;
    for b in &blocks[..=last] {
        match b {
            Value::String(s) => prefix.push_str(s),
            _ => prefix.push_str(b.get("text").and_then(Value::as_str).unwrap_or_default()),
        }
    }
    Some(prefix)
}

/// Why a request body is not one the mock can answer (sent back as a 400, as a provider would).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BadRequest {
    #[error("request body must be a JSON object")]
    NotAnObject,
    #[error("missing `{0}`")]
    Missing(&'static str),
    #[error("missing model in the URL")]
    NoModelInUrl,
    /// A batch submission entry without its id or body (the JSON pointer named).
    #[error("a request lacks `{0}`")]
    EntryLacks(String),
    #[error("missing the list of requests")]
    NoRequests,
    /// A tool result whose call id (Gemini: function name) no earlier message called.
    #[error("a tool result answers `{0}`, which no earlier assistant message called")]
    UnknownToolCall(String),
}

/// Reads model, prompt, seed and reasoning request. `path_model` is Gemini's URL model.
pub fn parse_request(
    protocol: Protocol,
    path_model: Option<&str>,
    body: &Value,
) -> Result<PromptInfo, BadRequest> {
    let obj = body.as_object().ok_or(BadRequest::NotAnObject)?;
    match protocol {
        Protocol::OpenAi => {
            let model = obj
                .get("model")
                .and_then(Value::as_str)
                .ok_or(BadRequest::Missing("model"))?;
            let messages = obj
                .get("messages")
                .and_then(Value::as_array)
                .ok_or(BadRequest::Missing("messages"))?;
            let (mut system, mut user) = (String::new(), String::new());
            let mut calls = CallsSeen::default();
            for m in messages {
                let text = content_text(m.get("content").unwrap_or(&Value::Null));
                match m.get("role").and_then(Value::as_str) {
                    Some("system") | Some("developer") => system.push_str(&text),
                    Some("assistant") => {
                        for c in m
                            .get("tool_calls")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                        {
                            calls.add(c.get("id").and_then(Value::as_str));
                        }
                        user.push_str(&text);
                    }
                    Some("tool") => {
                        calls.check(m.get("tool_call_id").and_then(Value::as_str))?;
                        user.push_str(&text);
                    }
                    _ => user.push_str(&text),
                }
            }
            let ends_with_user = messages
                .last()
                .and_then(|m| m.get("role"))
                .and_then(Value::as_str)
                == Some("user");
            let reasoning = if obj.get("reasoning").is_some_and(Value::is_object) {
                ReasoningAsk::OpenRouter
            } else if obj.get("reasoning_effort").is_some() {
                ReasoningAsk::Native
            } else {
                ReasoningAsk::None
            };
            let choices = obj
                .get("n")
                .and_then(Value::as_u64)
                .map_or(1, |n| n.clamp(1, 128) as u32);
            Ok(PromptInfo {
                model: model.to_string(),
                system,
                user,
                seed: obj.get("seed").and_then(Value::as_u64),
                reasoning,
                cache_prefix: None,
                choices,
                offers_tools: has_tools(obj, protocol),
                ends_with_user,
            })
        }
        Protocol::Anthropic => {
            let model = obj
                .get("model")
                .and_then(Value::as_str)
                .ok_or(BadRequest::Missing("model"))?;
            if obj.get("max_tokens").and_then(Value::as_u64).is_none() {
                return Err(BadRequest::Missing("max_tokens"));
            }
            let messages = obj
                .get("messages")
                .and_then(Value::as_array)
                .ok_or(BadRequest::Missing("messages"))?;
            let user = messages
                .iter()
                .map(|m| content_text(m.get("content").unwrap_or(&Value::Null)))
                .collect::<String>();
            let mut calls = CallsSeen::default();
            for m in messages {
                for b in blocks_with(m.get("content"), "tool_use") {
                    calls.add(b.get("id").and_then(Value::as_str));
                }
                for b in blocks_with(m.get("content"), "tool_result") {
                    calls.check(b.get("tool_use_id").and_then(Value::as_str))?;
                }
            }
            let ends_with_user = messages.last().is_some_and(|m| {
                m.get("role").and_then(Value::as_str) == Some("user")
                    && blocks_with(m.get("content"), "tool_result")
                        .next()
                        .is_none()
            });
            let system = content_text(obj.get("system").unwrap_or(&Value::Null));
            let cache_prefix = anthropic_cache_prefix(obj.get("system"), messages);
            let thinking = obj
                .get("thinking")
                .and_then(|t| t.get("type"))
                .and_then(Value::as_str)
                == Some("enabled");
            Ok(PromptInfo {
                model: model.to_string(),
                system,
                user,
                seed: None,
                reasoning: if thinking {
                    ReasoningAsk::Native
                } else {
                    ReasoningAsk::None
                },
                cache_prefix,
                choices: 1,
                offers_tools: has_tools(obj, protocol),
                ends_with_user,
            })
        }
        Protocol::Google => {
            let model = path_model.ok_or(BadRequest::NoModelInUrl)?;
            let contents = obj
                .get("contents")
                .and_then(Value::as_array)
                .ok_or(BadRequest::Missing("contents"))?;
            let user = contents
                .iter()
                .map(|c| content_text(c.get("parts").unwrap_or(&Value::Null)))
                .collect::<String>();
            let mut calls = CallsSeen::default();
            for c in contents {
                for p in blocks_with(c.get("parts"), "functionCall") {
                    calls.add(p.pointer("/functionCall/name").and_then(Value::as_str));
                }
                for p in blocks_with(c.get("parts"), "functionResponse") {
                    calls.check(p.pointer("/functionResponse/name").and_then(Value::as_str))?;
                }
            }
            let ends_with_user = contents.last().is_some_and(|c| {
                c.get("role").and_then(Value::as_str) == Some("user")
                    && blocks_with(c.get("parts"), "functionResponse")
                        .next()
                        .is_none()
            });
            let system = obj
                .get("systemInstruction")
                .and_then(|s| s.get("parts"))
                .map(content_text)
                .unwrap_or_default();
            let gen = obj.get("generationConfig");
            let include_thoughts = gen
                .and_then(|g| g.get("thinkingConfig"))
                .and_then(|t| t.get("includeThoughts"))
                .and_then(Value::as_bool)
                == Some(true);
            Ok(PromptInfo {
                model: model.to_string(),
                system,
                user,
                seed: gen.and_then(|g| g.get("seed")).and_then(Value::as_u64),
                reasoning: if include_thoughts {
                    ReasoningAsk::Native
                } else {
                    ReasoningAsk::None
                },
                cache_prefix: None,
                choices: 1,
                offers_tools: has_tools(obj, protocol),
                ends_with_user,
            })
        }
    }
}

/// The prompt-cache entry a request may write or read, keyed by its cached prefix, with the
/// tokens it covers: Anthropic's prefix up to its last `cache_control` block; OpenAI's
/// repeated prompt in 128-token blocks; Gemini's repeated prompt. None under `min_tokens`
/// (the providers do not cache short prompts).
pub fn cache_entry(
    protocol: Protocol,
    info: &PromptInfo,
    min_tokens: u64,
) -> Option<(String, u64)> {
    let input_tokens = tokens(&info.system) + tokens(&info.user);
    let whole = || crate::record::prompt_key(&info.model, &info.system, &info.user, None);
    match protocol {
        Protocol::Anthropic => info.cache_prefix.as_ref().map(|p| {
            let n = if p.len() == info.system.len() + info.user.len() {
                input_tokens
            } else {
                tokens(p).min(input_tokens)
            };
            (crate::record::prompt_key(&info.model, p, "", None), n)
        }),
        Protocol::OpenAi => Some((whole(), input_tokens / 128 * 128)),
        Protocol::Google => Some((whole(), input_tokens)),
    }
    .filter(|(_, n)| *n >= min_tokens)
}

/// The mock's token count of a text (bytes / 4).
pub fn tokens(text: &str) -> u64 {
    (text.len() as u64).div_ceil(4)
}

/// One choice of a reply: the answer, its reasoning, and the tools it calls.
#[derive(Clone, Debug)]
pub struct Choice {
    pub text: String,
    pub reasoning: Option<String>,
    pub tool_calls: Vec<MockToolCall>,
}

/// The id of the `i`th tool call of reply `id`, in the protocol's style (Gemini's calls
/// carry none).
fn call_id(protocol: Protocol, id: &str, i: usize) -> Option<String> {
    match protocol {
        Protocol::OpenAi => Some(format!("call_{id}_{i}")),
        Protocol::Anthropic => Some(format!("toolu_{id}_{i}")),
        Protocol::Google => None,
    }
}

/// A successful reply body with one choice per entry of `choices` (only OpenAI sends more
/// than one), usage as the protocol reports it: the prompt counted once, `cache` showing
/// what the prompt cache served.
pub fn answer_body(
    protocol: Protocol,
    info: &PromptInfo,
    choices: &[Choice],
    finish: Finish,
    id: &str,
    cache: CacheUse,
) -> Value {
    let input = tokens(&info.system) + tokens(&info.user);
    let output: u64 = choices
        .iter()
        .map(|c| {
            let calls: u64 = c
                .tool_calls
                .iter()
                .map(|t| tokens(&t.name) + tokens(&t.arguments.to_string()))
                .sum();
            tokens(&c.text) + calls
        })
        .sum();
    let thought: u64 = choices
        .iter()
        .map(|c| c.reasoning.as_deref().map(tokens).unwrap_or(0))
        .sum();
    let first = &choices[0];
    let reasoning = first.reasoning.as_deref();
    let text = first.text.as_str();
    let calls = &first.tool_calls;
    match protocol {
        Protocol::OpenAi => {
            let out: Vec<Value> = choices
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let mut message = json!({ "role": "assistant", "content": c.text });
                    if let Some(r) = &c.reasoning {
                        let field = if info.reasoning == ReasoningAsk::OpenRouter {
                            "reasoning"
                        } else {
                            "reasoning_content"
                        };
                        message[field] = json!(r);
                    }
                    let mut reason = "stop";
                    if !c.tool_calls.is_empty() {
                        let list: Vec<Value> = c
                            .tool_calls
                            .iter()
                            .enumerate()
                            .map(|(k, t)| {
                                json!({ "id": call_id(protocol, id, k), "type": "function",
                                        "function": { "name": t.name,
                                                      "arguments": t.arguments_text() } })
                            })
                            .collect();
                        message["tool_calls"] = Value::Array(list);
                        if c.text.is_empty() {
                            message["content"] = Value::Null;
                        }
                        reason = "tool_calls";
                    }
                    if finish == Finish::ContentFilter {
                        message["content"] = Value::Null;
                        reason = "content_filter";
                    }
                    json!({
                        "index": i,
                        "message": message,
                        "finish_reason": reason,
                    })
                })
                .collect();
            json!({
                "id": format!("chatcmpl-{id}"),
                "object": "chat.completion",
                "created": 1_767_225_600u64,
                "model": info.model,
                "choices": out,
                "usage": {
                    "prompt_tokens": input,
                    "completion_tokens": output + thought,
                    "total_tokens": input + output + thought,
                    "prompt_tokens_details": { "cached_tokens": cache.read },
                    "completion_tokens_details": { "reasoning_tokens": thought },
                },
            })
        }
        Protocol::Anthropic => {
            let mut content = Vec::new();
            if let Some(r) = reasoning {
                content.push(
                    json!({ "type": "thinking", "thinking": r, "signature": "mock-signature" }),
                );
            }
            if finish == Finish::Normal && (!text.is_empty() || calls.is_empty()) {
                content.push(json!({ "type": "text", "text": text }));
            }
            if finish == Finish::Normal {
                for (k, t) in calls.iter().enumerate() {
                    content.push(json!({ "type": "tool_use", "id": call_id(protocol, id, k),
                                         "name": t.name, "input": t.arguments }));
                }
            }
            let stop = match finish {
                Finish::ContentFilter => "refusal",
                Finish::Normal if !calls.is_empty() => "tool_use",
                Finish::Normal => "end_turn",
            };
            let mut usage = json!({
                "input_tokens": input.saturating_sub(cache.write + cache.read),
                "output_tokens": output + thought,
            });
            if info.cache_prefix.is_some() {
                usage["cache_creation_input_tokens"] = json!(cache.write);
                usage["cache_read_input_tokens"] = json!(cache.read);
            }
            json!({
                "id": format!("msg_{id}"),
                "type": "message",
                "role": "assistant",
                "model": info.model,
                "content": content,
                "stop_reason": stop,
                "stop_sequence": null,
                "usage": usage,
            })
        }
        Protocol::Google => {
            let mut parts = Vec::new();
            if let Some(r) = reasoning {
                parts.push(json!({ "text": r, "thought": true }));
            }
            if finish == Finish::Normal && (!text.is_empty() || calls.is_empty()) {
                parts.push(json!({ "text": text }));
            }
            if finish == Finish::Normal {
                for t in calls {
                    parts.push(json!({ "functionCall": { "name": t.name, "args": t.arguments } }));
                }
            }
            let mut usage = json!({
                "promptTokenCount": input,
                "candidatesTokenCount": output,
                "totalTokenCount": input + output + thought,
            });
            if reasoning.is_some() {
                usage["thoughtsTokenCount"] = json!(thought);
            }
            if cache.read > 0 {
                usage["cachedContentTokenCount"] = json!(cache.read);
            }
            json!({
                "candidates": [{
                    "content": { "role": "model", "parts": parts },
                    "finishReason": if finish == Finish::ContentFilter { "SAFETY" } else { "STOP" },
                    "index": 0,
                }],
                "usageMetadata": usage,
                "modelVersion": info.model,
                "responseId": id,
            })
        }
    }
}

/// An error reply body in the protocol's shape.
pub fn error_body(protocol: Protocol, status: u16, message: &str) -> Value {
    match protocol {
        Protocol::OpenAi => {
            let kind = match status {
                401 => "invalid_request_error",
                429 => "rate_limit_exceeded",
                400 => "invalid_request_error",
                _ => "server_error",
            };
            json!({ "error": { "message": message, "type": kind, "param": null, "code": null } })
        }
        Protocol::Anthropic => {
            let kind = match status {
                400 => "invalid_request_error",
                401 => "authentication_error",
                429 => "rate_limit_error",
                529 => "overloaded_error",
                _ => "api_error",
            };
            json!({ "type": "error", "error": { "type": kind, "message": message } })
        }
        Protocol::Google => {
            let kind = match status {
                400 => "INVALID_ARGUMENT",
                401 => "UNAUTHENTICATED",
                429 => "RESOURCE_EXHAUSTED",
                503 | 529 => "UNAVAILABLE",
                _ => "INTERNAL",
            };
            json!({ "error": { "code": status, "message": message, "status": kind } })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_protocol() {
        let openai = json!({"model": "m", "seed": 7, "reasoning_effort": "low",
            "messages": [{"role": "developer", "content": "S"}, {"role": "user", "content": [{"type": "text", "text": "U"}]}]});
        let p = parse_request(Protocol::OpenAi, None, &openai).unwrap();
        assert_eq!(
            (p.system.as_str(), p.user.as_str(), p.seed),
            ("S", "U", Some(7))
        );
        assert_eq!(p.reasoning, ReasoningAsk::Native);

        let anthropic = json!({"model": "c", "max_tokens": 10, "system": "S",
            "thinking": {"type": "enabled", "budget_tokens": 1024},
            "messages": [{"role": "user", "content": "U"}]});
        let p = parse_request(Protocol::Anthropic, None, &anthropic).unwrap();
        assert_eq!((p.system.as_str(), p.user.as_str()), ("S", "U"));
        assert_eq!(p.reasoning, ReasoningAsk::Native);
        assert!(parse_request(
            Protocol::Anthropic,
            None,
            &json!({"model": "c", "messages": []})
        )
        .is_err());

        let google = json!({"systemInstruction": {"parts": [{"text": "S"}]},
            "contents": [{"role": "user", "parts": [{"text": "U"}]}],
            "generationConfig": {"seed": 3}});
        let p = parse_request(Protocol::Google, Some("g"), &google).unwrap();
        assert_eq!(
            (p.model.as_str(), p.system.as_str(), p.user.as_str(), p.seed),
            ("g", "S", "U", Some(3))
        );
        assert_eq!(p.reasoning, ReasoningAsk::None);
    }
}
