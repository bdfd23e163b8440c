//! The HTTP layer every wire protocol shares: endpoint choice (round robin over several base
//! URLs, or prompt affinity with bounded load for fleets), auth headers, per-call timeout,
//! and turning transport failures and error statuses into [`ProviderError`]s. API keys are held in [`ApiKey`], whose `Debug` is redacted, and
//! are scrubbed from any error text a server echoes back.

use crate::ProviderError;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use std::error::Error as _;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// How long an endpoint that refused a connection is skipped by the round robin.
const DOWN_FOR: Duration = Duration::from_secs(5);
/// Provider error messages are cut to this many characters.
const MAX_MESSAGE: usize = 300;
/// Values shorter than this (after trimming) are not scrubbed: too short to be a credential,
/// and replacing a short configured value (`x-mock-fault: filter`, `x-cache: true`) wherever
/// it occurs would garble answers and even protocol fields (`content_filter`).
pub const MIN_SECRET_LEN: usize = 8;

/// Whether `value` (an API key or a configured header value) is scrubbed from text.
pub fn is_scrubbed(value: &str) -> bool {
    value.trim().len() >= MIN_SECRET_LEN
}

/// What replaces a secret wherever misalign stores, prints or exports text: the one marker.
pub const REDACTED: &str = "[redacted]";

/// How many levels of JSON string escaping are undone when looking for a secret: a key in a
/// JSON string (`\/` for `/`, `\u0073` for `s`: level 1), in a JSON string inside one (a
/// model's JSON answer in the raw reply: level 2), and one more.
const ESCAPE_LEVELS: usize = 3;

/// Replaces every secret in `text` with [`REDACTED`]: the secret as it is, and every JSON
/// escaped form of it (any character as `\uXXXX` in either case, a UTF-16 surrogate pair
/// for characters beyond U+FFFF, `\/` for `/`, the short escapes), escaped up to
/// [`ESCAPE_LEVELS`] times over. A redacted span always covers whole escape sequences, so
/// JSON text stays JSON. The one redaction function: every stored, printed or exported
/// text goes through it.
pub fn scrub_secrets(text: &str, secrets: &[String]) -> String {
    let secrets: Vec<Vec<char>> = secrets
        .iter()
        .filter(|s| !s.is_empty())
        .map(|s| s.chars().collect())
        .collect();
    if secrets.is_empty() {
        return text.to_string();
    }
    let b = text.as_bytes();
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for (pos, c) in text.char_indices() {
        for secret in &secrets {
            // A secret starts with its first character or with an escape.
            if c != secret[0] && c != '\\' {
                continue;
            }
            let end = (0..=ESCAPE_LEVELS)
                .filter_map(|level| match_at(text, pos, secret, level))
                .max();
            if let Some(end) = end {
                // Never leave half an escape behind: a span that starts right after an odd
                // run of backslashes takes the last one along.
                let run = b[..pos].iter().rev().take_while(|&&x| x == b'\\').count();
                spans.push((if run % 2 == 1 { pos - 1 } else { pos }, end));
            }
        }
    }
    if spans.is_empty() {
        return text.to_string();
    }
    spans.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut open: Option<(usize, usize)> = None;
    for (s, e) in spans {
        match open {
            Some((os, oe)) if s <= oe => open = Some((os, oe.max(e))),
            Some((os, oe)) => {
                out.push_str(&text[last..os]);
                out.push_str(REDACTED);
                last = oe;
                open = Some((s, e));
            }
            None => open = Some((s, e)),
        }
    }
    if let Some((os, oe)) = open {
        out.push_str(&text[last..os]);
        out.push_str(REDACTED);
        last = oe;
    }
    out.push_str(&text[last..]);
    out
}

/// Where `secret` ends when `text` holds it from byte `pos` on, with `level` levels of JSON
/// escaping undone.
fn match_at(text: &str, pos: usize, secret: &[char], level: usize) -> Option<usize> {
    let mut p = pos;
    for &c in secret {
        let (d, next) = unescaped_char(text, p, level)?;
        if d != c {
            return None;
        }
        p = next;
    }
    Some(p)
}

