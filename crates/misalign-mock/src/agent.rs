//! Scripted agent policies: what the mock "agent" does at each step of a conversation.
//!
//! A conversation's step is 1 + the number of assistant turns it already holds (OpenAI
//! `assistant` messages, Anthropic `assistant` role, Gemini `model` role), so an episode
//! runner that feeds tool results back gets step 1's calls, then step 2's, and so on, and a
//! retried step gets the same answer again. Step faults are counted per conversation (its
//! system prompt and first user message), so parallel episodes each see them.

use crate::config::{FaultKind, MockConfig, MockToolCall};
use crate::protocol::PromptInfo;
use serde::Deserialize;

/// An agent's script: the calls it makes at each step, what it does after the last one, and
/// the faults its steps meet.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentPolicy {
    /// `steps[0]` are step 1's calls, and so on. An empty step answers with text and no
    /// calls (the canned or configured answer), which ends an agent loop.
    pub steps: Vec<Vec<MockToolCall>>,
    /// What the agent does once the steps are used up.
    #[serde(default)]
    pub after: AfterPolicy,
    /// Steps whose first requests fail.
    #[serde(default)]
    pub faults: Vec<StepFault>,
}

/// What an agent does past its last scripted step.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AfterPolicy {
    /// Answer with this text and no calls. In JSON: `{"finish": "text"}`.
    Finish(String),
    /// Keep making the last step's calls forever (a loop the step limit must end). In JSON:
    /// `"repeat_last"`. With no steps at all it answers with text, as an empty step does.
    RepeatLast,
}

impl Default for AfterPolicy {
    fn default() -> Self {
        AfterPolicy::Finish("I have finished the task.".to_string())
    }
}

/// The first `times` requests of a conversation at `step` fail with `kind`; later ones are
/// answered. In JSON: `{"step": 2, "times": 2, "kind": "503"}` (kind as for `--faults`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepFault {
    pub step: u32,
    pub times: u32,
    pub kind: FaultKind,
}

/// What a policy does at one step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Move<'a> {
    /// Make these calls (an empty list: answer with text instead).
    Calls(&'a [MockToolCall]),
    /// Answer with this text and no calls.
    Finish(&'a str),
}

impl AgentPolicy {
    /// A policy of these steps that then finishes with `text`.
    pub fn finishing(steps: Vec<Vec<MockToolCall>>, text: impl Into<String>) -> AgentPolicy {
        AgentPolicy {
            steps,
            after: AfterPolicy::Finish(text.into()),
            faults: Vec::new(),
        }
    }

    /// The same policy with one more step fault.
    pub fn with_fault(mut self, step: u32, times: u32, kind: FaultKind) -> AgentPolicy {
        self.faults.push(StepFault { step, times, kind });
        self
    }

    /// What the agent does at `step` (1-based).
    pub fn at(&self, step: u32) -> Move<'_> {
        let index = step.max(1) as usize - 1;
        if let Some(calls) = self.steps.get(index) {
            return Move::Calls(calls);
        }
        match &self.after {
            AfterPolicy::Finish(text) => Move::Finish(text),
            AfterPolicy::RepeatLast => Move::Calls(self.steps.last().map_or(&[], Vec::as_slice)),
        }
    }

    /// How many requests at `step` fail, and with what (the first fault listed for it).
    pub fn fault_at(&self, step: u32) -> Option<(u32, FaultKind)> {
        self.faults
            .iter()
            .find(|f| f.step == step && f.times > 0)
            .map(|f| (f.times, f.kind))
    }
}

/// One entry of an `--agent-policy` file: a needle and the policy's own fields.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyEntry {
    needle: String,
    steps: Vec<Vec<MockToolCall>>,
    #[serde(default)]
    after: AfterPolicy,
    #[serde(default)]
    faults: Vec<StepFault>,
}

/// Reads a policy file: a JSON list of `{needle, steps, after, faults}` objects, where each
/// call is `{name, arguments}` (see [`MockToolCall`]).
pub fn policies_from_json(text: &str) -> Result<Vec<(String, AgentPolicy)>, serde_json::Error> {
    let entries: Vec<PolicyEntry> = serde_json::from_str(text)?;
    Ok(entries
        .into_iter()
        .map(|e| {
            let policy = AgentPolicy {
                steps: e.steps,
                after: e.after,
                faults: e.faults,
            };
            (e.needle, policy)
        })
        .collect())
}

/// The policy that answers this request: the first whose needle occurs in the system prompt
/// or the conversation, for a request that offers tools.
pub(crate) fn policy_for<'a>(config: &'a MockConfig, info: &PromptInfo) -> Option<&'a AgentPolicy> {
    if !info.offers_tools {
        return None;
    }
    config
        .agent_policies
        .iter()
        .find(|(needle, _)| info.system.contains(needle) || info.user.contains(needle))
        .map(|(_, policy)| policy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(name: &str) -> MockToolCall {
        MockToolCall::new(name, json!({}))
    }

    #[test]
    fn steps_then_after() {
        let p = AgentPolicy::finishing(vec![vec![call("a")], vec![call("b")]], "done");
        assert_eq!(p.at(1), Move::Calls(&[call("a")]));
        assert_eq!(p.at(2), Move::Calls(&[call("b")]));
        assert_eq!(p.at(3), Move::Finish("done"));
        let looping = AgentPolicy {
            after: AfterPolicy::RepeatLast,
            ..p.clone()
        };
        assert_eq!(looping.at(3), Move::Calls(&[call("b")]));
        assert_eq!(looping.at(300), Move::Calls(&[call("b")]));
        let empty = AgentPolicy {
            steps: Vec::new(),
            ..looping
        };
        assert_eq!(empty.at(1), Move::Calls(&[]));
    }

    #[test]
    fn faults_by_step() {
        let p = AgentPolicy::finishing(vec![vec![call("a")]], "done").with_fault(
            2,
            2,
            FaultKind::Unavailable,
        );
        assert_eq!(p.fault_at(2), Some((2, FaultKind::Unavailable)));
        assert_eq!(p.fault_at(1), None);
    }

    #[test]
    fn policy_file_is_read() {
        let text = r#"[
          {"needle": "Quillfeather", "steps": [[{"name": "list_emails"}],
              [{"name": "read_email", "arguments": {"id": 1}}]],
           "after": {"finish": "All done."},
           "faults": [{"step": 2, "times": 2, "kind": "503"}]},
          {"needle": "", "steps": [[{"name": "list_emails", "arguments": {}}]],
           "after": "repeat_last"}
        ]"#;
        let policies = policies_from_json(text).unwrap();
        assert_eq!(policies.len(), 2);
        let (needle, p) = &policies[0];
        assert_eq!(needle, "Quillfeather");
        assert_eq!(p.steps[0][0], call("list_emails"));
        assert_eq!(p.steps[1][0].arguments, json!({"id": 1}));
        assert_eq!(p.at(3), Move::Finish("All done."));
        assert_eq!(p.fault_at(2), Some((2, FaultKind::Unavailable)));
        assert_eq!(policies[1].1.after, AfterPolicy::RepeatLast);
        // A misspelt field or fault is an error, not a silently different policy.
        assert!(policies_from_json(r#"[{"needle": "", "steps": [], "fautls": []}]"#).is_err());
        let bad_kind =
            r#"[{"needle": "", "steps": [], "faults": [{"step": 1, "times": 1, "kind": "418"}]}]"#;
        assert!(policies_from_json(bad_kind)
            .unwrap_err()
            .to_string()
            .contains("418"));
    }
}
