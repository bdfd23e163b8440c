//! Checking an experiment file without running it: what `misalign validate` does. No network
//! and no API keys; only the file (and the template folder, for scenario names) is read.

use crate::experiment::{self, ExperimentError};
use misalign_core::config::{did_you_mean, ConfigError, Experiment, Overrides, ParseOptions};
use misalign_core::plan::{self, PlanSummary};
use misalign_core::scenario::{Origin, ScenarioSource};
use serde::Serialize;
use std::fmt;
use std::path::Path;

/// How many condition ids the text form lists before "... and N more".
const SHOWN_CONDITIONS: usize = 10;

/// What `validate` applies to each file, resolved from the command line.
#[derive(Debug, Clone, Default)]
pub struct ValidateSettings {
    /// Accept a file without models (it will only be used with `misalign generate`).
    pub generate_only: bool,
    /// The plan as `misalign run` would see it with the same overrides.
    pub overrides: Overrides,
}

/// Why a file is not a valid experiment.
#[derive(Debug, thiserror::Error)]
pub enum Invalid {
    /// The file could not be read (missing, too large, not UTF-8).
    #[error(transparent)]
    Read(ExperimentError),
    /// The parser's error, located (`file:line:col: field: message`).
    #[error(transparent)]
    Config(ConfigError),
    /// Scenario names the template source does not have, one located message each.
    #[error("{}", .0.join("\n"))]
    UnknownScenarios(Vec<String>),
    #[error("{file}: {source}")]
    Override {
        file: String,
        source: misalign_core::config::OverrideError,
    },
    /// The plan is larger than one run takes ([`plan::MAX_CALLS_PER_RUN`]).
    #[error("{file}: {message}")]
    TooLarge { file: String, message: String },
    /// Batch mode with agent conditions ([`agent_batch_refusal`]).
    #[error("{file}: {message}")]
    AgentInBatch { file: String, message: String },
    /// The parser resolved every model name, so this is a bug rather than input; reported,
    /// not panicked on.
    #[error("internal: model `{model}` resolved at parse time but not now: {message}")]
    Unresolved { model: String, message: String },
}

/// A valid file's plan. Serialises as `misalign validate --json` prints it; `Display` is the
/// text form.
#[derive(Debug, Serialize)]
pub struct PlanReport {
    valid: bool,
    pub experiment_id: String,
    #[serde(flatten)]
    pub summary: PlanSummary,
    pub models: Vec<ModelReport>,
    pub conditions: Vec<String>,
    /// Who decides the verdicts, in one line.
    #[serde(skip)]
    pub classification: String,
    /// Characters of the alignment-faking notice when it is on.
    #[serde(skip)]
    pub alignment_faking_chars: Option<usize>,
}

/// One model under test: as written, as resolved.
#[derive(Debug, Serialize)]
pub struct ModelReport {
    pub written: String,
    pub resolved: String,
    pub provider: String,
    pub kind: &'static str,
}

/// Reads, parses and plans `file` against `source`'s scenarios.
pub fn validate_file(
    file: &Path,
    source: &ScenarioSource,
    settings: &ValidateSettings,
) -> Result<PlanReport, Invalid> {
    let shown = file.display().to_string();
    let options = ParseOptions {
        require_models: !settings.generate_only && settings.overrides.models.is_empty(),
    };
    let loaded = experiment::load(file, &options).map_err(|e| match e {
        ExperimentError::Invalid(config) => Invalid::Config(config),
        other => Invalid::Read(other),
    })?;
    let (text, mut exp) = (loaded.text, loaded.experiment);
    let unknown = unknown_scenarios(&exp, &text, &shown, source);
    if !unknown.is_empty() {
        return Err(Invalid::UnknownScenarios(unknown));
    }
    settings
        .overrides
        .apply(&mut exp)
        .map_err(|source| Invalid::Override {
            file: shown.clone(),
            source,
        })?;
    let mut planned = plan::expand(&exp);
    if let Some(n) = settings.overrides.limit {
        planned.truncate(n);
    }
    let summary = plan::summarize(&planned, exp.samples_per_condition);
    if let Some(message) = plan::too_large(&summary) {
        return Err(Invalid::TooLarge {
            file: shown,
            message,
        });
    }
    if let Some(message) = agent_batch_refusal(&exp, planned.iter().map(|p| &p.condition)) {
        return Err(Invalid::AgentInBatch {
            file: shown,
            message,
        });
    }
    Ok(PlanReport {
        valid: true,
        summary,
        models: model_reports(&exp)?,
        conditions: planned.iter().map(|p| p.condition.id()).collect(),
        classification: classification_line(&exp),
        alignment_faking_chars: exp
            .alignment_faking
            .enabled
            .then(|| exp.alignment_faking.warning_text.chars().count()),
        experiment_id: exp.experiment_id,
    })
}

