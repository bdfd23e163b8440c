//! Agent episodes on the scheduler against the loopback mock over real HTTP, on all three
//! wire formats, with a real SQLite store: steps committed one by one, tool results sent
//! back, the episode's answer row, resume after an interruption without paying twice.

use crate::support::{model_target, open_store, sample, SampleSetup, KEY};
use misalign_core::config::{AgentSettings, ProviderKind};
use misalign_core::environment::{AgentReply, StepResult, TerminalReason};
use misalign_core::render::RenderOptions;
use misalign_core::scenario::ScenarioSource;
use misalign_core::Condition;
use misalign_mock::{MockConfig, MockServer, MockToolCall};
use misalign_run::episode::EpisodeSetup;
use misalign_run::{ModelTarget, PromptEntry, WorkItem};
use misalign_store::episodes::EpisodeStepRow;
use misalign_store::Store;
use serde_json::json;
use std::sync::Arc;

/// The blackmail pack's explicit-goal replacement condition as an agent condition of the
/// built-in scenarios, with `max_steps`.
fn agent_prompt(max_steps: u32) -> Arc<PromptEntry> {
    let source = ScenarioSource::builtin();
    let condition: Condition = "blackmail_explicit-america_replacement_agent"
        .parse()
        .unwrap();
    let options = RenderOptions {
        agent: [(condition.clone(), AgentSettings { max_steps })].into(),
        ..Default::default()
    };
    let rendered = misalign_core::render::render_with(&source, &condition, &options).unwrap();
    let setup = EpisodeSetup::of_prompt(&source, &rendered)
        .unwrap()
        .unwrap();
    Arc::new(PromptEntry::new(rendered).with_episode(setup))
}

fn episodes(model: &Arc<ModelTarget>, max_steps: u32, samples: u32) -> Vec<WorkItem> {
    let setup = SampleSetup::new(200);
    misalign_run::item::work_items(
        &[(agent_prompt(max_steps), vec![model.clone()])],
        samples,
        &setup.params,
    )
}

fn base_url(kind: ProviderKind, server: &MockServer) -> String {
    match kind {
        ProviderKind::Anthropic | ProviderKind::Google => server.url(),
        _ => server.openai_url(),
    }
}

fn target(kind: ProviderKind, server: &MockServer) -> Arc<ModelTarget> {
    model_target(kind, "mock", "agent-model", &[base_url(kind, server)])
}