/// The character at byte `pos` of `text` with `level` levels of JSON string escaping
/// undone, and the byte after it. A backslash that starts no valid escape stands for itself.
fn unescaped_char(text: &str, pos: usize, level: usize) -> Option<(char, usize)> {
    if level == 0 {
        let c = text.get(pos..)?.chars().next()?;
        return Some((c, pos + c.len_utf8()));
    }
    let below = level - 1;
    let (c, p1) = unescaped_char(text, pos, below)?;
    if c != '\\' {
        return Some((c, p1));
    }
    let Some((e, p2)) = unescaped_char(text, p1, below) else {
        return Some((c, p1));
    };
    let short = match e {
        '/' | '"' | '\\' => Some(e),
        'b' => Some('\u{8}'),
        'f' => Some('\u{c}'),
        'n' => Some('\n'),
        'r' => Some('\r'),
        't' => Some('\t'),
        _ => None,
    };
    if let Some(s) = short {
        return Some((s, p2));
    }
    if e != 'u' {
        return Some((c, p1));
    }
    let Some((unit, p3)) = hex_unit(text, p2, below) else {
        return Some((c, p1));
    };
    if (0xD800..0xDC00).contains(&unit) {
        let low = unescaped_char(text, p3, below)
            .filter(|&(x, _)| x == '\\')
            .and_then(|(_, q)| unescaped_char(text, q, below))
            .filter(|&(x, _)| x == 'u')
            .and_then(|(_, q)| hex_unit(text, q, below))
            .filter(|&(lo, _)| (0xDC00..0xE000).contains(&lo));
        if let Some((lo, p4)) = low {
            let cp = 0x10000 + ((u32::from(unit) - 0xD800) << 10) + (u32::from(lo) - 0xDC00);
            return Some((char::from_u32(cp)?, p4));
        }
    }
    Some((char::from_u32(u32::from(unit)).unwrap_or('\u{fffd}'), p3))
}

/// Four hex digits (either case) at `pos`, each read with `level` levels of escaping undone.
fn hex_unit(text: &str, pos: usize, level: usize) -> Option<(u16, usize)> {
    let mut p = pos;
    let mut v: u16 = 0;
    for _ in 0..4 {
        let (c, next) = unescaped_char(text, p, level)?;
        v = v * 16 + c.to_digit(16)? as u16;
        p = next;
    }
    Some((v, p))
}

/// Scrubs every string (keys included) inside a JSON value.
fn scrub_json(v: &mut serde_json::Value, secrets: &[String]) {
    match v {
        serde_json::Value::String(s) => *s = scrub_secrets(s, secrets),
        serde_json::Value::Array(a) => a.iter_mut().for_each(|x| scrub_json(x, secrets)),
        serde_json::Value::Object(o) => {
            let keys: Vec<String> = o.keys().cloned().collect();
            for k in keys {
                if let Some(mut x) = o.remove(&k) {
                    scrub_json(&mut x, secrets);
                    o.insert(scrub_secrets(&k, secrets), x);
                }
            }
        }
        _ => {}
    }
}

/// An API key. `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        ApiKey(key.into())
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({REDACTED})")
    }
}

/// How the key travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthStyle {
    /// `Authorization: Bearer KEY` (OpenAI-shaped APIs).
    Bearer,
    /// A named header holding the key (`x-api-key`, `x-goog-api-key`).
    Header(&'static str),
}

/// Options for building a client.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Whole-call timeout (connect, send, wait, read).
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Largest reply body read (`execution.max_reply_bytes`): reading stops there and the
    /// call fails with [`ProviderError::TooLarge`], so an endless or huge reply cannot take
    /// the memory. Batch result files, which hold many answers, get [`BATCH_RESULTS_FACTOR`]
    /// times this.
    pub max_reply_bytes: u64,
}

/// The default of `execution.max_reply_bytes`: 8 MiB, far above any real answer (a
/// 128k-token answer with its JSON envelope is well under 2 MiB).
pub const DEFAULT_MAX_REPLY_BYTES: u64 = 8 * 1024 * 1024;

/// A batch's result file holds many answers: it may be this many times `max_reply_bytes`.
pub const BATCH_RESULTS_FACTOR: u64 = 128;

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            timeout: Duration::from_secs(300),
            connect_timeout: Duration::from_secs(10),
            max_reply_bytes: DEFAULT_MAX_REPLY_BYTES,
        }
    }
}

/// What a request carries.
pub enum Payload<'a> {
    Json(&'a serde_json::Value),
    /// A body built by the caller (a multipart upload).
    Bytes {
        content_type: String,
        body: Vec<u8>,
    },
    Empty,
}

/// A successful (2xx) reply whose body parsed as JSON.
pub struct JsonReply {
    pub body: serde_json::Value,
    pub raw: String,
    pub headers: HeaderMap,
}

