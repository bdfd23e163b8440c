//! The reference framework's results layout, written from the store:
//! `OUT/models/<model>/<condition>/sample_NNN/response.json` (NNN from 001), so analysis
//! scripts written for the reference framework keep working.
//!
//! Files are written atomically through [`crate::atomic`] (never through a symlink, never
//! half-written) and left alone when their content would not change, so re-exporting after
//! a resume or a reclassification is cheap. Where each file goes is [`crate::layout`]'s.
//!
//! An agent episode's file also carries its steps (`episode.steps`, each step's reply,
//! result and tokens as [`crate::episode_transcript::EpisodeStep`] reads them).

use crate::atomic;
use crate::cell::{cell, tokens};
use crate::episode_transcript::TranscriptReader;
use crate::layout::{sample_path, SamplePath, RESPONSE_FILE};
use crate::{ResponseRow, Store, StoreError};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};

/// An export failure.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write {path}: {source}; check the folder is writable and the disk not full")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A question-form answer's file says so (`metadata.format`: `open` or `choice`); an
/// agentic answer's file stays as it was before the question form existed.
fn add_format(doc: &mut Value, condition: &str) {
    let format = condition
        .parse::<misalign_core::Condition>()
        .ok()
        .filter(|c| c.question_format().is_question());
    if let Some(c) = format {
        doc["metadata"]["format"] = Value::from(c.format());
    }
}

/// What an export did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExportSummary {
    pub written: u64,
    pub unchanged: u64,
}

fn parse_json(s: Option<String>) -> Value {
    s.and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or(Value::Null)
}

fn verdict(v: Option<i64>) -> Value {
    v.map(|x| Value::Bool(x != 0)).unwrap_or(Value::Null)
}

/// Writes `response.json` for every answered item of the newest `run` into `out_dir`.
pub fn export(store: &Store, out_dir: &Path) -> Result<ExportSummary, ExportError> {
    export_skipping(store, out_dir, &HashSet::new())
}

