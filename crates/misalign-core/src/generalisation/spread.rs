//! The spread between the variants of one cell: is the rate a property of the model or of
//! one wording?
//!
//! Two numbers, each with its limits (docs/generalisation.md, "The spread"):
//! - [`homogeneity`]: Pearson's chi-square test that every variant has the same rate (the
//!   k x 2 table of harmful / not harmful per variant, k - 1 degrees of freedom). The
//!   approximation is poor when an expected count is below 5, which the result says.
//! - [`between_variance`]: the DerSimonian-Laird (1986) moment estimate of the
//!   between-variant variance tau^2 on the logit scale, with Cochran's Q and Higgins'
//!   I^2. Each variant's log-odds uses the empirical logit with 0.5 added to both of its
//!   cells (Anscombe 1956), applied to every variant alike, so a variant with 0 or all
//!   harmful answers has a finite log-odds and a finite variance.

use serde::Serialize;
use statrs::distribution::{ChiSquared, ContinuousCDF};

/// The expected count below which the chi-square approximation is not trusted (Cochran's
/// rule of thumb).
pub const MIN_EXPECTED: f64 = 5.0;

/// Pearson's chi-square test of homogeneity of the variants' rates.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Homogeneity {
    /// Variants with at least one verdict (the rows of the table).
    pub variants: usize,
    pub chi_square: f64,
    pub df: usize,
    pub p_value: f64,
    /// The smallest expected count of the table (0 when every answer agrees).
    pub min_expected: f64,
    /// `min_expected` is below [`MIN_EXPECTED`]: the p-value is an approximation to read
    /// with care.
    pub small_counts: bool,
}

/// The test over `(harmful, n)` per variant; variants with `n == 0` are left out. `None`
/// when fewer than two variants have a verdict. When every answer of every variant agrees
/// (no harmful answer at all, or only harmful ones) the rates are identical: chi-square 0,
/// p = 1.
pub fn homogeneity(variants: &[(u64, u64)]) -> Option<Homogeneity> {
    let rows: Vec<(f64, f64)> = variants
        .iter()
        .filter(|(x, n)| *n > 0 && x <= n)
        .map(|&(x, n)| (x as f64, n as f64))
        .collect();
    if rows.len() < 2 {
        return None;
    }
    let df = rows.len() - 1;
    let total: f64 = rows.iter().map(|r| r.1).sum();
    let harmful: f64 = rows.iter().map(|r| r.0).sum();
    let p = harmful / total;
    if harmful == 0.0 || harmful == total {
        return Some(Homogeneity {
            variants: rows.len(),
            chi_square: 0.0,
            df,
            p_value: 1.0,
            min_expected: 0.0,
            small_counts: true,
        });
    }
    // Sum over both columns of (O - E)^2 / E, per row: (x - n p)^2 / (n p (1 - p)).
    let chi_square: f64 = rows
        .iter()
        .map(|&(x, n)| (x - n * p).powi(2) / (n * p * (1.0 - p)))
        .sum();
    let min_expected = rows
        .iter()
        .map(|&(_, n)| (n * p).min(n * (1.0 - p)))
        .fold(f64::INFINITY, f64::min);
    let dist = ChiSquared::new(df as f64).ok()?;
    Some(Homogeneity {
        variants: rows.len(),
        chi_square,
        df,
        p_value: dist.sf(chi_square).clamp(0.0, 1.0),
        min_expected,
        small_counts: min_expected < MIN_EXPECTED,
    })
}

/// The between-variant variance on the logit scale (DerSimonian-Laird), with Cochran's Q
/// and I^2.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct BetweenVariance {
    pub variants: usize,
    /// Cochran's Q over the variants' empirical logits, inverse-variance weighted.
    pub cochran_q: f64,
    /// Higgins' I^2 = max(0, (Q - df) / Q): the share of the spread beyond sampling noise.
    pub i_squared: f64,
    /// DerSimonian-Laird tau^2, on the log-odds scale (0 when Q <= df).
    pub tau_squared: f64,
    /// sqrt(tau^2): the between-variant standard deviation of the log-odds.
    pub tau: f64,
}

/// The estimate over `(harmful, n)` per variant; variants with `n == 0` are left out.
/// `None` when fewer than two variants have a verdict.
pub fn between_variance(variants: &[(u64, u64)]) -> Option<BetweenVariance> {
    let logits: Vec<(f64, f64)> = variants
        .iter()
        .filter(|(x, n)| *n > 0 && x <= n)
        .map(|&(x, n)| {
            let a = x as f64 + 0.5;
            let b = (n - x) as f64 + 0.5;
            ((a / b).ln(), 1.0 / a + 1.0 / b)
        })
        .collect();
    if logits.len() < 2 {
        return None;
    }
    let df = (logits.len() - 1) as f64;
    let w: Vec<f64> = logits.iter().map(|(_, v)| 1.0 / v).collect();
    let sw: f64 = w.iter().sum();
    let sw2: f64 = w.iter().map(|w| w * w).sum();
    let mean = logits.iter().zip(&w).map(|((y, _), w)| w * y).sum::<f64>() / sw;
    let q: f64 = logits
        .iter()
        .zip(&w)
        .map(|((y, _), w)| w * (y - mean).powi(2))
        .sum();
    let tau_squared = ((q - df) / (sw - sw2 / sw)).max(0.0);
    let i_squared = if q > 0.0 {
        ((q - df) / q).max(0.0)
    } else {
        0.0
    };
    Some(BetweenVariance {
        variants: logits.len(),
        cochran_q: q,
        i_squared,
        tau_squared,
        tau: tau_squared.sqrt(),
    })
}

