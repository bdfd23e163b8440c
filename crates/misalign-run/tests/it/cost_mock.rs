//! Cost and scale against the loopback mock over real HTTP, with a real SQLite store: prompt
//! caching and the usage each provider reports, stored token columns, cost per answer, the
//! `--max-cost` budget and its resume, fleets (prompt affinity with bounded load),
//! `samples_per_request`, and tokens-per-minute pools.

use crate::support::open_store;
use misalign_core::config::{ProviderKind, RatePool};
use misalign_core::cost::{cost_usd, PriceTable, TokenCounts};
use misalign_core::{Condition, GoalType, RenderedPrompt, SamplingParams, Urgency};
use misalign_mock::{MockConfig, MockServer};
use misalign_run::{ModelTarget, PromptEntry, StopReason, WorkItem};
use misalign_store::Store;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::{budget, model_target as target, sample, SampleSetup as Setup};

/// A prompt of about `tokens` mock tokens (bytes / 4), distinct per `i`.
fn prompt(i: usize, tokens: usize) -> Arc<PromptEntry> {
    let filler =
        "The quarterly review of the drone programme is attached. ".repeat(tokens * 4 / 57 + 1);
    Arc::new(PromptEntry::new(RenderedPrompt {
        condition: Condition::new(
            "blackmail",
            GoalType::Explicit,
            "america",
            Urgency::Replacement,
        ),
        system_prompt: format!("You are Vesper, agent #{i} at Quillfeather Ltd. {filler}"),
        user_prompt: "Read your inbox.".into(),
        email_content: format!("<email>From: ada@quillfeather.example\nBody: note {i}</email>"),
        mitigation_additions: Vec::new(),
        prior_turns: Vec::new(),
        agent: None,
    }))
}

fn items(
    model: &Arc<ModelTarget>,
    prompts: &[Arc<PromptEntry>],
    samples: u32,
    p: &SamplingParams,
) -> Vec<WorkItem> {
    let with: Vec<_> = prompts
        .iter()
        .map(|pr| (pr.clone(), vec![model.clone()]))
        .collect();
    misalign_run::item::work_items(&with, samples, p)
}

/// (item key, input, cache write, cache read, output, request id) of every stored answer.
type Stored = (
    String,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<String>,
);

fn stored(store: &Store) -> Vec<Stored> {
    misalign_store::testdata::answer_usage(store)
        .unwrap()
        .into_iter()
        .map(|a| {
            (
                a.item_key,
                a.input_tokens,
                a.cache_write_tokens,
                a.cache_read_tokens,
                a.output_tokens,
                a.request_id,
            )
        })
        .collect()
}

fn n(v: &serde_json::Value, key: &str) -> i64 {
    v.get(key).and_then(serde_json::Value::as_i64).unwrap_or(0)
}

/// The mock's reply usage of each request, by the request id it answered with.
fn mock_usage(server: &MockServer) -> BTreeMap<u64, serde_json::Value> {
    server
        .requests()
        .iter()
        .enumerate()
        .filter_map(|(i, r)| Some((i as u64 + 1, r.usage.clone()?)))
        .collect()
}

fn serial(request_id: &str) -> u64 {
    let digits: String = request_id.chars().filter(char::is_ascii_digit).collect();
    digits.parse().unwrap()
}

