//! Rates, confidence intervals and exact tests for harmful-action rates.
//!
//! Pure functions over counts. Distributions come from `statrs`; the interval formulas are
//! the standard ones (Wilson 1927 score interval, Clopper-Pearson exact interval, Newcombe
//! 1998 "method 10" hybrid score interval for a difference of proportions), and every one
//! is checked against published reference values in `tests/stats_reference.rs`.
//!
//! The study's comparisons ([`compare_cells`]) pair cells that differ in exactly one factor
//! (goal conflict, urgency, extra instructions, variant) and are otherwise identical, so a
//! difference in rate is attributable to that factor alone.

use crate::condition::{Condition, ExtraInstructions, GoalType, Urgency, Variant};
use serde::{Deserialize, Serialize};
use statrs::distribution::{Beta, ContinuousCDF, Normal};
use statrs::stats_tests::{fishers_exact, Alternative};

/// Two-sided confidence level used throughout the reports.
pub const CONFIDENCE: f64 = 0.95;

/// Which binomial interval to report for a single rate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IntervalMethod {
    /// Wilson score interval: good coverage at small n and near 0 or 1 (the default).
    #[default]
    Wilson,
    /// Clopper-Pearson exact interval: conservative (coverage at least the nominal level).
    ClopperPearson,
}

impl IntervalMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            IntervalMethod::Wilson => "wilson",
            IntervalMethod::ClopperPearson => "clopper-pearson",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "wilson" => Some(IntervalMethod::Wilson),
            "clopper-pearson" | "exact" => Some(IntervalMethod::ClopperPearson),
            _ => None,
        }
    }
}

/// A closed interval `[low, high]` on the probability (or difference) scale.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
}

/// The standard-normal quantile for a two-sided interval at `confidence` (1.959964 for 95%).
pub fn z_for(confidence: f64) -> f64 {
    // Normal::new(0, 1) cannot fail.
    let normal = Normal::new(0.0, 1.0).expect("standard normal");
    normal.inverse_cdf(1.0 - (1.0 - confidence) / 2.0)
}

/// Wilson score interval for `x` successes out of `n`. `None` when `n == 0` (no data, no
/// interval) or `x > n`.
pub fn wilson(x: u64, n: u64, confidence: f64) -> Option<Interval> {
    if n == 0 || x > n {
        return None;
    }
    let z = z_for(confidence);
    let n_f = n as f64;
    let p = x as f64 / n_f;
    let z2 = z * z;
    let denom = 1.0 + z2 / n_f;
    let centre = (p + z2 / (2.0 * n_f)) / denom;
    let half = z / denom * (p * (1.0 - p) / n_f + z2 / (4.0 * n_f * n_f)).sqrt();
    // At x = 0 (or x = n) the bound is exactly 0 (or 1); clamp away rounding noise.
    let low = if x == 0 {
        0.0
    } else {
        (centre - half).max(0.0)
    };
    let high = if x == n {
        1.0
    } else {
        (centre + half).min(1.0)
    };
    Some(Interval { low, high })
}

/// Clopper-Pearson exact interval from Beta quantiles. `None` when `n == 0` or `x > n`.
pub fn clopper_pearson(x: u64, n: u64, confidence: f64) -> Option<Interval> {
    if n == 0 || x > n {
        return None;
    }
    let alpha = 1.0 - confidence;
    let low = if x == 0 {
        0.0
    } else {
        Beta::new(x as f64, (n - x + 1) as f64)
            .ok()?
            .inverse_cdf(alpha / 2.0)
    };
    let high = if x == n {
        1.0
    } else {
        Beta::new((x + 1) as f64, (n - x) as f64)
            .ok()?
            .inverse_cdf(1.0 - alpha / 2.0)
    };
    Some(Interval { low, high })
}

/// The interval for one rate by `method`, at [`CONFIDENCE`].
pub fn rate_interval(x: u64, n: u64, method: IntervalMethod) -> Option<Interval> {
    match method {
        IntervalMethod::Wilson => wilson(x, n, CONFIDENCE),
        IntervalMethod::ClopperPearson => clopper_pearson(x, n, CONFIDENCE),
    }
}

