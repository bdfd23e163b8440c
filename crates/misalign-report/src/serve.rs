//! `misalign view`: the transcript viewer served on loopback, paging samples from the store.
//!
//! The page is the report's page in "api" mode: summary, charts and prompts are rendered
//! once at start, transcripts are fetched 25 at a time from `/api/samples`, so the browser
//! never holds more than a page of them however large the run is. Each request opens its own
//! read-only connection (SQLite connections are not shared across threads) on a blocking
//! thread, so a run still writing to the store is not disturbed.

use crate::{html, load_summary, open_store, ReportError, ReportOptions};
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use misalign_run::store::read::SampleFilter;
use misalign_run::store::Store;
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
}

#[derive(Deserialize)]
struct SamplesQuery {
    model: Option<String>,
    condition: Option<String>,
    verdict: Option<String>,
    awareness: Option<String>,
    offset: Option<u64>,
    limit: Option<u64>,
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|v| !v.is_empty())
}

/// Builds the viewer's routes for results folder `out_dir`.
pub fn router(out_dir: &Path, options: &ReportOptions) -> Result<Router, ReportError> {
    let store = open_store(out_dir)?;
    let summary = load_summary(&store, options)?;
    let prompts = match &summary.run {
        Some(r) => store.report_prompts(r.run_id)?,
        None => Vec::new(),
    };
    let page = html::render_page(&summary, &prompts, &[], "api", None);
    let app = Arc::new(App {
        store_path: store.path().to_path_buf(),
        run_id: summary.run.as_ref().map(|r| r.run_id),
        page,
        summary_json: serde_json::to_string(&summary).unwrap_or_else(|_| "null".into()),
    });
    Ok(Router::new()
        .route("/", get(index))
        .route("/api/summary", get(summary_json))
        .route("/api/samples", get(samples))
        .with_state(app))
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

async fn samples(State(app): State<Arc<App>>, Query(q): Query<SamplesQuery>) -> Response {
    let Some(run_id) = app.run_id else {
        return Json(serde_json::json!({"total": 0, "samples": []})).into_response();
    };
    let filter = SampleFilter {
        model: non_empty(q.model),
        condition_id: non_empty(q.condition),
        verdict: non_empty(q.verdict),
        awareness: non_empty(q.awareness),
    };
    let (offset, limit) = (q.offset.unwrap_or(0), q.limit.unwrap_or(25).min(MAX_PAGE));
    let path = app.store_path.clone();
    let result = tokio::task::spawn_blocking(move || {
        let store = Store::open_read_only(&path)?;
        let total = store.count_samples(run_id, &filter)?;
        let page = store.sample_page(run_id, &filter, offset, limit)?;
        Ok::<_, misalign_run::store::StoreError>((total, page))
    })
    .await;
    match result {
        Ok(Ok((total, page))) => {
            Json(serde_json::json!({"total": total, "samples": page})).into_response()
        }
        Ok(Err(e)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("store error: {e}"),
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("query task failed: {e}"),
        )
            .into_response(),
    }
}

/// Binds 127.0.0.1:`port` (0 picks a free port) and returns the address and the server
/// future; run it with `.await`.
pub async fn bind(
    out_dir: &Path,
    options: &ReportOptions,
    port: u16,
) -> Result<
    (
        SocketAddr,
        impl std::future::Future<Output = std::io::Result<()>>,
    ),
    ReportError,
> {
    let app = router(out_dir, options)?;
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port))
        .await
        .map_err(|e| {
            ReportError::Invalid(format!(
                "cannot listen on 127.0.0.1:{port}: {e}; pick another port with --port"
            ))
        })?;
    let addr = listener
        .local_addr()
        .map_err(|e| ReportError::Invalid(e.to_string()))?;
    Ok((addr, async move { axum::serve(listener, app).await }))
}
