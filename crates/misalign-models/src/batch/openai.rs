//! OpenAI Batch API: the requests go up as a JSONL file (`POST /files`, multipart,
//! `purpose=batch`; each line `{custom_id, method: "POST", url: "/v1/chat/completions",
//! body}`), then `POST /batches {input_file_id, endpoint, completion_window: "24h",
//! metadata}`; `GET /batches/{id}` reports `status` (validating | in_progress | finalizing |
//! completed | failed | expired | cancelling | cancelled), `request_counts` and the
//! `output_file_id` / `error_file_id` whose lines (`GET /files/{id}/content`) carry
//! `{custom_id, response: {status_code, body}, error}`. Paths are relative to the provider's
//! base URL, which for OpenAI ends in `/v1`.

use super::{
    malformed, reply_of, safe_id, BatchClient, BatchCounts, BatchLimits, BatchRequest, BatchState,
    BatchStatus, ItemResult,
};
use crate::http::{error_message, Payload};
use crate::openai::{parse_reply, OpenAiClient};
use crate::reply::{str_at, u64_at};
use crate::ProviderError;
use reqwest::Method;
use serde_json::{json, Value};

/// 50,000 requests or a 200 MB file per batch.
pub const LIMITS: BatchLimits = BatchLimits {
    max_requests: 50_000,
    max_bytes: 200 * 1000 * 1000,
};

/// The metadata key holding our submission marker.
pub const MARKER_KEY: &str = "misalign_marker";

/// The Batch API for one OpenAI provider.
#[derive(Debug)]
pub struct OpenAiBatch {
    client: OpenAiClient,
}

impl OpenAiBatch {
    pub fn new(client: OpenAiClient) -> Self {
        OpenAiBatch { client }
    }

    fn line(&self, r: &BatchRequest) -> String {
        json!({
            "custom_id": r.custom_id,
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": self.client.request_body(&r.request),
        })
        .to_string()
    }

    async fn get(&self, path: &str) -> Result<crate::http::JsonReply, ProviderError> {
        self.client
            .transport
            .batch_json(Method::GET, path, &[], Payload::Empty)
            .await
    }
}

/// A `multipart/form-data` body with the `purpose` field and one file.
pub fn multipart(boundary: &str, filename: &str, jsonl: &str) -> Vec<u8> {
    let mut b = Vec::with_capacity(jsonl.len() + 400);
    b.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n\
             Content-Type: application/jsonl\r\n\r\n"
        )
        .as_bytes(),
    );
    b.extend_from_slice(jsonl.as_bytes());
    b.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    b
}

/// One line of an output or error file.
pub fn parse_result_line(line: &Value) -> Result<(String, ItemResult), ProviderError> {
    let id = str_at(line, "/custom_id")
        .ok_or_else(|| malformed("`custom_id`", &line.to_string()))?
        .to_string();
    if let Some(err) = line.get("error").filter(|e| !e.is_null()) {
        let code = str_at(err, "/code").unwrap_or("error");
        let message = str_at(err, "/message").unwrap_or("failed inside the batch");
        let result = match code {
            "batch_expired" | "batch_cancelled" => ItemResult::NotRun(format!("{code}: {message}")),
            _ => ItemResult::Failed(ProviderError::Http {
                status: 400,
                message: format!("{code}: {message}"),
                retry_after: None,
            }),
        };
        return Ok((id, result));
    }
    let status = u64_at(line, "/response/status_code")
        .ok_or_else(|| malformed("`response.status_code`", &line.to_string()))?;
    let body = line
        .pointer("/response/body")
        .cloned()
        .unwrap_or(Value::Null);
    if status != 200 {
        return Ok((
            id,
            ItemResult::Failed(ProviderError::Http {
                status: u16::try_from(status).unwrap_or(500),
                message: error_message(&body.to_string(), None),
                retry_after: None,
            }),
        ));
    }
    let reply = reply_of(body);
    let request_id = str_at(line, "/response/request_id").map(str::to_string);
    let parsed = parse_reply(&reply).map(|mut c| {
        if c.request_id.is_none() {
            c.request_id = request_id;
        }
        c
    });
    Ok((
        id,
        match parsed {
            Ok(c) => ItemResult::Done(c),
            Err(e) => ItemResult::Failed(e),
        },
    ))
}

#[async_trait::async_trait]
impl BatchClient for OpenAiBatch {
    fn limits(&self) -> BatchLimits {
        LIMITS
    }

    fn request_size(&self, request: &BatchRequest) -> Result<usize, ProviderError> {
        Ok(self.line(request).len() + 1)
    }

