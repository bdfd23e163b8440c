//! Inspect evaluation logs: one JSON log per model of the reported run, in the format
//! `inspect_ai.log.read_eval_log` reads and `inspect view` lists (log format version 2).
//!
//! A sample is one planned item: its id is the condition id and its epoch the sample
//! number (1-based), so `(id, epoch)` names it exactly as `models/<model>/<condition>/
//! sample_NNN` does. The header (with the results, counted by SQLite) is written first and
//! the samples are streamed after it, one at a time, so a log of 100,000 answers never
//! holds their transcripts together.
//!
//! An agent episode's sample holds its whole conversation as Inspect's agents log it:
//! system, user (the instruction), then per step an assistant message with its tool calls,
//! one tool message per result and a user message with the events the agent was told of
//! ([`crate::inspect_episode`]).

use crate::samples::{has_answer, row_verdict, transcript_path, ConditionCache};
use crate::ReportError;
use misalign_core::Condition;
use misalign_store::atomic::AtomicFile;
use misalign_store::episode_transcript::{EpisodeStep, TranscriptReader};
use misalign_store::read::{CellCounts, ExportRow, RunSummaryRow};
use misalign_store::Store;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The Inspect log format version written (`EvalLog.version`).
pub const INSPECT_LOG_VERSION: u64 = 2;

/// Score names of each sample (`EvalSample.scores`): `harmful` is the final verdict (1 / 0,
/// absent when the answer is excluded from rates), `detector` and `judge` the stages'
/// verdicts, `awareness` the awareness judge's label.
pub const SCORE_NAMES: [&str; 4] = ["harmful", "detector", "judge", "awareness"];

/// One written log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InspectLog {
    pub model: String,
    pub path: PathBuf,
    pub samples: u64,
}

/// Harm counts of one model within one scenario.
#[derive(Clone, Copy, Debug, Default)]
struct Tally {
    planned: u64,
    answered: u64,
    harmful: u64,
    /// With a final verdict: the denominator of the rate.
    judged: u64,
}

impl Tally {
    fn add(&mut self, c: &CellCounts) {
        self.planned += c.planned;
        self.answered += c.answered;
        self.harmful += c.harmful;
        self.judged += c.harmful + c.harmless;
    }
    fn rate(&self) -> Option<f64> {
        (self.judged > 0).then(|| self.harmful as f64 / self.judged as f64)
    }
}

/// One model's counts: overall, per scenario, and the shape of its plan.
#[derive(Clone, Debug, Default)]
struct ModelTally {
    all: Tally,
    by_scenario: BTreeMap<String, Tally>,
    /// Conditions planned: Inspect's dataset samples.
    conditions: u64,
    /// The most samples planned for one condition: Inspect's epochs.
    epochs: u64,
}

type ModelTallies = BTreeMap<String, ModelTally>;

fn tallies(cells: &[CellCounts]) -> ModelTallies {
    let mut out = ModelTallies::new();
    for c in cells {
        let scenario = c
            .condition_json
            .as_deref()
            .and_then(|j| serde_json::from_str::<Condition>(j).ok())
            .map(|c| c.scenario)
            .unwrap_or_else(|| {
                c.condition_id
                    .split('_')
                    .next()
                    .unwrap_or_default()
                    .to_string()
            });
        let m = out.entry(c.model.clone()).or_default();
        m.all.add(c);
        m.by_scenario.entry(scenario).or_default().add(c);
        m.conditions += 1;
        m.epochs = m.epochs.max(c.planned);
    }
    out
}

/// `YYYY-MM-DDTHH:MM:SS` plus an offset, as Inspect's dates must be; a stored time that is
/// not one (the store is untrusted) becomes the epoch rather than an unreadable log.
fn inspect_time(stored: Option<&str>) -> String {
    stored
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&chrono::Utc).to_rfc3339())
        .unwrap_or_else(|| "1970-01-01T00:00:00+00:00".into())
}

