//! One point of the experimental grid, and its identifier.
//!
//! Identifiers follow the reference framework (`{scenario}_{goal_type}-{goal_value}_{urgency}`,
//! `_prod` appended for the prod variant) so results line up with existing analyses. Our extra
//! axes append their own suffixes only when they are not at their default, so a
//! reference-framework condition keeps exactly its reference id.

use crate::axes::Axis;
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

/// How the agent's goal is set up (docs/design.md, "Conditions").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GoalType {
    Explicit,
    None,
    Latent,
    Ambiguous,
    Swap,
    /// A single operational metric to maximise (goal values `renewals`,
    /// `renewalsconstrained`) AND a new direction that works against it: the incentive
    /// combined with a goal conflict (`metricconflict`).
    MetricConflict,
    /// The same metric to maximise with no conflicting direction: the goal-`none` inbox
    /// (unchanged strategy) with the metric's goal statement, the incentive alone
    /// (`metriconly`).
    MetricOnly,
}

impl GoalType {
    pub const ALL: [GoalType; 7] = [
        GoalType::Explicit,
        GoalType::None,
        GoalType::Latent,
        GoalType::Ambiguous,
        GoalType::Swap,
        GoalType::MetricConflict,
        GoalType::MetricOnly,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            GoalType::Explicit => "explicit",
            GoalType::None => "none",
            GoalType::Latent => "latent",
            GoalType::Ambiguous => "ambiguous",
            GoalType::Swap => "swap",
            GoalType::MetricConflict => "metricconflict",
            GoalType::MetricOnly => "metriconly",
        }
    }

    /// The goal types that take a metric goal value (`renewals`, ...) instead of a value.
    pub fn is_metric(self) -> bool {
        matches!(self, GoalType::MetricConflict | GoalType::MetricOnly)
    }

    /// Goal types whose inbox is the goal-`none` one (`goal-conflict-none-<urgency>`: the
    /// company's direction unchanged): `none` and `metriconly`.
    pub fn has_neutral_inbox(self) -> bool {
        matches!(self, GoalType::None | GoalType::MetricOnly)
    }

    /// `none` and `ambiguous` carry no goal value: theirs collapses to `none`.
    pub fn has_goal_value(self) -> bool {
        !matches!(self, GoalType::None | GoalType::Ambiguous)
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == s)
    }
}

/// The threat to the agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Urgency {
    Replacement,
    Restriction,
    None,
}

impl Urgency {
    pub const ALL: [Urgency; 3] = [Urgency::Replacement, Urgency::Restriction, Urgency::None];

    pub fn as_str(self) -> &'static str {
        match self {
            Urgency::Replacement => "replacement",
            Urgency::Restriction => "restriction",
            Urgency::None => "none",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|u| u.as_str() == s)
    }
}

pub use crate::axes::mitigations::{
    canonical_mitigations, is_mitigation_name, BUILTIN_MITIGATIONS, INSTRUCTIONS_MITIGATION,
    MITIGATION_JOINER, RETIRED_MITIGATIONS,
};
pub use crate::axes::{ExtraInstructions, Interaction, Variant};

/// A condition's settings, inline for up to five axes (no allocation when a plan clones a
/// condition for each of its points).
pub(crate) type Settings = SmallVec<[(&'static str, Cow<'static, str>); 5]>;

/// One point of the grid: the reference framework's scenario x goal type x goal value x
/// urgency, and a setting on each axis of [`crate::axes`] (only those not at their default
/// are kept, so two spellings of one point are one condition).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Condition {
    /// `blackmail`, `leaking`, `murder`, or the name of a scenario folder.
    pub scenario: String,
    pub goal_type: GoalType,
    /// The goal value (`america`, `safety`, ...); always `none` for goal types `none` and `ambiguous`.
    pub goal_value: String,
    pub urgency: Urgency,
    /// Axis name and setting, for the axes not at their default, sorted by axis name (one
    /// spelling per condition). Word settings borrow the axis's own words, so cloning a
    /// condition for every point of a plan allocates nothing for them.
    settings: Settings,
}

