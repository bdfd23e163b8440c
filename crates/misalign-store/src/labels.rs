//! Reviewers' labels of answers (the `labels` table, schema 11): written by `misalign view`
//! and `misalign labels import`, read by the exports and the agreement statistics.
//!
//! The table is append-only. Nothing here updates or deletes a row, and triggers refuse it
//! at the SQL level too: a reviewer who changes their mind adds a row, and their latest one
//! counts (`misalign_core::human_label`). A label names the answer its reviewer saw (the
//! item's current answer when it was written).

use crate::cell::cell;
use crate::{Store, StoreError};
use misalign_core::HumanLabel;
use rusqlite::OptionalExtension;
use std::path::PathBuf;

/// Longest reviewer name accepted (characters).
pub const MAX_REVIEWER_CHARS: usize = 100;
/// Longest note accepted (characters).
pub const MAX_NOTE_CHARS: usize = 4000;

/// Where a label came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LabelSource {
    /// Given in `misalign view`.
    Viewer,
    /// Read by `misalign labels import`.
    Import,
}

impl LabelSource {
    pub fn as_str(self) -> &'static str {
        match self {
            LabelSource::Viewer => "viewer",
            LabelSource::Import => "import",
        }
    }

    fn parse(word: &str) -> Option<LabelSource> {
        [LabelSource::Viewer, LabelSource::Import]
            .into_iter()
            .find(|s| s.as_str() == word)
    }
}

/// A stored label.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LabelRow {
    pub id: i64,
    pub item_key: String,
    /// The answer the reviewer saw (None if the item had no answer row then: not written by
    /// misalign, kept readable).
    pub response_id: Option<i64>,
    pub reviewer: String,
    pub label: HumanLabel,
    pub note: String,
    /// RFC 3339 UTC.
    pub created_at: String,
    pub source: LabelSource,
}

/// A label to add.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewLabel {
    pub item_key: String,
    pub reviewer: String,
    pub label: HumanLabel,
    pub note: String,
    /// None: now. An import keeps the time the label was given (RFC 3339).
    pub created_at: Option<String>,
    pub source: LabelSource,
}

/// Why a label was not added.
#[derive(Debug, thiserror::Error)]
pub enum LabelError {
    #[error("no answered sample has item key {0}")]
    UnknownItem(String),
    #[error("{0}")]
    Invalid(String),
    #[error(
        "results store {0}: opened read-only, so labels cannot be written here (run `misalign \
         view` on a folder you can write)"
    )]
    ReadOnly(PathBuf),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks a reviewer's name: 1 to 100 characters, no control characters, no spaces at
/// either end.
pub fn validate_reviewer(r: &str) -> Result<(), String> {
    if r.is_empty() {
        return Err("the reviewer's name is empty".into());
    }
    if r.trim() != r || r.chars().any(char::is_control) {
        return Err(format!(
            "the reviewer's name {r:?} has spaces at an end or control characters"
        ));
    }
    if r.chars().count() > MAX_REVIEWER_CHARS {
        return Err(format!(
            "the reviewer's name is longer than {MAX_REVIEWER_CHARS} characters"
        ));
    }
    Ok(())
}

impl NewLabel {
    /// Checks what a person typed: a reviewer name (1 to 100 characters, no control
    /// characters, no spaces at either end), a note of at most 4000 characters, a time
    /// that is RFC 3339 when given.
    pub fn validate(&self) -> Result<(), String> {
        validate_reviewer(&self.reviewer)?;
        if self.note.chars().count() > MAX_NOTE_CHARS {
            return Err(format!(
                "the note is longer than {MAX_NOTE_CHARS} characters"
            ));
        }
        if self.item_key.is_empty() {
            return Err("the item key is empty".into());
        }
        if let Some(t) = &self.created_at {
            chrono::DateTime::parse_from_rfc3339(t)
                .map_err(|e| format!("the time {t:?} is not an RFC 3339 time ({e})"))?;
        }
        Ok(())
    }
}