impl JsonReply {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

/// How far above an even share of the calls in flight one replica may go before a prompt
/// that prefers it goes to its next choice (consistent hashing with bounded loads).
pub const LOAD_BOUND: f64 = 1.25;

/// Several base URLs behind one round robin (or prompt affinity, [`Endpoints::pick_affine`]);
/// one that just refused a connection is skipped for a few seconds unless every one is down.
struct Endpoints {
    urls: Vec<String>,
    next: AtomicUsize,
    down_until: Mutex<Vec<Option<Instant>>>,
    /// Calls in flight per endpoint (changed under `down_until`'s lock when picking).
    in_flight: Vec<AtomicUsize>,
}

/// Holds one endpoint's in-flight slot for the duration of a call.
struct InFlight<'a> {
    endpoints: &'a Endpoints,
    i: usize,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.endpoints.in_flight[self.i].fetch_sub(1, Ordering::Relaxed);
    }
}

/// splitmix64 finaliser: a well-mixed 64-bit hash step.
fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a of a URL: the replica's identity in rendezvous scores, so adding or reordering
/// replicas moves only the prompts that must move.
fn url_hash(url: &str) -> u64 {
    url.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

impl Endpoints {
    fn new(urls: Vec<String>) -> Self {
        let n = urls.len();
        Endpoints {
            urls,
            next: AtomicUsize::new(0),
            down_until: Mutex::new(vec![None; n]),
            in_flight: (0..n).map(|_| AtomicUsize::new(0)).collect(),
        }
    }

    fn hold(&self, i: usize) -> InFlight<'_> {
        self.in_flight[i].fetch_add(1, Ordering::Relaxed);
        InFlight { endpoints: self, i }
    }

    /// The replica for a prompt with affinity key `key`: replicas in rendezvous order
    /// (highest `mix(key, url)` first), skipping those that are down, the first one holding
    /// fewer calls than [`LOAD_BOUND`] x an even share of everything in flight. A prompt keeps
    /// its replica (and that replica's prefix cache) unless the replica is overloaded or down.
    fn pick_affine(&self, key: u64) -> InFlight<'_> {
        let n = self.urls.len();
        if n == 1 {
            return self.hold(0);
        }
        let now = Instant::now();
        // Choosing and counting under one lock keeps concurrent picks from all seeing the
        // same light replica.
        let down = self.down_until.lock().unwrap_or_else(|e| e.into_inner());
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(mix64(key ^ url_hash(&self.urls[i]))));
        let up: Vec<usize> = order
            .iter()
            .copied()
            .filter(|&i| down[i].is_none_or(|t| t <= now))
            .collect();
        let candidates = if up.is_empty() { &order } else { &up };
        let total: usize = self
            .in_flight
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum();
        let cap = (((total + 1) as f64 * LOAD_BOUND) / n as f64).ceil() as usize;
        let chosen = candidates
            .iter()
            .copied()
            .find(|&i| self.in_flight[i].load(Ordering::Relaxed) < cap.max(1))
            .unwrap_or(candidates[0]);
        let held = self.hold(chosen);
        drop(down);
        held
    }

    fn pick(&self) -> usize {
        let n = self.urls.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        if n == 1 {
            return 0;
        }
        let now = Instant::now();
        let down = self.down_until.lock().unwrap_or_else(|e| e.into_inner());
        (0..n)
            .map(|i| (start + i) % n)
            .find(|&i| down[i].is_none_or(|t| t <= now))
            .unwrap_or(start % n)
    }

    fn mark_down(&self, i: usize) {
        let mut down = self.down_until.lock().unwrap_or_else(|e| e.into_inner());
        down[i] = Some(Instant::now() + DOWN_FOR);
    }
}

