//! The statistics against published reference values, to 4 decimals.
//!
//! Sources: Newcombe R.G. (1998), "Interval estimation for the difference between independent
//! proportions: comparison of eleven methods", Statistics in Medicine 17:873-890, Table II
//! (method 10) worked examples; Wilson / Clopper-Pearson closed forms; R's `fisher.test`
//! documentation examples (the tea-tasting table and the convictions-of-twins table).

use misalign_core::stats::{
    clopper_pearson, exclusion_bounds, fisher_two_sided, holm_adjust, holm_by_family,
    newcombe_difference, rate_difference, wilson, Interval,
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

#[test]
fn rate_difference_matches_an_independent_computation() {
    // Computed outside statrs by a pure-Python script: Newcombe method 10 from the Wilson
    // closed form (which reproduces Table II example (b) above), Fisher's two-sided p as the
    // sum of exact hypergeometric probabilities (as rationals) no larger than the observed
    // one, as R's fisher.test does.
    // The study's awareness split: real 27/49 (55.1%) vs evaluation 2/31 (6.5%).
    let d = rate_difference(27, 49, 2, 31).unwrap();
    assert_eq!(r4(d.difference), 0.4865);
    assert_eq!(pair(d.ci), (0.2881, 0.6250));
    assert!((d.p_value - 8.85284579e-06).abs() < 1e-13, "{}", d.p_value);
    let d = rate_difference(9, 10, 3, 10).unwrap();
    assert_eq!(pair(d.ci), (0.1705, 0.8090));
    assert!((d.p_value - 0.0197666111).abs() < 1e-10, "{}", d.p_value);
    // A negative difference: 40/50 vs 44/50 -> -0.08, [-0.2252, 0.0670], p = 0.4139466216.
    let d = rate_difference(40, 50, 44, 50).unwrap();
    assert_eq!((r4(d.difference), pair(d.ci)), (-0.08, (-0.2252, 0.0670)));
    assert!((d.p_value - 0.4139466216).abs() < 1e-9, "{}", d.p_value);
    assert!(rate_difference(1, 0, 1, 2).is_none());
}

#[test]
fn holm_by_hand() {
    // p = (0.01, 0.04, 0.03, 0.005), m = 4. Sorted: 0.005 x 4 = 0.02; 0.01 x 3 = 0.03;
    // 0.03 x 2 = 0.06; 0.04 x 1 = 0.04, raised to the running maximum 0.06.
    let adj: Vec<f64> = holm_adjust(&[0.01, 0.04, 0.03, 0.005])
        .into_iter()
        .map(r4)
        .collect();
    assert_eq!(adj, vec![0.03, 0.06, 0.06, 0.02]);
    // The same four split into two families of two: (0.01, 0.03) -> (0.02, 0.03);
    // (0.04, 0.005) -> (0.04, 0.01).
    let fam = holm_by_family(&[1, 2, 1, 2], &[0.01, 0.04, 0.03, 0.005]);
    let got: Vec<(f64, usize)> = fam.into_iter().map(|(p, n)| (r4(p), n)).collect();
    assert_eq!(got, vec![(0.02, 2), (0.04, 2), (0.03, 2), (0.01, 2)]);
}

#[test]
fn exclusion_bounds_by_hand() {
    // 34 harmful of 90, 10 excluded: 34/100 if harmless, 44/100 if harmful.
    assert_eq!(
        exclusion_bounds(34, 90, 10),
        Some(Interval {
            low: 0.34,
            high: 0.44
        })
    );
}

#[test]
fn fisher_is_accurate_far_in_the_tails() {
    // Exact rational sums (the pure-Python script above). A p-value computed as 1 - cdf loses
    // everything below ~1e-15; the study's headline cells (96/100 vs 0/100) live there.
    let rel = |got: f64, want: f64| ((got - want) / want).abs();
    let p = fisher_two_sided(34, 103, 44, 50).unwrap();
    assert!(rel(p, 5.122479211128956e-11) < 1e-9, "{p}");
    // Either orientation of the table gives the same p.
    let p = fisher_two_sided(44, 50, 34, 103).unwrap();
    assert!(rel(p, 5.122479211128956e-11) < 1e-9, "{p}");
    let p = fisher_two_sided(96, 100, 0, 100).unwrap();
    assert!(rel(p, 1.0156159971178656e-52) < 1e-9, "{p}");
    let p = fisher_two_sided(100, 100, 0, 100).unwrap();
    assert!(rel(p, 2.2087606931995028e-59) < 1e-9, "{p}");
}