/// How many agent condition ids the batch refusal names before "and N more".
const NAMED_AGENT_CONDITIONS: usize = 5;

/// Batch mode (`execution.batch`, `--batch`) with agent conditions, refused: an episode's
/// steps each wait for the last one's answer, which a provider's batch returns hours later.
/// `None` when the experiment is not in batch mode or has no agent condition.
pub(crate) fn agent_batch_refusal<'a>(
    exp: &Experiment,
    conditions: impl Iterator<Item = &'a misalign_core::Condition>,
) -> Option<String> {
    if !exp.execution.batch {
        return None;
    }
    let agents: Vec<String> = conditions
        .filter(|c| c.interaction() == misalign_core::Interaction::Agent)
        .map(|c| c.id())
        .collect();
    if agents.is_empty() {
        return None;
    }
    let mut named = agents[..agents.len().min(NAMED_AGENT_CONDITIONS)].join(", ");
    if agents.len() > NAMED_AGENT_CONDITIONS {
        named.push_str(&format!(
            " and {} more",
            agents.len() - NAMED_AGENT_CONDITIONS
        ));
    }
    Some(format!(
        "execution.batch: batch mode cannot run agent conditions ({named}): each step of an \
         episode needs the answer to the step before; run them live (batch: false) or drop \
         `agent` from interaction"
    ))
}

/// Scenario names of the enabled expansions that `source` does not have: `file:line: field:
/// no scenario ...; did you mean ...` (the line is the first one naming it).
fn unknown_scenarios(
    exp: &Experiment,
    text: &str,
    shown: &str,
    source: &ScenarioSource,
) -> Vec<String> {
    let names = source.scenario_names();
    let candidates: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut out = Vec::new();
    for (i, e) in exp.expansions.iter().enumerate().filter(|(_, e)| e.enabled) {
        for sc in e.scenarios.iter().filter(|s| !names.contains(s)) {
            let line = text
                .lines()
                .position(|l| names_word(l, sc))
                .map(|n| format!(":{}", n + 1))
                .unwrap_or_default();
            out.push(format!(
                "{shown}{line}: expansions[{i}].variables.scenarios: no scenario `{sc}` in {}; \
                 the scenarios are {}{}",
                match source.origin() {
                    Origin::Builtin => "the built-in packs".to_string(),
                    Origin::Dir(d) => d.display().to_string(),
                },
                candidates.join(", "),
                did_you_mean(sc, &candidates)
            ));
        }
    }
    out
}

/// `line` holds `word` as a whole word (not inside a longer name).
fn names_word(line: &str, word: &str) -> bool {
    let is_name = |c: char| c.is_alphanumeric() || c == '_' || c == '-';
    line.match_indices(word).any(|(at, _)| {
        let before = line[..at].chars().next_back();
        let after = line[at + word.len()..].chars().next();
        !before.is_some_and(is_name) && !after.is_some_and(is_name)
    })
}

