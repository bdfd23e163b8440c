//! The axum server: routing, fault decisions, latency, and the request log.

use crate::answers::{canned_answer, reasoning_for, scripted, Scripted};
use crate::cache::CachePlan;
use crate::config::{FaultKind, MockConfig};
use crate::protocol::{
    answer_body, error_body, parse_request, BadRequest, Choice, Finish, Protocol, ReasoningAsk,
};
use crate::record::{prompt_key, MockStats, RawRequest, RecordedRequest};
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State as AxState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, RwLock};
use tokio::net::TcpSocket;
use tokio::task::JoinHandle;

/// Everything the handlers share.
struct Shared {
    config: RwLock<MockConfig>,
    log: Mutex<Log>,
}

#[derive(Default)]
struct Log {
    batches: crate::batch::Batches,
    stats: MockStats,
    answered_per_prompt: HashMap<String, u64>,
    requests: Vec<RecordedRequest>,
    /// Every HTTP request as it arrived (while `record_bodies` is on).
    raw: Vec<RawRequest>,
    last_headers: Vec<(String, String)>,
    /// Prompt-cache entries (by prefix key) readable by later requests.
    cached: HashSet<String>,
    /// Requests seen per (conversation, step) of an agent policy with a step fault.
    step_requests: HashMap<(String, u32), u32>,
}

/// A running mock server on 127.0.0.1. Stops accepting when dropped.
pub struct MockServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for MockServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockServer")
            .field("addr", &self.addr)
            .finish()
    }
}

