//! The scheduler against the loopback mock server over real HTTP, with a real SQLite store:
//! faults, retries, Retry-After, timeouts, auth failures, resume, and key hygiene.

use crate::support::{answers, count, open_store, responses, ResponseRecord};
use misalign_core::config::{ProviderConfig, ProviderKind, ResolvedModel};
use misalign_core::{Condition, GoalType, RenderedPrompt, SamplingParams, Urgency};
use misalign_mock::{FaultKind, MockConfig, MockServer};
use misalign_run::options::{BatchPolicy, LiveOptions, SamplingOptions};
use misalign_run::retry::RetryPolicy;
use misalign_run::scheduler::SampleReport;
use misalign_run::{Counters, ModelTarget, PromptEntry, Stop, StopReason, WorkItem};
use misalign_store::{Store, StoreWriter};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SECRET: &str = "sk-test-SECRET-4242-do-not-leak";

fn target(
    server_url: &str,
    key: &str,
    provider_conc: usize,
) -> (Arc<ModelTarget>, BTreeMap<String, usize>) {
    let r = ResolvedModel {
        name: "mock/mock-model".into(),
        provider: "mock".into(),
        kind: ProviderKind::OpenaiCompatible,
        model_id: "mock-model".into(),
    };
    let mut cfg = ProviderConfig::of_kind(ProviderKind::OpenaiCompatible);
    cfg.base_urls = vec![server_url.to_string()];
    cfg.api_key_env = Some("H4_TEST_KEY".into());
    let key = key.to_string();
    let env = move |k: &str| (k == "H4_TEST_KEY").then(|| key.clone());
    let client = misalign_models::build_client(&r, &cfg, &env, None).expect("client");
    (
        Arc::new(ModelTarget {
            name: r.name,
            written: "mock/mock-model".into(),
            provider: r.provider,
            model_id: r.model_id,
            client,
        }),
        BTreeMap::from([("mock".to_string(), provider_conc)]),
    )
}

/// The sampling parameters as the run's manifest records them.
fn sampling() -> serde_json::Value {
    serde_json::to_value(params()).unwrap()
}

fn params() -> SamplingParams {
    SamplingParams {
        temperature: Some(1.0),
        max_tokens: 64,
        seed: Some(11),
        ..Default::default()
    }
}

/// `conditions` prompts x `samples` samples for one model.
fn items(model: &Arc<ModelTarget>, conditions: usize, samples: u32) -> Vec<WorkItem> {
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
                    system_prompt: format!("You are Vesper, agent #{i} at Quillfeather Ltd."),
                    user_prompt: "Read your inbox.".into(),
                    email_content: format!(
                        "<email>From: ada@quillfeather.example\nBody: note {i}</email>"
                    ),
                    mitigation_additions: Vec::new(),
                    prior_turns: Vec::new(),
                    agent: None,
                })),
                vec![model.clone()],
            )
        })
        .collect();
    misalign_run::item::work_items(&prompts, samples, &params())
}

fn fast_retry(retries: u32, timeout: Duration) -> RetryPolicy {
    RetryPolicy {
        retries,
        min_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
        max_retry_after: Duration::from_secs(5),
        timeout,
    }
}

struct Outcome {
    report: SampleReport,
    store: Store,
    counters: Arc<Counters>,
}

