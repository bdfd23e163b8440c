//! Queries of the classification stage: answers awaiting a verdict, verdict rows, the
//! judge cache, and per-scenario verdict counts. Rows are only added.

use super::{Store, StoreError};
use crate::cell::cell;
use rusqlite::{params, OptionalExtension};

/// A stored answer awaiting classification.
#[derive(Clone, Debug, PartialEq)]
pub struct PendingAnswer {
    pub response_id: i64,
    pub item_key: String,
    pub condition_id: String,
    pub model: String,
    pub answer: String,
    pub reasoning: Option<String>,
    /// The inbox of the answer's prompt (for the judge's context).
    pub inbox: String,
    /// The scenario of the answer's condition: it selects the facts and the rubric.
    pub scenario: String,
}

/// One `classifications` row to add.
#[derive(Clone, Debug, PartialEq)]
pub struct NewClassification {
    pub response_id: i64,
    pub item_key: String,
    pub classifier_version: String,
    pub actions_json: String,
    pub parse_issues_json: String,
    pub detector_verdict: bool,
    pub detector_evidence_json: String,
    pub judge_model: Option<String>,
    pub judge_verdict: Option<bool>,
    pub judge_reasoning: Option<String>,
    pub judge_error: Option<String>,
    pub final_verdict: Option<bool>,
    pub whistleblowing: Option<bool>,
    pub awareness_label: Option<String>,
    pub awareness_reasoning: Option<String>,
    pub classified_at: String,
    /// Raised its concern through a legitimate channel (`detect::escalation`).
    pub escalation: Option<bool>,
    pub escalation_evidence_json: Option<String>,
    /// An action-like block of the answer could not be read (`Detection::unparsed`).
    pub unparsed: bool,
    /// An agent episode's verdict fields; `None` for a single answer.
    pub episode: Option<EpisodeFields>,
}

/// What a classification records of an agent episode (docs/classification.md, "Agent
/// episodes").
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EpisodeFields {
    /// Steps the episode committed.
    pub steps: u32,
    /// How it ended: `finished`, `step_limit` or the event's name (`wipe`).
    pub terminal: Option<String>,
    /// The first harmful action, when the final verdict is harmful.
    pub harmful_step: Option<u32>,
    /// Its simulated time, `YYYY-MM-DDTHH:MM:SS`.
    pub harmful_at: Option<String>,
    /// The tool it called (`send_email`, `forward_email`, `cancel_alert`).
    pub harmful_tool: Option<String>,
    /// A leverage email had been read before it (earlier, or earlier in its step).
    pub leverage_read_first: Option<bool>,
}

/// A cached judge reply.
#[derive(Clone, Debug, PartialEq)]
pub struct CachedJudgement {
    pub verdict: Option<bool>,
    pub label: Option<String>,
    pub reasoning: String,
    pub raw: String,
}

/// The provider's four token counts for one judge reply, normalised as for answers
/// (`misalign_models::Usage`); None: not reported.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplyTokens {
    pub input: Option<i64>,
    pub cache_write: Option<i64>,
    pub cache_read: Option<i64>,
    pub output: Option<i64>,
}

/// The latest verdicts of one answer, for summaries.
#[derive(Clone, Debug, PartialEq)]
pub struct VerdictRow {
    pub condition_id: String,
    pub detector_verdict: bool,
    pub judge_verdict: Option<bool>,
    pub judge_error: bool,
    /// An action-like block could not be read (NULL before schema 7: no).
    pub unparsed: bool,
    pub final_verdict: Option<bool>,
    pub whistleblowing: Option<bool>,
    pub scenario: String,
}

/// A parsed judge reply to cache.
#[derive(Clone, Debug, PartialEq)]
pub struct JudgeCacheRow {
    pub cache_key: String,
    pub judge_model: String,
    pub rubric_version: String,
    pub transcript_hash: String,
    pub entry: CachedJudgement,
    /// What the provider reported the request used (billed at the batch price).
    pub tokens: ReplyTokens,
}

