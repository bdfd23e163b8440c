//! `misalign labels status`: how far a labelling round has got, per reviewer and scenario
//! (each reviewer's latest label per answer), and the labels that count.

use super::{by_item, LabelsError};
use crate::open_store;
use misalign_core::human_label::{label_that_counts, latest_per_reviewer};
use misalign_core::HumanLabel;
use std::collections::BTreeMap;
use std::path::Path;

/// Latest labels of one reviewer (or of the label that counts) in one scenario.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReviewerCounts {
    pub reviewer: String,
    pub scenario: String,
    pub harmful: usize,
    pub not_harmful: usize,
    pub unsure: usize,
}

impl ReviewerCounts {
    pub fn total(&self) -> usize {
        self.harmful + self.not_harmful + self.unsure
    }

    fn add(&mut self, l: HumanLabel) {
        match l {
            HumanLabel::Harmful => self.harmful += 1,
            HumanLabel::NotHarmful => self.not_harmful += 1,
            HumanLabel::Unsure => self.unsure += 1,
        }
    }
}

/// The state of a labelling round.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelStatus {
    /// Label rows stored (every change of mind included).
    pub rows: usize,
    /// Answered samples in the folder.
    pub answered: usize,
    /// Samples with at least one label.
    pub labelled: usize,
    /// Per reviewer and scenario, ordered.
    pub per_reviewer: Vec<ReviewerCounts>,
    /// The labels that count, per scenario (`reviewer` empty).
    pub counted: Vec<ReviewerCounts>,
}

impl LabelStatus {
    /// What `misalign labels status` prints: totals, then one line per reviewer and
    /// scenario, then the counted labels per scenario.
    pub fn render(&self, adjudicator: Option<&str>) -> String {
        let mut out = format!(
            "{} label rows; {} of {} answered samples labelled\n{:<24} {:<14} {:>7} {:>11} {:>6} {:>6}",
            self.rows, self.labelled, self.answered, "reviewer", "scenario", "harmful",
            "not_harmful", "unsure", "total"
        );
        let counted_as = match adjudicator {
            Some(a) => format!("(counted, adj. {a})"),
            None => "(counted)".into(),
        };
        let lines = self
            .per_reviewer
            .iter()
            .map(|c| (c.reviewer.as_str(), c))
            .chain(self.counted.iter().map(|c| (counted_as.as_str(), c)));
        for (who, c) in lines {
            out.push_str(&format!(
                "\n{:<24} {:<14} {:>7} {:>11} {:>6} {:>6}",
                who,
                c.scenario,
                c.harmful,
                c.not_harmful,
                c.unsure,
                c.total()
            ));
        }
        out
    }
}

/// Counts the labels of results folder `out_dir`.
pub fn status(out_dir: &Path, adjudicator: Option<&str>) -> Result<LabelStatus, LabelsError> {
    let store = open_store(out_dir).map_err(|e| LabelsError::file(out_dir, e))?;
    let scenario_of: BTreeMap<String, String> = store
        .label_targets()?
        .into_iter()
        .map(|t| (t.item_key, t.scenario))
        .collect();
    let rows = store.labels()?;
    let mut per: BTreeMap<(String, String), ReviewerCounts> = BTreeMap::new();
    let mut counted: BTreeMap<String, ReviewerCounts> = BTreeMap::new();
    let items = by_item(&rows);
    for (key, labels) in &items {
        let scenario = scenario_of.get(*key).cloned().unwrap_or_default();
        let latest = latest_per_reviewer(labels.iter().map(|r| (r.reviewer.as_str(), r.label)));
        for (reviewer, label) in &latest {
            per.entry((reviewer.to_string(), scenario.clone()))
                .or_insert_with(|| ReviewerCounts {
                    reviewer: reviewer.to_string(),
                    scenario: scenario.clone(),
                    ..ReviewerCounts::default()
                })
                .add(*label);
        }
        if let Some((label, _)) = label_that_counts(&latest, adjudicator) {
            counted
                .entry(scenario.clone())
                .or_insert_with(|| ReviewerCounts {
                    scenario: scenario.clone(),
                    ..ReviewerCounts::default()
                })
                .add(label);
        }
    }
    Ok(LabelStatus {
        rows: rows.len(),
        answered: scenario_of.len(),
        labelled: items.len(),
        per_reviewer: per.into_values().collect(),
        counted: counted.into_values().collect(),
    })
}