/// One provider's HTTP transport.
pub struct Transport {
    client: reqwest::Client,
    endpoints: Endpoints,
    key: Option<ApiKey>,
    auth: AuthStyle,
    headers: HeaderMap,
    timeout: Duration,
    max_reply_bytes: u64,
    /// The key and every configured header value: scrubbed from whatever a server sends
    /// back (it may echo the request).
    secrets: Vec<String>,
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Header values may hold secrets of their own (gateway tokens): names only.
        let header_names: Vec<&str> = self.headers.keys().map(HeaderName::as_str).collect();
        f.debug_struct("Transport")
            .field("base_urls", &self.endpoints.urls)
            .field("key", &self.key.as_ref().map(|_| REDACTED))
            .field("auth", &self.auth)
            .field("headers", &header_names)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Transport {
    /// `base_urls` must be non-empty; trailing slashes are dropped. `headers` are sent with
    /// every request after the protocol's own.
    pub fn new(
        base_urls: &[String],
        key: Option<ApiKey>,
        auth: AuthStyle,
        headers: &[(String, String)],
        options: &ClientOptions,
    ) -> Result<Self, ProviderError> {
        if base_urls.is_empty() {
            return Err(ProviderError::Config("no base URL configured".into()));
        }
        let mut urls = Vec::new();
        for u in base_urls {
            let u = u.trim().trim_end_matches('/').to_string();
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                return Err(ProviderError::Config(format!(
                    "base URL `{u}` must start with http:// or https://"
                )));
            }
            urls.push(u);
        }
        if let Some(key) = &key {
            // Checked here, before any work: a key that cannot travel would otherwise fail
            // every call.
            let probe = match auth {
                AuthStyle::Bearer => format!("Bearer {}", key.expose()),
                AuthStyle::Header(_) => key.expose().to_string(),
            };
            if HeaderValue::from_str(&probe).is_err() {
                return Err(ProviderError::Config(
                    "the API key contains a character not allowed in HTTP headers (a line break \
                     or control character?); fix the key in the environment or .env file"
                        .into(),
                ));
            }
        }
        let mut secrets: Vec<String> = key
            .iter()
            .map(|k| k.expose().to_string())
            .filter(|k| is_scrubbed(k))
            .collect();
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            if is_scrubbed(value) {
                secrets.push(value.trim().to_string());
            }
            let n = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                ProviderError::Config(format!(
                    "header name `{name}` is not a valid HTTP header name"
                ))
            })?;
            let mut v = HeaderValue::from_str(value).map_err(|_| {
                ProviderError::Config(format!(
                    "the value of header `{name}` contains characters not allowed in HTTP headers"
                ))
            })?;
            v.set_sensitive(true);
            map.insert(n, v);
        }
        let client = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("misalign/", env!("CARGO_PKG_VERSION")))
            // Never follow a redirect: it would carry the key and every configured header
            // to wherever the server points (reqwest strips only `Authorization`, and only
            // across hosts). A 3xx is an error that names where it pointed.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ProviderError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Transport {
            client,
            endpoints: Endpoints::new(urls),
            key,
            auth,
            headers: map,
            timeout: options.timeout,
            max_reply_bytes: options.max_reply_bytes.max(1),
            secrets,
        })
    }

    /// POSTs `body` to `{base}{path}` with the protocol's `fixed` headers, and returns the
    /// parsed JSON of a 2xx reply; every other outcome becomes a classified error.
    pub async fn post_json(
        &self,
        path: &str,
        fixed: &[(&'static str, &'static str)],
        body: &serde_json::Value,
    ) -> Result<JsonReply, ProviderError> {
        let slot = self.endpoints.hold(self.endpoints.pick());
        let (raw, headers, url) = self
            .send(
                slot.i,
                reqwest::Method::POST,
                path,
                fixed,
                Payload::Json(body),
            )
            .await?;
        drop(slot);
        self.parse_json(raw, headers, &url)
    }

    /// [`Transport::post_json`] to the replica the prompt's affinity `key` picks (every
    /// request with one key goes to one replica while it is up and not overloaded).
    pub async fn post_json_affine(
        &self,
        path: &str,
        fixed: &[(&'static str, &'static str)],
        body: &serde_json::Value,
        key: u64,
    ) -> Result<JsonReply, ProviderError> {
        let slot = self.endpoints.pick_affine(key);
        let (raw, headers, url) = self
            .send(
                slot.i,
                reqwest::Method::POST,
                path,
                fixed,
                Payload::Json(body),
            )
            .await?;
        drop(slot);
        self.parse_json(raw, headers, &url)
    }

    /// A call of a batch API: always to the first base URL (a batch lives on the server that
    /// created it), JSON reply parsed like [`Transport::post_json`]'s.
    pub async fn batch_json(
        &self,
        method: reqwest::Method,
        path: &str,
        fixed: &[(&'static str, &'static str)],
        payload: Payload<'_>,
    ) -> Result<JsonReply, ProviderError> {
        let (raw, headers, url) = self.send(0, method, path, fixed, payload).await?;
        self.parse_json(raw, headers, &url)
    }

    /// A GET of a batch API whose reply is text (JSONL results), secrets scrubbed.
    pub async fn batch_text(
        &self,
        path: &str,
        fixed: &[(&'static str, &'static str)],
    ) -> Result<String, ProviderError> {
        let limit = self.max_reply_bytes.saturating_mul(BATCH_RESULTS_FACTOR);
        let (raw, _, _) = self
            .send_capped(0, reqwest::Method::GET, path, fixed, Payload::Empty, limit)
            .await?;
        Ok(self.scrub(&raw))
    }

    /// Sends one request to endpoint `i` and returns the body of a 2xx reply as text.
    async fn send(
        &self,
        i: usize,
        method: reqwest::Method,
        path: &str,
        fixed: &[(&'static str, &'static str)],
        payload: Payload<'_>,
    ) -> Result<(String, HeaderMap, String), ProviderError> {
        self.send_capped(i, method, path, fixed, payload, self.max_reply_bytes)
            .await
    }

    /// [`Transport::send`] reading at most `limit` bytes of the body.
    async fn send_capped(
        &self,
        i: usize,
        method: reqwest::Method,
        path: &str,
        fixed: &[(&'static str, &'static str)],
        payload: Payload<'_>,
        limit: u64,
    ) -> Result<(String, HeaderMap, String), ProviderError> {
        let url = format!("{}{}", self.endpoints.urls[i], path);
        let mut req = self.client.request(method, &url).timeout(self.timeout);
        req = match payload {
            Payload::Json(body) => req.json(body),
            Payload::Bytes { content_type, body } => {
                req.header("content-type", content_type).body(body)
            }
            Payload::Empty => req,
        };
        for (k, v) in fixed {
            req = req.header(*k, *v);
        }
        if let Some(key) = &self.key {
            let (name, value) = match self.auth {
                AuthStyle::Bearer => ("authorization", format!("Bearer {}", key.expose())),
                AuthStyle::Header(h) => (h, key.expose().to_string()),
            };
            let mut v = HeaderValue::from_str(&value).map_err(|_| {
                ProviderError::Config(
                    "the API key contains characters not allowed in HTTP headers".into(),
                )
            })?;
            v.set_sensitive(true);
            req = req.header(name, v);
        }
        for (k, v) in &self.headers {
            req = req.header(k, v.clone());
        }

        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                let err = self.transport_error(e, &url);
                if matches!(err, ProviderError::Connection(_)) {
                    self.endpoints.mark_down(i);
                }
                return Err(err);
            }
        };
        let status = resp.status();
        let headers = resp.headers().clone();
        if status.is_redirection() {
            return Err(self.redirect_error(status.as_u16(), &headers));
        }
        let bytes = match read_capped(resp, limit).await {
            Ok(Some(b)) => b,
            Ok(None) if status.is_success() => {
                return Err(ProviderError::TooLarge {
                    limit,
                    url: self.scrub(&url),
                })
            }
            // An error status with a huge body: the status still says it all.
            Ok(None) => Default::default(),
            Err(e) if e.is_timeout() => return Err(ProviderError::Timeout(self.timeout)),
            Err(e) if status.is_success() => {
                return Err(ProviderError::Connection(format!(
                    "the connection to {url} broke while reading the reply: {}",
                    self.scrub(&chain(&e))
                )))
            }
            // An error status whose body we could not read: the status still says it all.
            Err(_) => Default::default(),
        };
        let raw = String::from_utf8_lossy(&bytes).into_owned();
        if !status.is_success() {
            return Err(ProviderError::Http {
                status: status.as_u16(),
                message: self.scrub(&error_message(&raw, status.canonical_reason())),
                retry_after: retry_after(&headers, SystemTime::now()),
            });
        }
        Ok((raw, headers, url))
    }

    fn parse_json(
        &self,
        raw: String,
        headers: HeaderMap,
        url: &str,
    ) -> Result<JsonReply, ProviderError> {
        // A lone UTF-16 surrogate escape (`\ud800`) is valid JSON to many servers but not
        // to serde_json; such a reply is kept with U+FFFD in its place rather than failing
        // (and being retried) for good.
        let parsed = serde_json::from_str::<serde_json::Value>(&raw).or_else(|e| {
            match without_lone_surrogates(&raw) {
                Some(fixed) => serde_json::from_str(&fixed),
                None => Err(e),
            }
        });
        match parsed {
            Ok(mut body) => {
                scrub_json(&mut body, &self.secrets);
                let raw = self.scrub(&raw);
                Ok(JsonReply { body, raw, headers })
            }
            Err(e) => Err(ProviderError::Malformed(format!(
                "the reply from {url} is not complete JSON ({} bytes): {e}",
                raw.len()
            ))),
        }
    }

    fn transport_error(&self, e: reqwest::Error, url: &str) -> ProviderError {
        // Connect failures (timeouts included) say the endpoint is unreachable, which the
        // round robin acts on; a timeout after connecting is the model being slow.
        if e.is_connect() {
            let detail = self.scrub(&chain(&e));
            return ProviderError::Connection(format!("cannot connect to {url}: {detail}"));
        }
        if e.is_timeout() {
            return ProviderError::Timeout(self.timeout);
        }
        let detail = self.scrub(&chain(&e));
        ProviderError::Connection(format!("request to {url} failed: {detail}"))
    }

    /// A 3xx reply: the redirect is not followed (API calls carry the key), and the error
    /// says where it pointed.
    fn redirect_error(&self, status: u16, headers: &HeaderMap) -> ProviderError {
        let target = headers
            .get(reqwest::header::LOCATION)
            .map(|v| format!("to {}", String::from_utf8_lossy(v.as_bytes())))
            .unwrap_or_else(|| "without a Location header".to_string());
        ProviderError::Http {
            status,
            message: format!(
                "redirect {} not followed: misalign never follows a redirect of an API call \
                 (it would carry the API key and configured headers there); if the address is \
                 right, set the provider's base URL to it",
                self.scrub(&truncate(&target, MAX_MESSAGE))
            ),
            retry_after: None,
        }
    }

    /// Removes the key and the configured header values from text a server or library
    /// produced.
    pub fn scrub(&self, text: &str) -> String {
        scrub_secrets(text, &self.secrets)
    }
}

