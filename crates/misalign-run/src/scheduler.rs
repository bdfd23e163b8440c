//! The sampling scheduler: every pending work item called once, within every limit, each
//! result committed by the store writer before it counts as done.
//!
//! One dispatcher task per model walks that model's items in queue order; for each it
//! waits for the model's slot, the provider's slot and the rate pools, then spawns the call.
//! Per-model dispatchers mean a model at its cap never blocks another model's queue.

use crate::counters::Counters;
use crate::item::WorkItem;
use crate::limits::{Limits, LimitsError};
use crate::retry::{self, RetryPolicy};
use crate::stop::{Stop, StopReason};
use crate::store::samples::{ResponseRow, ResponseStatus};
use crate::store::writer::WriterHandle;
use misalign_core::config::{Concurrency, RatePool};
use misalign_core::SamplingParams;
use misalign_models::{CompletionRequest, ErrorClass, Outcome};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// How to sample.
#[derive(Clone, Debug)]
pub struct SchedulerOptions {
    pub run_id: i64,
    pub params: SamplingParams,
    pub concurrency: Concurrency,
    pub rate_pools: Vec<RatePool>,
    /// `global.rate_limits.model_overrides`: model -> its own requests per minute.
    pub rate_model_overrides: BTreeMap<String, u32>,
    pub retry: RetryPolicy,
    /// After a stop, how long in-flight calls may still finish (and be stored).
    pub grace: Duration,
    /// Values (API keys) scrubbed from anything stored, whatever a server echoes back.
    pub secrets: Vec<String>,
    /// Called with each answer once it is committed (e.g. to export it right away).
    pub on_stored: Option<StoredHook>,
}

/// The function behind a [`StoredHook`].
pub type StoredFn = dyn Fn(&WorkItem, &ResponseRow) + Send + Sync;

/// A callback run after an answer is committed.
#[derive(Clone)]
pub struct StoredHook(pub Arc<StoredFn>);

impl std::fmt::Debug for StoredHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoredHook")
    }
}

/// What the scheduler did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SampleReport {
    pub answers: u64,
    pub errors: u64,
    /// Answers a concurrent writer had already stored (dropped, not duplicated).
    pub duplicates: u64,
    /// Calls cut off by the end of the grace period (not stored; still pending).
    pub abandoned: u64,
    pub stopped: Option<StopReason>,
}

struct Shared {
    opts: SchedulerOptions,
    writer: WriterHandle,
    counters: Arc<Counters>,
    stop: Stop,
}

/// Samples `items` (all assumed pending), returning once each is stored or the run stopped.
pub async fn sample(
    items: Vec<WorkItem>,
    writer: WriterHandle,
    opts: SchedulerOptions,
    counters: Arc<Counters>,
    stop: Stop,
) -> Result<SampleReport, LimitsError> {
    // Group by model, keeping queue order inside each group.
    let mut groups: Vec<(String, Vec<WorkItem>)> = Vec::new();
    for it in items {
        match groups.iter_mut().find(|(m, _)| *m == it.model.name) {
            Some((_, v)) => v.push(it),
            None => groups.push((it.model.name.clone(), vec![it])),
        }
    }
    let models: Vec<_> = groups.iter().map(|(_, v)| v[0].model.clone()).collect();
    let limits = Limits::new(
        &opts.concurrency,
        &opts.rate_pools,
        &opts.rate_model_overrides,
        &models,
    )?;
    for (_, v) in &groups {
        counters.planned(&v[0].model.name, &v[0].model.provider, v.len() as u64);
    }
    let grace = opts.grace;
    let shared = Arc::new(Shared {
        opts,
        writer,
        counters: counters.clone(),
        stop: stop.clone(),
    });
    let mut dispatchers = JoinSet::new();
    for (_, items) in groups {
        let lim = limits.for_model(&items[0].model);
        dispatchers.spawn(dispatch(items, lim, shared.clone()));
    }
    let mut report = SampleReport::default();
    let mut cut_off = false;
    {
        let all = async {
            let mut parts = Vec::new();
            let mut lost = false;
            while let Some(r) = dispatchers.join_next().await {
                match r {
                    Ok(r) => parts.push(r),
                    // A dispatcher that panicked took its tally with it; the shared counters
                    // still hold what it did, so the report is rebuilt from them below.
                    Err(e) => {
                        tracing::error!("a model's dispatcher stopped unexpectedly: {e}");
                        lost = true;
                    }
                }
            }
            (parts, lost)
        };
        tokio::select! {
            (parts, lost) = all => {
                for p in parts {
                    report.answers += p.answers;
                    report.errors += p.errors;
                    report.duplicates += p.duplicates;
                }
                if lost {
                    let t = counters.total();
                    report.answers = t.done;
                    report.errors = t.errors;
                }
            }
            _ = async { stop.stopped().await; tokio::time::sleep(grace).await } => {
                cut_off = true;
            }
        }
    }
    if cut_off {
        // Dropping a dispatcher drops its JoinSet, which aborts its in-flight calls.
        dispatchers.abort_all();
        while dispatchers.join_next().await.is_some() {}
        // Counted from the counters: the per-dispatcher parts were lost with the abort.
        let t = counters.total();
        report.answers = t.done;
        report.errors = t.errors;
        report.abandoned = t.in_flight;
        for (m, (p, tally)) in counters.per_model() {
            for _ in 0..tally.in_flight {
                counters.abandoned(&m, &p);
            }
        }
    }
    report.stopped = stop.reason();
    Ok(report)
}

