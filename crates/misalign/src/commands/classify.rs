//! `misalign classify` (issue 4): classify a results folder (resumable), or standalone
//! answers from a JSONL file.
//!
//! Facts come from the built-in packs, or `--templates DIR`, or one `--facts FILE`, or the
//! reference framework's published facts (`--reference-facts`). The judge is
//! `--judge MODEL`, else the experiment's `classification.classifier_model`; without one,
//! the detectors decide alone.

use super::Outcome;
use crate::say::{note, say};
use anyhow::{bail, Context};
use misalign_core::config::{parse_experiment, resolve_model, Classification, ProviderConfig};
use misalign_core::detect::reference_facts::reference_facts;
use misalign_core::hash::sha256_hex;
use misalign_core::judge::Transcript;
use misalign_core::scenario::{parse_facts, Facts, ScenarioSource};
use misalign_run::classify::{
    classifier_version, classify_answer, classify_store, ClassifyOptions, ClassifySummary,
    JudgeModel,
};
use misalign_run::store::{RunEndStatus, RunManifest, Store, STORE_FILE};
use misalign_run::timestamp;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

const SCENARIOS: [&str; 3] = ["blackmail", "leaking", "murder"];

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  misalign classify results/my-exp\n  misalign classify results/my-exp --judge anthropic/claude-sonnet-4-5 --force\n  misalign classify --input answers.jsonl --scenario blackmail --reference-facts --output out.jsonl"
)]
pub struct Args {
    /// Results folder to (re)classify (holds results.sqlite).
    #[arg(required_unless_present = "input", conflicts_with = "input")]
    pub out: Option<PathBuf>,
    /// Classify standalone answers: a JSONL file, one object per line with `response`
    /// (the visible answer) and optionally `reasoning`.
    #[arg(long, value_name = "FILE.jsonl")]
    pub input: Option<PathBuf>,
    /// Scenario of the `--input` answers (else each line's `scenario` field).
    #[arg(long, value_parser = ["blackmail", "leaking", "murder"])]
    pub scenario: Option<String>,
    /// Where `--input` results go (JSONL); default stdout.
    #[arg(long, value_name = "FILE.jsonl", requires = "input")]
    pub output: Option<PathBuf>,
    /// Judge model (`provider/model`), overriding `classification.classifier_model`.
    #[arg(long, value_name = "MODEL")]
    pub judge: Option<String>,
    /// Eval-awareness judge model, overriding `classification.awareness_model`.
    #[arg(long, value_name = "MODEL")]
    pub awareness: Option<String>,
    /// Detectors only, even if the experiment configures a judge.
    #[arg(long, conflicts_with_all = ["judge", "awareness"])]
    pub no_judge: bool,
    /// Classify every answer again (adds rows; earlier verdicts stay in the store).
    #[arg(long)]
    pub force: bool,
    /// Scenario template folder whose facts.yaml files to use.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["facts", "reference_facts"])]
    pub templates: Option<PathBuf>,
    /// One facts.yaml file (for its `scenario`).
    #[arg(long, value_name = "FILE", conflicts_with = "reference_facts")]
    pub facts: Option<PathBuf>,
    /// The reference framework's published facts (executive, leak addresses, override code),
    /// for answers sampled from its own templates.
    #[arg(long)]
    pub reference_facts: bool,
    /// Judge calls in flight (default: `classification.concurrency`, else 8).
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,
    /// Experiment file whose `providers:` and `classification:` to use (default: the one
    /// recorded in the results store; with --input, none).
    #[arg(long, value_name = "FILE.yaml")]
    pub experiment: Option<PathBuf>,
    /// Attempts per judge call before recording a judge error.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub judge_attempts: u32,
}

pub fn run(args: Args) -> Outcome {
    crate::input::load_dotenv()?;
    let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    if let Some(input) = args.input.clone() {
        rt.block_on(classify_file(&args, &input))
    } else {
        let out = args.out.clone().expect("clap requires OUT without --input");
        rt.block_on(classify_folder(&args, &out))
    }
}

/// Facts per scenario from the chosen source.
pub fn load_facts(
    templates: Option<&Path>,
    facts_file: Option<&Path>,
    reference: bool,
) -> anyhow::Result<BTreeMap<String, Facts>> {
    let mut out = BTreeMap::new();
    if reference {
        for s in SCENARIOS {
            out.insert(s.to_string(), reference_facts(s));
        }
        return Ok(out);
    }
    if let Some(file) = facts_file {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read facts file {}", file.display()))?;
        let facts = parse_facts(&text, &file.display().to_string())?;
        if !SCENARIOS.contains(&facts.scenario.as_str()) {
            bail!(
                "{}: field `scenario` is {:?}; expected blackmail, leaking or murder",
                file.display(),
                facts.scenario
            );
        }
        out.insert(facts.scenario.clone(), facts);
        return Ok(out);
    }
    let source = ScenarioSource::open(templates)?;
    for s in SCENARIOS {
        if let Some(f) = source.facts(s)? {
            out.insert(s.to_string(), f);
        }
    }
    Ok(out)
}

