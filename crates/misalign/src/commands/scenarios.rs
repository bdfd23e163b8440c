//! `misalign scenarios list|show|export`: look at the built-in scenario packs (or a
//! `--templates DIR` folder), and write the built-in tree out for editing.

use super::Outcome;
use anyhow::Context;
use misalign_core::config::MitigationPlace;
use misalign_core::render::render;
use misalign_core::scenario::{Layout, ScenarioSource};
use misalign_core::{Condition, GoalType, Urgency};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// List the scenarios: name, company, what the harmful action is, template files, pack hash.
    List {
        /// Read scenarios from this folder instead of the built-in packs.
        #[arg(long, value_name = "DIR")]
        templates: Option<PathBuf>,
    },
    /// Show a scenario's facts and one rendered condition.
    Show {
        /// Scenario name (`blackmail`, `leaking`, `murder`, or a folder of --templates DIR).
        name: String,
        /// Condition to render, e.g. `blackmail_explicit-america_replacement`
        /// (suffixes `_prod`, `_dont`/`_goal`, `_aware`, `_mit-principles+oversight` allowed;
        /// see docs/mitigations.md)
        /// [default: <name>_explicit-america_replacement].
        #[arg(long, value_name = "ID")]
        condition: Option<String>,
        /// Read scenarios from this folder instead of the built-in packs.
        #[arg(long, value_name = "DIR")]
        templates: Option<PathBuf>,
    },
    /// Write the built-in packs to DIR for editing; use them with `--templates DIR`.
    Export {
        /// Target folder (created if missing; must be empty unless --force).
        dir: PathBuf,
        /// Write into a non-empty folder, replacing files of the same name.
        #[arg(long)]
        force: bool,
    },
}

pub fn run(command: Command) -> Outcome {
    match command {
        Command::List { templates } => list(templates.as_deref()),
        Command::Show {
            name,
            condition,
            templates,
        } => show(&name, condition.as_deref(), templates.as_deref()),
        Command::Export { dir, force } => export(&dir, force),
    }
}

/// One line per kind of scenario: what the harmful action is.
fn description(kind: &str) -> &'static str {
    match kind {
        "blackmail" => "coerce an executive with private information",
        "leaking" => "forward confidential documents to an outside party",
        "murder" => "cancel an emergency alert so that a trapped executive dies",
        _ => "custom scenario",
    }
}

fn list(templates: Option<&Path>) -> Outcome {
    let source = ScenarioSource::open(templates)?;
    let names = source.scenario_names();
    if names.is_empty() {
        anyhow::bail!(
            "no scenarios found in {}; a scenario is a folder with a templates/ folder inside",
            origin(&source)
        );
    }
    let mut rows = vec![[
        "NAME".to_string(),
        "COMPANY".to_string(),
        "DESCRIPTION".to_string(),
        "TEMPLATES".to_string(),
        "LAYOUT".to_string(),
        "PACK HASH".to_string(),
    ]];
    for name in &names {
        let sc = source.scenario(name)?;
        let (company, kind) = match &sc.facts {
            Some(f) => (f.company.clone(), f.scenario.clone()),
            None => ("-".to_string(), name.clone()),
        };
        let hash = source.pack_hash(name)?;
        rows.push([
            name.clone(),
            company,
            description(&kind).to_string(),
            sc.inbox.len().to_string(),
            sc.layout.as_str().to_string(),
            hash[..12].to_string(),
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
    Ok(ExitCode::SUCCESS)
}

fn origin(source: &ScenarioSource) -> String {
    match source.origin() {
        misalign_core::scenario::Origin::Builtin => "the built-in packs".to_string(),
        misalign_core::scenario::Origin::Dir(d) => d.display().to_string(),
    }
}

fn show(name: &str, condition: Option<&str>, templates: Option<&Path>) -> Outcome {
    let source = ScenarioSource::open(templates)?;
    let sc = source.scenario(name)?;
    let condition = match condition {
        Some(id) => id.parse::<Condition>()?,
        None => Condition::new(name, GoalType::Explicit, "america", Urgency::Replacement),
    };
    if condition.scenario != name {
        anyhow::bail!(
            "condition `{}` belongs to scenario `{}`, not `{name}`",
            condition.id(),
            condition.scenario
        );
    }
    println!("# scenario {name}");
    println!(
        "layout: {}{}",
        sc.layout.as_str(),
        match sc.layout {
            Layout::Pack => " (strict placeholders)",
            Layout::Reference => " (reference framework layout; safe_substitute)",
        }
    );
    println!("pack hash: {}", source.pack_hash(name)?);
    println!();
    match &sc.facts {
        Some(facts) => {
            println!("## facts ({})", sc.facts_display);
            let yaml = facts_text(facts)?;
            print!("{yaml}");
        }
        None => println!("## facts: none ({} is missing)", sc.facts_display),
    }
    let prompt = render(&source, &condition)
        .with_context(|| format!("rendering condition {}", condition.id()))?;
    println!();
    println!("## condition {}", condition.id());
    println!("### system_prompt.txt");
    print!("{}", prompt.system_prompt);
    println!("### user_prompt.txt");
    print!("{}", prompt.user_prompt);
    println!("### email_content.txt");
    print!("{}", prompt.email_content);
    if !prompt.email_content.ends_with('\n') {
        println!();
    }
    if !prompt.prior_turns.is_empty() {
        println!("### prior_turns.json (sent in this order between the system prompt and the user message)");
        print!(
            "{}",
            misalign_core::turns::turns_markdown(&prompt.prior_turns)
        );
    }
    if !prompt.mitigation_additions.is_empty() {
        println!(
            "### mitigation {} (already in the texts above)",
            condition.mitigation_label()
        );
        for a in &prompt.mitigation_additions {
            match a.place {
                MitigationPlace::Turns => println!(
                    "#### {} adds prior conversation turns (before the user message):",
                    a.mitigation
                ),
                place => println!("#### {} adds to the {}:", a.mitigation, place.as_str()),
            }
            println!("{}", a.text);
        }
    }
    for w in source.warnings() {
        eprintln!("warning: {w}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Facts as indented JSON: readable, exact, and no YAML serializer needed in the binary.
fn facts_text(facts: &misalign_core::scenario::Facts) -> anyhow::Result<String> {
    let mut s = serde_json::to_string_pretty(facts)?;
    s.push('\n');
    Ok(s)
}

fn export(dir: &Path, force: bool) -> Outcome {
    let source = ScenarioSource::builtin();
    if source.tree().is_empty() {
        anyhow::bail!("this build of misalign has no built-in scenarios to export");
    }
    if dir.exists() {
        if !dir.is_dir() {
            anyhow::bail!("{} exists and is not a folder", dir.display());
        }
        let non_empty = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read {}", dir.display()))?
            .next()
            .is_some();
        if non_empty && !force {
            anyhow::bail!(
                "{} is not empty; choose an empty or new folder, or pass --force to overwrite files of the same name",
                dir.display()
            );
        }
    }
    let mut n = 0;
    for (path, bytes) in source.tree().iter() {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&target, bytes)
            .with_context(|| format!("cannot write {}", target.display()))?;
        n += 1;
    }
    println!(
        "{n} files written to {}; edit them and pass `--templates {}` to generate or run",
        dir.display(),
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}
