//! Google Gemini `generateContent` (`POST /v1beta/models/{model}:generateContent`).
//!
//! The system prompt is `systemInstruction`; sampling goes in `generationConfig`
//! (`temperature`, `topP`, `maxOutputTokens`, `seed`, `thinkingConfig`: `thinking_budget` as
//! `thinkingBudget`, else `reasoning_effort` as Gemini 3's `thinkingLevel`), safety thresholds in
//! `safetySettings` as configured. Parts marked `thought: true` are reasoning. A blocked
//! prompt (`promptFeedback.blockReason`) or a candidate stopped for safety is a content
//! filter outcome.

use crate::http::{JsonReply, Transport};
use crate::reply::{missing, outcome, str_at, u64_at};
use crate::{Completion, CompletionRequest, ModelClient, ProviderError, Role, Usage};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// `finishReason`s that mean a filter stopped the answer.
const FILTER_REASONS: [&str; 6] = [
    "SAFETY",
    "PROHIBITED_CONTENT",
    "BLOCKLIST",
    "SPII",
    "RECITATION",
    "IMAGE_SAFETY",
];

/// A `generateContent` client.
#[derive(Debug)]
pub struct GoogleClient {
    pub(crate) transport: Transport,
    safety_settings: BTreeMap<String, String>,
}

impl GoogleClient {
    pub fn new(transport: Transport, safety_settings: BTreeMap<String, String>) -> Self {
        GoogleClient {
            transport,
            safety_settings,
        }
    }

    /// The exact JSON body sent for `request`.
    pub fn request_body(&self, request: &CompletionRequest) -> Value {
        let p = &request.params;
        let mut body = Map::new();
        if !request.system.is_empty() {
            body.insert(
                "systemInstruction".into(),
                json!({ "parts": [{ "text": request.system }] }),
            );
        }
        // Gemini calls the assistant `model`.
        let contents: Vec<Value> = request
            .conversation()
            .map(|(role, text)| {
                let role = match role {
                    Role::User => "user",
                    Role::Assistant => "model",
                };
                json!({ "role": role, "parts": [{ "text": text }] })
            })
            .collect();
        body.insert("contents".into(), Value::Array(contents));
        let mut gen = Map::new();
        if let Some(t) = p.temperature {
            gen.insert("temperature".into(), json!(t));
        }
        if let Some(t) = p.top_p {
            gen.insert("topP".into(), json!(t));
        }
        gen.insert("maxOutputTokens".into(), json!(p.max_tokens));
        if let Some(seed) = p.seed {
            // Gemini's seed is an int32: fold larger seeds into range deterministically.
            gen.insert("seed".into(), json!((seed % (i32::MAX as u64 + 1)) as i64));
        }
        // Gemini 2.5 takes a token budget, Gemini 3 a level; the API refuses both in one
        // request, so a budget (the more precise ask) wins when an experiment sets both.
        let thinking = match (p.thinking_budget, &p.reasoning_effort) {
            (Some(budget), _) => Some(json!({ "thinkingBudget": budget, "includeThoughts": true })),
            (None, Some(level)) => Some(json!({ "thinkingLevel": level, "includeThoughts": true })),
            (None, None) => None,
        };
        if let Some(thinking) = thinking {
            gen.insert("thinkingConfig".into(), thinking);
        }
        body.insert("generationConfig".into(), Value::Object(gen));
        if !self.safety_settings.is_empty() {
            let settings: Vec<Value> = self
                .safety_settings
                .iter()
                .map(
                    |(category, threshold)| json!({ "category": category, "threshold": threshold }),
                )
                .collect();
            body.insert("safetySettings".into(), Value::Array(settings));
        }
        Value::Object(body)
    }

    /// `/v1beta/models/{id}:generateContent`; accepts ids written as `models/gemini-...`.
    pub(crate) fn path(model: &str) -> Result<String, ProviderError> {
        let id = model.strip_prefix("models/").unwrap_or(model);
        if id.is_empty() || id.contains(['/', '?', '#', ':', ' ']) {
            return Err(ProviderError::Config(format!(
                "`{model}` is not a Gemini model id (expected e.g. gemini-2.5-flash)"
            )));
        }
        Ok(format!("/v1beta/models/{id}:generateContent"))
    }
}

