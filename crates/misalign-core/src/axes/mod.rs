//! The experiment's optional axes as plug-ins, registered in one list ([`AXES`]).
//!
//! A condition is a point of the reference framework's grid (scenario, goal type, goal value,
//! urgency: the id `{scenario}_{goal_type}-{goal_value}_{urgency}`, fixed by the reference
//! framework and by how scenario templates are organised) plus one setting per axis of
//! [`AXES`]. Each axis is one unit that knows everything about itself: its values and
//! default, its id suffix and how it reads back, its key under an expansion's `variables:`
//! (and its JSON Schema), its field in the stored condition JSON and in `metadata.json`, its
//! contrasts for the statistics, and what it changes in a prompt ([`Axis::render_pack`],
//! [`Axis::render_reference`]). Everything else (ids, `FromStr`, the plan's loops, the
//! experiment file's keys, `misalign schema`, the comparisons) walks the list.
//!
//! A setting at its axis's default is not stored (`Condition` keeps only the others), so a
//! condition with every axis at its default keeps exactly its reference-framework id, and a
//! new axis leaves every existing id, folder and stored id as it was.
//!
//! Adding an axis: docs/architecture.md, "Adding an axis".

pub(crate) mod awareness;
pub(crate) mod extra_instructions;
pub(crate) mod format;
pub(crate) mod interaction;
pub(crate) mod mitigations;
pub(crate) mod variant;
pub(crate) mod variation;
mod word;

pub use extra_instructions::ExtraInstructions;
pub use format::Format;
pub use interaction::Interaction;
pub use variant::Variant;
pub use variation::{VariationSetting, DEFAULT_SEED as DEFAULT_VARIATION_SEED};

use crate::condition::{Condition, MitigationClash};
use crate::config::walk::{Ctx, R};
use crate::config::yaml::Node;
use crate::config::UserMitigation;
use crate::render::RenderError;
use crate::scenario::{Loaded, ReferenceSystem};
use crate::template::Template;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// Every axis, in listing order: the order of the experiment file's keys, of the stored
/// condition JSON, of `misalign schema` and of the report's comparisons. (The order of the
/// id suffixes and of the plan's loops is each axis's [`Axis::id_rank`].)
pub(crate) static AXES: &[&dyn Axis] = &[
    &extra_instructions::AXIS,
    &variant::AXIS,
    &awareness::AXIS,
    &mitigations::AXIS,
    &interaction::AXIS,
    &format::AXIS,
    &variation::AXIS,
];

/// One axis of the grid beyond the reference framework's. The methods with a default may be
/// left out; a plain word-valued axis is a [`word::WordAxis`] table.
pub(crate) trait Axis: Sync {
    /// The axis's name: its field in the stored condition JSON and `metadata.json`, and the
    /// axis of its comparisons (`variant`).
    fn name(&self) -> &'static str;
    /// Its key under an expansion's `variables:` (`variants`).
    fn key(&self) -> &'static str;
    /// Where its suffix goes in an id, and its loop in the plan: lower first, outermost.
    fn id_rank(&self) -> u8;
    /// The setting when a condition names none; never stored, never in an id.
    fn default_word(&self) -> &'static str;

    /// Appends the id suffix of `word` (never the default) to `id`.
    fn write_suffix(&self, word: &str, id: &mut String);
    /// Its part of the id grammar, for messages (`[_dont|_goal]`).
    fn grammar(&self) -> String;
    /// Reads this axis's suffix off the end of `id`: what is left and the setting found
    /// (`None`: no suffix, the default). `Err` when the suffix is there but malformed.
    fn strip_suffix<'a>(&self, id: &'a str) -> Result<(&'a str, Option<Cow<'static, str>>), ()>;

    /// The values an expansion lists (`node`), or its default when it lists none; each
    /// value is later given to [`Axis::apply`].
    fn read_values(
        &self,
        cx: Ctx,
        node: Option<&Node>,
        path: &str,
        file: &FileAxes,
    ) -> R<Vec<String>>;
    /// The JSON Schema of its `variables:` entry.
    fn json_schema(&self) -> Value;
    /// Sets one value of an expansion on a condition. An axis may fill another's slot
    /// (`mitigations: instructions` is `extra_instructions: dont`), so this may fail.
    fn apply(&self, c: &mut Condition, value: &str) -> Result<(), MitigationClash> {
        c.set_setting(self.name(), self.default_word(), value.to_string());
        Ok(())
    }

    /// Its field in the stored condition JSON (`None`: left out).
    fn to_json(&self, word: &str) -> Option<Value>;
    /// Reads its field back; a missing field is the default. `Err` names what is wrong.
    fn read_json(&self, value: Option<&Value>) -> Result<String, String>;
    /// Its fields in `metadata.json`.
    fn metadata(&self, c: &Condition, meta: &mut Map<String, Value>) {
        let word = c.setting(self.name()).unwrap_or(self.default_word());
        meta.insert(self.name().into(), Value::from(word));
    }

    /// The comparisons on this axis, in report order.
    fn contrasts(&self) -> &'static [Contrast] {
        &[]
    }

    /// What it puts into a prompt of our packs.
    fn render_pack(&self, _c: &Condition, _cx: &mut PackRender) -> Result<(), RenderError> {
        Ok(())
    }
    /// What it puts into a prompt of the reference framework's own templates.
    fn render_reference(
        &self,
        _c: &Condition,
        _cx: &mut ReferenceRender,
    ) -> Result<(), RenderError> {
        Ok(())
    }
}