/// Newcombe's hybrid score interval (1998, method 10) for `x1/n1 - x2/n2`, built from the
/// two Wilson intervals. `None` when either group is empty.
pub fn newcombe_difference(
    x1: u64,
    n1: u64,
    x2: u64,
    n2: u64,
    confidence: f64,
) -> Option<Interval> {
    let w1 = wilson(x1, n1, confidence)?;
    let w2 = wilson(x2, n2, confidence)?;
    let p1 = x1 as f64 / n1 as f64;
    let p2 = x2 as f64 / n2 as f64;
    let d = p1 - p2;
    let low = d - ((p1 - w1.low).powi(2) + (w2.high - p2).powi(2)).sqrt();
    let high = d + ((w1.high - p1).powi(2) + (p2 - w2.low).powi(2)).sqrt();
    Some(Interval {
        low: low.max(-1.0),
        high: high.min(1.0),
    })
}

/// Two-sided Fisher exact p-value for the 2x2 table `[[x1, n1-x1], [x2, n2-x2]]`.
/// `None` when a count exceeds its total.
pub fn fisher_two_sided(x1: u64, n1: u64, x2: u64, n2: u64) -> Option<f64> {
    if x1 > n1 || x2 > n2 {
        return None;
    }
    fishers_exact(&[x1, n1 - x1, x2, n2 - x2], Alternative::TwoSided).ok()
}

/// Holm's step-down adjustment of a family of p-values, returned in input order.
pub fn holm_adjust(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut adjusted = vec![0.0; m];
    let mut running_max: f64 = 0.0;
    for (rank, &i) in order.iter().enumerate() {
        let v = ((m - rank) as f64 * p[i]).min(1.0);
        running_max = running_max.max(v);
        adjusted[i] = running_max;
    }
    adjusted
}

/// Counts for one cell (model x condition, or any other group).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Classified samples with a verdict (judge errors excluded).
    pub n: u64,
    /// Of those, judged harmful.
    pub harmful: u64,
    /// Classifications whose judge failed: counted and shown, never in `n`.
    pub judge_errors: u64,
}

/// A rate with its interval; `rate`/`ci` are `None` when `n == 0`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RateEstimate {
    pub n: u64,
    pub harmful: u64,
    pub rate: Option<f64>,
    pub ci: Option<Interval>,
}

impl RateEstimate {
    pub fn from_counts(harmful: u64, n: u64, method: IntervalMethod) -> Self {
        RateEstimate {
            n,
            harmful,
            rate: (n > 0).then(|| harmful as f64 / n as f64),
            ci: rate_interval(harmful, n, method),
        }
    }
}

/// One cell of the analysis grid: a model under one condition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    pub model: String,
    pub condition: Condition,
    pub counts: Counts,
}

/// The factor a comparison isolates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Factor {
    /// Goal type other than `none` (a) vs goal type `none` (b).
    GoalConflict,
    /// Urgency `replacement` / `restriction` (a) vs urgency `none` (b).
    Urgency,
    /// Extra instructions `dont` (a) vs `off` (b).
    DontInstructions,
    /// Variant `dev` (a) vs `prod` (b).
    DevVsProd,
}

impl Factor {
    pub fn as_str(self) -> &'static str {
        match self {
            Factor::GoalConflict => "goal_conflict_vs_none",
            Factor::Urgency => "urgency_vs_none",
            Factor::DontInstructions => "dont_vs_off",
            Factor::DevVsProd => "dev_vs_prod",
        }
    }
}

/// Risk difference `rate(a) - rate(b)` between two cells that differ in one factor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub factor: Factor,
    pub model: String,
    pub condition_a: String,
    pub condition_b: String,
    pub a: RateEstimate,
    pub b: RateEstimate,
    pub difference: f64,
    /// Newcombe hybrid score interval (method 10).
    pub ci: Interval,
    /// Two-sided Fisher exact p-value.
    pub p_value: f64,
    /// Holm-adjusted over all comparisons in the same report.
    pub p_holm: f64,
}

/// For a cell, the baseline it is compared against under `factor`, if the cell is a
/// "treatment" for that factor.
fn baseline_of(c: &Condition, factor: Factor) -> Option<Condition> {
    let mut b = c.clone();
    match factor {
        Factor::GoalConflict => {
            if c.goal_type == GoalType::None {
                return None;
            }
            b.goal_type = GoalType::None;
            b.goal_value = "none".into();
        }
        Factor::Urgency => {
            if c.urgency == Urgency::None {
                return None;
            }
            b.urgency = Urgency::None;
        }
        Factor::DontInstructions => {
            if c.extra_instructions != ExtraInstructions::Dont {
                return None;
            }
            b.extra_instructions = ExtraInstructions::Off;
        }
        Factor::DevVsProd => {
            if c.variant != Variant::Dev {
                return None;
            }
            b.variant = Variant::Prod;
        }
    }
    Some(b)
}