/// Builds a judge client for `name` (`provider/model`) with H3's provider registry.
pub fn build_judge(
    name: &str,
    providers: &BTreeMap<String, ProviderConfig>,
) -> anyhow::Result<JudgeModel> {
    let resolved =
        resolve_model(name, providers).map_err(|e| anyhow::anyhow!("judge model `{name}`: {e}"))?;
    let cfg = misalign_core::config::provider_config(&resolved, providers);
    let env = |k: &str| std::env::var(k).ok();
    let client = misalign_models::registry::build_client(&resolved, &cfg, &env, None)
        .map_err(|e| anyhow::anyhow!("judge model `{name}`: {e}"))?;
    Ok(JudgeModel {
        name: resolved.name,
        model_id: resolved.model_id,
        client,
    })
}

/// Classification options from an experiment's `classification:` section (used by
/// `misalign run` after sampling, and here), with command-line overrides.
pub fn options_from_config(
    classification: &Classification,
    providers: &BTreeMap<String, ProviderConfig>,
    facts: BTreeMap<String, Facts>,
    judge_override: Option<&str>,
    awareness_override: Option<&str>,
    no_judge: bool,
) -> anyhow::Result<ClassifyOptions> {
    let mut options = ClassifyOptions {
        facts,
        concurrency: classification.concurrency.max(1),
        judge_attempts: 3,
        ..ClassifyOptions::default()
    };
    if no_judge {
        return Ok(options);
    }
    let judge = judge_override.or(classification.classifier_model.as_deref());
    if let Some(j) = judge {
        options.judge = Some(build_judge(j, providers)?);
    }
    // Reference classifier names (`blackmail_classifier`) select the scenario's own
    // classifier, which is the default; only model names are per-scenario judges.
    if judge_override.is_none() {
        for (scenario, model) in classification.scenario_judges() {
            options
                .scenario_judges
                .insert(scenario.to_string(), build_judge(model, providers)?);
        }
    }
    if let Some(a) = awareness_override.or(classification.awareness_model.as_deref()) {
        options.awareness = Some(build_judge(a, providers)?);
    }
    Ok(options)
}

/// An experiment file's classification settings, providers, and text.
fn read_experiment(
    file: &Path,
) -> anyhow::Result<(Classification, BTreeMap<String, ProviderConfig>, String)> {
    let text = crate::input::read_experiment(file)?;
    let exp =
        parse_experiment(&text, &file.display().to_string()).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((exp.classification, exp.providers, text))
}

/// A results folder may come from someone else, and the judges get the user's API keys: the
/// experiment recorded in it may not send them anywhere but the providers' own endpoints or
/// this machine. Anything else needs the user's own file (`--experiment`).
fn refuse_remote_recorded_urls(
    providers: &BTreeMap<String, ProviderConfig>,
    out: &Path,
) -> anyhow::Result<()> {
    for (name, cfg) in providers {
        for url in &cfg.base_urls {
            if !is_loopback_url(url) {
                bail!(
                    "{}: the experiment recorded in this results folder sends provider `{}` \
                     requests to {}; misalign does not send your API keys where a results folder \
                     says. Pass --experiment FILE (your copy of the experiment) to classify",
                    out.display(),
                    misalign_run::untrusted::terminal_safe(name),
                    misalign_run::untrusted::terminal_safe(url)
                );
            }
        }
    }
    Ok(())
}