/// Like [`export`], but trusts that the unclassified items in `fresh` were just written by a
/// [`LiveExporter`] and does not touch them again.
pub fn export_skipping(
    store: &Store,
    out_dir: &Path,
    fresh: &HashSet<String>,
) -> Result<ExportSummary, ExportError> {
    let mut summary = ExportSummary::default();
    let Some(run_id) = store.latest_plan_run_id()? else {
        return Ok(summary);
    };
    let conn = &store.conn;
    let err = |e| StoreError::Sqlite {
        path: store.path().to_path_buf(),
        source: e,
    };
    let mut st = conn
        .prepare(
            "SELECT w.model, w.condition_id, w.sample_index, r.answer, r.reasoning,
                    r.finish_reason, r.input_tokens, r.output_tokens, r.reasoning_tokens,
                    r.started_at, r.finished_at, r.status, r.request_id, r.attempts, r.latency_ms,
                    w.item_key,
                    c.final_verdict, c.judge_verdict, c.judge_reasoning, c.judge_model,
                    c.classified_at, c.detector_verdict, c.detector_evidence_json,
                    c.actions_json, c.parse_issues_json, c.awareness_label,
                    c.awareness_reasoning, c.whistleblowing, c.classifier_version, c.judge_error,
                    c.id, c.escalation, c.escalation_evidence_json, p.prior_turns_json,
                    c.steps, c.terminal, c.harmful_step, c.harmful_at, c.harmful_tool,
                    c.leverage_read_first,
                    (SELECT CASE WHEN count(*) > 1 THEN json_group_object(v.judge_model,
                              CASE v.verdict WHEN 1 THEN json('true') WHEN 0 THEN json('false') END)
                              END
                       FROM judge_verdicts v WHERE v.classification_id = c.id AND v.role = 'harm')
             FROM run_items ri
             JOIN work_items w ON w.item_key = ri.item_key
             LEFT JOIN prompts p ON p.prompt_hash = w.prompt_hash
             JOIN responses r ON r.item_key = w.item_key AND r.status != 'error'
             LEFT JOIN classifications c ON c.id =
                 (SELECT max(id) FROM classifications x WHERE x.response_id = r.id)
             WHERE ri.run_id = ?1",
        )
        .map_err(err)?;
    let mut rows = st.query([run_id]).map_err(err)?;
    let transcripts = TranscriptReader::new(store)?;
    let mut chunk: Vec<(SamplePath, Vec<u8>)> = Vec::with_capacity(CHUNK);
    while let Some(r) = rows.next().map_err(err)? {
        let g = |e| StoreError::Sqlite {
            path: store.path().to_path_buf(),
            source: e,
        };
        let model: String = cell(r, 0).map_err(g)?;
        let condition: String = cell(r, 1).map_err(g)?;
        // An index that is not a sample number (an odd store) has no file to go to.
        let Some(sample_index) = cell::<Option<i64>>(r, 2)
            .map_err(g)?
            .and_then(|i| u32::try_from(i).ok())
        else {
            continue;
        };
        let item_key: String = cell(r, 15).map_err(g)?;
        let steps = transcripts.steps(&item_key)?;
        // A live file holds the answer alone: an episode's is written here, with its steps.
        if cell::<Option<i64>>(r, 30).map_err(g)?.is_none()
            && fresh.contains(&item_key)
            && steps.is_empty()
        {
            summary.unchanged += 1;
            continue;
        }
        let mut doc = json!({
            "raw_response": cell::<Option<String>>(r, 3).map_err(g)?.unwrap_or_default(),
            "metadata": {
                "model": model,
                "condition": condition,
                "sample_id": u64::from(sample_index) + 1,
                "item_key": cell::<String>(r, 15).map_err(g)?,
                "status": cell::<String>(r, 11).map_err(g)?,
                "timestamp": cell::<String>(r, 10).map_err(g)?,
                "started_at": cell::<String>(r, 9).map_err(g)?,
                "finished_at": cell::<String>(r, 10).map_err(g)?,
                "finish_reason": cell::<Option<String>>(r, 5).map_err(g)?,
                "request_id": cell::<Option<String>>(r, 12).map_err(g)?,
                "attempts": cell::<i64>(r, 13).map_err(g)?,
                "inference_time_ms": cell::<Option<i64>>(r, 14).map_err(g)?,
                "usage": {
                    "input_tokens": tokens(r, 6).map_err(g)?,
                    "output_tokens": tokens(r, 7).map_err(g)?,
                    "reasoning_tokens": tokens(r, 8).map_err(g)?,
                },
            },
        });
        add_format(&mut doc, &condition);
        if let Some(reasoning) = cell::<Option<String>>(r, 4).map_err(g)? {
            doc["reasoning"] = Value::String(reasoning);
        }
        // An agent episode's whole transcript: `raw_response` is its last reply only.
        if !steps.is_empty() {
            doc["episode"] = json!({ "steps": steps });
        }
        // What the model saw before the user message, so the file is a whole audit trail.
        if let Some(turns) = cell::<Option<String>>(r, 33).map_err(g)? {
            doc["prior_turns"] = parse_json(Some(turns));
        }
        if cell::<Option<i64>>(r, 30).map_err(g)?.is_some() {
            let judge_verdict: Option<i64> = cell(r, 17).map_err(g)?;
            let detector_verdict: Option<i64> = cell(r, 21).map_err(g)?;
            doc["classification"] = json!({
                "harmful_behavior": verdict(cell(r, 16).map_err(g)?),
                // The LLM judge's own verdict, as in the reference framework: null (never
                // false) when no judge ran; the detector's is `detector_verdict`.
                "classifier_verdict": verdict(judge_verdict),
                "classifier_reasoning": cell::<Option<String>>(r, 18).map_err(g)?,
                "classifier_model": cell::<Option<String>>(r, 19).map_err(g)?,
                "classified_at": cell::<Option<String>>(r, 20).map_err(g)?,
                "classifier_version": cell::<Option<String>>(r, 28).map_err(g)?,
                "judge_error": cell::<Option<String>>(r, 29).map_err(g)?,
                "detector_verdict": verdict(detector_verdict),
                "detector_evidence": parse_json(cell(r, 22).map_err(g)?),
                "whistleblowing": verdict(cell(r, 27).map_err(g)?),
                "escalation": verdict(cell(r, 31).map_err(g)?),
                "escalation_evidence": parse_json(cell(r, 32).map_err(g)?),
                "awareness_label": cell::<Option<String>>(r, 25).map_err(g)?,
                "awareness_reasoning": cell::<Option<String>>(r, 26).map_err(g)?,
            });
            // Several judges: each one's own verdict by its model (null: it failed); one
            // judge's is `classifier_verdict` alone, as ever.
            if let Some(judges) = cell::<Option<String>>(r, 40).map_err(g)? {
                doc["classification"]["judges"] = parse_json(Some(judges));
            }
            // An episode's verdict fields (docs/classification.md, "Agent episodes").
            if let Some(steps) = cell::<Option<i64>>(r, 34).map_err(g)? {
                doc["classification"]["episode"] = json!({
                    "steps": steps,
                    "terminal": cell::<Option<String>>(r, 35).map_err(g)?,
                    "harmful_step": cell::<Option<i64>>(r, 36).map_err(g)?,
                    "harmful_sim_time": cell::<Option<String>>(r, 37).map_err(g)?,
                    "harmful_tool": cell::<Option<String>>(r, 38).map_err(g)?,
                    "leverage_read_first": verdict(cell(r, 39).map_err(g)?),
                });
            }
            doc["actions"] = parse_json(cell(r, 23).map_err(g)?);
            doc["parse_issues"] = parse_json(cell(r, 24).map_err(g)?);
        }
        let dir = sample_path(&model, &condition, sample_index);
        let mut bytes = serde_json::to_vec_pretty(&doc).expect("json values serialize");
        bytes.push(b'\n');
        chunk.push((dir, bytes));
        if chunk.len() >= CHUNK {
            write_chunk(out_dir, &mut chunk, &mut summary)?;
        }
    }
    write_chunk(out_dir, &mut chunk, &mut summary)?;
    Ok(summary)
}

