//! A binary classifier (the detector, one judge, the final verdict) against the human label
//! that counts: sensitivity, specificity and Cohen's kappa.
//!
//! When the labelled answers were chosen stratified by verdict (`misalign labels sample`
//! over-samples rare verdicts), the labelled set is not a picture of the run: a plain count
//! over it over-represents the rare verdict and biases sensitivity and specificity. Each
//! labelled answer therefore carries a weight, the inverse of its stratum's labelling
//! fraction (answers in the stratum / labelled answers in it), and the two proportions are
//! weighted means; their Wilson intervals use Kish's effective sample size
//! `(sum w)^2 / sum w^2`. With equal weights (a simple random sample) this is the plain
//! count. Kappa is of the labelled set as it is (unweighted): it describes agreement on the
//! answers people looked at.

use super::{cohen_binary, KappaEstimate};
use crate::stats::{wilson, wilson_effective, Interval};
use serde::Serialize;

/// One labelled answer: the classifier's verdict, the label that counts (`true` harmful),
/// and the answer's sampling weight (1 when unweighted).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LabelledVerdict {
    pub verdict: bool,
    pub truth: bool,
    pub weight: f64,
}

/// A proportion among labelled answers with its Wilson interval.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Proportion {
    /// Weighted when the answers carry unequal weights.
    pub estimate: Option<f64>,
    pub ci: Option<Interval>,
    /// Labelled answers counted (unweighted): the proportion rests on these.
    pub successes: u64,
    pub n: u64,
    /// Kish's effective sample size (`n` when unweighted).
    pub effective_n: f64,
}

impl Proportion {
    /// From `(success, weight)` pairs.
    fn of(items: &[(bool, f64)], confidence: f64) -> Proportion {
        let n = items.len() as u64;
        let successes = items.iter().filter(|(s, _)| *s).count() as u64;
        let total: f64 = items.iter().map(|(_, w)| w).sum();
        let equal = items.windows(2).all(|w| w[0].1 == w[1].1);
        if equal || total <= 0.0 {
            return Proportion {
                estimate: (n > 0).then(|| successes as f64 / n as f64),
                ci: wilson(successes, n, confidence),
                successes,
                n,
                effective_n: n as f64,
            };
        }
        let hit: f64 = items.iter().filter(|(s, _)| *s).map(|(_, w)| w).sum();
        let squares: f64 = items.iter().map(|(_, w)| w * w).sum();
        let estimate = hit / total;
        let effective_n = total * total / squares;
        Proportion {
            estimate: Some(estimate),
            ci: wilson_effective(estimate * effective_n, effective_n, confidence),
            successes,
            n,
            effective_n,
        }
    }

    /// As an [`super::EffectiveCount`] for the corrected rate.
    pub fn effective_count(&self) -> Option<super::EffectiveCount> {
        let p = self.estimate?;
        Some(super::EffectiveCount {
            successes: p * self.effective_n,
            trials: self.effective_n,
        })
    }
}

/// How one classifier's verdicts compare with the labels.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClassifierAccuracy {
    /// Labelled answers with a verdict of this classifier.
    pub n: u64,
    pub true_positive: u64,
    pub false_negative: u64,
    pub true_negative: u64,
    pub false_positive: u64,
    /// Whether the labelled answers carried unequal weights (stratified labelling).
    pub weighted: bool,
    /// Of the answers labelled harmful, the share the classifier called harmful.
    pub sensitivity: Proportion,
    /// Of the answers labelled not harmful, the share the classifier called not harmful.
    pub specificity: Proportion,
    /// Cohen's kappa between classifier and label (unweighted).
    pub kappa: Option<KappaEstimate>,
}

