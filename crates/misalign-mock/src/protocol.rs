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
    /// The conversation's text after the system prompt: messages' text, tool calls (name and
    /// arguments) and tool results, in order.
    pub user: String,
    pub seed: Option<u64>,
    pub reasoning: ReasoningAsk,
    /// Anthropic: some block carries `cache_control` (the reply then reports cache tokens).
    pub cache_marked: bool,
    /// OpenAI `n`: how many choices to return (1 when absent).
    pub choices: u32,
    /// The request offers tools.
    pub offers_tools: bool,
    /// The conversation ends with a user message (not with tool results).
    pub ends_with_user: bool,
    /// Assistant turns so far (OpenAI `assistant`, Anthropic `assistant`, Gemini `model`):
    /// the conversation's step is one more.
    pub assistant_turns: u32,
    /// Which conversation this is: a key of its system prompt and first user message, the
    /// same at every step.
    pub conversation: String,
    /// The prompt as the prompt cache sees it: system and messages (Anthropic: blocks) in
    /// order; their texts make up `system` and `user`.
    pub segments: Vec<Segment>,
    /// How many segments the first prompt spans (through the first user message): automatic
    /// caching (OpenAI, Gemini) looks at prefixes at least this long.
    pub head: usize,
}

/// A piece of the prompt the cache can break at (a message, or an Anthropic block).
#[derive(Clone, Debug, Default)]
pub struct Segment {
    pub text: String,
    /// Part of the system prompt.
    pub system: bool,
    /// Carries an Anthropic `cache_control` breakpoint.
    pub marked: bool,
}

/// Builds a request's [`Segment`]s and the facts the step logic needs, message by message.
#[derive(Default)]
struct Walk {
    segments: Vec<Segment>,
    assistant_turns: u32,
    /// The first user message's text, once seen, and the segment count through it.
    first_user: Option<(String, usize)>,
}

impl Walk {
    fn system(&mut self, text: String, marked: bool) {
        self.segments.push(Segment {
            text,
            system: true,
            marked,
        });
    }

    /// One message as its segments (`(text, marked)`), from `role`'s point of view.
    fn message(&mut self, role: MessageRole, pieces: Vec<(String, bool)>) {
        let start = self.segments.len();
        self.segments
            .extend(pieces.into_iter().map(|(text, marked)| Segment {
                text,
                system: false,
                marked,
            }));
        match role {
            MessageRole::Assistant => self.assistant_turns += 1,
            MessageRole::User if self.first_user.is_none() => {
                let text = self.segments[start..]
                    .iter()
                    .map(|s| s.text.as_str())
                    .collect();
                self.first_user = Some((text, self.segments.len()));
            }
            MessageRole::User | MessageRole::Other => {}
        }
    }

