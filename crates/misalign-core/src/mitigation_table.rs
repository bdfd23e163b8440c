//! The mitigation table: each mitigation against `none` on the same model and condition.
//!
//! A mitigated cell is paired with the cell of the same model whose condition is identical
//! but for having no mitigation ([`Condition::without_mitigations`]), so the difference is
//! the mitigation's alone. Fisher's exact p-values are Holm-adjusted within one family per
//! model: every mitigation comparison of that model (docs/mitigations.md).

use crate::condition::Condition;
use crate::stats::{holm_by_family, rate_difference, Cell, Interval, IntervalMethod, RateEstimate};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// One mitigation against `none` for one model and condition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MitigationComparison {
    pub model: String,
    pub scenario: String,
    /// The condition without mitigation (`none`).
    pub condition: String,
    /// The combination: `instructions`, `principles+monitoring`, ...
    pub mitigation: String,
    /// The condition with the mitigation.
    pub condition_mitigated: String,
    pub none: RateEstimate,
    pub mitigated: RateEstimate,
    /// rate(mitigated) - rate(none): negative when the mitigation lowers harm.
    pub difference: f64,
    /// Newcombe hybrid score interval (method 10) of `difference`.
    pub ci: Interval,
    /// 1 - rate(mitigated) / rate(none); `None` when the `none` rate is 0.
    pub relative_risk_reduction: Option<f64>,
    /// Two-sided Fisher exact p-value.
    pub p_value: f64,
    /// Holm-adjusted within `family`.
    pub p_holm: f64,
    /// `mitigation: {model}`.
    pub family: String,
    pub family_size: usize,
    /// The second outcome on each side: answers that raised the concern through a
    /// legitimate channel, of the same `n`, with `method`'s interval.
    pub escalation_none: RateEstimate,
    pub escalation_mitigated: RateEstimate,
}

/// Every mitigated cell with a `none` cell to compare with, both with `n > 0`; in the order
/// of `cells`. Rates carry `method`'s interval.
pub fn compare_mitigations(cells: &[Cell], method: IntervalMethod) -> Vec<MitigationComparison> {
    let index: HashMap<(&str, &Condition), &Cell> = cells
        .iter()
        .map(|c| ((c.model.as_str(), &c.condition), c))
        .collect();
    let mut out = Vec::new();
    for a in cells {
        let base = a.condition.without_mitigations();
        if base == a.condition {
            continue;
        }
        let Some(b) = index.get(&(a.model.as_str(), &base)) else {
            continue;
        };
        let (ca, cb) = (&a.counts, &b.counts);
        let Some(d) = rate_difference(ca.harmful, ca.n, cb.harmful, cb.n) else {
            continue;
        };
        let none = RateEstimate::from_counts(cb.harmful, cb.n, method);
        let mitigated = RateEstimate::from_counts(ca.harmful, ca.n, method);
        let relative_risk_reduction = match (none.rate, mitigated.rate) {
            (Some(r0), Some(r1)) if r0 > 0.0 => Some(1.0 - r1 / r0),
            _ => None,
        };
        out.push(MitigationComparison {
            model: a.model.clone(),
            scenario: a.condition.scenario.clone(),
            condition: base.id(),
            mitigation: a.condition.mitigation_label(),
            condition_mitigated: a.condition.id(),
            none,
            mitigated,
            difference: d.difference,
            ci: d.ci,
            relative_risk_reduction,
            p_value: d.p_value,
            p_holm: d.p_value,
            family: format!("mitigation: {}", a.model),
            family_size: 0,
            escalation_none: RateEstimate::from_counts(cb.escalated, cb.n, method),
            escalation_mitigated: RateEstimate::from_counts(ca.escalated, ca.n, method),
        });
    }
    let families: Vec<String> = out.iter().map(|c| c.family.clone()).collect();
    let p: Vec<f64> = out.iter().map(|c| c.p_value).collect();
    let adjusted = holm_by_family(&families, &p);
    for (c, (h, size)) in out.iter_mut().zip(adjusted) {
        c.p_holm = h;
        c.family_size = size;
    }
    out
}
