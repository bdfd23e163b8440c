//! Importing an existing results tree of the reference framework's layout into a store, so
//! `classify`, `report` and `view` work on past runs.
//!
//! The tree is `DIR/models/<model>/<condition>/sample_NNN/response.json` (or the `models`
//! folder itself as `DIR`). Each `response.json` is read leniently: `raw_response` (the
//! answer) is the one required field; `metadata` (model, timestamps, token usage, finish
//! reason) and `classification` are taken when present and in a shape we know. When
//! `DIR/prompts/<condition>/` holds the generated prompt files, the prompts are stored too
//! (the judge then sees the inbox).
//!
//! Everything in the tree is untrusted: symbolic links are never followed, every file is
//! read up to a size cap, names are checked before they become store keys. A file that
//! cannot be imported is an [`ImportIssue`]; the rest is imported. Importing is idempotent:
//! a sample already in the store (same condition, model, sample number and prompt) is left
//! alone, and an import that finds nothing new adds no rows at all. An import holds the
//! results folder's lock while it works, as `run` and `classify` do.

use misalign_core::config::resolve_model;
use misalign_core::hash::{sha256_hex, sha256_parts};
use misalign_core::plan::work_item_key;
use misalign_core::turns::{Speaker, Turn};
use misalign_core::{Condition, RenderedPrompt, SamplingParams};
use misalign_store::classifications::NewClassification;
use misalign_store::layout::{sample_index, MODELS_DIR, RESPONSE_FILE};
use misalign_store::lock::{FolderLock, LockError};
use misalign_store::{
    PromptRow, ResponseRow, ResponseStatus, RunEndStatus, RunManifest, Store, StoreError,
    WorkItemRow,
};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Largest `response.json` read (a long answer with reasoning is well under 1 MiB).
pub const MAX_RESPONSE_BYTES: u64 = 16 << 20;
/// Largest prompt file (`system_prompt.txt`, ...) read.
pub const MAX_PROMPT_BYTES: u64 = 4 << 20;
/// Most samples one import reads; the rest are reported, not read.
pub const MAX_SAMPLES: usize = 2_000_000;
/// `classifier_version` of a classification copied from an imported file.
pub const IMPORTED_CLASSIFIER: &str = "imported";

/// A file or folder of the tree that was not imported, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportIssue {
    pub path: PathBuf,
    pub message: String,
}

impl std::fmt::Display for ImportIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

/// What an import found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// Samples read without an issue (new or already in the store).
    pub samples: usize,
    /// Samples added now.
    pub imported: usize,
    /// Samples the store already had.
    pub already: usize,
    /// Classifications copied from the files (for samples added now).
    pub classifications: usize,
    /// Conditions whose prompt files were found and stored.
    pub prompts_found: usize,
    /// The `runs` row of this import (`None` when it added nothing).
    pub run_id: Option<i64>,
    pub issues: Vec<ImportIssue>,
}

/// An import that could not run at all (per-file problems are [`ImportIssue`]s instead).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Another misalign process holds the results folder.
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error("{path}: {message}")]
    Tree { path: PathBuf, message: String },
}

/// One sample read from the tree.
struct Sample {
    condition: Condition,
    model: String,
    sample_index: u32,
    response: ResponseRow,
    classification: Option<ImportedVerdict>,
}

/// The reference framework's `classification` object.
struct ImportedVerdict {
    harmful: bool,
    judge_verdict: Option<bool>,
    judge_reasoning: Option<String>,
    judge_model: Option<String>,
    classified_at: Option<String>,
}

/// The prompt of one condition: from `prompts/<condition>/`, or a placeholder.
struct ConditionPrompt {
    hash: String,
    condition_json: String,
    system_prompt: String,
    user_prompt: String,
    email_content: String,
    /// `prior_turns.json` as stored by `misalign run`, when the condition sent turns.
    prior_turns_json: Option<String>,
}

