//! Storing what an ended batch produced: final answers now, items with retries left sent
//! again (in a later batch, or live), each batch ingested once.

use super::engine::{Active, Engine};
use super::workload::Workload;
use super::BatchRunError;
use crate::call::Answer;
use crate::stop::StopReason;
use misalign_core::config::BatchFallback;
use misalign_core::cost::TokenCounts;
use misalign_models::batch::ItemResult;
use misalign_models::{ErrorClass, ProviderError};
use misalign_store::samples::Inserted;
use std::collections::HashMap;

impl<W: Workload> Engine<'_, W> {
    pub(super) async fn ingest(
        &mut self,
        a: Active,
        results: Vec<(String, ItemResult)>,
    ) -> Result<(), BatchRunError> {
        self.settle(a, results, true).await
    }

    /// Sorts a finished batch's results into rows to store now and items to send again.
    /// `store`: the batch ended normally (its rows and the `ingested` event are written even
    /// when every item is retried, so it is never ingested twice).
    pub(super) async fn settle(
        &mut self,
        a: Active,
        results: Vec<(String, ItemResult)>,
        store: bool,
    ) -> Result<(), BatchRunError> {
        let mut by_id: HashMap<String, ItemResult> = HashMap::new();
        for (id, r) in results {
            by_id.entry(id).or_insert(r);
        }
        let keys: Vec<String> = a.items.iter().map(|(_, k)| k.clone()).collect();
        let attempts: Vec<u32> = self
            .db
            .run(move |s| {
                keys.iter()
                    .map(|k| s.batch_attempts(W::PURPOSE, k))
                    .collect()
            })
            .await?;
        let mut rows = Vec::new();
        let mut again = Vec::new();
        for ((cid, key), n) in a.items.iter().zip(attempts) {
            let result = by_id
                .remove(cid)
                .unwrap_or_else(|| ItemResult::NotRun("no result in the batch".into()));
            let retry_left = n <= self.opts.retries;
            // An answer the workload cannot use goes again, as a retryable failure would.
            let result = match result {
                ItemResult::Done(c) => match self.work.accept(self.by_key.get(key), &c) {
                    Ok(()) => ItemResult::Done(c),
                    Err(why) => ItemResult::Failed(ProviderError::Malformed(why.to_string())),
                },
                other => other,
            };
            let answer = |result| Answer {
                key: key.clone(),
                result,
                attempts: n,
            };
            match result {
                ItemResult::Done(c) => rows.push(answer(Ok(c))),
                ItemResult::Failed(e) if e.class() == ErrorClass::Retryable && retry_left => {
                    again.push(key.clone())
                }
                ItemResult::NotRun(_) if retry_left => again.push(key.clone()),
                ItemResult::NotRun(why) => rows.push(answer(Err(ProviderError::NotRun(format!(
                    "in {n} batches; last: {why}"
                ))))),
                ItemResult::Failed(e) => {
                    if e.class() == ErrorClass::Auth {
                        self.stop.trigger(StopReason::Auth {
                            provider: a.provider.clone(),
                            model: a.model.clone(),
                            message: e.to_string(),
                        });
                    }
                    rows.push(answer(Err(e)))
                }
            }
        }
        // An ended batch is marked ingested even when all its items go out again, so it is
        // never ingested twice; a failed one only stores the items out of retries.
        if store || !rows.is_empty() {
            self.store_results(a.id, &a.model, &a.provider, rows)
                .await?;
        }
        for key in again {
            self.settle_cost(&key, &TokenCounts::default());
            self.counters.retried(&a.model, &a.provider);
            self.counters.abandoned(&a.model, &a.provider);
            let Some(it) = self.by_key.get(&key).cloned() else {
                continue; // not in this run's plan: its own run will send it
            };
            match self.opts.fallback {
                BatchFallback::Batch => self
                    .pending
                    .entry(a.model.clone())
                    .or_default()
                    .push_back(it),
                BatchFallback::Live => self.report.live.push(it),
            }
        }
        self.progress(&format!("batch {} ended", a.remote_id));
        Ok(())
    }

    /// Stores the final answers of items of batch `batch_id` (and marks it ingested).
    pub(super) async fn store_results(
        &mut self,
        batch_id: i64,
        model: &str,
        provider: &str,
        answers: Vec<Answer>,
    ) -> Result<(), BatchRunError> {
        let (work, m) = (self.work.clone(), model.to_string());
        let stored = self
            .db
            .run(move |s| work.ingest(s, batch_id, &m, answers, &misalign_store::timestamp()))
            .await?;
        for st in stored {
            let used = match st.inserted {
                Inserted::New => st.tokens,
                Inserted::Duplicate => TokenCounts::default(),
            };
            self.settle_cost(&st.key, &used);
            match st.inserted {
                Inserted::New => {
                    self.counters.finished(model, provider, st.ok, &st.tokens);
                    self.report.tally.ingested += 1;
                    if st.ok {
                        self.report.answers += 1;
                        if let Some(it) = self.by_key.get(&st.key) {
                            self.work.on_stored(it, &st);
                        }
                    } else {
                        self.report.errors += 1;
                    }
                }
                Inserted::Duplicate => {
                    self.counters
                        .finished(model, provider, true, &TokenCounts::default());
                    self.report.duplicates += 1;
                }
            }
        }
        Ok(())
    }
}