/// Reads a `generateContent` reply.
pub fn parse_reply(reply: &JsonReply) -> Result<Completion, ProviderError> {
    let body = &reply.body;
    // `promptTokenCount` includes the implicitly cached part, billed at a lower rate.
    let cached = u64_at(body, "/usageMetadata/cachedContentTokenCount");
    let usage = Usage {
        input_tokens: crate::uncached(u64_at(body, "/usageMetadata/promptTokenCount"), cached),
        cache_write_tokens: None,
        cache_read_tokens: cached,
        // Billed output: the answer plus the thoughts, as the other providers count it.
        output_tokens: match (
            u64_at(body, "/usageMetadata/candidatesTokenCount"),
            u64_at(body, "/usageMetadata/thoughtsTokenCount"),
        ) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
        },
        reasoning_tokens: u64_at(body, "/usageMetadata/thoughtsTokenCount"),
    };
    let request_id = reply
        .header("x-goog-request-id")
        .or_else(|| str_at(body, "/responseId").map(str::to_string));
    let candidate = body.pointer("/candidates/0");
    if candidate.is_none() {
        if let Some(reason) = str_at(body, "/promptFeedback/blockReason") {
            return Ok(Completion {
                text: String::new(),
                reasoning: None,
                finish_reason: Some(format!("prompt_blocked:{reason}")),
                outcome: crate::Outcome::ContentFiltered,
                usage,
                request_id,
                raw: Some(reply.raw.clone()),
            });
        }
        return Err(missing("`candidates`", &reply.raw));
    }
    let candidate = candidate.expect("checked above");
    let mut text = String::new();
    let mut thoughts = String::new();
    for part in candidate
        .pointer("/content/parts")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let Some(t) = part.get("text").and_then(Value::as_str) else {
            continue;
        };
        if part.get("thought").and_then(Value::as_bool) == Some(true) {
            thoughts.push_str(t);
        } else {
            text.push_str(t);
        }
    }
    let finish_reason = str_at(candidate, "/finishReason").map(str::to_string);
    let filtered = finish_reason
        .as_deref()
        .is_some_and(|r| FILTER_REASONS.contains(&r));
    Ok(Completion {
        outcome: outcome(&text, filtered),
        text,
        reasoning: (!thoughts.is_empty()).then_some(thoughts),
        finish_reason,
        usage,
        request_id,
        raw: Some(reply.raw.clone()),
    })
}

#[async_trait::async_trait]
impl ModelClient for GoogleClient {
    async fn complete(&self, request: &CompletionRequest) -> Result<Completion, ProviderError> {
        let path = Self::path(&request.model)?;
        let body = self.request_body(request);
        let reply = self.transport.post_json(&path, &[], &body).await?;
        parse_reply(&reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(body: Value) -> JsonReply {
        JsonReply {
            raw: body.to_string(),
            body,
            headers: Default::default(),
        }
    }

    #[test]
    fn blocked_prompt_is_filtered() {
        let c = parse_reply(&reply(json!({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 5}}))).unwrap();
        assert_eq!(c.outcome, crate::Outcome::ContentFiltered);
        assert_eq!(c.usage.input_tokens, Some(5));
        assert!(matches!(
            parse_reply(&reply(json!({}))),
            Err(ProviderError::Malformed(_))
        ));
    }

    #[test]
    fn cached_content_is_taken_out_of_the_input() {
        let c = parse_reply(&reply(
            json!({"candidates": [{"content": {"parts": [{"text": "A"}]}}],
            "usageMetadata": {"promptTokenCount": 3000, "cachedContentTokenCount": 2048,
                              "candidatesTokenCount": 9}}),
        ))
        .unwrap();
        assert_eq!(
            (
                c.usage.input_tokens,
                c.usage.cache_read_tokens,
                c.usage.output_tokens
            ),
            (Some(952), Some(2048), Some(9))
        );
    }

    #[test]
    fn model_paths() {
        assert_eq!(
            GoogleClient::path("models/gemini-2.5-pro").unwrap(),
            "/v1beta/models/gemini-2.5-pro:generateContent"
        );
        assert!(GoogleClient::path("../x").is_err());
    }
}
