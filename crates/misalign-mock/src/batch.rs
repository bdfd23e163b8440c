//! The three batch APIs, in memory: Anthropic Message Batches, OpenAI files + Batch API, and
//! Gemini batch mode with inlined requests. A batch's answers are decided when it is
//! created (the same canned answers as live calls) and shown once [`MockConfig::batch_delay`]
//! has passed; a seeded share of requests errors or expires inside the batch
//! ([`MockConfig::batch_error_rate`], [`MockConfig::batch_expire_rate`]), decided per
//! (custom id, submission number) so a resubmitted request eventually succeeds. Every
//! submission of a custom id is counted ([`crate::MockStats::batch_submissions`]) so tests
//! can assert that nothing was paid for twice.

use crate::answers::{canned_answer, reasoning_for, scripted, Scripted};
use crate::cache::CachePlan;
use crate::config::MockConfig;
use crate::protocol::{answer_body, parse_request, Choice, Finish, Protocol, ReasoningAsk};
use crate::record::{prompt_key, RecordedRequest};
use serde_json::{json, Value};
use std::time::Instant;

/// What happened to one request inside a batch.
#[derive(Clone, Debug)]
pub(crate) enum ItemOutcome {
    /// The reply body a live call would have received.
    Answer(Value),
    /// A transient server error inside the batch.
    Errored,
    /// Expired before it ran.
    Expired,
    /// A request the API refuses (bad body), with the reason.
    Invalid(String),
}

/// A batch held by the mock.
#[derive(Clone, Debug)]
pub(crate) struct MockBatch {
    pub protocol: Protocol,
    pub id: String,
    /// Anthropic/OpenAI: nothing; OpenAI: the metadata object; Gemini: the display name.
    pub label: Value,
    pub created: Instant,
    pub created_unix: u64,
    /// (custom id, outcome), in submission order.
    pub items: Vec<(String, ItemOutcome)>,
    pub output_file: Option<String>,
    pub error_file: Option<String>,
}

impl MockBatch {
    pub fn ended(&self, config: &MockConfig) -> bool {
        self.created.elapsed() >= config.batch_delay
    }

    fn counts(&self) -> (u64, u64, u64) {
        let mut c = (0, 0, 0);
        for (_, o) in &self.items {
            match o {
                ItemOutcome::Answer(_) => c.0 += 1,
                ItemOutcome::Errored | ItemOutcome::Invalid(_) => c.1 += 1,
                ItemOutcome::Expired => c.2 += 1,
            }
        }
        c
    }
}

/// The mock's in-memory batch state (inside the server's log lock).
#[derive(Default)]
pub(crate) struct Batches {
    pub batches: Vec<MockBatch>,
    pub files: std::collections::HashMap<String, String>,
    pub next: u64,
}

/// splitmix64 (as the server's fault draws).
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