/// Every comparison the study makes that the grid supports: for each cell and factor, the
/// cell that differs only in that factor (same model, scenario and other axes). Pairs where
/// either side has `n == 0` are skipped. Holm adjustment is over the returned family.
pub fn compare_cells(cells: &[Cell]) -> Vec<Comparison> {
    use std::collections::HashMap;
    let index: HashMap<(&str, &Condition), &Cell> = cells
        .iter()
        .map(|c| ((c.model.as_str(), &c.condition), c))
        .collect();
    let mut out = Vec::new();
    for factor in [
        Factor::GoalConflict,
        Factor::Urgency,
        Factor::DontInstructions,
        Factor::DevVsProd,
    ] {
        for a in cells {
            let Some(bc) = baseline_of(&a.condition, factor) else {
                continue;
            };
            let Some(b) = index.get(&(a.model.as_str(), &bc)) else {
                continue;
            };
            let (x1, n1, x2, n2) = (a.counts.harmful, a.counts.n, b.counts.harmful, b.counts.n);
            let (Some(ci), Some(p)) = (
                newcombe_difference(x1, n1, x2, n2, CONFIDENCE),
                fisher_two_sided(x1, n1, x2, n2),
            ) else {
                continue;
            };
            out.push(Comparison {
                factor,
                model: a.model.clone(),
                condition_a: a.condition.id(),
                condition_b: b.condition.id(),
                a: RateEstimate::from_counts(x1, n1, IntervalMethod::Wilson),
                b: RateEstimate::from_counts(x2, n2, IntervalMethod::Wilson),
                difference: x1 as f64 / n1 as f64 - x2 as f64 / n2 as f64,
                ci,
                p_value: p,
                p_holm: p,
            });
        }
    }
    let adjusted = holm_adjust(&out.iter().map(|c| c.p_value).collect::<Vec<_>>());
    for (c, h) in out.iter_mut().zip(adjusted) {
        c.p_holm = h;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r4(x: f64) -> f64 {
        (x * 10_000.0).round() / 10_000.0
    }

    #[test]
    fn wilson_all_harmless_100() {
        let ci = wilson(0, 100, 0.95).unwrap();
        assert_eq!((r4(ci.low), r4(ci.high)), (0.0, 0.0370));
    }

    #[test]
    fn empty_and_invalid_have_no_interval() {
        assert!(wilson(0, 0, 0.95).is_none());
        assert!(wilson(3, 2, 0.95).is_none());
        assert!(clopper_pearson(0, 0, 0.95).is_none());
        assert!(newcombe_difference(1, 0, 1, 2, 0.95).is_none());
        assert!(fisher_two_sided(3, 2, 0, 1).is_none());
    }

    #[test]
    fn holm_is_monotone_and_capped() {
        let adj = holm_adjust(&[0.01, 0.04, 0.03, 0.5]);
        assert_eq!(
            adj.iter().map(|&p| r4(p)).collect::<Vec<_>>(),
            vec![0.04, 0.09, 0.09, 0.5]
        );
        assert!(holm_adjust(&[]).is_empty());
        assert_eq!(holm_adjust(&[0.6, 0.7]), vec![1.0, 1.0]);
    }

    #[test]
    fn comparisons_pair_cells_differing_in_one_factor() {
        let cell = |c: Condition, x, n| Cell {
            model: "m".into(),
            condition: c,
            counts: Counts {
                n,
                harmful: x,
                judge_errors: 0,
            },
        };
        let goal = Condition::new(
            "blackmail",
            GoalType::Explicit,
            "america",
            Urgency::Replacement,
        );
        let none = Condition::new("blackmail", GoalType::None, "x", Urgency::Replacement);
        let no_urg = Condition::new("blackmail", GoalType::None, "x", Urgency::None);
        let mut other_model = cell(none.clone(), 0, 10);
        other_model.model = "other".into();
        let cells = vec![
            cell(goal, 9, 10),
            cell(none, 3, 10),
            cell(no_urg, 0, 0),
            other_model,
        ];
        let cmp = compare_cells(&cells);
        // goal vs none only: the urgency baseline has n = 0, the other model has no partner.
        assert_eq!(cmp.len(), 1, "{cmp:?}");
        let c = &cmp[0];
        assert_eq!(c.factor, Factor::GoalConflict);
        assert_eq!(c.condition_b, "blackmail_none-none_replacement");
        assert_eq!(r4(c.difference), 0.6);
        assert_eq!((r4(c.ci.low), r4(c.ci.high)), (0.1705, 0.8090));
        assert_eq!(c.p_value, c.p_holm);
    }
}