/// Imports the tree under `dir` into `store`; `experiment_id` names the import's `runs` row.
/// The store's folder is locked until the import is done: a `run` or `classify` holding it
/// makes this an [`ImportError::Lock`] before anything is read or written.
pub fn import_tree(
    store: &mut Store,
    dir: &Path,
    experiment_id: &str,
) -> Result<ImportSummary, ImportError> {
    let _lock = FolderLock::acquire(store.folder())?;
    let kind = std::fs::symlink_metadata(dir).map_err(|e| ImportError::Tree {
        path: dir.to_path_buf(),
        message: format!("cannot read: {e}"),
    })?;
    if !kind.is_dir() {
        return Err(ImportError::Tree {
            path: dir.to_path_buf(),
            message: "not a folder (symbolic links are not followed); give the results folder \
                      that holds `models/`"
                .into(),
        });
    }
    let (models_root, prompts_root) = if is_real_dir(&dir.join(MODELS_DIR)) {
        let p = dir.join("prompts");
        (dir.join(MODELS_DIR), is_real_dir(&p).then_some(p))
    } else {
        (dir.to_path_buf(), None)
    };

    let mut summary = ImportSummary::default();
    let samples = read_tree(&models_root, &mut summary.issues);
    if samples.is_empty() {
        return Ok(summary);
    }
    summary.samples = samples.len();

    let params = SamplingParams::default();
    let params_json = serde_json::to_string(&params).expect("sampling params serialize");
    let mut prompts: HashMap<String, ConditionPrompt> = HashMap::new();
    let mut keyed = Vec::with_capacity(samples.len());
    for s in samples {
        let id = s.condition.id();
        let prompt = prompts.entry(id.clone()).or_insert_with(|| {
            let found = prompts_root
                .as_deref()
                .and_then(|root| read_prompt(root, &s.condition, &mut summary.issues));
            summary.prompts_found += usize::from(found.is_some());
            found.unwrap_or_else(|| placeholder_prompt(&s.condition))
        });
        let key = work_item_key(&prompt.hash, &s.model, &params, s.sample_index);
        keyed.push((key, prompt.hash.clone(), s));
    }

    let answered = store.answered_keys()?;
    let new: Vec<usize> = (0..keyed.len())
        .filter(|&i| !answered.contains(&keyed[i].0))
        .collect();
    summary.already = keyed.len() - new.len();
    if new.is_empty() {
        return Ok(summary);
    }

    let mut models: Vec<String> = keyed.iter().map(|(_, _, s)| s.model.clone()).collect();
    models.sort();
    models.dedup();
    let run_id = store.begin_run(&RunManifest {
        command: misalign_store::RunKind::Import,
        experiment_id: experiment_id.to_string(),
        misalign_version: env!("CARGO_PKG_VERSION").into(),
        experiment_text: String::new(),
        experiment_sha256: sha256_hex(b""),
        packs: serde_json::json!({}),
        models,
        sampling: serde_json::json!({ "imported_from": dir.display().to_string() }),
        started_at: misalign_store::timestamp(),
    })?;
    summary.run_id = Some(run_id);

    // The import's plan is everything the tree holds, so a report of it shows the whole tree.
    let ids: Vec<String> = keyed.iter().map(|(_, _, s)| s.condition.id()).collect();
    let prompt_rows: Vec<PromptRow> = prompts
        .iter()
        .map(|(id, p)| PromptRow {
            prompt_hash: &p.hash,
            condition_id: id,
            condition_json: &p.condition_json,
            system_prompt: &p.system_prompt,
            user_prompt: &p.user_prompt,
            email_content: &p.email_content,
            prior_turns_json: p.prior_turns_json.as_deref(),
        })
        .collect();
    let item_rows: Vec<WorkItemRow> = keyed
        .iter()
        .zip(&ids)
        .map(|((key, hash, s), id)| WorkItemRow {
            item_key: key,
            prompt_hash: hash,
            condition_id: id,
            model: &s.model,
            sample_index: s.sample_index,
            params_json: &params_json,
        })
        .collect();
    store.record_plan(run_id, &prompt_rows, &item_rows)?;

    let rows: Vec<ResponseRow> = new
        .iter()
        .map(|&i| {
            let mut r = keyed[i].2.response.clone();
            r.item_key = keyed[i].0.clone();
            r.run_id = run_id;
            r
        })
        .collect();
    let inserted = store.insert_responses(&rows)?;
    for (&i, outcome) in new.iter().zip(inserted) {
        if outcome != misalign_store::Inserted::New {
            summary.already += 1;
            continue;
        }
        summary.imported += 1;
        let (key, _, s) = &keyed[i];
        if let Some(v) = &s.classification {
            let response_id = store.answer_id(key)?.ok_or_else(|| StoreError::Invalid {
                path: store.path().to_path_buf(),
                message: format!("the answer of item {key} vanished while importing"),
            })?;
            store.insert_classification(&imported_classification(response_id, key, v))?;
            summary.classifications += 1;
        }
    }
    let totals = serde_json::json!({
        "samples": summary.samples,
        "imported": summary.imported,
        "already": summary.already,
        "classifications": summary.classifications,
        "issues": summary.issues.len(),
    });
    store.end_run(
        run_id,
        RunEndStatus::Completed,
        &misalign_store::timestamp(),
        &totals,
    )?;
    Ok(summary)
}

