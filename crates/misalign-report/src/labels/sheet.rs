//! The label sheet: CSV of labels, one row per label (`misalign labels export`, the queue of
//! `misalign labels sample`, and what `misalign labels import` reads back).
//!
//! Columns: `item_key, model, condition, scenario, sample, reviewer, label, note,
//! created_at, source` (`sample` 1-based as in the folders; `label` harmful | not_harmful |
//! unsure). Spreadsheets run a cell that starts with `=`, `+`, `-`, `@`, a tab or a
//! carriage return as a formula, so such a cell (and one starting with `'`) is written with
//! a `'` in front, and import takes one leading `'` off: text comes back exactly.
//!
//! Import is append-only and idempotent: a row equal to a stored label (item, reviewer,
//! label, note and time; a row without a time matches a label with any time) is skipped, so
//! importing the same file twice adds its labels once. Rows with an empty `label` (a queue
//! not filled in yet) are skipped. Every row is checked before anything is written; the
//! first bad one fails the import with its line number, and nothing is added.

use super::{by_item, LabelsError};
use crate::open_store;
use misalign_core::human_label::{label_that_counts, latest_per_reviewer};
use misalign_core::HumanLabel;
use misalign_store::labels::{LabelSource, LabelTarget, NewLabel};
use misalign_store::{Store, STORE_FILE};
use std::collections::BTreeMap;
use std::path::Path;

/// The columns of a label sheet, in order.
pub const SHEET_COLUMNS: [&str; 10] = [
    "item_key",
    "model",
    "condition",
    "scenario",
    "sample",
    "reviewer",
    "label",
    "note",
    "created_at",
    "source",
];

/// The columns of the label-that-counts export.
pub const COUNTED_COLUMNS: [&str; 11] = [
    "item_key",
    "model",
    "condition",
    "scenario",
    "sample",
    "label",
    "rule",
    "reviewers",
    "harmful",
    "not_harmful",
    "unsure",
];

/// Keeps a spreadsheet from reading a cell as a formula (undone by [`unguard`]).
pub(crate) fn guard(cell: &str) -> String {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r' | '\'') => format!("'{cell}"),
        _ => cell.to_string(),
    }
}

/// Takes off the `'` [`guard`] put in front.
pub(crate) fn unguard(cell: &str) -> String {
    cell.strip_prefix('\'').unwrap_or(cell).to_string()
}

/// One row of a label sheet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SheetRow {
    pub item_key: String,
    pub model: String,
    pub condition: String,
    pub scenario: String,
    pub sample: String,
    pub reviewer: String,
    pub label: String,
    pub note: String,
    pub created_at: String,
    pub source: String,
}

impl SheetRow {
    /// A queue row: the answer, the reviewer to label it, nothing labelled yet.
    pub fn unlabelled(t: &LabelTarget, reviewer: &str) -> SheetRow {
        SheetRow {
            item_key: t.item_key.clone(),
            model: t.model.clone(),
            condition: t.condition_id.clone(),
            scenario: t.scenario.clone(),
            sample: (t.sample_index + 1).to_string(),
            reviewer: reviewer.to_string(),
            label: String::new(),
            note: String::new(),
            created_at: String::new(),
            source: String::new(),
        }
    }

    fn cells(&self) -> [&str; 10] {
        [
            &self.item_key,
            &self.model,
            &self.condition,
            &self.scenario,
            &self.sample,
            &self.reviewer,
            &self.label,
            &self.note,
            &self.created_at,
            &self.source,
        ]
    }
}

fn write_csv<const N: usize>(
    file: &Path,
    header: [&str; N],
    rows: impl Iterator<Item = [String; N]>,
) -> Result<(), LabelsError> {
    let fail = |e: &dyn std::fmt::Display| LabelsError::file(file, format!("cannot write: {e}"));
    let mut out = misalign_store::atomic::AtomicFile::create_at(file).map_err(|e| fail(&e))?;
    {
        let mut w = csv::Writer::from_writer(&mut out);
        w.write_record(header).map_err(|e| fail(&e))?;
        for row in rows {
            w.write_record(row.iter().map(|c| guard(c)))
                .map_err(|e| fail(&e))?;
        }
        w.flush().map_err(|e| fail(&e))?;
    }
    out.commit().map_err(|e| fail(&e))
}

pub(crate) fn write_sheet(file: &Path, rows: &[SheetRow]) -> Result<(), LabelsError> {
    write_csv(
        file,
        SHEET_COLUMNS,
        rows.iter().map(|r| r.cells().map(str::to_string)),
    )
}

/// What `export` writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExportKind {
    /// Every label row, oldest first.
    Labels,
    /// One row per labelled answer: the label that counts (majority of the reviewers'
    /// latest labels, or the adjudicator's where they labelled).
    Counted { adjudicator: Option<String> },
}

