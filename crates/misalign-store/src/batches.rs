//! Provider batches in the store, whatever they carry: what was (or may have been)
//! submitted, what the provider said, and the results ingested from each, in one
//! transaction per step. A batch's [`BatchPurpose`] says what its requests are for:
//! sampling (each request a work item, each result a `responses` row) or judging (each
//! request a judge-cache key and the answer it judges, each result a `judge_cache` row).
//! One table family holds both: `batches`, `batch_requests`, `batch_events`,
//! `batch_results`.
//!
//! The order of writes is the durability argument: the batch and its requests are committed
//! before the submission is sent; the provider's id is committed as soon as it is known; the
//! results of an ended batch are committed together with the `ingested` event, so a batch is
//! ingested once or not at all (and a judge reply, keyed by its cache key, is cached once).

use super::classifications::JudgeCacheRow;
use super::samples::{Inserted, ResponseRow};
use super::{Store, StoreError};
use rusqlite::{params, OptionalExtension, Transaction};

/// What a batch's requests are for (`batches.purpose`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BatchPurpose {
    /// Samples (`execution.batch`): results are answers in `responses`.
    Sample,
    /// Judge and awareness calls (`classification.batch`): results go to `judge_cache`.
    Judge,
}

impl BatchPurpose {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            BatchPurpose::Sample => "sample",
            BatchPurpose::Judge => "judge",
        }
    }
}

/// Which judge a request of a judge batch asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JudgeCall {
    /// The harm judge (`classification.classifier_model` or a per-scenario judge).
    Judge,
    /// The evaluation-awareness judge (`classification.awareness_model`).
    Awareness,
}

impl JudgeCall {
    pub fn as_str(self) -> &'static str {
        match self {
            JudgeCall::Judge => "judge",
            JudgeCall::Awareness => "awareness",
        }
    }
}

/// One request of a batch, as recorded before the batch is sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchRequestRow {
    pub custom_id: String,
    /// A sample batch: the work item's key; a judge batch: the judge-cache key its reply is
    /// stored under.
    pub key: String,
    /// A judge batch: which judge is asked, about which answer (`responses.id`).
    pub judged: Option<(JudgeCall, i64)>,
}

/// What an ended batch produced, to store with its `ingested` event.
#[derive(Clone, Copy, Debug)]
pub enum BatchResults<'a> {
    /// A sample batch's answers and final errors.
    Answers(&'a [ResponseRow]),
    /// A judge batch's parsed replies.
    Judgements(&'a [JudgeCacheRow]),
}

impl BatchResults<'_> {
    fn len(&self) -> usize {
        match self {
            BatchResults::Answers(r) => r.len(),
            BatchResults::Judgements(r) => r.len(),
        }
    }
}

/// A batch the store holds without an end (`ingested`, `failed` or `abandoned` event).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenBatch {
    pub id: i64,
    pub model: String,
    pub provider: String,
    pub marker: String,
    /// `None`: recorded, but its submission's reply never arrived.
    pub remote_id: Option<String>,
    /// (custom id, request key), in submission order.
    pub items: Vec<(String, String)>,
}

/// How a batch ended (the event written).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchEnd {
    /// Failed as a whole at the provider; its items are sent again.
    Failed,
    /// Never created on the server; its items are sent again.
    Abandoned,
}

impl BatchEnd {
    fn as_str(self) -> &'static str {
        match self {
            BatchEnd::Failed => "failed",
            BatchEnd::Abandoned => "abandoned",
        }
    }
}

impl Store {
    /// Records a batch about to be submitted and its requests; returns its id. Committed
    /// before the submission goes out.
    #[allow(clippy::too_many_arguments)]
    pub fn record_batch(
        &mut self,
        purpose: BatchPurpose,
        run_id: i64,
        model: &str,
        provider: &str,
        marker: &str,
        requests: &[BatchRequestRow],
        at: &str,
    ) -> Result<i64, StoreError> {
        let path = self.path.clone();
        let wrap = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(wrap)?;
        tx.execute(
            "INSERT INTO batches (run_id, model, provider, marker, request_count, created_at, purpose) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                run_id,
                model,
                provider,
                marker,
                requests.len() as i64,
                at,
                purpose.as_str()
            ],
        )
        .map_err(wrap)?;
        let id = tx.last_insert_rowid();
        {
            let mut st = tx
                .prepare(
                    "INSERT INTO batch_requests (batch_id, position, custom_id, request_key, call, \
                     response_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(wrap)?;
            for (i, r) in requests.iter().enumerate() {
                st.execute(params![
                    id,
                    i as i64,
                    r.custom_id,
                    r.key,
                    r.judged.map(|(call, _)| call.as_str()),
                    r.judged.map(|(_, response)| response)
                ])
                .map_err(wrap)?;
            }
        }
        tx.commit().map_err(wrap)?;
        Ok(id)
    }