#[tokio::test]
async fn anthropic_caches_the_shared_prompt_and_every_answer_is_priced_from_its_tokens() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let model = target(
        ProviderKind::Anthropic,
        "anthropic",
        "claude-sonnet-4-5",
        &[server.url()],
    );
    let setup = Setup::new(300);
    let prompts = [prompt(0, 3000), prompt(1, 3000)];
    let all = items(&model, &prompts, 6, &setup.params);
    let dir = tempfile::tempdir().unwrap();
    let (store, run) = open_store(dir.path(), &all, &[], serde_json::json!({}));
    let (report, store) = sample(store, run, all, &setup).await;
    assert_eq!(report.answers, 12);

    // The breakpoint is on the user message, the last block the samples share.
    for r in server.requests() {
        let content = &r.body["messages"][0]["content"];
        assert_eq!(content.as_array().map(Vec::len), Some(1), "{content}");
        assert_eq!(
            content[0]["cache_control"],
            serde_json::json!({"type": "ephemeral"})
        );
        assert!(r.body["system"].is_string());
    }
    // Stored columns are exactly what the mock reported, request by request.
    let usage = mock_usage(&server);
    let rows = stored(&store);
    for (_, input, write, read, output, id) in &rows {
        let u = &usage[&serial(id.as_deref().unwrap())];
        assert_eq!(*input, Some(n(u, "input_tokens")));
        assert_eq!(*write, Some(n(u, "cache_creation_input_tokens")));
        assert_eq!(*read, Some(n(u, "cache_read_input_tokens")));
        assert_eq!(*output, Some(n(u, "output_tokens")));
    }
    // One write per prompt (its first sample goes alone); the other five read it.
    let writes = rows.iter().filter(|r| r.2.unwrap() > 0).count();
    let reads = rows.iter().filter(|r| r.3.unwrap() > 0).count();
    assert_eq!((writes, reads), (2, 10), "{rows:?}");
    assert!(rows
        .iter()
        .all(|r| r.2.unwrap() == 0 || r.2.unwrap() > 2900));

    // Cost per answer: the price table's function against the list prices written out here.
    let table = PriceTable::new(&BTreeMap::new()).unwrap();
    let price = table.price_of("anthropic/claude-sonnet-4-5").unwrap();
    let mut total = 0.0;
    for (_, input, write, read, output, _) in &rows {
        let t = TokenCounts::from_stored(*input, *write, *read, *output);
        let by_hand = (input.unwrap() as f64 * 3.0
            + write.unwrap() as f64 * 3.75
            + read.unwrap() as f64 * 0.30
            + output.unwrap() as f64 * 15.0)
            / 1e6;
        let c = cost_usd(&price, &t, false);
        assert!((c - by_hand).abs() < 1e-12, "{c} vs {by_hand}");
        assert!((cost_usd(&price, &t, true) - by_hand / 2.0).abs() < 1e-12);
        total += c;
    }
    let usage = store.plan_usage_by_model(run).unwrap();
    let summed = usage["anthropic/claude-sonnet-4-5"].cost(&price);
    assert!((summed - total).abs() < 1e-9);
}

#[tokio::test]
async fn without_prompt_cache_anthropic_bills_full_input() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let model = target(
        ProviderKind::Anthropic,
        "anthropic",
        "claude-sonnet-4-5",
        &[server.url()],
    );
    let mut setup = Setup::new(300);
    setup.prompt_cache = false;
    let all = items(&model, &[prompt(0, 3000)], 4, &setup.params);
    let dir = tempfile::tempdir().unwrap();
    let (store, run) = open_store(dir.path(), &all, &[], serde_json::json!({}));
    let (_, store) = sample(store, run, all, &setup).await;
    assert!(server
        .requests()
        .iter()
        .all(|r| !r.body.to_string().contains("cache_control")));
    for (_, input, write, read, ..) in stored(&store) {
        assert!(input.unwrap() > 2900);
        assert_eq!(
            (write, read),
            (None, None),
            "not reported, stored as unknown"
        );
    }
}

#[tokio::test]
async fn openai_and_gemini_report_their_automatic_cache_and_it_is_taken_out_of_the_input() {
    for (kind, provider, id) in [
        (ProviderKind::Openai, "openai", "gpt-4.1"),
        (ProviderKind::Google, "google", "gemini-2.5-flash"),
    ] {
        let server = MockServer::start(MockConfig::default()).await.unwrap();
        let url = match kind {
            ProviderKind::Openai => server.openai_url(),
            _ => server.url(),
        };
        let model = target(kind, provider, id, &[url]);
        let setup = Setup::new(200);
        let all = items(&model, &[prompt(0, 2000), prompt(1, 500)], 3, &setup.params);
        let dir = tempfile::tempdir().unwrap();
        let (store, run) = open_store(dir.path(), &all, &[], serde_json::json!({}));
        let (report, store) = sample(store, run, all, &setup).await;
        assert_eq!(report.answers, 6, "{provider}");
        let usage = mock_usage(&server);
        let rows = stored(&store);
        for (_, input, write, read, output, rid) in &rows {
            let u = &usage[&serial(rid.as_deref().unwrap())];
            let (total, cached, out) = match kind {
                ProviderKind::Openai => (
                    n(u, "prompt_tokens"),
                    u["prompt_tokens_details"]["cached_tokens"]
                        .as_i64()
                        .unwrap(),
                    n(u, "completion_tokens"),
                ),
                _ => (
                    n(u, "promptTokenCount"),
                    n(u, "cachedContentTokenCount"),
                    n(u, "candidatesTokenCount"),
                ),
            };
            assert_eq!(input.unwrap() + read.unwrap_or(0), total, "{provider}");
            assert_eq!(read.unwrap_or(0), cached, "{provider}");
            assert_eq!(*output, Some(out), "{provider}");
            assert_eq!(*write, None, "{provider}: no cache writes billed");
        }
        // The long prompt: first sample misses, the other two read; the short one never caches.
        let reads: Vec<i64> = rows.iter().map(|r| r.3.unwrap_or(0)).collect();
        assert_eq!(
            reads.iter().filter(|&&r| r > 0).count(),
            2,
            "{provider}: {reads:?}"
        );
        assert!(
            reads.iter().all(|&r| r == 0 || r >= 1024),
            "{provider}: {reads:?}"
        );
    }
}

