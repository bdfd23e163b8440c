//! Asking the provider how each active batch is doing, and reading the ones that ended.

use super::engine::Engine;
use super::workload::Workload;
use super::BatchRunError;
use crate::call::Answer;
use crate::stop::StopReason;
use misalign_models::batch::{BatchState, ItemResult};
use misalign_models::ErrorClass;
use misalign_store::BatchEnd;

impl<W: Workload> Engine<'_, W> {
    /// Polls every active batch once and ingests the ones that ended. Returns whether any
    /// batch changed state.
    pub(super) async fn poll_all(&mut self) -> Result<bool, BatchRunError> {
        let mut changed = false;
        let mut i = 0;
        while i < self.active.len() {
            if self.halted() {
                return Ok(changed);
            }
            let Some(client) = self.clients.get(&self.active[i].model).cloned() else {
                i += 1;
                continue;
            };
            let remote = self.active[i].remote_id.clone();
            let status = match client.poll(&remote).await {
                Ok(s) => s,
                Err(e) => {
                    if e.class() == ErrorClass::Auth {
                        let a = &self.active[i];
                        self.stop.trigger(StopReason::Auth {
                            provider: a.provider.clone(),
                            model: a.model.clone(),
                            message: e.to_string(),
                        });
                        return Ok(changed);
                    }
                    tracing::warn!("polling batch {remote}: {e}; polling again later");
                    i += 1;
                    continue;
                }
            };
            match status.state {
                BatchState::InProgress => i += 1,
                BatchState::Ended => {
                    let id = self.active[i].id;
                    if !self.active[i].ended {
                        self.active[i].ended = true;
                        let detail = format!("{:?}", status.counts);
                        self.db
                            .run(move |s| s.batch_ended(id, &detail, &misalign_store::timestamp()))
                            .await?;
                    }
                    let ids: Vec<String> = self.active[i]
                        .items
                        .iter()
                        .map(|(c, _)| c.clone())
                        .collect();
                    match client.results(&remote, &ids).await {
                        Ok(results) => {
                            let a = self.active.remove(i);
                            self.report.tally.in_progress =
                                self.report.tally.in_progress.saturating_sub(1);
                            self.report.tally.ended += 1;
                            self.ingest(a, results).await?;
                            changed = true;
                        }
                        Err(e) if self.active[i].unreadable < self.opts.retries => {
                            tracing::warn!(
                                "reading the results of batch {remote}: {e}; trying again later"
                            );
                            self.active[i].unreadable += 1;
                            i += 1;
                        }
                        Err(e) => {
                            // Results that cannot be read after every retry: each item is
                            // stored as failed with the reason (a rerun sends it again).
                            let a = self.active.remove(i);
                            self.report.tally.in_progress =
                                self.report.tally.in_progress.saturating_sub(1);
                            self.report.tally.ended += 1;
                            let rows = a
                                .items
                                .iter()
                                .map(|(_, k)| Answer {
                                    key: k.clone(),
                                    result: Err(e.clone()),
                                    attempts: 1,
                                })
                                .collect();
                            self.store_results(a.id, &a.model, &a.provider, rows)
                                .await?;
                            changed = true;
                        }
                    }
                }
                BatchState::Failed(why) => {
                    let a = self.active.remove(i);
                    self.report.tally.in_progress = self.report.tally.in_progress.saturating_sub(1);
                    self.report.tally.ended += 1;
                    let (id, w) = (a.id, why.clone());
                    self.db
                        .run(move |s| {
                            s.batch_closed(id, BatchEnd::Failed, &w, &misalign_store::timestamp())
                        })
                        .await?;
                    let results = a
                        .items
                        .iter()
                        .map(|(c, _)| (c.clone(), ItemResult::NotRun(why.clone())))
                        .collect();
                    self.progress(&format!("batch {} failed: {why}", a.remote_id));
                    // Nothing stored for it; its items are retried like expired ones.
                    self.settle(a, results, false).await?;
                    changed = true;
                }
            }
        }
        Ok(changed)
    }
}
