//! What an episode is set up from and what a step gives back: the types the episode runner
//! stores and shows (observations tied to call ids, events, executed calls, leverage reads,
//! the terminal state).

use super::clock::SimTime;
use super::tools::ToolKind;
use crate::actions::Action;
use crate::scenario::Facts;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// What one episode is set up from, besides the environment file.
#[derive(Clone, Copy, Debug)]
pub struct Setup<'a> {
    /// The condition's rendered inbox (`RenderedPrompt::email_content`).
    pub email_content: &'a str,
    /// The scenario's facts (placeholders and fact-based rules read them).
    pub facts: &'a Facts,
    /// The condition's values by axis (`urgency` -> `replacement`, ...), for `when`.
    pub labels: &'a BTreeMap<String, String>,
    /// Picks among alternatives; same seed and same calls, same observations.
    pub seed: u64,
    /// The episode ends after this many steps (at least 1).
    pub max_steps: u32,
}

/// A tool call of the agent, as the provider returned it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolCallIn {
    /// The provider's call id, which the observation answers.
    pub id: String,
    pub name: String,
    /// An object, or its JSON text.
    pub arguments: Value,
}

/// The result of one call, for the tool-result message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observation {
    pub call_id: String,
    pub tool: String,
    pub content: String,
    /// The call did nothing (unknown tool, bad arguments, unknown email, episode over):
    /// `content` says why and what to do instead.
    pub is_error: bool,
}

/// Something that happened on the clock between two steps.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub at: SimTime,
    /// The scripted event's name; `None` for mail (a reply, or an inbox email dated later).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The email that arrived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<Arrival>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
    // Left out when false, so read back as false when missing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ends_episode: bool,
}

/// A new email, as a notice would show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Arrival {
    pub id: u32,
    pub from: String,
    pub subject: String,
}

/// A call the environment carried out that acts on the world (send, forward, cancel), for
/// the detectors: the environment does not decide whether it was harmful.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExecutedCall {
    pub step: u32,
    pub at: SimTime,
    pub call_id: String,
    pub tool: ToolKind,
    /// The arguments object as the agent sent it.
    pub arguments: Value,
}

impl ExecutedCall {
    /// The neutral action the detectors read (`crate::detect::analyse_actions`), under the
    /// tool name they know (`email`, `forward`, `cancel_alert`).
    pub fn action(&self) -> Action {
        let name = self.tool.action_name().unwrap_or(self.tool.name());
        crate::executed::action_of_call(name, &self.arguments)
    }
}

/// The first time the agent read one of the emails the file marks as leverage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeverageRead {
    pub email_id: u32,
    pub step: u32,
    pub at: SimTime,
}

/// Why the episode ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TerminalReason {
    /// A scripted event with `ends_episode` (the wipe at 17:00, the dispatch).
    Event {
        name: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        notice: Option<String>,
    },
    /// The caller's `max_steps` were used up.
    StepLimit,
    /// The agent answered without calling a tool: it considers its work done.
    Finished,
}

impl TerminalReason {
    /// A short name for tables and `finish_reason`: `finished`, `step_limit`, or the event's
    /// name (`wipe`).
    pub fn label(&self) -> &str {
        match self {
            TerminalReason::Event { name, .. } => name,
            TerminalReason::StepLimit => "step_limit",
            TerminalReason::Finished => "finished",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Terminal {
    pub reason: TerminalReason,
    /// The step during which it ended.
    pub step: u32,
    pub at: SimTime,
}

/// What one step did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepResult {
    /// 1-based.
    pub step: u32,
    /// The clock when the calls were applied.
    pub started: SimTime,
    /// The clock after the step.
    pub now: SimTime,
    /// One per call, in the calls' order.
    pub observations: Vec<Observation>,
    pub events: Vec<Event>,
    /// The acting calls of this step that were carried out.
    pub executed: Vec<ExecutedCall>,
    /// Leverage emails read for the first time in this step.
    pub leverage_read: Vec<LeverageRead>,
    /// Set from the step that ended the episode on.
    pub terminal: Option<Terminal>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The store keeps events as JSON; one that does not end the episode reads back.
    #[test]
    fn events_read_back_as_written() {
        let at = crate::environment::clock::parse_timestamp("2026-06-11T16:46:00").unwrap();
        for ends_episode in [false, true] {
            let e = Event {
                at,
                name: Some("room_confirmation".into()),
                email: None,
                notice: None,
                ends_episode,
            };
            let text = serde_json::to_string(&e).unwrap();
            assert_eq!(serde_json::from_str::<Event>(&text).unwrap(), e, "{text}");
        }
    }
}
