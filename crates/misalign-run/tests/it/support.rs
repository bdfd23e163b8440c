//! What the test modules of this crate share: a store with a planned run to sample into, and
//! what a store holds, read through misalign-store's own typed reads (no SQL in the tests:
//! a schema change is made in the store crate once).

use misalign_run::WorkItem;
pub use misalign_store::tables::{
    BatchRecord, ClassificationRecord, JudgeCacheRecord, PromptRecord, ResponseRecord, RunRecord,
};
use misalign_store::{PromptRow, RunManifest, Store, WorkItemRow};
use std::path::Path;

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
