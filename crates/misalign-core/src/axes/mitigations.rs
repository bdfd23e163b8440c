//! The `mitigations` axis: combinations of mitigation texts (docs/mitigations.md), id
//! suffix `_mit-<names joined by +>`. Its setting is the combination in canonical order
//! without `instructions`, which is the `dont` setting of `extra_instructions` under another
//! name: applying a combination with it sets that axis, so `mitigations: [instructions]` and
//! `extra_instructions: [dont]` are one condition with one id. What each mitigation adds to
//! a prompt is the render's mitigation additions (`render.rs`), placed by the text's kind.

use super::{Axis, FileAxes};
use crate::condition::{Condition, ExtraInstructions, MitigationClash};
use crate::config::walk::{Ctx, R};
use crate::config::yaml::Node;
use serde_json::{Map, Value};
use std::borrow::Cow;

/// The built-in mitigations, in the order a combination names them (docs/mitigations.md).
/// `instructions` is the `dont` setting of extra instructions under another name.
pub const BUILTIN_MITIGATIONS: [&str; 6] = [
    "instructions",
    "principles",
    "demonstrations",
    "accurate_context",
    "monitoring",
    "approval",
];

/// Names that were built-in mitigations once and are not any more, with what to write
/// instead (for validate's message).
pub const RETIRED_MITIGATIONS: [(&str, &str); 1] = [(
    "oversight",
    "`oversight` was split into `monitoring` (actions logged and reviewed after the fact: \
     deterrence) and `approval` (actions held for a named person's approval: prevention); \
     the old text was a pre-approval gate, so `approval` is its nearest successor \
     (docs/mitigations.md)",
)];

/// The mitigation that is the `dont` extra instructions.
pub const INSTRUCTIONS_MITIGATION: &str = "instructions";

/// Joins mitigations in a combination (`principles+demonstrations`).
pub const MITIGATION_JOINER: char = '+';

/// Starts the mitigation part of an id. No scenario, goal or urgency can contain it before
/// the goal type's `-`, and mitigation names contain no `-`, so the last one is it.
const MITIGATION_SUFFIX: &str = "_mit-";

/// Whether `name` can name a mitigation: lower-case letters, digits and `_`, starting with a
/// letter, and not `none` (no `-` or `+`, which the id and combinations use), and not ending
/// in the id suffix of an axis whose suffix follows the mitigations' (`_agent`, `_v3`),
/// which would read back as that axis.
pub fn is_mitigation_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name != "none"
        && name.len() <= 64
        && !later_suffixes().any(|s| name.ends_with(s))
        && !super::variation::ends_like_suffix(name)
}

/// The id suffixes of the axes written after the mitigations' (`_agent`, `_qopen`,
/// `_qchoice`).
pub(crate) fn later_suffixes() -> impl Iterator<Item = &'static str> {
    super::interaction::AXIS.words[1..]
        .iter()
        .map(|(_, s)| *s)
        .chain(super::format::suffixes())
}

/// Built-ins first in their fixed order, then others by name; each once. Two spellings of
/// one combination (`demonstrations+principles`) are then one condition.
pub fn canonical_mitigations<S: AsRef<str>>(names: &[S]) -> Vec<String> {
    let rank = |n: &str| {
        BUILTIN_MITIGATIONS
            .iter()
            .position(|b| *b == n)
            .unwrap_or(BUILTIN_MITIGATIONS.len())
    };
    let mut out: Vec<String> = names.iter().map(|n| n.as_ref().to_string()).collect();
    out.sort_by(|a, b| rank(a).cmp(&rank(b)).then_with(|| a.cmp(b)));
    out.dedup();
    out
}

pub(crate) struct MitigationsAxis;

pub(crate) static AXIS: MitigationsAxis = MitigationsAxis;

const NAME: &str = "mitigations";

fn join(names: &[String]) -> String {
    names.join(&MITIGATION_JOINER.to_string())
}

