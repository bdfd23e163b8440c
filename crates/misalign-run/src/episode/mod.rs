//! Agent mode's episodes: a work item of an `_agent` condition is run as a loop of model
//! calls against the condition's deterministic environment (`misalign_core::environment`).
//!
//! Each step is one call under the same limits as any other (the model's and provider's
//! slots, rate and token pools, the cost limit, retries), and is committed
//! (`episode_steps`) before the next is asked for. A killed run therefore resumes each
//! episode at its last committed step: the environment replays the stored calls (it is
//! pure, so it reaches the same state) and the conversation is rebuilt from the stored
//! replies, so the next request is the one the interrupted run would have sent, and no step
//! is paid for twice. The episode's `responses` row, written when it ends, makes it an
//! answer like any other for the rest of the pipeline.

mod conversation;
mod run;

pub use conversation::{agent_reply, call_in, results_messages, tool_definitions};
pub(crate) use run::run_episode;

use misalign_core::environment::{EnvironmentSpec, ENVIRONMENT_FILE};
use misalign_core::scenario::{Facts, ScenarioSource};
use misalign_core::RenderedPrompt;
use std::collections::BTreeMap;

/// What every episode of one agent condition is set up from, besides its prompt.
#[derive(Debug)]
pub struct EpisodeSetup {
    pub spec: EnvironmentSpec,
    pub facts: Facts,
    /// The condition's values by axis, for the file's `when:` rules.
    pub labels: BTreeMap<String, String>,
    pub max_steps: u32,
}

impl EpisodeSetup {
    /// The setup of an agent condition's episodes: the environment file its prompt was
    /// rendered with (so the prompt hash covers what runs), the scenario's facts and the
    /// condition's labels. `None` for a single-prompt condition; errors name the file.
    pub fn of_prompt(
        source: &ScenarioSource,
        prompt: &RenderedPrompt,
    ) -> Result<Option<EpisodeSetup>, String> {
        let Some(agent) = &prompt.agent else {
            return Ok(None);
        };
        let c = &prompt.condition;
        let file = format!("{}/{}", c.scenario, ENVIRONMENT_FILE);
        let spec = EnvironmentSpec::parse(&agent.environment, &file).map_err(|e| e.to_string())?;
        // A surface variant's environment names the variant's people (its facts).
        let facts = source
            .condition_facts(c)
            .map_err(|e| e.to_string())?
            .unwrap_or_default();
        Ok(Some(EpisodeSetup {
            spec,
            facts,
            labels: c.labels(),
            max_steps: agent.max_steps,
        }))
    }
}