async fn dispatch(
    items: Vec<WorkItem>,
    limits: crate::limits::ModelLimits,
    shared: Arc<Shared>,
) -> SampleReport {
    let mut calls = JoinSet::new();
    let mut report = SampleReport::default();
    for item in items {
        let permits = tokio::select! {
            biased;
            _ = shared.stop.stopped() => break,
            p = limits.acquire() => p,
        };
        if shared.stop.is_stopped() {
            break;
        }
        let shared = shared.clone();
        calls.spawn(async move {
            let r = call_one(&item, &shared).await;
            drop(permits);
            r
        });
        // Reap finished calls as we go so the set stays small on long runs.
        while let Some(r) = calls.try_join_next() {
            reap(&mut report, r);
        }
    }
    while let Some(r) = calls.join_next().await {
        reap(&mut report, r);
    }
    report
}

/// Counts a finished call; one that panicked is counted as an error, never dropped.
fn reap(report: &mut SampleReport, r: Result<Stored, tokio::task::JoinError>) {
    match r {
        Ok(s) => add(report, s),
        Err(e) => {
            tracing::error!("a model call stopped unexpectedly: {e}");
            report.errors += 1;
        }
    }
}

#[derive(Clone, Copy)]
enum Stored {
    Answer,
    Error,
    Duplicate,
    Lost,
}

fn add(report: &mut SampleReport, s: Stored) {
    match s {
        Stored::Answer => report.answers += 1,
        Stored::Error => report.errors += 1,
        Stored::Duplicate => report.duplicates += 1,
        Stored::Lost => {}
    }
}

pub(crate) fn scrub(text: Option<String>, secrets: &[String]) -> Option<String> {
    let mut t = text?;
    for s in secrets {
        if !s.is_empty() && t.contains(s.as_str()) {
            t = t.replace(s.as_str(), "[REDACTED]");
        }
    }
    Some(t)
}

fn now() -> String {
    crate::timestamp()
}

/// The parameters of one sample: a configured seed is offset by the sample index, so the
/// samples of a condition differ (and each stays reproducible) on seed-honouring backends.
pub(crate) fn sample_params(params: &SamplingParams, sample_index: u32) -> SamplingParams {
    let mut p = params.clone();
    p.seed = p.seed.map(|s| s.wrapping_add(u64::from(sample_index)));
    p
}

/// More tokens than any model reads or writes in one call: a count above this is a
/// provider's (or an attacker's) mistake, not usage.
pub const MAX_PLAUSIBLE_TOKENS: u64 = 1_000_000_000;

/// A provider's token count as stored: an implausible one is recorded as unknown (NULL; the
/// stored raw reply keeps what the provider said) and counts as 0, so it cannot poison totals.
fn plausible_tokens(v: Option<u64>, model: &str, key: &str, what: &str) -> Option<i64> {
    match v {
        Some(x) if x > MAX_PLAUSIBLE_TOKENS => {
            tracing::warn!(
                model = %model,
                item = %key,
                "implausible {what} token count {x} from the provider: stored as unknown"
            );
            None
        }
        Some(x) => i64::try_from(x).ok(),
        None => None,
    }
}

