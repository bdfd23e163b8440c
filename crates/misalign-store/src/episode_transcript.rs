//! An agent episode's steps as the audit trail shows them (the viewer, `report.html`, the
//! Inspect export, `response.json`): each stored step's reply and result read back into
//! their types, with the step's own tokens, latency and finish reason.
//!
//! The JSON columns are read as the readers' shared types so every reader shows the same
//! transcript. A results folder is hostile input: a column that does not read as its type
//! shows as unknown (`None`) rather than failing the whole report.

use super::{Store, StoreError};
use crate::episodes::EpisodeStepRow;
use misalign_core::environment::{AgentReply, StepResult};
use serde::Serialize;

/// One step of an episode, for readers.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EpisodeStep {
    /// 1-based.
    pub step: u32,
    /// What the agent said and called; `None` when the stored reply could not be read.
    pub reply: Option<AgentReply>,
    /// What the environment gave back; `None` when the stored result could not be read.
    pub result: Option<StepResult>,
    /// The provider's finish reason of this step (`tool_calls`, `stop`, ...).
    pub finish_reason: Option<String>,
    pub usage: StepUsage,
    pub latency_ms: Option<i64>,
    pub attempts: u32,
    pub request_id: Option<String>,
    pub started_at: String,
    pub finished_at: String,
}

/// The step's token counts as its provider reported them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StepUsage {
    /// Input read without the prompt cache.
    pub input_tokens: Option<i64>,
    pub cache_write_tokens: Option<i64>,
    pub cache_read_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub reasoning_tokens: Option<i64>,
}

impl From<EpisodeStepRow> for EpisodeStep {
    fn from(r: EpisodeStepRow) -> Self {
        EpisodeStep {
            step: r.step,
            reply: serde_json::from_str(&r.reply_json).ok(),
            result: serde_json::from_str(&r.result_json).ok(),
            finish_reason: r.finish_reason,
            usage: StepUsage {
                input_tokens: r.input_tokens,
                cache_write_tokens: r.cache_write_tokens,
                cache_read_tokens: r.cache_read_tokens,
                output_tokens: r.output_tokens,
                reasoning_tokens: r.reasoning_tokens,
            },
            latency_ms: r.latency_ms,
            attempts: r.attempts,
            request_id: r.request_id,
            started_at: r.started_at,
            finished_at: r.finished_at,
        }
    }
}

impl EpisodeStep {
    /// The text the agent was shown after this step's tool results (new mail, notices).
    pub fn events_text(&self) -> Option<String> {
        self.result.as_ref().and_then(StepResult::events_text)
    }
}

impl Store {
    /// The steps of the episode `item_key`, in order; empty for a single-prompt answer.
    pub fn episode_transcript(&self, item_key: &str) -> Result<Vec<EpisodeStep>, StoreError> {
        Ok(self
            .episode_steps(item_key)?
            .into_iter()
            .map(EpisodeStep::from)
            .collect())
    }

    /// Whether any episode step is stored: readers of a store without agent conditions skip
    /// the per-sample look-up.
    pub fn has_episodes(&self) -> Result<bool, StoreError> {
        self.conn
            .query_row("SELECT EXISTS (SELECT 1 FROM episode_steps)", [], |r| {
                r.get(0)
            })
            .map_err(|e| self.err(e))
    }
}

/// Looks up episode transcripts for a reader walking many samples: one query per sample only
/// when the store holds episodes at all.
pub struct TranscriptReader<'a> {
    store: &'a Store,
    any: bool,
}

impl<'a> TranscriptReader<'a> {
    pub fn new(store: &'a Store) -> Result<TranscriptReader<'a>, StoreError> {
        Ok(TranscriptReader {
            store,
            any: store.has_episodes()?,
        })
    }

    /// The steps of `item_key` (empty for a single-prompt answer).
    pub fn steps(&self, item_key: &str) -> Result<Vec<EpisodeStep>, StoreError> {
        if !self.any {
            return Ok(Vec::new());
        }
        self.store.episode_transcript(item_key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreadable_columns_read_as_unknown_and_a_single_answer_has_no_steps() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, run) = crate::samples::tests_support::store_with_one_agent_item(dir.path());
        assert!(!store.has_episodes().unwrap());
        assert!(TranscriptReader::new(&store)
            .unwrap()
            .steps("k")
            .unwrap()
            .is_empty());
        for (step, reply) in [(1, r#"{"text":"hi","tool_calls":[]}"#), (2, "not json")] {
            store
                .insert_episode_step(&EpisodeStepRow {
                    item_key: "k".into(),
                    step,
                    run_id: run,
                    reply_json: reply.into(),
                    result_json: "{\"step\": \"x\"}".into(),
                    resume_json: "{}".into(),
                    output_tokens: Some(5),
                    attempts: 1,
                    ..Default::default()
                })
                .unwrap();
        }
        assert!(store.has_episodes().unwrap());
        let steps = TranscriptReader::new(&store).unwrap().steps("k").unwrap();
        assert_eq!(steps.len(), 2);
        assert_eq!(steps[0].reply.as_ref().unwrap().text, "hi");
        assert_eq!(steps[0].usage.output_tokens, Some(5));
        assert!(steps[1].reply.is_none());
        assert!(steps
            .iter()
            .all(|s| s.result.is_none() && s.events_text().is_none()));
        assert!(store.episode_transcript("other").unwrap().is_empty());
    }
}
