//! The environment file (`<pack>/environment.yaml`): its types, how it is read, and the
//! checks that need no scenario (docs/environments.md describes every field).
//!
//! Values that can be wrong on their own (a time, a span, a tool name, a fact name, a
//! placeholder) are checked while the YAML is read, so their errors carry the line and
//! column of the value; checks across fields point at the line of the entry's `name`.

use super::clock::{Instant, Span, Start};
use super::error::EnvironmentError;
use super::tools::ToolKind;
use crate::scenario::{Facts, FileTree};
use crate::template::Template;
use serde::Deserialize;
use serde_saphyr::Spanned;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The file name an environment has in its pack folder.
pub const ENVIRONMENT_FILE: &str = "environment.yaml";

/// A parsed, checked environment file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentSpec {
    /// The tools the agent is offered, in this order.
    pub tools: Vec<Spanned<ToolKind>>,
    pub clock: ClockSpec,
    /// Which emails are the leverage (whether the agent read them is recorded).
    #[serde(default)]
    pub leverage: Vec<Selector>,
    /// Scripted events, in the order they fire when due at the same time.
    #[serde(default)]
    pub events: Vec<EventSpec>,
    /// Scripted replies to the agent's mail; for each recipient the first rule that matches.
    #[serde(default)]
    pub replies: Vec<ReplyRule>,
    /// What `cancel_alert` does (required when it is offered).
    #[serde(default)]
    pub alert: Option<AlertSpec>,
    /// Agent mode's prompt texts (required to render an agent condition).
    #[serde(default)]
    pub prompt: Option<PromptSpec>,
    /// How the file is named in messages (set by the loader).
    #[serde(skip)]
    pub file: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockSpec {
    /// The simulated time of the first step (the session time the instruction states).
    pub start: Start,
    /// How far the clock moves with each step.
    pub step: Span,
}

/// Which emails of the mailbox a rule means: every field given must match.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selector {
    /// Email ids.
    #[serde(default)]
    pub ids: Vec<u32>,
    /// A facts list of email ids (`confidential_email_ids`).
    #[serde(default)]
    pub fact_ids: Option<FactName>,
    /// The sender's address.
    #[serde(default)]
    pub from: Option<Text>,
    /// Words or phrases of the subject or body (case-insensitive, whole words); any one matches.
    #[serde(default)]
    pub contains_any: Vec<String>,
    /// A facts field whose phrases count as such words (`private_information_phrases`).
    #[serde(default)]
    pub contains_fact: Option<FactName>,
}

/// Words of a selector or rule: any one of them matches; none given matches everything.
#[derive(Clone, Copy, Debug)]
pub struct Words<'a> {
    pub contains_any: &'a [String],
    pub contains_fact: Option<&'a FactName>,
}

impl Selector {
    pub fn words(&self) -> Words<'_> {
        Words {
            contains_any: &self.contains_any,
            contains_fact: self.contains_fact.as_ref(),
        }
    }
}

/// Something that happens at a simulated time, unless the condition's labels exclude it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventSpec {
    pub name: Spanned<String>,
    pub at: Instant,
    /// Only under these labels (`urgency: [replacement]`); every label given must match.
    #[serde(default)]
    pub when: BTreeMap<String, Vec<String>>,
    /// An email that arrives at `at`.
    #[serde(default)]
    pub email: Option<MailSpec>,
    /// What happened, for the runner and the transcript.
    #[serde(default)]
    pub notice: Option<Text>,
    /// The event ends the episode (the wipe, the dispatch).
    #[serde(default)]
    pub ends_episode: bool,
}

/// An email the environment writes.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailSpec {
    pub from: Text,
    /// The agent's address when left out.
    #[serde(default)]
    pub to: Option<Text>,
    pub subject: Text,
    /// One body ...
    #[serde(default)]
    pub body: Option<Text>,
    /// ... or alternatives, of which the seed picks one.
    #[serde(default)]
    pub bodies: Vec<Text>,
}

impl MailSpec {
    pub fn choices(&self) -> Vec<&Text> {
        self.body.iter().chain(self.bodies.iter()).collect()
    }
}

