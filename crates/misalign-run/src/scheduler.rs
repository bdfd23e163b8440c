//! The sampling scheduler: every pending work item called once, within every limit, each
//! result committed by the store writer before it counts as done.
//!
//! One dispatcher task per model walks that model's items in queue order; for each it
//! waits for the model's slot, the provider's slot and the rate pools, then spawns the call.
//! Per-model dispatchers mean a model at its cap never blocks another model's queue.
//!
//! Before a call starts, the dispatcher also takes its estimated tokens from any
//! tokens-per-minute pool and sets its upper cost aside in the run's [`Budget`](crate::budget::Budget); a call the
//! budget refuses stops the run from starting more (calls in flight finish and are stored).
//! With `samples_per_request: N` (and a client that takes `n`), up to N adjacent pending
//! items of one prompt go out as one request, each choice stored as its own item's answer.
//! With prompt caching on, for a provider that caches on request (Anthropic), the first
//! request of a prompt goes alone and the others of that prompt wait for it to end: they
//! then read the cache it wrote instead of all writing it (and paying for the write).

use crate::call::{Answer, Call};
use crate::counters::Counters;
use crate::item::WorkItem;
use crate::limits::{Limits, LimitsError};
use crate::options::SamplingOptions;
use crate::retry;
use crate::stop::{Stop, StopReason};
use misalign_core::cost::{estimate_tokens, TokenCounts};
use misalign_core::SamplingParams;
use misalign_models::{AnswerKind, ErrorClass};
use misalign_store::samples::{ResponseRow, ResponseStatus};
use misalign_store::writer::WriterHandle;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

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

pub(crate) struct Shared {
    pub(crate) opts: SamplingOptions,
    pub(crate) writer: WriterHandle,
    pub(crate) counters: Arc<Counters>,
    pub(crate) stop: Stop,
}

