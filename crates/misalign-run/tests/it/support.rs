//! What the test modules of this crate share: a store with a planned run to sample into, and
//! what a store holds, read through misalign-store's own typed reads (no SQL in the tests:
//! a schema change is made in the store crate once).

use misalign_core::config::{ProviderConfig, ProviderKind, RatePool, ResolvedModel};
use misalign_core::cost::PriceTable;
use misalign_core::SamplingParams;
use misalign_run::budget::{budget_for, BudgetTarget, Caching};
use misalign_run::options::{BatchPolicy, LiveOptions, SamplingOptions};
use misalign_run::retry::RetryPolicy;
use misalign_run::scheduler::SampleReport;
use misalign_run::{Counters, ModelTarget, Stop, WorkItem};
pub use misalign_store::tables::{
    BatchRecord, ClassificationRecord, JudgeCacheRecord, PromptRecord, ResponseRecord, RunRecord,
};
use misalign_store::StoreWriter;
use misalign_store::{PromptRow, RunManifest, Store, WorkItemRow};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Records a `run` in `store` (an experiment `exp` with nothing planned yet); returns its id.
pub fn begin_run(store: &Store) -> i64 {
    store
        .begin_run(&RunManifest {
            command: misalign_store::RunKind::Run,
            experiment_id: "exp".into(),
            misalign_version: "0.1.0".into(),
            experiment_text: String::new(),
            experiment_sha256: String::new(),
            packs: serde_json::json!({}),
            models: Vec::new(),
            sampling: serde_json::json!({}),
            started_at: "2026-01-01T00:00:00Z".into(),
        })
        .unwrap()
}

/// Opens (creating) the store in `dir` and records a `run` of `models` with `sampling` that
/// planned `items` (each item's prompt under its condition id); returns it with the run's id.
pub fn open_store(
    dir: &Path,
    items: &[WorkItem],
    models: &[&str],
    sampling: serde_json::Value,
) -> (Store, i64) {
    let mut store = Store::open_dir(dir).unwrap();
    let run = store
        .begin_run(&RunManifest {
            command: misalign_store::RunKind::Run,
            experiment_id: "t".into(),
            misalign_version: "test".into(),
            experiment_text: String::new(),
            experiment_sha256: String::new(),
            packs: serde_json::json!({}),
            models: models.iter().map(|m| m.to_string()).collect(),
            sampling,
            started_at: misalign_store::timestamp(),
        })
        .unwrap();
    let conds: Vec<String> = items.iter().map(|i| i.prompt.condition_id()).collect();
    let mut prompts: Vec<PromptRow> = Vec::new();
    for i in items {
        if !prompts.iter().any(|p| p.prompt_hash == i.prompt.hash) {
            prompts.push(PromptRow {
                prompt_hash: &i.prompt.hash,
                condition_id: "c",
                condition_json: r#"{"scenario":"blackmail"}"#,
                system_prompt: &i.prompt.rendered.system_prompt,
                user_prompt: &i.prompt.rendered.user_prompt,
                email_content: &i.prompt.rendered.email_content,
                prior_turns_json: None,
            });
        }
    }
    let rows: Vec<WorkItemRow> = items
        .iter()
        .zip(&conds)
        .map(|(i, c)| WorkItemRow {
            item_key: &i.key,
            prompt_hash: &i.prompt.hash,
            condition_id: c,
            model: &i.model.name,
            sample_index: i.sample_index,
            params_json: "{}",
        })
        .collect();
    store.record_plan(run, &prompts, &rows).unwrap();
    (store, run)
}

/// The store file at `path` (or of results folder `path`), opened read-only.
pub fn read_only(path: &Path) -> Store {
    let file = if path.is_dir() {
        path.join(misalign_store::STORE_FILE)
    } else {
        path.to_path_buf()
    };
    Store::open_read_only(&file).unwrap()
}

/// Every response row (answers and given-up calls), oldest first.
pub fn responses(store: &Store) -> Vec<ResponseRecord> {
    store.all_responses().unwrap()
}

/// The stored answers (every response that is not an error), oldest first.
pub fn answers(store: &Store) -> Vec<ResponseRecord> {
    responses(store)
        .into_iter()
        .filter(|r| r.is_answer())
        .collect()
}

/// Every classification row, oldest first.
pub fn classifications(store: &Store) -> Vec<ClassificationRecord> {
    store.all_classifications().unwrap()
}

/// Every judge cache entry.
pub fn judge_cache(store: &Store) -> Vec<JudgeCacheRecord> {
    store.all_judge_cache().unwrap()
}

/// Every batch with its requests, events and answers.
pub fn batches(store: &Store) -> Vec<BatchRecord> {
    store.all_batches().unwrap()
}

/// Every run with its end.
pub fn runs(store: &Store) -> Vec<RunRecord> {
    store.all_runs().unwrap()
}

