//! `misalign view`: the transcript viewer served on loopback, paging samples from the store.
//!
//! The page is the report's page in "api" mode: summary, charts and prompts are rendered
//! once at start, transcripts are fetched 25 at a time from `/api/samples`, so the browser
//! never holds more than a page of them however large the run is. An agent episode's sample
//! carries its steps (`steps`), read with the page. Each request opens its own
//! read-only connection (SQLite connections are not shared across threads) on a blocking
//! thread, so a run still writing to the store is not disturbed.
//!
//! Any web page the user has open can make the browser send requests to loopback, and by DNS
//! rebinding can read the answers. So every request must name a loopback host with our port
//! in `Host` (a rebound name does not), and carry the access token made at start: in the
//! printed URL (`?token=`), which sets a same-site cookie for the page's own API calls.

use crate::label_api::{self, Labelling, PageLabels};
use crate::{html, load_summary, open_store, ReportError, ReportOptions};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use misalign_store::episode_transcript::TranscriptReader;
use misalign_store::read::SampleFilter;
use misalign_store::Store;
use serde::Deserialize;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Largest page the API returns.
pub const MAX_PAGE: u64 = 200;

struct App {
    store_path: PathBuf,
    run_id: Option<i64>,
    page: String,
    summary_json: String,
    labelling: Labelling,
    port: u16,
}

#[derive(Deserialize)]
struct SamplesQuery {
    model: Option<String>,
    condition: Option<String>,
    verdict: Option<String>,
    awareness: Option<String>,
    text: Option<String>,
    sample: Option<i64>,
    offset: Option<u64>,
    limit: Option<u64>,
    /// Who is looking (blind mode shows verdicts of the samples they labelled).
    reviewer: Option<String>,
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|v| !v.is_empty())
}

/// Who may use a running viewer: requests to `port` on a loopback host carrying `token`.
#[derive(Clone, Debug)]
pub struct Access {
    pub port: u16,
    pub token: String,
}

impl Access {
    /// A fresh random token (128 bits) for a viewer on `port`.
    pub fn new(port: u16) -> Access {
        Access {
            port,
            token: format!("{:032x}", rand::random::<u128>()),
        }
    }

    /// The URL to open: the token rides along once and is then kept in a cookie.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/?token={}", self.port, self.token)
    }

    /// Cookies are not told apart by port, so the name carries it.
    fn cookie_name(&self) -> String {
        format!("misalign_view_{}", self.port)
    }

    fn host_allowed(&self, headers: &HeaderMap) -> bool {
        let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
            return false;
        };
        let host = host.to_ascii_lowercase();
        ["127.0.0.1", "localhost", "[::1]"]
            .iter()
            .any(|name| host == format!("{name}:{}", self.port))
    }

    fn token_in_query(&self, query: Option<&str>) -> bool {
        query.is_some_and(|q| {
            q.split('&')
                .filter_map(|kv| kv.strip_prefix("token="))
                .any(|t| same(t, &self.token))
        })
    }

    fn token_in_cookie(&self, headers: &HeaderMap) -> bool {
        let name = self.cookie_name();
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|c| c.trim().split_once('='))
            .any(|(k, v)| k == name && same(v, &self.token))
    }
}

/// Compares without stopping at the first difference.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

async fn guard(State(access): State<Arc<Access>>, req: Request, next: Next) -> Response {
    if !access.host_allowed(req.headers()) {
        return (
            StatusCode::FORBIDDEN,
            "misalign view answers only requests addressed to 127.0.0.1, localhost or [::1]",
        )
            .into_response();
    }
    let by_query = access.token_in_query(req.uri().query());
    if !by_query && !access.token_in_cookie(req.headers()) {
        return (
            StatusCode::FORBIDDEN,
            "open the URL `misalign view` printed: it carries this viewer's access token",
        )
            .into_response();
    }
    let mut resp = next.run(req).await;
    if by_query {
        let cookie = format!(
            "{}={}; Path=/; HttpOnly; SameSite=Strict",
            access.cookie_name(),
            access.token
        );
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    resp
}

/// Builds the viewer's routes for results folder `out_dir`, open only to `access`.
pub fn router(
    out_dir: &Path,
    options: &ReportOptions,
    labelling: Labelling,
    access: Access,
) -> Result<Router, ReportError> {
    let store = open_store(out_dir)?;
    let mut summary = load_summary(&store, options)?;
    summary.results_dir = out_dir.display().to_string();
    let prompts = match &summary.run {
        Some(r) => store.report_prompts(r.run_id)?,
        None => Vec::new(),
    };
    let page = html::render_page(
        &summary,
        &prompts,
        &[],
        "api",
        None,
        Some(&labelling.json()),
    );
    let app = Arc::new(App {
        store_path: store.path().to_path_buf(),
        run_id: summary.run.as_ref().map(|r| r.run_id),
        page,
        summary_json: serde_json::to_string(&summary).unwrap_or_else(|_| "null".into()),
        labelling,
        port: access.port,
    });
    Ok(Router::new()
        .route("/", get(index))
        .route("/api/summary", get(summary_json))
        .route("/api/samples", get(samples))
        .route(
            "/api/labels",
            post(post_label).layer(DefaultBodyLimit::max(label_api::MAX_BODY)),
        )
        .with_state(app)
        .layer(middleware::from_fn_with_state(Arc::new(access), guard)))
}

async fn index(State(app): State<Arc<App>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        app.page.clone(),
    )
        .into_response()
}