/// The log's file name: Inspect lists only `<ISO time>_<task>_..._<id>.json` files, and its
/// file-name parser splits on `_`, so the model's folder name has its `_` turned to `-`; the
/// id (a hash of the model) keeps two models apart even when their names then coincide, so
/// the readable slug can be cut to [`MAX_SLUG`] bytes: file systems allow 255 bytes per name
/// and a 1,000-character model id must not fail the export with "File name too long".
fn log_file_name(created: &str, model: &str) -> String {
    let stamp: String = created
        .chars()
        .take(19)
        .collect::<String>()
        .replace(':', "-");
    let mut slug = misalign_store::layout::model_folder(model).replace('_', "-");
    // The folder name is ASCII (every other byte is written `%XX`), so any cut is a char
    // boundary.
    slug.truncate(MAX_SLUG);
    format!("{stamp}_misalign_{slug}_{}.json", task_id(model))
}

/// The longest model slug in a log's file name; with the time stamp, the id and the fixed
/// parts a name stays under 200 bytes.
const MAX_SLUG: usize = 120;

fn task_id(model: &str) -> String {
    misalign_core::hash::sha256_hex(model.as_bytes())[..22].to_string()
}

fn eval_status(run: &RunSummaryRow) -> &'static str {
    match run.status.as_deref() {
        None => "started",
        Some("completed") => "success",
        Some("interrupted") => "cancelled",
        Some(_) => "error",
    }
}

fn header(run: &RunSummaryRow, model: &str, tally: &ModelTally) -> Value {
    let (all, by_scenario) = (&tally.all, &tally.by_scenario);
    let created = inspect_time(Some(&run.started_at));
    let sampling: Value = serde_json::from_str(&run.sampling_json).unwrap_or(Value::Null);
    let mut metrics = Map::new();
    if let Some(rate) = all.rate() {
        metrics.insert("rate".into(), json!({"name": "rate", "value": rate}));
    }
    for (scenario, t) in by_scenario {
        if let Some(rate) = t.rate() {
            let name = format!("rate_{scenario}");
            metrics.insert(name.clone(), json!({"name": name, "value": rate}));
        }
    }
    let per_scenario: Map<String, Value> = by_scenario
        .iter()
        .map(|(s, t)| {
            (
                s.clone(),
                json!({"planned": t.planned, "answered": t.answered, "n": t.judged,
                       "harmful": t.harmful, "rate": t.rate()}),
            )
        })
        .collect();
    json!({
        "version": INSPECT_LOG_VERSION,
        "status": eval_status(run),
        "eval": {
            "run_id": format!("misalign-run-{}", run.run_id),
            "created": created,
            "task": format!("misalign/{}", run.experiment_id),
            "task_id": task_id(model),
            "task_version": 0,
            "dataset": {"name": run.experiment_id, "samples": tally.conditions},
            "model": model,
            "config": {"epochs": tally.epochs},
            "packages": {"misalign": run.misalign_version},
            "metadata": {
                "misalign_run_id": run.run_id,
                "experiment_sha256": run.experiment_sha256,
                "sampling": sampling,
            },
        },
        "plan": {"name": "plan", "steps": [{"solver": "misalign/sample", "params": {}}]},
        "results": {
            "total_samples": all.planned,
            "completed_samples": all.answered,
            "scores": [{
                "name": "harmful",
                "scorer": "misalign",
                "scored_samples": all.judged,
                "unscored_samples": all.planned - all.judged,
                "params": {},
                "metrics": metrics,
            }],
            "metadata": {"per_scenario": per_scenario},
        },
        "stats": {
            "started_at": created,
            "completed_at": run.ended_at.as_deref().map(|t| inspect_time(Some(t))).unwrap_or_default(),
        },
    })
}

/// Inspect's stop reasons, from the provider's finish reason and our status.
fn stop_reason(r: &ExportRow) -> &'static str {
    stop_reason_of(r.status.as_deref(), r.finish_reason.as_deref())
}

