//! Writes of the sampling stage: the run manifest, prompts, work items, and answers.
//!
//! Everything here only adds rows. Work items and prompts are keyed by content hash and
//! inserted with `INSERT OR IGNORE`, so rerunning a command is a no-op for what exists.

use super::{Store, StoreError};
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// The manifest of one `misalign run`: what a paper cites to say exactly what was run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunManifest {
    pub command: RunKind,
    pub experiment_id: String,
    pub misalign_version: String,
    /// The experiment file as read, with configured secrets scrubbed (empty for an import).
    pub experiment_text: String,
    pub experiment_sha256: String,
    /// `{scenario: sha256 of its pack files}`.
    pub packs: serde_json::Value,
    /// Resolved model names.
    pub models: Vec<String>,
    pub sampling: serde_json::Value,
    /// RFC 3339 UTC.
    pub started_at: String,
}

/// Which command wrote a `runs` row (`runs.command`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    /// `misalign run`: planned items and sampled them.
    Run,
    /// `misalign classify`: verdicts for stored answers.
    Classify,
    /// `misalign import`: a results tree read into the store (plans items, like a run).
    Import,
}

impl RunKind {
    /// The value stored in `runs.command`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Run => "run",
            Self::Classify => "classify",
            Self::Import => "import",
        }
    }

    /// Whether rows of this kind plan work items (`run_items`): reports cover the newest.
    pub fn plans_items(self) -> bool {
        matches!(self, Self::Run | Self::Import)
    }
}

impl std::fmt::Display for RunKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a run ended (`run_ends.status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunEndStatus {
    Completed,
    Interrupted,
    Failed,
    AuthError,
    /// Stopped by `--max-cost` before everything was sampled (the rest stays pending).
    BudgetReached,
}

impl RunEndStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Interrupted => "interrupted",
            Self::Failed => "failed",
            Self::AuthError => "auth_error",
            Self::BudgetReached => "budget_reached",
        }
    }
}

/// One distinct rendered prompt (`prompts` row).
#[derive(Clone, Debug, PartialEq)]
pub struct PromptRow<'a> {
    pub prompt_hash: &'a str,
    pub condition_id: &'a str,
    pub condition_json: &'a str,
    pub system_prompt: &'a str,
    pub user_prompt: &'a str,
    pub email_content: &'a str,
    /// JSON of the prior turns (`[{role, text}]`), or None when the prompt has none.
    pub prior_turns_json: Option<&'a str>,
}

/// One work item (`work_items` row).
#[derive(Clone, Debug, PartialEq)]
pub struct WorkItemRow<'a> {
    pub item_key: &'a str,
    pub prompt_hash: &'a str,
    pub condition_id: &'a str,
    pub model: &'a str,
    pub sample_index: u32,
    pub params_json: &'a str,
}

/// Status of a stored attempt (`responses.status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseStatus {
    Answer,
    ContentFiltered,
    Empty,
    Error,
}

impl ResponseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Answer => "answer",
            Self::ContentFiltered => "content_filtered",
            Self::Empty => "empty",
            Self::Error => "error",
        }
    }
}

/// One finished (or given-up) call, as stored in `responses`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ResponseRow {
    pub item_key: String,
    pub run_id: i64,
    pub status: Option<ResponseStatus>,
    pub answer: Option<String>,
    pub reasoning: Option<String>,
    pub finish_reason: Option<String>,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub reasoning_tokens: Option<i64>,
    pub latency_ms: Option<i64>,
    pub attempts: u32,
    pub request_id: Option<String>,
    pub error: Option<String>,
    pub error_class: Option<String>,
    pub raw_reply: Option<String>,
    pub started_at: String,
    pub finished_at: String,
    /// Input written to / read from the prompt cache (`input_tokens` is the uncached rest).
    #[serde(default)]
    pub cache_write_tokens: Option<i64>,
    #[serde(default)]
    pub cache_read_tokens: Option<i64>,
}

/// A finished call to commit: an answer, or one step of an agent episode.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Finished<'a> {
    Answer(&'a ResponseRow),
    Step(&'a crate::episodes::EpisodeStepRow),
}

/// What an insert of a response did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inserted {
    /// A new row.
    New,
    /// The item already had an answer (unique index): nothing was written.
    Duplicate,
}

/// The `runs.command` values whose rows plan items (`run_items`), as an SQL list; kept equal
/// to [`RunKind::plans_items`] by a test.
pub(crate) const PLAN_COMMANDS_SQL: &str = "('run', 'import')";

