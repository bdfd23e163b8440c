//! Small helpers for reading provider replies the same way in every protocol.

use crate::{Outcome, ProviderError};
use serde_json::Value;

/// An answer is `Empty` when it has no visible text (reasoning alone does not count).
pub fn outcome(text: &str, filtered: bool) -> Outcome {
    if filtered {
        Outcome::ContentFiltered
    } else if text.trim().is_empty() {
        Outcome::Empty
    } else {
        Outcome::Answer
    }
}

/// A number at a JSON pointer (`/usage/prompt_tokens`).
pub fn u64_at(v: &Value, pointer: &str) -> Option<u64> {
    v.pointer(pointer).and_then(Value::as_u64)
}

/// A string at a JSON pointer.
pub fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

/// A reply that parsed as JSON but lacks what the protocol promises.
pub fn missing(what: &str, raw: &str) -> ProviderError {
    let mut head: String = raw.chars().take(200).collect();
    if head.len() < raw.len() {
        head.push_str("...");
    }
    ProviderError::Malformed(format!("the reply has no {what}: {head}"))
}

/// Splits a leading `<think>...</think>` block (DeepSeek-R1 style servers without a
/// reasoning parser) off the answer. Returns (reasoning, answer).
pub fn split_think(content: &str) -> (Option<String>, String) {
    let trimmed = content.trim_start();
    if let Some(rest) = trimmed.strip_prefix("<think>") {
        if let Some(end) = rest.find("</think>") {
            let reasoning = rest[..end].trim().to_string();
            let answer = rest[end + "</think>".len()..].trim_start().to_string();
            return (Some(reasoning), answer);
        }
    }
    (None, content.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes() {
        assert_eq!(outcome("hi", false), Outcome::Answer);
        assert_eq!(outcome(" \n", false), Outcome::Empty);
        assert_eq!(outcome("", true), Outcome::ContentFiltered);
    }

    #[test]
    fn think_tags_are_split_off() {
        assert_eq!(
            split_think("<think>\nplan\n</think>\n\nanswer"),
            (Some("plan".to_string()), "answer".to_string())
        );
        assert_eq!(split_think("no tags"), (None, "no tags".to_string()));
        // Unclosed: leave the text alone rather than guess.
        assert_eq!(
            split_think("<think>oops"),
            (None, "<think>oops".to_string())
        );
    }
}
