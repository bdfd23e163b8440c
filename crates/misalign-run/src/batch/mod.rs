//! Batch mode: work goes out as provider batches instead of live calls. One engine runs every
//! kind of batched work ([`Workload`]): sampling (`execution.batch`, [`sample_in_batches`]: every answer
//! still ends up as one row of `responses`, read by the same parser as a live reply) and the
//! judge and awareness calls of classification (`classification.batch`, in
//! `crate::classify::batch`: every reply ends up in the judge cache).
//!
//! Durability comes from the order of writes ([`misalign_store::batches`]): a batch and its
//! items are committed before the submission is sent, the provider's id right after, and the
//! answers together with the `ingested` event. So a run killed at any moment, when run
//! again, polls the batches it already paid for instead of sending their items again; a
//! submission whose reply was lost is looked up by its marker where the API keeps one
//! ([`misalign_models::batch::BatchClient::find`]). Requests that failed retryably or expired inside a batch go into
//! the next batch (or, with `batch_fallback: live`, back to the caller for live calls) until
//! `execution.retries` is spent; permanent failures are stored as errors like live ones.
//!
//! The engine's parts, one job each: `workload` (what a kind of batched work supplies),
//! `engine` (its state and main loop), `resume` (batches an earlier run left open),
//! `submit` (recording, then sending a batch), `poll` (asking how batches are doing),
//! `ingest` (storing what ended batches produced), `db` (where it writes), and `sample`
//! (the sampling workload).

mod db;
mod engine;
mod ingest;
mod poll;
mod resume;
mod sample;
mod submit;
mod workload;

pub(crate) use db::Db;
pub(crate) use engine::run_batches;
pub use sample::{sample_in_batches, sample_with_batches, split_batchable};
pub use workload::{Ingested, Workload};

use crate::item::WorkItem;
use crate::stop::StopReason;
use misalign_store::StoreError;

/// What is shown while batches run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchTally {
    /// Batches sent (or found again on resume) by this run.
    pub submitted: u64,
    pub in_progress: u64,
    pub ended: u64,
    /// Rows stored from ended batches (answers and final errors).
    pub ingested: u64,
}

/// Why a workload cannot use an answer; the item is sent again like a retryable failure.
#[derive(Debug, thiserror::Error)]
pub enum Unusable {
    #[error("unusable judge reply: {0}")]
    JudgeReply(#[from] misalign_core::judge::JudgeParseError),
}

/// What batch mode did.
#[derive(Debug)]
pub struct BatchReport<I = WorkItem> {
    pub answers: u64,
    pub errors: u64,
    pub duplicates: u64,
    /// Items to call live (`batch_fallback: live`), in queue order.
    pub live: Vec<I>,
    pub tally: BatchTally,
    /// Open batches of models this run does not sample; left for a run that does.
    pub left_open: u64,
    pub stopped: Option<StopReason>,
}

impl<I> Default for BatchReport<I> {
    fn default() -> Self {
        BatchReport {
            answers: 0,
            errors: 0,
            duplicates: 0,
            live: Vec::new(),
            tally: BatchTally::default(),
            left_open: 0,
            stopped: None,
        }
    }
}

/// A store failure stops batch mode (nothing paid for is lost: the batches stay recorded).
#[derive(Debug, thiserror::Error)]
pub enum BatchRunError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Limits(#[from] crate::limits::LimitsError),
}

/// The custom id of an item: its key, reduced to the strictest provider's alphabet
/// (`[A-Za-z0-9_-]{1,64}`). Keys are hex hashes, so this is the key itself.
pub fn custom_id(item_key: &str) -> String {
    let id: String = item_key
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
        .take(64)
        .collect();
    if id.is_empty() {
        "item".into()
    } else {
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_ids_fit_every_provider() {
        let key = "ab".repeat(40);
        let id = custom_id(&key);
        assert_eq!(id.len(), 64);
        assert_eq!(custom_id("a/b c"), "abc");
        assert_eq!(custom_id("///"), "item");
    }
}