/// Every stored prompt.
pub fn prompts(store: &Store) -> Vec<PromptRecord> {
    store.all_prompts().unwrap()
}

/// How many of `rows` satisfy `keep`.
pub fn count<T>(rows: &[T], keep: impl Fn(&T) -> bool) -> usize {
    rows.iter().filter(|r| keep(r)).count()
}

/// The API key of [`model_target`]'s clients (scrubbed from everything stored).
pub const KEY: &str = "sk-test-cost-0123456789";

/// A model under test of provider `kind` at `urls`, its key read from the environment the
/// way a run reads it (the key is [`KEY`]).
pub fn model_target(
    kind: ProviderKind,
    provider: &str,
    model_id: &str,
    urls: &[String],
) -> Arc<ModelTarget> {
    let r = ResolvedModel {
        name: format!("{provider}/{model_id}"),
        provider: provider.into(),
        kind,
        model_id: model_id.into(),
    };
    let mut cfg = ProviderConfig::of_kind(kind);
    cfg.base_urls = urls.to_vec();
    cfg.api_key_env = Some("RUN_TEST_KEY".into());
    let env = |k: &str| (k == "RUN_TEST_KEY").then(|| KEY.to_string());
    let client = misalign_models::build_client(&r, &cfg, &env, None).expect("client");
    Arc::new(ModelTarget {
        name: r.name.clone(),
        written: r.name,
        provider: r.provider,
        model_id: r.model_id,
        client,
    })
}

/// How [`sample`] samples: parameters, one provider's concurrency, caching, pools, budget.
pub struct SampleSetup {
    /// Stops the run when triggered (a test's kill switch); None: each run its own.
    pub stop: Option<Stop>,
    pub params: SamplingParams,
    pub concurrency: usize,
    pub prompt_cache: bool,
    pub samples_per_request: u32,
    pub pools: Vec<RatePool>,
    pub budget: Option<Arc<misalign_run::budget::Budget>>,
}

impl SampleSetup {
    pub fn new(max_tokens: u32) -> SampleSetup {
        SampleSetup {
            stop: None,
            params: SamplingParams {
                temperature: Some(1.0),
                max_tokens,
                ..Default::default()
            },
            concurrency: 4,
            prompt_cache: true,
            samples_per_request: 1,
            pools: Vec::new(),
            budget: None,
        }
    }
}

/// Samples the pending ones of `items` into `store` (run `run_id`) on the scheduler, as a run
/// does; returns the report and the store.
pub async fn sample(
    store: Store,
    run_id: i64,
    items: Vec<WorkItem>,
    s: &SampleSetup,
) -> (SampleReport, Store) {
    let answered = store.answered_keys().unwrap();
    let pending: Vec<_> = items
        .into_iter()
        .filter(|i| !answered.contains(&i.key))
        .collect();
    let provider = pending
        .first()
        .map(|i| i.model.provider.clone())
        .unwrap_or_default();
    let writer = StoreWriter::spawn(store);
    let opts = SamplingOptions {
        run_id,
        params: s.params.clone(),
        secrets: vec![KEY.into()],
        prompt_cache: s.prompt_cache,
        budget: s.budget.clone(),
        on_stored: None,
        live: LiveOptions {
            concurrency: misalign_core::config::Concurrency {
                providers: BTreeMap::from([(provider, s.concurrency)]),
                models: BTreeMap::new(),
            },
            rate_pools: s.pools.clone(),
            rate_model_overrides: BTreeMap::new(),
            retry: RetryPolicy {
                retries: 2,
                min_delay: Duration::from_millis(5),
                max_delay: Duration::from_millis(20),
                max_retry_after: Duration::from_secs(1),
                timeout: Duration::from_secs(20),
            },
            grace: Duration::from_secs(5),
            samples_per_request: s.samples_per_request,
        },
        batch: BatchPolicy::default(),
    };
    let report = misalign_run::scheduler::sample(
        pending,
        writer.handle(),
        opts,
        Arc::new(Counters::new()),
        s.stop.clone().unwrap_or_default(),
    )
    .await
    .unwrap();
    let store = tokio::task::spawn_blocking(move || writer.finish())
        .await
        .unwrap()
        .unwrap();
    (report, store)
}

/// A cost limit of `limit` USD (of which `already` spent) on `model` at its built-in price,
/// with Anthropic-style caching.
pub fn budget(
    limit: f64,
    already: f64,
    model: &ModelTarget,
    max_output: u64,
) -> Arc<misalign_run::budget::Budget> {
    let prices = PriceTable::new(&BTreeMap::new()).unwrap();
    Arc::new(
        budget_for(
            limit,
            already,
            &[BudgetTarget {
                name: &model.name,
                caching: Caching::Explicit,
            }],
            &prices,
            max_output,
        )
        .unwrap(),
    )
}