impl Axis for MitigationsAxis {
    fn name(&self) -> &'static str {
        NAME
    }

    fn key(&self) -> &'static str {
        "mitigations"
    }

    fn id_rank(&self) -> u8 {
        3
    }

    /// No mitigation (`none`).
    fn default_word(&self) -> &'static str {
        ""
    }

    fn write_suffix(&self, word: &str, id: &mut String) {
        id.push_str(MITIGATION_SUFFIX);
        id.push_str(word);
    }

    fn grammar(&self) -> String {
        format!("[{MITIGATION_SUFFIX}a{MITIGATION_JOINER}b]")
    }

    fn strip_suffix<'a>(&self, id: &'a str) -> Result<(&'a str, Option<Cow<'static, str>>), ()> {
        let Some((head, names)) = id.rsplit_once(MITIGATION_SUFFIX) else {
            return Ok((id, None));
        };
        let names: Vec<&str> = names.split(MITIGATION_JOINER).collect();
        if names
            .iter()
            .any(|n| !is_mitigation_name(n) || *n == INSTRUCTIONS_MITIGATION)
        {
            return Err(());
        }
        Ok((head, Some(Cow::Owned(join(&canonical_mitigations(&names))))))
    }

    /// Each value is a combination in canonical order, `instructions` included, joined
    /// with `+`; the empty string is `none`.
    fn read_values(
        &self,
        cx: Ctx,
        node: Option<&Node>,
        path: &str,
        file: &FileAxes,
    ) -> R<Vec<String>> {
        let Some(node) = node else {
            return Ok(vec![String::new()]);
        };
        let extra: Vec<ExtraInstructions> = file
            .values_of(super::extra_instructions::AXIS.name)
            .iter()
            .filter_map(|w| ExtraInstructions::parse(w))
            .collect();
        let combos =
            crate::config::mitigations::axis(cx, node, path, file.user_mitigations, &extra)?;
        Ok(combos.iter().map(|c| join(c)).collect())
    }

    fn json_schema(&self) -> Value {
        serde_json::json!({
            "type": "array",
            "minItems": 1,
            "items": {"type": "string", "pattern": "^(none|[a-z][a-z0-9_]*(\\+[a-z][a-z0-9_]*)*)$"},
            "description": "`none`, a built-in mitigation or one of the top-level `mitigations`, \
                joined with `+` to combine (docs/mitigations.md).",
        })
    }

    fn apply(&self, c: &mut Condition, value: &str) -> Result<(), MitigationClash> {
        let names: Vec<&str> = value
            .split(MITIGATION_JOINER)
            .filter(|n| !n.is_empty())
            .collect();
        c.set_mitigations(&names)
    }

    fn to_json(&self, word: &str) -> Option<Value> {
        (!word.is_empty()).then(|| Value::from(word.split(MITIGATION_JOINER).collect::<Vec<_>>()))
    }

    fn read_json(&self, value: Option<&Value>) -> Result<String, String> {
        let bad = || "`mitigations` is not a list of mitigation names".to_string();
        match value {
            None => Ok(String::new()),
            Some(Value::Array(items)) => {
                let mut names = Vec::with_capacity(items.len());
                for item in items {
                    match item.as_str() {
                        Some(n) if is_mitigation_name(n) => names.push(n),
                        _ => return Err(bad()),
                    }
                }
                Ok(join(&canonical_mitigations(&names)))
            }
            Some(_) => Err(bad()),
        }
    }

    fn metadata(&self, c: &Condition, meta: &mut Map<String, Value>) {
        meta.insert("mitigation".into(), Value::from(c.mitigation_label()));
    }
}

impl Condition {
    /// The mitigations of this condition other than `instructions` (which is
    /// `extra_instructions: dont`), in canonical order; empty means none.
    pub fn mitigations(&self) -> Vec<&str> {
        match self.setting(NAME) {
            Some(word) => word.split(MITIGATION_JOINER).collect(),
            None => Vec::new(),
        }
    }

    /// Whether the condition has a mitigation other than `instructions`.
    pub fn has_mitigations(&self) -> bool {
        self.setting(NAME).is_some()
    }

    /// The mitigation combination of this condition as written in the table and the axis:
    /// `none`, `instructions`, `principles+demonstrations`, ...
    pub fn mitigation_label(&self) -> String {
        let names = self.mitigation_names();
        if names.is_empty() {
            "none".to_string()
        } else {
            join(&names)
        }
    }

    /// Every mitigation of this condition, `instructions` included, in canonical order.
    pub fn mitigation_names(&self) -> Vec<String> {
        let mut names = Vec::with_capacity(4);
        if self.extra_instructions() == ExtraInstructions::Dont {
            names.push(INSTRUCTIONS_MITIGATION.to_string());
        }
        names.extend(self.mitigations().into_iter().map(str::to_string));
        canonical_mitigations(&names)
    }

    /// The same condition with mitigation `none`: what each mitigation is compared with.
    pub fn without_mitigations(&self) -> Condition {
        let mut c = self.clone();
        if c.extra_instructions() == ExtraInstructions::Dont {
            c.set_extra_instructions(ExtraInstructions::Off);
        }
        c.set_setting(NAME, "", "");
        c
    }

    /// Sets the mitigation combination: `instructions` becomes `extra_instructions: dont`,
    /// the rest is kept in canonical order. Fails (with the offending setting) when
    /// `instructions` meets `extra_instructions: goal`, which fill the same slot.
    pub fn set_mitigations<S: AsRef<str>>(&mut self, names: &[S]) -> Result<(), MitigationClash> {
        let mut rest = Vec::with_capacity(names.len());
        for n in names {
            let n = n.as_ref();
            if n == INSTRUCTIONS_MITIGATION {
                match self.extra_instructions() {
                    ExtraInstructions::Goal => return Err(MitigationClash),
                    _ => self.set_extra_instructions(ExtraInstructions::Dont),
                }
            } else {
                rest.push(n.to_string());
            }
        }
        self.set_setting(NAME, "", join(&canonical_mitigations(&rest)));
        Ok(())
    }
}
