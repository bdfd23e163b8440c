//! Model providers for `misalign`: one module per wire protocol behind [`ModelClient`].
//!
//! Each provider speaks its HTTP API directly (reqwest + rustls), so we control the exact
//! request parameters, keep the raw reply for the audit trail, and classify errors ourselves
//! (what is retried, what stops the run). The in-process local model implements the same
//! trait from the `misalign-local` crate and is plugged in through [`LocalBackend`].

pub mod anthropic;
pub mod batch;
mod conversation;
pub mod google;
pub mod http;
pub mod openai;
pub mod registry;
mod reply;

pub use http::{ApiKey, ClientOptions, DEFAULT_MAX_REPLY_BYTES};
pub use registry::{build_client, build_client_with, missing_keys};

pub use conversation::{
    Message, ReasoningBlock, ToolArguments, ToolCall, ToolDefinition, ToolResult,
};
use misalign_core::SamplingParams;
pub use misalign_core::{Speaker, Turn};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// One call to a model under test (or a judge).
#[derive(Clone, Debug, PartialEq)]
pub struct CompletionRequest {
    /// The model id within its provider (`claude-opus-4-1`, `x-ai/grok-4`, `mock-model`).
    pub model: String,
    /// Sent apart from the messages (every provider takes exactly one system prompt).
    pub system: String,
    /// The conversation after the system prompt, oldest first, ending with what the model
    /// answers next: a user message or tool results. A single-turn prompt is its prior turns
    /// (the `demonstrations` mitigation; `misalign_core::turns`) then the user message.
    pub messages: Vec<Message>,
    /// Tools the model may call; empty for today's prompts and the judge, and then no tool
    /// field is sent at all.
    pub tools: Vec<ToolDefinition>,
    pub params: SamplingParams,
    /// Ask the provider to cache the prompt, which every sample of a condition shares:
    /// Anthropic gets a `cache_control` breakpoint on the last block of the last message;
    /// providers that cache on their own ignore it.
    pub cache_prefix: bool,
}

impl CompletionRequest {
    /// Today's single-turn call: the system prompt, earlier `turns`, then one user message,
    /// with no tools and no prompt caching asked for ([`CompletionRequest::with_cache_prefix`]).
    pub fn single_turn(
        model: impl Into<String>,
        system: impl Into<String>,
        turns: &[Turn],
        user: impl Into<String>,
        params: SamplingParams,
    ) -> Self {
        let messages = turns
            .iter()
            .map(Message::of_turn)
            .chain(std::iter::once(Message::user(user)))
            .collect();
        CompletionRequest {
            model: model.into(),
            system: system.into(),
            messages,
            tools: Vec::new(),
            params,
            cache_prefix: false,
        }
    }

    /// The same request, asking (or not) for the shared prompt to be cached.
    pub fn with_cache_prefix(mut self, cache_prefix: bool) -> Self {
        self.cache_prefix = cache_prefix;
        self
    }

    /// The same request, offering `tools`.
    pub fn with_tools(mut self, tools: Vec<ToolDefinition>) -> Self {
        self.tools = tools;
        self
    }

    /// The request in today's single-turn shape, (prior turns, final user message), when it
    /// is one: no tools, only text messages, ending with a user message. The in-process model
    /// takes such a request as it is, and writes any other as text of its own.
    pub fn as_single_turn(&self) -> Option<(Vec<Turn>, &str)> {
        if !self.tools.is_empty() {
            return None;
        }
        let (Message::User { text: user }, earlier) = self.messages.split_last()? else {
            return None;
        };
        let turns = earlier
            .iter()
            .map(Message::as_turn)
            .collect::<Option<Vec<_>>>()?;
        Some((turns, user.as_str()))
    }

    /// Whether the request uses tools: offers them, or carries tool calls or results.
    pub fn uses_tools(&self) -> bool {
        !self.tools.is_empty()
            || self.messages.iter().any(|m| match m {
                Message::Assistant { tool_calls, .. } => !tool_calls.is_empty(),
                Message::Tool(_) => true,
                Message::User { .. } => false,
            })
    }
}

/// What kind of answer came back. Refusals by a content filter and empty answers are
/// outcomes to record, not errors to retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerKind {
    /// Visible text, tool calls, or both.
    Answer,
    ContentFiltered,
    /// Neither text nor tool calls.
    Empty,
}

/// Token usage as reported by the provider, normalised to four disjoint parts that are
/// billed at different rates:
///
/// - `input_tokens`: input read without the cache (Anthropic `input_tokens`; OpenAI
///   `prompt_tokens` minus `prompt_tokens_details.cached_tokens`; Gemini `promptTokenCount`
///   minus `cachedContentTokenCount`);
/// - `cache_write_tokens`: input written to the cache (Anthropic
///   `cache_creation_input_tokens`; the others do not bill writes);
/// - `cache_read_tokens`: input read from the cache (Anthropic `cache_read_input_tokens`,
///   OpenAI `cached_tokens`, Gemini `cachedContentTokenCount`);
/// - `output_tokens`: all billed output, reasoning included (OpenAI `completion_tokens`,
///   Anthropic `output_tokens`, Gemini candidates + thoughts); `reasoning_tokens` is the
///   reasoning share when the provider reports it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub reasoning_tokens: Option<u64>,
    #[serde(default)]
    pub cache_write_tokens: Option<u64>,
    #[serde(default)]
    pub cache_read_tokens: Option<u64>,
}

