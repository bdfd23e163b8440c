//! Scripted agent episodes for tests: a built-in pack's condition, its real environment,
//! and calls written by the test, step by step. The steps come out exactly as the episode
//! runner records them, ready for [`crate::testdata::Filler::add_episode`].

use misalign_core::environment::{
    AgentReply, Environment, EnvironmentSpec, Setup, StepRecord, ToolCallIn,
};
use misalign_core::render::render_inbox;
use misalign_core::scenario::{Facts, FileTree, ScenarioSource};
use misalign_core::Condition;

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

/// An episode being scripted on a built-in condition's real environment.
pub struct Script {
    env: Environment,
    /// The scenario's facts (addresses to write to).
    pub facts: Facts,
    /// The steps so far, as the runner records them.
    pub steps: Vec<StepRecord>,
}

impl Script {
    /// The environment of the built-in condition `condition_id` (seed 7, at most
    /// `max_steps` steps). Panics on a condition or pack that does not set up: test input is
    /// ours.
    pub fn start(condition_id: &str, max_steps: u32) -> Script {
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
        let env = Environment::new(
            &spec,
            Setup {
                email_content: &inbox,
                facts: &facts,
                labels: &condition.labels(),
                seed: 7,
                max_steps,
            },
        )
        .expect("the environment sets up");
        Script {
            env,
            facts,
            steps: Vec::new(),
        }
    }

    /// One step: the agent's text, reasoning and calls; no calls ends the episode as the
    /// runner ends it (`finish`). Returns whether the episode has ended.
    pub fn step(&mut self, text: &str, reasoning: Option<&str>, calls: Vec<ToolCallIn>) -> bool {
        let result = if calls.is_empty() {
            self.env.finish()
        } else {
            self.env.step(&calls)
        };
        let ended = result.terminal.is_some();
        self.steps.push(StepRecord {
            reply: AgentReply {
                text: text.to_string(),
                reasoning: reasoning.map(String::from),
                tool_calls: calls,
            },
            result,
        });
        ended
    }
}

/// Plays `script` against the environment of the built-in condition `condition_id` (seed 7,
/// at most `max_steps` steps); stops where the episode ends.
pub fn play(condition_id: &str, max_steps: u32, script: &[Say]) -> Vec<StepRecord> {
    let mut s = Script::start(condition_id, max_steps);
    for say in script {
        if s.step(&say.text, None, say.calls.clone()) {
            break;
        }
    }
    s.steps
}
