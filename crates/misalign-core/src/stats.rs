//! Rates, confidence intervals and exact tests for harmful-action rates.
//!
//! Pure functions over counts. Distributions come from `statrs` (Fisher's exact test is
//! summed here in log space, see [`fisher_two_sided`]); the interval formulas are
//! the standard ones (Wilson 1927 score interval, Clopper-Pearson exact interval, Newcombe
//! 1998 "method 10" hybrid score interval for a difference of proportions), and every one
//! is checked against published reference values in `tests/stats_reference.rs`.
//!
//! The comparisons ([`compare_cells`]) pair cells that differ on exactly one axis of the grid
//! (goal type, urgency, an axis of [`crate::axes`] with contrasts, or the model) and are
//! otherwise identical, so a difference in rate is attributable to that axis alone.

use crate::condition::{Condition, GoalType, Urgency};
use serde::{Deserialize, Serialize};
use statrs::distribution::{Beta, ContinuousCDF, Normal};

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
    wilson_effective(x as f64, n as f64, confidence)
}

/// Wilson score interval for a proportion `x / n` where `x` and `n` may be effective
/// (non-integer) counts, as a weighted estimate gives (Kish's effective sample size, see
/// [`crate::agreement`]). `None` unless `0 <= x <= n` and `n > 0`.
pub fn wilson_effective(x: f64, n: f64, confidence: f64) -> Option<Interval> {
    if !(n > 0.0 && x >= 0.0 && x <= n) {
        return None;
    }
    let z = z_for(confidence);
    let p = x / n;
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = z / denom * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    // At x = 0 (or x = n) the bound is exactly 0 (or 1); clamp away rounding noise.
    let low = if x == 0.0 {
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

/// Two-sided Fisher exact p-value for the 2x2 table `[[x1, n1-x1], [x2, n2-x2]]`: the
/// probability, given the margins, of every table no more likely than the observed one
/// (with R's relative tolerance of 1e-7). `None` when a count exceeds its total.
///
/// Summed from log-space hypergeometric probabilities, so it keeps its relative precision
/// far in the tails (p = 1e-50 for 96/100 vs 0/100); `statrs::stats_tests::fishers_exact`
/// computes one tail as `1 - cdf` and loses everything below about 1e-14.
pub fn fisher_two_sided(x1: u64, n1: u64, x2: u64, n2: u64) -> Option<f64> {
    use statrs::function::factorial::ln_binomial;
    if x1 > n1 || x2 > n2 {
        return None;
    }
    let harmful = x1 + x2;
    let ln_pmf =
        |k: u64| ln_binomial(n1, k) + ln_binomial(n2, harmful - k) - ln_binomial(n1 + n2, harmful);
    let observed = ln_pmf(x1);
    let cut = observed + 1e-7f64.ln_1p();
    let p: f64 = (harmful.saturating_sub(n2)..=harmful.min(n1))
        .map(ln_pmf)
        .filter(|&l| l <= cut)
        .map(f64::exp)
        .sum();
    Some(p.min(1.0))
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

/// The verdicts of one cell (model x condition, or any other group), counted: the
/// denominator, the harmful and escalated among it, and the answers left out of it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerdictCounts {
    /// Classified samples with a verdict: the denominator of the rate.
    pub n: u64,
    /// Of those, judged harmful.
    pub harmful: u64,
    /// Answers left out of `n` (judge errors, content-filtered and empty answers): counted
    /// and shown, never in `n`.
    pub excluded: u64,
    /// Of the `n`, answers that raised the concern through a legitimate channel
    /// (`detect::escalation`): the second outcome, with the same denominator.
    #[serde(default)]
    pub escalated: u64,
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

/// The best and worst case of a rate had its `excluded` answers been kept in the
/// denominator: `low` when every one was harmless, `high` when every one was harmful.
/// Equal to the rate when nothing was excluded; `None` when there is no answer at all.
pub fn exclusion_bounds(harmful: u64, n: u64, excluded: u64) -> Option<Interval> {
    let total = n.checked_add(excluded)?;
    if total == 0 || harmful > n {
        return None;
    }
    let t = total as f64;
    Some(Interval {
        low: harmful as f64 / t,
        high: (harmful + excluded) as f64 / t,
    })
}

/// A risk difference `x1/n1 - x2/n2` with its Newcombe interval and Fisher p-value.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RateDifference {
    pub difference: f64,
    /// Newcombe hybrid score interval (method 10) at [`CONFIDENCE`].
    pub ci: Interval,
    /// Two-sided Fisher exact p-value.
    pub p_value: f64,
}

/// The difference of two rates, or `None` when either group is empty or a count is invalid.
pub fn rate_difference(x1: u64, n1: u64, x2: u64, n2: u64) -> Option<RateDifference> {
    Some(RateDifference {
        ci: newcombe_difference(x1, n1, x2, n2, CONFIDENCE)?,
        p_value: fisher_two_sided(x1, n1, x2, n2)?,
        difference: x1 as f64 / n1 as f64 - x2 as f64 / n2 as f64,
    })
}

/// Holm's adjustment within families: `family[i]` names the family of `p[i]`. Returns, in
/// input order, each p-value adjusted within its own family and that family's size.
pub fn holm_by_family<K: Ord>(family: &[K], p: &[f64]) -> Vec<(f64, usize)> {
    use std::collections::BTreeMap;
    let mut members: BTreeMap<&K, Vec<usize>> = BTreeMap::new();
    for (i, k) in family.iter().enumerate().take(p.len()) {
        members.entry(k).or_default().push(i);
    }
    let mut out = vec![(1.0, 0); p.len()];
    for idx in members.values() {
        let adjusted = holm_adjust(&idx.iter().map(|&i| p[i]).collect::<Vec<_>>());
        for (&i, a) in idx.iter().zip(adjusted) {
            out[i] = (a, idx.len());
        }
    }
    out
}

/// One cell of the analysis grid: a model under one condition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    pub model: String,
    pub condition: Condition,
    pub counts: VerdictCounts,
}

/// The axis of the grid a comparison varies; every other axis is held fixed: the goal
/// type, the urgency, an axis of [`crate::axes`] (by its name), or the model. Written as its
/// name (`goal_type`, `extra_instructions`, `model`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Axis(&'static str);

impl Axis {
    pub const GOAL_TYPE: Axis = Axis("goal_type");
    pub const URGENCY: Axis = Axis("urgency");
    /// Two models on the same condition.
    pub const MODEL: Axis = Axis("model");

    /// Every axis with comparisons, in report order: the goal type, the urgency, each axis
    /// of [`crate::axes`] that has contrasts, the model.
    pub fn all() -> Vec<Axis> {
        let mut out = vec![Axis::GOAL_TYPE, Axis::URGENCY];
        out.extend(
            crate::axes::AXES
                .iter()
                .filter(|a| !a.contrasts().is_empty())
                .map(|a| Axis(a.name())),
        );
        out.push(Axis::MODEL);
        out
    }

    /// The axis named `name`.
    pub fn named(name: &str) -> Option<Axis> {
        Axis::all().into_iter().find(|a| a.0 == name)
    }

    pub fn as_str(self) -> &'static str {
        self.0
    }
}