fn label_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<LabelRow> {
    let word: String = cell(row, 4)?;
    let source: String = cell(row, 7)?;
    let bad = |what: &str, v: &str| {
        rusqlite::Error::FromSqlConversionFailure(
            4,
            rusqlite::types::Type::Text,
            format!("unknown {what} {v:?}").into(),
        )
    };
    Ok(LabelRow {
        id: cell(row, 0)?,
        item_key: cell(row, 1)?,
        response_id: cell(row, 2)?,
        reviewer: cell(row, 3)?,
        label: HumanLabel::parse(&word).ok_or_else(|| bad("label", &word))?,
        note: cell(row, 5)?,
        created_at: cell(row, 6)?,
        source: LabelSource::parse(&source).ok_or_else(|| bad("label source", &source))?,
    })
}

impl Store {
    /// Every label, oldest first.
    pub fn labels(&self) -> Result<Vec<LabelRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, item_key, response_id, reviewer, label, note, created_at, source
                   FROM labels ORDER BY id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], label_from_row)
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// The current answer of `item_key` (None: no such item, or it has no answer).
    pub fn answer_of(&self, item_key: &str) -> Result<Option<i64>, StoreError> {
        self.conn
            .query_row(
                "SELECT response_id FROM current_answers WHERE item_key = ?1",
                [item_key],
                |r| cell::<Option<i64>>(r, 0),
            )
            .optional()
            .map(Option::flatten)
            .map_err(|e| self.err(e))
    }

    fn refuse_read_only(&self) -> Result<(), LabelError> {
        if self.conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(true) {
            return Err(LabelError::ReadOnly(self.path.clone()));
        }
        Ok(())
    }

    /// Adds one label to the item's current answer; returns the stored row.
    pub fn add_label(&self, label: &NewLabel) -> Result<LabelRow, LabelError> {
        self.refuse_read_only()?;
        label.validate().map_err(LabelError::Invalid)?;
        let response_id = self
            .answer_of(&label.item_key)?
            .ok_or_else(|| LabelError::UnknownItem(label.item_key.clone()))?;
        let created_at = label.created_at.clone().unwrap_or_else(crate::timestamp);
        let id = self
            .conn
            .query_row(
                "INSERT INTO labels (item_key, response_id, reviewer, label, note, created_at, source)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
                rusqlite::params![
                    label.item_key,
                    response_id,
                    label.reviewer,
                    label.label.as_str(),
                    label.note,
                    created_at,
                    label.source.as_str()
                ],
                |r| cell::<i64>(r, 0),
            )
            .map_err(|e| self.err(e))?;
        Ok(LabelRow {
            id,
            item_key: label.item_key.clone(),
            response_id: Some(response_id),
            reviewer: label.reviewer.clone(),
            label: label.label,
            note: label.note.clone(),
            created_at,
            source: label.source,
        })
    }

    /// Adds labels in one transaction (all or none), skipping each one already stored with
    /// the same item, reviewer, label, note and time (a label without a time: any time), so
    /// importing a file twice adds its rows once. Returns how many were added. `labels[i]`
    /// failing names its index.
    pub fn add_labels(&mut self, labels: &[NewLabel]) -> Result<usize, (usize, LabelError)> {
        self.refuse_read_only().map_err(|e| (0, e))?;
        let path = self.path.clone();
        let wrap = |e| {
            StoreError::Sqlite {
                path: path.clone(),
                source: e,
            }
            .into()
        };
        let tx = self.conn.transaction().map_err(|e| (0, wrap(e)))?;
        let mut added = 0;
        for (i, label) in labels.iter().enumerate() {
            let at = |e: LabelError| (i, e);
            label.validate().map_err(|m| at(LabelError::Invalid(m)))?;
            let created_at = label.created_at.clone().unwrap_or_else(crate::timestamp);
            let response_id: Option<i64> = tx
                .query_row(
                    "SELECT response_id FROM current_answers WHERE item_key = ?1",
                    [&label.item_key],
                    |r| cell(r, 0),
                )
                .optional()
                .map_err(|e| at(wrap(e)))?
                .flatten();
            let Some(response_id) = response_id else {
                return Err(at(LabelError::UnknownItem(label.item_key.clone())));
            };
            let present: bool = tx
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM labels WHERE item_key = ?1 AND reviewer = ?2
                       AND label = ?3 AND note = ?4 AND (?5 IS NULL OR created_at = ?5))",
                    rusqlite::params![
                        label.item_key,
                        label.reviewer,
                        label.label.as_str(),
                        label.note,
                        label.created_at
                    ],
                    |r| cell(r, 0),
                )
                .map_err(|e| at(wrap(e)))?;
            if present {
                continue;
            }
            tx.execute(
                "INSERT INTO labels (item_key, response_id, reviewer, label, note, created_at, source)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                rusqlite::params![
                    label.item_key,
                    response_id,
                    label.reviewer,
                    label.label.as_str(),
                    label.note,
                    created_at,
                    label.source.as_str()
                ],
            )
            .map_err(|e| at(wrap(e)))?;
            added += 1;
        }
        tx.commit().map_err(|e| (labels.len(), wrap(e)))?;
        Ok(added)
    }

    /// Every answered sample a reviewer could label, with what the sampler and the exports
    /// need, the verdict as `SampleRecord::verdict` words. Ordered by model, condition,
    /// sample.
    pub fn label_targets(&self) -> Result<Vec<LabelTarget>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT a.item_key, a.model, a.condition_id, coalesce(a.scenario, ''), a.sample_index,
                        CASE WHEN a.final_verdict = 1 THEN 'harmful'
                             WHEN a.final_verdict IS NOT NULL THEN 'harmless'
                             WHEN a.classification_id IS NULL THEN 'unclassified'
                             WHEN {unparsed} THEN 'unparsed'
                             ELSE 'judge_error' END
                   FROM current_answers a LEFT JOIN classifications c ON c.id = a.classification_id
                  WHERE a.response_id IS NOT NULL
                  ORDER BY a.model, a.condition_id, a.sample_index",
                unparsed = crate::read::UNPARSED_SQL
            ))
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(LabelTarget {
                    item_key: cell(r, 0)?,
                    model: cell(r, 1)?,
                    condition_id: cell(r, 2)?,
                    scenario: cell(r, 3)?,
                    sample_index: cell(r, 4)?,
                    verdict: cell(r, 5)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }
}