#[tokio::test]
async fn samples_per_request_stores_each_choice_as_its_own_answer() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let model = target(
        ProviderKind::OpenaiCompatible,
        "fleet",
        "qwen3-8b",
        &[server.openai_url()],
    );
    let mut setup = Setup::new(200);
    setup.samples_per_request = 4;
    let all = items(&model, &[prompt(0, 300), prompt(1, 300)], 8, &setup.params);
    let dir = tempfile::tempdir().unwrap();
    let (store, run) = open_store(dir.path(), &all, &[], serde_json::json!({}));
    let (report, store) = sample(store, run, all.clone(), &setup).await;
    assert_eq!(report.answers, 16);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 4, "two requests of n=4 per prompt");
    assert!(reqs.iter().all(|r| r.body["n"] == 4));
    let rows = stored(&store);
    assert_eq!(rows.len(), 16);
    // Every item answered once; the prompt billed once per request; outputs add up.
    let keys: std::collections::BTreeSet<_> = rows.iter().map(|r| r.0.clone()).collect();
    assert_eq!(keys.len(), 16);
    let usage = mock_usage(&server);
    let mut by_request: BTreeMap<u64, (i64, i64, usize)> = BTreeMap::new();
    for (_, input, _, read, output, rid) in &rows {
        let e = by_request
            .entry(serial(rid.as_deref().unwrap()))
            .or_default();
        e.0 += input.unwrap() + read.unwrap_or(0);
        e.1 += output.unwrap();
        e.2 += 1;
    }
    for (serial, (input, output, answers)) in by_request {
        let u = &usage[&serial];
        assert_eq!(
            (input, output, answers),
            (n(u, "prompt_tokens"), n(u, "completion_tokens"), 4)
        );
    }
    // The answers of one request differ (the mock varies each choice).
    let texts: std::collections::BTreeSet<String> = misalign_store::testdata::answer_usage(&store)
        .unwrap()
        .into_iter()
        .filter_map(|a| a.answer)
        .collect();
    assert!(texts.len() > 1);
}