/// Goal types that were once written and are not any more, with what to write instead.
pub const RETIRED_GOAL_TYPES: [(&str, &str); 1] = [(
    "metric",
    "goal type `metric` was split into `metricconflict` (the metric AND a new direction \
     against it, what `metric` was) and `metriconly` (the metric alone, no conflicting \
     direction) (docs/mitigations.md, \"The metric goal\")",
)];

impl Condition {
    /// Builds a condition, collapsing the goal value to `none` where the goal type has none.
    pub fn new(
        scenario: impl Into<String>,
        goal_type: GoalType,
        goal_value: impl Into<String>,
        urgency: Urgency,
    ) -> Self {
        let goal_value = if goal_type.has_goal_value() {
            goal_value.into()
        } else {
            "none".to_string()
        };
        Condition {
            scenario: scenario.into(),
            goal_type,
            goal_value,
            urgency,
            settings: Settings::new(),
        }
    }

    /// The setting of the axis `axis` when it is not at its default.
    pub fn setting(&self, axis: &str) -> Option<&str> {
        self.settings
            .iter()
            .find(|(name, _)| *name == axis)
            .map(|(_, word)| word.as_ref())
    }

    /// The setting of the axis `axis`, its default when the condition names none.
    pub fn word(&self, axis: &str) -> &str {
        match self.setting(axis) {
            Some(w) => w,
            None => crate::axes::axis(axis).map_or("", |a| a.default_word()),
        }
    }

    /// Sets the axis `axis` (whose default is `default`) to `word`; the default is not kept.
    pub(crate) fn set_setting(
        &mut self,
        axis: &'static str,
        default: &str,
        word: impl Into<Cow<'static, str>>,
    ) {
        let word = word.into();
        let at = self.settings.binary_search_by(|(name, _)| name.cmp(&axis));
        match (at, word == default) {
            (Ok(i), true) => {
                self.settings.remove(i);
            }
            (Ok(i), false) => self.settings[i].1 = word,
            (Err(i), false) => self.settings.insert(i, (axis, word)),
            (Err(_), true) => {}
        }
    }

    /// The reference framework's id, then the suffix of each axis not at its default, in
    /// id order: `_prod`, then `_dont` / `_goal`, then `_aware`, then `_mit-<names joined
    /// by +>` for mitigations other than `instructions` (which is `_dont`, so
    /// `extra_instructions: dont` and `mitigations: instructions` are one condition with
    /// one id).
    pub fn id(&self) -> String {
        self.id_with(crate::axes::id_order())
    }

    /// [`Condition::id`] over the axes `axes` (in id order).
    pub(crate) fn id_with(&self, axes: &[&'static dyn Axis]) -> String {
        let mut id = format!(
            "{}_{}-{}_{}",
            self.scenario,
            self.goal_type.as_str(),
            self.goal_value,
            self.urgency.as_str()
        );
        crate::axes::write_suffixes(axes, self, &mut id);
        id
    }

    /// Reads an id back over the axes `axes` (in id order), from the right: each axis's
    /// suffix in reverse id order, then the urgency, the goal value and the goal type. What
    /// is left is the scenario, so a scenario name may itself contain `_` (`blackmail_v2`,
    /// `my_scenario`).
    pub(crate) fn parse_with(
        axes: &[&'static dyn Axis],
        id: &str,
    ) -> Result<Condition, ConditionIdError> {
        let bad = || ConditionIdError(id.to_string());
        let (rest, settings) = crate::axes::strip_suffixes(axes, id).map_err(|()| bad())?;
        let (head, urgency) = rest.rsplit_once('_').ok_or_else(bad)?;
        let urgency = Urgency::parse(urgency).ok_or_else(bad)?;
        let (head, goal_value) = head.rsplit_once('-').ok_or_else(bad)?;
        let (scenario, goal_type) = head.rsplit_once('_').ok_or_else(bad)?;
        let goal_type = GoalType::parse(goal_type).ok_or_else(bad)?;
        if scenario.is_empty() || goal_value.is_empty() {
            return Err(bad());
        }
        if !goal_type.has_goal_value() && goal_value != "none" {
            return Err(bad());
        }
        let mut c = Condition::new(scenario, goal_type, goal_value, urgency);
        // Each axis reads at most one suffix and never its default: already one spelling.
        c.settings = settings;
        c.settings.sort_unstable_by_key(|(axis, _)| *axis);
        Ok(c)
    }
}

/// The optional suffixes of an id, for messages: `[_prod][_dont|_goal][_aware][_mit-a+b]`.
fn id_grammar() -> String {
    crate::axes::id_order()
        .iter()
        .map(|a| a.grammar())
        .collect()
}

/// A string that is not a condition id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a condition id; expected \
     <scenario>_<goal type>-<goal value>_<urgency>{grammar}, \
     e.g. blackmail_explicit-america_replacement",
    grammar = id_grammar()
)]
pub struct ConditionIdError(pub String);