    /// The provider accepted the batch under `remote_id`.
    pub fn batch_submitted(
        &self,
        batch_id: i64,
        remote_id: &str,
        at: &str,
    ) -> Result<(), StoreError> {
        self.batch_event(batch_id, "submitted", Some(remote_id), None, at)
    }

    /// The provider says the batch ended (its results are to be ingested).
    pub fn batch_ended(&self, batch_id: i64, detail: &str, at: &str) -> Result<(), StoreError> {
        self.batch_event(batch_id, "ended", None, Some(detail), at)
    }

    /// The batch ends without results (see [`BatchEnd`]).
    pub fn batch_closed(
        &self,
        batch_id: i64,
        end: BatchEnd,
        detail: &str,
        at: &str,
    ) -> Result<(), StoreError> {
        self.batch_event(batch_id, end.as_str(), None, Some(detail), at)
    }

    fn batch_event(
        &self,
        batch_id: i64,
        kind: &str,
        remote_id: Option<&str>,
        detail: Option<&str>,
        at: &str,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO batch_events (batch_id, kind, remote_id, detail, at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![batch_id, kind, remote_id, detail, at],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Every batch of `purpose` still open, oldest first, with its requests.
    pub fn open_batches(&self, purpose: BatchPurpose) -> Result<Vec<OpenBatch>, StoreError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT b.id, b.model, b.provider, b.marker, \
                   (SELECT remote_id FROM batch_events e WHERE e.batch_id = b.id \
                      AND e.kind = 'submitted' ORDER BY e.id DESC LIMIT 1) \
                 FROM batches b WHERE b.purpose = ?1 AND NOT EXISTS (SELECT 1 FROM batch_events e \
                   WHERE e.batch_id = b.id AND e.kind IN ('ingested', 'failed', 'abandoned')) \
                 ORDER BY b.id",
            )
            .map_err(|e| self.err(e))?;
        let mut out: Vec<OpenBatch> = st
            .query_map([purpose.as_str()], |r| {
                Ok(OpenBatch {
                    id: r.get(0)?,
                    model: r.get(1)?,
                    provider: r.get(2)?,
                    marker: r.get(3)?,
                    remote_id: r.get(4)?,
                    items: Vec::new(),
                })
            })
            .map_err(|e| self.err(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.err(e))?;
        let mut items = self
            .conn
            .prepare(
                "SELECT custom_id, request_key FROM batch_requests WHERE batch_id = ?1 \
                 ORDER BY position",
            )
            .map_err(|e| self.err(e))?;
        for b in &mut out {
            b.items = items
                .query_map([b.id], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(|e| self.err(e))?
                .collect::<Result<_, _>>()
                .map_err(|e| self.err(e))?;
        }
        Ok(out)
    }

    /// Whether any batch of `purpose` is still open (a later run must collect it).
    pub fn has_open_batches(&self, purpose: BatchPurpose) -> Result<bool, StoreError> {
        self.conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM batches b WHERE b.purpose = ?1 AND NOT EXISTS \
                   (SELECT 1 FROM batch_events e WHERE e.batch_id = b.id \
                      AND e.kind IN ('ingested', 'failed', 'abandoned')))",
                [purpose.as_str()],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
    }

    /// How many batches of `purpose` have held a request under `key` (its attempts in
    /// batch mode).
    pub fn batch_attempts(&self, purpose: BatchPurpose, key: &str) -> Result<u32, StoreError> {
        self.conn
            .query_row(
                "SELECT count(*) FROM batch_requests r JOIN batches b ON b.id = r.batch_id \
                 WHERE r.request_key = ?1 AND b.purpose = ?2",
                params![key, purpose.as_str()],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
            .map_err(|e| self.err(e))
    }

    /// Stores the results of an ended batch and marks it ingested, in one transaction. A
    /// batch already ingested is left alone: every row comes back [`Inserted::Duplicate`]
    /// (ingesting twice adds nothing). So does a judge reply whose key is cached already (a
    /// live call, another batch): it keeps its first reply. New results are linked to the
    /// batch (`batch_results`: billed at the batch price).
    pub fn ingest_batch(
        &mut self,
        batch_id: i64,
        results: BatchResults<'_>,
        at: &str,
    ) -> Result<Vec<Inserted>, StoreError> {
        let path = self.path.clone();
        let wrap = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(wrap)?;
        let done: Option<i64> = tx
            .query_row(
                "SELECT id FROM batch_events WHERE batch_id = ?1 AND kind = 'ingested'",
                [batch_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(wrap)?;
        if done.is_some() {
            return Ok(vec![Inserted::Duplicate; results.len()]);
        }
        let (out, detail) = match results {
            BatchResults::Answers(rows) => (
                store_answers(&tx, batch_id, rows).map_err(wrap)?,
                format!("{} rows", rows.len()),
            ),
            BatchResults::Judgements(rows) => (
                store_judgements(&tx, batch_id, rows, at).map_err(wrap)?,
                format!("{} judgements", rows.len()),
            ),
        };
        tx.execute(
            "INSERT INTO batch_events (batch_id, kind, detail, at) VALUES (?1, 'ingested', ?2, ?3)",
            params![batch_id, detail, at],
        )
        .map_err(wrap)?;
        tx.commit().map_err(wrap)?;
        Ok(out)
    }

    /// Whether the cached judge reply under `cache_key` came from a batch (billed at the
    /// batch price) rather than a live call.
    pub fn judgement_batch_billed(&self, cache_key: &str) -> Result<bool, StoreError> {
        self.conn
            .query_row(
                &format!(
                    "SELECT 1 FROM batch_results a WHERE {}",
                    judged_in_batch("?1")
                ),
                [cache_key],
                |_| Ok(()),
            )
            .optional()
            .map(|r| r.is_some())
            .map_err(|e| self.err(e))
    }
}

/// SQL for "the judge reply cached under `key_expr` came from a batch" (over
/// `batch_results a`; judge results carry no response id).
pub(crate) fn judged_in_batch(key_expr: &str) -> String {
    format!("a.request_key = {key_expr} AND a.response_id IS NULL")
}

/// A sample batch's answers and errors as `responses` rows, each new one linked to it.
fn store_answers(
    tx: &Transaction<'_>,
    batch_id: i64,
    rows: &[ResponseRow],
) -> rusqlite::Result<Vec<Inserted>> {
    let mut out = Vec::with_capacity(rows.len());
    let mut st = tx.prepare_cached(crate::samples::INSERT_RESPONSE)?;
    let mut link = tx.prepare_cached(
        "INSERT INTO batch_results (batch_id, request_key, response_id) VALUES (?1, ?2, ?3)",
    )?;
    for r in rows {
        let n = crate::samples::insert_response(&mut st, r)?;
        if n == 1 {
            link.execute(params![batch_id, r.item_key, tx.last_insert_rowid()])?;
            out.push(Inserted::New);
        } else {
            out.push(Inserted::Duplicate);
        }
    }
    Ok(out)
}

/// A judge batch's parsed replies into the judge cache (a key cached already keeps its
/// first reply), each new one linked to the batch.
fn store_judgements(
    tx: &Transaction<'_>,
    batch_id: i64,
    rows: &[JudgeCacheRow],
    at: &str,
) -> rusqlite::Result<Vec<Inserted>> {
    let mut out = Vec::with_capacity(rows.len());
    // The run that sent the batch paid for its replies, whichever run collects them.
    let payer: Option<i64> = tx
        .query_row(
            "SELECT run_id FROM batches WHERE id = ?1",
            [batch_id],
            |r| r.get(0),
        )
        .optional()?;
    let mut put = tx.prepare_cached(
        "INSERT OR IGNORE INTO judge_cache (cache_key, judge_model, rubric_version, \
         transcript_hash, verdict, label, reasoning, raw, input_tokens, \
         cache_write_tokens, cache_read_tokens, output_tokens, run_id, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?;
    let mut link = tx.prepare_cached(
        "INSERT OR IGNORE INTO batch_results (batch_id, request_key) VALUES (?1, ?2)",
    )?;
    for r in rows {
        let n = put.execute(params![
            r.cache_key,
            r.judge_model,
            r.rubric_version,
            r.transcript_hash,
            r.entry.verdict,
            r.entry.label,
            r.entry.reasoning,
            r.entry.raw,
            r.tokens.input,
            r.tokens.cache_write,
            r.tokens.cache_read,
            r.tokens.output,
            payer,
            at
        ])?;
        if n == 1 {
            link.execute(params![batch_id, r.cache_key])?;
            out.push(Inserted::New);
        } else {
            out.push(Inserted::Duplicate);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::classifications::{CachedJudgement, ReplyTokens};
    use super::super::samples::tests_support::manifest;
    use super::super::samples::{PromptRow, WorkItemRow};
    use super::*;
    use crate::samples::ResponseStatus;

    fn store_with_items(n: usize) -> (tempfile::TempDir, Store, i64) {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open_dir(dir.path()).unwrap();
        let run = s.begin_run(&manifest()).unwrap();
        let keys: Vec<String> = (0..n).map(|i| format!("k{i}")).collect();
        let items: Vec<WorkItemRow> = keys
            .iter()
            .map(|k| WorkItemRow {
                item_key: k,
                prompt_hash: "p",
                condition_id: "c",
                model: "m/m",
                sample_index: 0,
                params_json: "{}",
            })
            .collect();
        let prompt = PromptRow {
            prompt_hash: "p",
            condition_id: "c",
            condition_json: r#"{"scenario":"blackmail"}"#,
            system_prompt: "",
            user_prompt: "",
            email_content: "",
            prior_turns_json: None,
        };
        s.record_plan(run, &[prompt], &items).unwrap();
        (dir, s, run)
    }

    use BatchPurpose::{Judge, Sample};

    fn requests(ids: &[(String, String)]) -> Vec<BatchRequestRow> {
        ids.iter()
            .map(|(c, k)| BatchRequestRow {
                custom_id: c.clone(),
                key: k.clone(),
                judged: None,
            })
            .collect()
    }

    fn answer(key: &str, run: i64) -> ResponseRow {
        ResponseRow {
            item_key: key.into(),
            run_id: run,
            status: Some(ResponseStatus::Answer),
            answer: Some("a".into()),
            attempts: 1,
            ..Default::default()
        }
    }

    #[test]
    fn a_batch_stays_open_until_ingested_and_ingesting_twice_adds_nothing() {
        let (_d, mut s, run) = store_with_items(3);
        let items: Vec<(String, String)> =
            (0..3).map(|i| (format!("c{i}"), format!("k{i}"))).collect();
        let b = s
            .record_batch(Sample, run, "m/m", "m", "mk1", &requests(&items), "t")
            .unwrap();
        let open = s.open_batches(Sample).unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].remote_id, None);
        assert_eq!(open[0].items, items);
        assert!(s.has_open_batches(Sample).unwrap());
        assert!(
            s.open_batches(Judge).unwrap().is_empty(),
            "not a judge batch"
        );
        assert!(!s.has_open_batches(Judge).unwrap());
        s.batch_submitted(b, "remote-1", "t").unwrap();
        assert_eq!(
            s.open_batches(Sample).unwrap()[0].remote_id.as_deref(),
            Some("remote-1")
        );
        assert_eq!(s.batch_attempts(Sample, "k0").unwrap(), 1);
        assert_eq!(s.batch_attempts(Judge, "k0").unwrap(), 0);
        let rows = vec![answer("k0", run), answer("k1", run)];
        assert_eq!(
            s.ingest_batch(b, BatchResults::Answers(&rows), "t")
                .unwrap(),
            vec![Inserted::New, Inserted::New]
        );
        assert!(s.open_batches(Sample).unwrap().is_empty());
        assert!(!s.has_open_batches(Sample).unwrap());
        assert_eq!(
            s.ingest_batch(b, BatchResults::Answers(&rows), "t")
                .unwrap(),
            vec![Inserted::Duplicate, Inserted::Duplicate]
        );
        let (responses, linked): (i64, i64) = s
            .conn
            .query_row(
                "SELECT (SELECT count(*) FROM responses), (SELECT count(*) FROM batch_answers)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((responses, linked), (2, 2));
    }

    #[test]
    fn failed_and_abandoned_batches_are_closed() {
        let (_d, mut s, run) = store_with_items(2);
        let one = requests(&[("c0".to_string(), "k0".to_string())]);
        let a = s
            .record_batch(Sample, run, "m/m", "m", "mk-a", &one, "t")
            .unwrap();
        let b = s
            .record_batch(Sample, run, "m/m", "m", "mk-b", &one, "t")
            .unwrap();
        s.batch_closed(a, BatchEnd::Abandoned, "not found", "t")
            .unwrap();
        s.batch_closed(b, BatchEnd::Failed, "expired", "t").unwrap();
        assert!(s.open_batches(Sample).unwrap().is_empty());
        assert_eq!(s.batch_attempts(Sample, "k0").unwrap(), 2);
        assert!(
            s.record_batch(Sample, run, "m/m", "m", "mk-a", &one, "t")
                .is_err(),
            "markers are unique"
        );
    }

    fn judged(key: &str) -> JudgeCacheRow {
        JudgeCacheRow {
            cache_key: key.into(),
            judge_model: "anthropic/judge".into(),
            rubric_version: "r1".into(),
            transcript_hash: format!("t-{key}"),
            entry: CachedJudgement {
                verdict: Some(true),
                label: None,
                reasoning: "why".into(),
                raw: "raw".into(),
            },
            tokens: ReplyTokens {
                input: Some(1000),
                cache_write: None,
                cache_read: Some(0),
                output: Some(200),
            },
        }
    }

    fn item(i: usize, call: JudgeCall) -> BatchRequestRow {
        BatchRequestRow {
            custom_id: format!("c{i}"),
            key: format!("key{i}"),
            judged: Some((call, 1)),
        }
    }

    fn store_with_an_answer() -> (tempfile::TempDir, Store, i64) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open_dir(dir.path()).unwrap();
        let run = s.begin_run(&manifest()).unwrap();
        s.conn
            .execute_batch(
                "INSERT INTO prompts VALUES ('p', 'c', '{}', '', '', '', NULL);
                 INSERT INTO work_items VALUES ('k', 'p', 'c', 'm/m', 0, '{}', 'blackmail');
                 INSERT INTO responses (id, item_key, run_id, status, answer, attempts, started_at, finished_at)
                   VALUES (1, 'k', 1, 'answer', 'a', 1, 't', 't');",
            )
            .unwrap();
        (dir, s, run)
    }

    #[test]
    fn judge_batches_are_apart_from_sampling_batches_and_ingest_once() {
        let (_d, mut s, run) = store_with_an_answer();
        let items = vec![item(0, JudgeCall::Judge), item(1, JudgeCall::Awareness)];
        let b = s
            .record_batch(
                Judge,
                run,
                "anthropic/judge",
                "anthropic",
                "mk",
                &items,
                "t",
            )
            .unwrap();
        assert!(
            s.open_batches(Sample).unwrap().is_empty(),
            "not a sampling batch"
        );
        assert!(s.has_open_batches(Judge).unwrap());
        let open = s.open_batches(Judge).unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!(
            open[0].items,
            vec![("c0".into(), "key0".into()), ("c1".into(), "key1".into())]
        );
        s.batch_submitted(b, "remote", "t").unwrap();
        assert_eq!(s.batch_attempts(Judge, "key0").unwrap(), 1);
        assert_eq!(s.batch_attempts(Judge, "other").unwrap(), 0);
        assert_eq!(s.batch_attempts(Sample, "key0").unwrap(), 0);
        // key1 is already cached by a live call: the batch's reply does not replace it.
        s.judge_cache_put(
            "key1",
            "anthropic/judge",
            "r1",
            "t",
            &judged("key1").entry,
            &ReplyTokens {
                input: Some(7),
                ..Default::default()
            },
            Some(run),
            "t",
        )
        .unwrap();
        let rows = vec![judged("key0"), judged("key1")];
        assert_eq!(
            s.ingest_batch(b, BatchResults::Judgements(&rows), "t")
                .unwrap(),
            vec![Inserted::New, Inserted::Duplicate]
        );
        assert!(s.open_batches(Judge).unwrap().is_empty());
        assert!(!s.has_open_batches(Judge).unwrap());
        assert_eq!(
            s.ingest_batch(b, BatchResults::Judgements(&rows), "t")
                .unwrap(),
            vec![Inserted::Duplicate, Inserted::Duplicate],
            "ingesting twice adds nothing"
        );
        assert!(s.judgement_batch_billed("key0").unwrap());
        assert!(!s.judgement_batch_billed("key1").unwrap(), "a live call");
        assert!(s.judge_cache_get("key0").unwrap().is_some());
        // What each reply used, and who paid: the batch's run for key0, the live call's
        // for key1 (whose batch reply was not stored, so not counted).
        let u = s.judge_usage_by_model(Some(run)).unwrap();
        let j = &u["anthropic/judge"];
        assert_eq!((j.answers, j.tokens.input, j.tokens.output), (2, 1007, 200));
        assert_eq!((j.batch_tokens.input, j.batch_tokens.output), (1000, 200));
        assert!(s.judge_usage_by_model(Some(run + 1)).unwrap().is_empty());
        assert_eq!(s.judge_usage_by_model(None).unwrap(), u);
    }
}