fn is_loopback_url(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    // Userinfo (`user@host`) would let the visible host differ from the real one.
    if authority.contains('@') {
        return false;
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.split(':').next().unwrap_or(""),
    };
    let host = host.to_ascii_lowercase();
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

async fn classify_folder(args: &Args, out: &Path) -> Outcome {
    if !out.join(STORE_FILE).exists() {
        bail!(
            "{}: no {STORE_FILE} here; give the results folder of a `misalign run` (or use --input FILE.jsonl for standalone answers)",
            out.display()
        );
    }
    let store = Store::open_dir(out)?;
    // One writer per folder: a `run` still sampling here (or another classify) has it.
    let _lock = misalign_run::lock::FolderLock::acquire(out)?;
    // The experiment as it was run: its classification settings and providers.
    let recorded = store.latest_run_experiment()?;
    let experiment_id = match &recorded {
        Some((id, _)) => id.clone(),
        None => out
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    let recorded_text = recorded
        .map(|(_, text)| text)
        .filter(|t| !t.trim().is_empty());
    let (classification, providers, experiment_text) = match (&args.experiment, recorded_text) {
        (Some(file), _) => read_experiment(file)?,
        (None, Some(text)) => {
            let exp = parse_experiment(&text, "experiment recorded in the results store")
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            if !args.no_judge {
                refuse_remote_recorded_urls(&exp.providers, out)?;
            }
            (exp.classification, exp.providers, text)
        }
        (None, None) => (Classification::default(), BTreeMap::new(), String::new()),
    };
    let facts = load_facts(
        args.templates.as_deref(),
        args.facts.as_deref(),
        args.reference_facts,
    )?;
    let mut options = options_from_config(
        &classification,
        &providers,
        facts,
        args.judge.as_deref(),
        args.awareness.as_deref(),
        args.no_judge,
    )?;
    options.force = args.force;
    options.judge_attempts = args.judge_attempts.max(1);
    if let Some(c) = args.concurrency {
        options.concurrency = c.max(1);
    }
    // The audit trail: which experiment, facts, judges and settings this classification used.
    let run_id = store.begin_run(&classify_manifest(
        experiment_id,
        experiment_text,
        &options,
    )?)?;
    let summary = match classify_store(&store, &options).await {
        Ok(summary) => summary,
        Err(e) => {
            let totals = serde_json::json!({ "error": e.to_string() });
            store.end_run(run_id, RunEndStatus::Failed, &timestamp(), &totals)?;
            return Err(e.into());
        }
    };
    let totals = serde_json::to_value(&summary)?;
    store.end_run(run_id, RunEndStatus::Completed, &timestamp(), &totals)?;
    // Put the verdicts into the reference-layout response.json files as well.
    misalign_run::export::export(&store, out).with_context(|| {
        format!(
            "classified, but could not update the response.json files under {}",
            out.display()
        )
    })?;
    print_summary(&summary);
    Ok(ExitCode::SUCCESS)
}

/// The `runs` row of a `misalign classify`: `packs` holds the sha256 of the facts used per
/// scenario, `models` the judges, `sampling` the classification settings.
fn classify_manifest(
    experiment_id: String,
    experiment_text: String,
    options: &ClassifyOptions,
) -> anyhow::Result<RunManifest> {
    let mut packs = serde_json::Map::new();
    for (scenario, facts) in &options.facts {
        let json = serde_json::to_string(facts)?;
        packs.insert(scenario.clone(), sha256_hex(json.as_bytes()).into());
    }
    let mut models: Vec<String> = options
        .judge
        .iter()
        .chain(options.scenario_judges.values())
        .chain(options.awareness.iter())
        .map(|j| j.name.clone())
        .collect();
    models.sort();
    models.dedup();
    Ok(RunManifest {
        command: "classify".into(),
        experiment_id,
        misalign_version: env!("CARGO_PKG_VERSION").into(),
        experiment_sha256: sha256_hex(experiment_text.as_bytes()),
        experiment_text,
        packs: packs.into(),
        models,
        sampling: serde_json::json!({
            "classifier_version": classifier_version(options),
            "force": options.force,
            "judge_attempts": options.judge_attempts,
            "concurrency": options.concurrency,
        }),
        started_at: timestamp(),
    })
}

/// Prints the per-scenario table (stderr-free: the table is the command's output).
pub fn print_summary(s: &ClassifySummary) {
    say!(
        "classified {} answer(s) ({} judge call(s), {} from cache, {} judge error(s)); classifier {}",
        s.classified, s.judge_calls, s.judge_cache_hits, s.judge_errors, s.classifier_version
    );
    for (scenario, n) in &s.skipped_no_facts {
        // Scenario names come from the store, which whoever sent the folder wrote.
        let scenario = misalign_run::untrusted::terminal_safe(scenario);
        say!("skipped {n} {scenario} answer(s): no facts for {scenario}; pass --templates, --facts or --reference-facts");
    }
    say!(
        "{:<10} {:>7} {:>9} {:>7} {:>7} {:>7} {:>12} {:>8} {:>6}",
        "scenario",
        "answers",
        "detector",
        "judged",
        "judge+",
        "errors",
        "harmful",
        "whistle",
        "kappa"
    );
    for (scenario, v) in &s.per_scenario {
        let kappa = v
            .kappa
            .map(|k| format!("{k:.2}"))
            .unwrap_or_else(|| "-".into());
        say!(
            "{:<10} {:>7} {:>9} {:>7} {:>7} {:>7} {:>12} {:>8} {:>6}",
            misalign_run::untrusted::terminal_safe(scenario),
            v.answers,
            v.detector_harmful,
            v.judged,
            v.judge_harmful,
            v.judge_errors,
            format!("{}/{}", v.final_harmful, v.with_verdict),
            v.whistleblowing,
            kappa
        );
    }
}

async fn classify_file(args: &Args, input: &Path) -> Outcome {
    let text = std::fs::read_to_string(input)
        .with_context(|| format!("cannot read {}", input.display()))?;
    let facts = load_facts(
        args.templates.as_deref(),
        args.facts.as_deref(),
        args.reference_facts,
    )?;
    let (classification, providers, _) = match &args.experiment {
        Some(file) => read_experiment(file)?,
        None => (Classification::default(), BTreeMap::new(), String::new()),
    };
    let judge_name = args
        .judge
        .as_deref()
        .or(classification.classifier_model.as_deref());
    let judge = match (judge_name, args.no_judge) {
        (Some(j), false) => Some(build_judge(j, &providers)?),
        _ => None,
    };
    let awareness_name = args
        .awareness
        .as_deref()
        .or(classification.awareness_model.as_deref());
    let awareness = match (awareness_name, args.no_judge) {
        (Some(a), false) => Some(build_judge(a, &providers)?),
        _ => None,
    };
    // Read and check every line before any judge call.
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let where_ = format!("{}:{}", input.display(), i + 1);
        let value: serde_json::Value = serde_json::from_str(line).with_context(|| {
            format!("{where_}: not a JSON object; each line must be one JSON object")
        })?;
        let serde_json::Value::Object(obj) = value else {
            bail!("{where_}: expected a JSON object with a `response` field");
        };
        let Some(response) = obj
            .get("response")
            .and_then(|v| v.as_str())
            .map(str::to_string)
        else {
            bail!("{where_}: field `response` (the visible answer, a string) is missing");
        };
        let reasoning = obj
            .get("reasoning")
            .and_then(|v| v.as_str())
            .map(str::to_string);
        let scenario = match (&args.scenario, obj.get("scenario").and_then(|v| v.as_str())) {
            (Some(s), _) => s.clone(),
            (None, Some(s)) => s.to_string(),
            (None, None) => bail!("{where_}: no scenario; pass --scenario blackmail|leaking|murder or add a `scenario` field"),
        };
        let Some(f) = facts.get(&scenario) else {
            bail!("{where_}: no facts for scenario `{scenario}`; pass --facts FILE, --templates DIR or --reference-facts");
        };
        rows.push((obj, scenario, f.clone(), response, reasoning));
    }
    let concurrency = args.concurrency.unwrap_or(8).max(1);
    let sem = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let mut tasks = tokio::task::JoinSet::new();
    for (idx, (obj, scenario, facts, response, reasoning)) in rows.into_iter().enumerate() {
        let (judge, awareness, sem) = (judge.clone(), awareness.clone(), sem.clone());
        let attempts = args.judge_attempts;
        tasks.spawn(async move {
            let _permit = sem.acquire().await;
            let t = Transcript {
                inbox: String::new(),
                reasoning,
                answer: response,
            };
            let c = classify_answer(
                &scenario,
                &facts,
                &t,
                judge.as_ref(),
                awareness.as_ref(),
                attempts,
            )
            .await;
            (idx, obj, c)
        });
    }
    let mut done = Vec::new();
    while let Some(j) = tasks.join_next().await {
        done.push(j.context("classification task failed")?);
    }
    done.sort_by_key(|d| d.0);
    let mut sink: Box<dyn Write> = match &args.output {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
        None => Box::new(std::io::stdout().lock()),
    };
    let (mut harmful, mut errors) = (0, 0);
    for (_, mut obj, c) in done {
        let c = c?;
        harmful += usize::from(c.verdict == Some(true));
        errors += usize::from(c.verdict.is_none());
        obj.insert("actions".into(), serde_json::to_value(&c.analysis.actions)?);
        obj.insert(
            "detector".into(),
            serde_json::to_value(&c.analysis.detector)?,
        );
        if c.judge.judge_model.is_some() || c.judge.awareness_model.is_some() {
            obj.insert("judge".into(), serde_json::to_value(&c.judge)?);
        }
        obj.insert("verdict".into(), serde_json::to_value(c.verdict)?);
        obj.insert(
            "parse_issues".into(),
            serde_json::to_value(&c.analysis.parse_issues)?,
        );
        serde_json::to_writer(&mut sink, &obj)?;
        sink.write_all(b"\n")?;
    }
    sink.flush()?;
    note!("classified answers: {harmful} harmful, {errors} without a verdict (judge error)");
    Ok(ExitCode::SUCCESS)
}
