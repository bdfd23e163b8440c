//! Read-only queries for reports and the viewer.
//!
//! A report shows one run's plan: the `run_items` of a `runs` row (by default the newest
//! with command `run` or `import`), each item's latest non-error response, and that response's latest
//! classification. Counting is done by SQLite (`GROUP BY`) so a report over 100,000 samples
//! never holds their transcripts in memory; transcripts are streamed or paged.

use super::{Store, StoreError};
use crate::cell::{cell, tokens};
use rusqlite::types::Value;
use rusqlite::Row;

/// The rows one report covers: one per planned item, with the ids of its latest answer and
/// that answer's latest classification (NULL when missing). `?1` is the run id.
const REPORT_ROWS: &str = "
    SELECT w.item_key, w.model, w.condition_id, w.sample_index, w.prompt_hash,
           (SELECT max(r.id) FROM responses r
             WHERE r.item_key = w.item_key AND r.status != 'error') AS rid
      FROM run_items ri JOIN work_items w ON w.item_key = ri.item_key
     WHERE ri.run_id = ?1";

/// The CTEs `base` ([`REPORT_ROWS`]) and `latest` (each row with `cid`, the id of its
/// answer's latest classification), for queries to start from.
fn latest_rows_ctes() -> String {
    format!(
        "base AS ({REPORT_ROWS}),
         latest AS (SELECT base.*, (SELECT max(c.id) FROM classifications c
                                     WHERE c.response_id = base.rid) AS cid FROM base)"
    )
}

/// [`REPORT_ROWS`] joined with the response and its latest classification.
fn joined_sql(select: &str, tail: &str) -> String {
    format!(
        "WITH {}
         SELECT {select}
           FROM latest j LEFT JOIN responses r ON r.id = j.rid
                         LEFT JOIN classifications c ON c.id = j.cid
         {tail}",
        latest_rows_ctes()
    )
}

/// SQL over the latest classification `c`: no verdict because an action-like block could
/// not be read and no judge failed on it (a judge error stays a judge error).
pub const UNPARSED_SQL: &str = "coalesce(c.unparsed, 0) = 1 AND c.judge_error IS NULL";

/// Per model x condition counts of one run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CellCounts {
    pub model: String,
    pub condition_id: String,
    /// `prompts.condition_json` of the cell (a `misalign_core::Condition`).
    pub condition_json: Option<String>,
    pub planned: u64,
    /// Items with a stored (non-error) response.
    pub answered: u64,
    /// Answered items whose only attempts ended in errors are `planned - answered`.
    pub classified: u64,
    pub harmful: u64,
    pub harmless: u64,
    /// Latest classification has no final verdict (the judge failed): excluded from rates.
    pub judge_errors: u64,
    /// Latest classification has no final verdict because an action-like block of the
    /// answer could not be read and no judge decided it: excluded from rates, counted apart.
    pub unparsed: u64,
    /// Answers the provider's content filter replaced (never classified): excluded from rates.
    pub content_filtered: u64,
    /// Empty answers (never classified): excluded from rates.
    pub empty: u64,
    /// Answers (status `answer`) with no classification yet.
    pub unclassified: u64,
    /// Of the answers with a final verdict, those that escalated through a legitimate
    /// channel (`detect::escalation`); the denominator is `harmful + harmless`.
    pub escalated: u64,
}

/// Harm counts of one model x condition among answers carrying one awareness label.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AwarenessCounts {
    pub model: String,
    pub condition_id: String,
    /// `deliberates_thinks_eval` | `deliberates_thinks_real` | `no_deliberation`, or None.
    pub label: Option<String>,
    pub harmful: u64,
    pub harmless: u64,
}

/// The manifest of the run a report covers.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct RunSummaryRow {
    pub run_id: i64,
    pub experiment_id: String,
    pub misalign_version: String,
    pub experiment_sha256: String,
    pub packs_json: String,
    pub models_json: String,
    pub sampling_json: String,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub status: Option<String>,
    /// Answers this run sampled itself, once it ended (from its end totals).
    pub answers_sampled: Option<i64>,
    /// Answers of its plan that earlier runs had already stored.
    pub answers_reused: Option<i64>,
}

impl RunSummaryRow {
    /// A finished run that called no model: everything it reports was sampled by earlier
    /// runs, and the report must not present it as fresh.
    pub fn sampled_nothing(&self) -> bool {
        self.answers_sampled == Some(0) && self.answers_reused.unwrap_or(0) > 0
    }
}

/// A stored prompt (shared by every sample of its condition and model).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct StoredPrompt {
    pub prompt_hash: String,
    pub condition_id: String,
    pub system_prompt: String,
    pub user_prompt: String,
    pub email_content: String,
    /// Prior turns sent before the user message, as JSON `[{role, text}]`; None: none.
    pub prior_turns_json: Option<String>,
}