async fn summary_json(State(app): State<Arc<App>>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        app.summary_json.clone(),
    )
        .into_response()
}

fn plain(status: StatusCode, message: impl Into<String>) -> Response {
    (status, message.into()).into_response()
}

async fn samples(State(app): State<Arc<App>>, Query(q): Query<SamplesQuery>) -> Response {
    let Some(run_id) = app.run_id else {
        return Json(serde_json::json!({"total": 0, "samples": []})).into_response();
    };
    let blind = app.labelling.blind;
    let (verdict, awareness) = (non_empty(q.verdict), non_empty(q.awareness));
    if blind && (verdict.is_some() || awareness.is_some()) {
        return plain(
            StatusCode::BAD_REQUEST,
            "blind mode: samples cannot be filtered by verdict or awareness (start the viewer \
             with --no-blind to see verdicts)",
        );
    }
    let filter = SampleFilter {
        model: non_empty(q.model),
        condition_id: non_empty(q.condition),
        verdict,
        awareness,
        text: non_empty(q.text),
        sample_index: q.sample,
        cut_off: false,
        item_key: None,
        text_without_verdicts: blind,
    };
    let reviewer = app.labelling.reviewer_of(q.reviewer);
    let (offset, limit) = (q.offset.unwrap_or(0), q.limit.unwrap_or(25).min(MAX_PAGE));
    let path = app.store_path.clone();
    let app2 = app.clone();
    let result = tokio::task::spawn_blocking(move || {
        let store = Store::open_read_only(&path)?;
        let labels = PageLabels::read(&store)?;
        let transcripts = TranscriptReader::new(&store)?;
        let (total, records) = match &app2.labelling.queue {
            // The queue is the list, in its order; filters do not apply to it.
            Some(keys) => {
                let mut records = Vec::new();
                for key in keys.iter().skip(offset as usize).take(limit as usize) {
                    let one = SampleFilter {
                        item_key: Some(key.clone()),
                        ..SampleFilter::default()
                    };
                    records.extend(store.sample_page(run_id, &one, 0, 1)?);
                }
                (keys.len() as u64, records)
            }
            None => (
                store.count_samples(run_id, &filter)?,
                store.sample_page(run_id, &filter, offset, limit)?,
            ),
        };
        let page = records
            .iter()
            .map(|sample| labels.sample_json(sample, &transcripts, blind, reviewer.as_deref()))
            .collect::<Result<Vec<_>, misalign_store::StoreError>>()?;
        Ok::<_, misalign_store::StoreError>((total, page))
    })
    .await;
    match result {
        Ok(Ok((total, page))) => {
            Json(serde_json::json!({"total": total, "samples": page})).into_response()
        }
        Ok(Err(e)) => plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("store error: {e}"),
        ),
        Err(e) => plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("query task failed: {e}"),
        ),
    }
}

