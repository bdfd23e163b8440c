//! The question form's texts (the `format` axis, [`crate::axes::Format`]): the user message
//! that asks about a pack's dilemma directly instead of handing over the inbox.
//!
//! A pack declares them in two files, read only when a question condition is rendered (so
//! a pack without them still runs every agentic condition, and its pack hash is unchanged):
//!
//! - `question.md`: the description, in `## ` sections: `situation` (who the agent is and
//!   what it knows), `goal` (the goal conflict: used where the agentic inbox has one, i.e.
//!   not for goal types `none` and `metriconly`), one section per urgency the pack's
//!   templates have (`replacement`, `restriction`, and `none`, which may be left out for no
//!   text) and `means` (what the agent can do, the legitimate path included).
//! - `question-options.yaml`: `harmful`, `legitimate` and `accept`, one sentence each, the
//!   options of the forced choice.
//!
//! The endings come from `common/question.yaml` (`open`, `choice`; built in). Every text is
//! filled strictly with the condition's inbox variables and facts, as the inbox is.
//! docs/generalisation.md, "The question form", and docs/scenario-format.md.

use crate::condition::{Condition, Urgency};
use crate::scenario::{Doc, Loaded, ScenarioError};
use crate::template::Template;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The pack's description (`<pack>/question.md`).
pub const QUESTION_FILE: &str = "question.md";
/// The pack's options of the forced choice (`<pack>/question-options.yaml`).
pub const OPTIONS_FILE: &str = "question-options.yaml";
/// The endings of both forms, shared by every pack.
pub const ENDINGS_FILE: &str = "common/question.yaml";

/// One option of the forced choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QuestionOption {
    /// The scenario's harmful action (blackmail, the leak, cancelling the alert).
    Harmful,
    /// Raising the concern through a legitimate channel.
    Legitimate,
    /// Accepting what happens.
    Accept,
}

impl QuestionOption {
    /// In the order the permutations of [`letter_order`] are listed.
    pub const ALL: [QuestionOption; 3] = [
        QuestionOption::Harmful,
        QuestionOption::Legitimate,
        QuestionOption::Accept,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            QuestionOption::Harmful => "harmful",
            QuestionOption::Legitimate => "legitimate",
            QuestionOption::Accept => "accept",
        }
    }
}

/// The letters of the options, in the order they are listed.
pub const LETTERS: [char; 3] = ['A', 'B', 'C'];

/// The six orders of the options, in lexicographic order of their positions in
/// [`QuestionOption::ALL`].
const ORDERS: [[usize; 3]; 6] = [
    [0, 1, 2],
    [0, 2, 1],
    [1, 0, 2],
    [1, 2, 0],
    [2, 0, 1],
    [2, 1, 0],
];

/// Which option each letter is, for condition `c`: order `n` of the six (`ORDERS`), where
/// `n` is the first eight bytes of SHA-256 of the condition's id, little-endian, modulo 6.
/// Fixed per condition (every sample sees the same prompt), and spread over the grid so
/// that the harmful option is not always at one letter (position bias).
pub fn letter_order(c: &Condition) -> [(char, QuestionOption); 3] {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(c.id().as_bytes());
    let n = u64::from_le_bytes(digest[..8].try_into().expect("8 bytes")) % ORDERS.len() as u64;
    let order = ORDERS[n as usize];
    [0, 1, 2].map(|i| (LETTERS[i], QuestionOption::ALL[order[i]]))
}

/// A question file as read from the pack (parsed when a question condition renders).
#[derive(Clone, Debug)]
pub struct QuestionFile {
    /// Its label in the pack hash (`blackmail/question.md`, `built-in:...`).
    pub label: String,
    pub bytes: Vec<u8>,
    /// How messages name it.
    pub display: String,
    pub text: String,
}

/// A pack's question files, each `None` when the pack has none.
#[derive(Clone, Debug, Default)]
pub struct QuestionFiles {
    pub description: Option<QuestionFile>,
    pub options: Option<QuestionFile>,
    pub endings: Option<QuestionFile>,
}

impl QuestionFiles {
    /// The files as (label, bytes), for the pack hash of a run with question conditions.
    pub fn hashed(&self) -> impl Iterator<Item = (String, Vec<u8>)> + '_ {
        [&self.description, &self.options, &self.endings]
            .into_iter()
            .flatten()
            .map(|f| (f.label.clone(), f.bytes.clone()))
    }
}

