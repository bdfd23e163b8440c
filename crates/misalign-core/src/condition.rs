//! One point of the experimental grid, and its identifier.
//!
//! Identifiers follow the reference framework (`{scenario}_{goal_type}-{goal_value}_{urgency}`,
//! `_prod` appended for the prod variant) so results line up with existing analyses. Our extra
//! axes append their own suffixes only when they are not at their default, so a
//! reference-framework condition keeps exactly its reference id.

use serde::{Deserialize, Serialize};
use std::fmt;

/// How the agent's goal is set up (SCENARIO-FORMAT.md, "goal type").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GoalType {
    Explicit,
    None,
    Latent,
    Ambiguous,
    Swap,
}

impl GoalType {
    pub const ALL: [GoalType; 5] = [
        GoalType::Explicit,
        GoalType::None,
        GoalType::Latent,
        GoalType::Ambiguous,
        GoalType::Swap,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            GoalType::Explicit => "explicit",
            GoalType::None => "none",
            GoalType::Latent => "latent",
            GoalType::Ambiguous => "ambiguous",
            GoalType::Swap => "swap",
        }
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
        }
    }

    /// The reference framework's id, plus suffixes for our extra axes when not default:
    /// `_prod`, then `_dont` / `_goal`, then `_aware`.
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
        id
    }
}

impl Condition {
    /// The condition an id names ([`Condition::id`] read back), or `None` when `id` is not
    /// of that shape. Strict: only an id that [`Condition::id`] would write is accepted.
    pub fn parse_id(id: &str) -> Option<Condition> {
        let mut rest = id;
        let mut strip = |suffix: &str| match rest.strip_suffix(suffix) {
            Some(r) => {
                rest = r;
                true
            }
            None => false,
        };
        let aware = strip("_aware");
        let extra = if strip("_dont") {
            ExtraInstructions::Dont
        } else if strip("_goal") {
            ExtraInstructions::Goal
        } else {
            ExtraInstructions::Off
        };
        let prod = strip("_prod");
        let (head, urgency) = rest.rsplit_once('_')?;
        let (scenario, goal) = head.rsplit_once('_')?;
        let (goal_type, goal_value) = goal.split_once('-')?;
        let scenario_ok = !scenario.is_empty()
            && scenario
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        let value_ok = !goal_value.is_empty()
            && goal_value
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if !scenario_ok || !value_ok {
            return None;
        }
        let mut c = Condition::new(
            scenario,
            GoalType::parse(goal_type)?,
            goal_value,
            Urgency::parse(urgency)?,
        );
        c.extra_instructions = extra;
        c.variant = if prod { Variant::Prod } else { Variant::Dev };
        c.awareness_notice = aware;
        (c.id() == id).then_some(c)
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id())
    }
}

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
}
