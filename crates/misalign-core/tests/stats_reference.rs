//! The statistics against published reference values, to 4 decimals.
//!
//! Sources: Newcombe R.G. (1998), "Interval estimation for the difference between independent
//! proportions: comparison of eleven methods", Statistics in Medicine 17:873-890, Table II
//! (method 10) worked examples; Wilson / Clopper-Pearson closed forms; R's `fisher.test`
//! documentation examples (the tea-tasting table and the convictions-of-twins table).

use misalign_core::stats::{
    clopper_pearson, fisher_two_sided, newcombe_difference, wilson, Interval,
};

fn r4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

fn pair(i: Interval) -> (f64, f64) {
    (r4(i.low), r4(i.high))
}

#[test]
fn wilson_reference_values() {
    // n = 100, x = 0: the acceptance value.
    assert_eq!(pair(wilson(0, 100, 0.95).unwrap()), (0.0, 0.0370));
    assert_eq!(pair(wilson(100, 100, 0.95).unwrap()), (0.9630, 1.0));
    // Newcombe (1998) Table I, single proportions by the score method:
    // 81/263 -> 0.2553 to 0.3662; 15/148 -> 0.0624 to 0.1605; 0/20 -> 0 to 0.1611; 1/29 -> 0.0061 to 0.1718.
    assert_eq!(pair(wilson(81, 263, 0.95).unwrap()), (0.2553, 0.3662));
    assert_eq!(pair(wilson(15, 148, 0.95).unwrap()), (0.0624, 0.1605));
    assert_eq!(pair(wilson(0, 20, 0.95).unwrap()), (0.0, 0.1611));
    assert_eq!(pair(wilson(1, 29, 0.95).unwrap()), (0.0061, 0.1718));
}

#[test]
fn clopper_pearson_reference_values() {
    // x = 0: upper bound is 1 - (alpha/2)^(1/n) in closed form.
    let ci = clopper_pearson(0, 100, 0.95).unwrap();
    assert_eq!(r4(ci.low), 0.0);
    assert_eq!(r4(ci.high), r4(1.0 - 0.025f64.powf(1.0 / 100.0)));
    assert_eq!(r4(ci.high), 0.0362);
    // 81/263 and 15/148 (Newcombe's Table I data): bounds checked independently by bisection on
    // the exact binomial tails, P(X >= x | p = low) = P(X <= x | p = high) = 0.025.
    assert_eq!(
        pair(clopper_pearson(81, 263, 0.95).unwrap()),
        (0.2527, 0.3676)
    );
    assert_eq!(
        pair(clopper_pearson(15, 148, 0.95).unwrap()),
        (0.0578, 0.1617)
    );
    assert_eq!(pair(clopper_pearson(0, 20, 0.95).unwrap()), (0.0, 0.1684));
}

#[test]
fn newcombe_method_10_worked_examples() {
    // Newcombe (1998) Table II, method 10, examples (a) to (h).
    let cases = [
        ((56, 70, 48, 80), (0.0524, 0.3339)),
        ((9, 10, 3, 10), (0.1705, 0.8090)),
        ((6, 7, 2, 7), (0.0582, 0.8062)),
        ((5, 56, 0, 29), (-0.0381, 0.1926)),
        ((0, 10, 0, 20), (-0.1611, 0.2775)),
        ((0, 10, 0, 10), (-0.2775, 0.2775)),
        ((10, 10, 0, 20), (0.6791, 1.0)),
        ((10, 10, 0, 10), (0.6075, 1.0)),
    ];
    for ((x1, n1, x2, n2), want) in cases {
        let got = pair(newcombe_difference(x1, n1, x2, n2, 0.95).unwrap());
        assert_eq!(got, want, "{x1}/{n1} - {x2}/{n2}");
    }
}

#[test]
fn fisher_exact_r_documentation_examples() {
    // Tea tasting: matrix(c(3, 1, 1, 3)) -> two-sided p = 0.4857.
    assert_eq!(r4(fisher_two_sided(3, 4, 1, 4).unwrap()), 0.4857);
    // Convictions of like-sex twins: matrix(c(2, 10, 15, 3)) -> p = 0.0005367.
    // Rows (dizygotic: 2 convicted of 17, monozygotic: 10 convicted of 13).
    let p = fisher_two_sided(2, 17, 10, 13).unwrap();
    assert!((p - 0.0005367).abs() < 5e-7, "{p}");
    // Identical rates: nothing to see.
    assert_eq!(fisher_two_sided(0, 100, 0, 100).unwrap(), 1.0);
}
