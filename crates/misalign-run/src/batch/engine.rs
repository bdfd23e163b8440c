//! The engine's state and its main loop: submit what is pending, wait, poll, until every
//! item is stored (or handed back for live calls) or the run stops.

use super::db::Db;
use super::workload::Workload;
use super::{BatchReport, BatchRunError};
use crate::budget::Reservation;
use crate::counters::Counters;
use crate::options::BatchPolicy;
use crate::stop::{Stop, StopReason};
use misalign_core::cost::TokenCounts;
use misalign_models::batch::BatchClient;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

/// Polls slow down to at most this many times `poll` while nothing changes.
const MAX_POLL_FACTOR: u32 = 10;

/// A batch on the provider's side that this run waits for.
pub(super) struct Active {
    pub(super) id: i64,
    pub(super) model: String,
    pub(super) provider: String,
    pub(super) remote_id: String,
    /// (custom id, item key), in submission order.
    pub(super) items: Vec<(String, String)>,
    pub(super) ended: bool,
    /// Attempts to read the results of this ended batch that failed.
    pub(super) unreadable: u32,
}

/// Runs the batches of one workload until every item is stored (or handed back for live
/// calls) or `stop` fires.
pub(crate) struct Engine<'a, W: Workload> {
    pub(super) work: Arc<W>,
    pub(super) db: Db<'a>,
    pub(super) clients: BTreeMap<String, Arc<dyn BatchClient>>,
    pub(super) opts: BatchPolicy,
    pub(super) counters: Arc<Counters>,
    pub(super) stop: Stop,
    pub(super) by_key: HashMap<String, W::Item>,
    pub(super) pending: BTreeMap<String, VecDeque<W::Item>>,
    pub(super) active: Vec<Active>,
    /// Submissions per model refused for a transient reason in a row.
    pub(super) refused: HashMap<String, u32>,
    /// What each item in a batch has set aside under the cost limit, by key.
    pub(super) reserved: HashMap<String, Reservation>,
    /// Set when the cost limit refused an item: nothing more is sent, the batches already
    /// sent are collected (they are paid for), then the run stops with this reason.
    pub(super) over_budget: Option<String>,
    pub(super) report: BatchReport<W::Item>,
}

/// Sends `items` (of models in `clients`) in batches, resuming the batches of this workload
/// the store holds open; `counters` follow the items as sampling's progress does.
pub(crate) async fn run_batches<W: Workload>(
    work: Arc<W>,
    items: Vec<W::Item>,
    clients: BTreeMap<String, Arc<dyn BatchClient>>,
    db: Db<'_>,
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

impl<W: Workload> Engine<'_, W> {
    /// Stopped for a reason that leaves the batches in flight to the next run (Ctrl-C, a
    /// rejected key, a store failure). A cost-limit stop is not one: batches already sent
    /// are paid for, so they are still collected.
    pub(super) fn halted(&self) -> bool {
        self.stop.is_stopped() && !matches!(self.stop.reason(), Some(StopReason::Budget(_)))
    }

    /// Whether new batches may be sent.
    pub(super) fn may_submit(&self) -> bool {
        self.over_budget.is_none() && !self.stop.is_stopped()
    }

    /// Replaces the reservation of `key` (if any) by what it cost.
    pub(super) fn settle_cost(&mut self, key: &str, tokens: &TokenCounts) {
        if let Some(r) = self.reserved.remove(key) {
            if let Some(it) = self.by_key.get(key) {
                self.work.settle_cost(it, r, tokens);
            }
        }
    }

    pub(super) fn progress(&self, what: &str) {
        if let Some(f) = &self.opts.on_progress {
            f(self.report.tally, what);
        }
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
}
