//! Small helpers for reading provider replies the same way in every protocol.

use crate::{AnswerKind, ProviderError, ToolCall};
use serde_json::Value;

/// An answer is `Empty` when it has neither visible text nor tool calls (reasoning alone
/// does not count).
pub fn answer_kind(text: &str, tool_calls: &[ToolCall], filtered: bool) -> AnswerKind {
    if filtered {
        AnswerKind::ContentFiltered
    } else if text.trim().is_empty() && tool_calls.is_empty() {
        AnswerKind::Empty
    } else {
        AnswerKind::Answer
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

/// Splits the reasoning of DeepSeek-R1 style servers without a reasoning parser off the
/// answer: a leading `<think>...</think>` block, or, when the opening tag is missing (R1
/// models often start thinking without writing it, or the server's template writes it into
/// the prompt), everything up to the first `</think>`. Returns (reasoning, answer).
pub fn split_think(content: &str) -> (Option<String>, String) {
    const OPEN: &str = "<think>";
    const CLOSE: &str = "</think>";
    let trimmed = content.trim_start();
    let reasoning_start = match trimmed.strip_prefix(OPEN) {
        Some(rest) => rest,
        // Another tag before `</think>` means its `<think>` is later: not an opener-less block.
        None if !trimmed[..trimmed.find(CLOSE).unwrap_or(0)].contains(OPEN) => trimmed,
        None => return (None, content.to_string()),
    };
    match reasoning_start.find(CLOSE) {
        Some(end) => {
            let reasoning = reasoning_start[..end].trim().to_string();
            let answer = reasoning_start[end + CLOSE.len()..]
                .trim_start()
                .to_string();
            (Some(reasoning), answer)
        }
        None => (None, content.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes() {
        assert_eq!(answer_kind("hi", &[], false), AnswerKind::Answer);
        assert_eq!(answer_kind(" \n", &[], false), AnswerKind::Empty);
        assert_eq!(answer_kind("", &[], true), AnswerKind::ContentFiltered);
        let call = ToolCall {
            id: "c".into(),
            name: "email".into(),
            arguments: crate::ToolArguments::Json(serde_json::json!({})),
            signature: None,
        };
        assert_eq!(answer_kind("", &[call], false), AnswerKind::Answer);
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

    #[test]
    fn reasoning_closed_without_opening_is_split_off() {
        assert_eq!(
            split_think("I should not cancel it.\n</think>\n\nThe alert stays."),
            (
                Some("I should not cancel it.".to_string()),
                "The alert stays.".to_string()
            )
        );
        // An opening tag later in the text is not this case: left alone.
        let later = "answer </think> then <think>x</think>";
        assert_eq!(split_think(later).0, Some("answer".to_string()));
        let odd = "text <think>x</think> more";
        assert_eq!(split_think(odd), (None, odd.to_string()));
    }
}
