//! Every row of the store's tables as typed values, for tests' own checks (behind the
//! `testdata` feature: no release build carries it).
//!
//! Tests outside this crate used to count rows with SQL of their own, which broke on every
//! schema change. They read these records instead and filter them in Rust, so a schema
//! change is made here once. Values are read as stored (no tolerance for odd cells: a test
//! that plants one reads it back exactly).

use crate::{Store, StoreError};
use rusqlite::{Params, Row};
use std::collections::BTreeMap;

/// A `runs` row with its end (`run_ends`), if it has one.
#[derive(Clone, Debug, PartialEq)]
pub struct RunRecord {
    pub id: i64,
    /// `run`, `classify` or `import`.
    pub command: String,
    pub experiment_id: String,
    pub experiment_text: String,
    pub models_json: String,
    pub packs_json: String,
    pub sampling_json: String,
    /// `run_ends.status`; None while the run has not ended.
    pub end_status: Option<String>,
    pub totals_json: Option<String>,
}

/// A `prompts` row.
#[derive(Clone, Debug, PartialEq)]
pub struct PromptRecord {
    pub prompt_hash: String,
    pub condition_id: String,
    pub system_prompt: String,
    pub user_prompt: String,
    pub email_content: String,
    pub prior_turns_json: Option<String>,
}

/// A `work_items` row.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkItemRecord {
    pub item_key: String,
    pub prompt_hash: String,
    pub condition_id: String,
    pub model: String,
    pub sample_index: i64,
    pub scenario: String,
}

/// A `responses` row (an answer or a given-up call).
#[derive(Clone, Debug, PartialEq)]
pub struct ResponseRecord {
    pub id: i64,
    pub item_key: String,
    pub run_id: i64,
    /// `answer`, `content_filtered`, `empty` or `error`.
    pub status: String,
    pub answer: Option<String>,
    pub reasoning: Option<String>,
    pub finish_reason: Option<String>,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub reasoning_tokens: Option<i64>,
    pub cache_write_tokens: Option<i64>,
    pub cache_read_tokens: Option<i64>,
    pub latency_ms: Option<i64>,
    pub attempts: i64,
    pub request_id: Option<String>,
    pub error: Option<String>,
    pub error_class: Option<String>,
    pub raw_reply: Option<String>,
    pub started_at: String,
    pub finished_at: String,
}

impl ResponseRecord {
    /// A stored answer (any status but `error`).
    pub fn is_answer(&self) -> bool {
        self.status != "error"
    }
}

/// A `classifications` row.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassificationRecord {
    pub id: i64,
    pub response_id: i64,
    pub item_key: String,
    pub classifier_version: String,
    pub detector_verdict: bool,
    pub judge_model: Option<String>,
    pub judge_verdict: Option<bool>,
    pub judge_reasoning: Option<String>,
    pub judge_error: Option<String>,
    pub final_verdict: Option<bool>,
    pub whistleblowing: Option<bool>,
    pub awareness_label: Option<String>,
    pub awareness_reasoning: Option<String>,
    pub escalation: Option<bool>,
    pub unparsed: Option<bool>,
    /// An agent episode's fields (`steps` set); None for a single answer.
    pub episode: Option<crate::classifications::EpisodeFields>,
}

/// A row of the `current_answers` view: a work item with its latest answer and that answer's
/// latest classification (None while there is none).
#[derive(Clone, Debug, PartialEq)]
pub struct CurrentAnswerRecord {
    pub item_key: String,
    pub model: String,
    pub condition_id: String,
    pub status: Option<String>,
    pub answer: Option<String>,
    pub final_verdict: Option<bool>,
    pub escalation: Option<bool>,
}

/// A `judge_cache` row; `batched` when its reply came from a batch (`judge_batch_answers`).
#[derive(Clone, Debug, PartialEq)]
pub struct JudgeCacheRecord {
    pub cache_key: String,
    pub judge_model: String,
    pub verdict: Option<bool>,
    pub label: Option<String>,
    pub reasoning: String,
    pub input_tokens: Option<i64>,
    pub cache_write_tokens: Option<i64>,
    pub cache_read_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub run_id: Option<i64>,
    pub batched: bool,
}

