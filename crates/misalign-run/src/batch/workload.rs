//! What one kind of batched work supplies to the engine: its items, their calls, how their
//! batches are recorded and how their results are stored.

use super::Unusable;
use crate::budget::{OverBudget, Reservation};
use crate::call::{Answer, Call};
use misalign_core::cost::TokenCounts;
use misalign_models::Completion;
use misalign_store::samples::Inserted;
use misalign_store::{BatchPurpose, BatchRequestRow, Store, StoreError};

/// What ingesting one [`Answer`] of a batch did.
#[derive(Debug)]
pub struct Ingested<R> {
    pub key: String,
    pub inserted: Inserted,
    /// An answer (not an error).
    pub ok: bool,
    /// The tokens the provider reported (zero for an error or a judge reply).
    pub tokens: TokenCounts,
    /// What the workload keeps for [`Workload::on_stored`].
    pub row: R,
}

/// One kind of work sent in batches: what an item is, the request it becomes, and where its
/// batches and results are stored. The engine does the rest (grouping within the provider's
/// limits, committing a batch before it is sent, resuming open batches, polling, retrying).
pub trait Workload: Send + Sync + 'static {
    type Item: Clone + std::fmt::Debug + Send + Sync + 'static;
    type Row: Send + 'static;
    /// The item's key: unique in the run, stored with its batch.
    fn key(item: &Self::Item) -> &str;
    /// The model whose batch client sends it.
    fn model(item: &Self::Item) -> &str;
    fn provider(item: &Self::Item) -> &str;
    /// The run that records the batches (and pays for them).
    fn run_id(&self) -> i64;
    /// Values scrubbed from anything stored or shown.
    fn secrets(&self) -> &[String];
    /// The call, built by the same code as the live call.
    fn call(&self, item: &Self::Item) -> Call;
    /// Whether an answer is usable; `Err(why)`: send it again like a retryable failure
    /// (an unparsable judge reply). `item` is `None` for an item outside this run's plan.
    fn accept(&self, item: Option<&Self::Item>, answer: &Completion) -> Result<(), Unusable> {
        let _ = (item, answer);
        Ok(())
    }
    /// Sets aside what sending `item` may cost under the run's cost limit (`--max-cost`);
    /// `Err` refuses it, and the engine sends nothing more. `committed`: the item is in a
    /// batch the provider already holds, paid whatever the limit says. `None`: no limit.
    fn reserve(
        &self,
        item: &Self::Item,
        committed: bool,
    ) -> Result<Option<Reservation>, OverBudget> {
        let _ = (item, committed);
        Ok(None)
    }
    /// Replaces a reservation by what `item` cost (`tokens`: zero when nothing was stored).
    fn settle_cost(&self, item: &Self::Item, reservation: Reservation, tokens: &TokenCounts) {
        let _ = (item, reservation, tokens);
    }
    /// What this workload's batches are for (the store keeps each purpose's batches apart).
    const PURPOSE: BatchPurpose;
    /// How `item` is recorded with its batch, under `custom_id`, before the batch is sent.
    fn recorded(custom_id: String, item: &Self::Item) -> BatchRequestRow;
    /// Stores the final answers of batch `batch_id` and marks it ingested, in one
    /// transaction; a batch already ingested adds nothing.
    fn ingest(
        &self,
        store: &mut Store,
        batch_id: i64,
        model: &str,
        answers: Vec<Answer>,
        at: &str,
    ) -> Result<Vec<Ingested<Self::Row>>, StoreError>;
    /// Called for each answer newly stored whose item is in this run's plan.
    fn on_stored(&self, item: &Self::Item, stored: &Ingested<Self::Row>) {
        let _ = (item, stored);
    }
}
