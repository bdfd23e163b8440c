//! How a run samples: one set of options for live calls and provider batches. What both
//! paths read (the run, the parameters, the secrets, the cost limit, what to do with each
//! stored answer) is set once; what only one path reads is grouped under [`LiveOptions`]
//! (the scheduler's limits and retries) and [`BatchPolicy`] (how batches are sent, polled
//! and retried, shared with judge batches).

use crate::budget::Budget;
use crate::item::WorkItem;
use crate::retry::RetryPolicy;
use misalign_core::config::{BatchFallback, Concurrency, Execution, Experiment, RatePool};
use misalign_core::SamplingParams;
use misalign_store::ResponseRow;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// How to sample pending work items, live or in batches.
#[derive(Clone, Debug)]
pub struct SamplingOptions {
    /// The run that stores the answers (and records the batches).
    pub run_id: i64,
    pub params: SamplingParams,
    /// Values (API keys) scrubbed from anything stored, whatever a server echoes back.
    pub secrets: Vec<String>,
    /// Ask providers to cache the prompt the samples of a condition share.
    pub prompt_cache: bool,
    /// The run's cost limit, if any, shared by live calls and batches.
    pub budget: Option<Arc<Budget>>,
    /// Called with each answer once it is committed (e.g. to export it right away).
    pub on_stored: Option<StoredHook>,
    pub live: LiveOptions,
    pub batch: BatchPolicy,
}

/// What only live calls read: the caps, the rate pools, retries and the grace period.
#[derive(Clone, Debug, Default)]
pub struct LiveOptions {
    pub concurrency: Concurrency,
    pub rate_pools: Vec<RatePool>,
    /// `global.rate_limits.model_overrides`: model -> its own requests per minute.
    pub rate_model_overrides: BTreeMap<String, u32>,
    pub retry: RetryPolicy,
    /// After a stop, how long in-flight calls may still finish (and be stored).
    pub grace: Duration,
    /// Samples of one prompt per request where the client takes `n` (1: one per request).
    pub samples_per_request: u32,
}

impl LiveOptions {
    /// The experiment's caps, pools and retries (`execution.retries`, `timeout_seconds`).
    pub fn of(experiment: &Experiment, grace: Duration) -> LiveOptions {
        let execution = &experiment.execution;
        LiveOptions {
            concurrency: experiment.concurrency.clone(),
            rate_pools: experiment.rate_pools.clone(),
            rate_model_overrides: experiment.rate_model_overrides.clone(),
            retry: RetryPolicy {
                retries: execution.retries,
                timeout: Duration::from_secs(execution.timeout_seconds.max(1)),
                ..RetryPolicy::default()
            },
            grace,
            samples_per_request: execution.samples_per_request,
        }
    }
}

/// The callback behind [`BatchPolicy::on_progress`]: the tally and what just happened.
pub type ProgressFn = dyn Fn(crate::batch::BatchTally, &str) + Send + Sync;

/// How batches are sent, polled and retried, whatever they hold (samples or judge calls).
#[derive(Clone)]
pub struct BatchPolicy {
    /// First wait between polls; it grows by half while nothing changes, up to ten times this.
    pub poll: Duration,
    /// At most this many requests per batch (the provider's limit applies too).
    pub max_requests: Option<usize>,
    pub fallback: BatchFallback,
    /// Batches an item may be sent in after its first (`execution.retries`).
    pub retries: u32,
    pub on_progress: Option<Arc<ProgressFn>>,
}

impl BatchPolicy {
    /// The experiment's `execution.batch_*` settings and `execution.retries`.
    pub fn of(execution: &Execution) -> BatchPolicy {
        BatchPolicy {
            poll: Duration::from_secs_f64(execution.batch_poll_seconds),
            max_requests: execution.batch_max_requests.map(|n| n as usize),
            fallback: execution.batch_fallback,
            retries: execution.retries,
            on_progress: None,
        }
    }
}

impl Default for BatchPolicy {
    /// An experiment file's defaults.
    fn default() -> BatchPolicy {
        BatchPolicy::of(&Execution::default())
    }
}

impl std::fmt::Debug for BatchPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchPolicy")
            .field("poll", &self.poll)
            .field("max_requests", &self.max_requests)
            .field("fallback", &self.fallback)
            .field("retries", &self.retries)
            .finish_non_exhaustive()
    }
}

/// The function behind a [`StoredHook`].
pub type StoredFn = dyn Fn(&WorkItem, &ResponseRow) + Send + Sync;

/// A callback run after an answer is committed.
#[derive(Clone)]
pub struct StoredHook(pub Arc<StoredFn>);

impl std::fmt::Debug for StoredHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoredHook")
    }
}
