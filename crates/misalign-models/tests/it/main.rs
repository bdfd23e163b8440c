//! The integration tests of this crate, one module per area, in one test binary (one
//! link instead of one per file: CI disk and build time, README).

mod anthropic_google;
mod common;
mod errors;
mod openai;
mod redirects;
mod reply_cap;
mod tools_wire;
mod wire_golden;