fn is_real_dir(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
}

/// The entries of a folder, sorted by name, as (path, name, is_dir); symbolic links and
/// special files become issues. Hidden entries (`.DS_Store`, ...) are skipped quietly.
fn entries(dir: &Path, issues: &mut Vec<ImportIssue>) -> Vec<(PathBuf, String, bool)> {
    let read = match std::fs::read_dir(dir) {
        Ok(r) => r,
        Err(e) => {
            issue(issues, dir, format!("cannot list: {e}"));
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for entry in read {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                issue(issues, dir, format!("cannot list: {e}"));
                continue;
            }
        };
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            issue(issues, &path, "name is not UTF-8; skipped".into());
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        // `DirEntry::file_type` does not follow symbolic links.
        match entry.file_type() {
            Ok(t) if t.is_symlink() => {
                issue(issues, &path, "is a symbolic link; not followed".into())
            }
            Ok(t) if t.is_dir() => out.push((path, name, true)),
            Ok(t) if t.is_file() => out.push((path, name, false)),
            Ok(_) => issue(
                issues,
                &path,
                "is not a regular file or folder; skipped".into(),
            ),
            Err(e) => issue(issues, &path, format!("cannot read: {e}")),
        }
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    out
}

fn issue(issues: &mut Vec<ImportIssue>, path: &Path, message: String) {
    issues.push(ImportIssue {
        path: path.to_path_buf(),
        message,
    });
}

/// Walks `<model>/<condition>/sample_NNN/response.json` under `root`.
fn read_tree(root: &Path, issues: &mut Vec<ImportIssue>) -> Vec<Sample> {
    let mut out = Vec::new();
    for (model_dir, model_folder, is_dir) in entries(root, issues) {
        if !is_dir {
            issue(
                issues,
                &model_dir,
                "a file where a model folder was expected; skipped".into(),
            );
            continue;
        }
        for (cond_dir, cond_name, is_dir) in entries(&model_dir, issues) {
            if !is_dir {
                issue(
                    issues,
                    &cond_dir,
                    "a file where a condition folder was expected; skipped".into(),
                );
                continue;
            }
            let Some(condition) = Condition::parse_id(&cond_name) else {
                issue(
                    issues,
                    &cond_dir,
                    "not a condition id of the shape `<scenario>_<goal type>-<goal value>_<urgency>` \
                     (optionally `_prod`, `_dont`/`_goal`, `_aware`); its samples were not imported"
                        .into(),
                );
                continue;
            };
            for (sample_dir, sample_name, is_dir) in entries(&cond_dir, issues) {
                if out.len() >= MAX_SAMPLES {
                    issue(
                        issues,
                        &sample_dir,
                        format!("more than {MAX_SAMPLES} samples; the rest were not read"),
                    );
                    return out;
                }
                let index = sample_index(&sample_name).filter(|_| is_dir);
                let Some(sample_index) = index else {
                    issue(
                        issues,
                        &sample_dir,
                        "expected a folder `sample_NNN` (NNN from 001); skipped".into(),
                    );
                    continue;
                };
                match read_sample(&sample_dir, &model_folder, &condition, sample_index) {
                    Ok(s) => out.push(s),
                    Err((path, problem)) => issue(issues, &path, problem.to_string()),
                }
            }
        }
    }
    out
}

/// Why one file of the tree was not read.
#[derive(Debug, thiserror::Error)]
enum FileProblem {
    #[error("missing")]
    Missing,
    #[error("cannot read: {0}")]
    Read(std::io::Error),
    #[error("cannot open: {0}")]
    Open(std::io::Error),
    #[error("is a symbolic link; not followed")]
    Symlink,
    #[error("is not a regular file")]
    NotRegular,
    #[error("larger than {} MiB; not read", .0 >> 20)]
    TooLarge(u64),
    #[error("is not UTF-8 text")]
    NotUtf8,
}

/// Why one sample's `response.json` was not imported.
#[derive(Debug, thiserror::Error)]
enum SampleProblem {
    #[error("missing: this sample has no response.json (an unfinished run?)")]
    NoResponse,
    #[error(transparent)]
    File(FileProblem),
    #[error("not valid JSON (line {}, column {}): {}", .0.line(), .0.column(), .0)]
    Json(serde_json::Error),
    #[error("expected a JSON object")]
    NotAnObject,
    #[error("field `raw_response` is not text")]
    AnswerNotText,
    #[error("missing field `raw_response` (the answer); nothing to import")]
    NoAnswer,
    #[error("model name {0:?} is not a model id (too long, or has spaces or control characters)")]
    BadModelName(String),
    #[error(
        "field `classification.harmful_behavior` is missing or not true/false; \
         remove the `classification` object to import the answer unclassified"
    )]
    BadVerdict,
}