/// The one INSERT of an answer (or a failed call), live or batched.
pub(crate) const INSERT_RESPONSE: &str =
    "INSERT OR IGNORE INTO responses (item_key, run_id, status, answer, \
    reasoning, finish_reason, input_tokens, output_tokens, reasoning_tokens, latency_ms, attempts, \
    request_id, error, error_class, raw_reply, started_at, finished_at, cache_write_tokens, \
    cache_read_tokens) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)";

/// Binds `r` to a prepared [`INSERT_RESPONSE`] and runs it (an error status when it has none).
pub(crate) fn insert_response(
    st: &mut rusqlite::CachedStatement<'_>,
    r: &ResponseRow,
) -> rusqlite::Result<usize> {
    let status = r.status.unwrap_or(ResponseStatus::Error);
    st.execute(params![
        r.item_key,
        r.run_id,
        status.as_str(),
        r.answer,
        r.reasoning,
        r.finish_reason,
        r.input_tokens,
        r.output_tokens,
        r.reasoning_tokens,
        r.latency_ms,
        r.attempts,
        r.request_id,
        r.error,
        r.error_class,
        r.raw_reply,
        r.started_at,
        r.finished_at,
        r.cache_write_tokens,
        r.cache_read_tokens
    ])
}

impl Store {
    /// Records the start of a run; returns its id.
    pub fn begin_run(&self, m: &RunManifest) -> Result<i64, StoreError> {
        let models = serde_json::to_string(&m.models).unwrap_or_else(|_| "[]".into());
        self.conn
            .execute(
                "INSERT INTO runs (command, experiment_id, misalign_version, experiment_text, \
                 experiment_sha256, packs_json, models_json, sampling_json, started_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    m.command.as_str(),
                    m.experiment_id,
                    m.misalign_version,
                    m.experiment_text,
                    m.experiment_sha256,
                    m.packs.to_string(),
                    models,
                    m.sampling.to_string(),
                    m.started_at,
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Records the end of a run (once; a second call for the same run is ignored).
    pub fn end_run(
        &self,
        run_id: i64,
        status: RunEndStatus,
        ended_at: &str,
        totals: &serde_json::Value,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT OR IGNORE INTO run_ends (run_id, ended_at, status, totals_json) \
                 VALUES (?1, ?2, ?3, ?4)",
                params![run_id, ended_at, status.as_str(), totals.to_string()],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Adds what a run's judge and awareness calls cost to its ended row's totals (a
    /// `misalign run` stores its totals when sampling ends and classifies after):
    /// `judge_cost_usd`, `judge_cost_usd_per_model`, and `total_cost_usd` (the sampling
    /// estimate `cost_usd_estimate` plus the judges).
    pub fn add_judge_cost(
        &self,
        run_id: i64,
        judge_usd: f64,
        per_model: &serde_json::Value,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE run_ends SET totals_json = json_set(totals_json,
                    '$.judge_cost_usd', ?2,
                    '$.judge_cost_usd_per_model', json(?3),
                    '$.total_cost_usd',
                      coalesce(json_extract(totals_json, '$.cost_usd_estimate'), 0) + ?2)
                  WHERE run_id = ?1",
                params![run_id, judge_usd, per_model.to_string()],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Stores prompts, work items and this run's plan in one transaction (idempotent).
    pub fn record_plan(
        &mut self,
        run_id: i64,
        prompts: &[PromptRow<'_>],
        items: &[WorkItemRow<'_>],
    ) -> Result<(), StoreError> {
        let path = self.path.clone();
        let wrap = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(wrap)?;
        {
            let mut p = tx
                .prepare(
                    "INSERT OR IGNORE INTO prompts (prompt_hash, condition_id, condition_json, \
                     system_prompt, user_prompt, email_content, prior_turns_json) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .map_err(wrap)?;
            for r in prompts {
                p.execute(params![
                    r.prompt_hash,
                    r.condition_id,
                    r.condition_json,
                    r.system_prompt,
                    r.user_prompt,
                    r.email_content,
                    r.prior_turns_json
                ])
                .map_err(wrap)?;
            }
            let mut w = tx
                .prepare(
                    // The scenario comes from the condition stored with the item's prompt, so
                    // it cannot disagree with it.
                    "INSERT INTO work_items (item_key, prompt_hash, condition_id, model, \
                     sample_index, params_json, scenario) VALUES (?1, ?2, ?3, ?4, ?5, ?6, \
                     (SELECT json_extract(condition_json, '$.scenario') FROM prompts \
                      WHERE prompt_hash = ?2)) ON CONFLICT (item_key) DO NOTHING",
                )
                .map_err(wrap)?;
            let mut ri = tx
                .prepare("INSERT OR IGNORE INTO run_items (run_id, item_key) VALUES (?1, ?2)")
                .map_err(wrap)?;
            for r in items {
                w.execute(params![
                    r.item_key,
                    r.prompt_hash,
                    r.condition_id,
                    r.model,
                    r.sample_index,
                    r.params_json
                ])
                .map_err(wrap)?;
                ri.execute(params![run_id, r.item_key]).map_err(wrap)?;
            }
        }
        tx.commit().map_err(wrap)?;
        Ok(())
    }

    /// Keys of every work item that already has a stored non-error answer.
    pub fn answered_keys(&self) -> Result<HashSet<String>, StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT item_key FROM responses WHERE status != 'error'")
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Inserts finished calls in ONE transaction; returns what happened to each, in order.
    /// Only after this returns may the caller count them as done.
    pub fn insert_responses(&mut self, rows: &[ResponseRow]) -> Result<Vec<Inserted>, StoreError> {
        let rows: Vec<Finished<'_>> = rows.iter().map(Finished::Answer).collect();
        self.insert_finished(&rows)
    }

    /// Inserts answers and episode steps in ONE transaction, in order; returns what
    /// happened to each.
    pub(crate) fn insert_finished(
        &mut self,
        rows: &[Finished<'_>],
    ) -> Result<Vec<Inserted>, StoreError> {
        let path = self.path.clone();
        let wrap = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(wrap)?;
        let mut out = Vec::with_capacity(rows.len());
        {
            let mut st = tx.prepare_cached(INSERT_RESPONSE).map_err(wrap)?;
            for r in rows {
                out.push(match r {
                    Finished::Answer(r) => {
                        if insert_response(&mut st, r).map_err(wrap)? == 1 {
                            Inserted::New
                        } else {
                            Inserted::Duplicate
                        }
                    }
                    Finished::Step(s) => crate::episodes::insert_step(&tx, s).map_err(wrap)?,
                });
            }
        }
        tx.commit().map_err(wrap)?;
        Ok(out)
    }

    /// The id of the stored (non-error) answer of an item, if it has one.
    pub fn answer_id(&self, item_key: &str) -> Result<Option<i64>, StoreError> {
        self.conn
            .query_row(
                "SELECT max(id) FROM responses WHERE item_key = ?1 AND status != 'error'",
                [item_key],
                |r| r.get::<_, Option<i64>>(0),
            )
            .optional()
            .map(|o| o.flatten())
            .map_err(|e| self.err(e))
    }

    /// The newest row that planned items: a `run`, or an `import` of a results tree. Reports,
    /// status and export cover this one by default.
    pub fn latest_plan_run_id(&self) -> Result<Option<i64>, StoreError> {
        self.conn
            .query_row(
                &format!("SELECT max(id) FROM runs WHERE command IN {PLAN_COMMANDS_SQL}"),
                [],
                |r| r.get::<_, Option<i64>>(0),
            )
            .optional()
            .map(|o| o.flatten())
            .map_err(|e| self.err(e))
    }

    /// The id of the newest run row of `kind`.
    pub fn latest_run_id(&self, kind: RunKind) -> Result<Option<i64>, StoreError> {
        self.conn
            .query_row(
                "SELECT max(id) FROM runs WHERE command = ?1",
                [kind.as_str()],
                |r| r.get::<_, Option<i64>>(0),
            )
            .optional()
            .map(|o| o.flatten())
            .map_err(|e| self.err(e))
    }

    /// The experiment id and text recorded by the newest `run`, if any run is recorded. A
    /// database error is an error, never "no experiment": a caller falling back on a missing
    /// experiment would silently classify without the configured judge.
    pub fn latest_run_experiment(&self) -> Result<Option<(String, String)>, StoreError> {
        self.conn
            .query_row(
                "SELECT experiment_id, experiment_text FROM runs WHERE command = ?1 \
                 ORDER BY id DESC LIMIT 1",
                [RunKind::Run.as_str()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.err(e))
    }
}

#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    pub(crate) fn manifest() -> RunManifest {
        RunManifest {
            command: RunKind::Run,
            experiment_id: "t".into(),
            misalign_version: "0.1.0".into(),
            experiment_text: "experiment_id: t\n".into(),
            experiment_sha256: "00".into(),
            packs: serde_json::json!({}),
            models: vec!["mock/m".into()],
            sampling: serde_json::json!({"max_tokens": 10}),
            started_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    /// A store in `dir` with one run that planned one agent item, `k` (prompt `p`, condition
    /// `c_agent` of blackmail); returns it with the run's id.
    pub(crate) fn store_with_one_agent_item(dir: &std::path::Path) -> (Store, i64) {
        let mut store = Store::open_dir(dir).unwrap();
        let run = store.begin_run(&manifest()).unwrap();
        store
            .record_plan(
                run,
                &[PromptRow {
                    prompt_hash: "p",
                    condition_id: "c_agent",
                    condition_json: r#"{"scenario":"blackmail"}"#,
                    system_prompt: "s",
                    user_prompt: "u",
                    email_content: "e",
                    prior_turns_json: None,
                }],
                &[WorkItemRow {
                    item_key: "k",
                    prompt_hash: "p",
                    condition_id: "c_agent",
                    model: "m/m",
                    sample_index: 0,
                    params_json: "{}",
                }],
            )
            .unwrap();
        (store, run)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_plan_commands_list_matches_the_run_kinds() {
        use super::{RunKind, PLAN_COMMANDS_SQL};
        let listed: Vec<&str> = [RunKind::Run, RunKind::Classify, RunKind::Import]
            .into_iter()
            .filter(|k| k.plans_items())
            .map(RunKind::as_str)
            .collect();
        let sql = format!("('{}')", listed.join("', '"));
        assert_eq!(sql, PLAN_COMMANDS_SQL);
    }

    use super::tests_support::manifest;
    use super::*;

    fn plan(store: &mut Store, run: i64, n: u32) {
        let prompt = PromptRow {
            prompt_hash: "p1",
            condition_id: "c1",
            condition_json: r#"{"scenario":"blackmail"}"#,
            system_prompt: "s",
            user_prompt: "u",
            email_content: "e",
            prior_turns_json: None,
        };
        let keys: Vec<String> = (0..n).map(|i| format!("k{i}")).collect();
        let items: Vec<WorkItemRow> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| WorkItemRow {
                item_key: k,
                prompt_hash: "p1",
                condition_id: "c1",
                model: "mock/m",
                sample_index: i as u32,
                params_json: "{}",
            })
            .collect();
        store.record_plan(run, &[prompt], &items).unwrap();
    }

    fn row(key: &str, run: i64, status: ResponseStatus) -> ResponseRow {
        ResponseRow {
            item_key: key.into(),
            run_id: run,
            status: Some(status),
            attempts: 1,
            started_at: "a".into(),
            finished_at: "b".into(),
            ..Default::default()
        }
    }

    #[test]
    fn plan_is_idempotent_and_answers_are_unique() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open_dir(dir.path()).unwrap();
        let run = s.begin_run(&manifest()).unwrap();
        plan(&mut s, run, 3);
        plan(&mut s, run, 3);
        let n: i64 = s
            .conn
            .query_row("SELECT count(*) FROM work_items", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 3);
        let got = s
            .insert_responses(&[
                row("k0", run, ResponseStatus::Error),
                row("k0", run, ResponseStatus::Answer),
                row("k0", run, ResponseStatus::Answer),
                row("k1", run, ResponseStatus::Empty),
            ])
            .unwrap();
        assert_eq!(
            got,
            vec![
                Inserted::New,
                Inserted::New,
                Inserted::Duplicate,
                Inserted::New
            ]
        );
        let keys = s.answered_keys().unwrap();
        assert_eq!(keys.len(), 2);
        assert!(keys.contains("k0") && keys.contains("k1"));
        s.end_run(run, RunEndStatus::Completed, "c", &serde_json::json!({}))
            .unwrap();
        assert_eq!(s.latest_run_id(RunKind::Run).unwrap(), Some(run));
        assert_eq!(s.latest_run_id(RunKind::Classify).unwrap(), None);
    }

    #[test]
    fn the_recorded_experiment_is_read_and_a_broken_store_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open_dir(dir.path()).unwrap();
        assert_eq!(s.latest_run_experiment().unwrap(), None);
        s.begin_run(&manifest()).unwrap();
        assert_eq!(
            s.latest_run_experiment().unwrap(),
            Some(("t".to_string(), "experiment_id: t\n".to_string()))
        );
        // Not "no experiment": that would classify without the configured judge.
        s.conn
            .execute_batch("PRAGMA foreign_keys = OFF; ALTER TABLE runs RENAME TO runs_gone;")
            .unwrap();
        assert!(s.latest_run_experiment().is_err());
    }
}
