//! Progress of a results folder: completed / failed / pending per model and per provider,
//! over the plan of the newest `run` (what `misalign status` prints).

use super::{Store, StoreError};
use crate::cell::{cell, sql_tokens};
use serde::Serialize;
use std::collections::BTreeMap;

/// The work items of one model or provider by state, and the tokens their answers used.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ItemCounts {
    pub planned: u64,
    /// Items with a stored answer (incl. content-filtered and empty outcomes).
    pub completed: u64,
    /// Items whose only stored attempts are errors.
    pub failed: u64,
    /// Items with nothing stored yet.
    pub pending: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

impl ItemCounts {
    fn add(&mut self, o: &ItemCounts) {
        self.planned = self.planned.saturating_add(o.planned);
        self.completed = self.completed.saturating_add(o.completed);
        self.failed = self.failed.saturating_add(o.failed);
        self.pending = self.pending.saturating_add(o.pending);
        self.input_tokens = self.input_tokens.saturating_add(o.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(o.output_tokens);
    }
}

/// The status of a results folder.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct StoreStatus {
    pub experiment_id: Option<String>,
    pub run_id: Option<i64>,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    /// `completed` | `interrupted` | `failed` | `auth_error`, or `None` while running / killed.
    pub end_status: Option<String>,
    pub total: ItemCounts,
    pub per_model: BTreeMap<String, ItemCounts>,
    pub per_provider: BTreeMap<String, ItemCounts>,
    /// Most frequent error messages of failed items (message, count), most frequent first.
    pub top_errors: Vec<(String, u64)>,
}

/// The provider part of a `provider/model` name.
pub fn provider_of(model: &str) -> &str {
    model.split_once('/').map(|(p, _)| p).unwrap_or(model)
}

impl Store {
    /// Status over the newest `run`'s planned items (empty when nothing ran yet).
    pub fn status(&self) -> Result<StoreStatus, StoreError> {
        let e = |x| self.err(x);
        let mut out = StoreStatus::default();
        let Some(run_id) = self.latest_plan_run_id()? else {
            return Ok(out);
        };
        out.run_id = Some(run_id);
        let (exp, started): (String, String) = self
            .conn
            .query_row(
                "SELECT experiment_id, started_at FROM runs WHERE id = ?1",
                [run_id],
                |r| Ok((cell(r, 0)?, cell(r, 1)?)),
            )
            .map_err(e)?;
        out.experiment_id = Some(exp);
        out.started_at = Some(started);
        if let Ok((ended, st)) = self.conn.query_row(
            "SELECT ended_at, status FROM run_ends WHERE run_id = ?1",
            [run_id],
            |r| Ok((cell::<String>(r, 0)?, cell::<String>(r, 1)?)),
        ) {
            out.ended_at = Some(ended);
            out.end_status = Some(st);
        }
        // Per item: answered? errored? (aggregated in SQL so 100k items stay cheap). Token
        // sums use total(), a float sum that cannot overflow whatever a store holds (sum()
        // fails for good with "integer overflow" on a hostile or corrupt value), of the
        // plausible counts only (an odd cell is unknown, as everywhere the store is read).
        let mut st = self
            .conn
            .prepare(&format!(
                "SELECT w.model,
                        count(*),
                        sum(a.item_key IS NOT NULL),
                        sum(a.item_key IS NULL AND f.item_key IS NOT NULL),
                        total(a.inp),
                        total(a.outp)
                 FROM run_items ri
                 JOIN work_items w ON w.item_key = ri.item_key
                 LEFT JOIN (SELECT item_key, max({inp}) AS inp, max({outp}) AS outp
                            FROM responses WHERE status != 'error' GROUP BY item_key) a
                        ON a.item_key = ri.item_key
                 LEFT JOIN (SELECT DISTINCT item_key FROM responses WHERE status = 'error') f
                        ON f.item_key = ri.item_key
                 WHERE ri.run_id = ?1
                 GROUP BY w.model ORDER BY w.model",
                inp = sql_tokens("input_tokens"),
                outp = sql_tokens("output_tokens")
            ))
            .map_err(e)?;
        let rows = st
            .query_map([run_id], |r| {
                let planned: i64 = cell(r, 1)?;
                let completed: i64 = cell(r, 2)?;
                let failed: i64 = cell(r, 3)?;
                Ok((
                    cell::<String>(r, 0)?,
                    ItemCounts {
                        planned: planned as u64,
                        completed: completed as u64,
                        failed: failed as u64,
                        pending: (planned - completed - failed).max(0) as u64,
                        input_tokens: token_total(cell(r, 4)?),
                        output_tokens: token_total(cell(r, 5)?),
                    },
                ))
            })
            .map_err(e)?;
        for row in rows {
            let (model, c) = row.map_err(e)?;
            out.total.add(&c);
            out.per_provider
                .entry(provider_of(&model).to_string())
                .or_default()
                .add(&c);
            out.per_model.insert(model, c);
        }
        let mut st = self
            .conn
            .prepare(
                "SELECT r.error, count(DISTINCT r.item_key) AS n FROM responses r
                 JOIN run_items ri ON ri.item_key = r.item_key AND ri.run_id = ?1
                 WHERE r.status = 'error'
                   AND NOT EXISTS (SELECT 1 FROM responses a
                                   WHERE a.item_key = r.item_key AND a.status != 'error')
                 GROUP BY r.error ORDER BY n DESC LIMIT 5",
            )
            .map_err(e)?;
        let rows = st
            .query_map([run_id], |r| {
                Ok((
                    cell::<Option<String>>(r, 0)?.unwrap_or_default(),
                    cell::<i64>(r, 1)? as u64,
                ))
            })
            .map_err(e)?;
        for row in rows {
            out.top_errors.push(row.map_err(e)?);
        }
        Ok(out)
    }
}