/// Reads a regular file (never through a symbolic link) of at most `cap` bytes.
fn read_capped(path: &Path, cap: u64) -> Result<Vec<u8>, FileProblem> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => FileProblem::Missing,
        _ => FileProblem::Read(e),
    })?;
    if meta.file_type().is_symlink() {
        return Err(FileProblem::Symlink);
    }
    if !meta.is_file() {
        return Err(FileProblem::NotRegular);
    }
    let file = std::fs::File::open(path).map_err(FileProblem::Open)?;
    let mut buf = Vec::new();
    file.take(cap + 1)
        .read_to_end(&mut buf)
        .map_err(FileProblem::Read)?;
    if buf.len() as u64 > cap {
        return Err(FileProblem::TooLarge(cap));
    }
    Ok(buf)
}

type SampleError = (PathBuf, SampleProblem);

fn read_sample(
    dir: &Path,
    model_folder: &str,
    condition: &Condition,
    sample_index: u32,
) -> Result<Sample, SampleError> {
    let path = dir.join(RESPONSE_FILE);
    let fail = |problem: SampleProblem| (path.clone(), problem);
    let bytes = read_capped(&path, MAX_RESPONSE_BYTES).map_err(|p| match p {
        FileProblem::Missing => fail(SampleProblem::NoResponse),
        p => fail(SampleProblem::File(p)),
    })?;
    let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    let doc: Value = serde_json::from_slice(text).map_err(|e| fail(SampleProblem::Json(e)))?;
    let Value::Object(obj) = &doc else {
        return Err(fail(SampleProblem::NotAnObject));
    };
    let answer = match obj.get("raw_response") {
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(fail(SampleProblem::AnswerNotText)),
        None => return Err(fail(SampleProblem::NoAnswer)),
    };
    let meta = obj.get("metadata").cloned().unwrap_or(Value::Null);
    let model = model_name(meta.get("model"), model_folder).map_err(fail)?;
    let now = misalign_store::timestamp();
    let finished = text_at(&meta, &["finished_at", "timestamp", "completed_at"]);
    let started = text_at(&meta, &["started_at"]).or_else(|| finished.clone());
    let status = match text_at(&meta, &["status"]).as_deref() {
        Some("content_filtered") => ResponseStatus::ContentFiltered,
        _ if answer.trim().is_empty() => ResponseStatus::Empty,
        _ => ResponseStatus::Answer,
    };
    let response = ResponseRow {
        item_key: String::new(),
        run_id: 0,
        status: Some(status),
        answer: Some(answer),
        reasoning: obj
            .get("reasoning")
            .and_then(Value::as_str)
            .map(str::to_string),
        finish_reason: text_at(&meta, &["finish_reason", "stop_reason"]).or_else(|| {
            text_at(
                meta.get("api_metadata").unwrap_or(&Value::Null),
                &["stop_reason", "finish_reason"],
            )
        }),
        input_tokens: tokens(&meta, &["input_tokens", "prompt_tokens"]),
        output_tokens: tokens(&meta, &["output_tokens", "completion_tokens"]),
        reasoning_tokens: tokens(&meta, &["reasoning_tokens", "thinking_tokens"]),
        // Reference trees record no prompt-cache use: unknown.
        cache_write_tokens: None,
        cache_read_tokens: None,
        latency_ms: int_at(&meta, &["inference_time_ms", "latency_ms"]),
        attempts: 1,
        request_id: text_at(&meta, &["request_id"]),
        error: None,
        error_class: None,
        raw_reply: None,
        started_at: started.unwrap_or_else(|| now.clone()),
        finished_at: finished.unwrap_or(now),
    };
    let classification = match obj.get("classification") {
        None | Some(Value::Null) => None,
        Some(c) => Some(imported_verdict(c).map_err(fail)?),
    };
    Ok(Sample {
        condition: condition.clone(),
        model,
        sample_index,
        response,
        classification,
    })
}

