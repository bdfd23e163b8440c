//! The axum server: routing, fault decisions, latency, and the request log.

use crate::answers::{canned_answer, reasoning_for};
use crate::config::{FaultKind, MockConfig};
use crate::protocol::{
    answer_body, error_body, parse_request, tokens, CacheUse, Choice, Finish, Protocol,
    ReasoningAsk,
};
use crate::record::{prompt_key, MockStats, RecordedRequest};
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
    stats: MockStats,
    answered_per_prompt: HashMap<String, u64>,
    requests: Vec<RecordedRequest>,
    last_headers: Vec<(String, String)>,
    /// Prompt-cache entries (by prefix key) readable by later requests.
    cached: HashSet<String>,
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
        .route("/mock/stats", get(stats))
        .route("/health", get(|| async { "ok" }))
        .with_state(shared)
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
        Err(msg) => return error(protocol, 400, &msg, None),
    };
    let pkey = prompt_key(&info.model, &info.system, &info.user, info.seed);
    // The prompt cache: what this request's prefix is, and how many tokens of it count.
    let input_tokens = tokens(&info.system) + tokens(&info.user);
    let cache_entry: Option<(String, u64)> = match protocol {
        Protocol::Anthropic => info.cache_prefix.as_ref().map(|p| {
            let n = if p.len() == info.system.len() + info.user.len() {
                input_tokens
            } else {
                tokens(p).min(input_tokens)
            };
            (prompt_key(&info.model, p, "", None), n)
        }),
        // Automatic caching of a repeated prompt: OpenAI in 128-token blocks.
        Protocol::OpenAi => Some((
            prompt_key(&info.model, &info.system, &info.user, None),
            input_tokens / 128 * 128,
        )),
        Protocol::Google => Some((
            prompt_key(&info.model, &info.system, &info.user, None),
            input_tokens,
        )),
    }
    .filter(|(_, n)| *n >= config.min_cacheable_tokens);
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
        let cache = match &cache_entry {
            Some((k, n)) if log.cached.contains(k) => CacheUse { write: 0, read: *n },
            Some((_, n)) if protocol == Protocol::Anthropic => CacheUse { write: *n, read: 0 },
            _ => CacheUse::default(),
        };
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
    let texts: Vec<String> = (0..u64::from(info.choices.max(1))).map(text_of).collect();
    let text = texts[0].clone();
    let respond = |first: &str, finish: Finish| -> (String, Response) {
        let choices: Vec<Choice> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let t = if i == 0 { first } else { t.as_str() };
                Choice {
                    text: t.to_string(),
                    reasoning: wants_reasoning.then(|| reasoning_for(&texts[i])),
                }
            })
            .collect();
        let body = answer_body(protocol, &info, &choices, finish, &id, cache);
        {
            let mut log = shared.log.lock().expect("log lock");
            if let Some((k, _)) = &cache_entry {
                log.cached.insert(k.clone());
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
