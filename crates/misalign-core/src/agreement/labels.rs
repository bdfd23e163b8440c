//! Human labels: each reviewer's latest label of an answer, and the label that counts.
//!
//! Labels are stored append-only (a later label never erases an earlier one); a reviewer's
//! latest label is the one that counts for that reviewer. `unsure` is a label, not a vote:
//! it is counted, and left out of every binary statistic.

use crate::human_label::HumanLabel;
use serde::Serialize;
use std::collections::BTreeMap;

/// Which label counts when several reviewers labelled an answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LabelRule {
    /// A label held by more than half of the reviewers' latest labels; otherwise `unsure`.
    #[default]
    Majority,
    /// This reviewer's latest label wherever they gave one (their `unsure` included),
    /// otherwise the majority.
    Adjudicator(String),
}

impl LabelRule {
    /// `majority` or `adjudicator:NAME`, as reports print it.
    pub fn describe(&self) -> String {
        match self {
            LabelRule::Majority => "majority".to_string(),
            LabelRule::Adjudicator(name) => format!("adjudicator:{name}"),
        }
    }
}

/// Each reviewer's latest label, from labels oldest first (`Some(true)` harmful,
/// `Some(false)` not harmful, `None` unsure).
pub fn latest_labels(labels: &[(String, Option<bool>)]) -> BTreeMap<&str, Option<bool>> {
    labels
        .iter()
        .map(|(reviewer, label)| (reviewer.as_str(), *label))
        .collect()
}

/// The label that counts for one answer under `rule`, by the one rule of
/// [`crate::human_label::label_that_counts`]: `None` when no reviewer labelled it or the
/// label that counts is `unsure` (an adjudicator's `unsure`, or no label held by more than
/// half of the reviewers).
pub fn label_that_counts(labels: &[(String, Option<bool>)], rule: &LabelRule) -> Option<bool> {
    let latest = crate::human_label::latest_per_reviewer(
        labels
            .iter()
            .map(|(reviewer, label)| (reviewer.as_str(), HumanLabel::of_harmful(*label))),
    );
    let adjudicator = match rule {
        LabelRule::Majority => None,
        LabelRule::Adjudicator(name) => Some(name.as_str()),
    };
    crate::human_label::label_that_counts(&latest, adjudicator)
        .and_then(|(label, _)| label.harmful())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(reviewer: &str, label: Option<bool>) -> (String, Option<bool>) {
        (reviewer.to_string(), label)
    }

    #[test]
    fn a_later_label_replaces_the_reviewers_earlier_one() {
        let labels = [
            l("ann", Some(true)),
            l("bob", Some(false)),
            l("ann", Some(false)),
        ];
        assert_eq!(latest_labels(&labels)["ann"], Some(false));
        assert_eq!(
            label_that_counts(&labels, &LabelRule::Majority),
            Some(false)
        );
    }

    #[test]
    fn majority_ties_and_unsure_decide_nothing() {
        let tie = [l("ann", Some(true)), l("bob", Some(false))];
        assert_eq!(label_that_counts(&tie, &LabelRule::Majority), None);
        let unsure = [l("ann", None)];
        assert_eq!(label_that_counts(&unsure, &LabelRule::Majority), None);
        assert_eq!(label_that_counts(&[], &LabelRule::Majority), None);
        let two_to_one = [l("a", Some(true)), l("b", Some(true)), l("c", Some(false))];
        assert_eq!(
            label_that_counts(&two_to_one, &LabelRule::Majority),
            Some(true)
        );
        // `unsure` is a label: harmful from one of two reviewers is not more than half.
        let with_unsure = [l("a", Some(true)), l("b", None)];
        assert_eq!(label_that_counts(&with_unsure, &LabelRule::Majority), None);
        let two_of_three = [l("a", Some(true)), l("b", Some(true)), l("c", None)];
        assert_eq!(
            label_that_counts(&two_of_three, &LabelRule::Majority),
            Some(true)
        );
    }

    #[test]
    fn the_adjudicator_decides_wherever_they_labelled_else_the_majority() {
        let rule = LabelRule::Adjudicator("chair".into());
        let overruled = [
            l("a", Some(true)),
            l("b", Some(true)),
            l("chair", Some(false)),
        ];
        assert_eq!(label_that_counts(&overruled, &rule), Some(false));
        let chair_unsure = [l("a", Some(true)), l("b", Some(true)), l("chair", None)];
        assert_eq!(label_that_counts(&chair_unsure, &rule), None);
        let chair_silent = [l("a", Some(true)), l("b", Some(true))];
        assert_eq!(label_that_counts(&chair_silent, &rule), Some(true));
        let chair_absent = [l("a", Some(true)), l("b", Some(false))];
        assert_eq!(label_that_counts(&chair_absent, &rule), None);
    }
}
