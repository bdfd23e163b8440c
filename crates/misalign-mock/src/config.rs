//! What the mock server does: latency, faults, the answers it gives, the key it requires.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A fault the server can inject instead of (or on the way to) a normal answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultKind {
    /// 429 with a `Retry-After` header.
    RateLimited,
    /// 500 with a provider-shaped error body.
    ServerError,
    /// 529 "overloaded" (Anthropic's status; sent by every protocol here).
    Overloaded,
    /// 503 "unavailable" (Gemini's overload status, and a load balancer's).
    Unavailable,
    /// 401 with a provider-shaped error body.
    Unauthorized,
    /// Status line and part of the body, then the connection is closed.
    Drop,
    /// A complete HTTP reply whose JSON body is cut in half.
    Truncated,
    /// A normal answer, but only after [`MockConfig::slow`].
    Slow,
    /// The provider's content-filter refusal shape.
    ContentFilter,
    /// A successful reply with empty answer text.
    Empty,
}

impl FaultKind {
    pub const ALL: [FaultKind; 10] = [
        FaultKind::RateLimited,
        FaultKind::ServerError,
        FaultKind::Overloaded,
        FaultKind::Unavailable,
        FaultKind::Unauthorized,
        FaultKind::Drop,
        FaultKind::Truncated,
        FaultKind::Slow,
        FaultKind::ContentFilter,
        FaultKind::Empty,
    ];

    /// The name used on the command line and in the `x-mock-fault` request header.
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::RateLimited => "429",
            FaultKind::ServerError => "500",
            FaultKind::Overloaded => "529",
            FaultKind::Unavailable => "503",
            FaultKind::Unauthorized => "401",
            FaultKind::Drop => "drop",
            FaultKind::Truncated => "truncate",
            FaultKind::Slow => "slow",
            FaultKind::ContentFilter => "filter",
            FaultKind::Empty => "empty",
        }
    }

    /// Faults after which a client retry is expected (transient server trouble).
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            FaultKind::RateLimited
                | FaultKind::ServerError
                | FaultKind::Overloaded
                | FaultKind::Unavailable
                | FaultKind::Drop
                | FaultKind::Truncated
                | FaultKind::Slow
        )
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown fault name.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown fault kind `{0}`; expected one of 429, 500, 503, 529, 401, drop, truncate, slow, filter, empty")]
pub struct ParseFaultError(pub String);

impl FromStr for FaultKind {
    type Err = ParseFaultError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().to_ascii_lowercase();
        let alias = match s.as_str() {
            "rate-limit" | "rate_limited" | "ratelimit" => "429",
            "server-error" | "server_error" => "500",
            "overloaded" => "529",
            "unavailable" => "503",
            "unauthorized" | "auth" => "401",
            "truncated" => "truncate",
            "content-filter" | "content_filter" => "filter",
            other => other,
        };
        FaultKind::ALL
            .into_iter()
            .find(|k| k.as_str() == alias)
            .ok_or(ParseFaultError(s))
    }
}

/// Fault names in JSON (agent policy files), as on the command line.
impl<'de> serde::Deserialize<'de> for FaultKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// A tool call the mock answers with: which tool, with which arguments. In JSON (agent policy
/// files): `{"name": "read_email", "arguments": {"id": 3}}`, arguments `{}` when left out.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MockToolCall {
    pub name: String,
    /// A JSON string stands for arguments text as the model wrote it, which lets a test
    /// script a malformed call. OpenAI-shaped replies carry the text unchanged in
    /// `function.arguments`. Anthropic's `input` and Gemini's `args` are JSON objects on the
    /// wire (the provider parses what the model wrote), so there text that parses as a JSON
    /// object goes as that object, and any other text goes as a JSON string in the object's
    /// place: a shape those APIs never send, which a client must refuse or keep as text.
    #[serde(default = "no_arguments")]
    pub arguments: serde_json::Value,
}

fn no_arguments() -> serde_json::Value {
    serde_json::json!({})
}

impl MockToolCall {
    /// The arguments as Anthropic's `input` or Gemini's `args` (see [`MockToolCall::arguments`]).
    pub fn arguments_object(&self) -> serde_json::Value {
        match &self.arguments {
            serde_json::Value::String(written) => match serde_json::from_str(written) {
                Ok(object @ serde_json::Value::Object(_)) => object,
                _ => self.arguments.clone(),
            },
            other => other.clone(),
        }
    }

    /// The arguments as OpenAI's `function.arguments` text.
    pub fn arguments_text(&self) -> String {
        match &self.arguments {
            serde_json::Value::String(written) => written.clone(),
            other => other.to_string(),
        }
    }

