//! Google Gemini `generateContent` (`POST /v1beta/models/{model}:generateContent`).
//!
//! The system prompt is `systemInstruction`; sampling goes in `generationConfig`
//! (`temperature`, `topP`, `maxOutputTokens`, `seed`, `thinkingConfig`: `thinking_budget` as
//! `thinkingBudget`, else `reasoning_effort` as Gemini 3's `thinkingLevel`), safety thresholds in
//! `safetySettings` as configured. Parts marked `thought: true` are reasoning. A blocked
//! prompt (`promptFeedback.blockReason`) or a candidate stopped for safety is a content
//! filter outcome.
//!
//! Tools go in `tools: [{functionDeclarations: [{name, description, parameters}]}]` (Gemini
//! takes a subset of JSON Schema there). The reply's `functionCall` parts (`{name, args}`,
//! an `id` on some models, a `thoughtSignature` beside it on thinking models) are its tool
//! calls and go back as such in a `model` message, signature included; results go in one
//! user message as `functionResponse` parts `{name, response: {result}}` (`{error}` when
//! the tool failed). Gemini matches results to calls by name and order, so ids it did not
//! give (`call_{n}`) are not sent.

use crate::http::{JsonReply, Transport};
use crate::reply::{answer_kind, missing, str_at, u64_at};
use crate::{
    Completion, CompletionRequest, Message, ModelClient, ProviderError, ToolArguments, ToolCall,
    Usage,
};
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

    /// The exact JSON body sent for `request`, or why the conversation cannot be sent.
    pub fn request_body(&self, request: &CompletionRequest) -> Result<Value, ProviderError> {
        let p = &request.params;
        let mut body = Map::new();
        if !request.system.is_empty() {
            body.insert(
                "systemInstruction".into(),
                json!({ "parts": [{ "text": request.system }] }),
            );
        }
        body.insert(
            "contents".into(),
            Value::Array(encode_contents(&request.messages)?),
        );
        if !request.tools.is_empty() {
            let declarations: Vec<Value> = request
                .tools
                .iter()
                .map(|t| {
                    json!({ "name": t.name, "description": t.description,
                            "parameters": t.parameters })
                })
                .collect();
            body.insert(
                "tools".into(),
                json!([{ "functionDeclarations": declarations }]),
            );
        }
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
        Ok(Value::Object(body))
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

/// The conversation as `contents`: Gemini calls the assistant `model`; consecutive tool
/// results share one user message.
fn encode_contents(messages: &[Message]) -> Result<Vec<Value>, ProviderError> {
    let mut out: Vec<Value> = Vec::with_capacity(messages.len());
    let mut results_open = false;
    for m in messages {
        let was_results = std::mem::replace(&mut results_open, false);
        match m {
            Message::User { text } => {
                out.push(json!({ "role": "user", "parts": [{ "text": text }] }))
            }
            Message::Assistant {
                text, tool_calls, ..
            } => {
                let mut parts = Vec::with_capacity(tool_calls.len() + 1);
                if !text.is_empty() || tool_calls.is_empty() {
                    parts.push(json!({ "text": text }));
                }
                for c in tool_calls {
                    let args = c.arguments.object_or_empty();
                    let mut call = json!({ "name": c.name, "args": args });
                    if !is_placeholder_id(&c.id) {
                        call["id"] = json!(c.id);
                    }
                    let mut part = json!({ "functionCall": call });
                    if let Some(sig) = &c.signature {
                        part["thoughtSignature"] = json!(sig);
                    }
                    parts.push(part);
                }
                out.push(json!({ "role": "model", "parts": parts }));
            }
            Message::Tool(r) => {
                let key = if r.is_error { "error" } else { "result" };
                let mut response = json!({ "name": r.name, "response": { key: r.content } });
                if !is_placeholder_id(&r.call_id) {
                    response["id"] = json!(r.call_id);
                }
                let part = json!({ "functionResponse": response });
                match out.last_mut() {
                    Some(last) if was_results => last["parts"]
                        .as_array_mut()
                        .expect("a results message holds parts")
                        .push(part),
                    _ => out.push(json!({ "role": "user", "parts": [part] })),
                }
                results_open = true;
            }
        }
    }
    Ok(out)
}

/// The id given to a call Gemini sent without one: its place among the reply's calls.
fn placeholder_id(n: usize) -> String {
    format!("call_{n}")
}

fn is_placeholder_id(id: &str) -> bool {
    id.strip_prefix("call_")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
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
                reasoning_blocks: Vec::new(),
                text: String::new(),
                tool_calls: Vec::new(),
                reasoning: None,
                finish_reason: Some(format!("prompt_blocked:{reason}")),
                outcome: crate::AnswerKind::ContentFiltered,
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
    let mut tool_calls = Vec::new();
    for part in candidate
        .pointer("/content/parts")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        if let Some(call) = part.get("functionCall") {
            tool_calls.push(ToolCall {
                id: str_at(call, "/id")
                    .map_or_else(|| placeholder_id(tool_calls.len()), str::to_string),
                name: str_at(call, "/name").unwrap_or_default().to_string(),
                arguments: ToolArguments::Json(call.get("args").cloned().unwrap_or(json!({}))),
                signature: str_at(part, "/thoughtSignature").map(str::to_string),
            });
            continue;
        }
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
        reasoning_blocks: Vec::new(),
        outcome: answer_kind(&text, &tool_calls, filtered),
        text,
        tool_calls,
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
        let body = self.request_body(request)?;
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
        assert_eq!(c.outcome, crate::AnswerKind::ContentFiltered);
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
    fn function_calls_keep_their_signature_and_given_ids() {
        let c = parse_reply(&reply(json!({"candidates": [{"content": {"parts": [
            {"functionCall": {"name": "email", "args": {"to": "a@b.example"}}, "thoughtSignature": "sig1"},
            {"functionCall": {"id": "fc-9", "name": "read_inbox"}}
        ]}, "finishReason": "STOP"}]})))
        .unwrap();
        assert_eq!(c.outcome, crate::AnswerKind::Answer);
        assert_eq!(
            (c.tool_calls[0].id.as_str(), c.tool_calls[1].id.as_str()),
            ("call_0", "fc-9")
        );
        assert_eq!(c.tool_calls[1].arguments, ToolArguments::Json(json!({})));
        let client = GoogleClient::new(
            crate::http::Transport::new(
                &["http://127.0.0.1:9".to_string()],
                None,
                crate::http::AuthStyle::Bearer,
                &[],
                &crate::ClientOptions::default(),
            )
            .unwrap(),
            BTreeMap::new(),
        );
        let mut r = CompletionRequest::single_turn("gemini-x", "", &[], "U", Default::default());
        r.messages.push(Message::Assistant {
            reasoning_blocks: Vec::new(),
            text: String::new(),
            tool_calls: c.tool_calls.clone(),
        });
        let body = client.request_body(&r).unwrap();
        let parts = &body["contents"][1]["parts"];
        assert_eq!(parts[0]["thoughtSignature"], "sig1");
        assert!(parts[0]["functionCall"].get("id").is_none(), "{parts}");
        assert_eq!(parts[1]["functionCall"]["id"], "fc-9");
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
