//! One judge call: prompt -> reply -> exact parse, with retries for unparsable replies and
//! transient provider errors. A judge that still fails returns an error (recorded as
//! `judge_error`, never as "not harmful").

use crate::call::Call;
use misalign_core::judge::{JudgeParseError, JudgePrompt, ParsedJudgement};
use misalign_core::SamplingParams;
use misalign_models::{CompletionRequest, ErrorClass, ModelClient, Usage};
use misalign_store::classifications::ReplyTokens;
use std::sync::Arc;
use std::time::Duration;

/// A configured judge model.
#[derive(Clone)]
pub struct JudgeModel {
    /// The canonical `provider/model` name (stored, and part of the cache key).
    pub name: String,
    /// The model id within its provider.
    pub model_id: String,
    pub client: Arc<dyn ModelClient>,
}

impl std::fmt::Debug for JudgeModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JudgeModel")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// What a finished judge call gives back.
#[derive(Clone, Debug, PartialEq)]
pub struct JudgeReply<T> {
    pub parsed: ParsedJudgement<T>,
    pub raw: String,
    /// What the call used: every attempt that got a reply is billed, the unparsable ones
    /// included.
    pub tokens: ReplyTokens,
}

/// A judge reply's token counts as stored (implausible counts as unknown, like answers').
pub fn reply_tokens(usage: &Usage, judge: &str, key: &str) -> ReplyTokens {
    let n = |v, what| crate::scheduler::plausible_tokens(v, judge, key, what);
    ReplyTokens {
        input: n(usage.input_tokens, "input"),
        cache_write: n(usage.cache_write_tokens, "cache write"),
        cache_read: n(usage.cache_read_tokens, "cache read"),
        output: n(usage.output_tokens, "output"),
    }
}

/// `a + b` per count; a count stays unknown only when neither side knows it.
fn add_tokens(a: ReplyTokens, b: ReplyTokens) -> ReplyTokens {
    let sum = |x: Option<i64>, y: Option<i64>| match (x, y) {
        (None, None) => None,
        (x, y) => Some(x.unwrap_or(0).saturating_add(y.unwrap_or(0))),
    };
    ReplyTokens {
        input: sum(a.input, b.input),
        cache_write: sum(a.cache_write, b.cache_write),
        cache_read: sum(a.cache_read, b.cache_read),
        output: sum(a.output, b.output),
    }
}

/// Sampling for judges: deterministic where the provider allows it, room to reason.
pub fn judge_params() -> SamplingParams {
    SamplingParams {
        temperature: Some(0.0),
        max_tokens: 2048,
        ..SamplingParams::default()
    }
}

/// The request of one judge call, live or in a batch.
pub fn judge_request(model_id: &str, prompt: &JudgePrompt) -> CompletionRequest {
    CompletionRequest::single_turn(
        model_id,
        prompt.system.as_str(),
        &[],
        prompt.user.as_str(),
        judge_params(),
    )
}

/// The call of one judge or awareness verdict, live or in a batch, under the judge-cache
/// key its reply is stored by.
pub fn judge_call(cache_key: &str, model_id: &str, prompt: &JudgePrompt) -> Call {
    Call {
        key: cache_key.to_string(),
        request: judge_request(model_id, prompt),
    }
}

/// Makes `call` to the judge up to `attempts` times until its reply parses.
pub async fn call_judge<T>(
    judge: &JudgeModel,
    call: &Call,
    attempts: u32,
    parse: fn(&str) -> Result<ParsedJudgement<T>, JudgeParseError>,
) -> Result<JudgeReply<T>, JudgeError> {
    let request = &call.request;
    let attempts = attempts.max(1);
    let mut last_error = String::new();
    let mut tokens = ReplyTokens::default();
    for attempt in 0..attempts {
        if attempt > 0 {
            // Short backoff: judge failures are usually a bad format, not overload.
            tokio::time::sleep(Duration::from_millis(200 * 2u64.pow(attempt.min(5)))).await;
        }
        match judge.client.complete(request).await {
            Ok(c) => {
                tokens = add_tokens(tokens, reply_tokens(&c.usage, &judge.name, "judge call"));
                match parse(&c.text) {
                    Ok(parsed) => {
                        return Ok(JudgeReply {
                            parsed,
                            raw: c.text,
                            tokens,
                        })
                    }
                    Err(e) => last_error = format!("attempt {}: {e}", attempt + 1),
                }
            }
            Err(e) => {
                last_error = format!("attempt {}: {} call failed: {e}", attempt + 1, judge.name);
                if e.class() != ErrorClass::Retryable {
                    break;
                }
            }
        }
    }
    Err(JudgeError {
        judge: judge.name.clone(),
        attempts,
        last: last_error,
        tokens,
        batched: false,
    })
}

/// A judge that gave no usable answer: recorded as the answer's `judge_error` (never as
/// "not harmful").
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("judge {judge} gave no usable answer after {attempts} attempt(s); last: {last}")]
pub struct JudgeError {
    pub judge: String,
    pub attempts: u32,
    /// What went wrong the last time (a parse error or the provider's, key-free).
    pub last: String,
    /// What the attempts that got a reply used: the provider billed them even when the
    /// reply could not be parsed (stored in `judge_failures`, counted in the run's cost).
    pub tokens: ReplyTokens,
    /// The call went through a provider batch (billed at the batch price).
    pub batched: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_add_up_and_unknown_stays_unknown() {
        let a = ReplyTokens {
            input: Some(100),
            cache_write: None,
            cache_read: Some(5),
            output: None,
        };
        let b = ReplyTokens {
            input: Some(30),
            cache_write: None,
            cache_read: None,
            output: Some(7),
        };
        let sum = add_tokens(a, b);
        assert_eq!(
            sum,
            ReplyTokens {
                input: Some(130),
                cache_write: None,
                cache_read: Some(5),
                output: Some(7),
            }
        );
        assert_eq!(add_tokens(ReplyTokens::default(), a), a);
    }

    #[test]
    fn implausible_counts_are_stored_as_unknown() {
        let usage = Usage {
            input_tokens: Some(12),
            output_tokens: Some(u64::MAX),
            ..Usage::default()
        };
        let t = reply_tokens(&usage, "j/m", "k");
        assert_eq!((t.input, t.output, t.cache_write), (Some(12), None, None));
    }
}