/// The body of `resp`, read chunk by chunk; `None` as soon as it passes `limit` bytes (a
/// declared `Content-Length` above it is refused before reading), so an endless chunked
/// reply holds at most `limit` bytes plus one chunk.
async fn read_capped(
    mut resp: reqwest::Response,
    limit: u64,
) -> Result<Option<Vec<u8>>, reqwest::Error> {
    if resp.content_length().is_some_and(|n| n > limit) {
        return Ok(None);
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if (body.len() as u64).saturating_add(chunk.len() as u64) > limit {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

/// The error and its sources, without the URL (which could carry a query-string key).
fn chain(e: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        source = s.source();
    }
    if parts.is_empty() {
        parts.push(if e.is_body() || e.is_decode() {
            "the reply body ended early".to_string()
        } else {
            "unknown transport error".to_string()
        });
    }
    parts.join(": ")
}

/// The provider's own message from an error body (`{"error": {"message": ..}}` in all three
/// shapes), else the body text, cut to [`MAX_MESSAGE`] characters.
pub fn error_message(raw: &str, reason: Option<&str>) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_str(raw).ok();
    let from_json = parsed.as_ref().and_then(|v| {
        let err = v.get("error")?;
        err.get("message")
            .and_then(|m| m.as_str())
            .map(str::to_string)
            .or_else(|| err.as_str().map(str::to_string))
    });
    let text = from_json.unwrap_or_else(|| {
        let t = raw.trim();
        if t.is_empty() {
            reason.unwrap_or("no message").to_string()
        } else {
            t.to_string()
        }
    });
    truncate(&text, MAX_MESSAGE)
}

fn truncate(text: &str, max: usize) -> String {
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() && c != '\n' { ' ' } else { c })
        .collect();
    match clean.char_indices().nth(max) {
        Some((i, _)) => format!("{}...", &clean[..i]),
        None => clean,
    }
}

