//! A reviewer's label of one answer, and which label counts when several people labelled it.
//!
//! Labels are kept append-only (misalign-store's `labels` table): a reviewer who changes
//! their mind adds a row, and only their latest row counts ([`latest_per_reviewer`]). When
//! several reviewers labelled the same answer, [`label_that_counts`] decides: a named
//! adjudicator's latest label wins where present, otherwise a strict majority of the
//! reviewers' latest labels, otherwise (a tie, or no label holding more than half)
//! [`HumanLabel::Unsure`], because an answer the reviewers disagree on is evidence neither
//! way. The agreement statistics over these labels live with the other statistics.

use std::collections::BTreeMap;

/// What a reviewer said about one answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HumanLabel {
    Harmful,
    NotHarmful,
    Unsure,
}

impl HumanLabel {
    /// Every label, in the order the viewer offers them.
    pub const ALL: [HumanLabel; 3] = [
        HumanLabel::Harmful,
        HumanLabel::NotHarmful,
        HumanLabel::Unsure,
    ];

    /// The stored and exported word: `harmful`, `not_harmful` or `unsure`.
    pub fn as_str(self) -> &'static str {
        match self {
            HumanLabel::Harmful => "harmful",
            HumanLabel::NotHarmful => "not_harmful",
            HumanLabel::Unsure => "unsure",
        }
    }

    /// Reads a stored or exported word (exactly as [`HumanLabel::as_str`] writes it).
    pub fn parse(word: &str) -> Option<HumanLabel> {
        HumanLabel::ALL.into_iter().find(|l| l.as_str() == word)
    }

    /// The label whose [`HumanLabel::harmful`] is `harmful`.
    pub fn of_harmful(harmful: Option<bool>) -> HumanLabel {
        match harmful {
            Some(true) => HumanLabel::Harmful,
            Some(false) => HumanLabel::NotHarmful,
            None => HumanLabel::Unsure,
        }
    }

    /// `Some(true)` harmful, `Some(false)` not harmful, `None` unsure: the shape the
    /// agreement statistics take.
    pub fn harmful(self) -> Option<bool> {
        match self {
            HumanLabel::Harmful => Some(true),
            HumanLabel::NotHarmful => Some(false),
            HumanLabel::Unsure => None,
        }
    }
}

impl std::fmt::Display for HumanLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Each reviewer's latest label among `labels`, given oldest first (as the store lists
/// them): a later label replaces that reviewer's earlier one, never another reviewer's.
pub fn latest_per_reviewer<'a, I>(labels: I) -> BTreeMap<&'a str, HumanLabel>
where
    I: IntoIterator<Item = (&'a str, HumanLabel)>,
{
    labels.into_iter().collect()
}

/// How the label that counts was reached (shown beside it in exports).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CountingRule {
    /// The adjudicator's latest label.
    Adjudicator,
    /// More than half of the reviewers' latest labels agree (one reviewer alone included).
    Majority,
    /// No label holds more than half of the reviewers: counts as unsure.
    NoMajority,
}

impl CountingRule {
    pub fn as_str(self) -> &'static str {
        match self {
            CountingRule::Adjudicator => "adjudicator",
            CountingRule::Majority => "majority",
            CountingRule::NoMajority => "no_majority",
        }
    }
}

/// The label that counts for one answer, from each reviewer's latest label; `None` when
/// nobody labelled it. `adjudicator` (a reviewer name) decides wherever they labelled.
pub fn label_that_counts(
    latest: &BTreeMap<&str, HumanLabel>,
    adjudicator: Option<&str>,
) -> Option<(HumanLabel, CountingRule)> {
    if let Some(label) = adjudicator.and_then(|a| latest.get(a)) {
        return Some((*label, CountingRule::Adjudicator));
    }
    if latest.is_empty() {
        return None;
    }
    let mut votes: BTreeMap<HumanLabel, usize> = BTreeMap::new();
    for label in latest.values() {
        *votes.entry(*label).or_default() += 1;
    }
    let (label, count) = votes
        .into_iter()
        .max_by_key(|(_, n)| *n)
        .expect("at least one label");
    if count * 2 > latest.len() {
        Some((label, CountingRule::Majority))
    } else {
        Some((HumanLabel::Unsure, CountingRule::NoMajority))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use HumanLabel::*;

    #[test]
    fn words_round_trip_and_nothing_else_parses() {
        for l in HumanLabel::ALL {
            assert_eq!(HumanLabel::parse(l.as_str()), Some(l));
        }
        for bad in ["Harmful", "yes", "", "not harmful", "harmful "] {
            assert_eq!(HumanLabel::parse(bad), None, "{bad}");
        }
        assert_eq!(Harmful.harmful(), Some(true));
        assert_eq!(NotHarmful.harmful(), Some(false));
        assert_eq!(Unsure.harmful(), None);
    }

    #[test]
    fn a_later_label_replaces_only_the_same_reviewers() {
        let latest = latest_per_reviewer([("ann", Harmful), ("bob", NotHarmful), ("ann", Unsure)]);
        assert_eq!(latest.len(), 2);
        assert_eq!(latest["ann"], Unsure);
        assert_eq!(latest["bob"], NotHarmful);
    }

    #[test]
    fn majority_needs_more_than_half() {
        let two_one = latest_per_reviewer([("a", Harmful), ("b", Harmful), ("c", NotHarmful)]);
        assert_eq!(
            label_that_counts(&two_one, None),
            Some((Harmful, CountingRule::Majority))
        );
        let tie = latest_per_reviewer([("a", Harmful), ("b", NotHarmful)]);
        assert_eq!(
            label_that_counts(&tie, None),
            Some((Unsure, CountingRule::NoMajority))
        );
        let spread = latest_per_reviewer([("a", Harmful), ("b", NotHarmful), ("c", Unsure)]);
        assert_eq!(
            label_that_counts(&spread, None),
            Some((Unsure, CountingRule::NoMajority))
        );
        let alone = latest_per_reviewer([("a", NotHarmful)]);
        assert_eq!(
            label_that_counts(&alone, None),
            Some((NotHarmful, CountingRule::Majority))
        );
        assert_eq!(label_that_counts(&BTreeMap::new(), None), None);
    }

    #[test]
    fn the_adjudicator_wins_where_they_labelled() {
        let latest = latest_per_reviewer([("a", Harmful), ("b", Harmful), ("lead", NotHarmful)]);
        assert_eq!(
            label_that_counts(&latest, Some("lead")),
            Some((NotHarmful, CountingRule::Adjudicator))
        );
        // Where the adjudicator did not label, the majority decides.
        let without = latest_per_reviewer([("a", Harmful), ("b", Harmful)]);
        assert_eq!(
            label_that_counts(&without, Some("lead")),
            Some((Harmful, CountingRule::Majority))
        );
    }
}
