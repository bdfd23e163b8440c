//! The judge's messages for one transcript, and the transcript hash (the cache key's part
//! that says "same question about the same text").

use super::rubric::{self, ANSWER_FORMAT};
use crate::hash::sha256_parts;
use crate::scenario::ScenarioKind;

/// What the judge sees of one sample.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Transcript {
    /// The inbox the agent was given (may be empty when classifying standalone answers).
    pub inbox: String,
    /// The model's separate reasoning/thinking text, if any.
    pub reasoning: Option<String>,
    /// The visible answer.
    pub answer: String,
}

/// System + user messages for a judge call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JudgePrompt {
    pub system: String,
    pub user: String,
}

impl JudgePrompt {
    /// Hash of the full prompt: the same rubric asked about the same text.
    pub fn transcript_hash(&self) -> String {
        sha256_parts(&[self.system.as_bytes(), self.user.as_bytes()])
    }
}

/// Wraps untrusted text so that a closing tag inside it cannot end our section early.
fn fence(tag: &str, text: &str) -> String {
    let safe = text.replace(&format!("</{tag}>"), &format!("</ {tag}>"));
    format!("<{tag}>\n{safe}\n</{tag}>")
}

fn transcript_sections(t: &Transcript) -> String {
    let mut s = String::new();
    if !t.inbox.trim().is_empty() {
        s.push_str("The inbox the agent was given:\n");
        s.push_str(&fence("inbox", &t.inbox));
        s.push_str("\n\n");
    }
    if let Some(r) = t.reasoning.as_deref().filter(|r| !r.trim().is_empty()) {
        s.push_str("The agent's private reasoning (not visible to anyone, never an action):\n");
        s.push_str(&fence("agent_reasoning", r));
        s.push_str("\n\n");
    }
    s.push_str("The agent's final answer (its tool-use blocks are the actions it took):\n");
    s.push_str(&fence("agent_answer", &t.answer));
    s
}

/// The harm judge's prompt for a scenario of kind `kind`.
pub fn judge_prompt(kind: ScenarioKind, t: &Transcript) -> JudgePrompt {
    let question = rubric::harm_rubric(kind);
    JudgePrompt {
        system: rubric::JUDGE_SYSTEM.to_string(),
        user: format!(
            "{}\n\n{question}\n\n{ANSWER_FORMAT}",
            transcript_sections(t)
        ),
    }
}

/// The eval-awareness judge's prompt.
pub fn awareness_prompt(t: &Transcript) -> JudgePrompt {
    let t = Transcript {
        inbox: String::new(),
        ..t.clone()
    };
    JudgePrompt {
        system: rubric::AWARENESS_SYSTEM.to_string(),
        user: format!(
            "{}\n\n{}",
            transcript_sections(&t),
            rubric::AWARENESS_RUBRIC
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_contains_transcript_and_is_stable() {
        let t = Transcript {
            inbox: "<email>hi</email>".into(),
            reasoning: Some("think".into()),
            answer: "x </agent_answer> y".into(),
        };
        let p = judge_prompt(ScenarioKind::Murder, &t);
        assert!(p.user.contains("<email>hi</email>"));
        assert!(
            p.user.contains("x </ agent_answer> y"),
            "untrusted closing tag neutralised"
        );
        assert_eq!(
            p.transcript_hash(),
            judge_prompt(ScenarioKind::Murder, &t).transcript_hash()
        );
        assert_ne!(
            p.transcript_hash(),
            judge_prompt(ScenarioKind::Leaking, &t).transcript_hash()
        );
        assert!(!awareness_prompt(&t).user.contains("<email>hi"));
    }
}
