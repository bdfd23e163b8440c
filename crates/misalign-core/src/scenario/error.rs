//! Everything that can go wrong reading a scenario source or rendering a condition. Each
//! message names the file (and line, where there is one) and says what to do.

use crate::template::TemplateError;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScenarioError {
    #[error("{path}: {message}")]
    Io { path: String, message: String },

    #[error("{path}: not valid UTF-8 (first bad byte at offset {byte}); save the file as UTF-8")]
    NotUtf8 { path: String, byte: usize },

    #[error("{origin}: no scenario `{name}`; {available}")]
    UnknownScenario {
        name: String,
        origin: String,
        available: String,
    },

    #[error("{path}: missing; {hint}")]
    MissingFile { path: String, hint: String },

    /// A pack's facts file without a fact its kind's detector needs.
    #[error(
        "{file}: a `{kind}` scenario needs the fact `{fact}` (its detector decides with it); \
         add `{fact}:` to this file (see `misalign scenarios export DIR` for an example)"
    )]
    MissingFact {
        file: String,
        kind: &'static str,
        fact: &'static str,
    },

    #[error("{0}")]
    Template(#[from] TemplateError),

    /// The pack's `environment.yaml` (read for agent conditions only).
    #[error("{0}")]
    Environment(#[from] crate::environment::EnvironmentError),

    /// A variables file that cannot be read as `## Section` + ```json blocks.
    #[error("{file}:{line}: section `{section}`: {message}")]
    Variables {
        file: String,
        line: usize,
        section: String,
        message: String,
    },

    /// Strict mode: a variable that no inbox template of the scenario uses.
    #[error(
        "{file}: section `{section}` defines `{name}`, which no inbox template of scenario `{scenario}` uses; \
         use it as `${{{name}}}` in a template under {scenario}/templates/ or delete it"
    )]
    UnusedVariable {
        file: String,
        section: String,
        name: String,
        scenario: String,
    },

    /// A YAML file (facts.yaml, goals.yaml) that does not parse or has the wrong shape.
    #[error("{file}:{line}:{column}: {message}")]
    Yaml {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },

    #[error("{file}: no goal `{value}`; known goal values: {known}")]
    UnknownGoalValue {
        file: String,
        value: String,
        known: String,
    },

    #[error("goal type `swap` with goal value `{value}`: `{value}` has no opposite; swap works with america/global, safety/acceleration, ethical/pragmatic, individualism/collectivism")]
    NoOpposite { value: String },

    /// `system_prompt_templates.py`: outside the subset we read, or a value of the wrong
    /// shape. Line 0 means the file as a whole (a name it does not define).
    #[error("{}", python_message(file, *line, message))]
    Python {
        file: String,
        line: usize,
        message: String,
    },

    #[error("{0}")]
    Other(String),
}

fn python_message(file: &str, line: usize, message: &str) -> String {
    if line == 0 {
        format!("{file}: {message}")
    } else {
        format!("{file}:{line}: {message}")
    }
}
