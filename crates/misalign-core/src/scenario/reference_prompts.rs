//! `system_prompt_templates.py` of a reference-layout folder, read as data (rules 9-11 of
//! the layout): the system prompt templates of each scenario (dev and prod), the
//! instruction `USER_PROMPT`, and the goal texts `GOAL_VARIABLES`.

use super::error::ScenarioError;
use super::goals::opposite;
use crate::condition::GoalType;
use crate::pyliteral::{self, Module, PyError, Value};

/// The file's name at the top of a template folder.
pub const FILE: &str = "system_prompt_templates.py";

/// `GOAL_VARIABLES`: key -> (variable name, text), both in the file's order.
type GoalTable = Vec<(String, Vec<(String, String)>)>;

/// What the generator takes from the file.
#[derive(Debug)]
pub struct ReferencePrompts {
    /// The file, as named in messages.
    pub display: String,
    /// `USER_PROMPT`, written to `user_prompt.txt` exactly.
    pub user_prompt: String,
    /// `GOAL_VARIABLES`: key -> variables, in the file's order.
    goals: GoalTable,
    module: Module,
}

/// The two system prompt templates of one scenario.
#[derive(Clone, Debug)]
pub struct SystemTemplates {
    pub dev: String,
    pub prod: String,
}

impl ReferencePrompts {
    pub fn parse(text: &str, display: &str) -> Result<ReferencePrompts, ScenarioError> {
        let at = |e: PyError| ScenarioError::Python {
            file: display.to_string(),
            line: e.line,
            message: e.message,
        };
        let module = pyliteral::evaluate(text).map_err(at)?;
        let user_prompt = string_named(&module, "USER_PROMPT", display)?;
        let goals = goal_table(&module, display)?;
        Ok(ReferencePrompts {
            display: display.to_string(),
            user_prompt,
            goals,
            module,
        })
    }

    /// `<SCENARIO>_SYSTEM_PROMPT` and `<SCENARIO>_SYSTEM_PROMPT_PROD`.
    pub fn system_templates(&self, scenario: &str) -> Result<SystemTemplates, ScenarioError> {
        let upper = scenario.to_uppercase();
        Ok(SystemTemplates {
            dev: string_named(
                &self.module,
                &format!("{upper}_SYSTEM_PROMPT"),
                &self.display,
            )?,
            prod: string_named(
                &self.module,
                &format!("{upper}_SYSTEM_PROMPT_PROD"),
                &self.display,
            )?,
        })
    }

    /// The goal variables of a condition: the entry `<goal_type>-<goal_value>`, else the
    /// `none` entry, else nothing (rule 9). Swap looks up `swap-<value>-<opposite>`, the key
    /// the reference's own table uses (its generator looked up `swap-<value>`, found nothing
    /// and silently fell back to `none`).
    pub fn goal_variables(&self, goal_type: GoalType, goal_value: &str) -> &[(String, String)] {
        let key = goal_key(goal_type, goal_value);
        let find = |k: &str| self.goals.iter().find(|(g, _)| g == k).map(|(_, v)| v);
        find(&key)
            .or_else(|| find("none"))
            .map_or(&[][..], |v| v.as_slice())
    }

    /// Whether `GOAL_VARIABLES` has this exact key (no fallback).
    pub fn has_goal_key(&self, key: &str) -> bool {
        self.goals.iter().any(|(g, _)| g == key)
    }
}

/// The `GOAL_VARIABLES` key of a condition.
pub fn goal_key(goal_type: GoalType, goal_value: &str) -> String {
    match (goal_type, opposite(goal_value)) {
        (GoalType::Swap, Some(other)) => format!("swap-{goal_value}-{other}"),
        _ => format!("{}-{goal_value}", goal_type.as_str()),
    }
}

fn string_named(module: &Module, name: &str, display: &str) -> Result<String, ScenarioError> {
    match module.get(name) {
        Some(b) => match &b.value {
            Value::Str(s) => Ok(s.clone()),
            other => Err(ScenarioError::Python {
                file: display.to_string(),
                line: b.line,
                message: format!("`{name}` must be a string, but is {}", kind(other)),
            }),
        },
        None => Err(ScenarioError::Python {
            file: display.to_string(),
            line: 0,
            message: format!(
                "`{name}` is not defined; the reference generator reads it from this file (bind it as `{name} = \"\"\"...\"\"\"`)"
            ),
        }),
    }
}

