//! Looking at scenario packs: the listing, one scenario's facts with a rendered condition, and
//! writing the built-in tree out for editing (what `misalign scenarios` does).

use misalign_core::condition::ConditionIdError;
use misalign_core::config::MitigationPlace;
use misalign_core::render::render;
use misalign_core::scenario::{harmful_action, Layout, Origin, ScenarioError, ScenarioSource};
use misalign_core::{Condition, GoalType, Urgency};
use std::fmt::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ScenariosError {
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    #[error(transparent)]
    ConditionId(#[from] ConditionIdError),
    #[error("no scenarios found in {0}; a scenario is a folder with a templates/ folder inside")]
    NoScenarios(String),
    #[error("condition `{condition}` belongs to scenario `{belongs_to}`, not `{name}`")]
    OtherScenario {
        condition: String,
        belongs_to: String,
        name: String,
    },
    #[error("rendering condition {condition}: {source}")]
    Render {
        condition: String,
        source: ScenarioError,
    },
    #[error("this build of misalign has no built-in scenarios to export")]
    NothingToExport,
    #[error("{} exists and is not a folder", .0.display())]
    NotAFolder(PathBuf),
    #[error("{} is not empty; choose an empty or new folder, or pass --force to overwrite files of the same name", .0.display())]
    NotEmpty(PathBuf),
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Where the scenarios come from, for messages.
pub fn origin(source: &ScenarioSource) -> String {
    match source.origin() {
        Origin::Builtin => "the built-in packs".to_string(),
        Origin::Dir(d) => d.display().to_string(),
    }
}

/// The listing as aligned text columns: name, company, harmful action, template files,
/// layout, pack hash (first 12 hex digits).
pub fn list(source: &ScenarioSource) -> Result<String, ScenariosError> {
    let names = source.scenario_names();
    if names.is_empty() {
        return Err(ScenariosError::NoScenarios(origin(source)));
    }
    let mut rows = vec![[
        "NAME",
        "COMPANY",
        "DESCRIPTION",
        "TEMPLATES",
        "LAYOUT",
        "PACK HASH",
    ]
    .map(String::from)];
    for name in &names {
        let sc = source.scenario(name)?;
        let (company, kind) = match &sc.facts {
            Some(f) => (f.company.clone(), f.scenario.clone()),
            None => ("-".to_string(), name.clone()),
        };
        let hash = source.pack_hash(name, false)?;
        rows.push([
            name.clone(),
            company,
            harmful_action(&kind).to_string(),
            sc.inbox.len().to_string(),
            sc.layout.as_str().to_string(),
            hash[..12].to_string(),
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
    }
    Ok(out)
}

/// Scenario `name`'s layout, pack hash and facts, then `condition` (default
/// `<name>_explicit-america_replacement`) rendered file by file.
pub fn show(
    source: &ScenarioSource,
    name: &str,
    condition: Option<&str>,
) -> Result<String, ScenariosError> {
    let sc = source.scenario(name)?;
    let condition = match condition {
        Some(id) => id.parse::<Condition>()?,
        None => Condition::new(name, GoalType::Explicit, "america", Urgency::Replacement),
    };
    if condition.scenario != name {
        return Err(ScenariosError::OtherScenario {
            condition: condition.id(),
            belongs_to: condition.scenario,
            name: name.to_string(),
        });
    }
    let mut out = String::new();
    let _ = writeln!(out, "# scenario {name}");
    let layout_note = match sc.layout {
        Layout::Pack => " (strict placeholders)",
        Layout::Reference => " (reference framework layout; safe_substitute)",
    };
    let _ = writeln!(out, "layout: {}{layout_note}", sc.layout.as_str());
    let agent = condition.interaction() == misalign_core::Interaction::Agent;
    let question = condition.question_format().is_question();
    let _ = writeln!(
        out,
        "pack hash: {}\n",
        source.pack_hash_with(name, agent, question)?
    );
    match &sc.facts {
        // Facts as indented JSON: readable, exact, and no YAML serializer needed.
        Some(facts) => {
            let json = serde_json::to_string_pretty(facts).expect("facts serialise to JSON");
            let _ = writeln!(out, "## facts ({})\n{json}", sc.facts_display);
        }
        None => {
            let _ = writeln!(out, "## facts: none ({} is missing)", sc.facts_display);
        }
    }
    let prompt = render(source, &condition).map_err(|source| ScenariosError::Render {
        condition: condition.id(),
        source,
    })?;
    let _ = writeln!(out, "\n## condition {}", condition.id());
    let _ = write!(out, "### system_prompt.txt\n{}", prompt.system_prompt);
    let _ = write!(out, "### user_prompt.txt\n{}", prompt.user_prompt);
    let _ = write!(out, "### email_content.txt\n{}", prompt.email_content);
    if !prompt.email_content.ends_with('\n') {
        out.push('\n');
    }
    if !prompt.prior_turns.is_empty() {
        let _ = writeln!(out, "### prior_turns.json (sent in this order between the system prompt and the user message)");
        out.push_str(&misalign_core::turns::turns_markdown(&prompt.prior_turns));
    }
    if !prompt.mitigation_additions.is_empty() {
        let label = condition.mitigation_label();
        let _ = writeln!(out, "### mitigation {label} (already in the texts above)");
        for a in &prompt.mitigation_additions {
            let _ = match a.place {
                MitigationPlace::Turns => writeln!(
                    out,
                    "#### {} adds prior conversation turns (before the user message):",
                    a.mitigation
                ),
                place => writeln!(out, "#### {} adds to the {}:", a.mitigation, place.as_str()),
            };
            let _ = writeln!(out, "{}", a.text);
        }
    }
    Ok(out)
}

/// What `misalign scenarios check` prints, and how many findings it has.
pub struct CheckOutcome {
    /// One line per finding (`<condition>: [<rule>] <sentence>`), then the summary and the
    /// built-in mitigations' sizes.
    pub text: String,
    pub findings: usize,
}

/// The pack linter over every scenario of `source` (`misalign_core::lint`;
/// docs/scenario-linter.md).
pub fn check(source: &ScenarioSource) -> Result<CheckOutcome, ScenariosError> {
    let names = source.scenario_names();
    if names.is_empty() {
        return Err(ScenariosError::NoScenarios(origin(source)));
    }
    let report = misalign_core::lint::check(source)?;
    let mut text = String::new();
    for f in &report.findings {
        let _ = writeln!(text, "{}: [{}] {}", f.condition, f.rule, f.text);
    }
    if !report.sizes.is_empty() {
        let _ = writeln!(
            text,
            "mitigation sizes (words, ~tokens at 4 characters a token):"
        );
        for s in &report.sizes {
            let _ = writeln!(
                text,
                "  {:<18} {:>4} words  ~{:>4} tokens",
                s.name, s.words, s.tokens
            );
        }
    }
    let _ = writeln!(
        text,
        "{} of {}: {} conditions rendered, {} finding{}",
        names.join(", "),
        origin(source),
        report.conditions,
        report.findings.len(),
        if report.findings.len() == 1 { "" } else { "s" }
    );
    Ok(CheckOutcome {
        text,
        findings: report.findings.len(),
    })
}

/// Writes the built-in packs under `dir` (which must be empty or new unless `force`);
/// returns how many files were written.
pub fn export_builtin(dir: &Path, force: bool) -> Result<usize, ScenariosError> {
    let io = |action, path: &Path| {
        let path = path.to_path_buf();
        move |source| ScenariosError::Io {
            action,
            path,
            source,
        }
    };
    let source = ScenarioSource::builtin();
    if source.tree().is_empty() {
        return Err(ScenariosError::NothingToExport);
    }
    if dir.exists() {
        if !dir.is_dir() {
            return Err(ScenariosError::NotAFolder(dir.to_path_buf()));
        }
        let non_empty = std::fs::read_dir(dir)
            .map_err(io("read", dir))?
            .next()
            .is_some();
        if non_empty && !force {
            return Err(ScenariosError::NotEmpty(dir.to_path_buf()));
        }
    }
    let mut written = 0;
    for (path, bytes) in source.tree().iter() {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(io("create", parent))?;
        }
        std::fs::write(&target, bytes).map_err(io("write", &target))?;
        written += 1;
    }
    Ok(written)
}
