//! The engine of `misalign`: turns a plan into stored answers and verdicts.
//!
//! - [`store`]: the SQLite results store (`OUT/results.sqlite`, WAL); rows are only added.
//!
//! The scheduler bounds calls per provider and per model (tokio semaphores) and per
//! requests-per-minute pool (governor), retries with backoff that honours `Retry-After`
//! (backon), and commits each finished answer before it counts as done, so an interrupted
//! run resumes with every finished sample kept and none duplicated.

pub mod classify;
pub mod store;