/// Writes the labels of results folder `out_dir` to `file`; returns the rows written.
pub fn export(out_dir: &Path, file: &Path, kind: &ExportKind) -> Result<usize, LabelsError> {
    let store = open_store(out_dir).map_err(|e| LabelsError::file(out_dir, e))?;
    let targets = targets_by_key(&store)?;
    let rows = store.labels()?;
    let describe = |key: &str| -> [String; 5] {
        match targets.get(key) {
            Some(t) => [
                key.to_string(),
                t.model.clone(),
                t.condition_id.clone(),
                t.scenario.clone(),
                (t.sample_index + 1).to_string(),
            ],
            None => [
                key.to_string(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
            ],
        }
    };
    match kind {
        ExportKind::Labels => {
            let n = rows.len();
            write_csv(
                file,
                SHEET_COLUMNS,
                rows.iter().map(|r| {
                    let [k, m, c, s, i] = describe(&r.item_key);
                    [
                        k,
                        m,
                        c,
                        s,
                        i,
                        r.reviewer.clone(),
                        r.label.as_str().into(),
                        r.note.clone(),
                        r.created_at.clone(),
                        r.source.as_str().into(),
                    ]
                }),
            )?;
            Ok(n)
        }
        ExportKind::Counted { adjudicator } => {
            let items = by_item(&rows);
            let lines: Vec<[String; 11]> = items
                .iter()
                .filter_map(|(key, labels)| {
                    let latest =
                        latest_per_reviewer(labels.iter().map(|r| (r.reviewer.as_str(), r.label)));
                    let (label, rule) = label_that_counts(&latest, adjudicator.as_deref())?;
                    let count =
                        |l: HumanLabel| latest.values().filter(|v| **v == l).count().to_string();
                    let [k, m, c, s, i] = describe(key);
                    Some([
                        k,
                        m,
                        c,
                        s,
                        i,
                        label.as_str().into(),
                        rule.as_str().into(),
                        latest.len().to_string(),
                        count(HumanLabel::Harmful),
                        count(HumanLabel::NotHarmful),
                        count(HumanLabel::Unsure),
                    ])
                })
                .collect();
            let n = lines.len();
            write_csv(file, COUNTED_COLUMNS, lines.into_iter())?;
            Ok(n)
        }
    }
}

fn targets_by_key(store: &Store) -> Result<BTreeMap<String, LabelTarget>, LabelsError> {
    Ok(store
        .label_targets()?
        .into_iter()
        .map(|t| (t.item_key.clone(), t))
        .collect())
}

/// What `import` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportSummary {
    /// Data rows in the file.
    pub rows: usize,
    /// Rows with an empty label (not labelled yet).
    pub unlabelled: usize,
    /// Labels added (the rest were already stored).
    pub added: usize,
}

/// Reads label sheet `file` into the store of results folder `out_dir` (see the module
/// comment for the rules).
pub fn import(out_dir: &Path, file: &Path) -> Result<ImportSummary, LabelsError> {
    let row_error = |line: u64, message: String| LabelsError::Row {
        path: file.to_path_buf(),
        line,
        message,
    };
    let mut reader = csv::Reader::from_path(file).map_err(|e| LabelsError::file(file, e))?;
    let headers = reader
        .headers()
        .map_err(|e| LabelsError::file(file, e))?
        .clone();
    let col = |name: &str| headers.iter().position(|h| h.trim() == name);
    let required = |name: &str| {
        col(name).ok_or_else(|| {
            LabelsError::file(
                file,
                format!(
                    "no `{name}` column (a label sheet has: {})",
                    SHEET_COLUMNS.join(", ")
                ),
            )
        })
    };
    let (key_col, reviewer_col, label_col) = (
        required("item_key")?,
        required("reviewer")?,
        required("label")?,
    );
    let (note_col, time_col) = (col("note"), col("created_at"));
    let checks: Vec<(usize, &str)> = ["model", "condition", "sample"]
        .into_iter()
        .filter_map(|n| col(n).map(|c| (c, n)))
        .collect();
    let mut store = Store::open(&out_dir.join(STORE_FILE))?;
    let targets = targets_by_key(&store)?;
    let (mut labels, mut lines, mut rows, mut unlabelled) = (Vec::new(), Vec::new(), 0, 0);
    for (i, record) in reader.records().enumerate() {
        let line = i as u64 + 2;
        let record = record.map_err(|e| row_error(line, e.to_string()))?;
        rows += 1;
        let get = |c: usize| unguard(record.get(c).unwrap_or_default());
        let word = get(label_col);
        if word.trim().is_empty() {
            unlabelled += 1;
            continue;
        }
        let label = HumanLabel::parse(word.trim()).ok_or_else(|| {
            row_error(
                line,
                format!("label {word:?} is not one of harmful, not_harmful, unsure"),
            )
        })?;
        let item_key = get(key_col);
        let target = targets.get(&item_key).ok_or_else(|| {
            row_error(
                line,
                format!("no answered sample has item key {item_key:?} in this results folder"),
            )
        })?;
        for (c, name) in &checks {
            let given = get(*c);
            let stored = match *name {
                "model" => target.model.clone(),
                "condition" => target.condition_id.clone(),
                _ => (target.sample_index + 1).to_string(),
            };
            if !given.is_empty() && given != stored {
                return Err(row_error(
                    line,
                    format!(
                        "{name} {given:?} does not match the stored {stored:?} of item {item_key}"
                    ),
                ));
            }
        }
        let new = NewLabel {
            item_key,
            reviewer: get(reviewer_col),
            label,
            note: note_col.map(&get).unwrap_or_default(),
            created_at: time_col.map(&get).filter(|t| !t.is_empty()),
            source: LabelSource::Import,
        };
        new.validate().map_err(|m| row_error(line, m))?;
        labels.push(new);
        lines.push(line);
    }
    let added = store
        .add_labels(&labels)
        .map_err(|(i, e)| row_error(lines.get(i).copied().unwrap_or(0), e.to_string()))?;
    Ok(ImportSummary {
        rows,
        unlabelled,
        added,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_guarded_and_come_back_exactly() {
        for (text, written) in [
            ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
            ("+1", "'+1"),
            ("-1", "'-1"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("'quoted", "''quoted"),
            ("plain", "plain"),
            ("", ""),
        ] {
            assert_eq!(guard(text), written);
            assert_eq!(unguard(&guard(text)), text);
        }
    }
}
