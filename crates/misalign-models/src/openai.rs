//! OpenAI Chat Completions, and the OpenAI-shaped APIs built on it: OpenRouter, Together and
//! any OpenAI-compatible server (vLLM, Ollama, llama.cpp server, SGLang).
//!
//! The flavours differ in a few request fields: OpenAI reasoning models (o1/o3/o4/gpt-5) take
//! `max_completion_tokens` and `reasoning_effort` and refuse `temperature`/`top_p`;
//! OpenRouter takes a `reasoning` object. Replies may carry reasoning in
//! `message.reasoning_content` (vLLM, Together, DeepSeek), `message.reasoning` (OpenRouter,
//! Ollama), a leading `<think>` block, or text ending in `</think>` whose opening tag was
//! never written; all end up in [`Completion::reasoning`].

use crate::http::{JsonReply, Transport};
use crate::reply::{missing, outcome, split_think, str_at, u64_at};
use crate::{Completion, CompletionRequest, ModelClient, ProviderError, Usage};
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
        messages.push(json!({ "role": "user", "content": request.user }));

        let mut body = Map::new();
        body.insert("model".into(), json!(request.model));
        body.insert("messages".into(), Value::Array(messages));
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

/// Reads a Chat Completions reply.
pub fn parse_reply(reply: &JsonReply) -> Result<Completion, ProviderError> {
    let body = &reply.body;
    let Some(choice) = body.pointer("/choices/0") else {
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
    };
    let message = choice
        .get("message")
        .ok_or_else(|| missing("`choices[0].message`", &reply.raw))?;
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
    Ok(Completion {
        outcome: outcome(&text, filtered),
        text,
        reasoning,
        finish_reason,
        usage: Usage {
            input_tokens: u64_at(body, "/usage/prompt_tokens"),
            output_tokens: u64_at(body, "/usage/completion_tokens"),
            reasoning_tokens: u64_at(body, "/usage/completion_tokens_details/reasoning_tokens"),
        },
        request_id: reply
            .header("x-request-id")
            .or_else(|| str_at(body, "/id").map(str::to_string)),
        raw: Some(reply.raw.clone()),
    })
}

#[async_trait::async_trait]
impl ModelClient for OpenAiClient {
    async fn complete(&self, request: &CompletionRequest) -> Result<Completion, ProviderError> {
        let body = self.request_body(request);
        let reply = self
            .transport
            .post_json("/chat/completions", &[], &body)
            .await?;
        parse_reply(&reply)
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
