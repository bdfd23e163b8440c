//! Sampling in batches (`execution.batch`): work items go out as batch requests built like
//! their live calls, and each final outcome becomes one `responses` row, linked to its batch.

use super::{run_batches, BatchReport, BatchRunError, BatchTally, Db, Ingested, Workload};
use crate::budget::{OverBudget, Reservation};
use crate::call::{Answer, Call};
use crate::counters::Counters;
use crate::item::WorkItem;
use crate::options::SamplingOptions;
use crate::scheduler::fill_row;
use crate::stop::Stop;
use misalign_core::cost::TokenCounts;
use misalign_models::batch::BatchClient;
use misalign_store::samples::ResponseRow;
use misalign_store::{
    BatchPurpose, BatchRequestRow, BatchResults, Store, StoreError, WriterHandle,
};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Work items to `responses`.
struct Sampling {
    opts: SamplingOptions,
}

impl Workload for Sampling {
    type Item = WorkItem;
    type Row = ResponseRow;

    fn key(item: &WorkItem) -> &str {
        &item.key
    }

    fn run_id(&self) -> i64 {
        self.opts.run_id
    }

    fn secrets(&self) -> &[String] {
        &self.opts.secrets
    }

    fn model(item: &WorkItem) -> &str {
        &item.model.name
    }

    fn provider(item: &WorkItem) -> &str {
        &item.model.provider
    }

    /// The live call's request.
    fn call(&self, it: &WorkItem) -> Call {
        it.call(&self.opts.params, self.opts.prompt_cache)
    }

    fn reserve(&self, it: &WorkItem, committed: bool) -> Result<Option<Reservation>, OverBudget> {
        let Some(b) = &self.opts.budget else {
            return Ok(None);
        };
        let guess = crate::scheduler::prompt_tokens(&it.prompt);
        b.reserve_batched(&it.model.name, &it.prompt.hash, guess, committed)
            .map(Some)
    }

    fn settle_cost(&self, it: &WorkItem, reservation: Reservation, tokens: &TokenCounts) {
        if let Some(b) = &self.opts.budget {
            b.settle(reservation, &it.model.name, &it.prompt.hash, tokens, true);
        }
    }

    const PURPOSE: BatchPurpose = BatchPurpose::Sample;

    fn recorded(custom_id: String, item: &WorkItem) -> BatchRequestRow {
        BatchRequestRow {
            custom_id,
            key: item.key.clone(),
            judged: None,
        }
    }

    fn ingest(
        &self,
        store: &mut Store,
        batch_id: i64,
        model: &str,
        outcomes: Vec<Answer>,
        at: &str,
    ) -> Result<Vec<Ingested<ResponseRow>>, StoreError> {
        let mut rows = Vec::with_capacity(outcomes.len());
        let mut facts = Vec::with_capacity(outcomes.len());
        for o in outcomes {
            let mut row = ResponseRow {
                item_key: o.key,
                run_id: self.opts.run_id,
                attempts: o.attempts.max(1),
                started_at: at.to_string(),
                finished_at: at.to_string(),
                ..Default::default()
            };
            let (ok, tokens, _) = fill_row(&mut row, o.result, &self.opts.secrets, model);
            facts.push((ok, tokens));
            rows.push(row);
        }
        let inserted = store.ingest_batch(batch_id, BatchResults::Answers(&rows), at)?;
        Ok(rows
            .into_iter()
            .zip(inserted)
            .zip(facts)
            .map(|((row, inserted), (ok, tokens))| Ingested {
                key: row.item_key.clone(),
                inserted,
                ok,
                tokens,
                row,
            })
            .collect())
    }

    fn on_stored(&self, item: &WorkItem, stored: &Ingested<ResponseRow>) {
        if let Some(hook) = &self.opts.on_stored {
            (hook.0)(item, &stored.row);
        }
    }
}

/// Splits pending items into those sent in batches (their model has a batch client) and
/// those called live, keeping queue order in each.
pub fn split_batchable(
    items: Vec<WorkItem>,
    clients: &BTreeMap<String, Arc<dyn BatchClient>>,
) -> (Vec<WorkItem>, Vec<WorkItem>) {
    items
        .into_iter()
        .partition(|it| clients.contains_key(&it.model.name))
}

/// Samples `items`: models with a batch client in batches, the others live through the
/// scheduler at the same time, then (with `batch_fallback: live`) the items the batches
/// handed back, live. One report for all of it.
#[allow(clippy::too_many_arguments)]
pub async fn sample_with_batches(
    items: Vec<WorkItem>,
    clients: BTreeMap<String, Arc<dyn BatchClient>>,
    writer: WriterHandle,
    opts: SamplingOptions,
    counters: Arc<Counters>,
    stop: Stop,
) -> Result<(crate::scheduler::SampleReport, BatchTally), BatchRunError> {
    let (batched, live) = split_batchable(items, &clients);
    let live_run = async {
        if live.is_empty() {
            return Ok(crate::scheduler::SampleReport::default());
        }
        crate::scheduler::sample(
            live,
            writer.clone(),
            opts.clone(),
            counters.clone(),
            stop.clone(),
        )
        .await
    };
    let batch_run = sample_in_batches(
        batched,
        clients,
        writer.clone(),
        opts.clone(),
        counters.clone(),
        stop.clone(),
    );
    let (l, b) = tokio::join!(live_run, batch_run);
    let mut report = l?;
    let b = b?;
    report.answers += b.answers;
    report.errors += b.errors;
    report.duplicates += b.duplicates;
    if !b.live.is_empty() && !stop.is_stopped() {
        let more = crate::scheduler::sample(b.live, writer, opts, counters, stop.clone()).await?;
        report.answers += more.answers;
        report.errors += more.errors;
        report.duplicates += more.duplicates;
        report.abandoned += more.abandoned;
    }
    report.stopped = stop.reason();
    Ok((report, b.tally))
}

/// Samples `items` (pending items of models in `clients`) in provider batches, resuming the
/// batches the store holds open; every write goes through `writer`, the run's single writer. Returns when every item is stored (or handed back for live
/// calls), or when `stop` fires (the batches stay recorded; the next run resumes them).
pub async fn sample_in_batches(
    items: Vec<WorkItem>,
    clients: BTreeMap<String, Arc<dyn BatchClient>>,
    writer: WriterHandle,
    opts: SamplingOptions,
    counters: Arc<Counters>,
    stop: Stop,
) -> Result<BatchReport, BatchRunError> {
    let db = Db::Writer(writer);
    let policy = opts.batch.clone();
    let work = Arc::new(Sampling { opts });
    run_batches(work, items, clients, db, policy, counters, stop).await
}
