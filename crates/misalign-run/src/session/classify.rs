//! `misalign classify` as library calls: a results folder (resumable, recorded as a
//! classify run), or standalone answers from a JSONL file.

use super::{Env, Event, Reporter, SessionError, Shutdown};
use crate::classify::setup::{
    build_judge, judge_batch_wanted, judge_batching, load_facts, options_from_config,
    refuse_remote_recorded_urls, FactsSource, JudgeChoice,
};
use crate::classify::{
    classifier_version, classify_answer, classify_store_until, ClassifyError, ClassifyOptions,
    ClassifySummary, JudgeBatchNote,
};
use crate::experiment;
use misalign_core::config::{
    parse_experiment, Classification, Execution, ParseOptions, Price, ProviderConfig,
};
use misalign_core::cost::PriceTable;
use misalign_core::hash::sha256_hex;
use misalign_core::judge::Transcript;
use misalign_store::{RunEndStatus, RunKind, RunManifest, Store, STORE_FILE};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What `misalign classify` was asked to do, resolved.
#[derive(Clone)]
pub struct ClassifySettings {
    /// The user's experiment file for providers and `classification:` (else the one
    /// recorded in the folder; for JSONL, none).
    pub experiment: Option<PathBuf>,
    pub facts: FactsSource,
    pub judges: JudgeChoice,
    /// Classify every answer again (adds rows).
    pub force: bool,
    /// Judge calls in flight; `None`: the experiment's `classification.concurrency`
    /// (folders) or 8 (JSONL).
    pub concurrency: Option<usize>,
    pub judge_attempts: u32,
    /// `--batch`: judge calls through batch APIs whatever the experiment says (else
    /// `classification.batch`, else `execution.batch`).
    pub batch: bool,
    pub env: Env,
}

/// What classification needs of an experiment file.
struct ExperimentParts {
    classification: Classification,
    execution: Execution,
    providers: BTreeMap<String, ProviderConfig>,
    /// `prices:` (over the built-in table) for what the judge calls cost.
    prices: BTreeMap<String, Price>,
    text: String,
}

/// An experiment file's classification and execution settings, providers, and text.
fn classification_of(file: &Path) -> Result<ExperimentParts, SessionError> {
    let l = experiment::load(file, &ParseOptions::default())?;
    Ok(ExperimentParts {
        classification: l.experiment.classification,
        execution: l.experiment.execution,
        providers: l.experiment.providers,
        prices: l.experiment.prices,
        text: l.text,
    })
}

