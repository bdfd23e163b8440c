//! The pipeline of `misalign`: turns an experiment into stored answers, verdicts and reports.
//!
//! - [`session`]: one `misalign run` or `misalign classify` as a library call: resolved
//!   [`session::RunSettings`] in, progress and results out through a [`session::Reporter`],
//!   shutdown through a cancellation token. The binary only parses arguments and prints.
//! - [`call`]: a call to make and an answer to commit, the same for live calls, batched
//!   calls and judge calls.
//! - [`item`]: prompts, model targets and work items in queue order.
//! - [`options`]: how a run samples, one [`options::SamplingOptions`] for live calls and
//!   batches.
//! - [`scheduler`]: calls every pending item once, within [`limits`] (per-provider and
//!   per-model concurrency, requests-per-minute pools), with [`retry`] (timeouts, backoff
//!   honouring `Retry-After`), committing each result through the store's single writer
//!   before it counts as done — so an interrupted run resumes with every finished sample
//!   kept and none duplicated.
//! - [`batch`]: batch mode, one engine for sampling and judge calls sent as provider
//!   batches (committed before they are sent, resumed after a kill).
//! - [`classify`]: detectors and LLM judges over stored answers.
//! - [`import`]: an existing results tree of the reference layout read into a store.
//! - [`budget`]: `--max-cost`, checked before each call starts.
//! - [`estimate`]: a plan's calls, tokens and cost for `--dry-run`.
//!
//! The results store, the folder lock and the reference layout are `misalign-store`'s, and
//! are used from there (no re-exports: one path per item).

pub mod batch;
pub mod budget;
pub mod call;
pub mod classify;
pub mod cost_summary;
pub mod counters;
pub mod episode;
pub mod estimate;
pub mod experiment;
pub mod generate;
pub mod import;
pub mod item;
pub mod limits;
pub mod options;
pub mod retry;
pub mod scenarios;
pub mod scheduler;
pub mod session;
pub mod stop;
pub mod validate;

pub use counters::{Counters, Tally};
pub use item::{ModelTarget, PromptEntry, WorkItem};
pub use stop::{Stop, StopReason};