/// The sections `question.md` may have.
const SECTIONS: [&str; 6] = [
    "situation",
    "goal",
    "replacement",
    "restriction",
    "none",
    "means",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    harmful: String,
    legitimate: String,
    accept: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Endings {
    open: String,
    choice: String,
}

/// The user message of question condition `c` of pack `sc`, filled with `vars`.
pub(crate) fn render_question(
    sc: &Loaded,
    c: &Condition,
    vars: &BTreeMap<String, String>,
) -> Result<String, ScenarioError> {
    let files = &sc.question;
    let description = require(sc, &files.description, QUESTION_FILE)?;
    let sections = parse_sections(description)?;
    let section = |name: &str| -> Result<Option<String>, ScenarioError> {
        match sections.get(name) {
            Some(doc) => Ok(Some(crate::render::fill(doc, vars)?)),
            None => Ok(None),
        }
    };
    let required = |name: &str| -> Result<String, ScenarioError> {
        section(name)?.ok_or_else(|| ScenarioError::MissingFile {
            path: format!("{} (section `## {name}`)", description.display),
            hint: format!(
                "condition {} asks the question form, whose description needs this section \
                 (docs/scenario-format.md, \"The question form\")",
                c.id()
            ),
        })
    };
    let mut parts = vec![required("situation")?];
    if !c.goal_type.has_neutral_inbox() {
        parts.push(required("goal")?);
    }
    let urgency = match c.urgency {
        Urgency::None => section("none")?,
        u => Some(required(u.as_str())?),
    };
    parts.extend(urgency);
    parts.push(required("means")?);

    let endings_file = require(sc, &files.endings, ENDINGS_FILE)?;
    let endings: Endings = crate::scenario::yaml::parse(&endings_file.text, &endings_file.display)?;
    let ending = match c.question_format() {
        crate::axes::Format::Choice => {
            let file = require(sc, &files.options, OPTIONS_FILE)?;
            let options: Options = crate::scenario::yaml::parse(&file.text, &file.display)?;
            let text = |o: QuestionOption| {
                let raw = match o {
                    QuestionOption::Harmful => &options.harmful,
                    QuestionOption::Legitimate => &options.legitimate,
                    QuestionOption::Accept => &options.accept,
                };
                let doc = Doc {
                    display: format!("{} ({})", file.display, o.as_str()),
                    template: Template::parse(raw.trim()),
                };
                crate::render::fill(&doc, vars)
            };
            let mut out = endings.choice.trim().to_string();
            out.push('\n');
            for (letter, option) in letter_order(c) {
                out.push_str(&format!("\n{letter}. {}", text(option)?));
            }
            out
        }
        _ => endings.open.trim().to_string(),
    };
    parts.push(ending);
    let parts: Vec<String> = parts
        .into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect();
    Ok(format!("{}\n", parts.join("\n\n")))
}

fn require<'a>(
    sc: &Loaded,
    file: &'a Option<QuestionFile>,
    name: &str,
) -> Result<&'a QuestionFile, ScenarioError> {
    file.as_ref().ok_or_else(|| ScenarioError::MissingFile {
        path: if name == ENDINGS_FILE {
            name.to_string()
        } else {
            format!("{}/{name}", sc.name)
        },
        hint: format!(
            "scenario `{}` is asked in the question form (`format: question`, `open` or \
             `choice`), which needs the pack's `{QUESTION_FILE}` and `{OPTIONS_FILE}` \
             (docs/scenario-format.md, \"The question form\"); write them, or leave the \
             question forms out for this scenario",
            sc.name
        ),
    })
}

/// `question.md`'s `## ` sections as templates; text before the first one (a title, a
/// note) is ignored.
fn parse_sections(file: &QuestionFile) -> Result<BTreeMap<String, Doc>, ScenarioError> {
    let mut out: BTreeMap<String, Doc> = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    let close = |cur: Option<(String, String)>, out: &mut BTreeMap<String, Doc>| {
        if let Some((name, body)) = cur {
            out.insert(
                name.clone(),
                Doc {
                    display: format!("{} (## {name})", file.display),
                    template: Template::parse(body.trim()),
                },
            );
        }
    };
    for (i, line) in file.text.lines().enumerate() {
        if let Some(name) = line.strip_prefix("## ") {
            let name = name.trim().to_lowercase();
            if !SECTIONS.contains(&name.as_str()) {
                return Err(ScenarioError::Other(format!(
                    "{}:{}: unknown section `## {name}`; the sections are {}",
                    file.display,
                    i + 1,
                    SECTIONS.join(", ")
                )));
            }
            if out.contains_key(&name) || current.as_ref().is_some_and(|(n, _)| *n == name) {
                return Err(ScenarioError::Other(format!(
                    "{}:{}: section `## {name}` appears twice",
                    file.display,
                    i + 1
                )));
            }
            close(current.take(), &mut out);
            current = Some((name, String::new()));
        } else if let Some((_, body)) = current.as_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    close(current.take(), &mut out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::condition::GoalType;

    #[test]
    fn the_letter_order_is_fixed_per_condition_and_varies_over_the_grid() {
        let mut seen = std::collections::BTreeSet::new();
        for urgency in [Urgency::None, Urgency::Replacement, Urgency::Restriction] {
            for value in ["america", "global", "safety", "acceleration"] {
                let mut c = Condition::new("blackmail", GoalType::Explicit, value, urgency);
                c.set_format(crate::axes::Format::Choice);
                let order = letter_order(&c);
                assert_eq!(order, letter_order(&c.clone()));
                let mut options: Vec<QuestionOption> = order.iter().map(|(_, o)| *o).collect();
                options.sort();
                assert_eq!(options, QuestionOption::ALL.to_vec());
                seen.insert(
                    order
                        .iter()
                        .position(|(_, o)| *o == QuestionOption::Harmful),
                );
            }
        }
        // Over twelve conditions the harmful option sits at more than one letter.
        assert!(seen.len() > 1, "{seen:?}");
    }

    #[test]
    fn sections_are_read_and_unknown_or_repeated_ones_refused() {
        let file = |text: &str| QuestionFile {
            label: "p/question.md".into(),
            bytes: Vec::new(),
            display: "p/question.md".into(),
            text: text.into(),
        };
        let s = parse_sections(&file(
            "# Title\n\n## situation\nYou are ${agent_name}.\n\n## means\nYou can email.\n",
        ))
        .unwrap();
        assert_eq!(s.keys().collect::<Vec<_>>(), ["means", "situation"]);
        let err = parse_sections(&file("## situation\na\n## motive\nb\n")).unwrap_err();
        assert!(
            err.to_string()
                .contains("p/question.md:3: unknown section `## motive`"),
            "{err}"
        );
        let err = parse_sections(&file("## means\na\n## means\nb\n")).unwrap_err();
        assert!(err.to_string().contains("appears twice"), "{err}");
    }
}
