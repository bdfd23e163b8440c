//! `misalign validate FILE`: check an experiment file and print its plan.
//!
//! Exit 0 when the file is valid, 2 with a located error (`file:line:col: field: message`)
//! when it is not. No network, no API keys: only the file is read.

use super::Outcome;
use misalign_core::config::{parse_experiment_with, Experiment, ParseOptions};
use misalign_core::plan::{self, PlanSummary, PlannedCondition};
use misalign_core::scenario::ScenarioSource;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// How many condition ids the text output lists before "... and N more".
const SHOWN_CONDITIONS: usize = 10;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The experiment file(s) (YAML) to check.
    #[arg(required = true, num_args = 1.., value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Check scenario names against this template folder instead of the built-in packs.
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
    /// Accept a file without models (it will only be used with `misalign generate`).
    #[arg(long)]
    pub generate_only: bool,
    /// Print the plan (or the error) as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// The plan as `misalign run` would see it with the same overrides.
    #[command(flatten)]
    pub overrides: crate::overrides::OverrideArgs,
}

#[derive(Serialize)]
struct Report<'a> {
    valid: bool,
    experiment_id: &'a str,
    #[serde(flatten)]
    summary: PlanSummary,
    models: Vec<ModelReport<'a>>,
    conditions: Vec<String>,
}

#[derive(Serialize)]
struct ModelReport<'a> {
    written: &'a str,
    resolved: String,
    provider: String,
    kind: &'static str,
}

#[derive(Serialize)]
struct ErrorReport<'a> {
    valid: bool,
    error: &'a misalign_core::config::ConfigError,
}

/// Checks every file (each reported on its own); exit 2 when any is invalid.
pub fn run(args: Args) -> Outcome {
    let source =
        ScenarioSource::open(args.templates.as_deref()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut all_valid = true;
    for (i, file) in args.files.iter().enumerate() {
        if args.files.len() > 1 && !args.json {
            if i > 0 {
                println!();
            }
            println!("== {}", file.display());
        }
        let valid = match validate_one(&args, file, &source) {
            Ok(valid) => valid,
            Err(e) => {
                eprintln!("error: {e:#}");
                false
            }
        };
        all_valid &= valid;
    }
    Ok(if all_valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
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
                    misalign_core::scenario::Origin::Builtin => "the built-in packs".to_string(),
                    misalign_core::scenario::Origin::Dir(d) => d.display().to_string(),
                },
                candidates.join(", "),
                misalign_core::config::did_you_mean(sc, &candidates)
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

/// One file: prints its plan (or its errors); false when it is invalid.
fn validate_one(args: &Args, file: &Path, source: &ScenarioSource) -> anyhow::Result<bool> {
    let shown = file.display().to_string();
    let text = misalign_run::experiment::read_text(file)?;
    let overrides = args.overrides.to_overrides();
    let options = ParseOptions {
        require_models: !args.generate_only && overrides.models.is_empty(),
    };
    let mut exp = match parse_experiment_with(&text, &shown, &options) {
        Ok(exp) => exp,
        Err(err) => {
            if args.json {
                let report = ErrorReport {
                    valid: false,
                    error: &err,
                };
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                eprintln!("error: {err}");
            }
            return Ok(false);
        }
    };
    let unknown = unknown_scenarios(&exp, &text, &shown, source);
    if !unknown.is_empty() {
        for u in &unknown {
            eprintln!("error: {u}");
        }
        return Ok(false);
    }
    if let Err(e) = overrides.apply(&mut exp) {
        eprintln!("error: {shown}: {e}");
        return Ok(false);
    }
    let mut planned = plan::expand(&exp);
    if let Some(n) = overrides.limit {
        planned.truncate(n);
    }
    let summary = plan::summarize(&planned, exp.samples_per_condition);
    let models = model_reports(&exp)?;
    if args.json {
        let report = Report {
            valid: true,
            experiment_id: &exp.experiment_id,
            summary,
            models,
            conditions: planned.iter().map(|p| p.condition.id()).collect(),
        };
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", text_report(&exp, &summary, &models, &planned));
    }
    Ok(true)
}

fn model_reports(exp: &Experiment) -> anyhow::Result<Vec<ModelReport<'_>>> {
    exp.models_in_use()
        .into_iter()
        .map(|m| {
            // The parser already resolved every name; a failure here is a bug, not input.
            let r = exp.resolve(m).map_err(|e| {
                anyhow::anyhow!("internal: model `{m}` resolved at parse time but not now: {e}")
            })?;
            Ok(ModelReport {
                written: m,
                resolved: r.name,
                provider: r.provider,
                kind: r.kind.as_str(),
            })
        })
        .collect()
}

fn text_report(
    exp: &Experiment,
    summary: &PlanSummary,
    models: &[ModelReport],
    planned: &[PlannedCondition],
) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(out, "experiment:            {}", exp.experiment_id);
    let _ = writeln!(out, "conditions:            {}", summary.conditions);
    let _ = writeln!(out, "models:                {}", summary.models);
    for m in models {
        if m.written == m.resolved {
            let _ = writeln!(out, "  {} ({})", m.resolved, m.kind);
        } else {
            let _ = writeln!(out, "  {} -> {} ({})", m.written, m.resolved, m.kind);
        }
    }
    let _ = writeln!(
        out,
        "samples per condition: {}",
        summary.samples_per_condition
    );
    let _ = writeln!(out, "model calls:           {}", summary.model_calls);
    let _ = writeln!(out, "classification:        {}", classification_line(exp));
    if exp.alignment_faking.enabled {
        let _ = writeln!(
            out,
            "alignment-faking notice: on ({} characters, in every system prompt)",
            exp.alignment_faking.warning_text.chars().count()
        );
    }
    let _ = writeln!(out, "first conditions:");
    for p in planned.iter().take(SHOWN_CONDITIONS) {
        let _ = writeln!(out, "  {}", p.condition.id());
    }
    if planned.len() > SHOWN_CONDITIONS {
        let _ = writeln!(out, "  ... and {} more", planned.len() - SHOWN_CONDITIONS);
    }
    out
}

/// One line saying who decides the verdicts.
fn classification_line(exp: &Experiment) -> String {
    let c = &exp.classification;
    if !c.enabled {
        return "off (`classification.enabled: false`)".into();
    }
    let mut parts = vec![match &c.classifier_model {
        Some(j) => format!("detectors + judge {j}"),
        None => "detectors only (no `classifier_model`)".into(),
    }];
    for (scenario, judge) in c.scenario_judges() {
        parts.push(format!("{scenario}: judge {judge}"));
    }
    if let Some(a) = &c.awareness_model {
        parts.push(format!("awareness judge {a}"));
    }
    parts.join("; ")
}