impl MockServer {
    /// Binds 127.0.0.1:`config.port` and serves in a background task of the current runtime.
    pub async fn start(config: MockConfig) -> std::io::Result<MockServer> {
        let socket = TcpSocket::new_v4()?;
        socket.set_reuseaddr(true)?;
        socket.bind(SocketAddr::from((Ipv4Addr::LOCALHOST, config.port)))?;
        // A deep backlog: benchmarks open 1,000+ connections in one burst.
        let listener = socket.listen(4096)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            config: RwLock::new(config),
            log: Mutex::new(Log::default()),
        });
        let app = router(shared.clone());
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("misalign-mock: server stopped: {e}");
            }
        });
        Ok(MockServer { addr, shared, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (Anthropic and Gemini base URL).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT/v1` (OpenAI-compatible base URL).
    pub fn openai_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Changes the behaviour of the running server (e.g. stop injecting faults).
    pub fn update_config(&self, f: impl FnOnce(&mut MockConfig)) {
        f(&mut self.shared.config.write().expect("config lock"));
    }

    /// Counters since start (or the last [`MockServer::reset`]).
    pub fn stats(&self) -> MockStats {
        self.shared.log.lock().expect("log lock").stats.clone()
    }

    /// Model requests received so far.
    pub fn request_count(&self) -> u64 {
        self.shared.log.lock().expect("log lock").stats.requests
    }

    /// Every request received, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.log.lock().expect("log lock").requests.clone()
    }

    /// Every HTTP request received (model calls, batch submissions, polls), in arrival
    /// order, with its body bytes as sent; empty while `record_bodies` is off.
    pub fn raw_requests(&self) -> Vec<RawRequest> {
        self.shared.log.lock().expect("log lock").raw.clone()
    }

    /// The most recent request, if any.
    pub fn last_request(&self) -> Option<RecordedRequest> {
        self.shared
            .log
            .lock()
            .expect("log lock")
            .requests
            .last()
            .cloned()
    }

    /// Headers of the most recent request (names lower-cased).
    pub fn last_headers(&self) -> Vec<(String, String)> {
        self.shared
            .log
            .lock()
            .expect("log lock")
            .last_headers
            .clone()
    }

    /// Forgets every request and counter (the configuration stays).
    pub fn reset(&self) {
        *self.shared.log.lock().expect("log lock") = Log::default();
    }

    /// Serves until the process is stopped (for the binary).
    pub async fn wait(mut self) {
        let _ = (&mut self.task).await;
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(openai))
        .route("/chat/completions", post(openai))
        .route("/v1/messages", post(anthropic))
        .route("/messages", post(anthropic))
        .route("/v1beta/models/{model_action}", post(google))
        .route("/v1/models/{model_action}", post(google))
        .route("/v1/messages/batches", post(anthropic_batch_create))
        .route("/v1/messages/batches/{id}", get(anthropic_batch_get))
        .route(
            "/v1/messages/batches/{id}/results",
            get(anthropic_batch_results),
        )
        .route("/v1/files", post(openai_file_upload))
        .route("/v1/files/{id}/content", get(openai_file_content))
        .route(
            "/v1/batches",
            post(openai_batch_create).get(openai_batch_list),
        )
        .route("/v1/batches/{id}", get(openai_batch_get))
        .route("/v1beta/batches", get(google_batch_list))
        .route("/v1beta/batches/{id}", get(google_batch_get))
        .route("/mock/stats", get(stats))
        .route("/health", get(|| async { "ok" }))
        // Batch submissions are large (a study's 1,200 prompts of ~12 kB each); the
        // providers take up to 256 MB per batch, axum's default is 2 MB.
        .layer(axum::extract::DefaultBodyLimit::max(256 * 1024 * 1024))
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            record_raw,
        ))
        .with_state(shared)
}

/// Keeps each request's bytes as they arrived, before any handler parses them.
async fn record_raw(
    AxState(shared): AxState<Arc<Shared>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if !shared.config.read().expect("config lock").record_bodies {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, 256 * 1024 * 1024).await {
        Ok(b) => b,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let headers = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    shared.log.lock().expect("log lock").raw.push(RawRequest {
        method: parts.method.to_string(),
        target: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_string(), |p| p.as_str().to_string()),
        headers,
        body: bytes.to_vec(),
    });
    next.run(axum::extract::Request::from_parts(parts, Body::from(bytes)))
        .await
}

async fn stats(AxState(shared): AxState<Arc<Shared>>) -> Json<MockStats> {
    Json(shared.log.lock().expect("log lock").stats.clone())
}

async fn openai(
    AxState(shared): AxState<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let key = bearer(&headers);
    handle(shared, Protocol::OpenAi, None, key, uri, headers, body).await
}

async fn anthropic(
    AxState(shared): AxState<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let key = header_str(&headers, "x-api-key");
    handle(shared, Protocol::Anthropic, None, key, uri, headers, body).await
}

async fn google(
    AxState(shared): AxState<Arc<Shared>>,
    Path(model_action): Path<String>,
    RawQuery(query): RawQuery,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(model) = model_action.strip_suffix(":batchGenerateContent") {
        if !batch_authorized(&shared, &headers, query.as_deref()) {
            return error(Protocol::Google, 401, "invalid or missing API key", None);
        }
        return google_batch_create(shared, model, body);
    }
    let Some(model) = model_action.strip_suffix(":generateContent") else {
        let msg = format!("unsupported method in `{model_action}`; only :generateContent");
        return error(Protocol::Google, 404, &msg, None);
    };
    let key = header_str(&headers, "x-goog-api-key").or_else(|| {
        query.as_deref().and_then(|q| {
            q.split('&')
                .find_map(|kv| kv.strip_prefix("key=").map(str::to_string))
        })
    });
    let model = model.to_string();
    handle(
        shared,
        Protocol::Google,
        Some(model),
        key,
        uri,
        headers,
        body,
    )
    .await
}

fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    header_str(headers, "authorization").and_then(|v| v.strip_prefix("Bearer ").map(str::to_string))
}

fn error(protocol: Protocol, status: u16, message: &str, retry_after: Option<u64>) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (code, Json(error_body(protocol, status, message))).into_response();
    if let Some(secs) = retry_after {
        resp.headers_mut()
            .insert("retry-after", HeaderValue::from(secs));
    }
    resp
}

/// splitmix64: a cheap, well-mixed hash step for seeded decisions.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

async fn handle(
    shared: Arc<Shared>,
    protocol: Protocol,
    path_model: Option<String>,
    key: Option<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let config = shared.config.read().expect("config lock").clone();
    let json: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return error(
                protocol,
                400,
                &format!("request body is not JSON: {e}"),
                None,
            );
        }
    };
    let info = match parse_request(protocol, path_model.as_deref(), &json) {
        Ok(i) => i,
        Err(bad) => return error(protocol, 400, &bad.to_string(), None),
    };
    let pkey = prompt_key(&info.model, &info.system, &info.user, info.seed);
    // The prompt cache: this request's prefixes, and how many tokens of each count.
    let cache_plan = CachePlan::new(protocol, &info, config.min_cacheable_tokens);
    let step = info.assistant_turns + 1;
    let step_fault = crate::agent::policy_for(&config, &info).and_then(|p| p.fault_at(step));
    let key_hash = u64::from_str_radix(&pkey, 16).unwrap_or(0);
    let header_list: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let authorized = config
        .api_key
        .as_deref()
        .is_none_or(|want| key.as_deref() == Some(want));
    let forced = header_str(&headers, "x-mock-fault").and_then(|v| v.parse::<FaultKind>().ok());

    // Decide and record under one lock, so concurrent retries see consistent attempt numbers.
    let (attempt, fault, serial, marker, cache, record_index) = {
        let mut log = shared.log.lock().expect("log lock");
        log.stats.requests += 1;
        log.stats.in_flight += 1;
        log.stats.max_in_flight = log.stats.max_in_flight.max(log.stats.in_flight);
        let serial = log.stats.requests;
        let attempt = {
            let n = log.stats.per_prompt.entry(pkey.clone()).or_insert(0);
            *n += 1;
            *n
        };
        log.stats.max_per_prompt = log.stats.max_per_prompt.max(attempt);
        let fault = if !authorized {
            log.stats.unauthorized += 1;
            Some(FaultKind::Unauthorized)
        } else if forced.is_some() {
            forced
        } else if let Some(kind) = step_fault.and_then(|(times, kind)| {
            let key = (info.conversation.clone(), step);
            let seen = log.step_requests.entry(key).or_insert(0);
            *seen += 1;
            (*seen <= times).then_some(kind)
        }) {
            Some(kind)
        } else if attempt <= u64::from(config.fail_first) {
            Some(config.fail_first_kind)
        } else if config.fault_rate > 0.0 && !config.fault_kinds.is_empty() {
            let h = mix(config.seed ^ mix(key_hash ^ mix(attempt)));
            (unit(h) < config.fault_rate)
                .then(|| config.fault_kinds[(mix(h) % config.fault_kinds.len() as u64) as usize])
        } else {
            None
        };
        if let Some(f) = fault {
            if authorized {
                *log.stats.faults.entry(f.as_str().to_string()).or_insert(0) += 1;
            }
        }
        let answers_before = match fault {
            None | Some(FaultKind::Slow | FaultKind::ContentFilter | FaultKind::Empty) => {
                log.stats.answered += 1;
                let n = log.answered_per_prompt.entry(pkey.clone()).or_insert(0);
                *n += 1;
                *n - 1
            }
            _ => 0,
        };
        // A new entry becomes readable once its writer's reply is out (below), so requests
        // that arrive meanwhile write (Anthropic) or miss it too, as with a real provider.
        let cache = cache_plan
            .as_ref()
            .map(|p| p.lookup(&log.cached))
            .unwrap_or_default();
        log.last_headers = header_list.clone();
        log.requests.push(RecordedRequest {
            protocol: protocol.name(),
            path: uri.path().to_string(),
            headers: header_list,
            body: if config.record_bodies {
                json
            } else {
                serde_json::Value::Null
            },
            prompt_key: pkey.clone(),
            attempt,
            fault: fault.map(|f| f.as_str().to_string()),
            usage: None,
        });
        let record_index = log.requests.len() - 1;
        (
            attempt,
            fault,
            serial,
            info.seed.unwrap_or(answers_before),
            cache,
            record_index,
        )
    };

    let mut delay = config.latency;
    if !config.jitter.is_zero() {
        let h = unit(mix(key_hash ^ attempt.rotate_left(17) ^ config.seed));
        delay += config.jitter.mul_f64(h);
    }
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    {
        let mut log = shared.log.lock().expect("log lock");
        log.stats.in_flight = log.stats.in_flight.saturating_sub(1);
    }

    let id = format!("mock{serial:010}");
    let by_content = config
        .answers_by_content
        .iter()
        .find(|(needle, _)| info.system.contains(needle) || info.user.contains(needle));
    let text_of = |k: u64| {
        if let Some((_, answer)) = by_content {
            answer.clone()
        } else if config.answers.is_empty() {
            canned_answer(&info.system, &info.user, marker + k)
        } else {
            let i = (serial as usize - 1 + k as usize) % config.answers.len();
            config.answers[i].clone()
        }
    };
    let wants_reasoning = info.reasoning != ReasoningAsk::None || config.always_reasoning;
    // Scripted tool calls replace the text answer; a scripted finish is the text.
    let (calls, call_stem, fixed) = match scripted(&config, &info) {
        Scripted::Nothing => (Vec::new(), id.clone(), None),
        Scripted::Calls { calls, stem } => (calls, stem.unwrap_or_else(|| id.clone()), None),
        Scripted::Text(t) => (Vec::new(), id.clone(), Some(t)),
    };
    let texts: Vec<String> = (0..u64::from(info.choices.max(1)))
        .map(|k| match &fixed {
            Some(t) => t.clone(),
            None if calls.is_empty() => text_of(k),
            None => String::new(),
        })
        .collect();
    let text = texts[0].clone();
    // `first` replaces the first choice's answer; an `Empty` fault empties its calls too.
    let respond = |first: &str, finish: Finish| -> (String, Response) {
        let emptied = fault == Some(FaultKind::Empty);
        let choices: Vec<Choice> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let t = if i == 0 { first } else { t.as_str() };
                Choice {
                    text: t.to_string(),
                    reasoning: wants_reasoning.then(|| reasoning_for(&texts[i])),
                    tool_calls: if i == 0 && emptied {
                        Vec::new()
                    } else {
                        calls.clone()
                    },
                    call_stem: call_stem.clone(),
                }
            })
            .collect();
        let body = answer_body(protocol, &info, &choices, finish, &id, cache);
        {
            let mut log = shared.log.lock().expect("log lock");
            if let Some(plan) = &cache_plan {
                log.cached.extend(plan.written().cloned());
            }
            let usage = body
                .get("usage")
                .or_else(|| body.get("usageMetadata"))
                .cloned();
            if let Some(r) = log.requests.get_mut(record_index) {
                if r.prompt_key == pkey && r.attempt == attempt {
                    r.usage = usage;
                }
            }
        }
        let s = body.to_string();
        let mut resp = (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            s.clone(),
        )
            .into_response();
        if let Ok(v) = HeaderValue::from_str(&id) {
            resp.headers_mut().insert(protocol.request_id_header(), v);
        }
        (s, resp)
    };

    match fault {
        None => respond(&text, Finish::Normal).1,
        Some(FaultKind::Unauthorized) => {
            let msg = if authorized {
                "invalid x-api-key (injected fault)"
            } else {
                "invalid or missing API key"
            };
            error(protocol, 401, msg, None)
        }
        Some(FaultKind::RateLimited) => error(
            protocol,
            429,
            "rate limit reached, slow down (injected fault)",
            Some(config.retry_after_secs),
        ),
        Some(FaultKind::ServerError) => {
            error(protocol, 500, "internal error (injected fault)", None)
        }
        Some(FaultKind::Overloaded) => error(protocol, 529, "overloaded (injected fault)", None),
        Some(FaultKind::Unavailable) => {
            error(protocol, 503, "service unavailable (injected fault)", None)
        }
        Some(FaultKind::Slow) => {
            tokio::time::sleep(config.slow).await;
            respond(&text, Finish::Normal).1
        }
        Some(FaultKind::ContentFilter) => respond(&text, Finish::ContentFilter).1,
        Some(FaultKind::Empty) => respond("", Finish::Normal).1,
        Some(FaultKind::Truncated) => {
            let (full, _) = respond(&text, Finish::Normal);
            let half = full[..full.len() / 2].to_string();
            (
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                half,
            )
                .into_response()
        }
        Some(FaultKind::Drop) => {
            let (full, _) = respond(&text, Finish::Normal);
            let half = Bytes::from(full[..full.len() / 2].to_string());
            // Half the body goes out (with the status line), then the stream errors, which
            // makes hyper abort the connection: the client sees a reply that breaks off.
            let chunks = futures_util::stream::unfold(Some(half), |state| async move {
                match state {
                    Some(half) => Some((Ok::<Bytes, std::io::Error>(half), None)),
                    None => {
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                        let reset = std::io::ErrorKind::ConnectionReset;
                        Some((
                            Err(std::io::Error::new(reset, "injected connection drop")),
                            None,
                        ))
                    }
                }
            });
            Response::builder()
                .status(StatusCode::OK)
                .header("content-type", "application/json")
                .body(Body::from_stream(chunks))
                .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
    }
}

// ---- batch APIs (state and bodies in batch.rs) ----

fn batch_authorized(shared: &Shared, headers: &HeaderMap, query: Option<&str>) -> bool {
    let config = shared.config.read().expect("config lock");
    let Some(want) = config.api_key.as_deref() else {
        return true;
    };
    let from_query = query.and_then(|q| {
        q.split('&')
            .find_map(|kv| kv.strip_prefix("key=").map(str::to_string))
    });
    [
        header_str(headers, "x-api-key"),
        bearer(headers),
        header_str(headers, "x-goog-api-key"),
        from_query,
    ]
    .iter()
    .any(|k| k.as_deref() == Some(want))
}

fn json_reply(v: serde_json::Value) -> Response {
    Json(v).into_response()
}

fn text_reply(t: String) -> Response {
    ([(axum::http::header::CONTENT_TYPE, "application/jsonl")], t).into_response()
}

/// A reply whose connection breaks after the status line: the client never learns the id.
fn lost_reply() -> Response {
    let chunks = futures_util::stream::unfold(true, |first| async move {
        if first {
            Some((
                Ok::<Bytes, std::io::Error>(Bytes::from_static(b"{\"id\":")),
                false,
            ))
        } else {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            Some((
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "injected lost reply",
                )),
                false,
            ))
        }
    });
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .body(Body::from_stream(chunks))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// Creates a batch of (custom id, request body); `None` when the reply is to be lost.
fn create_batch(
    shared: &Shared,
    protocol: Protocol,
    id_prefix: &str,
    label: serde_json::Value,
    path_model: Option<&str>,
    entries: Vec<(String, serde_json::Value)>,
) -> (crate::batch::MockBatch, bool) {
    let config = shared.config.read().expect("config lock").clone();
    let mut log = shared.log.lock().expect("log lock");
    let log = &mut *log;
    log.batches.next += 1;
    let n = log.batches.next;
    log.stats.batches_created += 1;
    let lose = log.stats.batches_created <= u64::from(config.batch_lose_replies);
    let mut items = Vec::with_capacity(entries.len());
    for (cid, body) in entries {
        let sub = {
            let c = log.stats.batch_submissions.entry(cid.clone()).or_insert(0);
            *c += 1;
            *c
        };
        let serial = log.stats.answered + 1;
        let outcome = crate::batch::decide(
            &config,
            &mut log.requests,
            &mut log.cached,
            &mut log.answered_per_prompt,
            &mut log.stats.answered,
            protocol,
            path_model,
            &cid,
            sub,
            &body,
            serial,
        );
        items.push((cid, outcome));
    }
    let mut b = crate::batch::MockBatch {
        protocol,
        id: format!("{id_prefix}{n:08}"),
        label,
        created: std::time::Instant::now(),
        created_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        items,
        output_file: None,
        error_file: None,
    };
    if protocol == Protocol::OpenAi {
        let (out, err) = crate::batch::openai_files(&b);
        let out_id = format!("file-out{n:08}");
        log.batches.files.insert(out_id.clone(), out);
        b.output_file = Some(out_id);
        if !err.is_empty() {
            let err_id = format!("file-err{n:08}");
            log.batches.files.insert(err_id.clone(), err);
            b.error_file = Some(err_id);
        }
    }
    log.batches.batches.push(b.clone());
    (b, lose)
}

fn find_batch(shared: &Shared, protocol: Protocol, id: &str) -> Option<crate::batch::MockBatch> {
    let log = shared.log.lock().expect("log lock");
    log.batches
        .batches
        .iter()
        .find(|b| b.protocol == protocol && b.id == id)
        .cloned()
}

fn entries_of(
    list: Option<&Vec<serde_json::Value>>,
    id_at: &str,
    body_at: &str,
) -> Result<Vec<(String, serde_json::Value)>, BadRequest> {
    let list = list.ok_or(BadRequest::NoRequests)?;
    list.iter()
        .map(|e| {
            let id = e
                .pointer(id_at)
                .and_then(serde_json::Value::as_str)
                .ok_or_else(|| BadRequest::EntryLacks(id_at.to_string()))?;
            let body = e
                .pointer(body_at)
                .cloned()
                .ok_or_else(|| BadRequest::EntryLacks(body_at.to_string()))?;
            Ok((id.to_string(), body))
        })
        .collect()
}

async fn anthropic_batch_create(
    AxState(shared): AxState<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !batch_authorized(&shared, &headers, None) {
        return error(Protocol::Anthropic, 401, "invalid x-api-key", None);
    }
    let json: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return error(Protocol::Anthropic, 400, &format!("not JSON: {e}"), None),
    };
    let entries = match entries_of(
        json.get("requests").and_then(serde_json::Value::as_array),
        "/custom_id",
        "/params",
    ) {
        Ok(e) => e,
        Err(bad) => return error(Protocol::Anthropic, 400, &bad.to_string(), None),
    };
    let (b, lose) = create_batch(
        &shared,
        Protocol::Anthropic,
        "msgbatch_mock",
        serde_json::Value::Null,
        None,
        entries,
    );
    if lose {
        return lost_reply();
    }
    let config = shared.config.read().expect("config lock").clone();
    json_reply(crate::batch::anthropic_status(&b, &config, "x"))
}

async fn anthropic_batch_get(
    AxState(shared): AxState<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !batch_authorized(&shared, &headers, None) {
        return error(Protocol::Anthropic, 401, "invalid x-api-key", None);
    }
    let config = shared.config.read().expect("config lock").clone();
    match find_batch(&shared, Protocol::Anthropic, &id) {
        Some(b) => json_reply(crate::batch::anthropic_status(&b, &config, "x")),
        None => error(Protocol::Anthropic, 404, "no such batch", None),
    }
}

async fn anthropic_batch_results(
    AxState(shared): AxState<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !batch_authorized(&shared, &headers, None) {
        return error(Protocol::Anthropic, 401, "invalid x-api-key", None);
    }
    let config = shared.config.read().expect("config lock").clone();
    match find_batch(&shared, Protocol::Anthropic, &id) {
        Some(b) if b.ended(&config) => text_reply(crate::batch::anthropic_results(&b)),
        Some(_) => error(Protocol::Anthropic, 400, "the batch has not ended", None),
        None => error(Protocol::Anthropic, 404, "no such batch", None),
    }
}

async fn openai_file_upload(
    AxState(shared): AxState<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !batch_authorized(&shared, &headers, None) {
        return error(Protocol::OpenAi, 401, "invalid api key", None);
    }
    let ct = header_str(&headers, "content-type").unwrap_or_default();
    let Some(content) = crate::batch::multipart_file(&ct, &body) else {
        return error(
            Protocol::OpenAi,
            400,
            "expected a multipart upload with a `file` part",
            None,
        );
    };
    let mut log = shared.log.lock().expect("log lock");
    log.batches.next += 1;
    let id = format!("file-in{:08}", log.batches.next);
    let bytes = content.len();
    log.batches.files.insert(id.clone(), content);
    json_reply(serde_json::json!({"id": id, "object": "file", "purpose": "batch", "bytes": bytes}))
}

async fn openai_file_content(
    AxState(shared): AxState<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !batch_authorized(&shared, &headers, None) {
        return error(Protocol::OpenAi, 401, "invalid api key", None);
    }
    let log = shared.log.lock().expect("log lock");
    match log.batches.files.get(&id) {
        Some(t) => text_reply(t.clone()),
        None => error(Protocol::OpenAi, 404, "no such file", None),
    }
}

async fn openai_batch_create(
    AxState(shared): AxState<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !batch_authorized(&shared, &headers, None) {
        return error(Protocol::OpenAi, 401, "invalid api key", None);
    }
    let json: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return error(Protocol::OpenAi, 400, &format!("not JSON: {e}"), None),
    };
    let file_id = json
        .get("input_file_id")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("");
    let content = shared
        .log
        .lock()
        .expect("log lock")
        .batches
        .files
        .get(file_id)
        .cloned();
    let Some(content) = content else {
        return error(Protocol::OpenAi, 404, "no such input file", None);
    };
    let mut lines = Vec::new();
    for line in content.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str::<serde_json::Value>(line) {
            Ok(v) => lines.push(v),
            Err(e) => {
                return error(
                    Protocol::OpenAi,
                    400,
                    &format!("a line is not JSON: {e}"),
                    None,
                )
            }
        }
    }
    let entries = match entries_of(Some(&lines), "/custom_id", "/body") {
        Ok(e) => e,
        Err(bad) => return error(Protocol::OpenAi, 400, &bad.to_string(), None),
    };
    let label = json
        .get("metadata")
        .cloned()
        .unwrap_or(serde_json::Value::Null);
    let (b, lose) = create_batch(
        &shared,
        Protocol::OpenAi,
        "batch_mock",
        label,
        None,
        entries,
    );
    if lose {
        return lost_reply();
    }
    let config = shared.config.read().expect("config lock").clone();
    json_reply(crate::batch::openai_status(&b, &config))
}

async fn openai_batch_get(
    AxState(shared): AxState<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !batch_authorized(&shared, &headers, None) {
        return error(Protocol::OpenAi, 401, "invalid api key", None);
    }
    let config = shared.config.read().expect("config lock").clone();
    match find_batch(&shared, Protocol::OpenAi, &id) {
        Some(b) => json_reply(crate::batch::openai_status(&b, &config)),
        None => error(Protocol::OpenAi, 404, "no such batch", None),
    }
}

async fn openai_batch_list(AxState(shared): AxState<Arc<Shared>>, headers: HeaderMap) -> Response {
    if !batch_authorized(&shared, &headers, None) {
        return error(Protocol::OpenAi, 401, "invalid api key", None);
    }
    let config = shared.config.read().expect("config lock").clone();
    let log = shared.log.lock().expect("log lock");
    let data: Vec<serde_json::Value> = log
        .batches
        .batches
        .iter()
        .rev()
        .filter(|b| b.protocol == Protocol::OpenAi)
        .map(|b| crate::batch::openai_status(b, &config))
        .collect();
    json_reply(serde_json::json!({"object": "list", "data": data}))
}

fn google_batch_create(shared: Arc<Shared>, model: &str, body: Bytes) -> Response {
    let json: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return error(Protocol::Google, 400, &format!("not JSON: {e}"), None),
    };
    let entries = match entries_of(
        json.pointer("/batch/inputConfig/requests/requests")
            .and_then(serde_json::Value::as_array),
        "/metadata/key",
        "/request",
    ) {
        Ok(e) => e,
        Err(bad) => return error(Protocol::Google, 400, &bad.to_string(), None),
    };
    let label = json
        .pointer("/batch/displayName")
        .cloned()
        .unwrap_or(serde_json::Value::Null);
    let (b, lose) = create_batch(
        &shared,
        Protocol::Google,
        "mockbatch",
        label,
        Some(model),
        entries,
    );
    if lose {
        return lost_reply();
    }
    let config = shared.config.read().expect("config lock").clone();
    json_reply(crate::batch::google_operation(&b, &config))
}

async fn google_batch_get(
    AxState(shared): AxState<Arc<Shared>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    if !batch_authorized(&shared, &headers, query.as_deref()) {
        return error(Protocol::Google, 401, "invalid or missing API key", None);
    }
    let config = shared.config.read().expect("config lock").clone();
    match find_batch(&shared, Protocol::Google, &id) {
        Some(b) => json_reply(crate::batch::google_operation(&b, &config)),
        None => error(Protocol::Google, 404, "no such batch", None),
    }
}

async fn google_batch_list(
    AxState(shared): AxState<Arc<Shared>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    if !batch_authorized(&shared, &headers, query.as_deref()) {
        return error(Protocol::Google, 401, "invalid or missing API key", None);
    }
    let config = shared.config.read().expect("config lock").clone();
    let log = shared.log.lock().expect("log lock");
    let ops: Vec<serde_json::Value> = log
        .batches
        .batches
        .iter()
        .rev()
        .filter(|b| b.protocol == Protocol::Google)
        .map(|b| crate::batch::google_operation(b, &config))
        .collect();
    json_reply(serde_json::json!({"operations": ops}))
}
