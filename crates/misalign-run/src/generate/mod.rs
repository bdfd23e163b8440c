//! Rendering an experiment's planned conditions into the reference framework's folder layout
//! (`OUT/prompts/<condition_id>/`), with no models and no API keys: what `misalign generate`
//! does.
//!
//! Each folder holds `system_prompt.txt`, `user_prompt.txt` (the instruction only),
//! `email_content.txt` (the inbox only) and `metadata.json`, plus `prior_turns.json` when the
//! condition sends prior turns, and `environment.yaml` for an agent condition (its
//! `user_prompt.txt` is then the agent's instruction, and `email_content.txt` the mailbox
//! its tools reveal). Nothing is written until every condition rendered, so a broken
//! template never leaves a half-written folder.

mod folder;

use crate::experiment::{self, ExperimentError};
use folder::{ChildError, Folder};
use misalign_core::plan;
use misalign_core::render::{render_with, RenderOptions};
use misalign_core::scenario::{ScenarioError, ScenarioSource};
use misalign_core::{Condition, RenderedPrompt};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What `generate` needs, resolved from the command line.
#[derive(Debug, Clone)]
pub struct GenerateSettings {
    /// The experiment file; its models are ignored.
    pub experiment: PathBuf,
    /// A template folder instead of the built-in packs.
    pub templates: Option<PathBuf>,
    /// Where `prompts/` goes; `results/<experiment_id>` when absent.
    pub out: Option<PathBuf>,
}

/// What was written.
#[derive(Debug)]
pub struct Generated {
    pub conditions: usize,
    pub prompts_dir: PathBuf,
    /// Where each scenario's prompts (and detector facts) came from, one line per origin.
    pub origins: Vec<String>,
    /// The template folder's warnings (unused variables and the like).
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error(transparent)]
    Experiment(#[from] ExperimentError),
    #[error("{file}: the experiment plans no conditions (no enabled expansion?); enable an expansion under `expansions:`")]
    NoConditions { file: String },
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    #[error("rendering condition {condition}: {source}")]
    Render {
        condition: String,
        source: ScenarioError,
    },
    /// The I/O error is part of the message and not a `source`: shown with its causes
    /// (`{:#}`), it would be said twice.
    #[error("cannot {action} {}: {error}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("serialising {file} of {condition}: {source}")]
    Json {
        file: &'static str,
        condition: String,
        source: serde_json::Error,
    },
}

/// Loads the experiment, renders every planned condition and writes the folders.
pub fn generate(settings: &GenerateSettings) -> Result<Generated, GenerateError> {
    let shown = settings.experiment.display().to_string();
    let experiment = experiment::load(&settings.experiment, &Default::default())?.experiment;
    let conditions: Vec<Condition> = plan::expand(&experiment)
        .into_iter()
        .map(|p| p.condition)
        .collect();
    if conditions.is_empty() {
        return Err(GenerateError::NoConditions { file: shown });
    }
    let source = ScenarioSource::open(settings.templates.as_deref())?;
    let prompts = render_all(&source, &conditions, &experiment.render_options())?;
    let out = settings
        .out
        .clone()
        .unwrap_or_else(|| Path::new("results").join(&experiment.experiment_id));
    let prompts_dir = out.join("prompts");
    write_prompts(&prompts_dir, &prompts)?;
    Ok(Generated {
        conditions: prompts.len(),
        prompts_dir,
        origins: prompt_origins(&source, &conditions)?,
        warnings: source.warnings(),
    })
}

/// Where each scenario's system and user prompts (and detector facts) came from, one line
/// per distinct origin: `system and user prompts of blackmail, murder: <origin>`.
fn prompt_origins(
    source: &ScenarioSource,
    conditions: &[Condition],
) -> Result<Vec<String>, ScenarioError> {
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
/// returned with the condition it broke.
pub fn render_all(
    source: &ScenarioSource,
    conditions: &[Condition],
    options: &RenderOptions,
) -> Result<Vec<RenderedPrompt>, GenerateError> {
    let parts = in_chunks(conditions, |part| {
        part.iter()
            .map(|c| {
                render_with(source, c, options).map_err(|source| GenerateError::Render {
                    condition: c.id(),
                    source,
                })
            })
            .collect::<Result<Vec<_>, _>>()
    });
    let mut prompts = Vec::with_capacity(conditions.len());
    for part in parts {
        prompts.extend(part?);
    }
    Ok(prompts)
}

/// Writes `dir/<condition_id>/{system_prompt.txt,user_prompt.txt,email_content.txt,metadata.json}`.
pub fn write_prompts(dir: &Path, prompts: &[RenderedPrompt]) -> Result<(), GenerateError> {
    let io = |action, path: &Path| {
        let path = path.to_path_buf();
        move |error| GenerateError::Io {
            action,
            path,
            error,
        }
    };
    // The folder the user named is taken as it is; `prompts/` and everything below it are
    // created without following links (a folder may have been handed over with planted
    // ones).
    let (parent, leaf) = match (dir.parent(), dir.file_name().and_then(|n| n.to_str())) {
        (Some(p), Some(leaf)) => (
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            },
            leaf,
        ),
        _ => {
            return Err(GenerateError::Io {
                action: "create output folder",
                path: dir.to_path_buf(),
                error: std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "the prompts folder needs a plain name",
                ),
            })
        }
    };
    std::fs::create_dir_all(parent).map_err(io("create output folder", parent))?;
    let root = Folder::open(parent)
        .and_then(|p| p.create_child(leaf))
        .map_err(io("create output folder", dir))?;
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

fn write_one(root: &Folder, p: &RenderedPrompt) -> Result<(), GenerateError> {
    let id = p.condition.id();
    let json_error = |file| {
        let condition = id.clone();
        move |source| GenerateError::Json {
            file,
            condition,
            source,
        }
    };
    let mut files = vec![
        ("system_prompt.txt", p.system_prompt.clone()),
        ("user_prompt.txt", p.user_prompt.clone()),
        ("email_content.txt", p.email_content.clone()),
        (
            "metadata.json",
            pretty_json(&p.metadata()).map_err(json_error("metadata.json"))?,
        ),
    ];
    // Only conditions with turns (`demonstrations`, `turns:` mitigations) have the file: the
    // turns sent, in order, between the system prompt and the user message.
    if !p.prior_turns.is_empty() {
        let turns = pretty_json(&p.prior_turns).map_err(json_error("prior_turns.json"))?;
        files.push(("prior_turns.json", turns));
    }
    // An agent condition's episodes run on the pack's environment, as read.
    if let Some(agent) = &p.agent {
        files.push((
            misalign_core::environment::ENVIRONMENT_FILE,
            agent.environment.clone(),
        ));
    }
    let files: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (*n, b.as_bytes())).collect();
    root.write_new_child(&id, &files).map_err(|e| match e {
        ChildError::Create(error) => GenerateError::Io {
            action: "create",
            path: root.path().join(&id),
            error,
        },
        ChildError::Write { path, error } => GenerateError::Io {
            action: "write",
            path,
            error,
        },
    })
}

/// Pretty JSON with a final newline, as the reference framework's files end.
fn pretty_json<T: serde::Serialize>(value: &T) -> Result<String, serde_json::Error> {
    let mut s = serde_json::to_string_pretty(value)?;
    s.push('\n');
    Ok(s)
}
