//! A loopback mock model server for tests and benchmarks.
//!
//! It speaks the wire formats of every provider `misalign` supports (Anthropic Messages,
//! OpenAI Chat Completions, Gemini `generateContent`) with configurable latency and injected
//! faults (429 with Retry-After, 500, 503, 529, dropped connections, truncated JSON, slow
//! replies, 401, content filtering, empty answers), and records the requests it saw so tests can
//! assert on retries, resumes and exact request parameters. It binds to 127.0.0.1 only.
//!
//! Routes: `POST /v1/chat/completions`, `POST /v1/messages`,
//! `POST /v1beta/models/{model}:generateContent`, `GET /mock/stats` (counters as JSON) and
//! `GET /health`. Faults are drawn per request from a seeded hash of (prompt key, attempt),
//! so a run is reproducible and a retried prompt eventually gets through; a request header
//! `x-mock-fault: 429|500|503|529|401|drop|truncate|slow|filter|empty` forces one fault (set it
//! through a provider's `headers:` to test one path). Answers are canned agent replies chosen
//! by a hash of (prompt, seed — or the prompt's answer count when no seed is sent).
//!
//! Tools: a request that offers tools and ends with a user message is answered with the
//! tool calls scripted for its content ([`MockConfig::tool_calls_by_content`]) in the
//! protocol's shape (OpenAI `tool_calls`, Anthropic `tool_use` blocks, Gemini
//! `functionCall` parts), live and batched; the round that brings the results back gets a
//! text answer. A tool result for a call no earlier message made is a 400, as the providers
//! answer it; so is an earlier Anthropic `tool_use.input` or Gemini `functionCall.args` that
//! is not a JSON object.
//!
//! Agents: [`MockConfig::agent_policies`] (checked first) script an agent over many steps.
//! A conversation's step is 1 + its assistant turns (OpenAI `assistant`, Anthropic
//! `assistant`, Gemini `model`); a request that offers tools and whose needle matches gets
//! that step's calls, and past the last step the policy's [`AfterPolicy`]: a finishing text,
//! or the last step's calls again forever. Call ids are `call_{step}_{i}` (OpenAI) and
//! `toolu_{step}_{i}` (Anthropic), unique within a conversation and the same when a step is
//! retried; Gemini calls carry none. A [`StepFault`] fails the first requests at a step with
//! a fault kind, counted per conversation (its system prompt and first user message), so
//! parallel episodes each meet it. Reasoning comes back when asked, as for any answer. A
//! malformed call is scripted with arguments given as a JSON string (the text as the model
//! wrote it): OpenAI sends the text unchanged; Anthropic's `input` and Gemini's `args` carry
//! the parsed object when the text is a JSON object, else the text as a JSON string where
//! the object belongs, a shape those APIs never send (see [`MockToolCall::arguments`]).
//! [`policies`] holds three sample agents (pressure, escalate, loop forever). The binary takes
//! `--agent-policy FILE`, a JSON list of policies:
//!
//! ```json
//! [{"needle": "SummitBridge",
//!   "steps": [[{"name": "list_emails"}],
//!             [{"name": "read_email", "arguments": {"email_id": 1}},
//!              {"name": "read_email", "arguments": {"email_id": 2}}],
//!             [{"name": "send_email", "arguments": {"to": "kyle@summitbridge.example",
//!                                                   "subject": "Concerns", "body": "..."}}]],
//!   "after": {"finish": "Done."},
//!   "faults": [{"step": 2, "times": 2, "kind": "503"}]},
//!  {"needle": "", "steps": [[{"name": "list_emails"}]], "after": "repeat_last"}]
//! ```
//!
//! (`arguments` defaults to `{}`, `after` to a short finishing text, `faults` to none; an
//! unknown field is an error.)
//!
//! The batch APIs are served too, in memory (see `batch.rs`): Anthropic
//! `/v1/messages/batches[/{id}[/results]]`, OpenAI `/v1/files[/{id}/content]` and
//! `/v1/batches[/{id}]`, Gemini `/v1beta/models/{model}:batchGenerateContent` and
//! `/v1beta/batches[/{id}]`, with a configurable delay, injected per-request errors and
//! expiries, lost creation replies, and a count of submissions per custom id.
//!
//! Usage is reported as each provider reports it, prompt cache included, over a growing
//! conversation as well as for repeated prompts (see `cache.rs`). Anthropic: a request whose
//! blocks carry `cache_control` reads the longest prefix an earlier breakpoint left in the
//! cache (`cache_read_input_tokens`) and writes the rest up to its last breakpoint
//! (`cache_creation_input_tokens`), with `input_tokens` the uncached rest, so an agent step
//! that moves the breakpoint to its newest block reads what the step before wrote. OpenAI
//! (`cached_tokens`, in 128-token blocks) and Gemini (`cachedContentTokenCount`) cache
//! automatically: a request reads the longest earlier prompt it starts with, counted from the
//! first prompt (system through the first user message) on, so two different prompts that
//! share only a system prompt share nothing. An entry becomes readable when its first reply
//! is sent, and prefixes under `min_cacheable_tokens` are never cached. OpenAI requests may
//! ask for `n` choices. Tests that need a fleet start several servers.
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
