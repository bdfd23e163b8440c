//! The integration tests of this crate, one module per area, in one test binary (one
//! link instead of one per file: CI disk and build time, README).

mod batch_mock;
mod classify_actions;
mod classify_episodes;
mod classify_judges;
mod classify_store;
mod cost_mock;
mod episode_mock;
mod import_tree;
mod judge_batch;
mod sample_mock;
mod support;