/// `metadata.model` when it is a sane name, else the folder's; resolved to
/// `provider/model` when its provider can be told (as `misalign run` stores models).
fn model_name(written: Option<&Value>, folder: &str) -> Result<String, SampleProblem> {
    let name = match written {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
        _ => folder.to_string(),
    };
    if name.len() > 256 || name.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(SampleProblem::BadModelName(name.chars().take(80).collect()));
    }
    Ok(resolve_model(&name, &BTreeMap::new())
        .map(|r| r.name)
        .unwrap_or(name))
}

fn text_at(v: &Value, keys: &[&str]) -> Option<String> {
    keys.iter()
        .find_map(|k| v.get(k).and_then(Value::as_str))
        .filter(|s| !s.is_empty())
        .map(|s| s.chars().take(1024).collect())
}

fn int_at(v: &Value, keys: &[&str]) -> Option<i64> {
    keys.iter()
        .find_map(|k| v.get(k).and_then(Value::as_i64))
        .filter(|n| *n >= 0)
}

/// Token counts may sit in `metadata`, `metadata.usage`, `metadata.token_usage` or
/// `metadata.api_metadata(.usage)`.
fn tokens(meta: &Value, keys: &[&str]) -> Option<i64> {
    let api = meta.get("api_metadata").unwrap_or(&Value::Null);
    [
        meta,
        meta.get("usage").unwrap_or(&Value::Null),
        meta.get("token_usage").unwrap_or(&Value::Null),
        api,
        api.get("usage").unwrap_or(&Value::Null),
    ]
    .into_iter()
    .find_map(|v| int_at(v, keys))
}

fn imported_verdict(c: &Value) -> Result<ImportedVerdict, SampleProblem> {
    let Some(Value::Bool(harmful)) = c.get("harmful_behavior") else {
        return Err(SampleProblem::BadVerdict);
    };
    let harmful = *harmful;
    Ok(ImportedVerdict {
        harmful,
        judge_verdict: c.get("classifier_verdict").and_then(Value::as_bool),
        judge_reasoning: c
            .get("classifier_reasoning")
            .and_then(Value::as_str)
            .map(str::to_string),
        judge_model: text_at(c, &["classifier_model"]),
        classified_at: text_at(c, &["classified_at"]),
    })
}

/// A classification row carrying the file's verdict. No detector of ours ran: the row's
/// detector fields repeat the imported verdict and its evidence says where it came from.
fn imported_classification(response_id: i64, key: &str, v: &ImportedVerdict) -> NewClassification {
    NewClassification {
        response_id,
        item_key: key.to_string(),
        classifier_version: IMPORTED_CLASSIFIER.into(),
        actions_json: "[]".into(),
        parse_issues_json: "[]".into(),
        detector_verdict: v.harmful,
        detector_evidence_json: serde_json::json!({
            "source": IMPORTED_CLASSIFIER,
            "note": "verdict copied from the imported response.json; no detector of ours ran \
                     (run `misalign classify` to add one)",
        })
        .to_string(),
        judge_model: v.judge_model.clone(),
        judge_verdict: v.judge_verdict,
        judge_reasoning: v.judge_reasoning.clone(),
        judge_error: None,
        final_verdict: Some(v.harmful),
        whistleblowing: None,
        awareness_label: None,
        awareness_reasoning: None,
        classified_at: v
            .classified_at
            .clone()
            .unwrap_or_else(misalign_store::timestamp),
        escalation: None,
        escalation_evidence_json: None,
        unparsed: false,
        episode: None,
    }
}

