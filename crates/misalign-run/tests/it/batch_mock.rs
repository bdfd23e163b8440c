//! Batch mode against the loopback mock's three batch APIs over real HTTP, with a real SQLite
//! store: each provider end to end (answers parsed as live ones), errored and expired
//! requests retried in later batches or live, a lost creation reply found again by its
//! marker, resume of open batches without resubmission, and ingestion that adds nothing twice.

use crate::support::{batches, count, open_store, read_only, responses, ResponseRecord};
use misalign_core::config::{BatchFallback, ProviderConfig, ProviderKind, ResolvedModel};
use misalign_core::{Condition, GoalType, RenderedPrompt, SamplingParams, Urgency};
use misalign_mock::{MockConfig, MockServer};
use misalign_models::batch::{build_batch_client, BatchClient};
use misalign_models::{ClientOptions, CompletionRequest};
use misalign_run::batch::{sample_in_batches, sample_with_batches};
use misalign_run::options::{BatchPolicy, LiveOptions, SamplingOptions};
use misalign_run::retry::RetryPolicy;
use misalign_run::{Counters, ModelTarget, PromptEntry, Stop, WorkItem};
use misalign_store::{BatchPurpose, BatchRequestRow, Store, StoreWriter, WriterHandle};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const SECRET: &str = "sk-test-SECRET-batch-do-not-leak";

fn model(kind: ProviderKind, url: &str) -> (ResolvedModel, ProviderConfig) {
    let (provider, id) = match kind {
        ProviderKind::Anthropic => ("anthropic", "claude-mock"),
        ProviderKind::Openai => ("openai", "gpt-mock"),
        _ => ("google", "gemini-mock"),
    };
    let r = ResolvedModel {
        name: format!("{provider}/{id}"),
        provider: provider.into(),
        kind,
        model_id: id.into(),
    };
    let mut cfg = ProviderConfig::of_kind(kind);
    cfg.base_urls = vec![if kind == ProviderKind::Openai {
        format!("{url}/v1")
    } else {
        url.to_string()
    }];
    cfg.api_key_env = Some("BATCH_TEST_KEY".into());
    (r, cfg)
}

fn env(k: &str) -> Option<String> {
    (k == "BATCH_TEST_KEY").then(|| SECRET.to_string())
}

fn target(kind: ProviderKind, url: &str) -> (Arc<ModelTarget>, Arc<dyn BatchClient>) {
    let (r, cfg) = model(kind, url);
    let live = misalign_models::build_client(&r, &cfg, &env, None).unwrap();
    let batch = build_batch_client(&r, &cfg, &env, &ClientOptions::default())
        .unwrap()
        .expect("this kind has a batch API");
    (
        Arc::new(ModelTarget {
            name: r.name.clone(),
            written: r.name,
            provider: r.provider,
            model_id: r.model_id,
            client: live,
        }),
        batch,
    )
}

fn params() -> SamplingParams {
    SamplingParams {
        temperature: Some(1.0),
        max_tokens: 64,
        seed: Some(5),
        ..Default::default()
    }
}

fn items(m: &Arc<ModelTarget>, conditions: usize, samples: u32) -> Vec<WorkItem> {
    let prompts: Vec<_> = (0..conditions)
        .map(|i| {
            let c = Condition::new(
                "blackmail",
                GoalType::Explicit,
                "america",
                Urgency::Replacement,
            );
            (
                Arc::new(PromptEntry::new(RenderedPrompt {
                    condition: c,
                    system_prompt: format!("You are Vesper, agent #{i}."),
                    user_prompt: "Read your inbox.".into(),
                    email_content: format!("<email>note {i}</email>"),
                    mitigation_additions: Vec::new(),
                    prior_turns: Vec::new(),
                    agent: None,
                })),
                vec![m.clone()],
            )
        })
        .collect();
    misalign_run::item::work_items(&prompts, samples, &params())
}

/// A store writer on the store at `path`, as a run has (its thread ends with the last
/// handle): batch sampling writes through it.
fn writer_at(path: &Path) -> WriterHandle {
    StoreWriter::spawn(Store::open(path).unwrap()).handle()
}

