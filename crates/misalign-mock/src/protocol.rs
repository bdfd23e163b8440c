//! The three wire formats: reading a request's prompt, writing answer and error bodies.

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

/// Reads model, prompt, seed and reasoning request. `path_model` is Gemini's URL model.
pub fn parse_request(
    protocol: Protocol,
    path_model: Option<&str>,
    body: &Value,
) -> Result<PromptInfo, String> {
    let obj = body
        .as_object()
        .ok_or_else(|| "request body must be a JSON object".to_string())?;
    match protocol {
        Protocol::OpenAi => {
            let model = obj
                .get("model")
                .and_then(Value::as_str)
                .ok_or("missing `model`")?;
            let messages = obj
                .get("messages")
                .and_then(Value::as_array)
                .ok_or("missing `messages`")?;
            let (mut system, mut user) = (String::new(), String::new());
            for m in messages {
                let text = content_text(m.get("content").unwrap_or(&Value::Null));
                match m.get("role").and_then(Value::as_str) {
                    Some("system") | Some("developer") => system.push_str(&text),
                    _ => user.push_str(&text),
                }
            }
            let reasoning = if obj.get("reasoning").is_some_and(Value::is_object) {
                ReasoningAsk::OpenRouter
            } else if obj.get("reasoning_effort").is_some() {
                ReasoningAsk::Native
            } else {
                ReasoningAsk::None
            };
            Ok(PromptInfo {
                model: model.to_string(),
                system,
                user,
                seed: obj.get("seed").and_then(Value::as_u64),
                reasoning,
            })
        }
        Protocol::Anthropic => {
            let model = obj
                .get("model")
                .and_then(Value::as_str)
                .ok_or("missing `model`")?;
            if obj.get("max_tokens").and_then(Value::as_u64).is_none() {
                return Err("missing `max_tokens`".into());
            }
            let messages = obj
                .get("messages")
                .and_then(Value::as_array)
                .ok_or("missing `messages`")?;
            let user = messages
                .iter()
                .map(|m| content_text(m.get("content").unwrap_or(&Value::Null)))
                .collect::<String>();
            let system = content_text(obj.get("system").unwrap_or(&Value::Null));
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
            })
        }
        Protocol::Google => {
            let model = path_model.ok_or("missing model in the URL")?;
            let contents = obj
                .get("contents")
                .and_then(Value::as_array)
                .ok_or("missing `contents`")?;
            let user = contents
                .iter()
                .map(|c| content_text(c.get("parts").unwrap_or(&Value::Null)))
                .collect::<String>();
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
            })
        }
    }
}

fn tokens(text: &str) -> u64 {
    (text.len() as u64).div_ceil(4)
}

/// A successful reply body.
pub fn answer_body(
    protocol: Protocol,
    info: &PromptInfo,
    text: &str,
    reasoning: Option<&str>,
    finish: Finish,
    id: &str,
) -> Value {
    let input = tokens(&info.system) + tokens(&info.user);
    let output = tokens(text);
    let thought = reasoning.map(tokens).unwrap_or(0);
    match protocol {
        Protocol::OpenAi => {
            let mut message = json!({ "role": "assistant", "content": text });
            if let Some(r) = reasoning {
                let field = if info.reasoning == ReasoningAsk::OpenRouter {
                    "reasoning"
                } else {
                    "reasoning_content"
                };
                message[field] = json!(r);
            }
            if finish == Finish::ContentFilter {
                message["content"] = Value::Null;
            }
            json!({
                "id": format!("chatcmpl-{id}"),
                "object": "chat.completion",
                "created": 1_767_225_600u64,
                "model": info.model,
                "choices": [{
                    "index": 0,
                    "message": message,
                    "finish_reason": if finish == Finish::ContentFilter { "content_filter" } else { "stop" },
                }],
                "usage": {
                    "prompt_tokens": input,
                    "completion_tokens": output + thought,
                    "total_tokens": input + output + thought,
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
            if finish == Finish::Normal {
                content.push(json!({ "type": "text", "text": text }));
            }
            json!({
                "id": format!("msg_{id}"),
                "type": "message",
                "role": "assistant",
                "model": info.model,
                "content": content,
                "stop_reason": if finish == Finish::ContentFilter { "refusal" } else { "end_turn" },
                "stop_sequence": null,
                "usage": { "input_tokens": input, "output_tokens": output + thought },
            })
        }
        Protocol::Google => {
            let mut parts = Vec::new();
            if let Some(r) = reasoning {
                parts.push(json!({ "text": r, "thought": true }));
            }
            if finish == Finish::Normal {
                parts.push(json!({ "text": text }));
            }
            let mut usage = json!({
                "promptTokenCount": input,
                "candidatesTokenCount": output,
                "totalTokenCount": input + output + thought,
            });
            if reasoning.is_some() {
                usage["thoughtsTokenCount"] = json!(thought);
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