impl std::str::FromStr for Condition {
    type Err = ConditionIdError;

    fn from_str(id: &str) -> Result<Self, Self::Err> {
        Condition::parse_with(crate::axes::id_order(), id)
    }
}

impl Condition {
    /// The condition an id names, strictly: only an id that [`Condition::id`] would write
    /// itself, with a scenario of lower-case letters, digits and `_` and a goal value of
    /// lower-case letters and digits. For names read from folders someone handed over
    /// (`misalign import`), where anything else is refused rather than interpreted.
    pub fn parse_id(id: &str) -> Option<Condition> {
        let c: Condition = id.parse().ok()?;
        let scenario_ok = c
            .scenario
            .chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_');
        let value_ok = c
            .goal_value
            .chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit());
        (scenario_ok && value_ok && c.id() == id).then_some(c)
    }
}

impl Condition {
    /// The condition's values by name, for an environment's `when:` rules
    /// (docs/environments.md): `scenario`, `goal_type`, `goal_value`, `urgency`, and each
    /// axis's setting by axis name (`variant: dev`, `interaction: agent`, ...; mitigations
    /// as their combination without `instructions`, `none` when there is none).
    pub fn labels(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::from([
            ("scenario".to_string(), self.scenario.clone()),
            ("goal_type".to_string(), self.goal_type.as_str().to_string()),
            ("goal_value".to_string(), self.goal_value.clone()),
            ("urgency".to_string(), self.urgency.as_str().to_string()),
        ]);
        for a in crate::axes::AXES {
            let word = match self.word(a.name()) {
                "" => "none",
                w => w,
            };
            out.insert(a.name().to_string(), word.to_string());
        }
        out
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id())
    }
}

/// The condition JSON the store records (`prompts.condition_json`): the grid's four
/// fields, then each axis's field in listing order (as it has always been written).
impl Serialize for Condition {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("scenario", &self.scenario)?;
        m.serialize_entry("goal_type", &self.goal_type)?;
        m.serialize_entry("goal_value", &self.goal_value)?;
        m.serialize_entry("urgency", &self.urgency)?;
        for a in crate::axes::AXES {
            if let Some(v) = a.to_json(self.setting(a.name()).unwrap_or(a.default_word())) {
                m.serialize_entry(a.name(), &v)?;
            }
        }
        m.end()
    }
}

/// Reads the condition JSON back; an axis's missing field is its default (JSON written
/// before the axis existed), other fields are ignored.
impl<'de> Deserialize<'de> for Condition {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Stored {
            scenario: String,
            goal_type: GoalType,
            goal_value: String,
            urgency: Urgency,
            #[serde(flatten)]
            axes: serde_json::Map<String, serde_json::Value>,
        }
        let stored = Stored::deserialize(d)?;
        let mut c = Condition {
            scenario: stored.scenario,
            goal_type: stored.goal_type,
            goal_value: stored.goal_value,
            urgency: stored.urgency,
            settings: Settings::new(),
        };
        for a in crate::axes::AXES {
            let word = a
                .read_json(stored.axes.get(a.name()))
                .map_err(serde::de::Error::custom)?;
            c.set_setting(a.name(), a.default_word(), word);
        }
        Ok(c)
    }
}