/// A float token total as a count (`as` saturates: negative and NaN become 0, huge values
/// `u64::MAX`).
fn token_total(x: f64) -> u64 {
    x as u64
}

#[cfg(test)]
mod tests {
    use super::super::samples::*;
    use super::*;

    #[test]
    fn counts_per_model_and_provider() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open_dir(dir.path()).unwrap();
        assert_eq!(s.status().unwrap().run_id, None);
        let run = s
            .begin_run(&RunManifest {
                command: crate::RunKind::Run,
                experiment_id: "exp".into(),
                misalign_version: "0".into(),
                experiment_text: String::new(),
                experiment_sha256: String::new(),
                packs: serde_json::json!({}),
                models: vec![],
                sampling: serde_json::json!({}),
                started_at: "t0".into(),
            })
            .unwrap();
        let prompt = PromptRow {
            prompt_hash: "p",
            condition_id: "c",
            condition_json: r#"{"scenario":"blackmail"}"#,
            system_prompt: "",
            user_prompt: "",
            email_content: "",
            prior_turns_json: None,
        };
        let keys = ["a1", "a2", "a3", "b1"];
        let items: Vec<_> = keys
            .iter()
            .map(|k| WorkItemRow {
                item_key: k,
                prompt_hash: "p",
                condition_id: "c",
                model: if k.starts_with('a') { "x/a" } else { "y/b" },
                sample_index: 0,
                params_json: "{}",
            })
            .collect();
        s.record_plan(run, &[prompt], &items).unwrap();
        let mk = |k: &str, st: ResponseStatus, err: Option<&str>| ResponseRow {
            item_key: k.into(),
            run_id: run,
            status: Some(st),
            input_tokens: Some(10),
            output_tokens: Some(5),
            error: err.map(String::from),
            attempts: 1,
            ..Default::default()
        };
        s.insert_responses(&[
            mk("a1", ResponseStatus::Answer, None),
            mk("a2", ResponseStatus::Error, Some("HTTP 400: bad")),
            mk("b1", ResponseStatus::Error, Some("HTTP 500")),
            mk("b1", ResponseStatus::ContentFiltered, None),
        ])
        .unwrap();
        let st = s.status().unwrap();
        assert_eq!(st.experiment_id.as_deref(), Some("exp"));
        let a = &st.per_model["x/a"];
        assert_eq!((a.planned, a.completed, a.failed, a.pending), (3, 1, 1, 1));
        let b = &st.per_provider["y"];
        assert_eq!((b.planned, b.completed, b.failed, b.pending), (1, 1, 0, 0));
        assert_eq!(st.total.input_tokens, 20);
        assert_eq!(st.top_errors, vec![("HTTP 400: bad".to_string(), 1)]);
    }
}