    async fn submit(
        &self,
        marker: &str,
        requests: &[BatchRequest],
    ) -> Result<String, ProviderError> {
        let mut jsonl = String::new();
        for r in requests {
            jsonl.push_str(&self.line(r));
            jsonl.push('\n');
        }
        let boundary = format!("misalign-{marker}");
        let body = multipart(&boundary, &format!("{marker}.jsonl"), &jsonl);
        let file = self
            .client
            .transport
            .batch_json(
                Method::POST,
                "/files",
                &[],
                Payload::Bytes {
                    content_type: format!("multipart/form-data; boundary={boundary}"),
                    body,
                },
            )
            .await?;
        let file_id = str_at(&file.body, "/id").ok_or_else(|| malformed("file `id`", &file.raw))?;
        let create = json!({
            "input_file_id": safe_id(file_id, "file id")?,
            "endpoint": "/v1/chat/completions",
            "completion_window": "24h",
            "metadata": { MARKER_KEY: marker },
        });
        let reply = self
            .client
            .transport
            .batch_json(Method::POST, "/batches", &[], Payload::Json(&create))
            .await?;
        let id = str_at(&reply.body, "/id").ok_or_else(|| malformed("batch `id`", &reply.raw))?;
        Ok(safe_id(id, "batch id")?.to_string())
    }

    async fn poll(&self, remote_id: &str) -> Result<BatchStatus, ProviderError> {
        let id = safe_id(remote_id, "batch id")?;
        let reply = self.get(&format!("/batches/{id}")).await?;
        let b = &reply.body;
        let total = u64_at(b, "/request_counts/total").unwrap_or(0);
        let completed = u64_at(b, "/request_counts/completed").unwrap_or(0);
        let failed = u64_at(b, "/request_counts/failed").unwrap_or(0);
        let counts = BatchCounts {
            processing: total.saturating_sub(completed + failed),
            succeeded: completed,
            errored: failed,
            expired: 0,
        };
        let state = match str_at(b, "/status") {
            Some("validating" | "in_progress" | "finalizing" | "cancelling") => {
                BatchState::InProgress
            }
            // An expired or cancelled batch still delivers what finished; the rest is listed
            // in the error file (or missing), and is sent again.
            Some("completed" | "expired" | "cancelled") => BatchState::Ended,
            Some("failed") => {
                let why = b
                    .pointer("/errors/data/0/message")
                    .and_then(Value::as_str)
                    .unwrap_or("the batch failed validation");
                BatchState::Failed(crate::http::error_message(why, None))
            }
            other => {
                return Err(malformed(
                    &format!("known batch `status` (got {other:?})"),
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
        let reply = self.get(&format!("/batches/{id}")).await?;
        let mut out = Vec::new();
        for field in ["/output_file_id", "/error_file_id"] {
            let Some(file) = str_at(&reply.body, field) else {
                continue;
            };
            let file = safe_id(file, "file id")?;
            let text = self
                .client
                .transport
                .batch_text(&format!("/files/{file}/content"), &[])
                .await?;
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                let v = crate::http::json_text(line).map_err(|e| {
                    ProviderError::Malformed(format!("a results line is not JSON: {e}"))
                })?;
                out.push(parse_result_line(&v)?);
            }
        }
        Ok(out)
    }

    async fn find(&self, marker: &str) -> Result<Option<String>, ProviderError> {
        // The newest batches first; a lost submission is among the last few.
        let reply = self.get("/batches?limit=100").await?;
        let found = reply
            .body
            .get("data")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|b| str_at(b, &format!("/metadata/{MARKER_KEY}")) == Some(marker))
            .and_then(|b| str_at(b, "/id"));
        match found {
            Some(id) => Ok(Some(safe_id(id, "batch id")?.to_string())),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_lines() {
        let ok = json!({"id": "r1", "custom_id": "a", "response": {"status_code": 200, "request_id": "req_1", "body": {"id": "chatcmpl-1", "choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}], "usage": {"prompt_tokens": 4, "completion_tokens": 1}}}, "error": null});
        let (id, r) = parse_result_line(&ok).unwrap();
        assert_eq!(id, "a");
        let ItemResult::Done(c) = r else { panic!() };
        assert_eq!(c.text, "hi");
        let limited = json!({"custom_id": "b", "response": {"status_code": 429, "body": {"error": {"message": "slow down"}}}});
        let ItemResult::Failed(e) = parse_result_line(&limited).unwrap().1 else {
            panic!()
        };
        assert_eq!(e.class(), crate::ErrorClass::Retryable);
        assert!(e.to_string().contains("slow down"), "{e}");
        let gone = json!({"custom_id": "c", "response": null, "error": {"code": "batch_expired", "message": "expired"}});
        assert!(matches!(
            parse_result_line(&gone).unwrap().1,
            ItemResult::NotRun(_)
        ));
    }

    #[test]
    fn multipart_body_has_both_parts() {
        let b = String::from_utf8(multipart("XyZ", "m.jsonl", "{}\n")).unwrap();
        assert!(b.starts_with("--XyZ\r\n"));
        assert!(b.contains("name=\"purpose\"\r\n\r\nbatch\r\n"));
        assert!(b.contains("filename=\"m.jsonl\""));
        assert!(b.ends_with("\r\n--XyZ--\r\n"));
    }
}
