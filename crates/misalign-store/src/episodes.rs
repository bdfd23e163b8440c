//! Agent episodes' steps (`episode_steps`, schema 9): each step of an episode (a work item of
//! an `_agent` condition) is committed before the next one is asked for, so a killed run
//! resumes every episode at its last committed step and never pays for a step twice. The
//! episode's `responses` row is written when it ends, like any other answer.
//!
//! The JSON columns: `reply_json` is a `misalign_core::environment::AgentReply` (what the
//! agent said and called, provider-neutral: what readers show), `result_json` a
//! `misalign_core::environment::StepResult` (observations, events, executed calls, leverage
//! reads, the terminal state), and `resume_json` the provider layer's assistant message as
//! sent back on the next step (signed reasoning, call signatures: opaque to readers).

use super::{Store, StoreError};
use crate::cell::{cell, tokens};
use crate::samples::Inserted;
use rusqlite::{params, OptionalExtension, Row};

/// One stored step.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EpisodeStepRow {
    pub item_key: String,
    /// 1-based.
    pub step: u32,
    pub run_id: i64,
    pub reply_json: String,
    pub result_json: String,
    pub resume_json: String,
    pub finish_reason: Option<String>,
    /// Input read without the prompt cache.
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub reasoning_tokens: Option<i64>,
    pub cache_write_tokens: Option<i64>,
    pub cache_read_tokens: Option<i64>,
    pub latency_ms: Option<i64>,
    pub attempts: u32,
    pub request_id: Option<String>,
    pub raw_reply: Option<String>,
    pub started_at: String,
    pub finished_at: String,
}

const COLUMNS: &str = "item_key, step, run_id, reply_json, result_json, resume_json, \
    finish_reason, input_tokens, output_tokens, reasoning_tokens, cache_write_tokens, \
    cache_read_tokens, latency_ms, attempts, request_id, raw_reply, started_at, finished_at";

fn row_of(r: &Row<'_>) -> rusqlite::Result<EpisodeStepRow> {
    // A results folder is hostile input: odd cells read as unknown, never as an error.
    let count = |i| cell::<i64>(r, i).map(|v| u32::try_from(v.max(0)).unwrap_or(u32::MAX));
    Ok(EpisodeStepRow {
        item_key: cell(r, 0)?,
        step: count(1)?,
        run_id: cell(r, 2)?,
        reply_json: cell(r, 3)?,
        result_json: cell(r, 4)?,
        resume_json: cell(r, 5)?,
        finish_reason: cell(r, 6)?,
        input_tokens: tokens(r, 7)?,
        output_tokens: tokens(r, 8)?,
        reasoning_tokens: tokens(r, 9)?,
        cache_write_tokens: tokens(r, 10)?,
        cache_read_tokens: tokens(r, 11)?,
        latency_ms: cell(r, 12)?,
        attempts: count(13)?,
        request_id: cell(r, 14)?,
        raw_reply: cell(r, 15)?,
        started_at: cell(r, 16)?,
        finished_at: cell(r, 17)?,
    })
}

/// The one INSERT of an episode step, on `conn` (a store's connection or a transaction of it).
pub(crate) fn insert_step(
    conn: &rusqlite::Connection,
    s: &EpisodeStepRow,
) -> rusqlite::Result<Inserted> {
    let sql = format!(
        "INSERT OR IGNORE INTO episode_steps ({COLUMNS}) VALUES \
         (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)"
    );
    let n = conn.prepare_cached(&sql)?.execute(params![
        s.item_key,
        s.step,
        s.run_id,
        s.reply_json,
        s.result_json,
        s.resume_json,
        s.finish_reason,
        s.input_tokens,
        s.output_tokens,
        s.reasoning_tokens,
        s.cache_write_tokens,
        s.cache_read_tokens,
        s.latency_ms,
        s.attempts,
        s.request_id,
        s.raw_reply,
        s.started_at,
        s.finished_at
    ])?;
    Ok(if n == 1 {
        Inserted::New
    } else {
        Inserted::Duplicate
    })
}

