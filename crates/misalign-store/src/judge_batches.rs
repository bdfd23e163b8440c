//! Judge and awareness calls sent in provider batches (`classification.batch`).
//!
//! A judge batch is a `batches` row with `purpose = 'judge'`; its events are the sampling
//! batches' events (`batch_events`, see [`crate::batches`]). What differs is what a request
//! is for and where its answer goes: each request names a judge-cache key (judge model,
//! rubric, transcript) and the answer being classified (`judge_batch_items`), and a parsed
//! reply is stored in `judge_cache` together with the `ingested` event, in one transaction.
//! The cache key's uniqueness makes ingestion idempotent; `judge_batch_answers` says which
//! cached replies were billed at the batch price.

use super::batches::OpenBatch;
use super::classifications::{CachedJudgement, ReplyTokens};
use super::samples::Inserted;
use super::{Store, StoreError};
use rusqlite::{params, OptionalExtension};

/// Which judge a request asks.
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

/// One request of a judge batch, as recorded before it is sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JudgeBatchItem {
    pub custom_id: String,
    pub cache_key: String,
    pub call: JudgeCall,
    /// The answer (`responses.id`) this judgement is for.
    pub response_id: i64,
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
    /// Records a judge batch about to be submitted and its requests; returns its id.
    /// Committed before the submission goes out.
    pub fn record_judge_batch(
        &mut self,
        run_id: i64,
        judge_model: &str,
        provider: &str,
        marker: &str,
        items: &[JudgeBatchItem],
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
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'judge')",
            params![run_id, judge_model, provider, marker, items.len() as i64, at],
        )
        .map_err(wrap)?;
        let id = tx.last_insert_rowid();
        {
            let mut st = tx
                .prepare(
                    "INSERT INTO judge_batch_items (batch_id, position, custom_id, cache_key, call, \
                     response_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(wrap)?;
            for (i, it) in items.iter().enumerate() {
                st.execute(params![
                    id,
                    i as i64,
                    it.custom_id,
                    it.cache_key,
                    it.call.as_str(),
                    it.response_id
                ])
                .map_err(wrap)?;
            }
        }
        tx.commit().map_err(wrap)?;
        Ok(id)
    }

    /// Every judge batch still open, oldest first; `items` are (custom id, cache key).
    pub fn open_judge_batches(&self) -> Result<Vec<OpenBatch>, StoreError> {
        let mut out = self.open_batches_of("judge")?;
        let mut items = self
            .conn
            .prepare(
                "SELECT custom_id, cache_key FROM judge_batch_items WHERE batch_id = ?1 \
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

    /// Whether any judge batch is still open (a later classification must collect it).
    pub fn has_open_judge_batches(&self) -> Result<bool, StoreError> {
        Ok(!self.open_batches_of("judge")?.is_empty())
    }

    /// How many judge batches have held a request for this cache key.
    pub fn judge_batch_attempts(&self, cache_key: &str) -> Result<u32, StoreError> {
        self.conn
            .query_row(
                "SELECT count(*) FROM judge_batch_items WHERE cache_key = ?1",
                [cache_key],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
            .map_err(|e| self.err(e))
    }

    /// Caches the parsed replies of an ended judge batch and marks it ingested, in one
    /// transaction. A batch already ingested adds nothing (every row comes back
    /// [`Inserted::Duplicate`]); a key already cached (a live call, another batch) keeps
    /// its first reply. New rows are linked to the batch (`judge_batch_answers`).
    pub fn ingest_judge_batch(
        &mut self,
        batch_id: i64,
        rows: &[JudgeCacheRow],
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
            return Ok(vec![Inserted::Duplicate; rows.len()]);
        }
        let mut out = Vec::with_capacity(rows.len());
        // The run that sent the batch paid for its replies, whichever run collects them.
        let payer: Option<i64> = tx
            .query_row(
                "SELECT run_id FROM batches WHERE id = ?1",
                [batch_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(wrap)?;
        {
            let mut put = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO judge_cache (cache_key, judge_model, rubric_version, \
                     transcript_hash, verdict, label, reasoning, raw, input_tokens, \
                     cache_write_tokens, cache_read_tokens, output_tokens, run_id, created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                )
                .map_err(wrap)?;
            let mut link = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO judge_batch_answers (cache_key, batch_id) VALUES (?1, ?2)",
                )
                .map_err(wrap)?;
            for r in rows {
                let n = put
                    .execute(params![
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
                    ])
                    .map_err(wrap)?;
                if n == 1 {
                    link.execute(params![r.cache_key, batch_id]).map_err(wrap)?;
                    out.push(Inserted::New);
                } else {
                    out.push(Inserted::Duplicate);
                }
            }
        }
        tx.execute(
            "INSERT INTO batch_events (batch_id, kind, detail, at) VALUES (?1, 'ingested', ?2, ?3)",
            params![batch_id, format!("{} judgements", rows.len()), at],
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
                "SELECT 1 FROM judge_batch_answers WHERE cache_key = ?1",
                [cache_key],
                |_| Ok(()),
            )
            .optional()
            .map(|r| r.is_some())
            .map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::super::samples::tests_support::manifest;
    use super::*;

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

    fn item(i: usize, call: JudgeCall) -> JudgeBatchItem {
        JudgeBatchItem {
            custom_id: format!("c{i}"),
            cache_key: format!("key{i}"),
            call,
            response_id: 1,
        }
    }

    fn store() -> (tempfile::TempDir, Store, i64) {
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
        let (_d, mut s, run) = store();
        let items = vec![item(0, JudgeCall::Judge), item(1, JudgeCall::Awareness)];
        let b = s
            .record_judge_batch(run, "anthropic/judge", "anthropic", "mk", &items, "t")
            .unwrap();
        assert!(s.open_batches().unwrap().is_empty(), "not a sampling batch");
        assert!(s.has_open_judge_batches().unwrap());
        let open = s.open_judge_batches().unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!(
            open[0].items,
            vec![("c0".into(), "key0".into()), ("c1".into(), "key1".into())]
        );
        s.batch_submitted(b, "remote", "t").unwrap();
        assert_eq!(s.judge_batch_attempts("key0").unwrap(), 1);
        assert_eq!(s.judge_batch_attempts("other").unwrap(), 0);
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
            s.ingest_judge_batch(b, &rows, "t").unwrap(),
            vec![Inserted::New, Inserted::Duplicate]
        );
        assert!(s.open_judge_batches().unwrap().is_empty());
        assert!(!s.has_open_judge_batches().unwrap());
        assert_eq!(
            s.ingest_judge_batch(b, &rows, "t").unwrap(),
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