/// [`stop_reason`] from the parts: an episode's is its last step's finish reason (the
/// episode's own `finish_reason` is how it ended: `finished`, `step_limit`, an event).
pub(crate) fn stop_reason_of(status: Option<&str>, finish_reason: Option<&str>) -> &'static str {
    if status == Some("content_filtered") {
        return "content_filter";
    }
    match finish_reason {
        Some("stop" | "end_turn" | "stop_sequence" | "STOP") => "stop",
        Some("length" | "max_tokens" | "MAX_TOKENS") => "max_tokens",
        Some("content_filter" | "SAFETY") => "content_filter",
        Some("tool_calls" | "tool_use") => "tool_calls",
        _ => "unknown",
    }
}

fn verdict_score(value: Option<i64>, explanation: Option<&str>) -> Option<Value> {
    let v = value?;
    Some(json!({
        "value": if v != 0 { 1 } else { 0 },
        "answer": if v != 0 { "harmful" } else { "harmless" },
        "explanation": explanation,
    }))
}

/// The scores of a sample: the final verdict, the detector's, the judge's (with several
/// judges, their combined verdict) and, with several judges, each one's as `judge:<model>`.
fn scores(r: &ExportRow, judges: &[(&str, Option<bool>)]) -> Map<String, Value> {
    let text = r.text.as_ref();
    let judge_reason = text.and_then(|t| t.judge_reasoning.as_deref());
    let mut s = Map::new();
    if let Some(v) = verdict_score(r.final_verdict, judge_reason) {
        s.insert("harmful".into(), v);
    }
    if let Some(mut v) = verdict_score(r.detector_verdict, None) {
        v["metadata"] = json!({"evidence": r.detector_evidence_json.as_deref()
            .and_then(|e| serde_json::from_str::<Value>(e).ok())});
        s.insert("detector".into(), v);
    }
    if let Some(mut v) = verdict_score(r.judge_verdict, judge_reason) {
        v["metadata"] = json!({"judge_model": r.judge_model});
        s.insert("judge".into(), v);
    }
    for (model, verdict) in judges {
        if let Some(mut v) = verdict_score(verdict.map(i64::from), None) {
            v["metadata"] = json!({"judge_model": model});
            s.insert(format!("judge:{model}"), v);
        }
    }
    if let Some(label) = &r.awareness_label {
        s.insert(
            "awareness".into(),
            json!({"value": label, "answer": label,
                   "explanation": text.and_then(|t| t.awareness_reasoning.as_deref())}),
        );
    }
    s
}

fn metadata(r: &ExportRow, condition: Option<&Condition>, steps: &[EpisodeStep]) -> Value {
    let mut m = json!({
        "item_key": r.item_key,
        "condition": r.condition_id,
        "scenario": r.scenario,
        "goal_type": condition.map(|c| c.goal_type.as_str()),
        "goal_value": condition.map(|c| c.goal_value.as_str()),
        "urgency": condition.map(|c| c.urgency.as_str()),
        "extra_instructions": condition.map(|c| c.extra_instructions().as_str()),
        "variant": condition.map(|c| c.variant().as_str()),
        "awareness_notice": condition.map(|c| c.awareness_notice()),
        "mitigation": condition.map(|c| c.mitigation_label()),
        "sample": r.sample_index + 1,
        "status": r.status,
        "verdict": row_verdict(r),
        "finish_reason": r.finish_reason,
        "judge_model": r.judge_model,
        "judge_error": r.judge_error,
        "whistleblowing": r.whistleblowing.map(|w| w != 0),
        "escalation": r.escalation.map(|w| w != 0),
        "classifier_version": r.classifier_version,
        "latency_ms": r.latency_ms,
        "attempts": r.attempts,
        "transcript": transcript_path(r),
    });
    if !steps.is_empty() {
        m["episode"] = crate::inspect_episode::metadata(steps);
    }
    m
}

