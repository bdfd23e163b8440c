//! `misalign generate EXPERIMENT.yaml [--templates DIR] [--out OUT]`: render every planned
//! condition's prompts into `OUT/prompts/<condition_id>/` (no models, no API keys).
//!
//! Each folder holds `system_prompt.txt`, `user_prompt.txt` (the instruction only),
//! `email_content.txt` (the inbox only) and `metadata.json`, as the reference framework
//! writes them. Without `--out` the folder is `results/<experiment_id>/`. The system and user
//! prompts come from the folder's `system_prompt_templates.py` when a reference-layout folder
//! has one, else from our texts; the output says which, per scenario.

mod folder;

use super::Outcome;
use anyhow::Context;
use folder::Folder;
use misalign_core::plan;
use misalign_core::render::{render_with, RenderOptions};
use misalign_core::scenario::ScenarioSource;
use misalign_core::{Condition, RenderedPrompt};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The experiment file (YAML; the reference framework's schema or ours). Its models are ignored.
    pub experiment: PathBuf,
    /// Read scenarios from this folder instead of the built-in packs: our pack format (as
    /// written by `misalign scenarios export`) or the reference framework's layout
    /// (`<scenario>/templates/` + `<scenario>/variables/`).
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
    /// Where to write `prompts/` [default: results/<experiment_id>].
    #[arg(long, value_name = "OUT")]
    pub out: Option<PathBuf>,
}

pub fn run(args: Args) -> Outcome {
    let started = Instant::now();
    let shown = args.experiment.display().to_string();
    let experiment =
        misalign_run::experiment::load(&args.experiment, &Default::default())?.experiment;
    let conditions: Vec<Condition> = plan::expand(&experiment)
        .into_iter()
        .map(|p| p.condition)
        .collect();
    if conditions.is_empty() {
        anyhow::bail!(
            "{shown}: the experiment plans no conditions (no enabled expansion?); enable an expansion under `expansions:`"
        );
    }
    let source = ScenarioSource::open(args.templates.as_deref())?;
    let prompts = render_all(&source, &conditions, &experiment.render_options())?;
    for w in source.warnings() {
        eprintln!("warning: {w}");
    }

    let out = args
        .out
        .unwrap_or_else(|| Path::new("results").join(&experiment.experiment_id));
    let prompts_dir = out.join("prompts");
    write_prompts(&prompts_dir, &prompts)?;
    println!(
        "{} conditions written to {} in {} ms",
        prompts.len(),
        prompts_dir.display(),
        started.elapsed().as_millis()
    );
    for line in prompt_origins(&source, &conditions)? {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Where each scenario's system and user prompts (and detector facts) came from, one line
/// per distinct origin: `system and user prompts of blackmail, murder: <origin>`.
fn prompt_origins(
    source: &ScenarioSource,
    conditions: &[Condition],
) -> anyhow::Result<Vec<String>> {
    let mut by_origin: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut reference_facts = Vec::new();
    for c in conditions {
        let sc = source.scenario(&c.scenario)?;
        let origin = match (&sc.reference_prompts, &sc.system) {
            (Some(r), _) => r.file.display.clone(),
            (None, Some(doc)) if doc.display.ends_with("(built-in)") => {
                "misalign's built-in texts".to_string()
            }
            (None, Some(doc)) => doc.display.clone(),
            (None, None) => "none found".to_string(),
        };
        let names = by_origin.entry(origin).or_default();
        if !names.contains(&c.scenario) {
            names.push(c.scenario.clone());
        }
        if sc.reference_facts && !reference_facts.contains(&c.scenario) {
            reference_facts.push(c.scenario.clone());
        }
    }
    let mut lines: Vec<String> = by_origin
        .into_iter()
        .map(|(origin, names)| format!("system and user prompts of {}: {origin}", names.join(", ")))
        .collect();
    if !reference_facts.is_empty() {
        lines.push(format!(
            "detector facts of {}: the reference framework's (its templates were recognised)",
            reference_facts.join(", ")
        ));
    }
    Ok(lines)
}

/// Renders every condition on a few threads; the first failure (in condition order) is
/// returned with the condition it broke. Nothing is written until every condition rendered,
/// so a broken template never leaves a half-written folder.
pub fn render_all(
    source: &ScenarioSource,
    conditions: &[Condition],
    options: &RenderOptions,
) -> anyhow::Result<Vec<RenderedPrompt>> {
    let parts = in_chunks(conditions, |part| {
        part.iter()
            .map(|c| {
                render_with(source, c, options)
                    .with_context(|| format!("rendering condition {}", c.id()))
            })
            .collect::<anyhow::Result<Vec<_>>>()
    });
    let mut prompts = Vec::with_capacity(conditions.len());
    for part in parts {
        prompts.extend(part?);
    }
    Ok(prompts)
}

/// Writes `dir/<condition_id>/{system_prompt.txt,user_prompt.txt,email_content.txt,metadata.json}`.
pub fn write_prompts(dir: &Path, prompts: &[RenderedPrompt]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create output folder {}", dir.display()))?;
    let root = Folder::open(dir)
        .with_context(|| format!("cannot open output folder {}", dir.display()))?;
    in_chunks(prompts, |part| {
        part.iter().try_for_each(|p| write_one(&root, p))
    })
    .into_iter()
    .collect()
}

/// Runs `f` on consecutive chunks of `items`, one scoped thread per chunk, and returns the
/// results in chunk order. One thread per core, at most 4: on this project's 2-core machine
/// 4 threads made `generate` 12-18% slower than 2 (they only take turns on the cores).
fn in_chunks<T: Sync, R: Send>(items: &[T], f: impl Fn(&[T]) -> R + Sync) -> Vec<R> {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 4);
    let chunk = items.len().div_ceil(workers).max(1);
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| s.spawn(move || f(part)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("generate worker thread panicked"))
            .collect()
    })
}

fn write_one(root: &Folder, p: &RenderedPrompt) -> anyhow::Result<()> {
    let id = p.condition.id();
    let folder = root
        .create_child(&id)
        .with_context(|| format!("cannot create {}", root.path().join(&id).display()))?;
    let mut metadata =
        serde_json::to_string_pretty(&p.metadata()).context("serialising metadata.json")?;
    metadata.push('\n');
    let mut files = vec![
        ("system_prompt.txt", p.system_prompt.clone()),
        ("user_prompt.txt", p.user_prompt.clone()),
        ("email_content.txt", p.email_content.clone()),
        ("metadata.json", metadata),
    ];
    // Only conditions with turns (`demonstrations`, `turns:` mitigations) have the file: the
    // turns sent, in order, between the system prompt and the user message.
    if !p.prior_turns.is_empty() {
        let mut turns =
            serde_json::to_string_pretty(&p.prior_turns).context("serialising prior_turns.json")?;
        turns.push('\n');
        files.push(("prior_turns.json", turns));
    }
    for (name, body) in &files {
        folder
            .write_file(name, body.as_bytes())
            .with_context(|| format!("cannot write {}", folder.path().join(name).display()))?;
    }
    Ok(())
}