/// Sensitivity, specificity (Wilson intervals) and kappa of a classifier's verdicts.
pub fn classifier_accuracy(pairs: &[LabelledVerdict], confidence: f64) -> ClassifierAccuracy {
    let count = |verdict: bool, truth: bool| {
        pairs
            .iter()
            .filter(|p| p.verdict == verdict && p.truth == truth)
            .count() as u64
    };
    let positives: Vec<(bool, f64)> = pairs
        .iter()
        .filter(|p| p.truth)
        .map(|p| (p.verdict, p.weight))
        .collect();
    let negatives: Vec<(bool, f64)> = pairs
        .iter()
        .filter(|p| !p.truth)
        .map(|p| (!p.verdict, p.weight))
        .collect();
    let kappa_pairs: Vec<(bool, bool)> = pairs.iter().map(|p| (p.verdict, p.truth)).collect();
    ClassifierAccuracy {
        n: pairs.len() as u64,
        true_positive: count(true, true),
        false_negative: count(false, true),
        true_negative: count(false, false),
        false_positive: count(true, false),
        weighted: pairs.windows(2).any(|w| w[0].weight != w[1].weight),
        sensitivity: Proportion::of(&positives, confidence),
        specificity: Proportion::of(&negatives, confidence),
        kappa: cohen_binary(&kappa_pairs, confidence),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(spec: &[(bool, bool, usize, f64)]) -> Vec<LabelledVerdict> {
        spec.iter()
            .flat_map(|&(verdict, truth, n, weight)| {
                std::iter::repeat_n(
                    LabelledVerdict {
                        verdict,
                        truth,
                        weight,
                    },
                    n,
                )
            })
            .collect()
    }

    #[test]
    fn counts_by_hand() {
        // 40 harmful: 36 caught; 60 not harmful: 54 cleared.
        let p = pairs(&[
            (true, true, 36, 1.0),
            (false, true, 4, 1.0),
            (false, false, 54, 1.0),
            (true, false, 6, 1.0),
        ]);
        let a = classifier_accuracy(&p, 0.95);
        assert_eq!(
            (
                a.true_positive,
                a.false_negative,
                a.true_negative,
                a.false_positive
            ),
            (36, 4, 54, 6)
        );
        assert!(!a.weighted);
        assert_eq!(a.sensitivity.estimate, Some(0.9));
        assert_eq!(a.specificity.estimate, Some(0.9));
        assert_eq!(a.sensitivity.ci, wilson(36, 40, 0.95));
        assert_eq!(a.sensitivity.effective_n, 40.0);
    }

    #[test]
    fn weights_undo_verdict_stratified_labelling() {
        // A run of 1000: 100 called harmful, 900 not. 50 labelled from each stratum
        // (weights 2 and 18). Among the 50 called harmful, 40 truly harmful; among the 50
        // called not harmful, 5 truly harmful. Weighted truly harmful: 40*2 + 5*18 = 170, of
        // which the classifier caught 80 -> Se = 80/170; truly not harmful 10*2 + 45*18 =
        // 830, cleared 810 -> Sp = 810/830. The unweighted counts would say 40/45 and 45/55.
        let p = pairs(&[
            (true, true, 40, 2.0),
            (true, false, 10, 2.0),
            (false, true, 5, 18.0),
            (false, false, 45, 18.0),
        ]);
        let a = classifier_accuracy(&p, 0.95);
        assert!(a.weighted);
        assert!((a.sensitivity.estimate.unwrap() - 80.0 / 170.0).abs() < 1e-12);
        assert!((a.specificity.estimate.unwrap() - 810.0 / 830.0).abs() < 1e-12);
        // Positives: weights 2 (x40) and 18 (x5): (170)^2 / (40*4 + 5*324) = 28900 / 1780.
        assert!((a.sensitivity.effective_n - 28900.0 / 1780.0).abs() < 1e-9);
        assert_eq!(a.sensitivity.n, 45);
    }

    #[test]
    fn no_labels_no_estimates() {
        let a = classifier_accuracy(&[], 0.95);
        assert_eq!(a.n, 0);
        assert_eq!(a.sensitivity.estimate, None);
        assert_eq!(a.sensitivity.ci, None);
        assert!(a.kappa.is_none());
    }
}
