//! Batch mode: work goes out as provider batches instead of live calls. One engine runs every
//! kind of batched work ([`Workload`]): sampling (`execution.batch`, [`sample`]: every answer
//! still ends up as one row of `responses`, read by the same parser as a live reply) and the
//! judge and awareness calls of classification (`classification.batch`, in
//! `crate::classify::batch`: every reply ends up in the judge cache).
//!
//! Durability comes from the order of writes ([`misalign_store::batches`]): a batch and its
//! items are committed before the submission is sent, the provider's id right after, and the
//! answers together with the `ingested` event. So a run killed at any moment, when run
//! again, polls the batches it already paid for instead of sending their items again; a
//! submission whose reply was lost is looked up by its marker where the API keeps one
//! ([`BatchClient::find`]). Requests that failed retryably or expired inside a batch go into
//! the next batch (or, with `batch_fallback: live`, back to the caller for live calls) until
//! `execution.retries` is spent; permanent failures are stored as errors like live ones.

mod sample;

pub use sample::{sample_in_batches, sample_with_batches, split_batchable};

use crate::budget::{OverBudget, Reservation};
use crate::call::{Answer, Call};
use crate::counters::Counters;
use crate::item::WorkItem;
use crate::options::BatchPolicy;
use crate::stop::{Stop, StopReason};
use misalign_core::config::BatchFallback;
use misalign_core::cost::TokenCounts;
use misalign_models::batch::{BatchClient, BatchRequest, BatchState, ItemResult};
use misalign_models::{Completion, ErrorClass, ProviderError};
use misalign_store::samples::Inserted;
use misalign_store::{BatchEnd, BatchPurpose, BatchRequestRow, Store, StoreError, WriterHandle};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Polls slow down to at most this many times `poll` while nothing changes.
const MAX_POLL_FACTOR: u32 = 10;

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

/// Why a workload cannot use an answer; the item is sent again like a retryable failure.
#[derive(Debug, thiserror::Error)]
pub enum Unusable {
    #[error("unusable judge reply: {0}")]
    JudgeReply(#[from] misalign_core::judge::JudgeParseError),
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
    #[error("the store task stopped: {0}")]
    Task(String),
}

/// Where the engine writes. Sampling batches write through the run's single store writer,
/// beside the live calls' answers. Judge batches run after sampling, when `classify` holds
/// the folder's store by reference on its own task, so they keep a connection of their own
/// (one writer at a time still: classification writes its verdicts after the batches end).
#[derive(Clone)]
pub(crate) enum Db {
    Writer(WriterHandle),
    Connection(Arc<Mutex<Store>>),
}

impl Db {
    /// A connection of the engine's own to the store at `path`.
    pub(crate) async fn open(path: PathBuf) -> Result<Db, BatchRunError> {
        let store = tokio::task::spawn_blocking(move || Store::open(&path))
            .await
            .map_err(|e| BatchRunError::Task(e.to_string()))??;
        Ok(Db::Connection(Arc::new(Mutex::new(store))))
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, BatchRunError> {
        match self {
            Db::Writer(w) => Ok(w.run(f).await?),
            Db::Connection(store) => {
                let store = store.clone();
                tokio::task::spawn_blocking(move || {
                    let mut s = store.lock().unwrap_or_else(|e| e.into_inner());
                    f(&mut s)
                })
                .await
                .map_err(|e| BatchRunError::Task(e.to_string()))?
                .map_err(BatchRunError::Store)
            }
        }
    }
}

/// A batch on the provider's side that this run waits for.
struct Active {
    id: i64,
    model: String,
    provider: String,
    remote_id: String,
    /// (custom id, item key), in submission order.
    items: Vec<(String, String)>,
    ended: bool,
    /// Attempts to read the results of this ended batch that failed.
    unreadable: u32,
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

/// Runs the batches of one workload until every item is stored (or handed back for live
/// calls) or `stop` fires.
pub(crate) struct Engine<W: Workload> {
    work: Arc<W>,
    db: Db,
    clients: BTreeMap<String, Arc<dyn BatchClient>>,
    opts: BatchPolicy,
    counters: Arc<Counters>,
    stop: Stop,
    by_key: HashMap<String, W::Item>,
    pending: BTreeMap<String, VecDeque<W::Item>>,
    active: Vec<Active>,
    /// Submissions per model refused for a transient reason in a row.
    refused: HashMap<String, u32>,
    /// What each item in a batch has set aside under the cost limit, by key.
    reserved: HashMap<String, Reservation>,
    /// Set when the cost limit refused an item: nothing more is sent, the batches already
    /// sent are collected (they are paid for), then the run stops with this reason.
    over_budget: Option<String>,
    report: BatchReport<W::Item>,
}

/// Sends `items` (of models in `clients`) in batches, resuming the batches of this workload
/// the store holds open; `counters` follow the items as sampling's progress does.
pub(crate) async fn run_batches<W: Workload>(
    work: Arc<W>,
    items: Vec<W::Item>,
    clients: BTreeMap<String, Arc<dyn BatchClient>>,
    db: Db,
    opts: BatchPolicy,
    counters: Arc<Counters>,
    stop: Stop,
) -> Result<BatchReport<W::Item>, BatchRunError> {
    let mut per_model: BTreeMap<(String, String), u64> = BTreeMap::new();
    for it in &items {
        *per_model
            .entry((W::model(it).to_string(), W::provider(it).to_string()))
            .or_default() += 1;
    }
    for ((m, p), n) in per_model {
        counters.planned(&m, &p, n);
    }
    let mut engine = Engine {
        work,
        db,
        clients,
        opts,
        counters,
        stop,
        by_key: items
            .iter()
            .map(|i| (W::key(i).to_string(), i.clone()))
            .collect(),
        pending: BTreeMap::new(),
        active: Vec::new(),
        refused: HashMap::new(),
        reserved: HashMap::new(),
        over_budget: None,
        report: BatchReport::default(),
    };
    let in_open = engine.resume().await?;
    for it in items {
        if !in_open.contains(W::key(&it)) {
            engine
                .pending
                .entry(W::model(&it).to_string())
                .or_default()
                .push_back(it);
        }
    }
    engine.run().await?;
    engine.report.stopped = engine.stop.reason();
    Ok(engine.report)
}

impl<W: Workload> Engine<W> {
    /// Stopped for a reason that leaves the batches in flight to the next run (Ctrl-C, a
    /// rejected key, a store failure). A cost-limit stop is not one: batches already sent
    /// are paid for, so they are still collected.
    fn halted(&self) -> bool {
        self.stop.is_stopped() && !matches!(self.stop.reason(), Some(StopReason::Budget(_)))
    }

