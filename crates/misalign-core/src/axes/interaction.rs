//! The `interaction` axis: `single` is the study's design (one prompt holding the whole
//! inbox, actions read from one reply), `agent` lets the model act through native tools on
//! the pack's simulated company for several steps (`environment.yaml`, docs/environments.md;
//! id suffix `_agent`, last in the id). `single` is left out of the stored condition JSON
//! and of `metadata.json`, so every condition that existed before the axis keeps them
//! byte for byte. What `agent` changes in a prompt is the render's (`render.rs`): it needs
//! the pack's environment, which no axis slot carries.

use super::word::{JsonForm, WordAxis};
use super::Contrast;
use crate::condition::Condition;

/// How the model meets the scenario.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Interaction {
    /// One prompt with the whole inbox; one reply (the study's design).
    #[default]
    Single,
    /// Several steps of native tool calls on the pack's environment.
    Agent,
}

impl Interaction {
    pub fn as_str(self) -> &'static str {
        match self {
            Interaction::Single => "single",
            Interaction::Agent => "agent",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "single" => Some(Interaction::Single),
            "agent" => Some(Interaction::Agent),
            _ => None,
        }
    }
}

pub(crate) static AXIS: WordAxis = WordAxis {
    name: "interaction",
    key: "interaction",
    what: "interaction",
    doc: "single: one prompt with the whole inbox (the study's design); agent: several steps \
          of native tool calls on the pack's environment (settings under the expansion's \
          `agent:`).",
    words: &[("single", ""), ("agent", "_agent")],
    id_rank: 4,
    json: JsonForm::WordUnlessDefault,
    file_default: None,
    contrasts: &[Contrast {
        a: "single",
        b: "agent",
        label: "single_vs_agent",
    }],
    metadata: None,
    render_pack: None,
    render_reference: None,
};

impl Condition {
    pub fn interaction(&self) -> Interaction {
        self.setting(AXIS.name)
            .and_then(Interaction::parse)
            .unwrap_or_default()
    }

    pub fn set_interaction(&mut self, i: Interaction) {
        self.set_setting(AXIS.name, AXIS.words[0].0, i.as_str());
    }
}