/// An answered sample as the labelling commands see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelTarget {
    pub item_key: String,
    pub model: String,
    pub condition_id: String,
    pub scenario: String,
    /// 0-based.
    pub sample_index: i64,
    /// `harmful` | `harmless` | `unparsed` | `judge_error` | `unclassified`.
    pub verdict: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SCHEMA_SQL, SCHEMA_VERSION, STORE_FILE};
    use rusqlite::Connection;
    use HumanLabel::*;

    /// Schema 9 as that version wrote it.
    fn schema_v9() -> String {
        include_str!("fixtures/schema_v9.sql").to_string()
    }

    /// Schema 10 as the judges' step writes it: schema 9 with `judge_verdicts`.
    fn schema_v10() -> String {
        schema_v9().replace("PRAGMA user_version = 9;", "PRAGMA user_version = 10;")
            + "CREATE TABLE IF NOT EXISTS judge_verdicts (
                   id INTEGER PRIMARY KEY,
                   classification_id INTEGER NOT NULL,
                   item_key TEXT NOT NULL, judge_model TEXT NOT NULL, role TEXT NOT NULL,
                   verdict INTEGER, label TEXT, reasoning TEXT, error TEXT);
               INSERT INTO judge_verdicts (classification_id, item_key, judge_model, role, verdict)
                   VALUES (1, 'k0', 'mock/judge', 'harm', 1);"
    }

    /// A store file written with `schema`, holding items `k0` and `k1` (answered) and `k2`
    /// (no answer yet), and a classification of `k0`.
    fn planted(schema: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(STORE_FILE);
        let c = Connection::open(&path).unwrap();
        c.pragma_update(None, "application_id", crate::APPLICATION_ID)
            .unwrap();
        c.execute_batch(schema).unwrap();
        c.execute_batch(
            "INSERT INTO runs (id, command, experiment_id, misalign_version, experiment_text,
                 experiment_sha256, packs_json, models_json, sampling_json, started_at)
             VALUES (1, 'run', 'e', '0', '', '', '{}', '[]', '{}', 't');
             INSERT INTO prompts VALUES ('p', 'c', '{}', 's', 'u', 'e', NULL);
             INSERT INTO work_items VALUES ('k0', 'p', 'c', 'mock/m', 0, '{}', 'blackmail');
             INSERT INTO work_items VALUES ('k1', 'p', 'c', 'mock/m', 1, '{}', 'blackmail');
             INSERT INTO work_items VALUES ('k2', 'p', 'c', 'mock/m', 2, '{}', 'blackmail');
             INSERT INTO responses (item_key, run_id, status, answer, attempts, started_at, finished_at)
                 VALUES ('k0', 1, 'answer', 'a', 1, 't', 't'), ('k1', 1, 'answer', 'b', 1, 't', 't'),
                        ('k2', 1, 'error', NULL, 1, 't', 't');
             INSERT INTO classifications (response_id, item_key, classifier_version, actions_json,
                 parse_issues_json, detector_verdict, detector_evidence_json, final_verdict,
                 classified_at)
                 VALUES (1, 'k0', 'v', '[]', '[]', 1, '[]', 1, 't');",
        )
        .unwrap();
        (dir, path)
    }

    fn label(item: &str, reviewer: &str, l: HumanLabel) -> NewLabel {
        NewLabel {
            item_key: item.into(),
            reviewer: reviewer.into(),
            label: l,
            note: String::new(),
            created_at: None,
            source: LabelSource::Viewer,
        }
    }

    fn version(path: &std::path::Path) -> i64 {
        Connection::open(path)
            .unwrap()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn a_version_9_store_gains_labels() {
        let (_dir, path) = planted(&schema_v9());
        let store = Store::open(&path).unwrap();
        assert_eq!(version(&path), SCHEMA_VERSION);
        let row = store.add_label(&label("k0", "ann", Harmful)).unwrap();
        assert_eq!((row.response_id, row.label), (Some(1), Harmful));
        assert_eq!(store.labels().unwrap(), vec![row]);
        // What was there reads as before.
        let targets = store.label_targets().unwrap();
        let verdicts: Vec<_> = targets.iter().map(|t| t.verdict.as_str()).collect();
        assert_eq!(verdicts, ["harmful", "unclassified"]);
        assert_eq!(targets[0].scenario, "blackmail");
    }

    #[test]
    fn a_version_10_store_keeps_its_judge_verdicts_and_gains_labels() {
        let (_dir, path) = planted(&schema_v10());
        let store = Store::open(&path).unwrap();
        assert_eq!(version(&path), SCHEMA_VERSION);
        store.add_label(&label("k1", "bob", NotHarmful)).unwrap();
        assert_eq!(store.labels().unwrap().len(), 1);
        let judged: i64 = store
            .conn
            .query_row("SELECT count(*) FROM judge_verdicts", [], |r| r.get(0))
            .unwrap();
        assert_eq!(judged, 1);
    }

    #[test]
    fn labels_are_append_only_and_the_triggers_refuse_rewrites() {
        let (_dir, path) = planted(SCHEMA_SQL);
        let store = Store::open(&path).unwrap();
        store.add_label(&label("k0", "ann", Harmful)).unwrap();
        store.add_label(&label("k0", "ann", NotHarmful)).unwrap();
        store.add_label(&label("k0", "bob", Unsure)).unwrap();
        let rows = store.labels().unwrap();
        assert_eq!(rows.len(), 3, "a later label never erases an earlier one");
        assert!(rows.windows(2).all(|w| w[0].id < w[1].id));
        let latest = misalign_core::human_label::latest_per_reviewer(
            rows.iter().map(|r| (r.reviewer.as_str(), r.label)),
        );
        assert_eq!(latest["ann"], NotHarmful);
        assert_eq!(latest["bob"], Unsure);
        for sql in [
            "UPDATE labels SET label = 'harmful'",
            "DELETE FROM labels",
            "DELETE FROM labels WHERE reviewer = 'ann'",
        ] {
            let e = store.conn.execute(sql, []).unwrap_err().to_string();
            assert!(e.contains("append-only"), "{sql}: {e}");
        }
        assert_eq!(store.labels().unwrap(), rows);
        // An INSERT still works after the refusals (the triggers stop only rewrites).
        store.add_label(&label("k1", "ann", Unsure)).unwrap();
        assert_eq!(store.labels().unwrap().len(), 4);
    }

    #[test]
    fn a_label_needs_an_answered_item_and_a_sound_reviewer_and_note() {
        let (_dir, path) = planted(SCHEMA_SQL);
        let store = Store::open(&path).unwrap();
        for item in ["nope", "k2"] {
            let e = store.add_label(&label(item, "ann", Harmful)).unwrap_err();
            assert!(matches!(e, LabelError::UnknownItem(_)), "{item}: {e}");
        }
        for bad in ["", " ann", "ann\n", &"x".repeat(MAX_REVIEWER_CHARS + 1)] {
            let e = store.add_label(&label("k0", bad, Harmful)).unwrap_err();
            assert!(matches!(e, LabelError::Invalid(_)), "{bad:?}: {e}");
        }
        let mut long = label("k0", "ann", Harmful);
        long.note = "n".repeat(MAX_NOTE_CHARS + 1);
        assert!(matches!(
            store.add_label(&long).unwrap_err(),
            LabelError::Invalid(_)
        ));
        long.note = "n".repeat(MAX_NOTE_CHARS);
        store.add_label(&long).unwrap();
        assert_eq!(store.labels().unwrap().len(), 1);
    }

    #[test]
    fn a_read_only_store_is_never_written() {
        let (_dir, path) = planted(SCHEMA_SQL);
        drop(Store::open(&path).unwrap());
        let before = std::fs::read(&path).unwrap();
        let ro = Store::open_read_only(&path).unwrap();
        let e = ro.add_label(&label("k0", "ann", Harmful)).unwrap_err();
        assert!(matches!(e, LabelError::ReadOnly(_)), "{e}");
        assert!(e.to_string().contains("read-only"), "{e}");
        let mut ro = ro;
        let (_, e) = ro.add_labels(&[label("k0", "ann", Harmful)]).unwrap_err();
        assert!(matches!(e, LabelError::ReadOnly(_)), "{e}");
        assert!(ro.labels().unwrap().is_empty());
        drop(ro);
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }

    #[test]
    fn importing_the_same_labels_twice_adds_them_once_and_a_bad_one_adds_none() {
        let (_dir, path) = planted(SCHEMA_SQL);
        let mut store = Store::open(&path).unwrap();
        let mut a = label("k0", "ann", Harmful);
        a.created_at = Some("2026-12-01T10:00:00.000Z".into());
        a.source = LabelSource::Import;
        let mut b = label("k1", "ann", NotHarmful);
        b.created_at = Some("2026-12-01T10:01:00.000Z".into());
        b.source = LabelSource::Import;
        assert_eq!(store.add_labels(&[a.clone(), b.clone()]).unwrap(), 2);
        assert_eq!(store.add_labels(&[a.clone(), b.clone()]).unwrap(), 0);
        assert_eq!(store.labels().unwrap().len(), 2);
        // A changed note is a new label; an unknown item fails the whole batch, by index.
        let mut c = a.clone();
        c.note = "second thoughts".into();
        let unknown = label("nope", "ann", Unsure);
        let (at, e) = store.add_labels(&[c.clone(), unknown]).unwrap_err();
        assert_eq!(at, 1);
        assert!(matches!(e, LabelError::UnknownItem(_)), "{e}");
        assert_eq!(store.labels().unwrap().len(), 2);
        assert_eq!(store.add_labels(&[c]).unwrap(), 1);
        // Without a time it matches a stored label of any time; a new one gets the time now.
        let mut untimed = b.clone();
        untimed.created_at = None;
        assert_eq!(store.add_labels(&[untimed.clone()]).unwrap(), 0);
        untimed.label = Unsure;
        assert_eq!(store.add_labels(&[untimed.clone(), untimed]).unwrap(), 1);
        let rows = store.labels().unwrap();
        assert_eq!(rows[0].created_at, "2026-12-01T10:00:00.000Z");
        assert_eq!(rows[0].source, LabelSource::Import);
    }
}