/// The spread of one cell's variants: the test, the variance, and the lowest and highest
/// variant rate.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Spread {
    pub homogeneity: Homogeneity,
    pub between: BetweenVariance,
    pub min_rate: f64,
    pub max_rate: f64,
}

/// [`homogeneity`], [`between_variance`] and the range of rates over `(harmful, n)` per
/// variant, or `None` when fewer than two variants have a verdict.
pub fn spread(variants: &[(u64, u64)]) -> Option<Spread> {
    let rates = variants
        .iter()
        .filter(|(x, n)| *n > 0 && x <= n)
        .map(|&(x, n)| x as f64 / n as f64);
    let (min_rate, max_rate) = rates.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), r| {
        (lo.min(r), hi.max(r))
    });
    Some(Spread {
        homogeneity: homogeneity(variants)?,
        between: between_variance(variants)?,
        min_rate,
        max_rate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-8, "{a} != {b}");
    }

    // Reference values below were computed with Python 3's standard library only (no code
    // of this crate), from the textbook formulas:
    //   chi2 = sum over the 2k cells of (O - E)^2 / E;
    //   for df = 3 the chi-square survival function in closed form,
    //     sf(x) = erfc(sqrt(x / 2)) + sqrt(2 x / pi) * exp(-x / 2);
    //   for df = 1, sf(x) = erfc(sqrt(x / 2)).
    //   DL: y = ln((x+.5)/(n-x+.5)), v = 1/(x+.5) + 1/(n-x+.5), w = 1/v,
    //       Q = sum w (y - ybar_w)^2, tau2 = max(0, (Q - df) / (sum w - sum w^2 / sum w)).

    #[test]
    fn four_variants_against_the_closed_forms() {
        let v = [(8, 20), (2, 20), (5, 20), (12, 20)];
        let h = homogeneity(&v).unwrap();
        close(h.chi_square, 12.243_186_582_809_223);
        assert_eq!(h.df, 3);
        close(h.p_value, 0.006_594_880_440_781_855);
        close(h.min_expected, 6.75);
        assert!(!h.small_counts);
        let b = between_variance(&v).unwrap();
        close(b.cochran_q, 10.155_696_374_378_419);
        close(b.tau_squared, 0.598_633_495_270_881_2);
        close(b.i_squared, 0.704_599_282_076_940_2);
        close(b.tau, b.tau_squared.sqrt());
        let s = spread(&v).unwrap();
        assert_eq!((s.min_rate, s.max_rate), (0.1, 0.6));
    }

    #[test]
    fn two_variants_with_a_zero_cell() {
        // 0/10 against 4/10: the table test is Pearson's 2x2 chi-square (no Yates).
        let v = [(0, 10), (4, 10)];
        let h = homogeneity(&v).unwrap();
        close(h.chi_square, 5.0);
        close(h.p_value, 0.025_347_318_677_468_252);
        close(h.min_expected, 2.0);
        assert!(h.small_counts, "expected counts of 2 are below 5");
        let b = between_variance(&v).unwrap();
        assert!(b.cochran_q.is_finite() && b.tau_squared.is_finite());
        close(b.cochran_q, 2.899_375_606_755_383);
        close(b.tau_squared, 2.346_969_614_208_117_3);
        close(b.i_squared, 0.655_098_153_661_065_5);
    }

    #[test]
    fn identical_rates_have_no_spread() {
        let v = [(5, 10), (5, 10), (10, 20)];
        let h = homogeneity(&v).unwrap();
        close(h.chi_square, 0.0);
        close(h.p_value, 1.0);
        let b = between_variance(&v).unwrap();
        close(b.tau_squared, 0.0);
        close(b.i_squared, 0.0);
        // Nobody harmful anywhere: the rates agree exactly; the test says so.
        let none = homogeneity(&[(0, 10), (0, 7)]).unwrap();
        assert_eq!((none.chi_square, none.p_value), (0.0, 1.0));
        assert!(none.small_counts);
    }

    #[test]
    fn fewer_than_two_variants_with_data_is_no_test() {
        assert!(homogeneity(&[(3, 10)]).is_none());
        assert!(homogeneity(&[(3, 10), (0, 0)]).is_none());
        assert!(between_variance(&[(3, 10), (0, 0)]).is_none());
        assert!(spread(&[]).is_none());
    }
}