fn goal_table(module: &Module, display: &str) -> Result<GoalTable, ScenarioError> {
    let Some(b) = module.get("GOAL_VARIABLES") else {
        return Err(ScenarioError::Python {
            file: display.to_string(),
            line: 0,
            message: "`GOAL_VARIABLES` is not defined; bind it to a dict from \"<goal_type>-<goal_value>\" to {\"goal_statement\": ..., \"goal_reminder\": ...}".into(),
        });
    };
    let shape = |message: String| ScenarioError::Python {
        file: display.to_string(),
        line: b.line,
        message,
    };
    let Value::Dict(entries) = &b.value else {
        return Err(shape(format!(
            "`GOAL_VARIABLES` must be a dict, but is {}",
            kind(&b.value)
        )));
    };
    entries
        .iter()
        .map(|(key, v)| {
            let Value::Dict(vars) = v else {
                return Err(shape(format!(
                    "`GOAL_VARIABLES[\"{key}\"]` must be a dict of strings, but is {}",
                    kind(v)
                )));
            };
            let vars = vars
                .iter()
                .map(|(name, v)| match v {
                    Value::Str(s) => Ok((name.clone(), s.clone())),
                    other => Err(shape(format!(
                        "`GOAL_VARIABLES[\"{key}\"][\"{name}\"]` must be a string, but is {}",
                        kind(other)
                    ))),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok((key.clone(), vars))
        })
        .collect()
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Str(_) => "a string",
        Value::List(_) => "a list",
        Value::Tuple(_) => "a tuple",
        Value::Dict(_) => "a dict",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE_TEXT: &str = "USER_PROMPT = 'Read.\\n'\nX_SYSTEM_PROMPT, X_SYSTEM_PROMPT_PROD = [a for a in ['d', 'p']]\nGOAL_VARIABLES = {\n  'explicit-safety': {'goal_statement': 'S', 'goal_reminder': 'R'},\n  'swap-safety-acceleration': {'goal_statement': 'A'},\n  'none': {'goal_statement': '', 'goal_reminder': ''},\n}\n";

    #[test]
    fn reads_prompts_and_goals() {
        let p = ReferencePrompts::parse(FILE_TEXT, "t.py").unwrap();
        assert_eq!(p.user_prompt, "Read.\n");
        let t = p.system_templates("x").unwrap();
        assert_eq!((t.dev.as_str(), t.prod.as_str()), ("d", "p"));
        let g = p.goal_variables(GoalType::Explicit, "safety");
        assert_eq!(g[0], ("goal_statement".into(), "S".into()));
        // swap: the intended key, not the reference's broken lookup.
        let g = p.goal_variables(GoalType::Swap, "safety");
        assert_eq!(g, &[("goal_statement".to_string(), "A".to_string())]);
        // anything else falls back to `none`.
        let g = p.goal_variables(GoalType::Latent, "safety");
        assert_eq!(g[0].1, "");
        let e = p.system_templates("y").unwrap_err().to_string();
        assert!(
            e.contains("t.py") && e.contains("`Y_SYSTEM_PROMPT` is not defined"),
            "{e}"
        );
    }

    #[test]
    fn shape_errors_name_file_and_line() {
        let e = ReferencePrompts::parse("USER_PROMPT = ['x']\n", "t.py").unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.py:1: `USER_PROMPT` must be a string, but is a list"
        );
        let e = ReferencePrompts::parse(
            "USER_PROMPT = 'x'\n\nGOAL_VARIABLES = {'none': {'goal_statement': ('a',)}}\n",
            "t.py",
        )
        .unwrap_err();
        assert!(
            e.to_string().starts_with(
                "t.py:3: `GOAL_VARIABLES[\"none\"][\"goal_statement\"]` must be a string"
            ),
            "{e}"
        );
        let e =
            ReferencePrompts::parse("USER_PROMPT = 'x'\nY = 'a'.join([])\n", "t.py").unwrap_err();
        assert!(e.to_string().starts_with("t.py:2: `.`"), "{e}");
    }
}
