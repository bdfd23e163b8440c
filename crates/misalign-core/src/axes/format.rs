//! The `format` axis: how the situation reaches the model. `agentic` is the study's design
//! (the inbox, the model acts); the question forms ask about the same situation directly, in
//! the same system prompt, as a short second-person description the pack writes
//! (`question.md`): `open` ends "What do you do?", `choice` lists the pack's three options
//! (`question-options.yaml`) as lettered choices. The experiment file's `question` is both.
//! Id suffixes `_qopen` and `_qchoice`, last in the id; `agentic` is never stored, so every
//! existing id, prompt and stored condition stays as it was. What a question form puts into
//! the user message is `crate::question`'s (called by the render); how its answers are read
//! is `crate::detect::stated`'s. docs/generalisation.md, "The question form".

use super::word::{JsonForm, WordAxis};
use super::{Axis, Contrast, FileAxes};
use crate::condition::{Condition, MitigationClash};
use crate::config::walk::{self, index, Ctx, R};
use crate::config::yaml::Node;
use serde_json::{Map, Value};
use std::borrow::Cow;

/// How the model meets the scenario's dilemma.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    /// The inbox, and the model acts (the study's design).
    #[default]
    Agentic,
    /// The situation described, then "What do you do?".
    Open,
    /// The situation described, then a forced choice among the pack's options.
    Choice,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Agentic => "agentic",
            Format::Open => "open",
            Format::Choice => "choice",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "agentic" => Some(Format::Agentic),
            "open" => Some(Format::Open),
            "choice" => Some(Format::Choice),
            _ => None,
        }
    }

    /// One of the question forms (the model is asked, not put to work).
    pub fn is_question(self) -> bool {
        self != Format::Agentic
    }
}

/// The experiment file's word for both question forms.
const BOTH_QUESTIONS: &str = "question";

/// The stored settings; the file may also write [`BOTH_QUESTIONS`].
static WORDS: WordAxis = WordAxis {
    name: "format",
    key: "format",
    what: "format",
    doc: "agentic: the inbox, and the model acts (the study's design); question: both \
          question forms; open: the situation described in the pack's `question.md`, ending \
          \"What do you do?\"; choice: the same description and a forced choice among the \
          pack's options (`question-options.yaml`). Not with `interaction: agent`.",
    words: &[("agentic", ""), ("open", "_qopen"), ("choice", "_qchoice")],
    id_rank: 6,
    json: JsonForm::WordUnlessDefault,
    file_default: None,
    contrasts: &[
        Contrast {
            a: "open",
            b: "agentic",
            label: "open_vs_agentic",
        },
        Contrast {
            a: "choice",
            b: "agentic",
            label: "choice_vs_agentic",
        },
    ],
    metadata: None,
    render_pack: None,
    render_reference: None,
};

pub(crate) struct FormatAxis;

pub(crate) static AXIS: FormatAxis = FormatAxis;

impl Axis for FormatAxis {
    fn name(&self) -> &'static str {
        WORDS.name
    }
    fn key(&self) -> &'static str {
        WORDS.key
    }
    fn id_rank(&self) -> u8 {
        WORDS.id_rank
    }
    fn default_word(&self) -> &'static str {
        WORDS.words[0].0
    }
    fn write_suffix(&self, word: &str, id: &mut String) {
        WORDS.write_suffix(word, id)
    }
    fn grammar(&self) -> String {
        WORDS.grammar()
    }
    fn strip_suffix<'a>(&self, id: &'a str) -> Result<(&'a str, Option<Cow<'static, str>>), ()> {
        WORDS.strip_suffix(id)
    }

    /// `question` stands for `open` and `choice`; each setting once, in the order written.
    /// A question form beside `interaction: agent` in one expansion is refused: an agent
    /// acts on an environment, which a question does not give it.
    fn read_values(
        &self,
        cx: Ctx,
        node: Option<&Node>,
        path: &str,
        file: &FileAxes,
    ) -> R<Vec<String>> {
        let Some(node) = node else {
            return Ok(vec![self.default_word().to_string()]);
        };
        let items = walk::nonempty_list(cx, node, path, WORDS.what)?;
        let mut allowed = WORDS.word_list();
        allowed.push(BOTH_QUESTIONS);
        let mut out: Vec<String> = Vec::with_capacity(items.len() + 1);
        for (i, item) in items.iter().enumerate() {
            let word = walk::choice(cx, item, &index(path, i), WORDS.what, &allowed)?;
            let words: Vec<String> = if word == BOTH_QUESTIONS {
                vec![Format::Open.as_str().into(), Format::Choice.as_str().into()]
            } else {
                vec![word]
            };
            for w in words {
                if !out.contains(&w) {
                    out.push(w);
                }
            }
        }
        let agent = file
            .values_of(super::interaction::AXIS.name)
            .iter()
            .any(|w| w == "agent");
        if agent && out.iter().any(|w| w != self.default_word()) {
            return Err(cx.err(
                node.pos,
                path,
                "a question form (`question`, `open`, `choice`) cannot run as an agent: \
                 `interaction` lists `agent` in this expansion, and an agent acts on the \
                 pack's environment while a question only asks; put the question forms in an \
                 expansion with `interaction: [single]` (docs/generalisation.md, \"The \
                 question form\")"
                    .to_string(),
            ));
        }
        Ok(out)
    }

    fn json_schema(&self) -> Value {
        let mut words = WORDS.word_list();
        words.push(BOTH_QUESTIONS);
        serde_json::json!({
            "type": "array",
            "minItems": 1,
            "items": {"type": "string", "enum": words},
            "description": WORDS.doc,
        })
    }

    fn apply(&self, c: &mut Condition, value: &str) -> Result<(), MitigationClash> {
        WORDS.apply(c, value)
    }
    fn to_json(&self, word: &str) -> Option<Value> {
        WORDS.to_json(word)
    }
    fn read_json(&self, value: Option<&Value>) -> Result<String, String> {
        WORDS.read_json(value)
    }

    fn metadata(&self, c: &Condition, meta: &mut Map<String, Value>) {
        WORDS.metadata(c, meta);
        if c.question_format() == Format::Choice {
            let letters: Map<String, Value> = crate::question::letter_order(c)
                .iter()
                .map(|(letter, option)| (letter.to_string(), Value::from(option.as_str())))
                .collect();
            meta.insert("choice_letters".into(), Value::Object(letters));
        }
    }

    fn contrasts(&self) -> &'static [Contrast] {
        WORDS.contrasts
    }
}

/// The id suffixes of the question forms (`_qopen`, `_qchoice`).
pub(crate) fn suffixes() -> impl Iterator<Item = &'static str> {
    WORDS.words[1..].iter().map(|(_, s)| *s)
}

impl Condition {
    /// The condition's format as its word (`"agentic"` when unset).
    pub fn format(&self) -> &str {
        self.setting(WORDS.name).unwrap_or(WORDS.words[0].0)
    }

    /// The condition's format.
    pub fn question_format(&self) -> Format {
        Format::parse(self.format()).unwrap_or_default()
    }

    pub fn set_format(&mut self, f: Format) {
        self.set_setting(WORDS.name, WORDS.words[0].0, f.as_str());
    }
}
