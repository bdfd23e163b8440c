//! Gemini batch mode with inlined requests: `POST /v1beta/models/{model}:batchGenerateContent`
//! with `{batch: {displayName, inputConfig: {requests: {requests: [{request, metadata: {key}}]}}}}`
//! (request: the live `generateContent` body) returns an operation named `batches/{id}`;
//! `GET /v1beta/batches/{id}` reports its `state` (`BATCH_STATE_` PENDING | RUNNING |
//! SUCCEEDED | FAILED | CANCELLED | EXPIRED) and, once it succeeded, the inlined responses in
//! request order, each `{response | error, metadata}`. The inlined body is limited to 20 MB:
//! bigger sets are split into several batches.

use super::{
    malformed, reply_of, safe_id, BatchClient, BatchCounts, BatchLimits, BatchRequest, BatchState,
    BatchStatus, ItemResult,
};
use crate::google::{parse_reply, GoogleClient};
use crate::http::Payload;
use crate::reply::str_at;
use crate::ProviderError;
use reqwest::Method;
use serde_json::{json, Value};

/// 20 MB of inlined requests per batch; the request cap is misalign's own.
pub const LIMITS: BatchLimits = BatchLimits {
    max_requests: 50_000,
    max_bytes: 20 * 1000 * 1000,
};

/// Gemini batch mode for one Google provider.
#[derive(Debug)]
pub struct GoogleBatch {
    client: GoogleClient,
}

impl GoogleBatch {
    pub fn new(client: GoogleClient) -> Self {
        GoogleBatch { client }
    }

    fn entry(&self, r: &BatchRequest) -> Result<Value, ProviderError> {
        Ok(json!({
            "request": self.client.request_body(&r.request)?,
            "metadata": { "key": r.custom_id },
        }))
    }

    async fn get(&self, id: &str) -> Result<crate::http::JsonReply, ProviderError> {
        let id = safe_id(id, "batch id")?;
        self.client
            .transport
            .batch_json(
                Method::GET,
                &format!("/v1beta/batches/{id}"),
                &[],
                Payload::Empty,
            )
            .await
    }
}

/// `batches/abc` (or a bare `abc`) -> `abc`.
fn batch_id(name: &str) -> Result<String, ProviderError> {
    let id = name.strip_prefix("batches/").unwrap_or(name);
    Ok(safe_id(id, "batch name")?.to_string())
}

/// The batch object of an operation (`metadata`) or a bare batch.
fn batch_of(v: &Value) -> &Value {
    match v.get("metadata") {
        Some(m) if m.get("state").is_some() => m,
        _ => v,
    }
}

/// An int64 the API may send as a JSON string.
fn count(v: &Value, pointer: &str) -> u64 {
    match v.pointer(pointer) {
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        _ => 0,
    }
}

/// The HTTP status a `google.rpc.Status` code stands for.
pub fn status_of_code(code: u64) -> u16 {
    match code {
        3 | 9 | 11 => 400,
        16 => 401,
        7 => 403,
        5 => 404,
        8 => 429,
        4 => 504,
        14 => 503,
        _ => 500,
    }
}

/// The inlined responses of a finished batch, keyed by `metadata.key` or else by position.
pub fn parse_inlined(
    body: &Value,
    custom_ids: &[String],
) -> Result<Vec<(String, ItemResult)>, ProviderError> {
    let list = [
        "/response/inlinedResponses/inlinedResponses",
        "/metadata/output/inlinedResponses/inlinedResponses",
        "/output/inlinedResponses/inlinedResponses",
    ]
    .iter()
    .find_map(|p| body.pointer(p).and_then(Value::as_array));
    let Some(list) = list else {
        return Err(malformed("`inlinedResponses`", &body.to_string()));
    };
    let mut out = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let key = match str_at(item, "/metadata/key") {
            Some(k) => k.to_string(),
            None => match custom_ids.get(i) {
                Some(k) => k.clone(),
                None => continue,
            },
        };
        let result = if let Some(r) = item.get("response") {
            match parse_reply(&reply_of(r.clone())) {
                Ok(c) => ItemResult::Done(c),
                Err(e) => ItemResult::Failed(e),
            }
        } else if let Some(e) = item.get("error") {
            let code = e.get("code").and_then(Value::as_u64).unwrap_or(13);
            let message = str_at(e, "/message").unwrap_or("failed inside the batch");
            ItemResult::Failed(ProviderError::Http {
                status: status_of_code(code),
                message: crate::http::error_message(message, None),
                retry_after: None,
            })
        } else {
            ItemResult::NotRun("no response in the batch".into())
        };
        out.push((key, result));
    }
    Ok(out)
}

#[async_trait::async_trait]
impl BatchClient for GoogleBatch {
    fn limits(&self) -> BatchLimits {
        LIMITS
    }

