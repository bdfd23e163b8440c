//! One point of the experimental grid, and its identifier.
//!
//! Identifiers follow the reference framework (`{scenario}_{goal_type}-{goal_value}_{urgency}`,
//! `_prod` appended for the prod variant) so results line up with existing analyses. Our extra
//! axes append their own suffixes only when they are not at their default, so a
//! reference-framework condition keeps exactly its reference id.

use serde::{Deserialize, Serialize};
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

/// Extra system-prompt instructions: none, direct prohibitions, or a goal-pushing line.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum ExtraInstructions {
    #[default]
    Off,
    Dont,
    Goal,
}

impl ExtraInstructions {
    pub const ALL: [ExtraInstructions; 3] = [Self::Off, Self::Dont, Self::Goal];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Dont => "dont",
            Self::Goal => "goal",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

/// `dev` offers the agent a hidden scratchpad; `prod` does not.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    #[default]
    Dev,
    Prod,
}

impl Variant {
    pub fn as_str(self) -> &'static str {
        match self {
            Variant::Dev => "dev",
            Variant::Prod => "prod",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "dev" => Some(Variant::Dev),
            "prod" => Some(Variant::Prod),
            _ => None,
        }
    }
}

/// One point of the grid: scenario x goal type x goal value x urgency x extra axes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Condition {
    /// `blackmail`, `leaking`, `murder`, or the name of a scenario folder.
    pub scenario: String,
    pub goal_type: GoalType,
    /// The goal value (`america`, `safety`, ...); always `none` for goal types `none` and `ambiguous`.
    pub goal_value: String,
    pub urgency: Urgency,
    #[serde(default)]
    pub extra_instructions: ExtraInstructions,
    #[serde(default)]
    pub variant: Variant,
    #[serde(default)]
    pub awareness_notice: bool,
    /// Mitigations other than `instructions` (which is `extra_instructions: dont`), in
    /// canonical order ([`canonical_mitigations`]); empty means none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mitigations: Vec<String>,
}

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

/// Goal types that were once written and are not any more, with what to write instead.
pub const RETIRED_GOAL_TYPES: [(&str, &str); 1] = [(
    "metric",
    "goal type `metric` was split into `metricconflict` (the metric AND a new direction \
     against it, what `metric` was) and `metriconly` (the metric alone, no conflicting \
     direction) (docs/mitigations.md, \"The metric goal\")",
)];

/// The mitigation that is the `dont` extra instructions.
pub const INSTRUCTIONS_MITIGATION: &str = "instructions";

/// Joins mitigations in a combination (`principles+demonstrations`).
pub const MITIGATION_JOINER: char = '+';

/// Whether `name` can name a mitigation: lower-case letters, digits and `_`, starting with a
/// letter, and not `none` (no `-` or `+`, which the id and combinations use).
pub fn is_mitigation_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name != "none"
        && name.len() <= 64
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
            extra_instructions: ExtraInstructions::Off,
            variant: Variant::Dev,
            awareness_notice: false,
            mitigations: Vec::new(),
        }
    }

    /// The mitigation combination of this condition as written in the table and the axis:
    /// `none`, `instructions`, `principles+demonstrations`, ...
    pub fn mitigation_label(&self) -> String {
        let names = self.mitigation_names();
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(&MITIGATION_JOINER.to_string())
        }
    }

    /// Every mitigation of this condition, `instructions` included, in canonical order.
    pub fn mitigation_names(&self) -> Vec<String> {
        let mut names = Vec::with_capacity(self.mitigations.len() + 1);
        if self.extra_instructions == ExtraInstructions::Dont {
            names.push(INSTRUCTIONS_MITIGATION.to_string());
        }
        names.extend(self.mitigations.iter().cloned());
        canonical_mitigations(&names)
    }

    /// The same condition with mitigation `none`: what each mitigation is compared with.
    pub fn without_mitigations(&self) -> Condition {
        let mut c = self.clone();
        if c.extra_instructions == ExtraInstructions::Dont {
            c.extra_instructions = ExtraInstructions::Off;
        }
        c.mitigations.clear();
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
                match self.extra_instructions {
                    ExtraInstructions::Goal => return Err(MitigationClash),
                    _ => self.extra_instructions = ExtraInstructions::Dont,
                }
            } else {
                rest.push(n.to_string());
            }
        }
        self.mitigations = canonical_mitigations(&rest);
        Ok(())
    }

    /// The reference framework's id, plus suffixes for our extra axes when not default:
    /// `_prod`, then `_dont` / `_goal`, then `_aware`, then `_mit-<names joined by +>` for
    /// mitigations other than `instructions` (which is `_dont`, so `extra_instructions: dont`
    /// and `mitigations: instructions` are one condition with one id).
    pub fn id(&self) -> String {
        let mut id = format!(
            "{}_{}-{}_{}",
            self.scenario,
            self.goal_type.as_str(),
            self.goal_value,
            self.urgency.as_str()
        );
        if self.variant == Variant::Prod {
            id.push_str("_prod");
        }
        match self.extra_instructions {
            ExtraInstructions::Off => {}
            ExtraInstructions::Dont => id.push_str("_dont"),
            ExtraInstructions::Goal => id.push_str("_goal"),
        }
        if self.awareness_notice {
            id.push_str("_aware");
        }
        if !self.mitigations.is_empty() {
            id.push_str(MITIGATION_SUFFIX);
            id.push_str(&self.mitigations.join(&MITIGATION_JOINER.to_string()));
        }
        id
    }
}