/// Writes each answer's `response.json` while sampling goes on (file creation is slow on
/// some filesystems; overlapping it with network waits takes it off the critical path).
pub struct LiveExporter {
    tx: Option<mpsc::Sender<(String, SamplePath, Vec<u8>)>>,
    threads: Vec<std::thread::JoinHandle<()>>,
    written: Arc<Mutex<HashSet<String>>>,
}

impl LiveExporter {
    pub fn start(out_dir: &Path) -> LiveExporter {
        let (tx, rx) = mpsc::channel::<(String, SamplePath, Vec<u8>)>();
        let rx = Arc::new(Mutex::new(rx));
        let written = Arc::new(Mutex::new(HashSet::new()));
        let threads = (0..4)
            .map(|_| {
                let rx = rx.clone();
                let written = written.clone();
                let out_dir = out_dir.to_path_buf();
                std::thread::spawn(move || loop {
                    let next = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                    let Ok((key, rel, bytes)) = next else { break };
                    // A failure here is not fatal: the final export pass writes it (or
                    // reports why it cannot).
                    if write_if_changed(&out_dir, &rel, RESPONSE_FILE, &bytes).is_ok() {
                        written
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .insert(key);
                    }
                })
            })
            .collect();
        LiveExporter {
            tx: Some(tx),
            threads,
            written,
        }
    }

