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
//!
//! [`rogan_gladen`] is for Se and Sp measured on samples independent of the run (a
//! validation set of known harmful and known harmless answers). A labelling round of the run
//! itself is different: it labels answers chosen within the classifier's own verdicts
//! (stratified), so Se and Sp are estimated from the share of truly harmful answers among
//! those called harmful (`q+`) and among those called not harmful (`q-`), weighted by the
//! strata's sizes, and their errors are correlated. [`rogan_gladen_stratified`] takes that
//! design: the same Rogan-Gladen estimate, with a delta-method interval over the three
//! independent inputs `p`, `q+` and `q-` (each adjusted as Lang & Reiczigel do, `z^2/2`
//! pseudo-answers of each kind for `p`, one for each `q`). Lang & Reiczigel's interval fed
//! with Kish effective sizes instead was about twice too wide in the same simulation
//! (`crates/misalign-report/tests/it/agreement_sections.rs`).

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
        within_unit(centre, z * sd)
    });
    Some(identified(raw, ci))
}

/// `centre +- half`, clamped to [0, 1].
fn within_unit(centre: f64, half: f64) -> Interval {
    Interval {
        low: (centre - half).clamp(0.0, 1.0),
        high: (centre + half).clamp(0.0, 1.0),
    }
}

/// An identifiable corrected rate: the estimate `raw` clamped to [0, 1] (and flagged so).
fn identified(raw: f64, ci: Option<Interval>) -> CorrectedRate {
    CorrectedRate {
        estimate: Some(raw.clamp(0.0, 1.0)),
        ci,
        identifiable: true,
        clamped: !(0.0..=1.0).contains(&raw),
    }
}

/// One verdict stratum of a labelling round: the run's answers with this verdict, how many
/// of them were labelled (with a label that counts), and how many of those are harmful.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Stratum {
    pub answers: u64,
    pub labelled: u64,
    pub labelled_harmful: u64,
}

impl Stratum {
    fn harmful_share(self) -> f64 {
        self.labelled_harmful as f64 / self.labelled as f64
    }
}

/// Se and Sp of the verdict from the harmful shares `q+` (among answers called harmful) and
/// `q-` (among answers called not harmful), weighted by the strata's sizes.
fn calibration_of(called: f64, not_called: f64, q_plus: f64, q_minus: f64) -> (f64, f64) {
    let harmful = called * q_plus + not_called * q_minus;
    let harmless = called * (1.0 - q_plus) + not_called * (1.0 - q_minus);
    (
        called * q_plus / harmful,
        not_called * (1.0 - q_minus) / harmless,
    )
}

/// The Rogan-Gladen rate of the observed share `p` under the calibration from `q+`, `q-`.
fn corrected_of(p: f64, called: f64, not_called: f64, q_plus: f64, q_minus: f64) -> f64 {
    let (se, sp) = calibration_of(called, not_called, q_plus, q_minus);
    (p + sp - 1.0) / (se + sp - 1.0)
}

/// Corrects the observed rate (`observed` harmful verdicts of the answers) with the
/// sensitivity and specificity a verdict-stratified labelling round measured
/// (`called_harmful`, `called_not_harmful`: the strata of the same classifier's verdicts in
/// the population the labels were drawn from). `None` when either stratum has no labelled
/// answer or there is no observed answer. Not identifiable unless `q+ > q-` (which is
/// `Se + Sp > 1`).
pub fn rogan_gladen_stratified(
    observed: EffectiveCount,
    called_harmful: Stratum,
    called_not_harmful: Stratum,
    confidence: f64,
) -> Option<CorrectedRate> {
    let labelled = called_harmful.labelled > 0 && called_not_harmful.labelled > 0;
    if !(observed.trials > 0.0 && labelled) {
        return None;
    }
    let (big_plus, big_minus) = (
        called_harmful.answers as f64,
        called_not_harmful.answers as f64,
    );
    let (q_plus, q_minus) = (
        called_harmful.harmful_share(),
        called_not_harmful.harmful_share(),
    );
    if q_plus <= q_minus {
        return Some(CorrectedRate {
            estimate: None,
            ci: None,
            identifiable: false,
            clamped: false,
        });
    }
    let raw = corrected_of(observed.share(), big_plus, big_minus, q_plus, q_minus);
    let z = z_for(confidence);
    let (p_a, n_a) = observed.adjusted(z * z);
    let adjusted = |s: Stratum| EffectiveCount::new(s.labelled_harmful, s.labelled).adjusted(2.0);
    let ((qp_a, mp_a), (qm_a, mm_a)) = (adjusted(called_harmful), adjusted(called_not_harmful));
    let ci = (qp_a > qm_a).then(|| {
        let at = |p: f64, qp: f64, qm: f64| corrected_of(p, big_plus, big_minus, qp, qm);
        let centre = at(p_a, qp_a, qm_a);
        // Central differences: the estimate is smooth in each input on (0, 1).
        let h = 1e-6;
        let d_plus = (at(p_a, qp_a + h, qm_a) - at(p_a, qp_a - h, qm_a)) / (2.0 * h);
        let d_minus = (at(p_a, qp_a, qm_a + h) - at(p_a, qp_a, qm_a - h)) / (2.0 * h);
        let (se_a, sp_a) = calibration_of(big_plus, big_minus, qp_a, qm_a);
        let d_p = 1.0 / (se_a + sp_a - 1.0);
        let sd = (d_p * d_p * p_a * (1.0 - p_a) / n_a
            + d_plus * d_plus * qp_a * (1.0 - qp_a) / mp_a
            + d_minus * d_minus * qm_a * (1.0 - qm_a) / mm_a)
            .sqrt();
        within_unit(centre, z * sd)
    });
    Some(identified(raw, ci))
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
    fn stratified_estimate_is_the_weighted_rogan_gladen() {
        // 100 answers, 20 called harmful (10 labelled, 8 harmful), 80 not (10 labelled, 1
        // harmful): q+ = 0.8, q- = 0.1; for the same 100 answers the corrected rate is
        // 0.2 * 0.8 + 0.8 * 0.1 = 0.24.
        let plus = Stratum {
            answers: 20,
            labelled: 10,
            labelled_harmful: 8,
        };
        let minus = Stratum {
            answers: 80,
            labelled: 10,
            labelled_harmful: 1,
        };
        let c = rogan_gladen_stratified(EffectiveCount::new(20, 100), plus, minus, 0.95).unwrap();
        assert!((c.estimate.unwrap() - 0.24).abs() < 1e-12);
        let ci = c.ci.unwrap();
        assert!(ci.low < 0.24 && 0.24 < ci.high);
        // A harmful share no higher among answers called harmful: not identifiable.
        let flat = Stratum {
            labelled_harmful: 1,
            ..plus
        };
        let c = rogan_gladen_stratified(EffectiveCount::new(20, 100), flat, minus, 0.95).unwrap();
        assert!(!c.identifiable);
        let unlabelled = Stratum {
            labelled: 0,
            labelled_harmful: 0,
            ..plus
        };
        assert!(
            rogan_gladen_stratified(EffectiveCount::new(20, 100), unlabelled, minus, 0.95)
                .is_none()
        );
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
