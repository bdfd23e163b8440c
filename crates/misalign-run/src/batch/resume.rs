//! Taking over the batches an earlier run left open (they are paid for, or may be).

use super::engine::{Active, Engine};
use super::workload::Workload;
use super::BatchRunError;
use misalign_store::BatchEnd;
use std::collections::HashSet;

impl<W: Workload> Engine<'_, W> {
    /// Takes over the batches a previous run left open; returns the keys they hold.
    pub(super) async fn resume(&mut self) -> Result<HashSet<String>, BatchRunError> {
        let open = self.db.run(|s| s.open_batches(W::PURPOSE)).await?;
        let mut held = HashSet::new();
        for b in open {
            let Some(client) = self.clients.get(&b.model).cloned() else {
                self.report.left_open += 1;
                held.extend(b.items.iter().map(|(_, k)| k.clone()));
                continue;
            };
            let remote = match &b.remote_id {
                Some(r) => Some(r.clone()),
                None => match client.find(&b.marker).await {
                    Ok(found) => found,
                    Err(e) => {
                        // Cannot tell whether it was created: keep it open and its items
                        // unsent rather than risk paying twice; the next run asks again.
                        tracing::warn!("batch {} of {}: cannot look it up: {e}", b.id, b.model);
                        self.report.left_open += 1;
                        held.extend(b.items.iter().map(|(_, k)| k.clone()));
                        continue;
                    }
                },
            };
            let at = misalign_store::timestamp();
            match remote {
                Some(remote_id) => {
                    if b.remote_id.is_none() {
                        let (id, r, t) = (b.id, remote_id.clone(), at.clone());
                        self.db.run(move |s| s.batch_submitted(id, &r, &t)).await?;
                    }
                    for (_, key) in &b.items {
                        held.insert(key.clone());
                        if let Some(it) = self.by_key.get(key) {
                            self.counters.started(&b.model, &b.provider);
                            if let Ok(Some(r)) = self.work.reserve(it, true) {
                                self.reserved.insert(key.clone(), r);
                            }
                        }
                    }
                    self.report.tally.submitted += 1;
                    self.report.tally.in_progress += 1;
                    self.active.push(Active {
                        id: b.id,
                        model: b.model,
                        provider: b.provider,
                        remote_id,
                        items: b.items,
                        ended: false,
                        unreadable: 0,
                    });
                }
                None => {
                    let id = b.id;
                    self.db
                        .run(move |s| {
                            s.batch_closed(
                                id,
                                BatchEnd::Abandoned,
                                "recorded, but the provider has no batch with its marker",
                                &at,
                            )
                        })
                        .await?;
                }
            }
        }
        if !self.active.is_empty() {
            let n = self.active.len();
            self.progress(&format!(
                "resuming {n} batch(es) submitted by an earlier run"
            ));
        }
        Ok(held)
    }
}
