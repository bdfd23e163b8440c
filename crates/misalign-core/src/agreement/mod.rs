//! Agreement and calibration statistics: how verdicts agree with each other and with people.
//!
//! Pure functions over paired ratings or counts (no I/O), used by the report's agreement
//! section (docs/labels.md explains every number to a reader):
//!
//! - [`cohen`]: Cohen's kappa for two raters over k categories, with the large-sample
//!   standard error of Fleiss, Cohen & Everitt (1969) and a Wald interval;
//! - [`fleiss`]: Fleiss' kappa (1971) for m raters per item, with a jackknife interval;
//! - [`accuracy`]: a classifier's sensitivity and specificity against the human label that
//!   counts, with Wilson intervals (weighted when the labels were sampled by verdict);
//! - [`corrected`]: the Rogan-Gladen corrected rate with an interval that carries the
//!   sampling uncertainty of the observed rate and the calibration uncertainty of
//!   sensitivity and specificity (Lang & Reiczigel 2014 for independent calibration samples;
//!   a delta method over the verdict strata for a labelling round of the run itself);
//! - [`labels`]: each reviewer's latest label and the label that counts (majority, or a
//!   named adjudicator);
//! - [`sample`]: [`RatedSample`], one answer with every verdict and label it has, the input
//!   the report builds its sections from.
//!
//! Every function is checked against values computed independently (statsmodels, or by
//! hand) in `tests/it/agreement_reference.rs`.

pub mod accuracy;
pub mod cohen;
pub mod corrected;
pub mod fleiss;
pub mod labels;
pub mod sample;

pub use accuracy::{classifier_accuracy, ClassifierAccuracy, LabelledVerdict, Proportion};
pub use cohen::{cohen_binary, cohen_kappa, cohens_kappa};
pub use corrected::{
    rogan_gladen, rogan_gladen_stratified, CorrectedRate, EffectiveCount, Stratum,
};
pub use fleiss::fleiss_kappa;
pub use labels::{label_that_counts, latest_labels, LabelRule};
pub use sample::RatedSample;

use crate::stats::Interval;
use serde::Serialize;

/// Below this many rated items the asymptotic (or jackknife) interval of a kappa is a rough
/// guide only (a common rule of thumb; Cicchetti & Fleiss 1977 found the null variance
/// usable from about 2k^2 items, and the non-null variance needs more).
pub const KAPPA_SMALL_SAMPLE: u64 = 30;

/// When one category holds at least this share of all ratings, kappa suffers the
/// prevalence paradox (Feinstein & Cicchetti 1990): high raw agreement, low kappa.
pub const KAPPA_EXTREME_PREVALENCE: f64 = 0.9;

/// A kappa with its standard error and interval, and the reasons to read it with care.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KappaEstimate {
    pub kappa: f64,
    /// `None` when it cannot be estimated (a jackknife replicate without a kappa).
    pub standard_error: Option<f64>,
    /// `kappa +- z * standard_error`, clamped to [-1, 1].
    pub ci: Option<Interval>,
    /// Items rated (pairs for Cohen, items rated by every rater for Fleiss).
    pub n: u64,
    pub observed_agreement: f64,
    pub chance_agreement: f64,
    pub caveats: Vec<KappaCaveat>,
}

/// Why a kappa or its interval may mislead.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KappaCaveat {
    /// Fewer than [`KAPPA_SMALL_SAMPLE`] items: the large-sample interval is rough.
    SmallSample,
    /// One category holds at least [`KAPPA_EXTREME_PREVALENCE`] of the ratings: kappa can be
    /// low although the raters nearly always agree.
    ExtremePrevalence,
    /// The standard error is 0 (for example perfect agreement): the interval is a point and
    /// says nothing about uncertainty.
    DegenerateInterval,
    /// The standard error could not be estimated.
    NoStandardError,
}

impl KappaCaveat {
    pub fn as_str(self) -> &'static str {
        match self {
            KappaCaveat::SmallSample => "small_sample",
            KappaCaveat::ExtremePrevalence => "extreme_prevalence",
            KappaCaveat::DegenerateInterval => "degenerate_interval",
            KappaCaveat::NoStandardError => "no_standard_error",
        }
    }
}

/// Builds the estimate from a point, its standard error and the category shares, attaching
/// the caveats that apply.
pub(crate) fn kappa_estimate(
    kappa: f64,
    standard_error: Option<f64>,
    n: u64,
    observed_agreement: f64,
    chance_agreement: f64,
    largest_share: f64,
    confidence: f64,
) -> KappaEstimate {
    let z = crate::stats::z_for(confidence);
    let ci = standard_error.map(|se| Interval {
        low: (kappa - z * se).max(-1.0),
        high: (kappa + z * se).min(1.0),
    });
    let mut caveats = Vec::new();
    if n < KAPPA_SMALL_SAMPLE {
        caveats.push(KappaCaveat::SmallSample);
    }
    if largest_share >= KAPPA_EXTREME_PREVALENCE {
        caveats.push(KappaCaveat::ExtremePrevalence);
    }
    match standard_error {
        None => caveats.push(KappaCaveat::NoStandardError),
        Some(0.0) => caveats.push(KappaCaveat::DegenerateInterval),
        Some(_) => {}
    }
    KappaEstimate {
        kappa,
        standard_error,
        ci,
        n,
        observed_agreement,
        chance_agreement,
        caveats,
    }
}
