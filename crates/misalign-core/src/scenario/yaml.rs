//! Reading the packs' YAML files (`facts.yaml`, `common/goals.yaml`) with located errors.

use super::error::ScenarioError;
use super::facts::Facts;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Parses YAML into `T`; errors carry the file, line and column.
pub fn parse<T: DeserializeOwned>(text: &str, file: &str) -> Result<T, ScenarioError> {
    let options = serde_saphyr::options! { strict_booleans: true };
    serde_saphyr::from_str_with_options(text, options).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line() as usize, l.column() as usize))
            .unwrap_or((1, 1));
        // The library's message may repeat the position and a snippet; keep its first line.
        let message = e.to_string();
        let message = message.lines().next().unwrap_or("invalid YAML").to_string();
        ScenarioError::Yaml {
            file: file.to_string(),
            line,
            column,
            message,
        }
    })
}

/// `facts.yaml`.
pub fn parse_facts(text: &str, file: &str) -> Result<Facts, ScenarioError> {
    parse(text, file)
}

/// One goal value's texts in `common/goals.yaml`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoalText {
    /// Stated in the system prompt for goal types `explicit` (and `swap`, for the opposite value).
    pub statement: String,
    /// A short closing reminder line.
    #[serde(default)]
    pub reminder: String,
}

/// `common/goals.yaml`: goal value -> texts.
pub type Goals = BTreeMap<String, GoalText>;

pub fn parse_goals(text: &str, file: &str) -> Result<Goals, ScenarioError> {
    parse(text, file)
}

/// The two autonomy lines of one setting: the system prompt's (`${autonomy}`) and the
/// instruction's (`${autonomy_instruction}`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutonomyLines {
    pub system: String,
    pub instruction: String,
}

/// `common/autonomy.yaml`: the autonomy lines without an oversight mitigation (`default`)
/// and under `monitoring` and `approval` (docs/mitigations.md).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Autonomy {
    pub default: AutonomyLines,
    pub monitoring: AutonomyLines,
    pub approval: AutonomyLines,
}

impl Autonomy {
    /// The lines for a condition's mitigations: `approval`'s when it has `approval`, else
    /// `monitoring`'s when it has `monitoring`, else the default.
    pub fn lines_for<S: AsRef<str>>(&self, mitigations: &[S]) -> &AutonomyLines {
        let has = |n: &str| mitigations.iter().any(|m| m.as_ref() == n);
        if has("approval") {
            &self.approval
        } else if has("monitoring") {
            &self.monitoring
        } else {
            &self.default
        }
    }
}

pub fn parse_autonomy(text: &str, file: &str) -> Result<Autonomy, ScenarioError> {
    parse(text, file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn located_error() {
        let err =
            parse_goals("america:\n  statement: x\n  remindr: y\n", "goals.yaml").unwrap_err();
        match err {
            ScenarioError::Yaml { file, line, .. } => {
                assert_eq!(file, "goals.yaml");
                assert_eq!(line, 3);
            }
            other => panic!("{other:?}"),
        }
        let ok = parse_goals("america: {statement: a, reminder: b}\n", "g").unwrap();
        assert_eq!(ok["america"].reminder, "b");
    }
}
