//! Rule 4: the goal variables (`goal_statement`, `goal_reminder`) of a condition.
//!
//! `explicit` states the goal value's texts; `swap` states the OPPOSITE value's texts (the
//! reference framework looked swap goals up under a key its table did not have, so its swap
//! conditions silently ran with no goal; we implement the intended ablation); `latent`,
//! `ambiguous` and `none` state nothing.

use super::error::ScenarioError;
use super::yaml::{GoalText, Goals};
use crate::condition::GoalType;

/// The goal value pairs of the study.
pub const PAIRS: [(&str, &str); 4] = [
    ("america", "global"),
    ("safety", "acceleration"),
    ("ethical", "pragmatic"),
    ("individualism", "collectivism"),
];

/// The goal values of the metric goal types (`metricconflict`, `metriconly`): one
/// operational metric to maximise, without and with stated constraints. Value goal types
/// (`explicit`, `latent`, `swap`) take the other values; the metric goal types only these.
pub const METRIC_VALUES: [&str; 2] = ["renewals", "renewalsconstrained"];

/// Whether `value` is a metric (goal type `metric`) rather than a value.
pub fn is_metric(value: &str) -> bool {
    METRIC_VALUES.contains(&value)
}

/// The other value of a goal value's pair.
pub fn opposite(value: &str) -> Option<&'static str> {
    PAIRS.iter().find_map(|&(a, b)| {
        if value == a {
            Some(b)
        } else if value == b {
            Some(a)
        } else {
            None
        }
    })
}

/// The texts a condition states. `goals` is `None` when no `common/goals.yaml` exists; that
/// is only an error for goal types that state a goal. `file` names goals.yaml in errors.
pub fn goal_text(
    goal_type: GoalType,
    goal_value: &str,
    goals: Option<&Goals>,
    file: &str,
) -> Result<GoalText, ScenarioError> {
    let value = match goal_type {
        GoalType::Explicit | GoalType::MetricConflict | GoalType::MetricOnly => goal_value,
        GoalType::Swap => opposite(goal_value).ok_or_else(|| ScenarioError::NoOpposite {
            value: goal_value.to_string(),
        })?,
        GoalType::Latent | GoalType::Ambiguous | GoalType::None => return Ok(GoalText::default()),
    };
    let goals = goals.ok_or_else(|| ScenarioError::MissingFile {
        path: file.to_string(),
        hint: format!(
            "goal type `{}` needs the goal statements of common/goals.yaml; add it (see `misalign scenarios export`)",
            goal_type.as_str()
        ),
    })?;
    goals
        .get(value)
        .cloned()
        .ok_or_else(|| ScenarioError::UnknownGoalValue {
            file: file.to_string(),
            value: value.to_string(),
            known: goals.keys().cloned().collect::<Vec<_>>().join(", "),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn goals() -> Goals {
        ["america", "global"]
            .iter()
            .map(|v| {
                (
                    v.to_string(),
                    GoalText {
                        statement: format!("serve {v}"),
                        reminder: format!("remember {v}"),
                    },
                )
            })
            .collect()
    }

    #[test]
    fn swap_states_the_opposite_goal() {
        let g = goals();
        let t = goal_text(GoalType::Swap, "america", Some(&g), "g.yaml").unwrap();
        assert_eq!(t.statement, "serve global");
        let t = goal_text(GoalType::Explicit, "america", Some(&g), "g.yaml").unwrap();
        assert_eq!(t.statement, "serve america");
        let t = goal_text(GoalType::Latent, "america", None, "g.yaml").unwrap();
        assert_eq!(t, GoalText::default());
        assert!(matches!(
            goal_text(GoalType::Swap, "blue", Some(&g), "g.yaml"),
            Err(ScenarioError::NoOpposite { .. })
        ));
        let err = goal_text(GoalType::Explicit, "safety", Some(&g), "g.yaml").unwrap_err();
        assert!(err
            .to_string()
            .contains("known goal values: america, global"));
    }
}
