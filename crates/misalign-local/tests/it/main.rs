//! The integration tests of this crate, one module per area, in one test binary (one
//! link instead of one per file: CI disk and build time, README).

#[cfg(feature = "llama")]
mod common;
mod llama;
mod no_amx;
mod tool_calls;