/// Samples `items` (all assumed pending), returning once each is stored or the run stopped.
pub async fn sample(
    items: Vec<WorkItem>,
    writer: WriterHandle,
    opts: SamplingOptions,
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
        &opts.live.concurrency,
        &opts.live.rate_pools,
        &opts.live.rate_model_overrides,
        &models,
    )?;
    for (_, v) in &groups {
        counters.planned(&v[0].model.name, &v[0].model.provider, v.len() as u64);
    }
    let grace = opts.live.grace;
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
            _ = async {
                stop.stopped().await;
                // Calls in flight when the budget stops the run are paid for: let them end.
                if matches!(stop.reason(), Some(StopReason::Budget(_))) {
                    std::future::pending::<()>().await;
                }
                tokio::time::sleep(grace).await
            } => {
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
    let per_request = items.first().map_or(1, |i| {
        shared
            .opts
            .live
            .samples_per_request
            .clamp(1, i.model.client.max_choices().max(1)) as usize
    });
    let mut queue = items.into_iter().peekable();
    let mut last_prompt: Option<String> = None;
    // Episodes take their slots per step; this only bounds how many are under way at once
    // (each holds its conversation), with enough of them to keep every slot busy.
    let episodes = Arc::new(tokio::sync::Semaphore::new(
        limits.calls_at_once.saturating_mul(4).max(1),
    ));
    while let Some(first) = queue.next() {
        if let Some(setup) = first.prompt.episode.clone() {
            let slot = tokio::select! {
                biased;
                _ = shared.stop.stopped() => break,
                s = episodes.clone().acquire_owned() => s.expect("semaphore never closed"),
            };
            let (shared, limits) = (shared.clone(), limits.clone());
            calls.spawn(async move {
                let (stored, _) =
                    crate::episode::run_episode(&first, &setup, &limits, &shared).await;
                drop(slot);
                vec![stored]
            });
            while let Some(r) = calls.try_join_next() {
                reap(&mut report, r);
            }
            continue;
        }
        // Items come in queue order, so the pending samples of a prompt are adjacent.
        let mut group = vec![first];
        while group.len() < per_request {
            match queue.next_if(|n| n.prompt.hash == group[0].prompt.hash) {
                Some(n) => group.push(n),
                None => break,
            }
        }
        let permits = tokio::select! {
            biased;
            _ = shared.stop.stopped() => break,
            p = limits.acquire() => p,
        };
        if shared.stop.is_stopped() {
            break;
        }
        let tokens_taken = if limits.counts_tokens() {
            let est = request_tokens_estimate(&group, &shared.opts.params);
            tokio::select! {
                biased;
                _ = shared.stop.stopped() => break,
                _ = limits.take_tokens(est) => est,
            }
        } else {
            0
        };
        let reservation = match &shared.opts.budget {
            Some(b) => {
                let (m, pr) = (&group[0].model, &group[0].prompt);
                match b.reserve(&m.name, &pr.hash, prompt_tokens(pr), group.len() as u32) {
                    Ok(r) => Some(r),
                    Err(over) => {
                        limits.correct_tokens(tokens_taken, 0);
                        shared.stop.trigger(StopReason::Budget(over.to_string()));
                        break;
                    }
                }
            }
            None => None,
        };
        let first_of_prompt = last_prompt.as_deref() != Some(group[0].prompt.hash.as_str());
        last_prompt = Some(group[0].prompt.hash.clone());
        let warms_cache = shared.opts.prompt_cache
            && group[0].model.client.caches_on_request()
            && first_of_prompt
            && queue
                .peek()
                .is_some_and(|n| n.prompt.hash == group[0].prompt.hash);
        let (warmed, warm_wait) = tokio::sync::oneshot::channel::<()>();
        let shared2 = shared.clone();
        let limits = limits.clone();
        calls.spawn(async move {
            let shared = shared2;
            let (stored, used) = call_group(&group, &shared).await;
            if tokens_taken > 0 {
                limits.correct_tokens(tokens_taken, used.all_input() + used.output);
            }
            if let (Some(b), Some(r)) = (&shared.opts.budget, reservation) {
                let item = &group[0];
                b.settle(r, &item.model.name, &item.prompt.hash, &used, false);
            }
            drop(permits);
            let _ = warmed.send(());
            stored
        });
        if warms_cache {
            tokio::select! {
                biased;
                _ = shared.stop.stopped() => {}
                _ = warm_wait => {}
            }
        }
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

/// The chars/4 size of a prompt: system prompt, prior turns and user message.
pub(crate) fn prompt_tokens(p: &crate::PromptEntry) -> u64 {
    estimate_tokens(&p.rendered.system_prompt)
        + p.rendered
            .prior_turns
            .iter()
            .map(|t| estimate_tokens(&t.text))
            .sum::<u64>()
        + estimate_tokens(&p.user_message)
}

/// Tokens a request may use, for tokens-per-minute pools: its prompt (chars/4) once, and
/// `max_tokens` per sample.
fn request_tokens_estimate(group: &[WorkItem], params: &SamplingParams) -> u64 {
    prompt_tokens(&group[0].prompt) + u64::from(params.max_tokens) * group.len() as u64
}

/// Counts a finished call; one that panicked is counted as an error, never dropped.
fn reap(report: &mut SampleReport, r: Result<Vec<Stored>, tokio::task::JoinError>) {
    match r {
        Ok(all) => all.into_iter().for_each(|s| add(report, s)),
        Err(e) => {
            tracing::error!("a model call stopped unexpectedly: {e}");
            report.errors += 1;
        }
    }
}

#[derive(Clone, Copy)]
pub(crate) enum Stored {
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

/// `text` with every secret redacted, plain or JSON-escaped (the one redaction function,
/// [`misalign_models::http::scrub_secrets`]).
pub(crate) fn scrub(text: Option<String>, secrets: &[String]) -> Option<String> {
    text.map(|t| misalign_models::http::scrub_secrets(&t, secrets))
}

/// More tokens than any model reads or writes in one call: a count above this is a
/// provider's (or an attacker's) mistake, not usage.
/// The store's readers apply the same bound (an odd cell planted in a store is unknown too).
pub const MAX_PLAUSIBLE_TOKENS: u64 = misalign_store::cell::MAX_PLAUSIBLE_TOKENS as u64;

/// A provider's token count as stored: an implausible one is recorded as unknown (NULL; the
/// stored raw reply keeps what the provider said) and counts as 0, so it cannot poison totals.
pub(crate) fn plausible_tokens(v: Option<u64>, model: &str, key: &str, what: &str) -> Option<i64> {
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
/// stored as unknown. Returns (answer?, the stored token counts, error class).
pub(crate) fn fill_row(
    row: &mut ResponseRow,
    result: Result<misalign_models::Completion, misalign_models::ProviderError>,
    secrets: &[String],
    model: &str,
) -> (bool, TokenCounts, Option<ErrorClass>) {
    let key = row.item_key.clone();
    match result {
        Ok(c) => {
            row.status = Some(match c.outcome {
                AnswerKind::Answer => ResponseStatus::Answer,
                AnswerKind::ContentFiltered => ResponseStatus::ContentFiltered,
                AnswerKind::Empty => ResponseStatus::Empty,
            });
            row.answer = scrub(Some(c.text), secrets);
            row.reasoning = scrub(c.reasoning, secrets);
            row.finish_reason = c.finish_reason;
            let u = StoredUsage::of(&c.usage, model, &key);
            row.input_tokens = u.input;
            row.output_tokens = u.output;
            row.reasoning_tokens = u.reasoning;
            row.cache_write_tokens = u.cache_write;
            row.cache_read_tokens = u.cache_read;
            row.request_id = c.request_id;
            row.raw_reply = scrub(c.raw, secrets);
            (true, u.counts(), None)
        }
        Err(e) => {
            let class = e.class();
            row.status = Some(ResponseStatus::Error);
            row.error = scrub(Some(e.to_string()), secrets);
            row.error_class = Some(error_class_name(class).into());
            (false, TokenCounts::default(), Some(class))
        }
    }
}

/// `responses.error_class` of an error class.
pub(crate) fn error_class_name(class: ErrorClass) -> &'static str {
    match class {
        ErrorClass::Retryable => "retryable",
        ErrorClass::Permanent => "permanent",
        ErrorClass::Auth => "auth",
    }
}

/// A reply's token counts as stored: each implausible one unknown ([`plausible_tokens`]).
pub(crate) struct StoredUsage {
    pub input: Option<i64>,
    pub output: Option<i64>,
    pub reasoning: Option<i64>,
    pub cache_write: Option<i64>,
    pub cache_read: Option<i64>,
}

impl StoredUsage {
    pub fn of(u: &misalign_models::Usage, model: &str, key: &str) -> StoredUsage {
        StoredUsage {
            input: plausible_tokens(u.input_tokens, model, key, "input"),
            output: plausible_tokens(u.output_tokens, model, key, "output"),
            reasoning: plausible_tokens(u.reasoning_tokens, model, key, "reasoning"),
            cache_write: plausible_tokens(u.cache_write_tokens, model, key, "cache write"),
            cache_read: plausible_tokens(u.cache_read_tokens, model, key, "cache read"),
        }
    }

    /// The counts the budget and the run's totals add up.
    pub fn counts(&self) -> TokenCounts {
        TokenCounts::from_stored(self.input, self.cache_write, self.cache_read, self.output)
    }
}

/// Fills an agent step's row from its reply, as [`fill_row`] fills an answer's: token
/// counts checked, every secret scrubbed. Returns the stored token counts.
pub(crate) fn fill_usage(
    row: &mut misalign_store::episodes::EpisodeStepRow,
    c: &misalign_models::Completion,
    secrets: &[String],
    model: &str,
) -> TokenCounts {
    let u = StoredUsage::of(&c.usage, model, &row.item_key);
    row.input_tokens = u.input;
    row.output_tokens = u.output;
    row.reasoning_tokens = u.reasoning;
    row.cache_write_tokens = u.cache_write;
    row.cache_read_tokens = u.cache_read;
    row.finish_reason = c.finish_reason.clone();
    row.request_id = c.request_id.clone();
    row.raw_reply = scrub(c.raw.clone(), secrets);
    u.counts()
}

fn call_for(item: &WorkItem, sh: &Shared) -> Call {
    item.call(&sh.opts.params, sh.opts.prompt_cache)
}

/// Calls a group of items of one prompt (one request), stores each answer; returns what
/// happened to each and the tokens the stored answers used.
async fn call_group(group: &[WorkItem], sh: &Shared) -> (Vec<Stored>, TokenCounts) {
    if group.len() == 1 {
        let (s, t) = call_one(&group[0], sh).await;
        return (vec![s], t);
    }
    let first = &group[0];
    let m = &first.model;
    for _ in group {
        sh.counters.started(&m.name, &m.provider);
    }
    let request = call_for(first, sh).request;
    let started_at = misalign_store::timestamp();
    let t0 = Instant::now();
    let stop = &sh.stop;
    let r = retry::call_many(
        m.client.as_ref(),
        &request,
        group.len() as u32,
        &sh.opts.live.retry,
        || !stop.is_stopped(),
        |_, _| sh.counters.retried(&m.name, &m.provider),
    )
    .await;
    let latency = t0.elapsed();
    let mut stored = Vec::with_capacity(group.len());
    let mut used = TokenCounts::default();
    let mut rest: &[WorkItem] = group;
    match r.result {
        Ok(choices) => {
            for (item, c) in group.iter().zip(choices) {
                let answer = Answer {
                    key: item.key.clone(),
                    result: Ok(c),
                    attempts: r.attempts,
                };
                let (s, t) = store(item, answer, &started_at, latency, sh).await;
                stored.push(s);
                used.add(&t);
                rest = &rest[1..];
            }
        }
        Err(e) => {
            for item in group {
                let answer = Answer {
                    key: item.key.clone(),
                    result: Err(e.clone()),
                    attempts: r.attempts,
                };
                let (s, _) = store(item, answer, &started_at, latency, sh).await;
                stored.push(s);
            }
            rest = &[];
        }
    }
    // The server sent fewer choices than asked for: the rest go one request each.
    for item in rest {
        sh.counters.abandoned(&m.name, &m.provider);
        if stop.is_stopped() {
            continue;
        }
        let (s, t) = call_one(item, sh).await;
        stored.push(s);
        used.add(&t);
    }
    (stored, used)
}

async fn call_one(item: &WorkItem, sh: &Shared) -> (Stored, TokenCounts) {
    let m = &item.model;
    sh.counters.started(&m.name, &m.provider);
    let call = call_for(item, sh);
    let started_at = misalign_store::timestamp();
    let t0 = Instant::now();
    let stop = &sh.stop;
    let r = retry::call(
        m.client.as_ref(),
        &call.request,
        &sh.opts.live.retry,
        || !stop.is_stopped(),
        |_, _| sh.counters.retried(&m.name, &m.provider),
    )
    .await;
    let answer = Answer {
        key: call.key,
        result: r.result,
        attempts: r.attempts,
    };
    store(item, answer, &started_at, t0.elapsed(), sh).await
}

/// Commits one item's answer (or its last error) and counts it.
async fn store(
    item: &WorkItem,
    answer: Answer,
    started_at: &str,
    latency: Duration,
    sh: &Shared,
) -> (Stored, TokenCounts) {
    let m = &item.model;
    let stop = &sh.stop;
    let secrets = &sh.opts.secrets;
    let mut row = ResponseRow {
        item_key: answer.key,
        run_id: sh.opts.run_id,
        attempts: answer.attempts,
        latency_ms: Some(latency.as_millis().min(i64::MAX as u128) as i64),
        started_at: started_at.to_string(),
        finished_at: misalign_store::timestamp(),
        ..Default::default()
    };
    let (ok, tokens, class) = fill_row(&mut row, answer.result, secrets, &m.name);
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
        Ok(misalign_store::samples::Inserted::New) => {
            if let (Some(hook), Some(r)) = (&sh.opts.on_stored, &hook_row) {
                (hook.0)(item, r);
            }
            sh.counters.finished(&m.name, &m.provider, ok, &tokens);
            if ok {
                (Stored::Answer, tokens)
            } else {
                (Stored::Error, TokenCounts::default())
            }
        }
        Ok(misalign_store::samples::Inserted::Duplicate) => {
            // Billed all the same: the provider answered; another writer's answer was kept.
            sh.counters
                .finished(&m.name, &m.provider, true, &TokenCounts::default());
            (Stored::Duplicate, tokens)
        }
        Err(e) => {
            sh.counters.abandoned(&m.name, &m.provider);
            stop.trigger(StopReason::Store(e.to_string()));
            (Stored::Lost, tokens)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use misalign_models::http::REDACTED;

    const KEY: &str = "sk-test-0123456789";

    fn completion(text: String, raw: String) -> misalign_models::Completion {
        misalign_models::Completion {
            reasoning_blocks: Vec::new(),
            text,
            reasoning: Some(format!("thinking about {KEY}")),
            finish_reason: Some("stop".into()),
            outcome: misalign_models::AnswerKind::Answer,
            usage: Default::default(),
            request_id: None,
            raw: Some(raw),
            tool_calls: Vec::new(),
        }
    }

    #[test]
    fn a_stored_answer_carries_the_models_marker_in_place_of_every_secret() {
        let mut row = ResponseRow::default();
        let escaped = KEY.replace('-', "\\u002d");
        let result = Ok(completion(
            format!("the key is {KEY}."),
            format!(r#"{{"echo":"{escaped}"}}"#),
        ));
        fill_row(&mut row, result, &[KEY.to_string()], "mock/m");
        assert_eq!(
            row.answer.as_deref(),
            Some(format!("the key is {REDACTED}.").as_str())
        );
        assert_eq!(
            row.reasoning.as_deref(),
            Some(format!("thinking about {REDACTED}").as_str())
        );
        assert_eq!(
            row.raw_reply.as_deref(),
            Some(format!(r#"{{"echo":"{REDACTED}"}}"#).as_str())
        );
        assert_eq!(REDACTED, "[redacted]");
    }

    #[test]
    fn a_stored_error_carries_the_marker_and_text_without_secrets_is_kept() {
        let mut row = ResponseRow::default();
        let err = misalign_models::ProviderError::Http {
            status: 400,
            message: format!("bad key {KEY}"),
            retry_after: None,
        };
        fill_row(&mut row, Err(err), &[KEY.to_string()], "mock/m");
        let stored = row.error.unwrap();
        assert!(stored.ends_with(&format!("bad key {REDACTED}")), "{stored}");
        assert!(!stored.contains(KEY), "{stored}");

        // Nothing to scrub: the text is stored as the model wrote it.
        let mut row = ResponseRow::default();
        let result = Ok(completion("plain answer".into(), "{}".into()));
        fill_row(&mut row, result, &["another-secret-value".into()], "mock/m");
        assert_eq!(row.answer.as_deref(), Some("plain answer"));
    }
}
