//! What the server saw: per-request records and counters, for tests to assert on.

use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Identity of a "distinct prompt": model, system prompt, user message and sample seed.
/// Retries of one work item share a key; different samples differ when the client sends a
/// seed. Hex, 16 characters.
pub fn prompt_key(model: &str, system: &str, user: &str, seed: Option<u64>) -> String {
    let mut h = Sha256::new();
    for part in [model, system, user] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    match seed {
        Some(s) => {
            h.update([1u8]);
            h.update(s.to_le_bytes());
        }
        None => h.update([0u8]),
    }
    hex::encode(&h.finalize()[..8])
}

/// One request as received.
#[derive(Clone, Debug, Serialize)]
pub struct RecordedRequest {
    /// `openai`, `anthropic` or `google`.
    pub protocol: &'static str,
    pub path: String,
    /// Header names lower-cased, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The parsed JSON body (`Null` when it was not JSON, or bodies are not recorded).
    pub body: serde_json::Value,
    pub prompt_key: String,
    /// 1 for the first request with this prompt key, 2 for its first retry, ...
    pub attempt: u64,
    /// The fault injected, if any.
    pub fault: Option<String>,
    /// The usage object of the reply (`usage`, or Gemini's `usageMetadata`), once sent.
    pub usage: Option<serde_json::Value>,
}

impl RecordedRequest {
    /// The value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP request exactly as it arrived, body bytes included, for tests that compare
/// what a client sends byte for byte (model calls and batch submissions alike).
#[derive(Clone, Debug)]
pub struct RawRequest {
    pub method: String,
    /// The path and query.
    pub target: String,
    /// Header names lower-cased, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Counters since start; served as JSON at `GET /mock/stats`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct MockStats {
    /// Model requests received (all protocols, faulted ones included).
    pub requests: u64,
    /// Requests answered normally (incl. slow, filtered and empty answers).
    pub answered: u64,
    /// Requests per prompt key.
    pub per_prompt: BTreeMap<String, u64>,
    /// Injected faults by kind name.
    pub faults: BTreeMap<String, u64>,
    /// Requests rejected for a wrong or missing key.
    pub unauthorized: u64,
    /// Most requests any one prompt key received.
    pub max_per_prompt: u64,
    /// Batches created (all three batch APIs).
    pub batches_created: u64,
    /// How many times each custom id was submitted in a batch (each one is paid for).
    pub batch_submissions: BTreeMap<String, u64>,
    /// Requests being answered right now (received, reply not yet sent).
    pub in_flight: u64,
    /// The most requests this server was answering at once.
    pub max_in_flight: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_key_separates_fields_and_seeds() {
        let a = prompt_key("m", "ab", "c", None);
        assert_eq!(a.len(), 16);
        assert_ne!(a, prompt_key("m", "a", "bc", None));
        assert_ne!(a, prompt_key("m", "ab", "c", Some(0)));
        assert_ne!(
            prompt_key("m", "ab", "c", Some(1)),
            prompt_key("m", "ab", "c", Some(2))
        );
        assert_eq!(a, prompt_key("m", "ab", "c", None));
    }
}