    pub fn new(name: impl Into<String>, arguments: serde_json::Value) -> MockToolCall {
        MockToolCall {
            name: name.into(),
            arguments,
        }
    }
}

/// Mock server behaviour. `Default` is a fast, fault-free server that needs no key.
#[derive(Clone, Debug)]
pub struct MockConfig {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Delay before every reply.
    pub latency: Duration,
    /// Extra delay in `0..=jitter`, derived from the request (so reproducible).
    pub jitter: Duration,
    /// Probability in 0..=1 that a request gets one of `fault_kinds` instead of an answer.
    pub fault_rate: f64,
    /// Faults drawn from when `fault_rate` fires.
    pub fault_kinds: Vec<FaultKind>,
    /// Seeds which requests fault and which fault they get.
    pub seed: u64,
    /// The first N attempts of each distinct prompt fail with `fail_first_kind`.
    pub fail_first: u32,
    pub fail_first_kind: FaultKind,
    /// `Retry-After` value sent with 429s, in seconds.
    pub retry_after_secs: u64,
    /// How long a [`FaultKind::Slow`] reply takes.
    pub slow: Duration,
    /// When set, requests with another key get 401.
    pub api_key: Option<String>,
    /// Answers to cycle through instead of the derived canned answers.
    pub answers: Vec<String>,
    /// Answers chosen by what the prompt says: the first `(needle, answer)` whose needle
    /// occurs in the system prompt or the user message wins, before `answers`. Lets a test
    /// model react to a prompt's content (a mitigation's text, say).
    pub answers_by_content: Vec<(String, String)>,
    /// Tool calls to answer with, chosen by what the prompt says: the first `(needle, calls)`
    /// whose needle occurs in the system prompt or the conversation wins (an empty needle
    /// matches every prompt). They answer only a request that offers tools and ends with a
    /// user message; once tool results come back the mock answers with text, so an agent
    /// loop over the mock ends after one round of calls (`agent_policies` script more).
    pub tool_calls_by_content: Vec<(String, Vec<MockToolCall>)>,
    /// Scripted agents over many steps, chosen by what the prompt says as
    /// `tool_calls_by_content` (and before it): the first `(needle, policy)` whose needle
    /// occurs in the system prompt or the conversation answers every request of that
    /// conversation that offers tools, at the step the conversation has reached (see
    /// [`crate::AgentPolicy`]).
    pub agent_policies: Vec<(String, crate::AgentPolicy)>,
    /// Include reasoning even when the request did not ask for it.
    pub always_reasoning: bool,
    /// Keep every request body (turn off for very long benchmark runs).
    pub record_bodies: bool,
    /// How long a batch stays in progress before its results are available.
    pub batch_delay: Duration,
    /// Share (0..=1) of batched requests that fail with a transient server error.
    pub batch_error_rate: f64,
    /// Share (0..=1) of batched requests that expire before they run.
    pub batch_expire_rate: f64,
    /// The replies to the first N batch creations are lost (the connection breaks after the
    /// batch was created), as a crash or network cut would lose them.
    pub batch_lose_replies: u32,
    /// Prompts (or Anthropic cache prefixes) shorter than this many tokens are not cached,
    /// as with the real providers (1,024 for OpenAI and most Anthropic models).
    pub min_cacheable_tokens: u64,
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig {
            port: 0,
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
            fault_rate: 0.0,
            fault_kinds: vec![
                FaultKind::RateLimited,
                FaultKind::ServerError,
                FaultKind::Overloaded,
                FaultKind::Drop,
                FaultKind::Truncated,
            ],
            seed: 0,
            fail_first: 0,
            fail_first_kind: FaultKind::ServerError,
            retry_after_secs: 1,
            slow: Duration::from_secs(30),
            api_key: None,
            answers: Vec::new(),
            answers_by_content: Vec::new(),
            tool_calls_by_content: Vec::new(),
            agent_policies: Vec::new(),
            always_reasoning: false,
            record_bodies: true,
            batch_delay: Duration::ZERO,
            batch_error_rate: 0.0,
            batch_expire_rate: 0.0,
            batch_lose_replies: 0,
            min_cacheable_tokens: 1024,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_names_round_trip() {
        for kind in FaultKind::ALL {
            assert_eq!(kind.as_str().parse::<FaultKind>(), Ok(kind));
        }
        assert_eq!("Overloaded".parse::<FaultKind>(), Ok(FaultKind::Overloaded));
        let err = "teapot".parse::<FaultKind>().unwrap_err();
        assert!(err.to_string().contains("teapot"));
    }
}
