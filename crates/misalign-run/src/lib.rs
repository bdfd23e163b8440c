//! The engine of `misalign`: turns a plan into stored answers and verdicts.
//!
//! - [`store`]: the SQLite results store (`OUT/results.sqlite`, WAL); rows are only added.
//! - [`item`]: prompts, model targets and work items in queue order.
//! - [`scheduler`]: calls every pending item once, within [`limits`] (per-provider and
//!   per-model concurrency, requests-per-minute pools), with [`retry`] (timeouts, backoff
//!   honouring `Retry-After`), committing each result through the store's single writer
//!   before it counts as done — so an interrupted run resumes with every finished sample
//!   kept and none duplicated.
//! - [`export`]: the reference framework's `models/<model>/<condition>/sample_NNN/` layout.
//! - [`import`]: an existing results tree of that layout read into a store.
//! - [`cost`]: prices and the one cost function (per answer, totals, estimates).
//! - [`budget`]: `--max-cost`, checked before each call starts.
//! - [`estimate`]: a plan's calls, tokens and cost for `--dry-run`.

pub mod atomic;
pub mod budget;
pub mod classify;
pub mod cost;
pub mod counters;
pub mod estimate;
pub mod export;
pub mod import;
pub mod item;
pub mod limits;
pub mod lock;
pub mod retry;
pub mod scheduler;
pub mod stop;
pub mod store;
pub mod untrusted;

pub use counters::{Counters, Tally};
pub use item::{ModelTarget, PromptEntry, WorkItem};
pub use scheduler::{sample, SampleReport, SchedulerOptions};
pub use stop::{Stop, StopReason};

/// The current time as the store writes it: RFC 3339 UTC with milliseconds.
pub fn timestamp() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
