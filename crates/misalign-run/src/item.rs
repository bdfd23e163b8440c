//! What the scheduler works on: prompts, model targets and work items, in queue order.

use crate::episode::EpisodeSetup;
use misalign_core::plan::work_item_key;
use misalign_core::{RenderedPrompt, SamplingParams};
use misalign_models::ModelClient;
use std::fmt;
use std::sync::Arc;

/// A model under test, resolved and bound to its client.
pub struct ModelTarget {
    /// The canonical `provider/model` name (store, reports, folder names).
    pub name: String,
    /// The name as written in the experiment (matched by `concurrency.models` and rate pools).
    pub written: String,
    /// The provider's name (`concurrency.providers` key).
    pub provider: String,
    /// The model id sent to the provider.
    pub model_id: String,
    pub client: Arc<dyn ModelClient>,
}

impl fmt::Debug for ModelTarget {
    // The client may hold a key: never print it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModelTarget")
            .field("name", &self.name)
            .field("provider", &self.provider)
            .field("model_id", &self.model_id)
            .finish_non_exhaustive()
    }
}

/// One rendered prompt, shared by every model and sample of its condition.
#[derive(Debug)]
pub struct PromptEntry {
    pub hash: String,
    pub rendered: RenderedPrompt,
    /// The user message actually sent (instruction + blank line + inbox).
    pub user_message: String,
    /// The prior turns as stored (`prompts.prior_turns_json`), None when there are none.
    pub prior_turns_json: Option<String>,
    /// For an agent condition: what its episodes are set up from (the scheduler then runs
    /// each work item as an episode, `crate::episode`).
    pub episode: Option<Arc<EpisodeSetup>>,
}

impl PromptEntry {
    pub fn new(rendered: RenderedPrompt) -> PromptEntry {
        PromptEntry {
            hash: rendered.prompt_hash(),
            user_message: rendered.user_message(),
            prior_turns_json: (!rendered.prior_turns.is_empty())
                .then(|| serde_json::to_string(&rendered.prior_turns).expect("turns serialize")),
            rendered,
            episode: None,
        }
    }

    /// The same prompt, run as agent episodes set up from `setup`.
    pub fn with_episode(mut self, setup: EpisodeSetup) -> PromptEntry {
        self.episode = Some(Arc::new(setup));
        self
    }

    pub fn condition_id(&self) -> String {
        self.rendered.condition.id()
    }
}

/// One model call to make: condition x model x sample index.
#[derive(Clone, Debug)]
pub struct WorkItem {
    pub key: String,
    pub prompt: Arc<PromptEntry>,
    pub model: Arc<ModelTarget>,
    pub sample_index: u32,
}

/// Builds work items in queue order: per prompt, per model, every sample index — so the
/// samples of one condition are adjacent (a local backend reuses its prompt cache).
pub fn work_items(
    prompts: &[(Arc<PromptEntry>, Vec<Arc<ModelTarget>>)],
    samples: u32,
    params: &SamplingParams,
) -> Vec<WorkItem> {
    let mut out = Vec::new();
    for (prompt, models) in prompts {
        for model in models {
            for i in 0..samples {
                out.push(WorkItem {
                    key: work_item_key(&prompt.hash, &model.name, params, i),
                    prompt: prompt.clone(),
                    model: model.clone(),
                    sample_index: i,
                });
            }
        }
    }
    out
}