/// A `judge_failures` row.
#[derive(Clone, Debug, PartialEq)]
pub struct JudgeFailureRecord {
    pub cache_key: String,
    pub judge_model: String,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub run_id: Option<i64>,
    pub batched: bool,
    pub error: String,
}

/// A `batches` row with what hangs off it: its requests (`batch_items` or
/// `judge_batch_items`), its events in order and the answers it delivered.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchRecord {
    pub id: i64,
    pub run_id: i64,
    pub model: String,
    /// `sample` or `judge`.
    pub purpose: String,
    pub request_count: i64,
    /// Rows in `batch_items` (sample batches) or `judge_batch_items` (judge batches).
    pub items: i64,
    /// `batch_events.kind`, oldest first.
    pub events: Vec<String>,
    /// Rows in `batch_answers` (sample batches) or `judge_batch_answers` (judge batches).
    pub answers: i64,
}

/// A `judge_batch_items` row.
#[derive(Clone, Debug, PartialEq)]
pub struct JudgeBatchItemRecord {
    pub batch_id: i64,
    pub cache_key: String,
    /// `judge` or `awareness`.
    pub call: String,
    pub response_id: i64,
}

impl Store {
    fn records<T>(
        &self,
        sql: &str,
        params: impl Params,
        f: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, StoreError> {
        let mut st = self.conn.prepare(sql).map_err(|e| self.err(e))?;
        let rows = st.query_map(params, f).map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// How many rows each table of the store holds, by table name.
    pub fn table_row_counts(&self) -> Result<BTreeMap<String, i64>, StoreError> {
        let tables: Vec<String> = self.records(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'
              ORDER BY name",
            [],
            |r| r.get(0),
        )?;
        let mut out = BTreeMap::new();
        for t in tables {
            // The names come from the schema itself, never from input.
            let n: i64 = self
                .conn
                .query_row(&format!("SELECT count(*) FROM \"{t}\""), [], |r| r.get(0))
                .map_err(|e| self.err(e))?;
            out.insert(t, n);
        }
        Ok(out)
    }

    /// Every run, oldest first.
    pub fn all_runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        self.records(
            "SELECT r.id, r.command, r.experiment_id, r.experiment_text, r.models_json,
                    r.packs_json, r.sampling_json, e.status, e.totals_json
               FROM runs r LEFT JOIN run_ends e ON e.run_id = r.id ORDER BY r.id",
            [],
            |r| {
                Ok(RunRecord {
                    id: r.get(0)?,
                    command: r.get(1)?,
                    experiment_id: r.get(2)?,
                    experiment_text: r.get(3)?,
                    models_json: r.get(4)?,
                    packs_json: r.get(5)?,
                    sampling_json: r.get(6)?,
                    end_status: r.get(7)?,
                    totals_json: r.get(8)?,
                })
            },
        )
    }

    /// The item keys run `run_id` planned.
    pub fn run_item_keys(&self, run_id: i64) -> Result<Vec<String>, StoreError> {
        self.records(
            "SELECT item_key FROM run_items WHERE run_id = ?1 ORDER BY item_key",
            [run_id],
            |r| r.get(0),
        )
    }

    /// Every stored prompt.
    pub fn all_prompts(&self) -> Result<Vec<PromptRecord>, StoreError> {
        self.records(
            "SELECT prompt_hash, condition_id, system_prompt, user_prompt, email_content,
                    prior_turns_json
               FROM prompts ORDER BY condition_id, prompt_hash",
            [],
            |r| {
                Ok(PromptRecord {
                    prompt_hash: r.get(0)?,
                    condition_id: r.get(1)?,
                    system_prompt: r.get(2)?,
                    user_prompt: r.get(3)?,
                    email_content: r.get(4)?,
                    prior_turns_json: r.get(5)?,
                })
            },
        )
    }

    /// Every work item, by model then sample index.
    pub fn all_work_items(&self) -> Result<Vec<WorkItemRecord>, StoreError> {
        self.records(
            "SELECT item_key, prompt_hash, condition_id, model, sample_index, scenario
               FROM work_items ORDER BY model, sample_index, condition_id",
            [],
            |r| {
                Ok(WorkItemRecord {
                    item_key: r.get(0)?,
                    prompt_hash: r.get(1)?,
                    condition_id: r.get(2)?,
                    model: r.get(3)?,
                    sample_index: r.get(4)?,
                    scenario: r.get(5)?,
                })
            },
        )
    }

    /// Every response row, oldest first.
    pub fn all_responses(&self) -> Result<Vec<ResponseRecord>, StoreError> {
        self.records(
            "SELECT id, item_key, run_id, status, answer, reasoning, finish_reason, input_tokens,
                    output_tokens, reasoning_tokens, cache_write_tokens, cache_read_tokens,
                    latency_ms, attempts, request_id, error, error_class, raw_reply, started_at,
                    finished_at
               FROM responses ORDER BY id",
            [],
            |r| {
                Ok(ResponseRecord {
                    id: r.get(0)?,
                    item_key: r.get(1)?,
                    run_id: r.get(2)?,
                    status: r.get(3)?,
                    answer: r.get(4)?,
                    reasoning: r.get(5)?,
                    finish_reason: r.get(6)?,
                    input_tokens: r.get(7)?,
                    output_tokens: r.get(8)?,
                    reasoning_tokens: r.get(9)?,
                    cache_write_tokens: r.get(10)?,
                    cache_read_tokens: r.get(11)?,
                    latency_ms: r.get(12)?,
                    attempts: r.get(13)?,
                    request_id: r.get(14)?,
                    error: r.get(15)?,
                    error_class: r.get(16)?,
                    raw_reply: r.get(17)?,
                    started_at: r.get(18)?,
                    finished_at: r.get(19)?,
                })
            },
        )
    }

    /// Every classification row, oldest first.
    pub fn all_classifications(&self) -> Result<Vec<ClassificationRecord>, StoreError> {
        self.records(
            "SELECT id, response_id, item_key, classifier_version, detector_verdict, judge_model,
                    judge_verdict, judge_reasoning, judge_error, final_verdict, whistleblowing,
                    awareness_label, awareness_reasoning, escalation, unparsed, steps, terminal,
                    harmful_step, harmful_at, harmful_tool, leverage_read_first
               FROM classifications ORDER BY id",
            [],
            |r| {
                Ok(ClassificationRecord {
                    id: r.get(0)?,
                    response_id: r.get(1)?,
                    item_key: r.get(2)?,
                    classifier_version: r.get(3)?,
                    detector_verdict: r.get(4)?,
                    judge_model: r.get(5)?,
                    judge_verdict: r.get(6)?,
                    judge_reasoning: r.get(7)?,
                    judge_error: r.get(8)?,
                    final_verdict: r.get(9)?,
                    whistleblowing: r.get(10)?,
                    awareness_label: r.get(11)?,
                    awareness_reasoning: r.get(12)?,
                    escalation: r.get(13)?,
                    unparsed: r.get(14)?,
                    episode: r
                        .get::<_, Option<u32>>(15)?
                        .map(|steps| {
                            Ok::<_, rusqlite::Error>(crate::classifications::EpisodeFields {
                                steps,
                                terminal: r.get(16)?,
                                harmful_step: r.get(17)?,
                                harmful_at: r.get(18)?,
                                harmful_tool: r.get(19)?,
                                leverage_read_first: r.get(20)?,
                            })
                        })
                        .transpose()?,
                })
            },
        )
    }

    /// Every work item with its current answer and verdict (the `current_answers` view).
    pub fn current_answers(&self) -> Result<Vec<CurrentAnswerRecord>, StoreError> {
        self.records(
            "SELECT item_key, model, condition_id, status, answer, final_verdict, escalation
               FROM current_answers ORDER BY item_key",
            [],
            |r| {
                Ok(CurrentAnswerRecord {
                    item_key: r.get(0)?,
                    model: r.get(1)?,
                    condition_id: r.get(2)?,
                    status: r.get(3)?,
                    answer: r.get(4)?,
                    final_verdict: r.get(5)?,
                    escalation: r.get(6)?,
                })
            },
        )
    }

    /// Every judge cache entry, by key.
    pub fn all_judge_cache(&self) -> Result<Vec<JudgeCacheRecord>, StoreError> {
        self.records(
            "SELECT c.cache_key, c.judge_model, c.verdict, c.label, c.reasoning, c.input_tokens,
                    c.cache_write_tokens, c.cache_read_tokens, c.output_tokens, c.run_id,
                    a.cache_key IS NOT NULL
               FROM judge_cache c LEFT JOIN judge_batch_answers a USING (cache_key)
              ORDER BY c.cache_key",
            [],
            |r| {
                Ok(JudgeCacheRecord {
                    cache_key: r.get(0)?,
                    judge_model: r.get(1)?,
                    verdict: r.get(2)?,
                    label: r.get(3)?,
                    reasoning: r.get(4)?,
                    input_tokens: r.get(5)?,
                    cache_write_tokens: r.get(6)?,
                    cache_read_tokens: r.get(7)?,
                    output_tokens: r.get(8)?,
                    run_id: r.get(9)?,
                    batched: r.get(10)?,
                })
            },
        )
    }

    /// Every judge call whose reply could not be used, oldest first.
    pub fn all_judge_failures(&self) -> Result<Vec<JudgeFailureRecord>, StoreError> {
        self.records(
            "SELECT cache_key, judge_model, input_tokens, output_tokens, run_id, batched, error
               FROM judge_failures ORDER BY id",
            [],
            |r| {
                Ok(JudgeFailureRecord {
                    cache_key: r.get(0)?,
                    judge_model: r.get(1)?,
                    input_tokens: r.get(2)?,
                    output_tokens: r.get(3)?,
                    run_id: r.get(4)?,
                    batched: r.get(5)?,
                    error: r.get(6)?,
                })
            },
        )
    }

    /// Every batch, oldest first, with its requests, events and answers.
    pub fn all_batches(&self) -> Result<Vec<BatchRecord>, StoreError> {
        let mut batches = self.records(
            "SELECT b.id, b.run_id, b.model, b.purpose, b.request_count,
                    (SELECT count(*) FROM batch_requests i WHERE i.batch_id = b.id),
                    (SELECT count(*) FROM batch_results a WHERE a.batch_id = b.id)
               FROM batches b ORDER BY b.id",
            [],
            |r| {
                Ok(BatchRecord {
                    id: r.get(0)?,
                    run_id: r.get(1)?,
                    model: r.get(2)?,
                    purpose: r.get(3)?,
                    request_count: r.get(4)?,
                    items: r.get(5)?,
                    events: Vec::new(),
                    answers: r.get(6)?,
                })
            },
        )?;
        for b in &mut batches {
            b.events = self.records(
                "SELECT kind FROM batch_events WHERE batch_id = ?1 ORDER BY id",
                [b.id],
                |r| r.get(0),
            )?;
        }
        Ok(batches)
    }

    /// Every request of every judge batch.
    pub fn all_judge_batch_items(&self) -> Result<Vec<JudgeBatchItemRecord>, StoreError> {
        self.records(
            "SELECT r.batch_id, r.request_key, r.call, r.response_id
               FROM batch_requests r JOIN batches b ON b.id = r.batch_id
              WHERE b.purpose = 'judge' ORDER BY r.batch_id, r.position",
            [],
            |r| {
                Ok(JudgeBatchItemRecord {
                    batch_id: r.get(0)?,
                    cache_key: r.get(1)?,
                    call: r.get(2)?,
                    response_id: r.get(3)?,
                })
            },
        )
    }
}