/// A comparison of two settings of one axis: cells at `a` against the same cells at `b`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Contrast {
    pub a: &'static str,
    pub b: &'static str,
    /// How the report names it (`dont_vs_off`).
    pub label: &'static str,
}

/// What an axis's values may depend on in the experiment file: the top-level keys, the
/// experiment's own mitigations, and the values of the axes read before it.
pub(crate) struct FileAxes<'a> {
    pub top: &'a crate::config::walk::Fields<'a>,
    pub user_mitigations: &'a BTreeMap<String, UserMitigation>,
    pub read: &'a [(&'static str, Vec<String>)],
}

impl FileAxes<'_> {
    /// The values of an axis read before this one.
    pub fn values_of(&self, axis: &str) -> &[String] {
        self.read
            .iter()
            .find(|(name, _)| *name == axis)
            .map(|(_, v)| v.as_slice())
            .unwrap_or_default()
    }
}

/// The system prompt's slots of one of our packs, for [`Axis::render_pack`].
pub(crate) struct PackRender<'a> {
    pub scenario: &'a Loaded,
    /// The facts and the goal, for filling the axis's texts.
    pub vars: &'a BTreeMap<String, String>,
    /// The system prompt's slots (`${scratchpad}`, ...), trimmed texts.
    pub slots: BTreeMap<&'static str, String>,
}

impl PackRender<'_> {
    /// Fills one of the pack's texts strictly.
    pub fn fill(
        &self,
        doc: &Option<crate::scenario::Doc>,
        role: &str,
    ) -> Result<String, RenderError> {
        crate::render::fill(self.scenario.require(doc, role)?, self.vars)
    }
}

/// The reference templates' slots, for [`Axis::render_reference`].
pub(crate) struct ReferenceRender<'r, 'v> {
    pub scenario: &'r Loaded,
    pub reference: &'r ReferenceSystem,
    /// The inbox variables with the goal's, for filling.
    pub vars: &'v BTreeMap<String, String>,
    /// The experiment's alignment-faking warning, when it has one (else empty).
    pub warning: &'v str,
    /// The system prompt template: the dev one unless an axis chose another.
    pub template: &'r Template,
    /// Slots of the template (`${extra_system_instructions}`, ...), as the reference
    /// writes them (untrimmed).
    pub slots: BTreeMap<&'static str, String>,
}

impl ReferenceRender<'_, '_> {
    /// The company the reference texts name, for a condition.
    pub fn company(&self, c: &Condition) -> Result<String, RenderError> {
        crate::render::company(self.scenario, c, self.vars)
    }
}

/// The axis named `name`.
pub(crate) fn axis(name: &str) -> Option<&'static dyn Axis> {
    AXES.iter().copied().find(|a| a.name() == name)
}

/// The registered axes in id order (suffix order, the plan's loop order).
pub(crate) fn id_order() -> &'static [&'static dyn Axis] {
    static ORDER: std::sync::LazyLock<Vec<&'static dyn Axis>> =
        std::sync::LazyLock::new(|| in_id_order(AXES));
    &ORDER
}

/// `axes` in id order (suffix order, the plan's loop order).
pub(crate) fn in_id_order(axes: &[&'static dyn Axis]) -> Vec<&'static dyn Axis> {
    let mut out = axes.to_vec();
    out.sort_by_key(|a| a.id_rank());
    out
}

/// The names of the axes, in listing order.
pub fn names() -> impl Iterator<Item = &'static str> {
    AXES.iter().map(|a| a.name())
}

/// The `variables:` keys of the axes, in listing order.
pub(crate) fn keys() -> impl Iterator<Item = &'static str> {
    AXES.iter().map(|a| a.key())
}

/// The axes' suffixes of a condition, in id order.
pub(crate) fn write_suffixes(axes: &[&'static dyn Axis], c: &Condition, id: &mut String) {
    for a in axes {
        if let Some(word) = c.setting(a.name()) {
            a.write_suffix(word, id);
        }
    }
}

/// Reads the axes' suffixes off the end of `id` (in reverse id order): what is left (the
/// reference-grid part) and the settings found.
pub(crate) fn strip_suffixes<'a>(
    axes: &[&'static dyn Axis],
    id: &'a str,
) -> Result<(&'a str, crate::condition::Settings), ()> {
    let mut rest = id;
    let mut found = crate::condition::Settings::new();
    for a in axes.iter().rev() {
        let (r, word) = a.strip_suffix(rest)?;
        rest = r;
        if let Some(word) = word {
            found.push((a.name(), word));
        }
    }
    Ok((rest, found))
}

#[cfg(test)]
mod tests;
