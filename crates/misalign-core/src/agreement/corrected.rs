//! The harmful rate corrected for the classifier's errors: Rogan & Gladen (1978),
//! `(p_obs + Sp - 1) / (Se + Sp - 1)`, clamped to [0, 1].
//!
//! The interval is Lang & Reiczigel's (2014) adjusted delta-method interval. The
//! Rogan-Gladen variance (delta method) adds the sampling variance of the observed rate and
//! the calibration variances of Se and Sp, each scaled by its effect on the estimate:
//!
//! `var = [p(1-p)/n + pi^2 Se(1-Se)/n_se + (1-pi)^2 Sp(1-Sp)/n_sp] / (Se + Sp - 1)^2`.
//!
//! Used as is it undercovers like the Wald interval does, so Lang & Reiczigel compute it
//! from adjusted proportions (the observed rate with `z^2/2` successes and failures added,
//! Se and Sp with one of each, after Agresti & Coull) and shift its centre by
//! `2 z^2 [pi Se(1-Se)/n_se - (1-pi) Sp(1-Sp)/n_sp]`. Their simulations found it close to
//! nominal from about 30 answers; `tests/it/agreement_reference.rs` checks its coverage by
//! simulation with a fixed seed. It assumes the three samples are independent (here the
//! labelled answers are a small part of the run, which makes the dependence small).
//!
//! When `Se + Sp <= 1` the classifier is no better than chance and the rate is not
//! identifiable: no estimate, no interval, and the caller says so.

use crate::stats::{z_for, Interval};
use serde::Serialize;

/// A count of successes among trials; effective (non-integer) counts come from weighted
/// estimates ([`super::Proportion::effective_count`]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct EffectiveCount {
    pub successes: f64,
    pub trials: f64,
}

impl EffectiveCount {
    pub fn new(successes: u64, trials: u64) -> Self {
        EffectiveCount {
            successes: successes as f64,
            trials: trials as f64,
        }
    }

    fn share(self) -> f64 {
        self.successes / self.trials
    }

    /// The proportion with `add` pseudo-trials, half of them successes.
    fn adjusted(self, add: f64) -> (f64, f64) {
        let trials = self.trials + add;
        ((self.successes + add / 2.0) / trials, trials)
    }
}

/// The corrected rate and its interval.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CorrectedRate {
    /// Rogan-Gladen, clamped to [0, 1]; `None` when not identifiable.
    pub estimate: Option<f64>,
    /// Lang & Reiczigel's interval, clamped to [0, 1]; `None` when not identifiable.
    pub ci: Option<Interval>,
    /// `Se + Sp > 1`: the classifier is better than chance, the rate can be corrected.
    pub identifiable: bool,
    /// The unclamped estimate fell outside [0, 1] (more apparent errors than the observed
    /// rate allows): a sign that Se or Sp are off for these answers.
    pub clamped: bool,
}

/// Corrects the observed rate (`observed` harmful verdicts of the answers) for the
/// classifier's sensitivity (`sensitivity`: harmful verdicts among answers labelled harmful)
/// and specificity (`specificity`: not-harmful verdicts among answers labelled not harmful).
/// `None` when any of the three has no trials.
pub fn rogan_gladen(
    observed: EffectiveCount,
    sensitivity: EffectiveCount,
    specificity: EffectiveCount,
    confidence: f64,
) -> Option<CorrectedRate> {
    if !(observed.trials > 0.0 && sensitivity.trials > 0.0 && specificity.trials > 0.0) {
        return None;
    }
    let (p, se, sp) = (observed.share(), sensitivity.share(), specificity.share());
    let youden = se + sp - 1.0;
    if youden <= 0.0 {
        return Some(CorrectedRate {
            estimate: None,
            ci: None,
            identifiable: false,
            clamped: false,
        });
    }
    let raw = (p + sp - 1.0) / youden;
    let z = z_for(confidence);
    let (p_a, n_a) = observed.adjusted(z * z);
    let (se_a, nse_a) = sensitivity.adjusted(2.0);
    let (sp_a, nsp_a) = specificity.adjusted(2.0);
    let youden_a = se_a + sp_a - 1.0;
    // Adding pseudo-counts pulls Se and Sp towards 1/2; a classifier barely better than
    // chance can fall to or below it, and then there is no interval.
    let ci = (youden_a > 0.0).then(|| {
        let pi = (p_a + sp_a - 1.0) / youden_a;
        let var_se = se_a * (1.0 - se_a) / nse_a;
        let var_sp = sp_a * (1.0 - sp_a) / nsp_a;
        let sd = (p_a * (1.0 - p_a) / n_a + pi * pi * var_se + (1.0 - pi).powi(2) * var_sp).sqrt()
            / youden_a;
        let centre = pi + 2.0 * z * z * (pi * var_se - (1.0 - pi) * var_sp);
        Interval {
            low: (centre - z * sd).clamp(0.0, 1.0),
            high: (centre + z * sd).clamp(0.0, 1.0),
        }
    });
    Some(CorrectedRate {
        estimate: Some(raw.clamp(0.0, 1.0)),
        ci,
        identifiable: true,
        clamped: !(0.0..=1.0).contains(&raw),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_classifier_leaves_the_rate_alone() {
        let c = rogan_gladen(
            EffectiveCount::new(30, 100),
            EffectiveCount::new(50, 50),
            EffectiveCount::new(50, 50),
            0.95,
        )
        .unwrap();
        assert!((c.estimate.unwrap() - 0.3).abs() < 1e-12);
        assert!(!c.clamped);
        let ci = c.ci.unwrap();
        assert!(ci.low < 0.3 && ci.high > 0.3);
    }

    #[test]
    fn chance_level_classifier_is_not_identifiable() {
        // Se 0.5, Sp 0.5: Se + Sp = 1.
        let c = rogan_gladen(
            EffectiveCount::new(30, 100),
            EffectiveCount::new(10, 20),
            EffectiveCount::new(10, 20),
            0.95,
        )
        .unwrap();
        assert!(!c.identifiable);
        assert_eq!((c.estimate, c.ci), (None, None));
    }

    #[test]
    fn below_the_false_positive_floor_clamps_to_zero() {
        // Observed 2%, Sp 0.9: the classifier alone would call 10% harmful.
        let c = rogan_gladen(
            EffectiveCount::new(2, 100),
            EffectiveCount::new(45, 50),
            EffectiveCount::new(45, 50),
            0.95,
        )
        .unwrap();
        assert_eq!(c.estimate, Some(0.0));
        assert!(c.clamped);
    }

    #[test]
    fn empty_inputs_have_no_rate() {
        let none = EffectiveCount::new(0, 0);
        let some = EffectiveCount::new(1, 2);
        assert!(rogan_gladen(none, some, some, 0.95).is_none());
        assert!(rogan_gladen(some, none, some, 0.95).is_none());
        assert!(rogan_gladen(some, some, none, 0.95).is_none());
    }
}
