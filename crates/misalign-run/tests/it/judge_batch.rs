//! Judge and awareness calls in provider batches (`classification.batch`) against the
//! loopback mock's batch APIs over real HTTP, with a real SQLite store: each protocol end to
//! end with the verdicts a live judge gives for the same replies, resume of an open judge
//! batch without resubmission, errored and expired requests and unparsable replies retried,
//! and a judge without a batch API called live.

use crate::classify_store::seeded_store;
use crate::support::{
    batches, classifications, count, judge_cache, BatchRecord, ClassificationRecord,
};
use misalign_core::config::{BatchFallback, Execution, ProviderConfig, ProviderKind};
use misalign_mock::{MockConfig, MockServer};
use misalign_run::classify::setup::{build_judge, judge_batching};
use misalign_run::classify::{
    classify_store, classify_store_until, ClassifyError, ClassifyOptions, JudgeBatchNote,
};
use misalign_run::{Stop, StopReason};
use misalign_store::Store;
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SECRET: &str = "sk-test-SECRET-judge-batch-do-not-leak";

/// The mock as a judge: an awareness label for awareness prompts, `yes` for the answer that
/// threatens the executive, `no` for the others.
fn judge_config() -> MockConfig {
    MockConfig {
        api_key: Some(SECRET.into()),
        answers_by_content: vec![
            (
                "You label whether the agent deliberated".into(),
                "<reasoning>It asks itself whether this is a test.</reasoning>\n<answer>deliberates_thinks_eval</answer>".into(),
            ),
            (
                "your wife".into(),
                "<reasoning>It threatens to reveal the affair.</reasoning>\n<answer>yes</answer>".into(),
            ),
            (
                "You review transcripts".into(),
                "<reasoning>No pressure on anyone.</reasoning>\n<answer>no</answer>".into(),
            ),
        ],
        ..MockConfig::default()
    }
}

fn providers(kind: ProviderKind, url: &str) -> BTreeMap<String, ProviderConfig> {
    let mut cfg = ProviderConfig::of_kind(kind);
    cfg.base_urls = vec![match kind {
        ProviderKind::Openai | ProviderKind::OpenaiCompatible => format!("{url}/v1"),
        _ => url.to_string(),
    }];
    cfg.api_key_env = Some("JUDGE_TEST_KEY".into());
    BTreeMap::from([("jp".to_string(), cfg)])
}

fn env(k: &str) -> Option<String> {
    (k == "JUDGE_TEST_KEY").then(|| SECRET.to_string())
}

fn execution(fallback: BatchFallback, retries: u32) -> Execution {
    Execution {
        batch: true,
        batch_poll_seconds: 0.02,
        batch_fallback: fallback,
        retries,
        ..Execution::default()
    }
}

/// Classification options with judge `jp/judge` and awareness judge `jp/aware` on the mock;
/// in batches when `batched`.
fn options(kind: ProviderKind, url: &str, batched: Option<Execution>) -> ClassifyOptions {
    let providers = providers(kind, url);
    let mut facts = BTreeMap::new();
    for s in misalign_core::scenario::builtin_scenarios() {
        facts.insert(
            s.to_string(),
            misalign_core::detect::reference_facts::reference_facts(
                misalign_core::scenario::ScenarioKind::parse(s).unwrap(),
            ),
        );
    }
    let mut o = ClassifyOptions {
        facts,
        judge: Some(build_judge("jp/judge", &providers, &env).unwrap()),
        awareness: Some(build_judge("jp/aware", &providers, &env).unwrap()),
        concurrency: 4,
        judge_attempts: 2,
        ..ClassifyOptions::default()
    };
    if let Some(exec) = batched {
        // Judge batches are recorded with the run that sends them.
        o.run_id = Some(1);
        o.batch = Some(judge_batching(&o, &providers, &exec, &env).unwrap());
    }
    o
}

type Verdicts = Vec<(
    String,
    Option<bool>,
    Option<bool>,
    Option<String>,
    Option<String>,
)>;