    fn request_size(&self, request: &BatchRequest) -> Result<usize, ProviderError> {
        Ok(self.entry(request)?.to_string().len() + 1)
    }

    async fn submit(
        &self,
        marker: &str,
        requests: &[BatchRequest],
    ) -> Result<String, ProviderError> {
        let Some(first) = requests.first() else {
            return Err(ProviderError::Config("an empty batch".into()));
        };
        let path = GoogleClient::path(&first.request.model)?
            .replace(":generateContent", ":batchGenerateContent");
        let entries = requests
            .iter()
            .map(|r| self.entry(r))
            .collect::<Result<Vec<Value>, _>>()?;
        let body = json!({
            "batch": {
                "displayName": marker,
                "inputConfig": { "requests": { "requests": entries } },
            }
        });
        let reply = self
            .client
            .transport
            .batch_json(Method::POST, &path, &[], Payload::Json(&body))
            .await?;
        let name = str_at(&reply.body, "/name")
            .or_else(|| str_at(&reply.body, "/metadata/name"))
            .ok_or_else(|| malformed("batch `name`", &reply.raw))?;
        batch_id(name)
    }

    async fn poll(&self, remote_id: &str) -> Result<BatchStatus, ProviderError> {
        let reply = self.get(remote_id).await?;
        let b = batch_of(&reply.body);
        let counts = BatchCounts {
            processing: count(b, "/batchStats/pendingRequestCount"),
            succeeded: count(b, "/batchStats/successfulRequestCount"),
            errored: count(b, "/batchStats/failedRequestCount"),
            expired: 0,
        };
        let raw_state = str_at(b, "/state").unwrap_or("");
        let state = raw_state
            .trim_start_matches("BATCH_STATE_")
            .trim_start_matches("JOB_STATE_");
        let state = match state {
            "PENDING" | "RUNNING" | "QUEUED" | "UNSPECIFIED" => BatchState::InProgress,
            "SUCCEEDED" => BatchState::Ended,
            "FAILED" | "CANCELLED" | "EXPIRED" => {
                BatchState::Failed(format!("the batch ended {}", state.to_lowercase()))
            }
            _ => {
                return Err(malformed(
                    &format!("known batch `state` (got {raw_state:?})"),
                    &reply.raw,
                ))
            }
        };
        Ok(BatchStatus { state, counts })
    }

    async fn results(
        &self,
        remote_id: &str,
        custom_ids: &[String],
    ) -> Result<Vec<(String, ItemResult)>, ProviderError> {
        let reply = self.get(remote_id).await?;
        parse_inlined(&reply.body, custom_ids)
    }

    async fn find(&self, marker: &str) -> Result<Option<String>, ProviderError> {
        let reply = self
            .client
            .transport
            .batch_json(
                Method::GET,
                "/v1beta/batches?pageSize=100",
                &[],
                Payload::Empty,
            )
            .await?;
        let list = ["operations", "batches"]
            .iter()
            .find_map(|k| reply.body.get(*k).and_then(Value::as_array));
        for b in list.into_iter().flatten() {
            if str_at(batch_of(b), "/displayName") == Some(marker) {
                let name = str_at(b, "/name")
                    .or_else(|| str_at(batch_of(b), "/name"))
                    .ok_or_else(|| malformed("batch `name`", &b.to_string()))?;
                return batch_id(name).map(Some);
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inlined_responses_by_key_or_position() {
        let body = json!({"name": "batches/x", "done": true, "response": {"inlinedResponses": {"inlinedResponses": [
            {"response": {"candidates": [{"content": {"parts": [{"text": "one"}]}, "finishReason": "STOP"}]}, "metadata": {"key": "k1"}},
            {"error": {"code": 8, "message": "quota"}},
            {"response": {"candidates": [{"content": {"parts": [{"text": "three"}]}, "finishReason": "STOP"}]}}
        ]}}});
        let ids = vec!["k1".to_string(), "k2".to_string(), "k3".to_string()];
        let got = parse_inlined(&body, &ids).unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].0, "k1");
        let ItemResult::Failed(e) = &got[1].1 else {
            panic!()
        };
        assert_eq!(
            (got[1].0.as_str(), e.class()),
            ("k2", crate::ErrorClass::Retryable)
        );
        let ItemResult::Done(c) = &got[2].1 else {
            panic!()
        };
        assert_eq!((got[2].0.as_str(), c.text.as_str()), ("k3", "three"));
        assert!(parse_inlined(&json!({}), &ids).is_err());
    }

    #[test]
    fn names() {
        assert_eq!(batch_id("batches/abc-1").unwrap(), "abc-1");
        assert!(batch_id("batches/../x").is_err());
    }
}