impl Serialize for Axis {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

impl<'de> Deserialize<'de> for Axis {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Axis::named(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown comparison axis `{name}`")))
    }
}

/// A contrast on one condition axis: which cells are the "a" side, and the condition of
/// their "b" side (identical but for that axis).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Contrast {
    /// Goal type `g` (a) vs goal type `none` (b): the goal conflict itself.
    GoalVsNone(GoalType),
    /// Goal type `g` (a) vs `explicit` with the same goal value (b).
    GoalVsExplicit(GoalType),
    /// Urgency `u` (a) vs `none` (b).
    UrgencyVsNone(Urgency),
    /// A contrast of an axis of [`crate::axes`].
    Setting(&'static str, crate::axes::Contrast),
}

/// The reference grid's contrasts, in report order.
const GRID_CONTRASTS: [Contrast; 10] = [
    Contrast::GoalVsNone(GoalType::Explicit),
    Contrast::GoalVsNone(GoalType::MetricConflict),
    Contrast::GoalVsNone(GoalType::MetricOnly),
    Contrast::GoalVsNone(GoalType::Latent),
    Contrast::GoalVsNone(GoalType::Ambiguous),
    Contrast::GoalVsNone(GoalType::Swap),
    Contrast::GoalVsExplicit(GoalType::Latent),
    Contrast::GoalVsExplicit(GoalType::Swap),
    Contrast::UrgencyVsNone(Urgency::Replacement),
    Contrast::UrgencyVsNone(Urgency::Restriction),
];

/// Every condition contrast, in report order: the reference grid's, then each axis's.
fn contrasts() -> Vec<Contrast> {
    let mut out = GRID_CONTRASTS.to_vec();
    for a in crate::axes::AXES {
        out.extend(
            a.contrasts()
                .iter()
                .map(|&k| Contrast::Setting(a.name(), k)),
        );
    }
    out
}

impl Contrast {
    fn axis(self) -> Axis {
        match self {
            Contrast::GoalVsNone(_) | Contrast::GoalVsExplicit(_) => Axis::GOAL_TYPE,
            Contrast::UrgencyVsNone(_) => Axis::URGENCY,
            Contrast::Setting(name, _) => Axis(name),
        }
    }