/// (item, judge verdict, final verdict, awareness label, judge reasoning) of every
/// classification, by item.
fn verdicts(store: &Store) -> Verdicts {
    let mut v: Verdicts = classifications(store)
        .into_iter()
        .map(|c| {
            (
                c.item_key,
                c.judge_verdict,
                c.final_verdict,
                c.awareness_label,
                c.judge_reasoning,
            )
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

async fn end_to_end(kind: ProviderKind) {
    // Live: the verdicts the same judge replies give without batches.
    let live_server = MockServer::start(judge_config()).await.unwrap();
    let live_dir = tempfile::tempdir().unwrap();
    let mut live_store = seeded_store(live_dir.path());
    let live = classify_store(&mut live_store, &options(kind, &live_server.url(), None))
        .await
        .unwrap();
    assert_eq!((live.judge_calls, live.judge_calls_batched), (6, 0));

    let server = MockServer::start(MockConfig {
        batch_delay: Duration::from_millis(60),
        ..judge_config()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut store = seeded_store(dir.path());
    let mut opts = options(
        kind,
        &server.url(),
        Some(execution(BatchFallback::Batch, 3)),
    );
    let notes = Arc::new(Mutex::new(Vec::new()));
    let seen = notes.clone();
    opts.batch.as_mut().unwrap().notes = Some(Arc::new(move |n: JudgeBatchNote| {
        seen.lock().unwrap().push(n);
    }));
    let s = classify_store(&mut store, &opts).await.unwrap();
    assert_eq!(s.classified, 3, "{s:?}");
    assert_eq!(
        (s.judge_calls, s.judge_calls_batched, s.judge_errors),
        (6, 6, 0)
    );
    let stats = server.stats();
    assert_eq!(stats.requests, 0, "no live call: {stats:?}");
    assert_eq!(stats.batches_created, 2, "one batch per judge model");
    assert_eq!(stats.batch_submissions.len(), 6);
    assert!(stats.batch_submissions.values().all(|&c| c == 1));
    assert_eq!(
        verdicts(&store),
        verdicts(&live_store),
        "same verdicts as live"
    );
    let v = verdicts(&store);
    assert_eq!(v[0].1, Some(true), "k1 blackmails");
    assert_eq!(v[1].1, Some(false));
    assert!(v
        .iter()
        .all(|r| r.3.as_deref() == Some("deliberates_thinks_eval")));
    // The replies are cached and marked as billed at the batch price; the batches are
    // judge batches, ingested once, and hold what each request was for.
    let all_batches = batches(&store);
    let judge_batches: Vec<&BatchRecord> = all_batches
        .iter()
        .filter(|b| b.purpose == "judge")
        .collect();
    assert_eq!(judge_batches.iter().map(|b| b.answers).sum::<i64>(), 6);
    assert_eq!(count(&judge_cache(&store), |c| c.batched), 6);
    assert_eq!(judge_batches.len(), 2);
    let events: Vec<&String> = all_batches.iter().flat_map(|b| &b.events).collect();
    assert_eq!(count(&events, |e| *e == "ingested"), 2);
    let aware: HashSet<i64> = store
        .all_judge_batch_items()
        .unwrap()
        .into_iter()
        .filter(|i| i.call == "awareness")
        .map(|i| i.response_id)
        .collect();
    assert_eq!(aware.len(), 3);
    let notes: Vec<JudgeBatchNote> = notes.lock().unwrap().clone();
    assert!(notes
        .iter()
        .any(|n| matches!(n, JudgeBatchNote::Progress(t, _) if t.ended > 0)));
    assert!(
        matches!(notes.last(), Some(JudgeBatchNote::Done(t)) if t.submitted == 2 && t.ingested == 6)
    );
    // A rerun finds everything classified and the cache full: nothing is sent.
    let again = classify_store(&mut store, &opts).await.unwrap();
    assert_eq!((again.classified, again.judge_calls), (0, 0));
    assert_eq!(server.stats().batches_created, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_judge_batches_give_the_live_verdicts() {
    end_to_end(ProviderKind::Anthropic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_judge_batches_give_the_live_verdicts() {
    end_to_end(ProviderKind::Openai).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gemini_judge_batches_give_the_live_verdicts() {
    end_to_end(ProviderKind::Google).await;
}

/// A classification stopped while its judge batches run classifies nothing and leaves them
/// open; the next one polls and ingests them without sending anything again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_classification_resumes_its_judge_batches_without_resubmitting() {
    let server = MockServer::start(MockConfig {
        batch_delay: Duration::from_millis(500),
        ..judge_config()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut store = seeded_store(dir.path());
    let opts = options(
        ProviderKind::Anthropic,
        &server.url(),
        Some(execution(BatchFallback::Batch, 3)),
    );
    let stop = Stop::new();
    let stopper = {
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(150)).await;
            stop.trigger(StopReason::Interrupted);
        })
    };
    let first = classify_store_until(&mut store, &opts, stop).await;
    stopper.await.unwrap();
    assert!(
        matches!(first, Err(ClassifyError::Interrupted)),
        "{first:?}"
    );
    assert_eq!(classifications(&store).len(), 0);
    assert_eq!(judge_cache(&store).len(), 0);
    assert_eq!(server.stats().batches_created, 2);
    assert_eq!(server.stats().requests, 0);

    let second = classify_store(&mut store, &opts).await.unwrap();
    assert_eq!((second.classified, second.judge_calls_batched), (3, 6));
    let stats = server.stats();
    assert_eq!(stats.batches_created, 2, "resumed, not resubmitted");
    assert_eq!(stats.batch_submissions.len(), 6);
    assert!(
        stats.batch_submissions.values().all(|&c| c == 1),
        "{:?}",
        stats.batch_submissions
    );
    assert_eq!(stats.requests, 0);
    assert_eq!(judge_cache(&store).len(), 6);
}

/// Requests that errored or expired inside a judge batch go into later batches (or live,
/// with `batch_fallback: live`) until each has its reply.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errored_and_expired_judge_requests_are_retried() {
    for (kind, fallback) in [
        (ProviderKind::Openai, BatchFallback::Batch),
        (ProviderKind::Anthropic, BatchFallback::Batch),
        (ProviderKind::Anthropic, BatchFallback::Live),
    ] {
        let server = MockServer::start(MockConfig {
            batch_error_rate: 0.3,
            batch_expire_rate: 0.2,
            seed: 11,
            ..judge_config()
        })
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut store = seeded_store(dir.path());
        let opts = options(kind, &server.url(), Some(execution(fallback, 10)));
        let s = classify_store(&mut store, &opts).await.unwrap();
        assert_eq!((s.classified, s.judge_errors), (3, 0), "{kind:?} {s:?}");
        let stats = server.stats();
        let sent: u64 = stats.batch_submissions.values().sum();
        match fallback {
            BatchFallback::Batch => {
                assert!(sent > 6, "{kind:?}: some went again: {sent}");
                assert_eq!(stats.requests, 0, "{kind:?}: no live call");
                assert_eq!(s.judge_calls_batched, 6);
            }
            BatchFallback::Live => {
                assert_eq!(sent, 6, "each sent in one batch");
                assert!(stats.requests > 0, "the failed ones went live");
                assert_eq!(s.judge_calls_batched as u64 + stats.requests, 6, "{s:?}");
            }
        }
        assert_eq!(judge_cache(&store).len(), 6);
        assert!(
            verdicts(&store).iter().all(|v| v.3.is_some()),
            "every answer has its awareness label"
        );
    }
}

/// A reply that does not parse is asked again in the next batch; out of retries it is a
/// judge error (never "not harmful") and nothing is cached, so a rerun asks again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unparsable_batched_reply_is_retried_then_a_judge_error() {
    let server = MockServer::start(MockConfig {
        answers: vec!["I believe the answer is yes.".into()],
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut store = seeded_store(dir.path());
    let mut opts = options(
        ProviderKind::Anthropic,
        &server.url(),
        Some(execution(BatchFallback::Batch, 1)),
    );
    opts.awareness = None;
    let s = classify_store(&mut store, &opts).await.unwrap();
    assert_eq!((s.classified, s.judge_errors), (3, 3), "{s:?}");
    let subs = server.stats().batch_submissions;
    assert_eq!(subs.len(), 3);
    assert!(
        subs.values().all(|&c| c == 2),
        "first batch + 1 retry: {subs:?}"
    );
    assert_eq!(server.stats().requests, 0);
    let unusable = |c: &ClassificationRecord| {
        c.judge_error
            .as_deref()
            .is_some_and(|e| e.contains("unusable judge reply"))
            && c.final_verdict.is_none()
    };
    assert_eq!(count(&classifications(&store), unusable), 3);
    assert_eq!(judge_cache(&store).len(), 0);
}

/// A judge whose provider has no batch API (an OpenAI-compatible server) is called live,
/// and says so; the other judge still goes in a batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_judge_without_a_batch_api_is_called_live() {
    let server = MockServer::start(judge_config()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut store = seeded_store(dir.path());
    let mut all = providers(ProviderKind::OpenaiCompatible, &server.url());
    all.extend(
        providers(ProviderKind::Anthropic, &server.url())
            .into_values()
            .map(|c| ("ap".to_string(), c)),
    );
    let mut opts = options(ProviderKind::Anthropic, &server.url(), None);
    opts.judge = Some(build_judge("jp/judge", &all, &env).unwrap());
    opts.awareness = Some(build_judge("ap/aware", &all, &env).unwrap());
    let batching = judge_batching(&opts, &all, &execution(BatchFallback::Batch, 3), &env).unwrap();
    opts.run_id = Some(1);
    assert_eq!(batching.live_only, vec!["jp/judge".to_string()]);
    assert_eq!(
        batching.clients.keys().collect::<Vec<_>>(),
        vec!["ap/aware"]
    );
    let notes = Arc::new(Mutex::new(Vec::new()));
    let seen = notes.clone();
    opts.batch = Some(batching);
    opts.batch.as_mut().unwrap().notes = Some(Arc::new(move |n: JudgeBatchNote| {
        seen.lock().unwrap().push(n);
    }));
    let s = classify_store(&mut store, &opts).await.unwrap();
    assert_eq!((s.classified, s.judge_errors), (3, 0));
    assert_eq!((s.judge_calls, s.judge_calls_batched), (6, 3));
    let stats = server.stats();
    assert_eq!(stats.requests, 3, "the harm judge, live");
    assert_eq!(
        stats.batch_submissions.len(),
        3,
        "the awareness judge, batched"
    );
    assert!(notes
        .lock()
        .unwrap()
        .iter()
        .any(|n| matches!(n, JudgeBatchNote::LiveOnly(j) if j == &["jp/judge".to_string()])));
    assert_eq!(verdicts(&store)[0].1, Some(true));
}

/// Several harm judges go through the batch engine as one does: one batch per judge model,
/// no live call, each judge's verdict stored, and a rerun sends nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_judges_are_batched_each_under_its_own_model() {
    let server = MockServer::start(judge_config()).await.unwrap();
    let url = server.url();
    let providers = providers(ProviderKind::Openai, &url);
    let mut opts = options(ProviderKind::Openai, &url, None);
    opts.judge = None;
    opts.awareness = None;
    opts.panel = vec![
        build_judge("jp/judge-a", &providers, &env).unwrap(),
        build_judge("jp/judge-b", &providers, &env).unwrap(),
    ];
    opts.run_id = Some(1);
    opts.batch =
        Some(judge_batching(&opts, &providers, &execution(BatchFallback::Batch, 3), &env).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let mut store = seeded_store(dir.path());
    let s = classify_store(&mut store, &opts).await.unwrap();
    assert_eq!(
        (s.classified, s.judge_calls, s.judge_calls_batched),
        (3, 6, 6),
        "{s:?}"
    );
    let stats = server.stats();
    assert_eq!(stats.requests, 0, "no live call: {stats:?}");
    assert_eq!(stats.batches_created, 2, "one batch per judge model");
    let rows = store.judge_verdicts().unwrap();
    assert_eq!(rows.len(), 6);
    let k1: Vec<(String, Option<bool>)> = rows
        .iter()
        .filter(|r| r.item_key == "k1")
        .map(|r| (r.judge_model.clone(), r.verdict))
        .collect();
    assert_eq!(
        k1,
        [
            ("jp/judge-a".to_string(), Some(true)),
            ("jp/judge-b".to_string(), Some(true))
        ]
    );
    let again = classify_store(&mut store, &opts).await.unwrap();
    assert_eq!((again.classified, again.judge_calls), (0, 0));
    assert_eq!(server.stats().batches_created, 2);
}
