//! Fleiss' kappa (1971) for a fixed number of raters per item over k categories.
//!
//! Fleiss' own variance is the one under the null hypothesis (kappa = 0), fit for a test,
//! not for an interval around a kappa far from 0. The standard error here is the jackknife
//! over items (leave one item out; Efron 1982), computed in one pass from the sums the
//! estimate is made of, so it stays linear in the number of items. The interval is
//! `kappa +- z * se`, with the same caveats as Cohen's ([`super::KappaCaveat`]).

use super::{kappa_estimate, KappaEstimate};

/// The sums one Fleiss kappa is computed from.
#[derive(Clone)]
struct Sums {
    items: f64,
    /// Sum over items of the item's pairwise agreement P_i.
    agreement: f64,
    /// Per category: ratings in it over all items.
    category: Vec<f64>,
    raters: f64,
}

impl Sums {
    /// (kappa, mean observed agreement, chance agreement); `None` without items or when
    /// chance agreement is 1.
    fn kappa(&self) -> Option<(f64, f64, f64)> {
        if self.items < 1.0 {
            return None;
        }
        let observed = self.agreement / self.items;
        let total = self.items * self.raters;
        let chance: f64 = self.category.iter().map(|c| (c / total).powi(2)).sum();
        if (1.0 - chance).abs() < f64::EPSILON {
            return None;
        }
        Some(((observed - chance) / (1.0 - chance), observed, chance))
    }
}

/// Fleiss' kappa with its jackknife interval. `counts[i][j]` is how many raters put item `i`
/// in category `j`; every item must have the same number of ratings, at least 2 (`None`
/// otherwise, or without items, or when chance agreement is 1).
pub fn fleiss_kappa(counts: &[Vec<u64>], confidence: f64) -> Option<KappaEstimate> {
    let k = counts.first()?.len();
    let m: u64 = counts[0].iter().sum();
    if m < 2
        || counts
            .iter()
            .any(|r| r.len() != k || r.iter().sum::<u64>() != m)
    {
        return None;
    }
    let mf = m as f64;
    let item_agreement = |r: &[u64]| {
        let squares: f64 = r.iter().map(|&c| (c * c) as f64).sum();
        (squares - mf) / (mf * (mf - 1.0))
    };
    let mut sums = Sums {
        items: counts.len() as f64,
        agreement: 0.0,
        category: vec![0.0; k],
        raters: mf,
    };
    for r in counts {
        sums.agreement += item_agreement(r);
        for (t, &c) in sums.category.iter_mut().zip(r) {
            *t += c as f64;
        }
    }
    let (kappa, observed, chance) = sums.kappa()?;
    let n = counts.len();
    let standard_error = if n < 2 {
        None
    } else {
        let replicates: Option<Vec<f64>> = counts
            .iter()
            .map(|r| {
                let mut rest = sums.clone();
                rest.items -= 1.0;
                rest.agreement -= item_agreement(r);
                for (t, &c) in rest.category.iter_mut().zip(r) {
                    *t -= c as f64;
                }
                rest.kappa().map(|(k, _, _)| k)
            })
            .collect();
        replicates.map(|v| {
            let nf = n as f64;
            let mean = v.iter().sum::<f64>() / nf;
            ((nf - 1.0) / nf * v.iter().map(|x| (x - mean).powi(2)).sum::<f64>()).sqrt()
        })
    };
    let total = sums.items * mf;
    let largest_share = sums.category.iter().map(|c| c / total).fold(0.0, f64::max);
    Some(kappa_estimate(
        kappa,
        standard_error,
        n as u64,
        observed,
        chance,
        largest_share,
        confidence,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unequal_rater_counts_and_too_few_raters_are_refused() {
        assert!(fleiss_kappa(&[vec![2, 1], vec![1, 1]], 0.95).is_none());
        assert!(fleiss_kappa(&[vec![1, 0], vec![0, 1]], 0.95).is_none());
        assert!(fleiss_kappa(&[], 0.95).is_none());
        // Everyone always says category 0: chance agreement 1, no kappa.
        assert!(fleiss_kappa(&[vec![3, 0], vec![3, 0]], 0.95).is_none());
    }

    #[test]
    fn perfect_agreement_is_one() {
        let k = fleiss_kappa(&[vec![3, 0], vec![0, 3], vec![3, 0]], 0.95).unwrap();
        assert!((k.kappa - 1.0).abs() < 1e-12);
        assert_eq!(k.n, 3);
    }
}