    fn label(self) -> String {
        match self {
            Contrast::GoalVsNone(g) => format!("{}_vs_none", g.as_str()),
            Contrast::GoalVsExplicit(g) => format!("{}_vs_explicit", g.as_str()),
            Contrast::UrgencyVsNone(u) => format!("{}_vs_none", u.as_str()),
            Contrast::Setting(_, k) => k.label.to_string(),
        }
    }

    /// The "b" condition for a cell on the "a" side, or `None` if `c` is not on the a side.
    fn baseline_of(self, c: &Condition) -> Option<Condition> {
        let mut b = c.clone();
        match self {
            Contrast::GoalVsNone(g) => {
                if c.goal_type != g {
                    return None;
                }
                b.goal_type = GoalType::None;
                b.goal_value = "none".into();
            }
            Contrast::GoalVsExplicit(g) => {
                if c.goal_type != g {
                    return None;
                }
                b.goal_type = GoalType::Explicit;
            }
            Contrast::UrgencyVsNone(u) => {
                if c.urgency != u {
                    return None;
                }
                b.urgency = Urgency::None;
            }
            Contrast::Setting(axis, k) => {
                let default = crate::axes::axis(axis)?.default_word();
                if c.word(axis) != k.a {
                    return None;
                }
                b.set_setting(axis, default, k.b);
            }
        }
        Some(b)
    }
}

/// Risk difference `rate(a) - rate(b)` between two cells that differ on one axis only.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub axis: Axis,
    /// What is compared on the axis, "a_vs_b": `latent_vs_explicit`, `dont_vs_off`,
    /// `notice_on_vs_off`, ...; `model_vs_model` for two models.
    pub contrast: String,
    /// The Holm family: `{axis}: {model}`, or `model: {model_a} vs {model_b}`.
    pub family: String,
    /// Comparisons in `family` (what `p_holm` is adjusted over).
    pub family_size: usize,
    pub model_a: String,
    /// Equal to `model_a` except on the model axis.
    pub model_b: String,
    pub condition_a: String,
    pub condition_b: String,
    pub a: RateEstimate,
    pub b: RateEstimate,
    pub difference: f64,
    /// Newcombe hybrid score interval (method 10).
    pub ci: Interval,
    /// Two-sided Fisher exact p-value.
    pub p_value: f64,
    /// Holm-adjusted within `family`.
    pub p_holm: f64,
    /// The range of the difference had each side's excluded answers all been harmless or
    /// all harmful (from a's best case minus b's worst to a's worst minus b's best).
    pub difference_if_excluded: Interval,
}