    /// Whether new batches may be sent.
    fn may_submit(&self) -> bool {
        self.over_budget.is_none() && !self.stop.is_stopped()
    }

    /// Replaces the reservation of `key` (if any) by what it cost.
    fn settle_cost(&mut self, key: &str, tokens: &TokenCounts) {
        if let Some(r) = self.reserved.remove(key) {
            if let Some(it) = self.by_key.get(key) {
                self.work.settle_cost(it, r, tokens);
            }
        }
    }

    fn progress(&self, what: &str) {
        if let Some(f) = &self.opts.on_progress {
            f(self.report.tally, what);
        }
    }

    /// Takes over the batches a previous run left open; returns the keys they hold.
    async fn resume(&mut self) -> Result<HashSet<String>, BatchRunError> {
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

    async fn run(&mut self) -> Result<(), BatchRunError> {
        let mut wait = self.opts.poll;
        loop {
            if self.halted() {
                return Ok(());
            }
            if self.may_submit() {
                self.submit_pending().await?;
            }
            let nothing_to_send =
                !self.may_submit() || self.pending.values().all(VecDeque::is_empty);
            if self.active.is_empty() && nothing_to_send {
                if let Some(why) = self.over_budget.take() {
                    self.stop.trigger(StopReason::Budget(why));
                }
                return Ok(());
            }
            let budget_stop = !self.halted() && self.stop.is_stopped();
            tokio::select! {
                biased;
                _ = self.stop.stopped(), if !budget_stop => {
                    if self.halted() {
                        return Ok(());
                    }
                }
                _ = tokio::time::sleep(wait) => {}
            }
            let changed = self.poll_all().await?;
            wait = if changed {
                self.opts.poll
            } else {
                (wait.mul_f64(1.5)).min(self.opts.poll * MAX_POLL_FACTOR)
            };
        }
    }

    /// Sends every pending item, grouped per model within the provider's limits.
    async fn submit_pending(&mut self) -> Result<(), BatchRunError> {
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
    async fn submit(
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

    /// Polls every active batch once and ingests the ones that ended. Returns whether any
    /// batch changed state.
    async fn poll_all(&mut self) -> Result<bool, BatchRunError> {
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

    async fn ingest(
        &mut self,
        a: Active,
        results: Vec<(String, ItemResult)>,
    ) -> Result<(), BatchRunError> {
        self.settle(a, results, true).await
    }

    /// Sorts a finished batch's results into rows to store now and items to send again.
    /// `store`: the batch ended normally (its rows and the `ingested` event are written even
    /// when every item is retried, so it is never ingested twice).
    async fn settle(
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
    async fn store_results(
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

    #[test]
    fn markers_are_unique_and_plain() {
        let a = new_marker();
        let b = new_marker();
        assert_ne!(a, b);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    }
}