/// Fills `row` from a call's outcome, the same way for a live call and a batched one: the
/// answer (or the error and its class) with every secret scrubbed, implausible token counts
/// stored as unknown. Returns (answer?, input tokens, output tokens, error class).
pub(crate) fn fill_row(
    row: &mut ResponseRow,
    result: Result<misalign_models::Completion, misalign_models::ProviderError>,
    secrets: &[String],
    model: &str,
) -> (bool, u64, u64, Option<ErrorClass>) {
    let key = row.item_key.clone();
    match result {
        Ok(c) => {
            row.status = Some(match c.outcome {
                Outcome::Answer => ResponseStatus::Answer,
                Outcome::ContentFiltered => ResponseStatus::ContentFiltered,
                Outcome::Empty => ResponseStatus::Empty,
            });
            row.answer = scrub(Some(c.text), secrets);
            row.reasoning = scrub(c.reasoning, secrets);
            row.finish_reason = c.finish_reason;
            row.input_tokens = plausible_tokens(c.usage.input_tokens, model, &key, "input");
            row.output_tokens = plausible_tokens(c.usage.output_tokens, model, &key, "output");
            row.reasoning_tokens =
                plausible_tokens(c.usage.reasoning_tokens, model, &key, "reasoning");
            let (i, o) = (row.input_tokens, row.output_tokens);
            row.request_id = c.request_id;
            row.raw_reply = scrub(c.raw, secrets);
            (true, i.unwrap_or(0) as u64, o.unwrap_or(0) as u64, None)
        }
        Err(e) => {
            let class = e.class();
            row.status = Some(ResponseStatus::Error);
            row.error = scrub(Some(e.to_string()), secrets);
            row.error_class = Some(
                match class {
                    ErrorClass::Retryable => "retryable",
                    ErrorClass::Permanent => "permanent",
                    ErrorClass::Auth => "auth",
                }
                .into(),
            );
            (false, 0, 0, Some(class))
        }
    }
}

async fn call_one(item: &WorkItem, sh: &Shared) -> Stored {
    let m = &item.model;
    sh.counters.started(&m.name, &m.provider);
    let request = CompletionRequest {
        model: m.model_id.clone(),
        system: item.prompt.rendered.system_prompt.clone(),
        turns: item.prompt.rendered.prior_turns.clone(),
        user: item.prompt.user_message.clone(),
        params: sample_params(&sh.opts.params, item.sample_index),
    };
    let started_at = now();
    let t0 = Instant::now();
    let stop = &sh.stop;
    let r = retry::call(
        m.client.as_ref(),
        &request,
        &sh.opts.retry,
        || !stop.is_stopped(),
        |_, _| sh.counters.retried(&m.name, &m.provider),
    )
    .await;
    let secrets = &sh.opts.secrets;
    let mut row = ResponseRow {
        item_key: item.key.clone(),
        run_id: sh.opts.run_id,
        attempts: r.attempts,
        latency_ms: Some(t0.elapsed().as_millis().min(i64::MAX as u128) as i64),
        started_at,
        finished_at: now(),
        ..Default::default()
    };
    let (ok, inp, outp, class) = fill_row(&mut row, r.result, secrets, &m.name);
    if class == Some(ErrorClass::Auth) {
        stop.trigger(StopReason::Auth {
            provider: m.provider.clone(),
            model: m.name.clone(),
            message: row.error.clone().unwrap_or_default(),
        });
    }
    let hook_row = match (&sh.opts.on_stored, ok) {
        (Some(_), true) => Some(row.clone()),
        _ => None,
    };
    match sh.writer.commit(row).await {
        Ok(crate::store::samples::Inserted::New) => {
            if let (Some(hook), Some(r)) = (&sh.opts.on_stored, &hook_row) {
                (hook.0)(item, r);
            }
            sh.counters.finished(&m.name, &m.provider, ok, inp, outp);
            if ok {
                Stored::Answer
            } else {
                Stored::Error
            }
        }
        Ok(crate::store::samples::Inserted::Duplicate) => {
            sh.counters.finished(&m.name, &m.provider, true, 0, 0);
            Stored::Duplicate
        }
        Err(e) => {
            sh.counters.abandoned(&m.name, &m.provider);
            stop.trigger(StopReason::Store(e.to_string()));
            Stored::Lost
        }
    }
}