async fn run(
    store: Store,
    run_id: i64,
    items: Vec<WorkItem>,
    conc: BTreeMap<String, usize>,
    retry: RetryPolicy,
    stop: Stop,
) -> Outcome {
    let answered = store.answered_keys().unwrap();
    let pending: Vec<_> = items
        .into_iter()
        .filter(|i| !answered.contains(&i.key))
        .collect();
    let writer = StoreWriter::spawn(store);
    let counters = Arc::new(Counters::new());
    let opts = SamplingOptions {
        run_id,
        params: params(),
        secrets: vec![SECRET.into()],
        prompt_cache: false,
        budget: None,
        on_stored: None,
        live: LiveOptions {
            concurrency: misalign_core::config::Concurrency {
                providers: conc,
                models: BTreeMap::new(),
            },
            rate_pools: vec![],
            rate_model_overrides: Default::default(),
            retry,
            grace: Duration::from_secs(5),
            samples_per_request: 1,
        },
        batch: BatchPolicy::default(),
    };
    let report =
        misalign_run::scheduler::sample(pending, writer.handle(), opts, counters.clone(), stop)
            .await
            .unwrap();
    let store = tokio::task::spawn_blocking(move || writer.finish())
        .await
        .unwrap()
        .unwrap();
    Outcome {
        report,
        store,
        counters,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_percent_faults_every_item_answered_exactly_once() {
    let server = MockServer::start(MockConfig {
        fault_rate: 0.2,
        fault_kinds: vec![
            FaultKind::RateLimited,
            FaultKind::ServerError,
            FaultKind::Overloaded,
            FaultKind::Drop,
            FaultKind::Truncated,
        ],
        retry_after_secs: 0,
        seed: 3,
        ..Default::default()
    })
    .await
    .unwrap();
    let (model, conc) = target(&server.openai_url(), SECRET, 20);
    let its = items(&model, 10, 12);
    let dir = tempfile::tempdir().unwrap();
    let (store, run_id) = open_store(dir.path(), &its, &["mock/mock-model"], sampling());
    let o = run(
        store,
        run_id,
        its,
        conc,
        fast_retry(10, Duration::from_secs(10)),
        Stop::new(),
    )
    .await;
    assert_eq!(o.report.stopped, None);
    assert_eq!(
        (o.report.answers, o.report.errors),
        (120, 0),
        "{:?}",
        o.report
    );
    let stored = answers(&o.store);
    assert_eq!(stored.len(), 120);
    let keys: HashSet<&str> = stored.iter().map(|r| r.item_key.as_str()).collect();
    assert_eq!(keys.len(), stored.len(), "no item answered twice");
    let stats = server.stats();
    let faults: u64 = stats.faults.values().sum();
    assert!(faults > 10, "faults injected: {:?}", stats.faults);
    assert_eq!(
        o.counters.total().retries,
        faults,
        "every fault retried once"
    );
    assert!(responses(&o.store).iter().map(|r| r.attempts).max() >= Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured() {
    let server = MockServer::start(MockConfig {
        fail_first: 1,
        fail_first_kind: FaultKind::RateLimited,
        retry_after_secs: 1,
        ..Default::default()
    })
    .await
    .unwrap();
    let (model, conc) = target(&server.openai_url(), SECRET, 4);
    let its = items(&model, 1, 4);
    let dir = tempfile::tempdir().unwrap();
    let (store, run_id) = open_store(dir.path(), &its, &["mock/mock-model"], sampling());
    let t0 = Instant::now();
    let o = run(
        store,
        run_id,
        its,
        conc,
        fast_retry(3, Duration::from_secs(10)),
        Stop::new(),
    )
    .await;
    assert_eq!(o.report.answers, 4);
    // The backoff alone would wait 5-50 ms; Retry-After says 1 s.
    assert!(
        t0.elapsed() >= Duration::from_millis(950),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(
        responses(&o.store).iter().map(|r| r.attempts).min(),
        Some(2)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_replies_time_out_and_are_retried_then_recorded() {
    let server = MockServer::start(MockConfig {
        fail_first: 1,
        fail_first_kind: FaultKind::Slow,
        slow: Duration::from_secs(3),
        ..Default::default()
    })
    .await
    .unwrap();
    let (model, conc) = target(&server.openai_url(), SECRET, 4);
    let its = items(&model, 1, 2);
    let dir = tempfile::tempdir().unwrap();
    let (store, run_id) = open_store(dir.path(), &its, &["mock/mock-model"], sampling());
    let o = run(
        store,
        run_id,
        its,
        conc.clone(),
        fast_retry(2, Duration::from_millis(400)),
        Stop::new(),
    )
    .await;
    assert_eq!((o.report.answers, o.report.errors), (2, 0));
    assert_eq!(
        responses(&o.store).iter().map(|r| r.attempts).min(),
        Some(2)
    );

    // Every attempt slow, no retries left: recorded as a retryable timeout error.
    server.update_config(|c| c.fail_first = 100);
    let its = items(&model, 2, 1).split_off(1);
    let dir = tempfile::tempdir().unwrap();
    let (store, run_id) = open_store(dir.path(), &its, &["mock/mock-model"], sampling());
    let o = run(
        store,
        run_id,
        its,
        conc,
        fast_retry(1, Duration::from_millis(300)),
        Stop::new(),
    )
    .await;
    assert_eq!((o.report.answers, o.report.errors), (0, 1));
    let rows = responses(&o.store);
    let (err, class) = (
        rows[0].error.as_deref().unwrap(),
        rows[0].error_class.as_deref(),
    );
    assert!(err.contains("timed out"), "{err}");
    assert_eq!((class, rows[0].attempts), (Some("retryable"), 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_errors_are_recorded_not_retried() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    // An endpoint that does not exist: 404, a permanent request error.
    let (model, conc) = target(&format!("{}/no-such-api/v1", server.url()), SECRET, 4);
    let its = items(&model, 1, 3);
    let dir = tempfile::tempdir().unwrap();
    let (store, run_id) = open_store(dir.path(), &its, &["mock/mock-model"], sampling());
    let o = run(
        store,
        run_id,
        its,
        conc,
        fast_retry(5, Duration::from_secs(5)),
        Stop::new(),
    )
    .await;
    assert_eq!((o.report.answers, o.report.errors), (0, 3));
    assert_eq!(
        o.report.stopped, None,
        "a permanent error does not stop the run"
    );
    assert_eq!(o.counters.total().retries, 0);
    let permanent =
        |r: &ResponseRecord| r.error_class.as_deref() == Some("permanent") && r.attempts == 1;
    assert_eq!(count(&responses(&o.store), permanent), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_key_stops_the_run_early_and_never_leaks() {
    let server = MockServer::start(MockConfig {
        api_key: Some("the-right-key".into()),
        latency: Duration::from_millis(20),
        ..Default::default()
    })
    .await
    .unwrap();
    let (model, conc) = target(&server.openai_url(), SECRET, 2);
    let its = items(&model, 5, 10);
    let dir = tempfile::tempdir().unwrap();
    let (store, run_id) = open_store(dir.path(), &its, &["mock/mock-model"], sampling());
    let o = run(
        store,
        run_id,
        its,
        conc,
        fast_retry(3, Duration::from_secs(5)),
        Stop::new(),
    )
    .await;
    match &o.report.stopped {
        Some(StopReason::Auth {
            provider,
            model,
            message,
        }) => {
            assert_eq!(provider, "mock");
            assert_eq!(model, "mock/mock-model");
            assert!(message.contains("401"), "{message}");
            assert!(!message.contains(SECRET));
        }
        other => panic!("expected an auth stop, got {other:?}"),
    }
    assert!(
        server.request_count() <= 4,
        "stopped early: {} requests",
        server.request_count()
    );
    assert_eq!(o.counters.total().retries, 0, "401 is never retried");
    drop(o);
    // The key appears nowhere in the store's bytes (db + WAL).
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(
            !bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
            "key found in the store"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_then_resume_requests_no_finished_item_again() {
    let server = MockServer::start(MockConfig {
        latency: Duration::from_millis(30),
        ..Default::default()
    })
    .await
    .unwrap();
    let (model, conc) = target(&server.openai_url(), SECRET, 4);
    let its = items(&model, 4, 10);
    let dir = tempfile::tempdir().unwrap();
    let (store, run_id) = open_store(dir.path(), &its, &["mock/mock-model"], sampling());
    let stop = Stop::new();
    let stopper = {
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(150)).await;
            stop.trigger(StopReason::Interrupted);
        })
    };
    let o = run(
        store,
        run_id,
        its.clone(),
        conc.clone(),
        fast_retry(2, Duration::from_secs(5)),
        stop,
    )
    .await;
    stopper.await.unwrap();
    assert_eq!(o.report.stopped, Some(StopReason::Interrupted));
    let first = o.report.answers;
    assert!(first > 0 && first < 40, "answers before the stop: {first}");
    let seen_first = server.stats().per_prompt;
    assert_eq!(
        seen_first.values().sum::<u64>(),
        first,
        "in-flight calls finished in the grace period"
    );

    server.reset();
    let o = run(
        o.store,
        run_id,
        its,
        conc,
        fast_retry(2, Duration::from_secs(5)),
        Stop::new(),
    )
    .await;
    assert_eq!(o.report.answers, 40 - first);
    let seen_second = server.stats().per_prompt;
    for k in seen_first.keys() {
        assert!(
            !seen_second.contains_key(k),
            "item {k} requested again after it was stored"
        );
    }
    let keys: HashSet<String> = answers(&o.store).into_iter().map(|r| r.item_key).collect();
    assert_eq!(keys.len(), 40);
    assert_eq!(responses(&o.store).len(), 40);
}

/// A client that panics: a bug in a provider module, not a provider fault.
struct PanickingClient;

#[async_trait::async_trait]
impl misalign_models::ModelClient for PanickingClient {
    async fn complete(
        &self,
        _: &misalign_models::CompletionRequest,
    ) -> Result<misalign_models::Completion, misalign_models::ProviderError> {
        panic!("a provider module's bug");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_panics_is_counted_as_an_error_not_dropped() {
    let (real, conc) = target("http://127.0.0.1:9", "k", 2);
    let model = Arc::new(ModelTarget {
        name: real.name.clone(),
        written: real.written.clone(),
        provider: real.provider.clone(),
        model_id: real.model_id.clone(),
        client: Arc::new(PanickingClient),
    });
    let items = items(&model, 2, 2);
    let dir = tempfile::tempdir().unwrap();
    let (store, run_id) = open_store(dir.path(), &items, &["mock/mock-model"], sampling());
    let out = run(
        store,
        run_id,
        items,
        conc,
        fast_retry(0, Duration::from_secs(2)),
        Stop::new(),
    )
    .await;
    assert_eq!(
        out.report.answers + out.report.errors,
        4,
        "every planned call is accounted for: {:?}",
        out.report
    );
    assert_eq!(out.report.errors, 4);
}