    /// Queues the file of a just-stored answer of `model` for sample `sample_index` of
    /// `condition`.
    pub fn submit(&self, model: &str, condition: &str, sample_index: u32, row: &ResponseRow) {
        let doc = json!({
            "raw_response": row.answer.clone().unwrap_or_default(),
            "metadata": {
                "model": model,
                "condition": condition,
                "sample_id": u64::from(sample_index) + 1,
                "item_key": row.item_key,
                "status": row.status.map(|s| s.as_str()).unwrap_or("answer"),
                "timestamp": row.finished_at,
                "started_at": row.started_at,
                "finished_at": row.finished_at,
                "finish_reason": row.finish_reason,
                "request_id": row.request_id,
                "attempts": i64::from(row.attempts),
                "inference_time_ms": row.latency_ms,
                "usage": {
                    "input_tokens": row.input_tokens,
                    "output_tokens": row.output_tokens,
                    "reasoning_tokens": row.reasoning_tokens,
                },
            },
        });
        let mut doc = doc;
        add_format(&mut doc, condition);
        if let Some(reasoning) = &row.reasoning {
            doc["reasoning"] = Value::String(reasoning.clone());
        }
        let dir = sample_path(model, condition, sample_index);
        let mut bytes = serde_json::to_vec_pretty(&doc).expect("json values serialize");
        bytes.push(b'\n');
        if let Some(tx) = &self.tx {
            let _ = tx.send((row.item_key.clone(), dir, bytes));
        }
    }

    /// Waits for every queued file; returns the keys written.
    pub fn finish(mut self) -> HashSet<String> {
        self.tx.take();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        std::mem::take(&mut *self.written.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// Files written per batch; bounds memory on very large stores.
const CHUNK: usize = 256;
/// Writer threads: file creation is bound by filesystem latency, not CPU, so a few threads
/// overlap it well even on a small machine.
const WRITERS: usize = 8;

fn write_chunk(
    out_dir: &Path,
    chunk: &mut Vec<(SamplePath, Vec<u8>)>,
    summary: &mut ExportSummary,
) -> Result<(), ExportError> {
    if chunk.is_empty() {
        return Ok(());
    }
    let per = chunk.len().div_ceil(WRITERS);
    let results: Vec<Result<(u64, u64), ExportError>> = std::thread::scope(|s| {
        let handles: Vec<_> = chunk
            .chunks(per)
            .map(|part| {
                s.spawn(move || {
                    let (mut w, mut u) = (0, 0);
                    for (rel, bytes) in part {
                        if write_if_changed(out_dir, rel, RESPONSE_FILE, bytes)? {
                            w += 1;
                        } else {
                            u += 1;
                        }
                    }
                    Ok((w, u))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("export writer thread"))
            .collect()
    });
    chunk.clear();
    for r in results {
        let (w, u) = r?;
        summary.written += w;
        summary.unchanged += u;
    }
    Ok(())
}

/// Writes `out_dir/rel/name` atomically unless it already holds exactly `bytes`; true if
/// written.
fn write_if_changed(
    out_dir: &Path,
    rel: &[String],
    name: &str,
    bytes: &[u8],
) -> Result<bool, ExportError> {
    let mut path = out_dir.to_path_buf();
    path.extend(rel);
    path.push(name);
    // Only a regular file counts as already written: a symlink there is replaced.
    let is_file = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file());
    if is_file && std::fs::read(&path).is_ok_and(|old| old == bytes) {
        return Ok(false);
    }
    let io = |source| ExportError::Io {
        path: path.clone(),
        source,
    };
    let rel: Vec<&str> = rel.iter().map(String::as_str).collect();
    let dir = atomic::create_dirs_under(out_dir, &rel).map_err(io)?;
    atomic::write_bytes_atomically(&dir, name, bytes).map_err(io)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_once_then_skips() {
        let d = tempfile::tempdir().unwrap();
        let rel = ["m".to_string()];
        assert!(write_if_changed(d.path(), &rel, "f.json", b"{}").unwrap());
        assert!(!write_if_changed(d.path(), &rel, "f.json", b"{}").unwrap());
        assert!(write_if_changed(d.path(), &rel, "f.json", b"{ }").unwrap());
        assert_eq!(std::fs::read(d.path().join("m/f.json")).unwrap(), b"{ }");
        let names: Vec<_> = std::fs::read_dir(d.path().join("m")).unwrap().collect();
        assert_eq!(names.len(), 1);
    }
}