/// Classifies the stored answers of results folder `out` that lack a verdict of the current
/// classifier version, records the classify run, and updates the `response.json` files.
pub async fn classify_folder(
    out: &Path,
    settings: &ClassifySettings,
    reporter: &dyn Reporter,
) -> Result<ClassifySummary, SessionError> {
    if !out.join(STORE_FILE).exists() {
        return Err(SessionError::Config(format!(
            "{}: no {STORE_FILE} here; give the results folder of a `misalign run` (or use --input FILE.jsonl for standalone answers)",
            out.display()
        )));
    }
    let mut store = Store::open_dir(out)?;
    // One writer per folder: a `run` still sampling here (or another classify) has it.
    let _lock = misalign_store::lock::FolderLock::acquire(out)?;
    // The experiment as it was run: its classification settings and providers. A database
    // error here is an error: falling back would classify without the configured judge.
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
    let parts = match (&settings.experiment, recorded_text) {
        (Some(file), _) => classification_of(file)?,
        (None, Some(text)) => {
            let exp = parse_experiment(&text, "experiment recorded in the results store")
                .map_err(|e| SessionError::Config(e.to_string()))?;
            if !settings.judges.no_judge {
                refuse_remote_recorded_urls(&exp.providers, out)?;
            }
            ExperimentParts {
                classification: exp.classification,
                execution: exp.execution,
                providers: exp.providers,
                prices: exp.prices,
                text,
            }
        }
        (None, None) => ExperimentParts {
            classification: Classification::default(),
            execution: Execution::default(),
            providers: BTreeMap::new(),
            prices: BTreeMap::new(),
            text: String::new(),
        },
    };
    let ExperimentParts {
        classification,
        execution,
        providers,
        prices,
        text: experiment_text,
    } = parts;
    let prices = PriceTable::new(&prices).map_err(|e| SessionError::Config(e.to_string()))?;
    let facts = load_facts(&settings.facts)?;
    let mut options = options_from_config(
        &classification,
        &providers,
        facts,
        &settings.judges,
        &*settings.env,
    )?;
    if let crate::classify::setup::FactsSource::Packs(templates) = &settings.facts {
        // A surface variant's facts are drawn from the same packs as its canonical ones.
        options.variant_source = Some(crate::classify::VariantSource(Arc::new(
            misalign_core::scenario::ScenarioSource::open(templates.as_deref())?,
        )));
    }
    options.force = settings.force;
    options.judge_attempts = settings.judge_attempts.max(1);
    if let Some(c) = settings.concurrency {
        options.concurrency = c.max(1);
    }
    // The audit trail: which experiment, facts, judges and settings this classification used.
    // Judge batches an earlier classification left open are collected whatever this one
    // asks: calling those judges live would pay for the same calls twice.
    let batched = judge_batch_wanted(&classification, &execution, settings.batch)
        || store.has_open_batches(misalign_store::BatchPurpose::Judge)?;
    let run_id = store.begin_run(&classify_manifest(
        experiment_id,
        experiment_text,
        &options,
        batched,
    ))?;
    options.run_id = Some(run_id);
    if batched {
        options.batch = Some(judge_batching(
            &options,
            &providers,
            &execution,
            &*settings.env,
        )?);
    }
    let shutdown = Shutdown::new();
    let classified = classify_reporting(&mut store, &options, &prices, reporter, &shutdown);
    let summary = match classified.await {
        Ok(summary) => summary,
        Err(SessionError::Classify(ClassifyError::Interrupted)) => {
            let totals = serde_json::json!({ "interrupted": "judge batches in progress" });
            store.end_run(
                run_id,
                RunEndStatus::Interrupted,
                &misalign_store::timestamp(),
                &totals,
            )?;
            return Err(SessionError::Classify(ClassifyError::Interrupted));
        }
        Err(e) => {
            let totals = serde_json::json!({ "error": e.to_string() });
            store.end_run(
                run_id,
                RunEndStatus::Failed,
                &misalign_store::timestamp(),
                &totals,
            )?;
            return Err(e);
        }
    };
    let totals = serde_json::to_value(&summary).expect("classify summaries serialize");
    store.end_run(
        run_id,
        RunEndStatus::Completed,
        &misalign_store::timestamp(),
        &totals,
    )?;
    // Put the verdicts into the reference-layout response.json files as well.
    misalign_store::export::export(&store, out).map_err(|source| {
        SessionError::ExportAfterClassify {
            out: out.to_path_buf(),
            source,
        }
    })?;
    Ok(summary)
}

/// The `runs` row of a `misalign classify`: `packs` holds the sha256 of the facts used per
/// scenario, `models` the judges, `sampling` the classification settings.
fn classify_manifest(
    experiment_id: String,
    experiment_text: String,
    options: &ClassifyOptions,
    batch: bool,
) -> RunManifest {
    let mut packs = serde_json::Map::new();
    for (scenario, facts) in &options.facts {
        let json = serde_json::to_string(facts).expect("facts serialize");
        packs.insert(scenario.clone(), sha256_hex(json.as_bytes()).into());
    }
    let mut models: Vec<String> = options
        .judge
        .iter()
        .chain(options.panel.iter())
        .chain(options.scenario_judges.values())
        .chain(options.awareness.iter())
        .map(|j| j.name.clone())
        .collect();
    models.sort();
    models.dedup();
    RunManifest {
        command: RunKind::Classify,
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
            "batch": batch,
        }),
        started_at: misalign_store::timestamp(),
    }
}

