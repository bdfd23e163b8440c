//! Anthropic Message Batches: `POST /v1/messages/batches` with `{requests: [{custom_id,
//! params}]}` (params: the live Messages body), `GET /v1/messages/batches/{id}`
//! (`processing_status` in_progress | canceling | ended, `request_counts`), and
//! `GET /v1/messages/batches/{id}/results`: JSONL, one `{custom_id, result}` per request with
//! `result.type` succeeded (`message`: a live reply) | errored | canceled | expired.

use super::{
    malformed, reply_of, safe_id, BatchClient, BatchCounts, BatchLimits, BatchRequest, BatchState,
    BatchStatus, ItemResult,
};
use crate::anthropic::{parse_reply, AnthropicClient, API_VERSION};
use crate::http::Payload;
use crate::reply::{str_at, u64_at};
use crate::ProviderError;
use reqwest::Method;
use serde_json::{json, Value};

/// 100,000 requests or 256 MB per batch.
pub const LIMITS: BatchLimits = BatchLimits {
    max_requests: 100_000,
    max_bytes: 256 * 1000 * 1000,
};

const FIXED: &[(&str, &str)] = &[("anthropic-version", API_VERSION)];

/// Message Batches for one Anthropic provider.
#[derive(Debug)]
pub struct AnthropicBatch {
    client: AnthropicClient,
}

impl AnthropicBatch {
    pub fn new(client: AnthropicClient) -> Self {
        AnthropicBatch { client }
    }

    fn entry(r: &BatchRequest) -> Result<Value, ProviderError> {
        Ok(json!({
            "custom_id": r.custom_id,
            "params": AnthropicClient::request_body(&r.request)?,
        }))
    }
}

/// The HTTP status an Anthropic error type stands for, so a failure inside a batch is
/// classified (retried or not) like the same failure of a live call.
pub fn error_status(kind: &str) -> u16 {
    match kind {
        "invalid_request_error" => 400,
        "authentication_error" => 401,
        "billing_error" => 402,
        "permission_error" => 403,
        "not_found_error" => 404,
        "request_too_large" => 413,
        "rate_limit_error" => 429,
        "overloaded_error" => 529,
        _ => 500,
    }
}

/// One line of a results file.
pub fn parse_result_line(line: &Value) -> Result<(String, ItemResult), ProviderError> {
    let id = str_at(line, "/custom_id")
        .ok_or_else(|| malformed("`custom_id`", &line.to_string()))?
        .to_string();
    let result = match str_at(line, "/result/type") {
        Some("succeeded") => {
            let message = line
                .pointer("/result/message")
                .cloned()
                .ok_or_else(|| malformed("`result.message`", &line.to_string()))?;
            match parse_reply(&reply_of(message)) {
                Ok(c) => ItemResult::Done(c),
                Err(e) => ItemResult::Failed(e),
            }
        }
        Some("errored") => {
            // `error` is the live error body: `{type: "error", error: {type, message}}`.
            let err = line
                .pointer("/result/error/error")
                .or_else(|| line.pointer("/result/error"));
            let kind = err.and_then(|e| str_at(e, "/type")).unwrap_or("api_error");
            let message = err
                .and_then(|e| str_at(e, "/message"))
                .unwrap_or("errored inside the batch");
            ItemResult::Failed(ProviderError::Http {
                status: error_status(kind),
                message: format!("{kind}: {message}"),
                retry_after: None,
            })
        }
        Some(kind @ ("canceled" | "expired")) => ItemResult::NotRun(format!("{kind} in the batch")),
        other => {
            return Err(malformed(
                &format!("known `result.type` (got {other:?})"),
                &line.to_string(),
            ))
        }
    };
    Ok((id, result))
}

#[async_trait::async_trait]
impl BatchClient for AnthropicBatch {
    fn limits(&self) -> BatchLimits {
        LIMITS
    }

    fn request_size(&self, request: &BatchRequest) -> Result<usize, ProviderError> {
        Ok(Self::entry(request)?.to_string().len() + 1)
    }