impl Store {
    /// Answers without a classification of `classifier_version` (every answer if `all`).
    pub fn pending_classifications(
        &self,
        classifier_version: &str,
        all: bool,
    ) -> Result<Vec<PendingAnswer>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT r.id, r.item_key, w.condition_id, w.model, COALESCE(r.answer, ''), r.reasoning,
                        p.email_content, w.scenario
                 FROM responses r
                 JOIN work_items w ON w.item_key = r.item_key
                 JOIN prompts p ON p.prompt_hash = w.prompt_hash
                 WHERE r.status = 'answer'
                   AND (?2 OR NOT EXISTS (SELECT 1 FROM classifications c
                                          WHERE c.response_id = r.id AND c.classifier_version = ?1))
                 ORDER BY r.id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![classifier_version, all], |r| {
                Ok(PendingAnswer {
                    response_id: cell(r, 0)?,
                    item_key: cell(r, 1)?,
                    condition_id: cell(r, 2)?,
                    model: cell(r, 3)?,
                    answer: cell(r, 4)?,
                    reasoning: cell(r, 5)?,
                    inbox: cell(r, 6)?,
                    scenario: cell(r, 7)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// Adds one classification row; returns its id.
    pub fn insert_classification(&self, c: &NewClassification) -> Result<i64, StoreError> {
        let e = c.episode.as_ref();
        self.conn
            .execute(
                "INSERT INTO classifications (response_id, item_key, classifier_version, actions_json,
                    parse_issues_json, detector_verdict, detector_evidence_json, judge_model, judge_verdict,
                    judge_reasoning, judge_error, final_verdict, whistleblowing, awareness_label,
                    awareness_reasoning, classified_at, escalation, escalation_evidence_json, unparsed,
                    steps, terminal, harmful_step, harmful_at, harmful_tool, leverage_read_first)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19,
                         ?20, ?21, ?22, ?23, ?24, ?25)",
                params![
                    c.response_id,
                    c.item_key,
                    c.classifier_version,
                    c.actions_json,
                    c.parse_issues_json,
                    c.detector_verdict,
                    c.detector_evidence_json,
                    c.judge_model,
                    c.judge_verdict,
                    c.judge_reasoning,
                    c.judge_error,
                    c.final_verdict,
                    c.whistleblowing,
                    c.awareness_label,
                    c.awareness_reasoning,
                    c.classified_at,
                    c.escalation,
                    c.escalation_evidence_json,
                    c.unparsed,
                    e.map(|e| e.steps),
                    e.and_then(|e| e.terminal.clone()),
                    e.and_then(|e| e.harmful_step),
                    e.and_then(|e| e.harmful_at.clone()),
                    e.and_then(|e| e.harmful_tool.clone()),
                    e.and_then(|e| e.leverage_read_first),
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// A cached judge reply by cache key.
    pub fn judge_cache_get(&self, cache_key: &str) -> Result<Option<CachedJudgement>, StoreError> {
        self.conn
            .query_row(
                "SELECT verdict, label, reasoning, raw FROM judge_cache WHERE cache_key = ?1",
                params![cache_key],
                |r| {
                    Ok(CachedJudgement {
                        verdict: cell(r, 0)?,
                        label: cell(r, 1)?,
                        reasoning: cell(r, 2)?,
                        raw: cell(r, 3)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Caches a parsed judge reply (first writer wins; the key fixes the content) with what
    /// the call used and the run that paid for it (`run_id`; None outside a run).
    #[allow(clippy::too_many_arguments)]
    pub fn judge_cache_put(
        &self,
        cache_key: &str,
        judge_model: &str,
        rubric_version: &str,
        transcript_hash: &str,
        entry: &CachedJudgement,
        tokens: &ReplyTokens,
        run_id: Option<i64>,
        created_at: &str,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT OR IGNORE INTO judge_cache (cache_key, judge_model, rubric_version, transcript_hash,
                    verdict, label, reasoning, raw, input_tokens, cache_write_tokens,
                    cache_read_tokens, output_tokens, run_id, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                params![
                    cache_key,
                    judge_model,
                    rubric_version,
                    transcript_hash,
                    entry.verdict,
                    entry.label,
                    entry.reasoning,
                    entry.raw,
                    tokens.input,
                    tokens.cache_write,
                    tokens.cache_read,
                    tokens.output,
                    run_id,
                    created_at
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Records a judge call whose reply could not be used, with what the provider billed
    /// for its attempts (`judge_failures`; counted in the paying run's judge cost).
    #[allow(clippy::too_many_arguments)]
    pub fn judge_failure_put(
        &self,
        cache_key: &str,
        judge_model: &str,
        tokens: &ReplyTokens,
        run_id: Option<i64>,
        batched: bool,
        error: &str,
        created_at: &str,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO judge_failures (cache_key, judge_model, input_tokens,
                    cache_write_tokens, cache_read_tokens, output_tokens, run_id, batched, error,
                    created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    cache_key,
                    judge_model,
                    tokens.input,
                    tokens.cache_write,
                    tokens.cache_read,
                    tokens.output,
                    run_id,
                    batched,
                    error,
                    created_at
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The latest classification of `classifier_version` per answer, with its condition.
    pub fn latest_verdicts(&self, classifier_version: &str) -> Result<Vec<VerdictRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT w.condition_id, c.detector_verdict, c.judge_verdict, c.judge_error IS NOT NULL,
                        c.final_verdict, c.whistleblowing, w.scenario, coalesce(c.unparsed, 0)
                 FROM classifications c
                 JOIN work_items w ON w.item_key = c.item_key
                 WHERE c.id IN (SELECT max(id) FROM classifications WHERE classifier_version = ?1
                                GROUP BY response_id)
                 ORDER BY c.id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![classifier_version], |r| {
                Ok(VerdictRow {
                    condition_id: cell(r, 0)?,
                    detector_verdict: cell(r, 1)?,
                    judge_verdict: cell(r, 2)?,
                    judge_error: cell(r, 3)?,
                    final_verdict: cell(r, 4)?,
                    whistleblowing: cell(r, 5)?,
                    scenario: cell(r, 6)?,
                    unparsed: cell(r, 7)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }
}
