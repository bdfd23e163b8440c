//! Provider batch APIs behind one trait, [`BatchClient`]: submit many requests at once (at
//! about half the price of live calls), poll until the provider says the batch ended, then
//! read one result per request.
//!
//! Each module speaks one wire protocol ([`anthropic`]: Message Batches; [`openai`]: an
//! uploaded JSONL file plus the Batch API; [`google`]: Gemini batch mode with inlined
//! requests) and builds each request's body with the same function as a live call, and reads
//! each answer with the same parser, so a batched answer is stored exactly like a live one.
//! Every batch call goes to the provider's first base URL (a batch lives on the server that
//! created it) and never follows a URL the server sends back (results are fetched from the
//! configured base URL, so the key never travels to another host).

pub mod anthropic;
pub mod google;
pub mod openai;

use crate::http::{AuthStyle, ClientOptions, Transport};
use crate::{Completion, CompletionRequest, ProviderError};
use misalign_core::config::{ProviderConfig, ProviderKind, ResolvedModel};
use std::sync::Arc;

/// One request of a batch, named by an id unique within the batch.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchRequest {
    /// `[A-Za-z0-9_-]{1,64}` (Anthropic's rule, the strictest of the three).
    pub custom_id: String,
    pub request: CompletionRequest,
}

/// Where a batch is, as the provider reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BatchState {
    /// Validating, queued, running, finalizing: poll again later.
    InProgress,
    /// Done: every request has a result (answer, error, expired or cancelled).
    Ended,
    /// The batch as a whole failed, expired or was cancelled without per-request results;
    /// its requests are to be sent again. The text says why.
    Failed(String),
}

/// Request counts of a batch (what the provider reports; zero where it reports nothing).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchCounts {
    pub processing: u64,
    pub succeeded: u64,
    pub errored: u64,
    /// Expired or cancelled before they ran.
    pub expired: u64,
}

/// One poll's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchStatus {
    pub state: BatchState,
    pub counts: BatchCounts,
}

/// What one request of an ended batch came to.
#[derive(Clone, Debug, PartialEq)]
// Unboxed on purpose: a result is built once per batch item and moved straight into the
// store's rows, so the size gap between an answer and an error costs nothing measurable.
#[allow(clippy::large_enum_variant)]
pub enum ItemResult {
    /// An answer, parsed exactly as a live reply.
    Done(Completion),
    /// The request failed; [`ProviderError::class`] says whether another attempt may help.
    Failed(ProviderError),
    /// Expired or cancelled before it ran: send it again.
    NotRun(String),
}

/// The most a provider takes in one batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchLimits {
    pub max_requests: usize,
    /// The body (or uploaded file) size, in bytes; requests are grouped to stay under it.
    pub max_bytes: usize,
}

/// A provider's batch API for one model.
#[async_trait::async_trait]
pub trait BatchClient: Send + Sync {
    fn limits(&self) -> BatchLimits;

    /// The bytes one request adds to a batch, to group requests within [`BatchLimits`].
    fn request_size(&self, request: &BatchRequest) -> Result<usize, ProviderError>;

    /// Creates a batch of `requests`; returns the provider's id for it. `marker` is our own
    /// unique name for this submission, attached where the API keeps one (OpenAI metadata,
    /// Gemini display name), so a submission whose reply was lost can be found again.
    async fn submit(
        &self,
        marker: &str,
        requests: &[BatchRequest],
    ) -> Result<String, ProviderError>;

    async fn poll(&self, remote_id: &str) -> Result<BatchStatus, ProviderError>;

    /// The results of an ended batch, by custom id. `custom_ids` are the batch's requests in
    /// submission order (Gemini answers in that order and may not echo the keys).
    async fn results(
        &self,
        remote_id: &str,
        custom_ids: &[String],
    ) -> Result<Vec<(String, ItemResult)>, ProviderError>;

    /// The id of a batch submitted with `marker` whose creation reply never arrived, if the
    /// API can tell (`Ok(None)`: not found, or the API keeps no marker).
    async fn find(&self, marker: &str) -> Result<Option<String>, ProviderError> {
        let _ = marker;
        Ok(None)
    }
}

/// Whether models of this provider kind can be batched.
pub fn supports_batch(kind: ProviderKind) -> bool {
    matches!(
        kind,
        ProviderKind::Anthropic | ProviderKind::Openai | ProviderKind::Google
    )
}

/// The batch client for `model`, or `None` when its provider has no batch API here. Key,
/// base URL and headers are found exactly as for live calls.
pub fn build_batch_client(
    model: &ResolvedModel,
    cfg: &ProviderConfig,
    env: &dyn Fn(&str) -> Option<String>,
    options: &ClientOptions,
) -> Result<Option<Arc<dyn BatchClient>>, ProviderError> {
    if !supports_batch(cfg.kind) {
        return Ok(None);
    }
    let (key, urls) = crate::registry::key_and_urls(model, cfg, env)?;
    let headers: Vec<(String, String)> = cfg.headers.clone().into_iter().collect();
    let transport = |auth| Transport::new(&urls, key.clone(), auth, &headers, options);
    let client: Arc<dyn BatchClient> = match cfg.kind {
        ProviderKind::Anthropic => Arc::new(anthropic::AnthropicBatch::new(
            crate::anthropic::AnthropicClient::new(transport(AuthStyle::Header("x-api-key"))?),
        )),
        ProviderKind::Openai => {
            Arc::new(openai::OpenAiBatch::new(crate::openai::OpenAiClient::new(
                transport(AuthStyle::Bearer)?,
                crate::openai::Flavor::OpenAi,
            )))
        }
        ProviderKind::Google => {
            Arc::new(google::GoogleBatch::new(crate::google::GoogleClient::new(
                transport(AuthStyle::Header("x-goog-api-key"))?,
                cfg.safety_settings.clone(),
            )))
        }
        _ => return Ok(None),
    };
    Ok(Some(client))
}

/// A reply parsed from a JSON value found inside a batch result, as the live parsers take it.
pub(crate) fn reply_of(body: serde_json::Value) -> crate::http::JsonReply {
    crate::http::JsonReply {
        raw: body.to_string(),
        body,
        headers: Default::default(),
    }
}

/// A batch reply that lacks what the protocol promises.
pub(crate) fn malformed(what: &str, raw: &str) -> ProviderError {
    crate::reply::missing(what, raw)
}

/// An id the server gave us, checked before it goes into a URL path: letters, digits, `-`,
/// `_` and `.` only (a hostile or broken server cannot steer our requests elsewhere).
pub(crate) fn safe_id<'a>(id: &'a str, what: &str) -> Result<&'a str, ProviderError> {
    let ok = !id.is_empty()
        && id.len() <= 256
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && id != "."
        && id != "..";
    if ok {
        Ok(id)
    } else {
        Err(ProviderError::Malformed(format!(
            "the server gave a {what} that is not a plain id: {:?}",
            id.chars().take(80).collect::<String>()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_could_steer_a_url_are_refused() {
        assert!(safe_id("msgbatch_01AbC-9", "batch id").is_ok());
        for bad in ["", "..", "a/b", "a?b", "a b", "a#b", "%2e%2e"] {
            assert!(safe_id(bad, "batch id").is_err(), "{bad}");
        }
    }
}