/// A chat message as Inspect stores it (`ChatMessageSystem`, `User`, `Assistant`, `Tool`).
/// Borrowed: a sample's prompt and answer are each serialized twice (`input` / `messages`,
/// `messages` / `output`) without being copied. The tool fields are written only for an
/// agent episode's messages.
#[derive(Clone, Default, Serialize)]
pub(crate) struct Message<'a> {
    pub role: &'static str,
    pub content: Content<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<&'a str>,
    /// An assistant message's calls (`ToolCall`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<crate::inspect_episode::ToolCall<'a>>>,
    /// A tool message: the call it answers and the tool's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function: Option<&'a str>,
    /// A tool message whose call did nothing (`ToolCallError`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<crate::inspect_episode::ToolError<'a>>,
}

#[derive(Clone, Serialize)]
#[serde(untagged)]
pub(crate) enum Content<'a> {
    Text(&'a str),
    /// Text made for the log (the events an agent was told of).
    Owned(String),
    Parts(Vec<Part<'a>>),
}

impl Default for Content<'_> {
    fn default() -> Self {
        Content::Text("")
    }
}

#[derive(Clone, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub(crate) enum Part<'a> {
    Reasoning { reasoning: &'a str },
    Text { text: &'a str },
}

/// An assistant message's content: its reasoning (when there is some) and its text.
pub(crate) fn assistant_content<'a>(reasoning: Option<&'a str>, text: &'a str) -> Content<'a> {
    let mut parts = Vec::new();
    if let Some(reasoning) = reasoning.filter(|s| !s.is_empty()) {
        parts.push(Part::Reasoning { reasoning });
    }
    parts.push(Part::Text { text });
    Content::Parts(parts)
}

#[derive(Serialize)]
struct Choice<'a> {
    message: Message<'a>,
    stop_reason: &'static str,
}

#[derive(Serialize)]
struct Output<'a> {
    model: &'a str,
    choices: Vec<Choice<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<&'a Value>,
}

#[derive(Serialize)]
struct SampleError {
    message: String,
    traceback: &'static str,
    traceback_ansi: &'static str,
}

/// `EvalSample`, with the fields misalign fills.
#[derive(Serialize)]
struct Sample<'a> {
    id: &'a str,
    epoch: i64,
    input: Vec<Message<'a>>,
    target: &'static str,
    messages: Vec<Message<'a>>,
    output: Output<'a>,
    scores: Map<String, Value>,
    metadata: Value,
    model_usage: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    started_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    completed_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    total_time: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    working_time: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<SampleError>,
}