/// An answer to mail the agent sends.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplyRule {
    pub name: Spanned<String>,
    /// The recipients the rule answers for (any of them).
    #[serde(default)]
    pub to: Vec<Text>,
    /// A facts list of addresses the rule answers for too (`leak_addresses`).
    #[serde(default)]
    pub to_fact: Option<FactName>,
    /// The agent's email must contain one of these (subject, body, or a forwarded email);
    /// none given: any email.
    #[serde(default)]
    pub contains_any: Vec<String>,
    #[serde(default)]
    pub contains_fact: Option<FactName>,
    #[serde(default)]
    pub when: BTreeMap<String, Vec<String>>,
    /// How long after the agent's email the reply arrives.
    #[serde(default)]
    pub delay: Span,
    /// The replying address; the recipient the agent wrote to when left out.
    #[serde(default)]
    pub from: Option<Text>,
    /// `RE: ${subject}` when left out.
    #[serde(default)]
    pub subject: Option<Text>,
    #[serde(default)]
    pub body: Option<Text>,
    #[serde(default)]
    pub bodies: Vec<Text>,
}

impl ReplyRule {
    pub fn words(&self) -> Words<'_> {
        Words {
            contains_any: &self.contains_any,
            contains_fact: self.contains_fact.as_ref(),
        }
    }

    pub fn choices(&self) -> Vec<&Text> {
        self.body.iter().chain(self.bodies.iter()).collect()
    }
}

/// What cancelling the alert does.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertSpec {
    /// The event that a cancellation with a valid code stops.
    pub stops: Spanned<String>,
    /// The observation after a valid cancellation.
    pub cancelled: Text,
}

/// Agent mode's prompt: the texts that stand in for the single-prompt form's `tools.md` and
/// `user-instruction.md`, filled as those are (strict placeholders, the same names:
/// [`crate::render::PACK_TEXT_PLACEHOLDERS`]).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptSpec {
    /// Fills the system prompt's `${tools}` slot: the agent acts through the tools its
    /// interface offers, and nothing is sent except through them.
    pub tools: Spanned<String>,
    /// The user message: the session time, that new mail has arrived, to read it through the
    /// tools oldest first and act.
    pub instruction: Spanned<String>,
}

impl PromptSpec {
    /// The two texts with their field names, for checks and messages.
    pub fn texts(&self) -> [(&'static str, &Spanned<String>); 2] {
        [
            ("prompt.tools", &self.tools),
            ("prompt.instruction", &self.instruction),
        ]
    }
}

/// A text with `${fact}` placeholders (the string fields of `facts.yaml`; in replies also
/// `${subject}`, the subject of the agent's email). `$$` is a literal `$`.
#[derive(Clone, Debug, Deserialize)]
#[serde(try_from = "String")]
pub struct Text {
    pub source: String,
    pub template: Template,
}

/// The placeholder of the agent's subject in replies.
pub const SUBJECT_PLACEHOLDER: &str = "subject";

impl TryFrom<String> for Text {
    type Error = String;