impl Store {
    /// Commits one step. A step already stored (another process ran it, or a replayed
    /// commit) is left as it was: [`Inserted::Duplicate`].
    pub fn insert_episode_step(&mut self, s: &EpisodeStepRow) -> Result<Inserted, StoreError> {
        insert_step(&self.conn, s).map_err(|e| self.err(e))
    }

    /// The committed steps of one episode, in order.
    pub fn episode_steps(&self, item_key: &str) -> Result<Vec<EpisodeStepRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM episode_steps WHERE item_key = ?1 ORDER BY step");
        let mut st = self.conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        let rows = st
            .query_map([item_key], row_of)
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.err(e))?;
        Ok(rows)
    }

    /// The item keys of every episode with a committed step, in key order.
    pub fn all_episode_keys(&self) -> Result<Vec<String>, StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT DISTINCT item_key FROM episode_steps ORDER BY item_key")
            .map_err(|e| self.err(e))?;
        let keys = st
            .query_map([], |r| cell::<String>(r, 0))
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.err(e))?;
        Ok(keys)
    }

    /// The committed steps of one episode as records (what the agent answered and what the
    /// environment gave back), in order; empty for a single-prompt item. A step whose JSON
    /// cannot be read is an error naming the item and the step.
    pub fn episode_records(
        &self,
        item_key: &str,
    ) -> Result<Vec<misalign_core::environment::StepRecord>, StoreError> {
        self.episode_steps(item_key)?
            .iter()
            .map(|row| {
                let reply = serde_json::from_str(&row.reply_json);
                let result = serde_json::from_str(&row.result_json);
                match (reply, result) {
                    (Ok(reply), Ok(result)) => {
                        Ok(misalign_core::environment::StepRecord { reply, result })
                    }
                    (Err(e), _) | (_, Err(e)) => Err(StoreError::Invalid {
                        path: self.path.clone(),
                        message: format!(
                            "step {} of the episode `{item_key}` cannot be read: {e}",
                            row.step
                        ),
                    }),
                }
            })
            .collect()
    }

    /// The number of committed steps of an episode (0 for a single-prompt item).
    pub fn episode_step_count(&self, item_key: &str) -> Result<u32, StoreError> {
        self.conn
            .query_row(
                "SELECT count(*) FROM episode_steps WHERE item_key = ?1",
                [item_key],
                |r| r.get(0),
            )
            .optional()
            .map(|n| n.unwrap_or(0))
            .map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(key: &str, n: u32, run: i64) -> EpisodeStepRow {
        EpisodeStepRow {
            item_key: key.into(),
            step: n,
            run_id: run,
            reply_json: format!(r#"{{"text":"step {n}"}}"#),
            result_json: "{}".into(),
            resume_json: "{}".into(),
            input_tokens: Some(10),
            attempts: 1,
            started_at: "t0".into(),
            finished_at: "t1".into(),
            ..Default::default()
        }
    }

    #[test]
    fn steps_are_stored_once_and_read_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, run) = crate::samples::tests_support::store_with_one_agent_item(dir.path());
        assert_eq!(store.episode_step_count("k").unwrap(), 0);
        for n in [2, 1] {
            assert_eq!(
                store.insert_episode_step(&step("k", n, run)).unwrap(),
                Inserted::New
            );
        }
        // A second commit of a step keeps the first.
        let mut again = step("k", 1, run);
        again.reply_json = "{}".into();
        assert_eq!(
            store.insert_episode_step(&again).unwrap(),
            Inserted::Duplicate
        );
        let got = store.episode_steps("k").unwrap();
        assert_eq!(got, vec![step("k", 1, run), step("k", 2, run)]);
        assert_eq!(store.episode_step_count("k").unwrap(), 2);
        assert!(store.episode_steps("other").unwrap().is_empty());
    }
}