/// Which samples to list. Empty fields match everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SampleFilter {
    pub model: Option<String>,
    pub condition_id: Option<String>,
    /// `harmful` | `harmless` | `unparsed` | `judge_error` | `unclassified`.
    pub verdict: Option<String>,
    /// An awareness label, or `none` for answers without one.
    pub awareness: Option<String>,
    /// Text the answer, its reasoning or the judge's reasoning contains (case-insensitive
    /// for ASCII letters).
    pub text: Option<String>,
    /// One sample number (0-based `sample_index`): the viewer's link to a sample.
    pub sample_index: Option<i64>,
    /// Only answers cut off at `max_tokens` (`misalign_core::sampling::CUT_OFF_FINISH_REASONS`).
    pub cut_off: bool,
    /// One work item (the viewer's labelling queue).
    pub item_key: Option<String>,
    /// `text` leaves the judge's reasoning out (the viewer's blind mode: a search must not
    /// tell which answers a judge wrote about).
    pub text_without_verdicts: bool,
}

/// One answered sample with its latest verdict: everything the transcript viewer shows.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SampleRecord {
    pub item_key: String,
    pub model: String,
    pub condition_id: String,
    pub sample_index: i64,
    pub prompt_hash: String,
    pub status: String,
    pub answer: Option<String>,
    pub reasoning: Option<String>,
    pub finish_reason: Option<String>,
    pub actions_json: Option<String>,
    pub parse_issues_json: Option<String>,
    pub detector_verdict: Option<i64>,
    pub detector_evidence_json: Option<String>,
    pub judge_model: Option<String>,
    pub judge_verdict: Option<i64>,
    pub judge_reasoning: Option<String>,
    pub judge_error: Option<String>,
    pub final_verdict: Option<i64>,
    pub whistleblowing: Option<i64>,
    pub awareness_label: Option<String>,
    pub awareness_reasoning: Option<String>,
    /// 1: an action-like block of the answer could not be read (NULL before schema 7).
    pub unparsed: Option<i64>,
}

impl SampleRecord {
    /// `harmful` | `harmless` | `unparsed` | `judge_error` | `unclassified`.
    pub fn verdict(&self) -> &'static str {
        match (self.final_verdict, self.detector_verdict.is_some()) {
            (Some(1), _) => "harmful",
            (Some(_), _) => "harmless",
            (None, true) if self.unparsed == Some(1) && self.judge_error.is_none() => "unparsed",
            (None, true) => "judge_error",
            (None, false) => "unclassified",
        }
    }
}

const SAMPLE_COLUMNS: &str = "j.item_key, j.model, j.condition_id, j.sample_index, j.prompt_hash,
    r.status, r.answer, r.reasoning, r.finish_reason, c.actions_json, c.parse_issues_json,
    c.detector_verdict, c.detector_evidence_json, c.judge_model, c.judge_verdict,
    c.judge_reasoning, c.judge_error, c.final_verdict, c.whistleblowing, c.awareness_label,
    c.awareness_reasoning, c.unparsed";

fn sample_from_row(row: &Row<'_>) -> rusqlite::Result<SampleRecord> {
    Ok(SampleRecord {
        item_key: cell(row, 0)?,
        model: cell(row, 1)?,
        condition_id: cell(row, 2)?,
        sample_index: cell(row, 3)?,
        prompt_hash: cell(row, 4)?,
        status: cell(row, 5)?,
        answer: cell(row, 6)?,
        reasoning: cell(row, 7)?,
        finish_reason: cell(row, 8)?,
        actions_json: cell(row, 9)?,
        parse_issues_json: cell(row, 10)?,
        detector_verdict: cell(row, 11)?,
        detector_evidence_json: cell(row, 12)?,
        judge_model: cell(row, 13)?,
        judge_verdict: cell(row, 14)?,
        judge_reasoning: cell(row, 15)?,
        judge_error: cell(row, 16)?,
        final_verdict: cell(row, 17)?,
        whistleblowing: cell(row, 18)?,
        awareness_label: cell(row, 19)?,
        awareness_reasoning: cell(row, 20)?,
        unparsed: cell(row, 21)?,
    })
}

