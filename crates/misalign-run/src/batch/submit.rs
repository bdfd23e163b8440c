//! Sending pending items: grouped per model within the provider's limits, each batch
//! committed to the store before it is sent.

use super::custom_id;
use super::engine::{Active, Engine};
use super::workload::Workload;
use super::BatchRunError;
use crate::call::Answer;
use crate::stop::StopReason;
use misalign_core::cost::TokenCounts;
use misalign_models::batch::{BatchClient, BatchRequest};
use misalign_models::ErrorClass;
use misalign_store::{BatchEnd, BatchRequestRow};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A name for one submission, unique across processes and time.
fn new_marker() -> String {
    use sha2::{Digest, Sha256};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut h = Sha256::new();
    h.update(nanos.to_le_bytes());
    h.update(std::process::id().to_le_bytes());
    h.update(n.to_le_bytes());
    h.update(rand::random::<u64>().to_le_bytes());
    format!("misalign-{}", hex::encode(&h.finalize()[..12]))
}

impl<W: Workload> Engine<'_, W> {
    /// Sends every pending item, grouped per model within the provider's limits.
    pub(super) async fn submit_pending(&mut self) -> Result<(), BatchRunError> {
        let models: Vec<String> = self.pending.keys().cloned().collect();
        for model in models {
            let Some(client) = self.clients.get(&model).cloned() else {
                continue;
            };
            let limits = client.limits();
            let max_requests = self
                .opts
                .max_requests
                .map_or(limits.max_requests, |n| n.min(limits.max_requests))
                .max(1);
            loop {
                if !self.may_submit() {
                    return Ok(());
                }
                let queue = self.pending.entry(model.clone()).or_default();
                if queue.is_empty() {
                    break;
                }
                let mut chunk = Vec::new();
                let mut bytes = 0usize;
                while let Some(it) = queue.front() {
                    if chunk.len() >= max_requests {
                        break;
                    }
                    match self.work.reserve(it, false) {
                        Ok(Some(r)) => {
                            self.reserved.insert(W::key(it).to_string(), r);
                        }
                        Ok(None) => {}
                        Err(over) => {
                            self.over_budget = Some(over.to_string());
                            break;
                        }
                    }
                    let call = self.work.call(it);
                    let req = BatchRequest {
                        custom_id: custom_id(&call.key),
                        request: call.request,
                    };
                    // A request that cannot be built is refused at submission, reason stored.
                    let size: usize = client.request_size(&req).unwrap_or_default();
                    if !chunk.is_empty() && bytes + size > limits.max_bytes {
                        // It goes in the next batch, which sets its cost aside again.
                        if let Some(r) = self.reserved.remove(W::key(it)) {
                            self.work.settle_cost(it, r, &TokenCounts::default());
                        }
                        break;
                    }
                    bytes += size;
                    chunk.push((queue.pop_front().expect("front exists"), req));
                }
                if chunk.is_empty() {
                    break; // the cost limit refused the first item
                }
                if !self.submit(&client, chunk).await? {
                    // Not accepted for a transient reason: try again after the next poll.
                    break;
                }
            }
        }
        Ok(())
    }

    /// Records, then sends one batch. `Ok(false)`: the provider did not take it for a
    /// transient reason, and its items are back at the head of the queue.
    pub(super) async fn submit(
        &mut self,
        client: &Arc<dyn BatchClient>,
        chunk: Vec<(W::Item, BatchRequest)>,
    ) -> Result<bool, BatchRunError> {
        let first = &chunk[0].0;
        let (model, provider) = (W::model(first).to_string(), W::provider(first).to_string());
        let marker = new_marker();
        let ids: Vec<(String, String)> = chunk
            .iter()
            .map(|(it, r)| (r.custom_id.clone(), W::key(it).to_string()))
            .collect();
        let recorded: Vec<BatchRequestRow> = chunk
            .iter()
            .map(|(it, r)| W::recorded(r.custom_id.clone(), it))
            .collect();
        let (run_id, m, p, mk) = (
            self.work.run_id(),
            model.clone(),
            provider.clone(),
            marker.clone(),
        );
        // Committed before anything is sent: a kill from here on leaves a record to resume.
        let batch_id = self
            .db
            .run(move |s| {
                let at = misalign_store::timestamp();
                s.record_batch(W::PURPOSE, run_id, &m, &p, &mk, &recorded, &at)
            })
            .await?;
        let requests: Vec<BatchRequest> = chunk.iter().map(|(_, r)| r.clone()).collect();
        let sent = client.submit(&marker, &requests).await;
        let sent = match sent {
            Err(e) if e.class() == ErrorClass::Retryable => {
                // A timeout or a dropped connection may hide a batch the server created.
                match client.find(&marker).await {
                    Ok(Some(id)) => Ok(id),
                    _ => Err(e),
                }
            }
            other => other,
        };
        match sent {
            Ok(remote_id) => {
                self.refused.remove(&model);
                let (r, at) = (remote_id.clone(), misalign_store::timestamp());
                self.db
                    .run(move |s| s.batch_submitted(batch_id, &r, &at))
                    .await?;
                for _ in &chunk {
                    self.counters.started(&model, &provider);
                }
                self.report.tally.submitted += 1;
                self.report.tally.in_progress += 1;
                self.progress(&format!(
                    "submitted batch {remote_id} ({} requests to {model})",
                    chunk.len()
                ));
                self.active.push(Active {
                    id: batch_id,
                    model,
                    provider,
                    remote_id,
                    items: ids,
                    ended: false,
                    unreadable: 0,
                });
                Ok(true)
            }
            Err(e) => {
                let why = misalign_models::http::scrub_secrets(&e.to_string(), self.work.secrets());
                let at = misalign_store::timestamp();
                let refused = {
                    let n = self.refused.entry(model.clone()).or_insert(0);
                    *n += 1;
                    *n
                };
                match e.class() {
                    ErrorClass::Retryable if refused <= self.opts.retries => {
                        let w = why.clone();
                        self.db
                            .run(move |s| s.batch_closed(batch_id, BatchEnd::Abandoned, &w, &at))
                            .await?;
                        for (it, _) in &chunk {
                            self.settle_cost(W::key(it), &TokenCounts::default());
                        }
                        let queue = self.pending.entry(model.clone()).or_default();
                        for (it, _) in chunk.into_iter().rev() {
                            queue.push_front(it);
                        }
                        self.progress(&format!(
                            "the batch for {model} was not accepted ({why}); trying again later"
                        ));
                        Ok(false)
                    }
                    class => {
                        // Refused as a whole (a request the API cannot take, or the key):
                        // every item gets the error, as its live call would have.
                        if class == ErrorClass::Auth {
                            self.stop.trigger(StopReason::Auth {
                                provider: provider.clone(),
                                model: model.clone(),
                                message: why.clone(),
                            });
                        }
                        let rows: Vec<Answer> = chunk
                            .iter()
                            .map(|(it, _)| Answer {
                                key: W::key(it).to_string(),
                                result: Err(e.clone()),
                                attempts: 1,
                            })
                            .collect();
                        for _ in &chunk {
                            self.counters.started(&model, &provider);
                        }
                        self.store_results(batch_id, &model, &provider, rows)
                            .await?;
                        Ok(true)
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_unique_and_plain() {
        let a = new_marker();
        let b = new_marker();
        assert_ne!(a, b);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    }
}
