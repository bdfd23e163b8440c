//! Provider batches in the store: what was (or may have been) submitted, what the provider
//! said, and the answers ingested from each, in one transaction per step.
//!
//! The order of writes is the durability argument: the batch and its items are committed
//! before the submission is sent; the provider's id is committed as soon as it is known; the
//! answers of an ended batch are committed together with the `ingested` event, so a batch is
//! ingested once or not at all.

use super::samples::{Inserted, ResponseRow, ResponseStatus};
use super::{Store, StoreError};
use rusqlite::{params, OptionalExtension};

/// A batch the store holds without an end (`ingested`, `failed` or `abandoned` event).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenBatch {
    pub id: i64,
    pub model: String,
    pub provider: String,
    pub marker: String,
    /// `None`: recorded, but its submission's reply never arrived.
    pub remote_id: Option<String>,
    /// (custom id, item key), in submission order.
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
    /// Records a batch about to be submitted and its items; returns its id. Committed before
    /// the submission goes out.
    pub fn record_batch(
        &mut self,
        run_id: i64,
        model: &str,
        provider: &str,
        marker: &str,
        items: &[(String, String)],
        at: &str,
    ) -> Result<i64, StoreError> {
        let path = self.path.clone();
        let wrap = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(wrap)?;
        tx.execute(
            "INSERT INTO batches (run_id, model, provider, marker, request_count, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![run_id, model, provider, marker, items.len() as i64, at],
        )
        .map_err(wrap)?;
        let id = tx.last_insert_rowid();
        {
            let mut st = tx
                .prepare(
                    "INSERT INTO batch_items (batch_id, position, custom_id, item_key) \
                     VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(wrap)?;
            for (i, (custom_id, key)) in items.iter().enumerate() {
                st.execute(params![id, i as i64, custom_id, key])
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

    /// The batch ends without answers (see [`BatchEnd`]).
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

    /// Every sampling batch still open, oldest first.
    pub fn open_batches(&self) -> Result<Vec<OpenBatch>, StoreError> {
        let mut out = self.open_batches_of("sample")?;
        let mut items = self
            .conn
            .prepare(
                "SELECT custom_id, item_key FROM batch_items WHERE batch_id = ?1 ORDER BY position",
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

    /// The open batches of one purpose (`sample` | `judge`), without their items.
    pub(crate) fn open_batches_of(&self, purpose: &str) -> Result<Vec<OpenBatch>, StoreError> {
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
        let rows = st
            .query_map([purpose], |r| {
                Ok(OpenBatch {
                    id: r.get(0)?,
                    model: r.get(1)?,
                    provider: r.get(2)?,
                    marker: r.get(3)?,
                    remote_id: r.get(4)?,
                    items: Vec::new(),
                })
            })
            .map_err(|e| self.err(e))?;
        let out: Vec<OpenBatch> = rows.collect::<Result<_, _>>().map_err(|e| self.err(e))?;
        Ok(out)
    }

    /// How many batches have held this item (its attempts in batch mode).
    pub fn batch_attempts(&self, item_key: &str) -> Result<u32, StoreError> {
        self.conn
            .query_row(
                "SELECT count(*) FROM batch_items WHERE item_key = ?1",
                [item_key],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
            .map_err(|e| self.err(e))
    }

    /// Stores the final results of an ended batch and marks it ingested, in one transaction.
    /// A batch already ingested is left alone: every row comes back [`Inserted::Duplicate`]
    /// (ingesting twice adds nothing). Answers are linked to the batch (`batch_answers`).
    pub fn ingest_batch(
        &mut self,
        batch_id: i64,
        rows: &[ResponseRow],
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
        {
            let mut st = tx
                .prepare_cached(crate::samples::INSERT_RESPONSE)
                .map_err(wrap)?;
            let mut link = tx
                .prepare_cached("INSERT INTO batch_answers (response_id, batch_id) VALUES (?1, ?2)")
                .map_err(wrap)?;
            for r in rows {
                let status = r.status.unwrap_or(ResponseStatus::Error);
                let n = st
                    .execute(params![
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
                    .map_err(wrap)?;
                if n == 1 {
                    link.execute(params![tx.last_insert_rowid(), batch_id])
                        .map_err(wrap)?;
                    out.push(Inserted::New);
                } else {
                    out.push(Inserted::Duplicate);
                }
            }
        }
        tx.execute(
            "INSERT INTO batch_events (batch_id, kind, detail, at) VALUES (?1, 'ingested', ?2, ?3)",
            params![batch_id, format!("{} rows", rows.len()), at],
        )
        .map_err(wrap)?;
        tx.commit().map_err(wrap)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::super::samples::tests_support::manifest;
    use super::super::samples::{PromptRow, WorkItemRow};
    use super::*;

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
        let b = s.record_batch(run, "m/m", "m", "mk1", &items, "t").unwrap();
        let open = s.open_batches().unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].remote_id, None);
        assert_eq!(open[0].items, items);
        s.batch_submitted(b, "remote-1", "t").unwrap();
        assert_eq!(
            s.open_batches().unwrap()[0].remote_id.as_deref(),
            Some("remote-1")
        );
        assert_eq!(s.batch_attempts("k0").unwrap(), 1);
        let rows = vec![answer("k0", run), answer("k1", run)];
        assert_eq!(
            s.ingest_batch(b, &rows, "t").unwrap(),
            vec![Inserted::New, Inserted::New]
        );
        assert!(s.open_batches().unwrap().is_empty());
        assert_eq!(
            s.ingest_batch(b, &rows, "t").unwrap(),
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
        let one = vec![("c0".to_string(), "k0".to_string())];
        let a = s.record_batch(run, "m/m", "m", "mk-a", &one, "t").unwrap();
        let b = s.record_batch(run, "m/m", "m", "mk-b", &one, "t").unwrap();
        s.batch_closed(a, BatchEnd::Abandoned, "not found", "t")
            .unwrap();
        s.batch_closed(b, BatchEnd::Failed, "expired", "t").unwrap();
        assert!(s.open_batches().unwrap().is_empty());
        assert_eq!(s.batch_attempts("k0").unwrap(), 2);
        assert!(
            s.record_batch(run, "m/m", "m", "mk-a", &one, "t").is_err(),
            "markers are unique"
        );
    }
}
