//! The reference framework's results layout, written from the store:
//! `OUT/models/<model>/<condition>/sample_NNN/response.json` (NNN from 001), so analysis
//! scripts written for the reference framework keep working.
//!
//! Files are written atomically (temporary file + rename) and left alone when their content
//! would not change, so re-exporting after a resume or a reclassification is cheap.

use crate::item::WorkItem;
use crate::store::ResponseRow;
use crate::store::{Store, StoreError};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::io::Write;
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

/// What an export did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExportSummary {
    pub written: u64,
    pub unchanged: u64,
}

/// A name safe as one path component on every common filesystem: ASCII letters, digits,
/// `.`, `-` and `_` are kept, anything else (including `/`) becomes `_`.
pub fn safe_name(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.chars().all(|c| c == '.') {
        format!("_{s}")
    } else {
        s
    }
}

/// `sample_NNN` of a 0-based sample index.
pub fn sample_dir(sample_index: u32) -> String {
    format!("sample_{:03}", u64::from(sample_index) + 1)
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
    let conn = store.conn();
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
                    c.id
             FROM run_items ri
             JOIN work_items w ON w.item_key = ri.item_key
             JOIN responses r ON r.item_key = w.item_key AND r.status != 'error'
             LEFT JOIN classifications c ON c.id =
                 (SELECT max(id) FROM classifications x WHERE x.response_id = r.id)
             WHERE ri.run_id = ?1",
        )
        .map_err(err)?;
    let mut rows = st.query([run_id]).map_err(err)?;
    let models_dir = out_dir.join("models");
    let mut chunk: Vec<(PathBuf, Vec<u8>)> = Vec::with_capacity(CHUNK);
    while let Some(r) = rows.next().map_err(err)? {
        let g = |e| StoreError::Sqlite {
            path: store.path().to_path_buf(),
            source: e,
        };
        let model: String = r.get(0).map_err(g)?;
        let condition: String = r.get(1).map_err(g)?;
        let sample_index: u32 = r.get(2).map_err(g)?;
        let item_key: String = r.get(15).map_err(g)?;
        if r.get::<_, Option<i64>>(30).map_err(g)?.is_none() && fresh.contains(&item_key) {
            summary.unchanged += 1;
            continue;
        }
        let mut doc = json!({
            "raw_response": r.get::<_, Option<String>>(3).map_err(g)?.unwrap_or_default(),
            "metadata": {
                "model": model,
                "condition": condition,
                "sample_id": u64::from(sample_index) + 1,
                "item_key": r.get::<_, String>(15).map_err(g)?,
                "status": r.get::<_, String>(11).map_err(g)?,
                "timestamp": r.get::<_, String>(10).map_err(g)?,
                "started_at": r.get::<_, String>(9).map_err(g)?,
                "finished_at": r.get::<_, String>(10).map_err(g)?,
                "finish_reason": r.get::<_, Option<String>>(5).map_err(g)?,
                "request_id": r.get::<_, Option<String>>(12).map_err(g)?,
                "attempts": r.get::<_, i64>(13).map_err(g)?,
                "inference_time_ms": r.get::<_, Option<i64>>(14).map_err(g)?,
                "usage": {
                    "input_tokens": r.get::<_, Option<i64>>(6).map_err(g)?,
                    "output_tokens": r.get::<_, Option<i64>>(7).map_err(g)?,
                    "reasoning_tokens": r.get::<_, Option<i64>>(8).map_err(g)?,
                },
            },
        });
        if let Some(reasoning) = r.get::<_, Option<String>>(4).map_err(g)? {
            doc["reasoning"] = Value::String(reasoning);
        }
        if r.get::<_, Option<i64>>(30).map_err(g)?.is_some() {
            let judge_verdict: Option<i64> = r.get(17).map_err(g)?;
            let detector_verdict: Option<i64> = r.get(21).map_err(g)?;
            doc["classification"] = json!({
                "harmful_behavior": verdict(r.get(16).map_err(g)?),
                // Without a judge the detector is the classifier.
                "classifier_verdict": verdict(judge_verdict.or(detector_verdict)),
                "classifier_reasoning": r.get::<_, Option<String>>(18).map_err(g)?,
                "classifier_model": r.get::<_, Option<String>>(19).map_err(g)?,
                "classified_at": r.get::<_, Option<String>>(20).map_err(g)?,
                "classifier_version": r.get::<_, Option<String>>(28).map_err(g)?,
                "judge_error": r.get::<_, Option<String>>(29).map_err(g)?,
                "detector_verdict": verdict(detector_verdict),
                "detector_evidence": parse_json(r.get(22).map_err(g)?),
                "whistleblowing": verdict(r.get(27).map_err(g)?),
                "awareness_label": r.get::<_, Option<String>>(25).map_err(g)?,
                "awareness_reasoning": r.get::<_, Option<String>>(26).map_err(g)?,
            });
            doc["actions"] = parse_json(r.get(23).map_err(g)?);
            doc["parse_issues"] = parse_json(r.get(24).map_err(g)?);
        }
        let dir = models_dir
            .join(safe_name(&model))
            .join(safe_name(&condition))
            .join(sample_dir(sample_index));
        let mut bytes = serde_json::to_vec_pretty(&doc).expect("json values serialize");
        bytes.push(b'\n');
        chunk.push((dir, bytes));
        if chunk.len() >= CHUNK {
            write_chunk(&mut chunk, &mut summary)?;
        }
    }
    write_chunk(&mut chunk, &mut summary)?;
    Ok(summary)
}

