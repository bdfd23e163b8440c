//! One description of a model call, whichever way it is made (a live call by the scheduler,
//! a request in a provider batch, a judge call): the [`Call`] to make and the [`Answer`] to
//! commit. The request is the provider layer's own [`CompletionRequest`], held whole, so
//! whatever it can carry (a conversation, tool definitions) a call carries too.

use crate::item::WorkItem;
use misalign_core::SamplingParams;
use misalign_models::{Completion, CompletionRequest, ProviderError};

/// A call to make: the request, under the key its answer is stored by (a work item's key,
/// or a judge-cache key).
#[derive(Clone, Debug)]
pub struct Call {
    pub key: String,
    pub request: CompletionRequest,
}

/// An answer to commit: a call's final result, after its retries (live) or the batches it
/// was in, and how many attempts that took.
#[derive(Debug)]
pub struct Answer {
    pub key: String,
    pub result: Result<Completion, ProviderError>,
    pub attempts: u32,
}

impl WorkItem {
    /// The call that samples this item, live or in a batch (the same request either way).
    pub fn call(&self, params: &SamplingParams, prompt_cache: bool) -> Call {
        Call {
            key: self.key.clone(),
            request: CompletionRequest::single_turn(
                self.model.model_id.as_str(),
                self.prompt.rendered.system_prompt.as_str(),
                &self.prompt.rendered.prior_turns,
                self.prompt.user_message.as_str(),
                sample_params(params, self.sample_index),
            )
            .with_cache_prefix(prompt_cache),
        }
    }
}

/// The parameters of one sample: a configured seed is offset by the sample index, so the
/// samples of a condition differ (and each stays reproducible) on seed-honouring backends.
pub(crate) fn sample_params(params: &SamplingParams, sample_index: u32) -> SamplingParams {
    let mut p = params.clone();
    p.seed = p.seed.map(|s| s.wrapping_add(u64::from(sample_index)));
    p
}
