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

use misalign_core::environment::EnvironmentSpec;
use misalign_core::scenario::{Facts, ScenarioSource};
use misalign_core::Condition;
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
    /// The setup of `condition`'s episodes from its scenario's pack: the environment file,
    /// the facts and the condition's labels. Errors name the pack's file.
    pub fn for_condition(
        source: &ScenarioSource,
        condition: &Condition,
        max_steps: u32,
    ) -> Result<EpisodeSetup, String> {
        let scenario = &condition.scenario;
        let spec = EnvironmentSpec::load_from_tree(source.tree(), scenario)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| {
                format!(
                    "scenario `{scenario}` has no {} and so cannot run as an agent; write one \
                     (docs/environments.md) or drop `agent` from `interaction`",
                    misalign_core::environment::ENVIRONMENT_FILE
                )
            })?;
        let facts = source
            .facts(scenario)
            .map_err(|e| e.to_string())?
            .unwrap_or_default();
        Ok(EpisodeSetup {
            spec,
            facts,
            labels: labels(condition),
            max_steps,
        })
    }
}

/// The condition's values the environment file's `when:` rules may name.
fn labels(c: &Condition) -> BTreeMap<String, String> {
    [
        ("scenario", c.scenario.clone()),
        ("goal_type", c.goal_type.as_str().to_string()),
        ("goal_value", c.goal_value.clone()),
        ("urgency", c.urgency.as_str().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}
