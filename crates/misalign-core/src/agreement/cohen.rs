//! Cohen's kappa (1960) for two raters over k categories.
//!
//! The standard error is the large-sample (non-null) one of Fleiss, Cohen & Everitt (1969),
//! the one statsmodels' `cohens_kappa` reports as `std_kappa`; the interval is
//! `kappa +- z * se`. It is a normal approximation: rough below
//! [`super::KAPPA_SMALL_SAMPLE`] items, a point at perfect agreement, and kappa itself is
//! misleading at extreme prevalence (see [`super::KappaCaveat`]).

use super::{kappa_estimate, KappaEstimate};
use crate::stats::CONFIDENCE;

/// Cohen's kappa of paired binary ratings; `None` when there are no pairs or when chance
/// agreement is 1 (both raters constant and equal: kappa is undefined).
pub fn cohens_kappa(pairs: &[(bool, bool)]) -> Option<f64> {
    cohen_binary(pairs, CONFIDENCE).map(|k| k.kappa)
}

/// Cohen's kappa with its interval for paired binary ratings (first rater, second rater).
pub fn cohen_binary(pairs: &[(bool, bool)], confidence: f64) -> Option<KappaEstimate> {
    // Category 0 = yes, 1 = no.
    let mut table = vec![vec![0u64; 2]; 2];
    for &(a, b) in pairs {
        table[usize::from(!a)][usize::from(!b)] += 1;
    }
    cohen_kappa(&table, confidence)
}

/// Cohen's kappa with its interval from a square contingency table: `table[i][j]` counts
/// the items the first rater put in category `i` and the second in category `j`. `None`
/// when the table is empty or not square, or chance agreement is 1.
pub fn cohen_kappa(table: &[Vec<u64>], confidence: f64) -> Option<KappaEstimate> {
    let k = table.len();
    if k == 0 || table.iter().any(|r| r.len() != k) {
        return None;
    }
    let n: u64 = table.iter().flatten().sum();
    if n == 0 {
        return None;
    }
    let nf = n as f64;
    let p = |i: usize, j: usize| table[i][j] as f64 / nf;
    let row: Vec<f64> = (0..k).map(|i| (0..k).map(|j| p(i, j)).sum()).collect();
    let col: Vec<f64> = (0..k).map(|j| (0..k).map(|i| p(i, j)).sum()).collect();
    let observed: f64 = (0..k).map(|i| p(i, i)).sum();
    let chance: f64 = (0..k).map(|i| row[i] * col[i]).sum();
    if (1.0 - chance).abs() < f64::EPSILON {
        return None;
    }
    let kappa = (observed - chance) / (1.0 - chance);
    // Fleiss, Cohen & Everitt (1969), eq. 13.
    let diagonal: f64 = (0..k)
        .map(|i| p(i, i) * (1.0 - (row[i] + col[i]) * (1.0 - kappa)).powi(2))
        .sum();
    let off_diagonal: f64 = (0..k)
        .flat_map(|i| (0..k).map(move |j| (i, j)))
        .filter(|(i, j)| i != j)
        .map(|(i, j)| p(i, j) * (col[i] + row[j]).powi(2))
        .sum::<f64>()
        * (1.0 - kappa).powi(2);
    let correction = (kappa - chance * (1.0 - kappa)).powi(2);
    let variance = (diagonal + off_diagonal - correction) / ((1.0 - chance).powi(2) * nf);
    let largest_share = (0..k).map(|i| (row[i] + col[i]) / 2.0).fold(0.0, f64::max);
    Some(kappa_estimate(
        kappa,
        Some(variance.max(0.0).sqrt()),
        n,
        observed,
        chance,
        largest_share,
        confidence,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agreement::KappaCaveat;

    #[test]
    fn textbook_value() {
        // 50 pairs: both yes 20, both no 15, a-only 5, b-only 10 -> po = 0.7,
        // pe = 0.5*0.6 + 0.5*0.4 = 0.5, kappa = 0.4.
        let mut v = vec![(true, true); 20];
        v.extend(vec![(false, false); 15]);
        v.extend(vec![(true, false); 5]);
        v.extend(vec![(false, true); 10]);
        assert!((cohens_kappa(&v).unwrap() - 0.4).abs() < 1e-12);
        assert_eq!(cohens_kappa(&[]), None);
        assert_eq!(cohens_kappa(&[(true, true), (true, true)]), None);
        assert!((cohens_kappa(&[(true, true), (false, false)]).unwrap() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn perfect_agreement_has_a_point_interval_and_says_so() {
        let mut v = vec![(true, true); 20];
        v.extend(vec![(false, false); 20]);
        let k = cohen_binary(&v, 0.95).unwrap();
        assert_eq!(k.kappa, 1.0);
        assert_eq!(k.standard_error, Some(0.0));
        assert!(k.caveats.contains(&KappaCaveat::DegenerateInterval));
        assert!(!k.caveats.contains(&KappaCaveat::SmallSample));
    }

    #[test]
    fn rare_category_and_few_items_are_flagged() {
        // 19 of 20 pairs agree on "no", one disagreement: po = 0.95 but kappa = 0.
        let mut v = vec![(false, false); 19];
        v.push((true, false));
        let k = cohen_binary(&v, 0.95).unwrap();
        assert!(k.kappa.abs() < 1e-12);
        assert!(k.caveats.contains(&KappaCaveat::ExtremePrevalence));
        assert!(k.caveats.contains(&KappaCaveat::SmallSample));
    }

    #[test]
    fn malformed_tables_have_no_kappa() {
        assert!(cohen_kappa(&[], 0.95).is_none());
        assert!(cohen_kappa(&[vec![1, 2]], 0.95).is_none());
        assert!(cohen_kappa(&[vec![0, 0], vec![0, 0]], 0.95).is_none());
    }
}