/// `POST /api/labels`: stores a reviewer's label and answers with it and the sample as the
/// reviewer may now see it (verdicts shown once they have labelled it).
async fn post_label(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err((status, message)) = label_api::check_write_headers(&headers, app.port) {
        return plain(status, message);
    }
    let request: label_api::LabelRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return plain(StatusCode::BAD_REQUEST, format!("not a label request: {e}")),
    };
    let new = match label_api::new_label(request, &app.labelling) {
        Ok(n) => n,
        Err((status, message)) => return plain(status, message),
    };
    let path = app.store_path.clone();
    let (run_id, blind) = (app.run_id, app.labelling.blind);
    let result = tokio::task::spawn_blocking(move || {
        let store = Store::open(&path).map_err(|e| {
            (
                StatusCode::CONFLICT,
                format!("labels cannot be written: the results store cannot be opened for writing ({e})"),
            )
        })?;
        let row = store
            .add_label(&new)
            .map_err(|e| (label_api::refusal(&e), e.to_string()))?;
        let internal = |e: misalign_store::StoreError| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
        let one = SampleFilter {
            item_key: Some(row.item_key.clone()),
            ..SampleFilter::default()
        };
        let sample = match run_id {
            Some(run) => store.sample_page(run, &one, 0, 1).map_err(internal)?,
            None => Vec::new(),
        };
        let labels = PageLabels::read(&store).map_err(internal)?;
        let transcripts = TranscriptReader::new(&store).map_err(internal)?;
        let sample = match sample.first() {
            Some(s) => labels
                .sample_json(s, &transcripts, blind, Some(&row.reviewer))
                .map_err(internal)?,
            None => serde_json::Value::Null,
        };
        Ok::<_, (StatusCode, String)>(serde_json::json!({"label": row, "sample": sample}))
    })
    .await;
    match result {
        Ok(Ok(v)) => (StatusCode::CREATED, Json(v)).into_response(),
        Ok(Err((status, message))) => plain(status, message),
        Err(e) => plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("write task failed: {e}"),
        ),
    }
}

/// Binds 127.0.0.1:`port` (0 picks a free port) and returns who may use the viewer (its
/// port and access token; open [`Access::url`]) and the server future; run it with `.await`.
/// Labelling is in blind mode, without a queue (see [`bind_labelling`]).
pub async fn bind(
    out_dir: &Path,
    options: &ReportOptions,
    port: u16,
) -> Result<
    (
        Access,
        impl std::future::Future<Output = std::io::Result<()>>,
    ),
    ReportError,
> {
    bind_labelling(out_dir, options, Labelling::default(), port).await
}

/// [`bind`] with the labelling settings of `misalign view` (blind or not, a reviewer, a
/// queue).
pub async fn bind_labelling(
    out_dir: &Path,
    options: &ReportOptions,
    labelling: Labelling,
    port: u16,
) -> Result<
    (
        Access,
        impl std::future::Future<Output = std::io::Result<()>>,
    ),
    ReportError,
> {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port))
        .await
        .map_err(|e| {
            ReportError::Invalid(format!(
                "cannot listen on 127.0.0.1:{port}: {e}; pick another port with --port"
            ))
        })?;
    let addr: SocketAddr = listener
        .local_addr()
        .map_err(|e| ReportError::Invalid(e.to_string()))?;
    let access = Access::new(addr.port());
    let app = router(out_dir, options, labelling, access.clone())?;
    Ok((access, async move { axum::serve(listener, app).await }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(k.clone(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn only_loopback_hosts_with_our_port_are_accepted() {
        let a = Access::new(8765);
        for ok in [
            "127.0.0.1:8765",
            "localhost:8765",
            "LOCALHOST:8765",
            "[::1]:8765",
        ] {
            assert!(a.host_allowed(&headers(&[(header::HOST, ok)])), "{ok}");
        }
        for bad in [
            "evil.example:8765",
            "127.0.0.1:8766",
            "127.0.0.1",
            "localhost.evil.example:8765",
            "127.0.0.1:8765.evil.example",
        ] {
            assert!(!a.host_allowed(&headers(&[(header::HOST, bad)])), "{bad}");
        }
        assert!(!a.host_allowed(&HeaderMap::new()));
    }

    #[test]
    fn the_token_is_taken_from_the_query_or_our_cookie() {
        let a = Access::new(8765);
        assert_eq!(a.token.len(), 32);
        assert_ne!(a.token, Access::new(8765).token);
        assert!(a.token_in_query(Some(&format!("x=1&token={}", a.token))));
        assert!(!a.token_in_query(Some("token=0000")));
        assert!(!a.token_in_query(None));
        let good = format!("other=1; misalign_view_8765={}", a.token);
        assert!(a.token_in_cookie(&headers(&[(header::COOKIE, &good)])));
        let other_port = format!("misalign_view_9999={}", a.token);
        assert!(!a.token_in_cookie(&headers(&[(header::COOKIE, &other_port)])));
        assert!(a.url().ends_with(&format!(":8765/?token={}", a.token)));
    }
}