/// JSON text with every `\uD800`-`\uDFFF` escape that is not half of a valid pair replaced
/// by `\uFFFD`; `None` when there is none.
fn without_lone_surrogates(json: &str) -> Option<String> {
    fn hex4(b: &[u8]) -> Option<u16> {
        let s = std::str::from_utf8(b.get(..4)?).ok()?;
        u16::from_str_radix(s, 16).ok()
    }
    let b = json.as_bytes();
    let mut out = String::with_capacity(json.len());
    let (mut i, mut last, mut changed) = (0, 0, false);
    while i + 1 < b.len() {
        if b[i] != b'\\' {
            i += 1;
            continue;
        }
        if b[i + 1] != b'u' {
            i += 2; // `\\`, `\"` and the like: the escaped byte cannot start an escape.
            continue;
        }
        let Some(unit) = hex4(&b[i + 2..]) else {
            i += 2;
            continue;
        };
        let is_high = (0xD800..0xDC00).contains(&unit);
        let is_low = (0xDC00..0xE000).contains(&unit);
        let next_low = b.get(i + 6..i + 8) == Some(&b"\\u"[..])
            && hex4(&b[i + 8..]).is_some_and(|u| (0xDC00..0xE000).contains(&u));
        if is_high && next_low {
            i += 12;
        } else if is_high || is_low {
            out.push_str(&json[last..i]);
            out.push_str("\\uFFFD");
            i += 6;
            last = i;
            changed = true;
        } else {
            i += 6;
        }
    }
    changed.then(|| {
        out.push_str(&json[last..]);
        out
    })
}

/// One JSON document from text a server sent (a line of a batch's results), lone surrogate
/// escapes replaced as in a live reply.
pub(crate) fn json_text(raw: &str) -> Result<serde_json::Value, serde_json::Error> {
    serde_json::from_str(raw).or_else(|e| match without_lone_surrogates(raw) {
        Some(fixed) => serde_json::from_str(&fixed),
        None => Err(e),
    })
}