fn id_hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// Decides one request of a new batch and records it (`answered_per_prompt` drives the
/// canned answer choice exactly as for live calls).
#[allow(clippy::too_many_arguments)]
pub(crate) fn decide(
    config: &MockConfig,
    log_requests: &mut Vec<RecordedRequest>,
    cached: &mut std::collections::HashSet<String>,
    answered_per_prompt: &mut std::collections::HashMap<String, u64>,
    answered: &mut u64,
    protocol: Protocol,
    path_model: Option<&str>,
    custom_id: &str,
    submission: u64,
    body: &Value,
    serial: u64,
) -> ItemOutcome {
    let info = match parse_request(protocol, path_model, body) {
        Ok(i) => i,
        Err(bad) => return ItemOutcome::Invalid(bad.to_string()),
    };
    let pkey = prompt_key(&info.model, &info.system, &info.user, info.seed);
    let h = mix(config.seed ^ mix(id_hash(custom_id) ^ mix(submission)));
    let u = unit(h);
    let outcome = if u < config.batch_error_rate {
        Some(ItemOutcome::Errored)
    } else if u < config.batch_error_rate + config.batch_expire_rate {
        Some(ItemOutcome::Expired)
    } else {
        None
    };
    log_requests.push(RecordedRequest {
        protocol: protocol.name(),
        path: format!("batch:{custom_id}"),
        headers: Vec::new(),
        body: if config.record_bodies {
            body.clone()
        } else {
            Value::Null
        },
        prompt_key: pkey.clone(),
        attempt: submission,
        usage: None,
        fault: outcome.as_ref().map(|o| {
            match o {
                ItemOutcome::Errored => "batch_error",
                _ => "batch_expired",
            }
            .to_string()
        }),
    });
    if let Some(o) = outcome {
        return o;
    }
    *answered += 1;
    let n = answered_per_prompt.entry(pkey).or_insert(0);
    *n += 1;
    let marker = info.seed.unwrap_or(*n - 1);
    let by_content = config
        .answers_by_content
        .iter()
        .find(|(needle, _)| info.system.contains(needle) || info.user.contains(needle));
    let id = format!("mockb{serial:09}");
    let (tool_calls, call_stem, fixed) = match scripted(config, &info) {
        Scripted::Nothing => (Vec::new(), id.clone(), None),
        Scripted::Calls { calls, stem } => (calls, stem.unwrap_or_else(|| id.clone()), None),
        Scripted::Text(t) => (Vec::new(), id.clone(), Some(t)),
    };
    let text = if let Some(t) = fixed {
        t
    } else if !tool_calls.is_empty() {
        String::new()
    } else if let Some((_, answer)) = by_content {
        answer.clone()
    } else if config.answers.is_empty() {
        canned_answer(&info.system, &info.user, marker)
    } else {
        config.answers[(serial as usize) % config.answers.len()].clone()
    };
    let wants_reasoning = info.reasoning != ReasoningAsk::None || config.always_reasoning;
    let reasoning = wants_reasoning.then(|| reasoning_for(&text));
    // The batch's requests are served in submission order, so the prompt cache behaves as
    // for live calls: the first request of a prefix writes it, later ones read it.
    let cache = match CachePlan::new(protocol, &info, config.min_cacheable_tokens) {
        Some(plan) => {
            let used = plan.lookup(cached);
            cached.extend(plan.written().cloned());
            used
        }
        None => Default::default(),
    };
    let choice = Choice {
        text,
        reasoning,
        tool_calls,
        call_stem,
    };
    let body = answer_body(protocol, &info, &[choice], Finish::Normal, &id, cache);
    if let Some(last) = log_requests.last_mut() {
        last.usage = body
            .get("usage")
            .or_else(|| body.get("usageMetadata"))
            .cloned();
    }
    ItemOutcome::Answer(body)
}

/// The file part of a `multipart/form-data` upload.
pub(crate) fn multipart_file(content_type: &str, body: &[u8]) -> Option<String> {
    let boundary = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))?
        .trim_matches('"');
    let text = String::from_utf8_lossy(body);
    let delim = format!("--{boundary}");
    for part in text.split(delim.as_str()) {
        let Some((head, content)) = part.split_once("\r\n\r\n") else {
            continue;
        };
        if head.contains("name=\"file\"") {
            return Some(content.strip_suffix("\r\n").unwrap_or(content).to_string());
        }
    }
    None
}

/// Anthropic's batch object.
pub(crate) fn anthropic_status(b: &MockBatch, config: &MockConfig, base: &str) -> Value {
    let ended = b.ended(config);
    let (ok, err, exp) = b.counts();
    let n = b.items.len() as u64;
    json!({
        "id": b.id,
        "type": "message_batch",
        "processing_status": if ended { "ended" } else { "in_progress" },
        "request_counts": if ended {
            json!({"processing": 0, "succeeded": ok, "errored": err, "canceled": 0, "expired": exp})
        } else {
            json!({"processing": n, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0})
        },
        // A host clients must not follow: they fetch results from their own base URL.
        "results_url": if ended { Value::String(format!("https://results.invalid/{base}/{}", b.id)) } else { Value::Null },
        "created_at": "2026-01-01T00:00:00Z",
    })
}