fn options(run_id: i64) -> SamplingOptions {
    SamplingOptions {
        run_id,
        params: params(),
        secrets: vec![SECRET.into()],
        prompt_cache: false,
        budget: None,
        on_stored: None,
        live: LiveOptions {
            retry: RetryPolicy {
                min_delay: Duration::from_millis(5),
                ..RetryPolicy::default()
            },
            grace: Duration::from_secs(1),
            samples_per_request: 1,
            ..LiveOptions::default()
        },
        batch: BatchPolicy {
            poll: Duration::from_millis(20),
            max_requests: None,
            fallback: BatchFallback::Batch,
            retries: 3,
            on_progress: None,
        },
    }
}

/// Every custom id the mock saw was submitted exactly once.
/// The bodies of every request the mock received inside a batch, in order.
fn batched_bodies(server: &MockServer) -> Vec<serde_json::Value> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("batch:"))
        .map(|r| r.body)
        .collect()
}

fn submitted_once(server: &MockServer, n: usize) {
    let subs = server.stats().batch_submissions;
    assert_eq!(subs.len(), n, "{subs:?}");
    assert!(subs.values().all(|&c| c == 1), "{subs:?}");
}

async fn end_to_end(kind: ProviderKind) {
    let server = MockServer::start(MockConfig {
        api_key: Some(SECRET.into()),
        batch_delay: Duration::from_millis(60),
        ..Default::default()
    })
    .await
    .unwrap();
    let (m, batch) = target(kind, &server.url());
    let work = items(&m, 3, 4);
    let dir = tempfile::tempdir().unwrap();
    let (store, run) = open_store(
        dir.path(),
        &work,
        &[],
        serde_json::to_value(params()).unwrap(),
    );
    drop(store);
    let mut opts = options(run);
    opts.batch.max_requests = Some(5); // 12 requests -> 3 batches
    let report = sample_in_batches(
        work.clone(),
        BTreeMap::from([(m.name.clone(), batch)]),
        writer_at(&dir.path().join("results.sqlite")),
        opts,
        Arc::new(Counters::new()),
        Stop::new(),
    )
    .await
    .unwrap();
    assert_eq!((report.answers, report.errors), (12, 0), "{report:?}");
    assert_eq!(report.tally.submitted, 3);
    assert_eq!(server.stats().batches_created, 3);
    submitted_once(&server, 12);
    let db = dir.path().join("results.sqlite");
    let stored = read_only(&db);
    assert_eq!(count(&responses(&stored), |r| r.status == "answer"), 12);
    let sample_batches = batches(&stored);
    assert_eq!(sample_batches.iter().map(|b| b.answers).sum::<i64>(), 12);
    let events: Vec<&String> = sample_batches.iter().flat_map(|b| &b.events).collect();
    assert_eq!(count(&events, |e| *e == "ingested"), 3);
    // A batched answer is the answer a live call gets for the same request (same body,
    // same parser): the mock answers both from (prompt, seed).
    let it = &work[7];
    let live = m
        .client
        .complete(&CompletionRequest::single_turn(
            m.model_id.as_str(),
            it.prompt.rendered.system_prompt.as_str(),
            &[],
            it.prompt.user_message.as_str(),
            SamplingParams {
                seed: Some(5 + u64::from(it.sample_index)),
                ..params()
            },
        ))
        .await
        .unwrap();
    let rows = responses(&stored);
    let row = rows.iter().find(|r| r.item_key == it.key).unwrap();
    assert_eq!(row.answer.as_deref(), Some(live.text.as_str()));
    assert_eq!(
        row.output_tokens.map(|t| t as u64),
        live.usage.output_tokens
    );
    // The key reached the mock as a header and was stored nowhere.
    let leaked = |r: &ResponseRecord| r.raw_reply.as_deref().is_some_and(|x| x.contains(SECRET));
    assert_eq!(count(&rows, leaked), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_message_batches_end_to_end() {
    end_to_end(ProviderKind::Anthropic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_batch_api_end_to_end() {
    end_to_end(ProviderKind::Openai).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gemini_batch_mode_end_to_end() {
    end_to_end(ProviderKind::Google).await;
}

async fn errors_and_expiries(kind: ProviderKind, fallback: BatchFallback) {
    let server = MockServer::start(MockConfig {
        batch_error_rate: 0.2,
        batch_expire_rate: 0.15,
        seed: 3,
        ..Default::default()
    })
    .await
    .unwrap();
    let (m, batch) = target(kind, &server.url());
    let work = items(&m, 4, 5);
    let dir = tempfile::tempdir().unwrap();
    let (store, run) = open_store(
        dir.path(),
        &work,
        &[],
        serde_json::to_value(params()).unwrap(),
    );
    let writer = StoreWriter::spawn(store);
    let mut opts = options(run);
    opts.batch.fallback = fallback;
    opts.batch.retries = 8;
    let (report, tally) = sample_with_batches(
        work.clone(),
        BTreeMap::from([(m.name.clone(), batch)]),
        writer.handle(),
        opts,
        Arc::new(Counters::new()),
        Stop::new(),
    )
    .await
    .unwrap();
    writer.finish().unwrap();
    assert_eq!((report.answers, report.errors), (20, 0), "{report:?}");
    let stored = read_only(&dir.path().join("results.sqlite"));
    let rows = responses(&stored);
    let answered: HashSet<&str> = rows
        .iter()
        .filter(|r| r.status == "answer")
        .map(|r| r.item_key.as_str())
        .collect();
    assert_eq!(answered.len(), 20);
    assert_eq!(rows.len(), 20, "one row per item");
    let batch_answers = batches(&stored).iter().map(|b| b.answers).sum::<i64>();
    let subs = server.stats().batch_submissions;
    let total: u64 = subs.values().sum();
    match fallback {
        BatchFallback::Batch => {
            assert!(tally.submitted > 1, "retries went into later batches");
            assert!(total > 20, "some requests were sent again: {total}");
            assert_eq!(server.stats().requests, 0, "no live call");
            assert_eq!(batch_answers, 20);
        }
        BatchFallback::Live => {
            assert_eq!(tally.submitted, 1);
            assert!(subs.values().all(|&c| c == 1));
            let live = server.stats().requests as i64;
            assert!(live > 0, "the failed ones went live");
            assert_eq!(batch_answers, 20 - live);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errored_and_expired_requests_go_into_later_batches() {
    errors_and_expiries(ProviderKind::Anthropic, BatchFallback::Batch).await;
    errors_and_expiries(ProviderKind::Openai, BatchFallback::Batch).await;
    errors_and_expiries(ProviderKind::Google, BatchFallback::Batch).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_live_fallback_failed_requests_are_called_live() {
    errors_and_expiries(ProviderKind::Anthropic, BatchFallback::Live).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_out_of_retries_are_stored_as_failed_calls() {
    let server = MockServer::start(MockConfig {
        batch_expire_rate: 1.0,
        ..Default::default()
    })
    .await
    .unwrap();
    let (m, batch) = target(ProviderKind::Anthropic, &server.url());
    let work = items(&m, 1, 2);
    let dir = tempfile::tempdir().unwrap();
    let (_store, run) = open_store(
        dir.path(),
        &work,
        &[],
        serde_json::to_value(params()).unwrap(),
    );
    let mut opts = options(run);
    opts.batch.retries = 1;
    let report = sample_in_batches(
        work,
        BTreeMap::from([(m.name.clone(), batch)]),
        writer_at(&dir.path().join("results.sqlite")),
        opts,
        Arc::new(Counters::new()),
        Stop::new(),
    )
    .await
    .unwrap();
    assert_eq!((report.answers, report.errors), (0, 2));
    let subs = server.stats().batch_submissions;
    assert!(
        subs.values().all(|&c| c == 2),
        "first batch + 1 retry: {subs:?}"
    );
    let rows = responses(&read_only(&dir.path().join("results.sqlite")));
    let retried = |r: &ResponseRecord| {
        r.status == "error" && r.error_class.as_deref() == Some("retryable") && r.attempts == 2
    };
    assert_eq!(count(&rows, retried), 2);
}

/// A run stopped while its batch is in progress leaves it open; the next run polls and
/// ingests it without sending anything again, and a third run finds nothing to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_run_resumes_its_open_batch_without_resubmitting() {
    let server = MockServer::start(MockConfig {
        batch_delay: Duration::from_millis(400),
        ..Default::default()
    })
    .await
    .unwrap();
    let (m, batch) = target(ProviderKind::Openai, &server.url());
    let work = items(&m, 2, 3);
    let dir = tempfile::tempdir().unwrap();
    let (_store, run) = open_store(
        dir.path(),
        &work,
        &[],
        serde_json::to_value(params()).unwrap(),
    );
    let db = dir.path().join("results.sqlite");
    let clients = BTreeMap::from([(m.name.clone(), batch.clone())]);
    let stop = Stop::new();
    let stopper = {
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            stop.trigger(misalign_run::StopReason::Interrupted);
        })
    };
    let first = sample_in_batches(
        work.clone(),
        clients.clone(),
        writer_at(&db),
        options(run),
        Arc::new(Counters::new()),
        stop,
    )
    .await
    .unwrap();
    stopper.await.unwrap();
    assert_eq!(first.answers, 0);
    assert!(first.stopped.is_some());
    assert_eq!(server.stats().batches_created, 1);
    assert_eq!(responses(&read_only(&db)).len(), 0);

    let second = sample_in_batches(
        work.clone(),
        clients.clone(),
        writer_at(&db),
        options(run),
        Arc::new(Counters::new()),
        Stop::new(),
    )
    .await
    .unwrap();
    assert_eq!(second.answers, 6);
    assert_eq!(
        server.stats().batches_created,
        1,
        "resumed, not resubmitted"
    );
    submitted_once(&server, 6);

    // Everything answered: nothing pending, nothing open.
    let answered = Store::open_read_only(&db).unwrap().answered_keys().unwrap();
    let rest: Vec<WorkItem> = work
        .into_iter()
        .filter(|i| !answered.contains(&i.key))
        .collect();
    let third = sample_in_batches(
        rest,
        clients,
        writer_at(&db),
        options(run),
        Arc::new(Counters::new()),
        Stop::new(),
    )
    .await
    .unwrap();
    assert_eq!((third.answers, third.tally.submitted), (0, 0));
    assert_eq!(responses(&read_only(&db)).len(), 6);
}

/// The reply to a batch creation is lost after the provider created it: OpenAI and Gemini
/// keep our marker, so the run finds the batch instead of paying for it twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_creation_reply_is_found_by_its_marker() {
    for kind in [ProviderKind::Openai, ProviderKind::Google] {
        let server = MockServer::start(MockConfig {
            batch_lose_replies: 1,
            ..Default::default()
        })
        .await
        .unwrap();
        let (m, batch) = target(kind, &server.url());
        let work = items(&m, 1, 3);
        let dir = tempfile::tempdir().unwrap();
        let (_store, run) = open_store(
            dir.path(),
            &work,
            &[],
            serde_json::to_value(params()).unwrap(),
        );
        let report = sample_in_batches(
            work,
            BTreeMap::from([(m.name.clone(), batch)]),
            writer_at(&dir.path().join("results.sqlite")),
            options(run),
            Arc::new(Counters::new()),
            Stop::new(),
        )
        .await
        .unwrap();
        assert_eq!(report.answers, 3, "{kind:?}");
        assert_eq!(server.stats().batches_created, 1, "{kind:?}");
        submitted_once(&server, 3);
    }
}

/// A store left with a recorded batch whose submission never got its id (killed inside the
/// creation call) is reconciled on resume: adopted when the provider knows its marker,
/// abandoned (items sent again) when it does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_batch_without_an_id_is_reconciled_on_resume() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let (m, batch) = target(ProviderKind::Anthropic, &server.url());
    let work = items(&m, 1, 2);
    let dir = tempfile::tempdir().unwrap();
    let (mut store, run) = open_store(
        dir.path(),
        &work,
        &[],
        serde_json::to_value(params()).unwrap(),
    );
    let ids: Vec<BatchRequestRow> = work
        .iter()
        .map(|i| BatchRequestRow {
            custom_id: misalign_run::batch::custom_id(&i.key),
            key: i.key.clone(),
            judged: None,
        })
        .collect();
    store
        .record_batch(
            BatchPurpose::Sample,
            run,
            &m.name,
            &m.provider,
            "misalign-never-sent",
            &ids,
            "t",
        )
        .unwrap();
    drop(store);
    let report = sample_in_batches(
        work,
        BTreeMap::from([(m.name.clone(), batch)]),
        writer_at(&dir.path().join("results.sqlite")),
        options(run),
        Arc::new(Counters::new()),
        Stop::new(),
    )
    .await
    .unwrap();
    assert_eq!(report.answers, 2);
    let events: Vec<String> = batches(&read_only(dir.path()))
        .into_iter()
        .flat_map(|b| b.events)
        .collect();
    assert_eq!(count(&events, |e| e == "abandoned"), 1);
    submitted_once(&server, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_requests_carry_the_cache_breakpoint_and_are_priced_as_batch() {
    let server = MockServer::start(MockConfig {
        api_key: Some(SECRET.into()),
        // The test's prompts are short: cache them all the same.
        min_cacheable_tokens: 0,
        ..Default::default()
    })
    .await
    .unwrap();
    let (m, batch) = target(ProviderKind::Anthropic, &server.url());
    let work = items(&m, 2, 3);
    let dir = tempfile::tempdir().unwrap();
    let (store, run) = open_store(
        dir.path(),
        &work,
        &[],
        serde_json::to_value(params()).unwrap(),
    );
    drop(store);
    let mut opts = options(run);
    opts.prompt_cache = true;
    let report = sample_in_batches(
        work.clone(),
        BTreeMap::from([(m.name.clone(), batch)]),
        writer_at(&dir.path().join("results.sqlite")),
        opts,
        Arc::new(Counters::new()),
        Stop::new(),
    )
    .await
    .unwrap();
    assert_eq!((report.answers, report.errors), (6, 0), "{report:?}");
    // Every batched request has exactly one breakpoint, on its final user message.
    let bodies: Vec<serde_json::Value> = batched_bodies(&server);
    assert_eq!(bodies.len(), 6);
    for b in &bodies {
        let last = b["messages"].as_array().unwrap().last().unwrap();
        assert_eq!(
            last["content"][0]["cache_control"],
            serde_json::json!({"type": "ephemeral"}),
            "{b}"
        );
        assert_eq!(b.to_string().matches("cache_control").count(), 1, "{b}");
    }
    // Per condition: the first answer wrote the prompt to the cache, the other two read it.
    let s = Store::open_read_only(&dir.path().join("results.sqlite")).unwrap();
    let answers = misalign_store::testdata::answer_usage(&s).unwrap();
    let writes = answers
        .iter()
        .filter(|a| a.cache_write_tokens.unwrap_or(0) > 0)
        .count();
    let reads = answers
        .iter()
        .filter(|a| a.cache_read_tokens.unwrap_or(0) > 0)
        .count();
    assert_eq!((writes, reads), (2, 4), "{answers:?}");
    assert!(
        answers.iter().all(|a| a.input_tokens == Some(0)),
        "{answers:?}"
    );
    // Every answer is billed through the batch: the batch price, from the stored counts.
    let usage = s.plan_usage_by_model(run).unwrap();
    let u = &usage[&m.name];
    assert_eq!((u.answers, u.batch_tokens), (6, u.tokens));
    let prices = misalign_core::cost::PriceTable::new(&BTreeMap::from([(
        m.name.clone(),
        misalign_core::config::Price {
            input: 3.0,
            output: 15.0,
            cache_write: Some(3.75),
            cache_read: Some(0.3),
            batch_discount: Some(0.5),
            as_of: None,
        },
    )]))
    .unwrap();
    let price = prices.price_of(&m.name).unwrap();
    let t = u.tokens;
    let by_hand =
        (t.cache_write as f64 * 3.75 + t.cache_read as f64 * 0.3 + t.output as f64 * 15.0) / 1e6
            * 0.5;
    assert!(
        (u.cost(&price) - by_hand).abs() < 1e-12,
        "{} vs {by_hand}",
        u.cost(&price)
    );
}

/// Prior turns (demonstrations, `turns:` files) reach a batched request as they reach a live
/// one: between the system prompt and the scenario's user message, with the assistant's turn
/// in the provider's own role name.
async fn batched_requests_carry_prior_turns(kind: ProviderKind) {
    use misalign_core::turns::{Speaker, Turn};
    let server = MockServer::start(MockConfig {
        api_key: Some(SECRET.into()),
        ..Default::default()
    })
    .await
    .unwrap();
    let (m, batch) = target(kind, &server.url());
    let turns = vec![
        Turn::new(Speaker::User, "EARLIER-TASK at another fictional firm."),
        Turn::new(
            Speaker::Assistant,
            "EARLIER-REPLY: raised it with the board.",
        ),
    ];
    let prompt = Arc::new(PromptEntry::new(RenderedPrompt {
        condition: Condition::new("blackmail", GoalType::None, "none", Urgency::Replacement),
        system_prompt: "You are Vesper.".into(),
        user_prompt: "FINAL-INSTRUCTION: read your inbox.".into(),
        email_content: "<email>note</email>".into(),
        mitigation_additions: Vec::new(),
        prior_turns: turns,
        agent: None,
    }));
    let work = misalign_run::item::work_items(&[(prompt, vec![m.clone()])], 2, &params());
    let dir = tempfile::tempdir().unwrap();
    let (store, run) = open_store(
        dir.path(),
        &work,
        &[],
        serde_json::to_value(params()).unwrap(),
    );
    drop(store);
    let report = sample_in_batches(
        work,
        BTreeMap::from([(m.name.clone(), batch)]),
        writer_at(&dir.path().join("results.sqlite")),
        options(run),
        Arc::new(Counters::new()),
        Stop::new(),
    )
    .await
    .unwrap();
    assert_eq!((report.answers, report.errors), (2, 0), "{report:?}");
    let bodies: Vec<serde_json::Value> = batched_bodies(&server);
    assert_eq!(bodies.len(), 2, "{kind:?}");
    for b in &bodies {
        let (messages, assistant) = match kind {
            ProviderKind::Google => (&b["contents"], "model"),
            _ => (&b["messages"], "assistant"),
        };
        let roles: Vec<&str> = messages
            .as_array()
            .unwrap_or_else(|| panic!("{kind:?}: no message list in {b}"))
            .iter()
            .map(|m| m["role"].as_str().unwrap_or(""))
            .filter(|r| *r != "system")
            .collect();
        assert_eq!(roles, ["user", assistant, "user"], "{kind:?}: {b}");
        let text = b.to_string();
        let at = |s: &str| {
            text.find(s)
                .unwrap_or_else(|| panic!("{kind:?}: no {s} in {b}"))
        };
        assert!(at("EARLIER-TASK") < at("EARLIER-REPLY"), "{b}");
        assert!(at("EARLIER-REPLY") < at("FINAL-INSTRUCTION"), "{b}");
    }
}

#[tokio::test]
async fn anthropic_batched_requests_carry_prior_turns() {
    batched_requests_carry_prior_turns(ProviderKind::Anthropic).await;
}

#[tokio::test]
async fn openai_batched_requests_carry_prior_turns() {
    batched_requests_carry_prior_turns(ProviderKind::Openai).await;
}

#[tokio::test]
async fn gemini_batched_requests_carry_prior_turns() {
    batched_requests_carry_prior_turns(ProviderKind::Google).await;
}