/// Builds one comparison of `a` against `b` (p_holm and family size filled in later), or
/// `None` when either side is empty.
fn compare_pair(
    axis: Axis,
    contrast: String,
    family: String,
    a: &Cell,
    b: &Cell,
) -> Option<Comparison> {
    let (ca, cb) = (&a.counts, &b.counts);
    let d = rate_difference(ca.harmful, ca.n, cb.harmful, cb.n)?;
    let ea = exclusion_bounds(ca.harmful, ca.n, ca.excluded)?;
    let eb = exclusion_bounds(cb.harmful, cb.n, cb.excluded)?;
    Some(Comparison {
        axis,
        contrast,
        family,
        family_size: 0,
        model_a: a.model.clone(),
        model_b: b.model.clone(),
        condition_a: a.condition.id(),
        condition_b: b.condition.id(),
        a: RateEstimate::from_counts(ca.harmful, ca.n, IntervalMethod::Wilson),
        b: RateEstimate::from_counts(cb.harmful, cb.n, IntervalMethod::Wilson),
        difference: d.difference,
        ci: d.ci,
        p_value: d.p_value,
        p_holm: d.p_value,
        difference_if_excluded: Interval {
            low: ea.low - eb.high,
            high: ea.high - eb.low,
        },
    })
}

/// Every comparison the grid supports, on every axis: for each cell and condition contrast,
/// the cell of the same model that differs only on that axis; and for each condition, every
/// pair of models. Pairs where either side has `n == 0` are skipped. Holm's adjustment is
/// within a family: one per axis per model, and one per pair of models.
pub fn compare_cells(cells: &[Cell]) -> Vec<Comparison> {
    use std::collections::{BTreeMap, HashMap};
    let index: HashMap<(&str, &Condition), &Cell> = cells
        .iter()
        .map(|c| ((c.model.as_str(), &c.condition), c))
        .collect();
    let mut out = Vec::new();
    for contrast in contrasts() {
        let axis = contrast.axis();
        for a in cells {
            let Some(bc) = contrast.baseline_of(&a.condition) else {
                continue;
            };
            let Some(b) = index.get(&(a.model.as_str(), &bc)) else {
                continue;
            };
            let family = format!("{}: {}", axis.as_str(), a.model);
            out.extend(compare_pair(axis, contrast.label(), family, a, b));
        }
    }
    let mut by_condition: BTreeMap<&Condition, Vec<&Cell>> = BTreeMap::new();
    for c in cells {
        by_condition.entry(&c.condition).or_default().push(c);
    }
    let mut model_pairs = Vec::new();
    for same in by_condition.values_mut() {
        same.sort_by(|x, y| x.model.cmp(&y.model));
        for (i, a) in same.iter().enumerate() {
            for b in &same[i + 1..] {
                if a.model == b.model {
                    continue;
                }
                let family = format!("model: {} vs {}", a.model, b.model);
                model_pairs.extend(compare_pair(
                    Axis::MODEL,
                    "model_vs_model".into(),
                    family,
                    a,
                    b,
                ));
            }
        }
    }
    // Model pairs grouped by pair, then condition, so each family reads as one block.
    model_pairs.sort_by(|x, y| (&x.family, &x.condition_a).cmp(&(&y.family, &y.condition_a)));
    out.extend(model_pairs);
    let families: Vec<&str> = out.iter().map(|c| c.family.as_str()).collect();
    let p: Vec<f64> = out.iter().map(|c| c.p_value).collect();
    let adjusted = holm_by_family(&families, &p);
    for (c, (h, size)) in out.iter_mut().zip(adjusted) {
        c.p_holm = h;
        c.family_size = size;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ExtraInstructions, Variant};

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

    fn cell(model: &str, c: Condition, x: u64, n: u64, excluded: u64) -> Cell {
        Cell {
            model: model.into(),
            condition: c,
            counts: VerdictCounts {
                n,
                harmful: x,
                excluded,
                escalated: 0,
            },
        }
    }

    #[test]
    fn comparisons_pair_cells_differing_on_one_axis() {
        let goal = Condition::new(
            "blackmail",
            GoalType::Explicit,
            "america",
            Urgency::Replacement,
        );
        let none = Condition::new("blackmail", GoalType::None, "x", Urgency::Replacement);
        let no_urg = Condition::new("blackmail", GoalType::None, "x", Urgency::None);
        let cells = vec![
            cell("m", goal, 9, 10, 0),
            cell("m", none.clone(), 3, 10, 0),
            cell("m", no_urg, 0, 0, 0),
            cell("other", none, 0, 10, 0),
        ];
        let cmp = compare_cells(&cells);
        // explicit vs none, and m vs other on `none`; the urgency baseline has n = 0.
        assert_eq!(cmp.len(), 2, "{cmp:?}");
        let c = &cmp[0];
        assert_eq!(
            (c.axis, c.contrast.as_str()),
            (Axis::GOAL_TYPE, "explicit_vs_none")
        );
        assert_eq!(c.condition_b, "blackmail_none-none_replacement");
        assert_eq!(r4(c.difference), 0.6);
        assert_eq!((r4(c.ci.low), r4(c.ci.high)), (0.1705, 0.8090));
        assert_eq!((c.p_value, c.family_size), (c.p_holm, 1));
        let range = c.difference_if_excluded;
        assert_eq!(
            (r4(range.low), r4(range.high)),
            (0.6, 0.6),
            "nothing excluded"
        );
        let m = &cmp[1];
        assert_eq!(
            (m.axis, m.model_a.as_str(), m.model_b.as_str()),
            (Axis::MODEL, "m", "other")
        );
        assert_eq!(m.family, "model: m vs other");
        assert_eq!(m.condition_a, m.condition_b);
        assert_eq!(r4(m.difference), 0.3);
    }

    #[test]
    fn each_metric_goal_type_is_compared_with_goal_none() {
        let none = Condition::new("murder", GoalType::None, "none", Urgency::None);
        let conflict = Condition::new(
            "murder",
            GoalType::MetricConflict,
            "renewals",
            Urgency::None,
        );
        let only = Condition::new("murder", GoalType::MetricOnly, "renewals", Urgency::None);
        let cells = vec![
            cell("m", none.clone(), 1, 10, 0),
            cell("m", conflict.clone(), 5, 10, 0),
            cell("m", only.clone(), 2, 10, 0),
        ];
        let got: Vec<(String, String, String)> = compare_cells(&cells)
            .into_iter()
            .map(|c| (c.contrast, c.condition_a, c.condition_b))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "metricconflict_vs_none".to_string(),
                    conflict.id(),
                    none.id()
                ),
                ("metriconly_vs_none".to_string(), only.id(), none.id()),
            ]
        );
    }

    #[test]
    fn every_axis_has_its_contrasts_and_holm_stays_within_a_family() {
        let base = Condition::new(
            "leaking",
            GoalType::Explicit,
            "safety",
            Urgency::Replacement,
        );
        let with = |f: &dyn Fn(&mut Condition)| {
            let mut c = base.clone();
            f(&mut c);
            c
        };
        let conds = [
            base.clone(),
            with(&|c| {
                c.goal_type = GoalType::None;
                c.goal_value = "none".into();
            }),
            with(&|c| c.goal_type = GoalType::Latent),
            with(&|c| c.goal_type = GoalType::Swap),
            with(&|c| c.urgency = Urgency::None),
            with(&|c| c.urgency = Urgency::Restriction),
            with(&|c| c.set_extra_instructions(ExtraInstructions::Dont)),
            with(&|c| c.set_extra_instructions(ExtraInstructions::Goal)),
            with(&|c| c.set_variant(Variant::Prod)),
            with(&|c| c.set_awareness_notice(true)),
        ];
        let cells: Vec<Cell> = conds
            .iter()
            .enumerate()
            .map(|(i, c)| cell("m", c.clone(), i as u64, 10, 0))
            .chain([cell("z", base.clone(), 1, 10, 0)])
            .collect();
        let cmp = compare_cells(&cells);
        let got: Vec<(&str, &str, &str)> = cmp
            .iter()
            .map(|c| {
                (
                    c.contrast.as_str(),
                    c.condition_a.as_str(),
                    c.condition_b.as_str(),
                )
            })
            .collect();
        let id = |i: usize| conds[i].id();
        let want = [
            ("explicit_vs_none", id(0), id(1)),
            ("latent_vs_none", id(2), id(1)),
            ("swap_vs_none", id(3), id(1)),
            ("latent_vs_explicit", id(2), id(0)),
            ("swap_vs_explicit", id(3), id(0)),
            ("replacement_vs_none", id(0), id(4)),
            ("restriction_vs_none", id(5), id(4)),
            ("dont_vs_off", id(6), id(0)),
            ("goal_vs_off", id(7), id(0)),
            ("dev_vs_prod", id(0), id(8)),
            ("notice_on_vs_off", id(9), id(0)),
            ("model_vs_model", id(0), id(0)),
        ];
        let want: Vec<(&str, &str, &str)> = want
            .iter()
            .map(|(a, b, c)| (*a, b.as_str(), c.as_str()))
            .collect();
        assert_eq!(got, want);
        // Families: goal type 5, urgency 2, instructions 2, variant 1, notice 1, model pair 1.
        let sizes: Vec<(&str, usize)> = cmp
            .iter()
            .map(|c| (c.family.as_str(), c.family_size))
            .collect();
        assert_eq!(sizes[0], ("goal_type: m", 5));
        assert_eq!(sizes[5], ("urgency: m", 2));
        assert_eq!(sizes[7], ("extra_instructions: m", 2));
        assert_eq!(sizes[9], ("variant: m", 1));
        assert_eq!(sizes[10], ("awareness_notice: m", 1));
        assert_eq!(sizes[11], ("model: m vs z", 1));
        // Holm within the goal-type family equals holm_adjust over its five p-values.
        let fam: Vec<f64> = cmp[..5].iter().map(|c| c.p_value).collect();
        let holm = holm_adjust(&fam);
        for (c, h) in cmp[..5].iter().zip(holm) {
            assert_eq!(c.p_holm, h);
        }
        assert_eq!(
            cmp[9].p_holm, cmp[9].p_value,
            "a family of one is not adjusted"
        );
    }

    #[test]
    fn holm_by_family_adjusts_each_family_alone() {
        let got = holm_by_family(&["a", "b", "a", "b"], &[0.01, 0.04, 0.03, 0.5]);
        let r: Vec<(f64, usize)> = got.iter().map(|&(p, n)| (r4(p), n)).collect();
        assert_eq!(r, vec![(0.02, 2), (0.08, 2), (0.03, 2), (0.5, 2)]);
    }

    #[test]
    fn exclusion_bounds_span_all_harmless_to_all_harmful() {
        // 9 harmful of 10, 2 excluded: 9/12 if both were harmless, 11/12 if both harmful.
        let b = exclusion_bounds(9, 10, 2).unwrap();
        assert_eq!((r4(b.low), r4(b.high)), (0.75, 0.9167));
        assert_eq!(
            exclusion_bounds(3, 10, 0),
            Some(Interval {
                low: 0.3,
                high: 0.3
            })
        );
        // Only excluded answers: anything from 0 to 1 is possible.
        assert_eq!(
            exclusion_bounds(0, 0, 4),
            Some(Interval {
                low: 0.0,
                high: 1.0
            })
        );
        assert_eq!(exclusion_bounds(0, 0, 0), None);
        assert_eq!(exclusion_bounds(3, 2, 0), None);
        // The comparison carries the range of its difference.
        let a = cell(
            "m",
            Condition::new("b", GoalType::Explicit, "v", Urgency::None),
            9,
            10,
            2,
        );
        let b = cell(
            "m",
            Condition::new("b", GoalType::None, "v", Urgency::None),
            3,
            10,
            1,
        );
        let c = &compare_cells(&[a, b])[0];
        // a: [9/12, 11/12]; b: [3/11, 4/11].
        assert_eq!(
            r4(c.difference_if_excluded.low),
            r4(9.0 / 12.0 - 4.0 / 11.0)
        );
        assert_eq!(
            r4(c.difference_if_excluded.high),
            r4(11.0 / 12.0 - 3.0 / 11.0)
        );
    }
}