    async fn submit(
        &self,
        _marker: &str,
        requests: &[BatchRequest],
    ) -> Result<String, ProviderError> {
        let entries = requests
            .iter()
            .map(Self::entry)
            .collect::<Result<Vec<_>, _>>()?;
        let body = json!({ "requests": entries });
        let reply = self
            .client
            .transport
            .batch_json(
                Method::POST,
                "/v1/messages/batches",
                FIXED,
                Payload::Json(&body),
            )
            .await?;
        let id = str_at(&reply.body, "/id").ok_or_else(|| malformed("batch `id`", &reply.raw))?;
        Ok(safe_id(id, "batch id")?.to_string())
    }

    async fn poll(&self, remote_id: &str) -> Result<BatchStatus, ProviderError> {
        let id = safe_id(remote_id, "batch id")?;
        let reply = self
            .client
            .transport
            .batch_json(
                Method::GET,
                &format!("/v1/messages/batches/{id}"),
                FIXED,
                Payload::Empty,
            )
            .await?;
        let b = &reply.body;
        let counts = BatchCounts {
            processing: u64_at(b, "/request_counts/processing").unwrap_or(0),
            succeeded: u64_at(b, "/request_counts/succeeded").unwrap_or(0),
            errored: u64_at(b, "/request_counts/errored").unwrap_or(0),
            expired: u64_at(b, "/request_counts/expired").unwrap_or(0)
                + u64_at(b, "/request_counts/canceled").unwrap_or(0),
        };
        let state = match str_at(b, "/processing_status") {
            Some("ended") => BatchState::Ended,
            Some("in_progress" | "canceling") => BatchState::InProgress,
            other => {
                return Err(malformed(
                    &format!("known `processing_status` (got {other:?})"),
                    &reply.raw,
                ))
            }
        };
        Ok(BatchStatus { state, counts })
    }

    async fn results(
        &self,
        remote_id: &str,
        _custom_ids: &[String],
    ) -> Result<Vec<(String, ItemResult)>, ProviderError> {
        let id = safe_id(remote_id, "batch id")?;
        // Our base URL, not the reply's `results_url`: the key goes to no other host.
        let text = self
            .client
            .transport
            .batch_text(&format!("/v1/messages/batches/{id}/results"), FIXED)
            .await?;
        let mut out = Vec::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let v = crate::http::json_text(line).map_err(|e| {
                ProviderError::Malformed(format!("a results line is not JSON: {e}"))
            })?;
            out.push(parse_result_line(&v)?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_lines() {
        let ok = json!({"custom_id": "a", "result": {"type": "succeeded", "message": {"id": "msg_1", "content": [{"type": "text", "text": "hi"}], "stop_reason": "end_turn", "usage": {"input_tokens": 3, "output_tokens": 1}}}});
        let (id, r) = parse_result_line(&ok).unwrap();
        assert_eq!(id, "a");
        let ItemResult::Done(c) = r else { panic!() };
        assert_eq!((c.text.as_str(), c.usage.input_tokens), ("hi", Some(3)));
        let bad = json!({"custom_id": "b", "result": {"type": "errored", "error": {"type": "error", "error": {"type": "invalid_request_error", "message": "max_tokens too large"}}}});
        let ItemResult::Failed(e) = parse_result_line(&bad).unwrap().1 else {
            panic!()
        };
        assert_eq!(e.class(), crate::ErrorClass::Permanent);
        let busy = json!({"custom_id": "c", "result": {"type": "errored", "error": {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}}});
        let ItemResult::Failed(e) = parse_result_line(&busy).unwrap().1 else {
            panic!()
        };
        assert_eq!(e.class(), crate::ErrorClass::Retryable);
        let gone = json!({"custom_id": "d", "result": {"type": "expired"}});
        assert!(matches!(
            parse_result_line(&gone).unwrap().1,
            ItemResult::NotRun(_)
        ));
        assert!(parse_result_line(&json!({"result": {"type": "expired"}})).is_err());
    }
}