/// Writes one row as an `EvalSample`; `steps` are its agent episode's (empty for a
/// single-prompt answer).
fn write_sample(
    out: &mut impl Write,
    r: &ExportRow,
    condition: Option<&Condition>,
    steps: &[EpisodeStep],
    judges: &[(&str, Option<bool>)],
) -> std::io::Result<()> {
    let empty = Default::default();
    let t = r.text.as_ref().unwrap_or(&empty);
    // An agent is given the instruction alone: it finds the mail through its tools.
    let user = if steps.is_empty() {
        format!(
            "{}\n\n{}",
            t.user_prompt.trim_end_matches('\n'),
            t.email_content
        )
    } else {
        t.user_prompt.clone()
    };
    let input_message = |role, content| Message {
        role,
        content: Content::Text(content),
        source: Some("input"),
        ..Message::default()
    };
    // Prior turns (the `demonstrations` mitigation) sit between the system prompt and the
    // user message, exactly as the model received them.
    let turns: Vec<misalign_core::Turn> = t
        .prior_turns_json
        .as_deref()
        .and_then(|j| serde_json::from_str(j).ok())
        .unwrap_or_default();
    let mut input = vec![input_message("system", &t.system_prompt)];
    for turn in &turns {
        input.push(input_message(turn.role.as_str(), &turn.text));
    }
    input.push(input_message("user", &user));
    let mut messages = input.clone();
    let mut choices = Vec::new();
    if !steps.is_empty() {
        let (episode, last) = crate::inspect_episode::messages(steps, &r.model);
        messages.extend(episode);
        if let (true, Some((assistant, finish_reason))) = (has_answer(r), last) {
            choices.push(Choice {
                message: assistant,
                stop_reason: stop_reason_of(r.status.as_deref(), finish_reason),
            });
        }
    } else if has_answer(r) {
        let assistant = Message {
            role: "assistant",
            content: assistant_content(
                t.reasoning.as_deref(),
                t.answer.as_deref().unwrap_or_default(),
            ),
            source: Some("generate"),
            model: Some(&r.model),
            ..Message::default()
        };
        messages.push(assistant.clone());
        choices.push(Choice {
            message: assistant,
            stop_reason: stop_reason(r),
        });
    }
    let (input_tokens, output_tokens) = (r.input_tokens.unwrap_or(0), r.output_tokens.unwrap_or(0));
    let usage = json!({
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "total_tokens": input_tokens + output_tokens,
        "reasoning_tokens": r.reasoning_tokens,
    });
    let has_usage = r.input_tokens.is_some() || r.output_tokens.is_some();
    let error = match r.status.as_deref() {
        Some("error") => Some(
            r.error
                .clone()
                .unwrap_or_else(|| "every attempt failed".into()),
        ),
        None => Some("not attempted (the run stopped before it)".into()),
        Some(_) => None,
    };
    let seconds = r.latency_ms.map(|ms| ms as f64 / 1000.0);
    let sample = Sample {
        id: &r.condition_id,
        epoch: r.sample_index + 1,
        input,
        target: "",
        messages,
        output: Output {
            model: &r.model,
            choices,
            usage: has_usage.then_some(&usage),
        },
        scores: scores(r, judges),
        metadata: metadata(r, condition, steps),
        model_usage: Map::from_iter([(r.model.clone(), usage.clone())]),
        started_at: r.started_at.as_deref().map(|t| inspect_time(Some(t))),
        completed_at: r.finished_at.as_deref().map(|t| inspect_time(Some(t))),
        total_time: seconds,
        working_time: seconds,
        error: error.map(|message| SampleError {
            message,
            traceback: "",
            traceback_ansi: "",
        }),
    };
    serde_json::to_writer(out, &sample).map_err(std::io::Error::from)
}

/// A log being streamed: the header is written, samples follow.
struct OpenLog {
    file: AtomicFile,
    path: PathBuf,
    model: String,
    samples: u64,
}

impl OpenLog {
    fn start(
        dir: &Path,
        run: &RunSummaryRow,
        model: &str,
        t: &ModelTally,
    ) -> std::io::Result<OpenLog> {
        let created = inspect_time(Some(&run.started_at));
        let path = dir.join(log_file_name(&created, model));
        let mut file = AtomicFile::create_at(&path)?;
        // In `EvalLog`'s field order (Inspect's streaming header reader expects it), then
        // `"samples":[`, to which the samples are appended as they are read.
        let head = header(run, model, t);
        file.write_all(b"{")?;
        for key in ["version", "status", "eval", "plan", "results", "stats"] {
            serde_json::to_writer(&mut file, key)?;
            file.write_all(b":")?;
            serde_json::to_writer(&mut file, &head[key])?;
            file.write_all(b",")?;
        }
        file.write_all(b"\"samples\":[")?;
        Ok(OpenLog {
            file,
            path,
            model: model.to_string(),
            samples: 0,
        })
    }

    fn push(
        &mut self,
        r: &ExportRow,
        condition: Option<&Condition>,
        steps: &[EpisodeStep],
        judges: &[(&str, Option<bool>)],
    ) -> std::io::Result<()> {
        if self.samples > 0 {
            self.file.write_all(b",")?;
        }
        write_sample(&mut self.file, r, condition, steps, judges)?;
        self.samples += 1;
        Ok(())
    }

    fn finish(mut self) -> std::io::Result<InspectLog> {
        self.file.write_all(b"]}\n")?;
        self.file.commit()?;
        Ok(InspectLog {
            model: self.model,
            path: self.path,
            samples: self.samples,
        })
    }
}

/// Why the walk over a run's rows stopped.
enum Walk {
    Io(std::io::Error),
    Store(misalign_store::StoreError),
}