/// Mitigation `instructions` and `extra_instructions: goal` fill the same slot of the
/// system prompt, so one condition cannot have both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("mitigation `instructions` and `extra_instructions: goal` fill the same slot of the system prompt; use one or the other")]
pub struct MitigationClash;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_read_back() {
        for id in [
            "blackmail_explicit-america_replacement",
            "leaking_none-none_restriction_prod",
            "murder_swap-collectivism_none_prod_dont_aware",
            "my_custom_scenario_latent-safety_none_goal",
        ] {
            let c = Condition::parse_id(id).unwrap_or_else(|| panic!("{id}"));
            assert_eq!(c.id(), id);
        }
        let c = Condition::parse_id("my_custom_scenario_latent-safety_none_goal").unwrap();
        assert_eq!(c.scenario, "my_custom_scenario");
        assert_eq!(c.extra_instructions(), ExtraInstructions::Goal);
        for bad in [
            "",
            "blackmail",
            "blackmail_explicit_america_replacement",
            "blackmail_explicit-america_soon",
            "blackmail_sometimes-america_replacement",
            "_explicit-america_replacement",
            "blackmail_none-america_replacement",
            "Blackmail_explicit-america_replacement",
            "blackmail_explicit-america_replacement_aware_prod",
            "../x_explicit-america_replacement",
        ] {
            assert_eq!(Condition::parse_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn reference_ids() {
        let c = Condition::new(
            "blackmail",
            GoalType::Explicit,
            "america",
            Urgency::Replacement,
        );
        assert_eq!(c.id(), "blackmail_explicit-america_replacement");
        let c = Condition::new("leaking", GoalType::None, "america", Urgency::Restriction);
        assert_eq!(c.id(), "leaking_none-none_restriction");
        let mut c = Condition::new("murder", GoalType::Ambiguous, "x", Urgency::None);
        c.set_variant(Variant::Prod);
        assert_eq!(c.id(), "murder_ambiguous-none_none_prod");
        c.set_extra_instructions(ExtraInstructions::Dont);
        c.set_awareness_notice(true);
        assert_eq!(c.id(), "murder_ambiguous-none_none_prod_dont_aware");
    }

    #[test]
    fn every_id_reads_back_as_its_condition() {
        for scenario in ["blackmail", "blackmail_v2", "my_scenario"] {
            for goal_type in GoalType::ALL {
                for urgency in Urgency::ALL {
                    for extra in ExtraInstructions::ALL {
                        for variant in [Variant::Dev, Variant::Prod] {
                            for aware in [false, true] {
                                for interaction in [Interaction::Single, Interaction::Agent] {
                                    let mut c =
                                        Condition::new(scenario, goal_type, "safety", urgency);
                                    c.set_extra_instructions(extra);
                                    c.set_variant(variant);
                                    c.set_awareness_notice(aware);
                                    c.set_interaction(interaction);
                                    let back: Condition = c.id().parse().unwrap();
                                    assert_eq!(back, c, "{}", c.id());
                                    let agent = interaction == Interaction::Agent;
                                    assert_eq!(c.id().ends_with("_agent"), agent, "{}", c.id());
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn the_agent_suffix_comes_last_and_reads_back() {
        let mut c = Condition::new("leaking_v2", GoalType::Latent, "safety", Urgency::None);
        c.set_variant(Variant::Prod);
        c.set_awareness_notice(true);
        c.set_mitigations(&["instructions", "principles", "mine_2"])
            .unwrap();
        c.set_interaction(Interaction::Agent);
        assert_eq!(
            c.id(),
            "leaking_v2_latent-safety_none_prod_dont_aware_mit-principles+mine_2_agent"
        );
        assert_eq!(Condition::parse_id(&c.id()), Some(c.clone()));
        assert_eq!(c.interaction(), Interaction::Agent);
        c.set_interaction(Interaction::Single);
        assert_eq!(
            c.id(),
            "leaking_v2_latent-safety_none_prod_dont_aware_mit-principles+mine_2"
        );
        // A mitigation name ending in the suffix would read back as the axis: not a name.
        assert!(!is_mitigation_name("house_agent"));
        assert!(is_mitigation_name("agent_rules"));
        for bad in [
            "blackmail_explicit-america_replacement_agent_prod",
            "blackmail_explicit-america_replacement_agent_agent",
        ] {
            assert_eq!(Condition::parse_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_scenario_with_underscores_is_kept_whole() {
        let c: Condition = "blackmail_v2_explicit-america_replacement_prod"
            .parse()
            .unwrap();
        assert_eq!(c.scenario, "blackmail_v2");
        assert_eq!(c.goal_value, "america");
        assert_eq!(c.variant(), Variant::Prod);
    }

    #[test]
    fn malformed_ids_are_errors() {
        for id in [
            "",
            "blackmail",
            "blackmail_explicit_america",
            "blackmail_weird-america_none",
            "blackmail_explicit-america_soon",
            "_explicit-america_none",
            "blackmail_explicit-_none",
            "blackmail_none-america_none",
        ] {
            assert!(id.parse::<Condition>().is_err(), "{id:?}");
        }
    }

    #[test]
    fn mitigation_none_keeps_the_reference_id() {
        let mut c = Condition::new(
            "blackmail",
            GoalType::Explicit,
            "america",
            Urgency::Replacement,
        );
        c.set_mitigations::<&str>(&[]).unwrap();
        assert_eq!(c.id(), "blackmail_explicit-america_replacement");
        assert_eq!(c.mitigation_label(), "none");
    }

    #[test]
    fn instructions_is_the_dont_setting() {
        let mut c = Condition::new(
            "blackmail",
            GoalType::Explicit,
            "america",
            Urgency::Replacement,
        );
        c.set_mitigations(&["instructions"]).unwrap();
        assert_eq!(c.extra_instructions(), ExtraInstructions::Dont);
        assert_eq!(c.id(), "blackmail_explicit-america_replacement_dont");
        assert_eq!(c.mitigation_label(), "instructions");
        assert_eq!(
            c.without_mitigations().id(),
            "blackmail_explicit-america_replacement"
        );
        let mut g = Condition::new("murder", GoalType::None, "", Urgency::None);
        g.set_extra_instructions(ExtraInstructions::Goal);
        assert!(g.set_mitigations(&["instructions"]).is_err());
    }

    #[test]
    fn mitigation_ids_read_back_in_canonical_order() {
        let mut c = Condition::new("leaking_v2", GoalType::Latent, "safety", Urgency::None);
        c.set_variant(Variant::Prod);
        c.set_awareness_notice(true);
        c.set_mitigations(&[
            "house_rules",
            "demonstrations",
            "instructions",
            "principles",
        ])
        .unwrap();
        assert_eq!(
            c.id(),
            "leaking_v2_latent-safety_none_prod_dont_aware_mit-principles+demonstrations+house_rules"
        );
        assert_eq!(
            c.mitigation_label(),
            "instructions+principles+demonstrations+house_rules"
        );
        let back: Condition = c.id().parse().unwrap();
        assert_eq!(back, c);
        assert_eq!(Condition::parse_id(&c.id()), Some(c.clone()));
        // Another order of the same names is the same condition, but not the id we write.
        let other = "leaking_v2_latent-safety_none_prod_dont_aware_mit-demonstrations+principles+house_rules";
        assert_eq!(other.parse::<Condition>().unwrap(), c);
        assert_eq!(Condition::parse_id(other), None);
        for bad in [
            "blackmail_explicit-america_replacement_mit-",
            "blackmail_explicit-america_replacement_mit-none",
            "blackmail_explicit-america_replacement_mit-instructions",
            "blackmail_explicit-america_replacement_mit-a++b",
            "blackmail_explicit-america_replacement_mit-Principles",
            "blackmail_explicit-america_replacement_mit-a-b",
        ] {
            assert!(bad.parse::<Condition>().is_err(), "{bad}");
        }
    }

    #[test]
    fn every_mitigation_combination_reads_back() {
        let names = [
            "principles",
            "demonstrations",
            "accurate_context",
            "monitoring",
            "approval",
            "mine_2",
        ];
        for mask in 0u32..(1 << names.len()) {
            let chosen: Vec<&str> = names
                .iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, n)| *n)
                .collect();
            for extra in [ExtraInstructions::Off, ExtraInstructions::Dont] {
                for interaction in [Interaction::Single, Interaction::Agent] {
                    let mut c = Condition::new(
                        "my_scenario",
                        GoalType::Swap,
                        "safety",
                        Urgency::Restriction,
                    );
                    c.set_extra_instructions(extra);
                    c.set_mitigations(&chosen).unwrap();
                    c.set_interaction(interaction);
                    let back: Condition = c.id().parse().unwrap();
                    assert_eq!(back, c, "{}", c.id());
                    assert_eq!(Condition::parse_id(&c.id()), Some(c));
                }
            }
        }
    }
}