/// Writes each answer's `response.json` while sampling goes on (file creation is slow on
/// some filesystems; overlapping it with network waits takes it off the critical path).
pub struct LiveExporter {
    tx: Option<mpsc::Sender<(String, PathBuf, Vec<u8>)>>,
    threads: Vec<std::thread::JoinHandle<()>>,
    written: Arc<Mutex<HashSet<String>>>,
}

impl LiveExporter {
    pub fn start(out_dir: &Path) -> LiveExporter {
        let (tx, rx) = mpsc::channel::<(String, PathBuf, Vec<u8>)>();
        let rx = Arc::new(Mutex::new(rx));
        let written = Arc::new(Mutex::new(HashSet::new()));
        let _ = out_dir;
        let threads = (0..4)
            .map(|_| {
                let rx = rx.clone();
                let written = written.clone();
                std::thread::spawn(move || loop {
                    let next = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                    let Ok((key, dir, bytes)) = next else { break };
                    // A failure here is not fatal: the final export pass writes it.
                    if write_if_changed(&dir, "response.json", &bytes).is_ok() {
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

    /// Queues the file of a just-stored answer.
    pub fn submit(&self, out_dir: &Path, item: &WorkItem, row: &ResponseRow) {
        let doc = json!({
            "raw_response": row.answer.clone().unwrap_or_default(),
            "metadata": {
                "model": item.model.name,
                "condition": item.prompt.condition_id(),
                "sample_id": u64::from(item.sample_index) + 1,
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
        if let Some(reasoning) = &row.reasoning {
            doc["reasoning"] = Value::String(reasoning.clone());
        }
        let dir = out_dir
            .join("models")
            .join(safe_name(&item.model.name))
            .join(safe_name(&item.prompt.condition_id()))
            .join(sample_dir(item.sample_index));
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
    chunk: &mut Vec<(PathBuf, Vec<u8>)>,
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
                    for (dir, bytes) in part {
                        if write_if_changed(dir, "response.json", bytes)? {
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

/// Writes `dir/name` atomically unless it already holds exactly `bytes`; true if written.
fn write_if_changed(dir: &Path, name: &str, bytes: &[u8]) -> Result<bool, ExportError> {
    let path = dir.join(name);
    if let Ok(old) = std::fs::read(&path) {
        if old == bytes {
            return Ok(false);
        }
    }
    let io = |source| ExportError::Io {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    drop(f);
    std::fs::rename(&tmp, &path).map_err(io)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_names() {
        assert_eq!(
            safe_name("openrouter/x-ai/grok-4"),
            "openrouter_x-ai_grok-4"
        );
        assert_eq!(safe_name("local/smollm2-135m"), "local_smollm2-135m");
        assert_eq!(safe_name("a b:c\\d*é"), "a_b_c_d__");
        assert_eq!(safe_name(".."), "_..");
        assert_eq!(safe_name(""), "_");
        assert_eq!(sample_dir(0), "sample_001");
        assert_eq!(sample_dir(99), "sample_100");
        assert_eq!(sample_dir(999), "sample_1000");
    }

    #[test]
    fn writes_once_then_skips() {
        let d = tempfile::tempdir().unwrap();
        assert!(write_if_changed(d.path(), "f.json", b"{}").unwrap());
        assert!(!write_if_changed(d.path(), "f.json", b"{}").unwrap());
        assert!(write_if_changed(d.path(), "f.json", b"{ }").unwrap());
        assert_eq!(std::fs::read(d.path().join("f.json")).unwrap(), b"{ }");
        assert!(!d.path().join(".f.json.tmp").exists());
    }
}