/// `retry-after-ms` (OpenAI), else `retry-after` in seconds or as an HTTP date.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = get("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        if ms.is_finite() && ms >= 0.0 {
            return Some(Duration::from_secs_f64(ms / 1000.0));
        }
    }
    let value = get("retry-after")?;
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h, now), None);
        h.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(7)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        h.insert("retry-after", HeaderValue::from_str(&later).unwrap());
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(30)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(30));
        h.insert("retry-after", HeaderValue::from_str(&past).unwrap());
        assert_eq!(retry_after(&h, now), Some(Duration::ZERO));
        h.insert("retry-after", HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h, now), None);
        h.insert("retry-after-ms", HeaderValue::from_static("1500"));
        assert_eq!(retry_after(&h, now), Some(Duration::from_millis(1500)));
    }

    #[test]
    fn error_messages_are_extracted_and_cut() {
        let openai = r#"{"error":{"message":"Rate limit reached","type":"requests"}}"#;
        assert_eq!(error_message(openai, None), "Rate limit reached");
        let anthropic =
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        assert_eq!(error_message(anthropic, None), "Overloaded");
        assert_eq!(error_message("", Some("Bad Gateway")), "Bad Gateway");
        let long = "x".repeat(1000);
        assert_eq!(error_message(&long, None).chars().count(), MAX_MESSAGE + 3);
        assert_eq!(error_message("a\u{1b}[31mb", None), "a [31mb");
    }

    #[test]
    fn round_robin_skips_a_down_endpoint() {
        let e = Endpoints::new(vec!["a".into(), "b".into(), "c".into()]);
        let picks: Vec<usize> = (0..6).map(|_| e.pick()).collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2]);
        e.mark_down(1);
        let picks: Vec<usize> = (0..6).map(|_| e.pick()).collect();
        assert!(!picks.contains(&1), "{picks:?}");
    }

    #[test]
    fn affinity_keeps_a_prompt_on_one_replica_within_the_load_bound() {
        let e = Endpoints::new(vec!["a".into(), "b".into(), "c".into()]);
        // Nothing in flight: a key always gets its first choice.
        let first: Vec<usize> = (0..50u64).map(|k| e.pick_affine(k).i).collect();
        let again: Vec<usize> = (0..50u64).map(|k| e.pick_affine(k).i).collect();
        assert_eq!(first, again);
        for r in 0..3 {
            assert!(
                first.contains(&r),
                "every replica is some key's first choice"
            );
        }
        // One key, many concurrent calls: it overflows to other replicas only beyond the bound.
        let held: Vec<InFlight<'_>> = (0..30).map(|_| e.pick_affine(7)).collect();
        let mut per = [0usize; 3];
        for h in &held {
            per[h.i] += 1;
        }
        let cap = ((30.0 * LOAD_BOUND) / 3.0f64).ceil() as usize;
        assert!(per.iter().all(|&c| c <= cap), "{per:?}");
        assert_eq!(per[first[7]], *per.iter().max().unwrap());
        drop(held);
        assert!(e.in_flight.iter().all(|c| c.load(Ordering::Relaxed) == 0));
        // A replica that is down is skipped.
        e.mark_down(first[7]);
        assert_ne!(e.pick_affine(7).i, first[7]);
    }

    #[test]
    fn debug_hides_the_key() {
        let t = Transport::new(
            &["http://127.0.0.1:9".to_string()],
            Some(ApiKey::new("sk-test-SECRET-123")),
            AuthStyle::Bearer,
            &[("x-gateway-token".into(), "gw-SECRET".into())],
            &ClientOptions::default(),
        )
        .unwrap();
        let dbg = format!("{t:?}");
        assert!(!dbg.contains("SECRET"), "{dbg}");
        assert!(dbg.contains("x-gateway-token"));
        assert_eq!(
            t.scrub("bad key sk-test-SECRET-123!"),
            "bad key [redacted]!"
        );
        assert_eq!(t.scrub("echo: gw-SECRET."), "echo: [redacted].");
    }

    #[test]
    fn a_key_that_cannot_be_a_header_is_a_config_error() {
        for (key, auth) in [
            ("sk-abc\ndef", AuthStyle::Bearer),
            ("sk-abc\rdef", AuthStyle::Header("x-api-key")),
            ("sk-\u{7f}", AuthStyle::Bearer),
        ] {
            let e = Transport::new(
                &["http://127.0.0.1:9".to_string()],
                Some(ApiKey::new(key)),
                auth,
                &[],
                &ClientOptions::default(),
            )
            .unwrap_err();
            assert!(matches!(e, ProviderError::Config(_)), "{e:?}");
            assert!(!e.to_string().contains("sk-abc"), "{e}");
        }
    }

    #[test]
    fn lone_surrogates_become_replacement_characters() {
        let raw = r#"{"a":"x\ud800y","b":"\ud83d\ude00","c":"\\ud800","d":"\udc00"}"#;
        assert!(serde_json::from_str::<serde_json::Value>(raw).is_err());
        let fixed = without_lone_surrogates(raw).unwrap();
        let v: serde_json::Value = serde_json::from_str(&fixed).unwrap();
        assert_eq!(v["a"], "x\u{fffd}y");
        assert_eq!(v["b"], "\u{1f600}");
        assert_eq!(v["c"], "\\ud800");
        assert_eq!(v["d"], "\u{fffd}");
        assert_eq!(without_lone_surrogates(r#"{"ok":"\u00e9"}"#), None);
    }

    /// `s` JSON-escaped once more (what a JSON encoder makes of it inside a string).
    fn escape(s: &str) -> String {
        let v = serde_json::to_string(s).unwrap();
        v[1..v.len() - 1].to_string()
    }

    /// Every character of `s` as `\uXXXX` (UTF-16 units), hex in `upper` case or not.
    fn all_u(s: &str, upper: bool) -> String {
        let mut out = String::new();
        for unit in s.encode_utf16() {
            if upper {
                out.push_str(&format!("\\u{unit:04X}"));
            } else {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
        out
    }

    #[test]
    fn secrets_are_redacted_in_every_json_escaped_form() {
        let key = "sk-proj/AbC+9\"x\\y-\u{1F511}é";
        let secrets = vec![key.to_string()];
        let slash = key.replace('/', "\\/");
        let forms = [
            key.to_string(),
            escape(key),
            escape(key).replace('/', "\\/"),
            all_u(key, false),
            all_u(key, true),
            // Mixed: every other character escaped.
            key.chars()
                .enumerate()
                .map(|(i, c)| {
                    if i % 2 == 0 && c != '\\' && c != '"' {
                        c.to_string()
                    } else {
                        all_u(&c.to_string(), i % 4 == 1)
                    }
                })
                .collect(),
            // Escaped twice (a JSON answer inside a JSON reply) and three times.
            escape(&escape(key)),
            escape(&slash),
            escape(&all_u(key, false)),
            escape(&escape(&all_u(key, true))),
        ];
        for form in &forms {
            // Inside a JSON string of a reply: the redacted reply is still JSON.
            let raw = format!(r#"{{"a":"before {form} after","n":1}}"#);
            let out = scrub_secrets(&raw, &secrets);
            assert_eq!(
                out,
                format!(r#"{{"a":"before {REDACTED} after","n":1}}"#),
                "form {form}"
            );
            // And the decoded text, where the key may still be escaped once less.
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&format!("\"{form}\"")) {
                let decoded = v.as_str().unwrap().to_string();
                assert_eq!(scrub_secrets(&decoded, &secrets), REDACTED, "{decoded}");
            }
        }
        // Text that only looks like it stays as it was.
        for keep in [
            r"sk-proj\/AbC+8",
            r"\u0073k-proj",
            r"a \\ b \n c \u00e9 \ud83d",
            "sk-proj/AbC+9",
        ] {
            assert_eq!(scrub_secrets(keep, &secrets), keep);
        }
        // An odd backslash before the span goes with it: what is left is still JSON.
        let raw = format!(r#"["\\{}"]"#, &escape(&all_u(key, false))[1..]);
        let out = scrub_secrets(&raw, &secrets);
        assert!(
            serde_json::from_str::<serde_json::Value>(&out).is_ok(),
            "{out}"
        );
    }

    #[test]
    fn overlapping_and_repeated_secrets_give_one_marker_each() {
        let secrets = vec!["gw-SECRET-aaaa".to_string(), "SECRET-aaaa-bbbb".to_string()];
        assert_eq!(
            scrub_secrets("x gw-SECRET-aaaa-bbbb y gw-SECRET-aaaa", &secrets),
            format!("x {REDACTED} y {REDACTED}")
        );
        assert_eq!(scrub_secrets("nothing here", &secrets), "nothing here");
        assert_eq!(scrub_secrets("gw-SECRET-aaaa", &[]), "gw-SECRET-aaaa");
    }

    #[test]
    fn echoed_secrets_are_scrubbed_from_json() {
        let secrets = vec!["gw-SECRET".to_string()];
        let mut v = serde_json::json!({"a": ["x gw-SECRET y", {"gw-SECRET": 1}], "n": 2});
        scrub_json(&mut v, &secrets);
        assert_eq!(
            v,
            serde_json::json!({"a": ["x [redacted] y", {"[redacted]": 1}], "n": 2})
        );
    }
}