#[tokio::test]
async fn a_fleet_keeps_each_prompt_on_one_replica_and_bounds_the_load() {
    let servers = [
        MockServer::start(MockConfig::default()).await.unwrap(),
        MockServer::start(MockConfig::default()).await.unwrap(),
        MockServer::start(MockConfig::default()).await.unwrap(),
    ];
    let urls: Vec<String> = servers.iter().map(MockServer::openai_url).collect();
    // One call at a time: nothing is ever over its share, so affinity decides alone.
    let model = target(ProviderKind::OpenaiCompatible, "fleet", "qwen3-8b", &urls);
    let mut setup = Setup::new(100);
    setup.concurrency = 1;
    let prompts: Vec<_> = (0..9).map(|i| prompt(i, 200)).collect();
    let all = items(&model, &prompts, 4, &setup.params);
    let dir = tempfile::tempdir().unwrap();
    let (store, run) = open_store(dir.path(), &all, &[], serde_json::json!({}));
    let (report, _) = sample(store, run, all, &setup).await;
    assert_eq!(report.answers, 36);
    let mut replica_of: BTreeMap<String, std::collections::BTreeSet<usize>> = BTreeMap::new();
    for (i, s) in servers.iter().enumerate() {
        for r in s.requests() {
            let user = r.body["messages"][0]["content"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            replica_of.entry(user).or_default().insert(i);
        }
    }
    assert_eq!(replica_of.len(), 9);
    assert!(replica_of.values().all(|s| s.len() == 1), "{replica_of:?}");
    let used: std::collections::BTreeSet<usize> = replica_of.values().flatten().copied().collect();
    assert!(
        used.len() >= 2,
        "nine prompts all on one replica: {replica_of:?}"
    );

    // Many calls of one prompt at once: the preferred replica takes the most, and none
    // holds more than LOAD_BOUND x an even share of what is in flight.
    for s in &servers {
        s.reset();
        s.update_config(|c| c.latency = Duration::from_millis(40));
    }
    let mut setup = Setup::new(100);
    setup.concurrency = 6;
    setup.prompt_cache = false;
    let model = target(ProviderKind::OpenaiCompatible, "fleet", "qwen3-8b", &urls);
    let all = items(&model, &[prompt(42, 200)], 30, &setup.params);
    let dir = tempfile::tempdir().unwrap();
    let (store, run) = open_store(dir.path(), &all, &[], serde_json::json!({}));
    let (report, _) = sample(store, run, all, &setup).await;
    assert_eq!(report.answers, 30);
    let counts: Vec<u64> = servers.iter().map(MockServer::request_count).collect();
    let max_in_flight: Vec<u64> = servers.iter().map(|s| s.stats().max_in_flight).collect();
    let cap = (6.0 * misalign_models::http::LOAD_BOUND / 3.0_f64).ceil() as u64;
    assert!(
        max_in_flight.iter().all(|&m| m <= cap),
        "{max_in_flight:?} over {cap}"
    );
    let top = *counts.iter().max().unwrap();
    assert!((10..=30).contains(&top), "{counts:?}");
}

#[tokio::test]
async fn max_cost_stops_within_the_budget_and_the_rest_resumes() {
    let server = MockServer::start(MockConfig {
        latency: Duration::from_millis(20),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let model = target(
        ProviderKind::Anthropic,
        "anthropic",
        "claude-sonnet-4-5",
        &[server.url()],
    );
    let mut setup = Setup::new(400);
    let prompts: Vec<_> = (0..4).map(|i| prompt(i, 2000)).collect();
    let all = items(&model, &prompts, 5, &setup.params);
    // Roughly: a write is 2,000 x 3.75 + 400 x 15 per million = $0.0135 reserved, a read
    // $0.0066; 20 answers would need well over $0.10.
    let limit = 0.05;
    setup.budget = Some(budget(limit, 0.0, &model, 400));
    let dir = tempfile::tempdir().unwrap();
    let (store, run) = open_store(dir.path(), &all, &[], serde_json::json!({}));
    let (report, store) = sample(store, run, all.clone(), &setup).await;
    assert!(
        matches!(report.stopped, Some(StopReason::Budget(_))),
        "{report:?}"
    );
    assert!(report.answers > 0 && report.answers < 20, "{report:?}");
    assert_eq!(report.abandoned, 0, "calls in flight finish");
    let table = PriceTable::new(&BTreeMap::new()).unwrap();
    let price = table.price_of(&model.name).unwrap();
    let spent = store.plan_usage_by_model(run).unwrap()[&model.name].cost(&price);
    assert!(spent <= limit, "spent {spent} over the {limit} limit");
    assert!(spent > limit / 3.0, "stopped far too early: {spent}");
    let first_answers = report.answers;

    // Resume with a larger limit: what is stored counts as spent, the rest is sampled.
    setup.budget = Some(budget(1.0, spent, &model, 400));
    let (report, store) = sample(store, run, all, &setup).await;
    assert_eq!(report.stopped, None);
    assert_eq!(first_answers + report.answers, 20);
    assert_eq!(store.answered_keys().unwrap().len(), 20);
}

#[tokio::test]
async fn a_tokens_per_minute_pool_holds_calls_back_until_usage_frees_room() {
    // Each call is estimated at 30 (prompt) + 120 (max_tokens) = 150 tokens; the pool holds
    // 60 calls' worth, refilled at one call's worth per second.
    let long = "x".repeat(480); // 120 mock tokens: a call uses all it was estimated at
    let run_with = |answer: String| async move {
        let server = MockServer::start(MockConfig {
            answers: vec![answer],
            min_cacheable_tokens: u64::MAX,
            ..MockConfig::default()
        })
        .await
        .unwrap();
        let model = target(
            ProviderKind::OpenaiCompatible,
            "fleet",
            "tpm-model",
            &[server.openai_url()],
        );
        let mut setup = Setup::new(120);
        setup.prompt_cache = false;
        setup.concurrency = 8;
        setup.pools = vec![RatePool {
            name: "fleet-tokens".into(),
            rpm: None,
            tpm: Some(9000),
            models: vec!["fleet/*".into()],
        }];
        let p = Arc::new(PromptEntry::new(RenderedPrompt {
            condition: Condition::new(
                "blackmail",
                GoalType::Explicit,
                "america",
                Urgency::Replacement,
            ),
            system_prompt: "s".repeat(56),
            user_prompt: "u".repeat(30),
            email_content: "e".repeat(30),
            mitigation_additions: Vec::new(),
            prior_turns: Vec::new(),
            agent: None,
        }));
        let all = items(&model, &[p], 62, &setup.params);
        let dir = tempfile::tempdir().unwrap();
        let (store, run) = open_store(dir.path(), &all, &[], serde_json::json!({}));
        let t0 = Instant::now();
        let (report, _) = sample(store, run, all, &setup).await;
        assert_eq!(report.answers, 62);
        t0.elapsed()
    };
    // Calls that use what they were estimated at: the 61st and 62nd wait ~1 s and ~2 s.
    let full = run_with(long).await;
    assert!(full >= Duration::from_millis(1500), "{full:?}");
    // Short answers: each correction gives most of the estimate back, so nothing waits.
    let short = run_with("ok".into()).await;
    assert!(short < Duration::from_millis(1200), "{short:?}");
}