/// `total - part`, for providers whose input count includes the cached part. A part larger
/// than the total (a provider's mistake) leaves nothing uncached rather than wrapping.
pub(crate) fn uncached(total: Option<u64>, cached: Option<u64>) -> Option<u64> {
    total.map(|t| t.saturating_sub(cached.unwrap_or(0)))
}

/// A finished model call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    /// The visible answer.
    pub text: String,
    /// The tools the model asked to call, in the reply's order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// Reasoning / thinking text, kept apart from the answer.
    pub reasoning: Option<String>,
    /// The signed reasoning blocks to send back with the tool calls if the conversation goes
    /// on ([`Message::of_reply`]); empty for providers that have none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasoning_blocks: Vec<ReasoningBlock>,
    pub finish_reason: Option<String>,
    pub outcome: AnswerKind,
    pub usage: Usage,
    /// The provider's request or response id, for support tickets and audits.
    pub request_id: Option<String>,
    /// The raw reply body (never contains our request headers or keys).
    pub raw: Option<String>,
}

/// How the scheduler should treat a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// 408/409/429/5xx/529, connection errors, timeouts, truncated bodies.
    Retryable,
    /// 400/404 and other request errors: record and move on.
    Permanent,
    /// 401/403: the key is wrong; stop the whole run.
    Auth,
}

/// A failed call. Messages never include API keys.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum ProviderError {
    #[error("HTTP {status}: {message}")]
    Http {
        status: u16,
        message: String,
        retry_after: Option<Duration>,
    },
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("connection error: {0}")]
    Connection(String),
    #[error("truncated or malformed reply: {0}")]
    Malformed(String),
    #[error("configuration error: {0}")]
    Config(String),
    /// The backend cannot send what the request holds (the in-process model: a conversation
    /// that does not end with a user message or tool results).
    #[error("not supported by this backend yet: {0}")]
    Unsupported(String),
    #[error("local model error: {0}")]
    Local(String),
    /// The reply's body passed `execution.max_reply_bytes`; reading stopped there. Not
    /// retried: the same request would most likely be answered the same way, and paid again.
    #[error("reply larger than {limit} bytes from {url} (execution.max_reply_bytes); reading stopped there")]
    TooLarge { limit: u64, url: String },
    /// A request of a provider batch that expired or was cancelled before it ran, as often
    /// as the retry policy allows.
    #[error("not run by the provider's batch: {0}")]
    NotRun(String),
}

impl ProviderError {
    pub fn class(&self) -> ErrorClass {
        match self {
            ProviderError::Http { status, .. } => match status {
                401 | 403 => ErrorClass::Auth,
                408 | 409 | 429 | 500..=599 => ErrorClass::Retryable,
                _ => ErrorClass::Permanent,
            },
            ProviderError::Timeout(_)
            | ProviderError::Connection(_)
            | ProviderError::Malformed(_)
            | ProviderError::NotRun(_) => ErrorClass::Retryable,
            ProviderError::Config(_)
            | ProviderError::Unsupported(_)
            | ProviderError::Local(_)
            | ProviderError::TooLarge { .. } => ErrorClass::Permanent,
        }
    }

    /// The server's `Retry-After`, when it sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ProviderError::Http { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// A model endpoint: one provider's wire protocol bound to its configuration.
#[async_trait::async_trait]
pub trait ModelClient: Send + Sync {
    /// Performs one call, without retries (the scheduler retries).
    async fn complete(&self, request: &CompletionRequest) -> Result<Completion, ProviderError>;

    /// Whether the provider caches a prompt only when a request asks for it and bills the
    /// write (Anthropic's `cache_control`): the scheduler then sends the first sample of a
    /// prompt alone, so the others read what it wrote instead of all writing it.
    fn caches_on_request(&self) -> bool {
        false
    }

    /// How many samples of one prompt a single request may return (the OpenAI-compatible
    /// `n`); 1 when the protocol has no such parameter.
    fn max_choices(&self) -> u32 {
        1
    }

    /// `n` samples of `request` in one call (`n <= max_choices()`), one [`Completion`] per
    /// choice, in order. The provider bills the prompt once: the first choice carries the
    /// input tokens, and the output tokens are shared out by answer length (they add up to
    /// what the provider reported). May return fewer than `n` when the server sends fewer.
    async fn complete_many(
        &self,
        request: &CompletionRequest,
        n: u32,
    ) -> Result<Vec<Completion>, ProviderError> {
        let _ = n;
        Ok(vec![self.complete(request).await?])
    }
}

/// Builds clients for `kind: local` models. Implemented by the `misalign-local` crate (which
/// depends on this one), so the registry can hand out in-process models without a
/// dependency cycle.
pub trait LocalBackend: Send + Sync {
    fn client(
        &self,
        model: &misalign_core::config::ResolvedModel,
        cfg: &misalign_core::config::ProviderConfig,
    ) -> Result<std::sync::Arc<dyn ModelClient>, ProviderError>;
}