    /// `(system, user, conversation key, head)`.
    fn texts(&self, model: &str) -> (String, String, String, usize) {
        let join = |system: bool| -> String {
            self.segments
                .iter()
                .filter(|s| s.system == system)
                .map(|s| s.text.as_str())
                .collect()
        };
        let system = join(true);
        let (first, head) = self
            .first_user
            .clone()
            .unwrap_or((String::new(), self.segments.len()));
        let conversation = crate::record::prompt_key(model, &system, &first, None);
        (system, join(false), conversation, head)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum MessageRole {
    User,
    Assistant,
    Other,
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

/// The text a content block (or Gemini part) adds to the prompt: its text, a tool call's name
/// and arguments, a tool result's content. Thinking adds nothing (providers drop earlier
/// turns' thinking from the prompt).
fn block_text(block: &Value) -> String {
    if let Value::String(s) = block {
        return s.clone();
    }
    if block.get("thought").and_then(Value::as_bool) == Some(true) {
        return String::new();
    }
    match block.get("type").and_then(Value::as_str) {
        Some("tool_use") => {
            let name = block
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            return format!("{name}{}", block.get("input").unwrap_or(&Value::Null));
        }
        Some("tool_result") => return content_text(block.get("content").unwrap_or(&Value::Null)),
        _ => {}
    }
    if let Some(call) = block.get("functionCall") {
        let name = call.get("name").and_then(Value::as_str).unwrap_or_default();
        return format!("{name}{}", call.get("args").unwrap_or(&Value::Null));
    }
    if let Some(response) = block.get("functionResponse") {
        let name = response
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        return format!("{name}{}", response.get("response").unwrap_or(&Value::Null));
    }
    block
        .get("text")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// A message's content as `(text, marked)` pieces: one per block, or one for string content.
fn blocks(content: Option<&Value>) -> Vec<(String, bool)> {
    match content {
        Some(Value::Array(parts)) => parts
            .iter()
            .map(|b| (block_text(b), b.get("cache_control").is_some()))
            .collect(),
        Some(Value::String(s)) => vec![(s.clone(), false)],
        _ => vec![(String::new(), false)],
    }
}

/// Refuses a tool call whose arguments are not a JSON object, as Anthropic (`input`) and
/// Gemini (`args`) refuse one sent back to them.
fn arguments_are_an_object(name: &str, arguments: Option<&Value>) -> Result<(), BadRequest> {
    match arguments {
        None | Some(Value::Object(_)) => Ok(()),
        Some(_) => Err(BadRequest::ArgumentsNotAnObject(name.to_string())),
    }
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
    /// An earlier tool call (named) whose arguments are not a JSON object.
    #[error("the arguments of tool call `{0}` must be a JSON object")]
    ArgumentsNotAnObject(String),
}

/// Reads model, prompt, seed and reasoning request. `path_model` is Gemini's URL model.
pub fn parse_request(
    protocol: Protocol,
    path_model: Option<&str>,
    body: &Value,
) -> Result<PromptInfo, BadRequest> {
    let obj = body.as_object().ok_or(BadRequest::NotAnObject)?;
    let mut walk = Walk::default();
    let mut calls = CallsSeen::default();
    let (model, seed, reasoning, choices, ends_with_user) = match protocol {
        Protocol::OpenAi => {
            let model = obj
                .get("model")
                .and_then(Value::as_str)
                .ok_or(BadRequest::Missing("model"))?;
            let messages = obj
                .get("messages")
                .and_then(Value::as_array)
                .ok_or(BadRequest::Missing("messages"))?;
            for m in messages {
                let mut text = content_text(m.get("content").unwrap_or(&Value::Null));
                let role = match m.get("role").and_then(Value::as_str) {
                    Some("system") | Some("developer") => {
                        walk.system(text, false);
                        continue;
                    }
                    Some("assistant") => {
                        for c in m
                            .get("tool_calls")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                        {
                            calls.add(c.get("id").and_then(Value::as_str));
                            if let Some(f) = c.get("function") {
                                text.push_str(f.get("name").and_then(Value::as_str).unwrap_or(""));
                                text.push_str(
                                    f.get("arguments").and_then(Value::as_str).unwrap_or(""),
                                );
                            }
                        }
                        MessageRole::Assistant
                    }
                    Some("tool") => {
                        calls.check(m.get("tool_call_id").and_then(Value::as_str))?;
                        MessageRole::Other
                    }
                    _ => MessageRole::User,
                };
                walk.message(role, vec![(text, false)]);
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
            let seed = obj.get("seed").and_then(Value::as_u64);
            (model.to_string(), seed, reasoning, choices, ends_with_user)
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
            match obj.get("system") {
                Some(Value::Array(parts)) => {
                    for p in parts {
                        walk.system(block_text(p), p.get("cache_control").is_some());
                    }
                }
                Some(other) => walk.system(content_text(other), false),
                None => {}
            }
            for m in messages {
                for b in blocks_with(m.get("content"), "tool_use") {
                    let name = b.get("name").and_then(Value::as_str).unwrap_or_default();
                    arguments_are_an_object(name, b.get("input"))?;
                    calls.add(b.get("id").and_then(Value::as_str));
                }
                for b in blocks_with(m.get("content"), "tool_result") {
                    calls.check(b.get("tool_use_id").and_then(Value::as_str))?;
                }
                let role = match m.get("role").and_then(Value::as_str) {
                    Some("assistant") => MessageRole::Assistant,
                    _ => MessageRole::User,
                };
                walk.message(role, blocks(m.get("content")));
            }
            let ends_with_user = messages.last().is_some_and(|m| {
                m.get("role").and_then(Value::as_str) == Some("user")
                    && blocks_with(m.get("content"), "tool_result")
                        .next()
                        .is_none()
            });
            let thinking = obj
                .get("thinking")
                .and_then(|t| t.get("type"))
                .and_then(Value::as_str)
                == Some("enabled");
            let reasoning = if thinking {
                ReasoningAsk::Native
            } else {
                ReasoningAsk::None
            };
            (model.to_string(), None, reasoning, 1, ends_with_user)
        }
        Protocol::Google => {
            let model = path_model.ok_or(BadRequest::NoModelInUrl)?;
            let contents = obj
                .get("contents")
                .and_then(Value::as_array)
                .ok_or(BadRequest::Missing("contents"))?;
            if let Some(parts) = obj.get("systemInstruction").and_then(|s| s.get("parts")) {
                walk.system(content_text(parts), false);
            }
            for c in contents {
                for p in blocks_with(c.get("parts"), "functionCall") {
                    let name = p
                        .pointer("/functionCall/name")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    arguments_are_an_object(name, p.pointer("/functionCall/args"))?;
                    calls.add(Some(name));
                }
                for p in blocks_with(c.get("parts"), "functionResponse") {
                    calls.check(p.pointer("/functionResponse/name").and_then(Value::as_str))?;
                }
                let role = match c.get("role").and_then(Value::as_str) {
                    Some("model") => MessageRole::Assistant,
                    _ if blocks_with(c.get("parts"), "functionResponse")
                        .next()
                        .is_some() =>
                    {
                        MessageRole::Other
                    }
                    _ => MessageRole::User,
                };
                let text = c
                    .get("parts")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(block_text)
                    .collect();
                walk.message(role, vec![(text, false)]);
            }
            let ends_with_user = contents.last().is_some_and(|c| {
                c.get("role").and_then(Value::as_str) == Some("user")
                    && blocks_with(c.get("parts"), "functionResponse")
                        .next()
                        .is_none()
            });
            let gen = obj.get("generationConfig");
            let include_thoughts = gen
                .and_then(|g| g.get("thinkingConfig"))
                .and_then(|t| t.get("includeThoughts"))
                .and_then(Value::as_bool)
                == Some(true);
            let reasoning = if include_thoughts {
                ReasoningAsk::Native
            } else {
                ReasoningAsk::None
            };
            let seed = gen.and_then(|g| g.get("seed")).and_then(Value::as_u64);
            (model.to_string(), seed, reasoning, 1, ends_with_user)
        }
    };
    let (system, user, conversation, head) = walk.texts(&model);
    Ok(PromptInfo {
        cache_marked: walk.segments.iter().any(|s| s.marked),
        model,
        system,
        user,
        seed,
        reasoning,
        choices,
        offers_tools: has_tools(obj, protocol),
        ends_with_user,
        assistant_turns: walk.assistant_turns,
        conversation,
        segments: walk.segments,
        head,
    })
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
    /// What the calls' ids are made from: the agent's step (ids unique within a
    /// conversation, the same when a step is retried) or the reply id.
    pub call_stem: String,
}

/// The id of the `i`th tool call made from `stem`, in the protocol's style (Gemini's calls
/// carry none).
fn call_id(protocol: Protocol, stem: &str, i: usize) -> Option<String> {
    match protocol {
        Protocol::OpenAi => Some(format!("call_{stem}_{i}")),
        Protocol::Anthropic => Some(format!("toolu_{stem}_{i}")),
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
                                json!({ "id": call_id(protocol, &c.call_stem, k), "type": "function",
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
                    content.push(json!({ "type": "tool_use",
                                         "id": call_id(protocol, &first.call_stem, k),
                                         "name": t.name, "input": t.arguments_object() }));
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
            if info.cache_marked {
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
                    parts.push(json!({ "functionCall": { "name": t.name,
                                                         "args": t.arguments_object() } }));
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
