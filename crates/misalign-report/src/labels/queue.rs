//! `misalign labels sample`: a stratified choice of answers to label (the allocation is
//! `misalign_core::label_sample`'s), written as a label sheet the viewer follows
//! (`misalign view OUT --queue FILE`) and that can be filled in elsewhere and imported.
//!
//! Strata are verdict x scenario x model. The sheet carries no verdict and its rows are
//! shuffled, so neither the file nor the viewer's order tells a reviewer what the detector
//! or judge said; the allocation (stratum sizes and counts, which an estimate weights by) is
//! returned for the command to print.

use super::sheet::{write_sheet, SheetRow};
use super::LabelsError;
use crate::open_store;
use misalign_core::label_sample::{choose, Candidate};
use std::collections::BTreeMap;
use std::path::Path;

/// What to choose.
#[derive(Clone, Debug)]
pub struct QueueOptions {
    pub n: usize,
    pub seed: u64,
    /// Fills the sheet's reviewer column.
    pub reviewer: Option<String>,
}

/// One stratum of the allocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StratumCount {
    pub verdict: String,
    pub scenario: String,
    pub model: String,
    /// Answered samples in the stratum.
    pub size: usize,
    /// Of them in the queue.
    pub chosen: usize,
}

/// What `sample_queue` wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueSummary {
    pub chosen: usize,
    pub answered: usize,
    pub strata: Vec<StratumCount>,
}

impl QueueSummary {
    /// What the command prints: the counts and the allocation table.
    pub fn render(&self, seed: u64, file: &Path) -> String {
        let mut out = format!(
            "Chose {} of {} answered samples (seed {seed}) into {}\n{:<14} {:<14} {:<40} {:>8} {:>7}",
            self.chosen,
            self.answered,
            file.display(),
            "verdict",
            "scenario",
            "model",
            "answers",
            "chosen"
        );
        for t in &self.strata {
            out.push_str(&format!(
                "\n{:<14} {:<14} {:<40} {:>8} {:>7}",
                t.verdict, t.scenario, t.model, t.size, t.chosen
            ));
        }
        out
    }
}

/// The stratum key: fields joined by a character no name contains.
const SEP: char = '\u{1f}';

/// Chooses the answers of results folder `out_dir` to label and writes them to `file`.
pub fn sample_queue(
    out_dir: &Path,
    options: &QueueOptions,
    file: &Path,
) -> Result<QueueSummary, LabelsError> {
    let store = open_store(out_dir).map_err(|e| LabelsError::file(out_dir, e))?;
    let targets = store.label_targets()?;
    let candidates: Vec<Candidate> = targets
        .iter()
        .map(|t| Candidate {
            key: t.item_key.clone(),
            stratum: [t.verdict.as_str(), &t.scenario, &t.model].join(&SEP.to_string()),
        })
        .collect();
    let chosen = choose(&candidates, options.n, options.seed);
    let by_key: BTreeMap<&str, _> = targets.iter().map(|t| (t.item_key.as_str(), t)).collect();
    let rows: Vec<SheetRow> = chosen
        .iter()
        .map(|c| {
            let t = by_key[c.key.as_str()];
            SheetRow::unlabelled(t, options.reviewer.as_deref().unwrap_or(""))
        })
        .collect();
    write_sheet(file, &rows)?;
    let mut strata: BTreeMap<&str, StratumCount> = BTreeMap::new();
    for c in &candidates {
        strata
            .entry(&c.stratum)
            .or_insert_with(|| {
                let mut parts = c.stratum.split(SEP).map(str::to_string);
                StratumCount {
                    verdict: parts.next().unwrap_or_default(),
                    scenario: parts.next().unwrap_or_default(),
                    model: parts.next().unwrap_or_default(),
                    size: 0,
                    chosen: 0,
                }
            })
            .size += 1;
    }
    for c in &chosen {
        if let Some(s) = strata.get_mut(c.stratum.as_str()) {
            s.chosen += 1;
        }
    }
    Ok(QueueSummary {
        chosen: rows.len(),
        answered: targets.len(),
        strata: strata.into_values().collect(),
    })
}

/// The item keys of a queue file (any CSV with an `item_key` column), in its order, each
/// once.
pub fn read_queue(file: &Path) -> Result<Vec<String>, LabelsError> {
    let mut reader = csv::Reader::from_path(file).map_err(|e| LabelsError::file(file, e))?;
    let headers = reader
        .headers()
        .map_err(|e| LabelsError::file(file, e))?
        .clone();
    let col = headers
        .iter()
        .position(|h| h == "item_key")
        .ok_or_else(|| LabelsError::file(file, "no item_key column"))?;
    let (mut keys, mut seen) = (Vec::new(), std::collections::HashSet::new());
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| LabelsError::Row {
            path: file.to_path_buf(),
            line: i as u64 + 2,
            message: e.to_string(),
        })?;
        let key = super::sheet::unguard(record.get(col).unwrap_or_default());
        if !key.is_empty() && seen.insert(key.clone()) {
            keys.push(key);
        }
    }
    Ok(keys)
}