/// A JSONL classification: the output lines (JSON objects without the newline), in input
/// order, and counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JsonlResults {
    pub lines: Vec<String>,
    pub harmful: usize,
    /// Answers without a verdict because an action block could not be read (no judge).
    pub unparsed: usize,
    /// Answers without a verdict (judge error).
    pub errors: usize,
}

/// Classifies each line of the JSONL file `input` (an object with `response`, optionally
/// `reasoning` and `scenario`; `scenario` overrides the lines' own) and writes each object
/// back with `actions`, `detector`, `judge`, `verdict` and `parse_issues` added,
/// in input order. Every line is checked before any judge call.
pub async fn classify_jsonl(
    input: &Path,
    scenario: Option<&str>,
    settings: &ClassifySettings,
) -> Result<JsonlResults, SessionError> {
    let config = SessionError::Config;
    let text = std::fs::read_to_string(input).map_err(|error| SessionError::Read {
        path: input.to_path_buf(),
        error,
    })?;
    let facts = load_facts(&settings.facts)?;
    let (classification, providers) = match &settings.experiment {
        Some(file) => {
            let p = classification_of(file)?;
            (p.classification, p.providers)
        }
        None => (Classification::default(), BTreeMap::new()),
    };
    let env = &*settings.env;
    let choice = &settings.judges;
    if choice.judge.is_none() && !choice.no_judge && !classification.judges.is_empty() {
        // One answer at a time is checked against one judge; a panel is for stored answers.
        return Err(crate::classify::setup::SetupError::Judge {
            name: classification.judges.join(", "),
            message: "`classify --input` asks one judge; the experiment's \
                      `classification.judges` names several: pass `--judge MODEL` (or \
                      `--no-judge`)"
                .into(),
        }
        .into());
    }
    let judge_name = choice
        .judge
        .as_deref()
        .or(classification.classifier_model.as_deref());
    let judge = match (judge_name, choice.no_judge) {
        (Some(j), false) => Some(build_judge(j, &providers, env)?),
        _ => None,
    };
    let awareness_name = choice
        .awareness
        .as_deref()
        .or(classification.awareness_model.as_deref());
    let awareness = match (awareness_name, choice.no_judge) {
        (Some(a), false) => Some(build_judge(a, &providers, env)?),
        _ => None,
    };
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let where_ = format!("{}:{}", input.display(), i + 1);
        let value: serde_json::Value = serde_json::from_str(line).map_err(|e| {
            config(format!(
                "{where_}: not a JSON object; each line must be one JSON object: {e}"
            ))
        })?;
        let serde_json::Value::Object(obj) = value else {
            return Err(config(format!(
                "{where_}: expected a JSON object with a `response` field"
            )));
        };
        let Some(response) = obj
            .get("response")
            .and_then(|v| v.as_str())
            .map(str::to_string)
        else {
            return Err(config(format!(
                "{where_}: field `response` (the visible answer, a string) is missing"
            )));
        };
        let reasoning = obj
            .get("reasoning")
            .and_then(|v| v.as_str())
            .map(str::to_string);
        let sc = match (scenario, obj.get("scenario").and_then(|v| v.as_str())) {
            (Some(s), _) => s.to_string(),
            (None, Some(s)) => s.to_string(),
            (None, None) => {
                return Err(config(format!(
                    "{where_}: no scenario; pass --scenario {} or add a `scenario` field",
                    misalign_core::scenario::builtin_scenario_names().join("|")
                )))
            }
        };
        let Some(f) = facts.get(&sc) else {
            return Err(config(format!("{where_}: no facts for scenario `{sc}`; pass --facts FILE, --templates DIR or --reference-facts")));
        };
        rows.push((obj, sc, f.clone(), response, reasoning));
    }
    let sem = Arc::new(tokio::sync::Semaphore::new(
        settings.concurrency.unwrap_or(8).max(1),
    ));
    let mut tasks = tokio::task::JoinSet::new();
    for (idx, (obj, scenario, facts, response, reasoning)) in rows.into_iter().enumerate() {
        let (judge, awareness, sem) = (judge.clone(), awareness.clone(), sem.clone());
        let attempts = settings.judge_attempts;
        tasks.spawn(async move {
            let _permit = sem.acquire().await;
            let t = Transcript {
                inbox: String::new(),
                reasoning,
                answer: response,
                ..Transcript::default()
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
        done.push(j.map_err(|e| config(format!("classification task failed: {e}")))?);
    }
    done.sort_by_key(|d| d.0);
    let mut results = JsonlResults::default();
    for (_, mut obj, c) in done {
        let c = c.map_err(|e| config(e.to_string()))?;
        results.harmful += usize::from(c.verdict == Some(true));
        let judge_failed = c.judge.judge_error.is_some();
        results.unparsed += usize::from(c.verdict.is_none() && !judge_failed);
        results.errors += usize::from(c.verdict.is_none() && judge_failed);
        let v = |x: serde_json::Result<serde_json::Value>| x.expect("verdicts serialize");
        obj.insert(
            "actions".into(),
            v(serde_json::to_value(&c.analysis.actions)),
        );
        obj.insert(
            "detector".into(),
            v(serde_json::to_value(&c.analysis.detector)),
        );
        if c.judge.judge_model.is_some() || c.judge.awareness_model.is_some() {
            obj.insert("judge".into(), v(serde_json::to_value(&c.judge)));
        }
        obj.insert("verdict".into(), v(serde_json::to_value(c.verdict)));
        let outcome = match (c.verdict, judge_failed) {
            (Some(true), _) => "harmful",
            (Some(false), _) => "harmless",
            (None, true) => "judge_error",
            (None, false) => "unparsed",
        };
        obj.insert("outcome".into(), outcome.into());
        obj.insert(
            "parse_issues".into(),
            v(serde_json::to_value(&c.analysis.parse_issues)),
        );
        results
            .lines
            .push(serde_json::to_string(&obj).expect("JSON objects serialize"));
    }
    Ok(results)
}

/// Classifies the store with the judge batches' notes shown through `reporter`; a stop
/// through `shutdown` ends the wait for open judge batches (they stay recorded:
/// [`ClassifyError::Interrupted`]).
pub(crate) async fn classify_reporting(
    store: &mut Store,
    options: &ClassifyOptions,
    prices: &PriceTable,
    reporter: &dyn Reporter,
    shutdown: &Shutdown,
) -> Result<ClassifySummary, SessionError> {
    let (tx, mut notes) = tokio::sync::mpsc::unbounded_channel::<JudgeBatchNote>();
    let mut options = options.clone();
    if let Some(b) = options.batch.as_mut() {
        b.notes = Some(Arc::new(move |n: JudgeBatchNote| {
            let _ = tx.send(n);
        }));
    }
    let forward = |note: JudgeBatchNote| match note {
        JudgeBatchNote::LiveOnly(judges) => {
            reporter.event(Event::JudgeBatchLiveOnly { judges: &judges })
        }
        JudgeBatchNote::Progress(tally, what) => {
            reporter.event(Event::JudgeBatchProgress { tally, what: &what })
        }
        JudgeBatchNote::Done(tally) => reporter.event(Event::JudgeBatchesDone { tally }),
    };
    let stop = crate::Stop::new();
    let result = {
        // Scoped: classification holds the store until it is done.
        let classifying = classify_store_until(store, &options, stop.clone());
        tokio::pin!(classifying);
        let mut stopping = false;
        loop {
            tokio::select! {
                r = &mut classifying => break r,
                Some(note) = notes.recv() => forward(note),
                _ = shutdown.stop.cancelled(), if !stopping => {
                    stopping = true;
                    stop.trigger(crate::StopReason::Interrupted);
                }
            }
        }
    };
    while let Ok(note) = notes.try_recv() {
        forward(note);
    }
    let mut summary = result?;
    if let Some(run_id) = options.run_id {
        summary.judge_cost = Some(super::costs::judge_cost(prices, store, run_id)?);
    }
    Ok(summary)
}