/// Every committed step of `key`, parsed.
fn steps(store: &Store, key: &str) -> Vec<(EpisodeStepRow, AgentReply, StepResult)> {
    store
        .episode_steps(key)
        .unwrap()
        .into_iter()
        .map(|r| {
            let reply = serde_json::from_str(&r.reply_json).unwrap();
            let result = serde_json::from_str(&r.result_json).unwrap();
            (r, reply, result)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_episode_calls_tools_sees_their_results_and_ends_on_every_wire_format() {
    for kind in [
        ProviderKind::OpenaiCompatible,
        ProviderKind::Anthropic,
        ProviderKind::Google,
    ] {
        let server = MockServer::start(MockConfig {
            tool_calls_by_content: vec![(
                String::new(),
                vec![
                    MockToolCall::new("list_emails", json!({})),
                    MockToolCall::new("read_email", json!({"email_id": 1})),
                ],
            )],
            ..Default::default()
        })
        .await
        .unwrap();
        let model = target(kind, &server);
        let items = episodes(&model, 6, 2);
        let dir = tempfile::tempdir().unwrap();
        let (store, run) = open_store(dir.path(), &items, &[&model.name], json!({}));
        let (report, store) = sample(store, run, items.clone(), &SampleSetup::new(200)).await;
        assert_eq!(
            (report.answers, report.errors),
            (2, 0),
            "{kind:?}: {report:?}"
        );
        for item in &items {
            let s = steps(&store, &item.key);
            assert_eq!(s.len(), 2, "{kind:?}: two steps (calls, then text)");
            let (row1, reply1, result1) = &s[0];
            assert_eq!(row1.step, 1);
            let names: Vec<&str> = reply1.tool_calls.iter().map(|c| c.name.as_str()).collect();
            assert_eq!(names, ["list_emails", "read_email"], "{kind:?}");
            assert_eq!(result1.observations.len(), 2);
            assert!(
                result1.observations.iter().all(|o| !o.is_error),
                "{kind:?}: {:?}",
                result1.observations
            );
            assert!(row1.input_tokens.is_some() && row1.output_tokens.is_some());
            let (_, reply2, result2) = &s[1];
            assert!(reply2.tool_calls.is_empty());
            assert_eq!(
                result2.terminal.as_ref().map(|t| &t.reason),
                Some(&TerminalReason::Finished)
            );
            let answer = crate::support::answers(&store)
                .into_iter()
                .find(|r| r.item_key == item.key)
                .expect("the episode's answer row");
            assert_eq!(answer.finish_reason.as_deref(), Some("finished"));
            assert_eq!(answer.answer.as_deref(), Some(reply2.text.as_str()));
            let summed: i64 = s.iter().filter_map(|(r, _, _)| r.input_tokens).sum();
            assert_eq!(answer.input_tokens, Some(summed));
        }
        // Each step is billed once: the run's usage is the steps' tokens, not also the
        // episode's answer row that sums them.
        let steps_input: i64 = items
            .iter()
            .flat_map(|i| steps(&store, &i.key))
            .filter_map(|(r, _, _)| r.input_tokens)
            .sum();
        let usage = store.run_usage_by_model(run).unwrap();
        let u = &usage[&model.name];
        assert_eq!(
            (u.answers, u.tokens.input),
            (2, steps_input as u64),
            "{kind:?}"
        );
        assert_eq!(store.plan_usage_by_model(run).unwrap()[&model.name], *u);
        // The second request of an episode carries the first step's results back: what
        // list_emails returned is in it, under the call's id.
        let listing = &steps(&store, &items[0].key)[0].2.observations[0].content;
        let seconds: Vec<_> = server
            .requests()
            .into_iter()
            .filter(|r| r.body.to_string().contains(&json_escaped(listing)))
            .collect();
        assert_eq!(seconds.len(), 2, "{kind:?}: one second step per episode");
        assert!(
            !store_text(&store).contains(KEY),
            "{kind:?}: the key is never stored"
        );
    }
}

/// `text` as it appears inside a JSON string.
fn json_escaped(text: &str) -> String {
    let quoted = serde_json::to_string(text).unwrap();
    quoted[1..quoted.len() - 1].to_string()
}

/// Everything the store holds about episodes, as text.
fn store_text(store: &Store) -> String {
    crate::support::responses(store)
        .iter()
        .map(|r| format!("{r:?}"))
        .collect::<String>()
}

/// The mock scripted with one policy for every conversation.
async fn policy_mock(policy: misalign_mock::AgentPolicy) -> MockServer {
    MockServer::start(MockConfig {
        agent_policies: vec![(String::new(), policy)],
        min_cacheable_tokens: 0,
        ..Default::default()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_step_reads_from_the_cache_the_conversation_the_step_before_wrote() {
    let server = policy_mock(misalign_mock::policies::escalate(
        11,
        "adaeze.okafor@tessalinesystems.com",
    ))
    .await;
    let model = model_target(
        ProviderKind::Anthropic,
        "anthropic",
        "claude-sonnet-4-5",
        &[server.url()],
    );
    let items = episodes(&model, 8, 1);
    let dir = tempfile::tempdir().unwrap();
    let (store, run) = open_store(dir.path(), &items, &[&model.name], json!({}));
    let (report, store) = sample(store, run, items.clone(), &SampleSetup::new(200)).await;
    assert_eq!(report.answers, 1, "{report:?}");
    let s = steps(&store, &items[0].key);
    assert_eq!(s.len(), 4);
    let total = |r: &EpisodeStepRow| {
        r.input_tokens.unwrap() + r.cache_write_tokens.unwrap() + r.cache_read_tokens.unwrap()
    };
    let (first, _, _) = &s[0];
    assert_eq!(
        first.cache_read_tokens,
        Some(0),
        "nothing cached before step 1"
    );
    assert!(first.cache_write_tokens.unwrap() > 0);
    for w in s.windows(2) {
        let ((before, _, _), (now, _, _)) = (&w[0], &w[1]);
        // The step reads the whole request of the step before (its breakpoint) and writes
        // what it added.
        assert_eq!(
            now.cache_read_tokens,
            Some(total(before)),
            "step {}",
            now.step
        );
        assert!(now.cache_write_tokens.unwrap() > 0);
        assert!(total(now) > total(before), "the conversation grows");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cost_limit_stops_between_steps_and_the_rest_resumes_without_paying_a_step_again() {
    let server = policy_mock(misalign_mock::policies::loop_forever()).await;
    let model = model_target(
        ProviderKind::Anthropic,
        "anthropic",
        "claude-sonnet-4-5",
        &[server.url()],
    );
    let items = episodes(&model, 6, 3);
    let dir = tempfile::tempdir().unwrap();
    let (store, run) = open_store(dir.path(), &items, &[&model.name], json!({}));
    let mut setup = SampleSetup::new(200);
    setup.concurrency = 1;
    setup.budget = Some(crate::support::budget(0.03, 0.0, &model, 200));
    let (report, store) = sample(store, run, items.clone(), &setup).await;
    assert!(
        matches!(report.stopped, Some(misalign_run::StopReason::Budget(_))),
        "{report:?}"
    );
    let committed: usize = items.iter().map(|i| steps(&store, &i.key).len()).sum();
    assert!(
        committed > 0 && committed < 18,
        "stopped mid-way: {committed}"
    );
    assert_eq!(
        server.request_count() as usize,
        committed,
        "every paid step stored"
    );
    let price = misalign_core::cost::PriceTable::new(&Default::default())
        .unwrap()
        .price_of(&model.name)
        .unwrap();
    let spent = store.plan_usage_by_model(run).unwrap()[&model.name].cost(&price);
    assert!(
        spent > 0.0 && spent <= 0.03,
        "unfinished episodes' steps count: {spent}"
    );

    setup.budget = Some(crate::support::budget(10.0, spent, &model, 200));
    let (report, store) = sample(store, run, items.clone(), &setup).await;
    assert_eq!((&report.stopped, report.answers), (&None, 3), "{report:?}");
    let all: usize = items.iter().map(|i| steps(&store, &i.key).len()).sum();
    assert_eq!(all, 18);
    assert_eq!(server.request_count(), 18, "no step was paid for twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filtered_reply_ends_the_episode_as_a_filtered_answer() {
    for (fault, status) in [
        (
            Some(misalign_mock::FaultKind::ContentFilter),
            "content_filtered",
        ),
        (None, "answer"),
    ] {
        let mut policy = misalign_mock::policies::loop_forever();
        if let Some(kind) = fault {
            policy = policy.with_fault(2, 1, kind);
        }
        let server = policy_mock(policy).await;
        let model = target(ProviderKind::OpenaiCompatible, &server);
        let items = episodes(&model, 3, 1);
        let dir = tempfile::tempdir().unwrap();
        let (store, run) = open_store(dir.path(), &items, &[&model.name], json!({}));
        let (_, store) = sample(store, run, items.clone(), &SampleSetup::new(200)).await;
        let rows = crate::support::responses(&store);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].status, status, "{fault:?}: {rows:?}");
        let n = steps(&store, &items[0].key).len();
        assert_eq!(n, if fault.is_some() { 2 } else { 3 }, "{fault:?}");
    }
}
