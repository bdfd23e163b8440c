//! A loopback mock model server for tests and benchmarks.
//!
//! It speaks the wire formats of every provider `misalign` supports (Anthropic Messages,
//! OpenAI Chat Completions, Gemini `generateContent`) with configurable latency and injected
//! faults (429 with Retry-After, 500, 529, dropped connections, truncated JSON, slow replies,
//! 401, content filtering, empty answers), and records the requests it saw so tests can
//! assert on retries, resumes and exact request parameters. It binds to 127.0.0.1 only.
//!
//! Routes: `POST /v1/chat/completions`, `POST /v1/messages`,
//! `POST /v1beta/models/{model}:generateContent`, `GET /mock/stats` (counters as JSON) and
//! `GET /health`. Faults are drawn per request from a seeded hash of (prompt key, attempt),
//! so a run is reproducible and a retried prompt eventually gets through; a request header
//! `x-mock-fault: 429|500|529|401|drop|truncate|slow|filter|empty` forces one fault (set it
//! through a provider's `headers:` to test one path). Answers are canned agent replies chosen
//! by a hash of (prompt, seed — or the prompt's answer count when no seed is sent).
//!
//! Tools: a request that offers tools and ends with a user message is answered with the
//! tool calls scripted for its content ([`MockConfig::tool_calls_by_content`]) in the
//! protocol's shape (OpenAI `tool_calls`, Anthropic `tool_use` blocks, Gemini
//! `functionCall` parts), live and batched; the round that brings the results back gets a
//! text answer. A tool result for a call no earlier message made is a 400, as the providers
//! answer it.
//!
//! The batch APIs are served too, in memory (see `batch.rs`): Anthropic
//! `/v1/messages/batches[/{id}[/results]]`, OpenAI `/v1/files[/{id}/content]` and
//! `/v1/batches[/{id}]`, Gemini `/v1beta/models/{model}:batchGenerateContent` and
//! `/v1beta/batches[/{id}]`, with a configurable delay, injected per-request errors and
//! expiries, lost creation replies, and a count of submissions per custom id.
//!
//! Usage is reported as each provider reports it, prompt cache included: an Anthropic
//! request whose blocks carry `cache_control` writes its prefix to the cache (
//! `cache_creation_input_tokens`) and later ones read it (`cache_read_input_tokens`), with
//! `input_tokens` the uncached rest; OpenAI reports a repeated prompt's `cached_tokens` (in
//! 128-token blocks) and Gemini its `cachedContentTokenCount`. An entry becomes readable when
//! its first reply is sent, and prompts under `min_cacheable_tokens` are never cached. OpenAI
//! requests may ask for `n` choices. Tests that need a fleet start several servers.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use misalign_mock::{MockConfig, MockServer};
//! let server = MockServer::start(MockConfig::default()).await?;
//! let base = server.url(); // http://127.0.0.1:PORT, POST {base}/v1/chat/completions
//! # let _ = base; Ok(()) }
//! ```

mod agent;
mod answers;
mod batch;
mod cache;
mod config;
pub mod policies;
mod protocol;
mod record;
mod server;

pub use agent::{policies_from_json, AfterPolicy, AgentPolicy, Move, StepFault};
pub use answers::{canned_answer, default_answers};
pub use config::{FaultKind, MockConfig, MockToolCall, ParseFaultError};
pub use record::{prompt_key, MockStats, RawRequest, RecordedRequest};
pub use server::MockServer;
