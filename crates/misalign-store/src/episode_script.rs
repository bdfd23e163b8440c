//! Scripted agent episodes for tests: a built-in pack's condition, its real environment,
//! and calls written by the test, step by step. The steps come out exactly as the episode
//! runner records them, ready for [`crate::testdata::Filler::add_episode`].

use misalign_core::environment::{
    AgentReply, Environment, EnvironmentSpec, Setup, StepRecord, ToolCallIn,
};
use misalign_core::render::render_inbox;
use misalign_core::scenario::{FileTree, ScenarioSource};
use misalign_core::Condition;
use std::collections::BTreeMap;

/// One step of a script: what the agent says, and the calls it makes. A step without calls
/// is the agent answering without a tool, which finishes the episode.
pub struct Say {
    pub text: String,
    pub calls: Vec<ToolCallIn>,
}

/// A step that says `text` and makes `calls`.
pub fn say(text: &str, calls: Vec<ToolCallIn>) -> Say {
    Say {
        text: text.to_string(),
        calls,
    }
}

/// A tool call with `arguments` (an object, or the JSON text a model wrote).
pub fn call(id: &str, name: &str, arguments: serde_json::Value) -> ToolCallIn {
    ToolCallIn {
        id: id.to_string(),
        name: name.to_string(),
        arguments,
    }
}

/// Plays `script` against the environment of the built-in condition `condition_id` (seed 7,
/// at most `max_steps` steps); stops where the episode ends. Panics on a condition or pack
/// that does not set up: test input is ours.
pub fn play(condition_id: &str, max_steps: u32, script: &[Say]) -> Vec<StepRecord> {
    let condition: Condition = condition_id.parse().expect("a condition id");
    let source = ScenarioSource::builtin();
    let spec = EnvironmentSpec::load_from_tree(&FileTree::builtin(), &condition.scenario)
        .expect("the environment file loads")
        .expect("the pack has an environment file");
    let inbox = render_inbox(&source, &condition).expect("the condition renders");
    let facts = source
        .facts(&condition.scenario)
        .expect("facts load")
        .expect("the pack has facts");
    let labels: BTreeMap<String, String> = [(
        "urgency".to_string(),
        condition.urgency.as_str().to_string(),
    )]
    .into();
    let mut env = Environment::new(
        &spec,
        Setup {
            email_content: &inbox,
            facts: &facts,
            labels: &labels,
            seed: 7,
            max_steps,
        },
    )
    .expect("the environment sets up");
    let mut steps = Vec::new();
    for s in script {
        let result = if s.calls.is_empty() {
            env.finish()
        } else {
            env.step(&s.calls)
        };
        let ended = result.terminal.is_some();
        steps.push(StepRecord {
            reply: AgentReply {
                text: s.text.clone(),
                reasoning: None,
                tool_calls: s.calls.clone(),
            },
            result,
        });
        if ended {
            break;
        }
    }
    steps
}