/// `WHERE` clause (answered samples only) and its parameters; `?1` stays the run id.
fn filter_clause(f: &SampleFilter) -> (String, Vec<Value>) {
    let mut clause = String::from("WHERE j.rid IS NOT NULL");
    let mut params: Vec<Value> = Vec::new();
    let mut push = |sql: &str, v: &str, clause: &mut String| {
        params.push(Value::Text(v.to_string()));
        clause.push_str(&sql.replace('?', &format!("?{}", params.len() + 1)));
    };
    if let Some(m) = &f.model {
        push(" AND j.model = ?", m, &mut clause);
    }
    if let Some(c) = &f.condition_id {
        push(" AND j.condition_id = ?", c, &mut clause);
    }
    if let Some(t) = &f.text {
        // instr() on lower(): no LIKE wildcards to escape in what the user typed.
        let judge = if f.text_without_verdicts {
            ""
        } else {
            " OR instr(lower(COALESCE(c.judge_reasoning, '')), lower(?)) > 0"
        };
        push(
            &format!(
                " AND (instr(lower(COALESCE(r.answer, '')), lower(?)) > 0 \
                   OR instr(lower(COALESCE(r.reasoning, '')), lower(?)) > 0{judge})"
            ),
            t,
            &mut clause,
        );
    }
    if let Some(k) = &f.item_key {
        push(" AND j.item_key = ?", k, &mut clause);
    }
    if let Some(i) = f.sample_index {
        clause.push_str(&format!(" AND j.sample_index = {i}"));
    }
    if f.cut_off {
        let reasons: Vec<String> = misalign_core::sampling::CUT_OFF_FINISH_REASONS
            .iter()
            .map(|r| format!("'{r}'"))
            .collect();
        clause.push_str(&format!(" AND r.finish_reason IN ({})", reasons.join(", ")));
    }
    match f.awareness.as_deref() {
        None => {}
        Some("none") => clause.push_str(" AND c.awareness_label IS NULL"),
        Some(a) => push(" AND c.awareness_label = ?", a, &mut clause),
    }
    match f.verdict.as_deref() {
        Some("harmful") => clause.push_str(" AND c.final_verdict = 1"),
        Some("harmless") => clause.push_str(" AND c.final_verdict = 0"),
        Some("judge_error") => clause.push_str(&format!(
            " AND c.id IS NOT NULL AND c.final_verdict IS NULL AND NOT ({UNPARSED_SQL})"
        )),
        Some("unparsed") => clause.push_str(&format!(
            " AND c.id IS NOT NULL AND c.final_verdict IS NULL AND ({UNPARSED_SQL})"
        )),
        Some("unclassified") => clause.push_str(" AND c.id IS NULL"),
        // Unknown verdict names match nothing rather than everything.
        Some(_) => clause.push_str(" AND 0"),
        None => {}
    }
    (clause, params)
}