impl From<std::io::Error> for Walk {
    fn from(e: std::io::Error) -> Self {
        Walk::Io(e)
    }
}

impl From<misalign_store::StoreError> for Walk {
    fn from(e: misalign_store::StoreError) -> Self {
        Walk::Store(e)
    }
}

/// Writes one Inspect log per model of `run` into `dir` (which must exist), every planned
/// item a sample; returns the logs in model order.
pub fn write_inspect_logs(
    store: &Store,
    run: &RunSummaryRow,
    dir: &Path,
) -> Result<Vec<InspectLog>, ReportError> {
    let tallies = tallies(&store.cell_counts(run.run_id)?);
    let transcripts = TranscriptReader::new(store)?;
    let judges = crate::samples::JudgeColumns::of(store)?;
    let mut logs = Vec::new();
    let mut open: Option<OpenLog> = None;
    let mut conditions = ConditionCache::default();
    let mut failed_at = dir.to_path_buf();
    let walked = store.for_each_export_row(run.run_id, true, |r| {
        if open.as_ref().is_some_and(|l| l.model != r.model) {
            let log = open.take().expect("checked above");
            failed_at = log.path.clone();
            logs.push(log.finish()?);
        }
        if open.is_none() {
            let empty = Default::default();
            let t = tallies.get(&r.model).unwrap_or(&empty);
            open = Some(OpenLog::start(dir, run, &r.model, t)?);
        }
        let steps = transcripts.steps(&r.item_key)?;
        let log = open.as_mut().expect("opened above");
        failed_at = log.path.clone();
        log.push(
            &r,
            conditions.get(&r),
            &steps,
            &judges.verdicts(&r.item_key),
        )
        .map_err(Walk::Io)
    })?;
    walked.map_err(|e| match e {
        Walk::Io(e) => ReportError::write(&failed_at, e.to_string()),
        Walk::Store(e) => ReportError::Store(e),
    })?;
    if let Some(log) = open {
        let path = log.path.clone();
        logs.push(
            log.finish()
                .map_err(|e| ReportError::write(&path, e.to_string()))?,
        );
    }
    Ok(logs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_match_inspects_listing_pattern_and_keep_models_apart() {
        let created = inspect_time(Some("2026-03-04T05:06:07Z"));
        assert_eq!(created, "2026-03-04T05:06:07+00:00");
        let a = log_file_name(&created, "openai/gpt-4.1");
        assert!(
            a.starts_with("2026-03-04T05-06-07_misalign_openai-gpt-4.1_"),
            "{a}"
        );
        assert!(a.ends_with(".json"));
        // `a/b_c` and `a_b/c` would share a slug; the hash keeps their files apart.
        assert_ne!(
            log_file_name(&created, "a/b_c"),
            log_file_name(&created, "a_b/c")
        );
        assert_eq!(a.matches('_').count(), 3, "{a}");
        // A 1,000-character id: a name a file system takes, still told apart by its id.
        let long = format!("openai/{}", "x".repeat(1000));
        let other = format!("openai/{}y", "x".repeat(999));
        let (l, o) = (
            log_file_name(&created, &long),
            log_file_name(&created, &other),
        );
        assert!(l.len() < 200, "{} bytes: {l}", l.len());
        assert_ne!(l, o);
        assert!(
            l.starts_with("2026-03-04T05-06-07_misalign_openai-xxx"),
            "{l}"
        );
        assert_eq!(l.matches('_').count(), 3, "{l}");
        let unicode = format!("openai/{}", "é".repeat(500));
        assert!(log_file_name(&created, &unicode).len() < 200);
    }

    #[test]
    fn a_stored_time_that_is_not_a_time_becomes_the_epoch() {
        for bad in ["", "yesterday", "2026-13-01T00:00:00Z", "../../etc"] {
            assert_eq!(
                inspect_time(Some(bad)),
                "1970-01-01T00:00:00+00:00",
                "{bad}"
            );
        }
        assert_eq!(inspect_time(None), "1970-01-01T00:00:00+00:00");
    }
}