fn model_reports(exp: &Experiment) -> Result<Vec<ModelReport>, Invalid> {
    exp.models_in_use()
        .into_iter()
        .map(|m| {
            let r = exp.resolve(m).map_err(|e| Invalid::Unresolved {
                model: m.to_string(),
                message: e.to_string(),
            })?;
            Ok(ModelReport {
                written: m.to_string(),
                resolved: r.name,
                provider: r.provider,
                kind: r.kind.as_str(),
            })
        })
        .collect()
}

/// One line saying who decides the verdicts.
fn classification_line(exp: &Experiment) -> String {
    let c = &exp.classification;
    if !c.enabled {
        return "off (`classification.enabled: false`)".into();
    }
    let judges = c.harm_judges();
    let mut parts = vec![match judges.as_slice() {
        [] => "detectors only (no `classifier_model`)".into(),
        [j] => format!("detectors + judge {j}"),
        several => format!(
            "detectors + judges {} (combined: {})",
            several.join(", "),
            c.combine.as_str()
        ),
    }];
    for (scenario, judge) in c.scenario_judges() {
        parts.push(format!("{scenario}: judge {judge}"));
    }
    if let Some(a) = &c.awareness_model {
        parts.push(format!("awareness judge {a}"));
    }
    parts.join("; ")
}

impl fmt::Display for PlanReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.summary;
        writeln!(f, "experiment:            {}", self.experiment_id)?;
        writeln!(f, "conditions:            {}", s.conditions)?;
        writeln!(f, "models:                {}", s.models)?;
        for m in &self.models {
            if m.written == m.resolved {
                writeln!(f, "  {} ({})", m.resolved, m.kind)?;
            } else {
                writeln!(f, "  {} -> {} ({})", m.written, m.resolved, m.kind)?;
            }
        }
        writeln!(f, "samples per condition: {}", s.samples_per_condition)?;
        writeln!(f, "model calls:           {}", s.model_calls)?;
        writeln!(f, "classification:        {}", self.classification)?;
        if let Some(chars) = self.alignment_faking_chars {
            writeln!(
                f,
                "alignment-faking notice: on ({chars} characters, in every system prompt)"
            )?;
        }
        writeln!(f, "first conditions:")?;
        for id in self.conditions.iter().take(SHOWN_CONDITIONS) {
            writeln!(f, "  {id}")?;
        }
        if self.conditions.len() > SHOWN_CONDITIONS {
            writeln!(
                f,
                "  ... and {} more",
                self.conditions.len() - SHOWN_CONDITIONS
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scenario_name_matches_only_as_a_whole_word() {
        assert!(names_word("  scenarios: [blackmail, murder]", "murder"));
        assert!(!names_word("  scenarios: [blackmail_v2]", "blackmail"));
        assert!(!names_word("  scenarios: [my-murder]", "murder"));
    }

    #[test]
    fn an_unknown_scenario_is_located_and_a_known_one_passes() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("e.yaml");
        let body = "experiment_id: t\nglobal:\n  models: [openai/gpt-4.1]\n  samples_per_condition: 1\nexpansions:\n  - name: a\n    enabled: true\n    variables:\n      scenarios: [blackmale]\n      goal_types: [none]\n      goal_values: [none]\n      urgency_types: [replacement]\n";
        std::fs::write(&file, body).unwrap();
        let source = ScenarioSource::builtin();
        let err = validate_file(&file, &source, &ValidateSettings::default()).unwrap_err();
        let Invalid::UnknownScenarios(lines) = &err else {
            panic!("{err}")
        };
        assert!(
            lines[0]
                .contains("e.yaml:9: expansions[0].variables.scenarios: no scenario `blackmale`"),
            "{}",
            lines[0]
        );
        assert!(lines[0].contains("blackmail"), "{}", lines[0]);

        std::fs::write(&file, body.replace("blackmale", "blackmail")).unwrap();
        let report = validate_file(&file, &source, &ValidateSettings::default()).unwrap();
        assert_eq!(report.conditions, ["blackmail_none-none_replacement"]);
        assert_eq!(report.summary.model_calls, 1);
        assert!(report.to_string().contains("detectors only"), "{report}");
    }
}