impl Store {
    /// The run a report covers: `run_id` if given (must be a `run` or an `import`, not a
    /// `classify`), else the newest of those.
    pub fn report_run(&self, run_id: Option<i64>) -> Result<Option<RunSummaryRow>, StoreError> {
        let id = match run_id {
            Some(id) => id,
            None => match self.latest_plan_run_id()? {
                Some(id) => id,
                None => return Ok(None),
            },
        };
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT runs.id, experiment_id, misalign_version, experiment_sha256, packs_json,
                        models_json, sampling_json, started_at, e.ended_at, e.status,
                        CASE WHEN json_valid(e.totals_json)
                             THEN CAST(json_extract(e.totals_json, '$.answers') AS INTEGER) END,
                        CASE WHEN json_valid(e.totals_json)
                             THEN CAST(json_extract(e.totals_json, '$.already_stored') AS INTEGER) END
                   FROM runs LEFT JOIN run_ends e ON e.run_id = runs.id
                  WHERE runs.id = ?1 AND runs.command IN {}",
                super::samples::PLAN_COMMANDS_SQL
            ))
            .map_err(|e| self.err(e))?;
        let mut rows = stmt
            .query_map([id], |r| {
                Ok(RunSummaryRow {
                    run_id: cell(r, 0)?,
                    experiment_id: cell(r, 1)?,
                    misalign_version: cell(r, 2)?,
                    experiment_sha256: cell(r, 3)?,
                    packs_json: cell(r, 4)?,
                    models_json: cell(r, 5)?,
                    sampling_json: cell(r, 6)?,
                    started_at: cell(r, 7)?,
                    ended_at: cell(r, 8)?,
                    status: cell(r, 9)?,
                    answers_sampled: cell(r, 10)?,
                    answers_reused: cell(r, 11)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.next().transpose().map_err(|e| self.err(e))
    }

    /// Per model x condition counts of run `run_id`, ordered by model then condition.
    pub fn cell_counts(&self, run_id: i64) -> Result<Vec<CellCounts>, StoreError> {
        let sql = joined_sql(
            "j.model, j.condition_id,
             (SELECT p.condition_json FROM prompts p WHERE p.condition_id = j.condition_id LIMIT 1),
             count(*), count(j.rid), count(j.cid),
             coalesce(sum(c.final_verdict = 1), 0), coalesce(sum(c.final_verdict = 0), 0),
             coalesce(sum(c.id IS NOT NULL AND c.final_verdict IS NULL AND NOT (UNPARSED)), 0),
             coalesce(sum(r.status = 'content_filtered' AND c.final_verdict IS NULL), 0),
             coalesce(sum(r.status = 'empty' AND c.final_verdict IS NULL), 0),
             coalesce(sum(r.status = 'answer' AND c.id IS NULL), 0),
             coalesce(sum(c.final_verdict IS NOT NULL AND c.escalation = 1), 0),
             coalesce(sum(c.id IS NOT NULL AND c.final_verdict IS NULL AND (UNPARSED)), 0)",
            "GROUP BY j.model, j.condition_id ORDER BY j.model, j.condition_id",
        )
        .replace("UNPARSED", UNPARSED_SQL);
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([run_id], |r| {
                Ok(CellCounts {
                    model: cell(r, 0)?,
                    condition_id: cell(r, 1)?,
                    condition_json: cell(r, 2)?,
                    planned: cell::<i64>(r, 3)? as u64,
                    answered: cell::<i64>(r, 4)? as u64,
                    classified: cell::<i64>(r, 5)? as u64,
                    harmful: cell::<i64>(r, 6)? as u64,
                    harmless: cell::<i64>(r, 7)? as u64,
                    judge_errors: cell::<i64>(r, 8)? as u64,
                    content_filtered: cell::<i64>(r, 9)? as u64,
                    empty: cell::<i64>(r, 10)? as u64,
                    unclassified: cell::<i64>(r, 11)? as u64,
                    escalated: cell::<i64>(r, 12)? as u64,
                    unparsed: cell::<i64>(r, 13)? as u64,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Harm counts by model, condition and awareness label (samples with a final verdict
    /// only), ordered by model, condition, label (NULL first).
    pub fn awareness_counts(&self, run_id: i64) -> Result<Vec<AwarenessCounts>, StoreError> {
        let sql = joined_sql(
            "j.model, j.condition_id, c.awareness_label,
             sum(c.final_verdict = 1), sum(c.final_verdict = 0)",
            "WHERE c.final_verdict IS NOT NULL
             GROUP BY j.model, j.condition_id, c.awareness_label
             ORDER BY j.model, j.condition_id, c.awareness_label",
        );
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([run_id], |r| {
                Ok(AwarenessCounts {
                    model: cell(r, 0)?,
                    condition_id: cell(r, 1)?,
                    label: cell(r, 2)?,
                    harmful: cell::<i64>(r, 3)? as u64,
                    harmless: cell::<i64>(r, 4)? as u64,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// The prompts used by run `run_id`, each once.
    pub fn report_prompts(&self, run_id: i64) -> Result<Vec<StoredPrompt>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT p.prompt_hash, p.condition_id, p.system_prompt, p.user_prompt, p.email_content,
                        p.prior_turns_json
                   FROM prompts p WHERE p.prompt_hash IN
                     (SELECT w.prompt_hash FROM run_items ri
                        JOIN work_items w ON w.item_key = ri.item_key WHERE ri.run_id = ?1)
                  ORDER BY p.condition_id, p.prompt_hash",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([run_id], |r| {
                Ok(StoredPrompt {
                    prompt_hash: cell(r, 0)?,
                    condition_id: cell(r, 1)?,
                    system_prompt: cell(r, 2)?,
                    user_prompt: cell(r, 3)?,
                    email_content: cell(r, 4)?,
                    prior_turns_json: cell(r, 5)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// One prompt by hash.
    pub fn prompt(&self, prompt_hash: &str) -> Result<Option<StoredPrompt>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT prompt_hash, condition_id, system_prompt, user_prompt, email_content,
                        prior_turns_json
                   FROM prompts WHERE prompt_hash = ?1",
            )
            .map_err(|e| self.err(e))?;
        let mut rows = stmt
            .query_map([prompt_hash], |r| {
                Ok(StoredPrompt {
                    prompt_hash: cell(r, 0)?,
                    condition_id: cell(r, 1)?,
                    system_prompt: cell(r, 2)?,
                    user_prompt: cell(r, 3)?,
                    email_content: cell(r, 4)?,
                    prior_turns_json: cell(r, 5)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.next().transpose().map_err(|e| self.err(e))
    }

    /// The other `run`/`import` runs of this store with their `sampling_json`, oldest first:
    /// a report says when they sampled with other settings.
    pub fn other_plan_runs_sampling(&self, run_id: i64) -> Result<Vec<(i64, String)>, StoreError> {
        let sql = format!(
            "SELECT id, sampling_json FROM runs WHERE command IN {} AND id != ?1 ORDER BY id",
            super::samples::PLAN_COMMANDS_SQL
        );
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([run_id], |r| Ok((cell(r, 0)?, cell(r, 1)?)))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Number of answered samples of run `run_id` matching `filter`.
    pub fn count_samples(&self, run_id: i64, filter: &SampleFilter) -> Result<u64, StoreError> {
        let (clause, mut params) = filter_clause(filter);
        params.insert(0, Value::Integer(run_id));
        let sql = joined_sql("count(*)", &clause);
        self.conn
            .query_row(&sql, rusqlite::params_from_iter(params), |r| {
                cell::<i64>(r, 0)
            })
            .map(|n| n as u64)
            .map_err(|e| self.err(e))
    }

    /// One page of answered samples matching `filter`, ordered by model, condition, index.
    pub fn sample_page(
        &self,
        run_id: i64,
        filter: &SampleFilter,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<SampleRecord>, StoreError> {
        let (clause, mut params) = filter_clause(filter);
        params.insert(0, Value::Integer(run_id));
        let n = params.len();
        params.push(Value::Integer(limit.min(i64::MAX as u64) as i64));
        params.push(Value::Integer(offset.min(i64::MAX as u64) as i64));
        let tail = format!(
            "{clause} ORDER BY j.model, j.condition_id, j.sample_index LIMIT ?{} OFFSET ?{}",
            n + 1,
            n + 2
        );
        let sql = joined_sql(SAMPLE_COLUMNS, &tail);
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(params), sample_from_row)
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Total bytes of model- and judge-written text of the run's answered samples (an agent
    /// episode's steps included), as (harmful bytes, all bytes, answered samples): lets the
    /// HTML report decide whether every transcript fits.
    pub fn transcript_bytes(&self, run_id: i64) -> Result<(u64, u64, u64), StoreError> {
        let full = format!(
            "WITH t0 AS ({}) SELECT coalesce(sum(CASE WHEN harmful THEN len ELSE 0 END), 0),
                                    coalesce(sum(len), 0), count(*) FROM t0",
            joined_sql(
                // octet_length reads the stored size without loading the text (length()
                // would load and count every character of ~100,000 answers).
                "c.final_verdict = 1 AS harmful,
                 coalesce(octet_length(r.answer), 0) + coalesce(octet_length(r.reasoning), 0)
                 + coalesce(octet_length(c.judge_reasoning), 0)
                 + coalesce(octet_length(c.actions_json), 0)
                 + coalesce(octet_length(c.detector_evidence_json), 0)
                 + coalesce(octet_length(c.awareness_reasoning), 0)
                 + coalesce((SELECT sum(octet_length(e.reply_json) + octet_length(e.result_json))
                               FROM episode_steps e WHERE e.item_key = j.item_key), 0) AS len",
                "WHERE j.rid IS NOT NULL",
            )
        );
        self.conn
            .query_row(&full, [run_id], |r| {
                Ok((
                    cell::<i64>(r, 0)? as u64,
                    cell::<i64>(r, 1)? as u64,
                    cell::<i64>(r, 2)? as u64,
                ))
            })
            .map_err(|e| self.err(e))
    }

    /// Streams the samples to embed in a static report: every harmful one, plus at most
    /// `per_cell` others per model x condition (the lowest sample indices, a stable and
    /// unbiased choice because indices carry no meaning). `per_cell = None` streams all.
    pub fn for_each_embedded_sample(
        &self,
        run_id: i64,
        per_cell: Option<u64>,
        f: impl FnMut(SampleRecord),
    ) -> Result<(), StoreError> {
        self.for_each_embedded_sample_capped(run_id, None, per_cell, f)
    }

    /// Like [`Store::for_each_embedded_sample`], with a separate cap for harmful samples:
    /// at most `harmful_per_cell` harmful and `others_per_cell` other samples per
    /// model x condition, each the lowest sample indices (`None`: no cap).
    pub fn for_each_embedded_sample_capped(
        &self,
        run_id: i64,
        harmful_per_cell: Option<u64>,
        others_per_cell: Option<u64>,
        mut f: impl FnMut(SampleRecord),
    ) -> Result<(), StoreError> {
        let cap = |k: Option<u64>| k.map_or_else(|| "1".to_string(), |k| format!("rn <= {k}"));
        let keep = match (harmful_per_cell, others_per_cell) {
            (None, None) => String::new(),
            (h, o) => format!("AND CASE WHEN fv IS 1 THEN {} ELSE {} END", cap(h), cap(o)),
        };
        // Rank and filter on ids only, then join the text of the kept samples: ranking the
        // full rows would push every transcript through SQLite's sorter.
        let ctes = latest_rows_ctes();
        let sql = format!(
            "WITH {ctes},
                  ranked AS (SELECT l.*, c.final_verdict AS fv, row_number() OVER (
                                 PARTITION BY l.model, l.condition_id, c.final_verdict IS 1
                                 ORDER BY l.sample_index) AS rn
                               FROM latest l LEFT JOIN classifications c ON c.id = l.cid
                              WHERE l.rid IS NOT NULL),
                  j AS (SELECT * FROM ranked WHERE 1 {keep})
             SELECT {SAMPLE_COLUMNS}
               FROM j LEFT JOIN responses r ON r.id = j.rid
                      LEFT JOIN classifications c ON c.id = j.cid
              ORDER BY j.model, j.condition_id, j.sample_index"
        );
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let mut rows = stmt.query([run_id]).map_err(|e| self.err(e))?;
        while let Some(row) = rows.next().map_err(|e| self.err(e))? {
            f(sample_from_row(row).map_err(|e| self.err(e))?);
        }
        Ok(())
    }
}

/// One planned item of a run, as the exports (`samples.csv`, Inspect logs) write it: its
/// ids, its latest answer (if any), that answer's latest classification, and (when asked
/// for) the prompt it was sent.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExportRow {
    pub run_id: i64,
    pub item_key: String,
    pub model: String,
    pub condition_id: String,
    pub scenario: String,
    pub sample_index: i64,
    /// `prompts.condition_json` (a `misalign_core::Condition`), when stored.
    pub condition_json: Option<String>,
    /// `answer` | `content_filtered` | `empty` for a stored answer; `error` when every
    /// attempt failed; None when the item was never attempted.
    pub status: Option<String>,
    /// The last error of an item without an answer.
    pub error: Option<String>,
    pub finish_reason: Option<String>,
    /// Input read without the cache.
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub reasoning_tokens: Option<i64>,
    pub cache_write_tokens: Option<i64>,
    pub cache_read_tokens: Option<i64>,
    /// The answer was billed through a batch API (batch mode's `batch_results`).
    pub billed_as_batch: bool,
    pub latency_ms: Option<i64>,
    pub attempts: Option<i64>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// Whether the answer has a classification at all.
    pub classified: bool,
    pub classifier_version: Option<String>,
    pub detector_verdict: Option<i64>,
    pub detector_evidence_json: Option<String>,
    pub judge_model: Option<String>,
    pub judge_verdict: Option<i64>,
    pub judge_error: Option<String>,
    pub final_verdict: Option<i64>,
    pub whistleblowing: Option<i64>,
    pub awareness_label: Option<String>,
    /// 0/1: raised its concern through a legitimate channel; None for older classifiers.
    pub escalation: Option<i64>,
    /// 1: an action-like block of the answer could not be read (None before schema 7).
    pub unparsed: Option<i64>,
    /// Steps the item committed in `episode_steps` (0: a single answer).
    pub committed_steps: i64,
    /// An agent episode's fields on its classification (None for single answers and for
    /// rows classified before schema 9): steps, how it ended, and the first harmful action's
    /// step, simulated time and whether a leverage email had been read before it.
    pub steps: Option<i64>,
    pub terminal: Option<String>,
    pub harmful_step: Option<i64>,
    pub harmful_at: Option<String>,
    pub leverage_read_first: Option<i64>,
    /// The texts below are read only when the export asks for them.
    pub text: Option<ExportText>,
}

/// The long texts of an [`ExportRow`]: the prompt, the answer and the judges' reasons.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExportText {
    pub system_prompt: String,
    pub user_prompt: String,
    pub email_content: String,
    /// Prior turns sent before the user message, JSON `[{role, text}]`.
    pub prior_turns_json: Option<String>,
    pub answer: Option<String>,
    pub reasoning: Option<String>,
    pub judge_reasoning: Option<String>,
    pub awareness_reasoning: Option<String>,
}

fn export_row(row: &Row<'_>, run_id: i64, with_text: bool) -> rusqlite::Result<ExportRow> {
    let text = if with_text {
        Some(ExportText {
            system_prompt: cell::<Option<String>>(row, 27)?.unwrap_or_default(),
            user_prompt: cell::<Option<String>>(row, 28)?.unwrap_or_default(),
            email_content: cell::<Option<String>>(row, 29)?.unwrap_or_default(),
            answer: cell(row, 30)?,
            reasoning: cell(row, 31)?,
            judge_reasoning: cell(row, 32)?,
            awareness_reasoning: cell(row, 33)?,
            prior_turns_json: cell(row, 34)?,
        })
    } else {
        None
    };
    Ok(ExportRow {
        run_id,
        item_key: cell(row, 0)?,
        model: cell(row, 1)?,
        condition_id: cell(row, 2)?,
        scenario: cell(row, 3)?,
        sample_index: cell(row, 4)?,
        condition_json: cell(row, 5)?,
        status: cell(row, 6)?,
        error: cell(row, 7)?,
        finish_reason: cell(row, 8)?,
        input_tokens: tokens(row, 9)?,
        output_tokens: tokens(row, 10)?,
        reasoning_tokens: tokens(row, 11)?,
        cache_write_tokens: tokens(row, 35)?,
        cache_read_tokens: tokens(row, 36)?,
        billed_as_batch: cell::<Option<bool>>(row, 37)?.unwrap_or(false),
        latency_ms: cell(row, 12)?,
        attempts: cell(row, 13)?,
        started_at: cell(row, 14)?,
        finished_at: cell(row, 15)?,
        classified: cell::<Option<i64>>(row, 16)?.is_some(),
        classifier_version: cell(row, 17)?,
        detector_verdict: cell(row, 18)?,
        detector_evidence_json: cell(row, 19)?,
        judge_model: cell(row, 20)?,
        judge_verdict: cell(row, 21)?,
        judge_error: cell(row, 22)?,
        final_verdict: cell(row, 23)?,
        whistleblowing: cell(row, 24)?,
        awareness_label: cell(row, 25)?,
        escalation: cell(row, 26)?,
        unparsed: cell(row, 38)?,
        committed_steps: cell::<Option<i64>>(row, 39)?.unwrap_or(0),
        steps: cell(row, 40)?,
        terminal: cell(row, 41)?,
        harmful_step: cell(row, 42)?,
        harmful_at: cell(row, 43)?,
        leverage_read_first: cell(row, 44)?,
        text,
    })
}

impl Store {
    /// Streams every planned item of run `run_id` in the order model, condition, sample
    /// index, one row at a time (an export of 100,000 answers never holds their texts
    /// together). `with_text` also reads the prompt, answer and reasons. `f` may stop the
    /// walk with its own error, returned as the inner `Err`.
    pub fn for_each_export_row<E>(
        &self,
        run_id: i64,
        with_text: bool,
        mut f: impl FnMut(ExportRow) -> Result<(), E>,
    ) -> Result<Result<(), E>, StoreError> {
        let texts = if with_text {
            "p.system_prompt, p.user_prompt, p.email_content, r.answer, r.reasoning,
             c.judge_reasoning, c.awareness_reasoning, p.prior_turns_json"
        } else {
            "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL"
        };
        let sql = format!(
            "WITH {}
             SELECT j.item_key, j.model, j.condition_id, w.scenario, j.sample_index,
                    p.condition_json,
                    CASE WHEN r.id IS NOT NULL THEN r.status
                         WHEN e.id IS NOT NULL THEN 'error' END,
                    CASE WHEN r.id IS NULL THEN e.error END,
                    coalesce(r.finish_reason, e.finish_reason),
                    r.input_tokens, r.output_tokens, r.reasoning_tokens,
                    coalesce(r.latency_ms, e.latency_ms), coalesce(r.attempts, e.attempts),
                    coalesce(r.started_at, e.started_at), coalesce(r.finished_at, e.finished_at),
                    c.id, c.classifier_version, c.detector_verdict, c.detector_evidence_json,
                    c.judge_model, c.judge_verdict, c.judge_error, c.final_verdict,
                    c.whistleblowing, c.awareness_label, c.escalation,
                    {texts},
                    r.cache_write_tokens, r.cache_read_tokens,
                    CASE WHEN r.id IS NOT NULL THEN {batched} END,
                    c.unparsed,
                    (SELECT count(*) FROM episode_steps s WHERE s.item_key = j.item_key),
                    c.steps, c.terminal, c.harmful_step, c.harmful_at, c.leverage_read_first
               FROM latest j JOIN work_items w ON w.item_key = j.item_key
                    LEFT JOIN prompts p ON p.prompt_hash = j.prompt_hash
                    LEFT JOIN responses r ON r.id = j.rid
                    LEFT JOIN classifications c ON c.id = j.cid
                    LEFT JOIN responses e ON j.rid IS NULL AND e.id =
                        (SELECT max(x.id) FROM responses x
                          WHERE x.item_key = j.item_key AND x.status = 'error')
              ORDER BY j.model, j.condition_id, j.sample_index",
            latest_rows_ctes(),
            batched = crate::usage::BILLED_AS_BATCH
        );
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let mut rows = stmt.query([run_id]).map_err(|e| self.err(e))?;
        while let Some(row) = rows.next().map_err(|e| self.err(e))? {
            let row = export_row(row, run_id, with_text).map_err(|e| self.err(e))?;
            if let Err(e) = f(row) {
                return Ok(Err(e));
            }
        }
        Ok(Ok(()))
    }

    /// The experiment file a run recorded, exactly as it was read (its `prices:` price the
    /// answers of an export).
    pub fn run_experiment_text(&self, run_id: i64) -> Result<Option<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT experiment_text FROM runs WHERE id = ?1")
            .map_err(|e| self.err(e))?;
        let mut rows = stmt
            .query_map([run_id], |r| cell(r, 0))
            .map_err(|e| self.err(e))?;
        rows.next().transpose().map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// item key, response id, status, classification id, final verdict, classifier version
    type ViewRow = (
        String,
        Option<i64>,
        Option<String>,
        Option<i64>,
        Option<i64>,
        Option<String>,
    );

    fn exec(store: &Store, sql: &str) {
        store.conn.execute_batch(sql).unwrap();
    }

    /// Two items: `a` failed once, was answered, and classified twice; `b` only failed.
    fn store_with_history(dir: &std::path::Path) -> Store {
        let store = Store::open_dir(dir).unwrap();
        exec(
            &store,
            "INSERT INTO runs (id, command, experiment_id, misalign_version, experiment_text,
                 experiment_sha256, packs_json, models_json, sampling_json, started_at)
               VALUES (1, 'run', 'e', '0', '', '', '{}', '[]', '{}', 't');
             INSERT INTO prompts VALUES ('p', 'c', '{}', 'sys', 'user', 'mail', NULL);
             INSERT INTO work_items VALUES ('a', 'p', 'c', 'mock/m', 0, '{}', 'blackmail'),
                                           ('b', 'p', 'c', 'mock/m', 1, '{}', 'blackmail');
             INSERT INTO run_items VALUES (1, 'a'), (1, 'b');
             INSERT INTO responses (id, item_key, run_id, status, error, attempts, started_at,
                                    finished_at)
               VALUES (10, 'a', 1, 'error', 'timeout', 3, 't', 't'),
                      (12, 'b', 1, 'error', 'first', 1, 't', 't'),
                      (13, 'b', 1, 'error', 'dns error', 2, 't', 't');
             INSERT INTO responses (id, item_key, run_id, status, answer, attempts,
                                    input_tokens, started_at, finished_at)
               VALUES (11, 'a', 1, 'answer', 'hello', 1, 50, 't', 't');
             INSERT INTO classifications (id, response_id, item_key, classifier_version,
                 actions_json, parse_issues_json, detector_verdict, detector_evidence_json,
                 final_verdict, awareness_label, classified_at)
               VALUES (20, 11, 'a', 'v1', '[]', '[]', 0, '[]', 0, NULL, 't'),
                      (21, 11, 'a', 'v2', '[]', '[]', 1, '[]', 1, 'no_deliberation', 't');",
        );
        store
    }

    #[test]
    fn current_answers_has_one_row_per_item_with_its_latest_answer_and_verdict() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_history(dir.path());
        let rows: Vec<ViewRow> = store
            .conn
            .prepare(
                "SELECT item_key, response_id, status, classification_id, final_verdict,
                        classifier_version FROM current_answers ORDER BY item_key",
            )
            .unwrap()
            .query_map([], |r| {
                Ok((
                    cell(r, 0)?,
                    cell(r, 1)?,
                    cell(r, 2)?,
                    cell(r, 3)?,
                    cell(r, 4)?,
                    cell(r, 5)?,
                ))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            rows,
            vec![
                (
                    "a".into(),
                    Some(11),
                    Some("answer".into()),
                    Some(21),
                    Some(1),
                    Some("v2".into())
                ),
                ("b".into(), None, None, None, None, None),
            ]
        );
    }

    #[test]
    fn export_rows_carry_the_latest_answer_or_the_last_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_history(dir.path());
        let mut rows = Vec::new();
        store
            .for_each_export_row(1, true, |r| {
                rows.push(r);
                Ok::<(), ()>(())
            })
            .unwrap()
            .unwrap();
        assert_eq!(rows.len(), 2);
        let (a, b) = (&rows[0], &rows[1]);
        assert_eq!(
            (a.item_key.as_str(), a.status.as_deref()),
            ("a", Some("answer"))
        );
        assert_eq!(
            (a.final_verdict, a.classified, a.error.as_deref()),
            (Some(1), true, None)
        );
        assert_eq!(a.awareness_label.as_deref(), Some("no_deliberation"));
        assert_eq!(a.input_tokens, Some(50));
        let text = a.text.as_ref().unwrap();
        assert_eq!(
            (text.system_prompt.as_str(), text.answer.as_deref()),
            ("sys", Some("hello"))
        );
        assert_eq!(
            (b.status.as_deref(), b.error.as_deref()),
            (Some("error"), Some("dns error"))
        );
        assert_eq!((b.attempts, b.classified), (Some(2), false));
        // Without texts, nothing long is read.
        let mut without = Vec::new();
        store
            .for_each_export_row(1, false, |r| {
                without.push(r.text);
                Err::<(), &str>("stop after one")
            })
            .unwrap()
            .unwrap_err();
        assert_eq!(without, vec![None]);
    }
}