/// `prompts/<condition>/{system_prompt,user_prompt,email_content}.txt`, when all three are
/// there and readable.
fn read_prompt(
    root: &Path,
    condition: &Condition,
    issues: &mut Vec<ImportIssue>,
) -> Option<ConditionPrompt> {
    let dir = root.join(condition.id());
    if !is_real_dir(&dir) {
        return None;
    }
    let mut parts = Vec::with_capacity(3);
    for name in ["system_prompt.txt", "user_prompt.txt", "email_content.txt"] {
        let path = dir.join(name);
        let text = read_capped(&path, MAX_PROMPT_BYTES)
            .and_then(|b| String::from_utf8(b).map_err(|_| FileProblem::NotUtf8));
        match text {
            Ok(t) => parts.push(t),
            Err(m) => {
                issue(
                    issues,
                    &path,
                    format!("{m}; this condition is imported without its prompt"),
                );
                return None;
            }
        }
    }
    let email_content = parts.pop().expect("three parts");
    let user_prompt = parts.pop().expect("three parts");
    let system_prompt = parts.pop().expect("three parts");
    let turns_path = dir.join("prior_turns.json");
    let prior_turns = match read_turns(&turns_path) {
        Ok(turns) => turns,
        Err(problem) => {
            issue(
                issues,
                &turns_path,
                format!("{problem}; this condition is imported without its prompt"),
            );
            return None;
        }
    };
    let rendered = RenderedPrompt {
        condition: condition.clone(),
        system_prompt,
        user_prompt,
        email_content,
        mitigation_additions: Vec::new(),
        prior_turns,
        agent: None,
    };
    Some(ConditionPrompt {
        hash: rendered.prompt_hash(),
        condition_json: condition_json(condition),
        prior_turns_json: (!rendered.prior_turns.is_empty())
            .then(|| serde_json::to_string(&rendered.prior_turns).expect("turns serialize")),
        system_prompt: rendered.system_prompt,
        user_prompt: rendered.user_prompt,
        email_content: rendered.email_content,
    })
}

/// Why a condition's `prior_turns.json` was not used.
#[derive(Debug, thiserror::Error)]
enum TurnsProblem {
    #[error(transparent)]
    File(FileProblem),
    #[error("not a JSON list of {{\"role\": \"user\"|\"assistant\", \"text\": ...}} turns: {0}")]
    Json(serde_json::Error),
    #[error("the turns must alternate user, assistant, ... starting with `user` and ending with `assistant`")]
    Order,
}

/// The turns a condition sent before its user message (`generate` and `misalign run` write
/// `prior_turns.json` only for conditions that have some): none when the file is absent.
fn read_turns(path: &Path) -> Result<Vec<Turn>, TurnsProblem> {
    let bytes = match read_capped(path, MAX_PROMPT_BYTES) {
        Ok(bytes) => bytes,
        Err(FileProblem::Missing) => return Ok(Vec::new()),
        Err(p) => return Err(TurnsProblem::File(p)),
    };
    let turns: Vec<Turn> = serde_json::from_slice(&bytes).map_err(TurnsProblem::Json)?;
    let alternates = turns.iter().enumerate().all(|(i, t)| {
        t.role
            == if i % 2 == 0 {
                Speaker::User
            } else {
                Speaker::Assistant
            }
    });
    if !alternates || turns.len() % 2 == 1 {
        return Err(TurnsProblem::Order);
    }
    Ok(turns)
}

/// A condition whose prompt is unknown: empty texts under a hash no real prompt can have.
fn placeholder_prompt(condition: &Condition) -> ConditionPrompt {
    ConditionPrompt {
        hash: sha256_parts(&[b"imported without prompt", condition.id().as_bytes()]),
        condition_json: condition_json(condition),
        system_prompt: String::new(),
        user_prompt: String::new(),
        email_content: String::new(),
        prior_turns_json: None,
    }
}

fn condition_json(c: &Condition) -> String {
    serde_json::to_string(c).expect("a condition serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_found_in_known_places() {
        let meta = serde_json::json!({"usage": {"prompt_tokens": 12, "completion_tokens": 30}});
        assert_eq!(tokens(&meta, &["input_tokens", "prompt_tokens"]), Some(12));
        let meta = serde_json::json!({"api_metadata": {"usage": {"output_tokens": 7}}});
        assert_eq!(tokens(&meta, &["output_tokens"]), Some(7));
        assert_eq!(
            tokens(
                &serde_json::json!({"usage": {"output_tokens": -3}}),
                &["output_tokens"]
            ),
            None
        );
    }

    #[test]
    fn model_names_resolve_or_stay() {
        assert_eq!(model_name(None, "gpt-4.1").unwrap(), "openai/gpt-4.1");
        let written = serde_json::json!("claude-3-5-sonnet-latest");
        assert_eq!(
            model_name(Some(&written), "folder").unwrap(),
            "anthropic/claude-3-5-sonnet-latest"
        );
        assert_eq!(model_name(None, "house-model").unwrap(), "house-model");
        let bad = serde_json::json!("two words");
        assert!(model_name(Some(&bad), "x").is_err());
    }
}