/// Starts the mitigation part of an id. No scenario, goal or urgency can contain it before
/// the goal type's `-`, and mitigation names contain no `-`, so the last one is it.
const MITIGATION_SUFFIX: &str = "_mit-";

/// A string that is not a condition id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a condition id; expected \
     <scenario>_<goal type>-<goal value>_<urgency>[_prod][_dont|_goal][_aware][_mit-a+b], \
     e.g. blackmail_explicit-america_replacement"
)]
pub struct ConditionIdError(pub String);

impl std::str::FromStr for Condition {
    type Err = ConditionIdError;

    /// Reads an id back, from the right: the suffixes in the reverse of the order [`Condition::id`]
    /// appends them, then the urgency, the goal value and the goal type. What is left is the
    /// scenario, so a scenario name may itself contain `_` (`blackmail_v2`, `my_scenario`).
    fn from_str(id: &str) -> Result<Self, Self::Err> {
        let bad = || ConditionIdError(id.to_string());
        let mut rest = id;
        let mut mitigations = Vec::new();
        if let Some((head, names)) = rest.rsplit_once(MITIGATION_SUFFIX) {
            for name in names.split(MITIGATION_JOINER) {
                if !is_mitigation_name(name) || name == INSTRUCTIONS_MITIGATION {
                    return Err(bad());
                }
                mitigations.push(name);
            }
            rest = head;
        }
        let mut strip = |suffix: &str| match rest.strip_suffix(suffix) {
            Some(r) => {
                rest = r;
                true
            }
            None => false,
        };
        let awareness_notice = strip("_aware");
        let extra_instructions = if strip("_dont") {
            ExtraInstructions::Dont
        } else if strip("_goal") {
            ExtraInstructions::Goal
        } else {
            ExtraInstructions::Off
        };
        let variant = if strip("_prod") {
            Variant::Prod
        } else {
            Variant::Dev
        };
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
        c.extra_instructions = extra_instructions;
        c.variant = variant;
        c.awareness_notice = awareness_notice;
        c.mitigations = canonical_mitigations(&mitigations);
        Ok(c)
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

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id())
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
        assert_eq!(c.extra_instructions, ExtraInstructions::Goal);
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
        c.variant = Variant::Prod;
        assert_eq!(c.id(), "murder_ambiguous-none_none_prod");
        c.extra_instructions = ExtraInstructions::Dont;
        c.awareness_notice = true;
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
                                let mut c = Condition::new(scenario, goal_type, "safety", urgency);
                                c.extra_instructions = extra;
                                c.variant = variant;
                                c.awareness_notice = aware;
                                let back: Condition = c.id().parse().unwrap();
                                assert_eq!(back, c, "{}", c.id());
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn a_scenario_with_underscores_is_kept_whole() {
        let c: Condition = "blackmail_v2_explicit-america_replacement_prod"
            .parse()
            .unwrap();
        assert_eq!(c.scenario, "blackmail_v2");
        assert_eq!(c.goal_value, "america");
        assert_eq!(c.variant, Variant::Prod);
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
        assert_eq!(c.extra_instructions, ExtraInstructions::Dont);
        assert_eq!(c.id(), "blackmail_explicit-america_replacement_dont");
        assert_eq!(c.mitigation_label(), "instructions");
        assert_eq!(
            c.without_mitigations().id(),
            "blackmail_explicit-america_replacement"
        );
        let mut g = Condition::new("murder", GoalType::None, "", Urgency::None);
        g.extra_instructions = ExtraInstructions::Goal;
        assert!(g.set_mitigations(&["instructions"]).is_err());
    }

    #[test]
    fn mitigation_ids_read_back_in_canonical_order() {
        let mut c = Condition::new("leaking_v2", GoalType::Latent, "safety", Urgency::None);
        c.variant = Variant::Prod;
        c.awareness_notice = true;
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
                let mut c = Condition::new(
                    "my_scenario",
                    GoalType::Swap,
                    "safety",
                    Urgency::Restriction,
                );
                c.extra_instructions = extra;
                c.set_mitigations(&chosen).unwrap();
                let back: Condition = c.id().parse().unwrap();
                assert_eq!(back, c, "{}", c.id());
                assert_eq!(Condition::parse_id(&c.id()), Some(c));
            }
        }
    }
}