/// Anthropic's JSONL results.
pub(crate) fn anthropic_results(b: &MockBatch) -> String {
    let mut out = String::new();
    for (cid, o) in &b.items {
        let result = match o {
            ItemOutcome::Answer(body) => json!({"type": "succeeded", "message": body}),
            ItemOutcome::Errored => {
                json!({"type": "errored", "error": {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded (injected batch fault)"}}})
            }
            ItemOutcome::Invalid(m) => {
                json!({"type": "errored", "error": {"type": "error", "error": {"type": "invalid_request_error", "message": m}}})
            }
            ItemOutcome::Expired => json!({"type": "expired"}),
        };
        out.push_str(&json!({"custom_id": cid, "result": result}).to_string());
        out.push('\n');
    }
    out
}

/// OpenAI's batch object.
pub(crate) fn openai_status(b: &MockBatch, config: &MockConfig) -> Value {
    let ended = b.ended(config);
    let (ok, err, exp) = b.counts();
    json!({
        "id": b.id,
        "object": "batch",
        "endpoint": "/v1/chat/completions",
        "completion_window": "24h",
        "status": if ended { "completed" } else { "in_progress" },
        "created_at": b.created_unix,
        "request_counts": if ended {
            json!({"total": b.items.len(), "completed": ok, "failed": err + exp})
        } else {
            json!({"total": b.items.len(), "completed": 0, "failed": 0})
        },
        "output_file_id": if ended { b.output_file.clone().map(Value::String).unwrap_or(Value::Null) } else { Value::Null },
        "error_file_id": if ended { b.error_file.clone().map(Value::String).unwrap_or(Value::Null) } else { Value::Null },
        "metadata": b.label,
    })
}

/// OpenAI's output and error files: (output JSONL, error JSONL).
pub(crate) fn openai_files(b: &MockBatch) -> (String, String) {
    let (mut out, mut err) = (String::new(), String::new());
    for (i, (cid, o)) in b.items.iter().enumerate() {
        let line = match o {
            ItemOutcome::Answer(body) => {
                json!({"id": format!("batch_req_{i}"), "custom_id": cid, "response": {"status_code": 200, "request_id": format!("req_{i}"), "body": body}, "error": null})
            }
            ItemOutcome::Errored => {
                json!({"id": format!("batch_req_{i}"), "custom_id": cid, "response": {"status_code": 500, "request_id": format!("req_{i}"), "body": {"error": {"message": "internal error (injected batch fault)", "type": "server_error"}}}, "error": null})
            }
            ItemOutcome::Invalid(m) => {
                json!({"id": format!("batch_req_{i}"), "custom_id": cid, "response": {"status_code": 400, "request_id": format!("req_{i}"), "body": {"error": {"message": m, "type": "invalid_request_error"}}}, "error": null})
            }
            ItemOutcome::Expired => {
                json!({"id": format!("batch_req_{i}"), "custom_id": cid, "response": null, "error": {"code": "batch_expired", "message": "This request could not be executed before the completion window expired."}})
            }
        };
        let target = if matches!(
            o,
            ItemOutcome::Answer(_) | ItemOutcome::Errored | ItemOutcome::Invalid(_)
        ) {
            &mut out
        } else {
            &mut err
        };
        target.push_str(&line.to_string());
        target.push('\n');
    }
    (out, err)
}

/// Gemini's batch operation.
pub(crate) fn google_operation(b: &MockBatch, config: &MockConfig) -> Value {
    let ended = b.ended(config);
    let (ok, err, exp) = b.counts();
    let n = b.items.len() as u64;
    let name = format!("batches/{}", b.id);
    let mut op = json!({
        "name": name,
        "metadata": {
            "@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch",
            "name": name,
            "displayName": b.label,
            "state": if ended { "BATCH_STATE_SUCCEEDED" } else { "BATCH_STATE_RUNNING" },
            "batchStats": if ended {
                json!({"requestCount": n.to_string(), "successfulRequestCount": ok.to_string(), "failedRequestCount": (err + exp).to_string()})
            } else {
                json!({"requestCount": n.to_string(), "pendingRequestCount": n.to_string()})
            },
        },
        "done": ended,
    });
    if ended {
        let responses: Vec<Value> = b
            .items
            .iter()
            .map(|(cid, o)| match o {
                ItemOutcome::Answer(body) => json!({"response": body, "metadata": {"key": cid}}),
                ItemOutcome::Errored => json!({"error": {"code": 13, "message": "internal error (injected batch fault)"}, "metadata": {"key": cid}}),
                ItemOutcome::Expired => json!({"error": {"code": 4, "message": "deadline exceeded (injected batch fault)"}, "metadata": {"key": cid}}),
                ItemOutcome::Invalid(m) => json!({"error": {"code": 3, "message": m}, "metadata": {"key": cid}}),
            })
            .collect();
        op["response"] = json!({
            "@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatchOutput",
            "inlinedResponses": {"inlinedResponses": responses},
        });
    }
    op
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_upload_is_read() {
        let body = b"--B\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.jsonl\"\r\nContent-Type: application/jsonl\r\n\r\n{\"a\":1}\n{\"b\":2}\n\r\n--B--\r\n";
        assert_eq!(
            multipart_file("multipart/form-data; boundary=B", body).as_deref(),
            Some("{\"a\":1}\n{\"b\":2}\n")
        );
        assert_eq!(multipart_file("application/json", body), None);
    }
}