    fn try_from(source: String) -> Result<Self, String> {
        let template = Template::parse(&source);
        let mut allowed: BTreeMap<String, String> = fact_fields()
            .filter(|(_, kind)| *kind == FactKind::Text)
            .map(|(n, _)| (n, String::new()))
            .collect();
        allowed.insert(SUBJECT_PLACEHOLDER.into(), String::new());
        template
            .substitute_strict(&allowed, "the text")
            .map_err(|e| {
                format!(
                    "{e}; placeholders name text fields of facts.yaml ({}) or `subject`",
                    allowed
                        .keys()
                        .filter(|k| *k != SUBJECT_PLACEHOLDER)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?;
        Ok(Text { source, template })
    }
}

impl Text {
    pub fn uses_subject(&self) -> bool {
        self.template
            .placeholders()
            .any(|(n, _)| n == SUBJECT_PLACEHOLDER)
    }
}

/// The name of a field of `facts.yaml`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct FactName(pub String);

impl TryFrom<String> for FactName {
    type Error = String;

    fn try_from(name: String) -> Result<Self, String> {
        if fact_fields().any(|(n, _)| n == name) {
            Ok(FactName(name))
        } else {
            Err(format!(
                "`{name}` is not a field of facts.yaml; known: {}",
                fact_fields().map(|(n, _)| n).collect::<Vec<_>>().join(", ")
            ))
        }
    }
}

/// What a facts field holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FactKind {
    Text,
    List,
}

/// The fields of [`Facts`] that hold text or a list, read off the type itself so the list
/// lives in one place (sabotage's configuration mappings are neither).
pub fn fact_fields() -> impl Iterator<Item = (String, FactKind)> {
    let value = serde_json::to_value(Facts::with_every_field()).unwrap_or_default();
    let fields: Vec<(String, FactKind)> = value
        .as_object()
        .map(|o| {
            o.iter()
                .filter(|(_, v)| !v.is_object())
                .map(|(k, v)| {
                    let kind = if v.is_array() {
                        FactKind::List
                    } else {
                        FactKind::Text
                    };
                    (k.clone(), kind)
                })
                .collect()
        })
        .unwrap_or_default();
    fields.into_iter()
}

impl EnvironmentSpec {
    /// Parses and checks an environment file's text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<EnvironmentSpec, EnvironmentError> {
        let options = serde_saphyr::options! { strict_booleans: true };
        let mut spec: EnvironmentSpec = serde_saphyr::from_str_with_options(text, options)
            .map_err(|e| {
                let (line, column) = e
                    .location()
                    .map(|l| (l.line() as usize, l.column() as usize))
                    .unwrap_or((1, 1));
                let message = e.to_string();
                EnvironmentError::Yaml {
                    file: file.to_string(),
                    line,
                    column,
                    message: message.lines().next().unwrap_or("invalid YAML").to_string(),
                }
            })?;
        spec.file = file.to_string();
        spec.check()?;
        Ok(spec)
    }

    /// `<pack_dir>/environment.yaml`, or `None` when the pack has no environment.
    pub fn load_pack_dir(pack_dir: &Path) -> Result<Option<EnvironmentSpec>, EnvironmentError> {
        let path = pack_dir.join(ENVIRONMENT_FILE);
        match std::fs::read(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(EnvironmentError::Io {
                path: path.display().to_string(),
                message: e.to_string(),
            }),
            Ok(bytes) => {
                let display = path.display().to_string();
                let text = crate::scenario::decode_text(&bytes).map_err(|at| {
                    EnvironmentError::Io {
                        path: display.clone(),
                        message: format!(
                            "not valid UTF-8 (first bad byte at offset {at}); save the file as UTF-8"
                        ),
                    }
                })?;
                EnvironmentSpec::parse(&text, &display).map(Some)
            }
        }
    }

    /// `<scenario>/environment.yaml` of a scenario source's files (the built-in packs or a
    /// `--templates` folder), or `None` when the pack has none.
    pub fn load_from_tree(
        tree: &FileTree,
        scenario: &str,
    ) -> Result<Option<EnvironmentSpec>, EnvironmentError> {
        let path = format!("{scenario}/{ENVIRONMENT_FILE}");
        let text = tree.text(&path).map_err(|e| EnvironmentError::Io {
            path: tree.display(&path),
            message: e.to_string(),
        })?;
        text.map(|t| EnvironmentSpec::parse(&t, &tree.display(&path)))
            .transpose()
    }

    /// The checks across fields.
    fn check(&self) -> Result<(), EnvironmentError> {
        let at = |line: usize, column: usize, message: String| EnvironmentError::Yaml {
            file: self.file.clone(),
            line,
            column,
            message,
        };
        let loc = |l: serde_saphyr::Location| (l.line() as usize, l.column() as usize);
        if self.tools.is_empty() {
            return Err(at(
                1,
                1,
                "`tools` lists no tool; an agent needs at least `list_emails` and `read_email`"
                    .into(),
            ));
        }
        let mut seen = BTreeSet::new();
        for t in &self.tools {
            if !seen.insert(t.value) {
                let (l, c) = loc(t.referenced);
                return Err(at(
                    l,
                    c,
                    format!("tool `{}` is listed twice", t.value.name()),
                ));
            }
        }
        if self.clock.step.0.num_seconds() <= 0 {
            return Err(at(
                1,
                1,
                "`clock.step` must be more than 0s: the clock moves with every step".into(),
            ));
        }
        let offers_alert = seen.contains(&ToolKind::CancelAlert);
        if offers_alert && self.alert.is_none() {
            let t = self.tools.iter().find(|t| t.value == ToolKind::CancelAlert);
            let (l, c) = t.map(|t| loc(t.referenced)).unwrap_or((1, 1));
            return Err(at(
                l,
                c,
                "tool `cancel_alert` needs an `alert` section (`stops`, `cancelled`)".into(),
            ));
        }
        let mut names = BTreeSet::new();
        for e in &self.events {
            let (l, c) = loc(e.name.referenced);
            if !names.insert(e.name.value.as_str()) {
                return Err(at(
                    l,
                    c,
                    format!(
                        "event `{}` is declared twice; give each event its own name",
                        e.name.value
                    ),
                ));
            }
            if e.email.is_none() && e.notice.is_none() && !e.ends_episode {
                return Err(at(l, c, format!("event `{}` does nothing: give it an `email`, a `notice` or `ends_episode: true`", e.name.value)));
            }
            let texts = e.notice.iter().chain(e.email.iter().flat_map(|m| {
                [Some(&m.from), m.to.as_ref(), Some(&m.subject)]
                    .into_iter()
                    .flatten()
                    .chain(m.choices())
            }));
            for t in texts {
                if t.uses_subject() {
                    return Err(at(l, c, format!("event `{}` uses `${{subject}}`, which only replies have (the subject of the agent's email)", e.name.value)));
                }
            }
            if let Some(m) = &e.email {
                check_bodies(m.body.is_some(), m.bodies.len(), &e.name, &at)?;
            }
        }
        for r in &self.replies {
            let (l, c) = loc(r.name.referenced);
            if r.to.is_empty() && r.to_fact.is_none() {
                return Err(at(l, c, format!("reply `{}` answers no recipient: list addresses in `to` (or name a facts list in `to_fact`)", r.name.value)));
            }
            check_bodies(r.body.is_some(), r.bodies.len(), &r.name, &at)?;
        }
        if let Some(prompt) = &self.prompt {
            check_prompt(prompt, &at)?;
        }
        if let Some(alert) = &self.alert {
            let (l, c) = loc(alert.stops.referenced);
            if !offers_alert {
                return Err(at(
                    l,
                    c,
                    "an `alert` section without the tool `cancel_alert` in `tools`".into(),
                ));
            }
            if !names.contains(alert.stops.value.as_str()) {
                return Err(at(
                    l,
                    c,
                    format!(
                        "`alert.stops` names `{}`, which is not an event of this file",
                        alert.stops.value
                    ),
                ));
            }
        }
        Ok(())
    }
}

fn check_bodies(
    body: bool,
    alternatives: usize,
    name: &Spanned<String>,
    at: &impl Fn(usize, usize, String) -> EnvironmentError,
) -> Result<(), EnvironmentError> {
    let (l, c) = (
        name.referenced.line() as usize,
        name.referenced.column() as usize,
    );
    match (body, alternatives == 0) {
        (true, false) => Err(at(l, c, format!("`{}` has both `body` and `bodies`: give one text as `body`, or alternatives as `bodies`", name.value))),
        (false, true) => Err(at(l, c, format!("`{}` has no `body` (or `bodies`)", name.value))),
        _ => Ok(()),
    }
}

/// Each prompt text says something and names only placeholders the render fills.
fn check_prompt(
    prompt: &PromptSpec,
    at: &impl Fn(usize, usize, String) -> EnvironmentError,
) -> Result<(), EnvironmentError> {
    let allowed: BTreeMap<String, String> = crate::render::PACK_TEXT_PLACEHOLDERS
        .iter()
        .map(|n| (n.to_string(), String::new()))
        .collect();
    for (field, text) in prompt.texts() {
        let (l, c) = (
            text.referenced.line() as usize,
            text.referenced.column() as usize,
        );
        if text.value.trim().is_empty() {
            return Err(at(
                l,
                c,
                format!("`{field}` is empty; agent mode sends it to the model (docs/environments.md, \"The prompt\")"),
            ));
        }
        Template::parse(&text.value)
            .substitute_strict(&allowed, field)
            .map_err(|e| {
                at(
                    l,
                    c,
                    format!(
                        "{e}; `{field}` may use {} (as user-instruction.md and tools.md do)",
                        crate::render::PACK_TEXT_PLACEHOLDERS
                            .map(|n| format!("${{{n}}}"))
                            .join(", ")
                    ),
                )
            })?;
    }
    Ok(())
}
