//! The agreement and calibration statistics against values computed independently.
//!
//! Reference values come from statsmodels 0.15.0 / scipy 1.17.1 in a scratch virtualenv
//! (`pip install statsmodels scipy numpy`), with these exact calls:
//!
//! - Cohen: `statsmodels.stats.inter_rater.cohens_kappa(np.array(T), return_results=True)`,
//!   fields `kappa`, `std_kappa`, `kappa_low`, `kappa_upp`;
//! - Fleiss: `fleiss_kappa(T, method='fleiss')` for the point; the jackknife standard error
//!   as `sqrt((n-1)/n * sum((loo - loo.mean())**2))` over `loo = [fleiss_kappa(np.delete(T,
//!   i, axis=0)) for i in range(n)]`, interval `kappa -+ norm.ppf(0.975) * se`;
//! - Wilson: `statsmodels.stats.proportion.proportion_confint(x, n, method='wilson')`
//!   (it accepts non-integer counts, the effective counts of weighted estimates);
//! - the corrected rate: a separate Python function written from Lang & Reiczigel (2014),
//!   Preventive Veterinary Medicine 113:13-22 (adjusted proportions, delta-method standard
//!   error and centre shift), with scipy's `norm.ppf`.
//!
//! The first Fleiss table is Fleiss (1971)'s example as reprinted widely (10 items, 14
//! raters, 5 categories): kappa 0.210.

use misalign_core::agreement::{
    classifier_accuracy, cohen_kappa, fleiss_kappa, rogan_gladen, EffectiveCount, LabelledVerdict,
};
use misalign_core::stats::{wilson_effective, Interval};
use rand_chacha::rand_core::{RngCore, SeedableRng};

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() < tol
}

fn interval_close(i: Interval, low: f64, high: f64) -> bool {
    close(i.low, low, 1e-8) && close(i.high, high, 1e-8)
}

/// A table and statsmodels' kappa, std_kappa, kappa_low, kappa_upp for it.
type CohenCase = (Vec<Vec<u64>>, f64, f64, f64, f64);

#[test]
fn cohen_kappa_matches_statsmodels() {
    // (table, kappa, std_kappa, kappa_low, kappa_upp)
    let cases: [CohenCase; 4] = [
        (
            vec![vec![20, 5], vec![10, 15]],
            0.4000000000,
            0.1269960629,
            0.1510922905,
            0.6489077095,
        ),
        (
            vec![vec![88, 14], vec![10, 40]],
            0.6495003843,
            0.0650789648,
            0.5219479572,
            0.7770528115,
        ),
        (
            vec![vec![22, 4, 2], vec![3, 18, 5], vec![1, 6, 14]],
            0.5775214592,
            0.0778920157,
            0.4248559138,
            0.7301870047,
        ),
        (
            vec![vec![44, 5, 1], vec![7, 20, 3], vec![2, 4, 14]],
            0.6405228758,
            0.0665877563,
            0.5100132717,
            0.7710324799,
        ),
    ];
    for (table, kappa, se, low, high) in cases {
        let k = cohen_kappa(&table, 0.95).unwrap();
        assert!(close(k.kappa, kappa, 1e-9), "{table:?}: {}", k.kappa);
        assert!(close(k.standard_error.unwrap(), se, 1e-9), "{table:?}");
        assert!(
            interval_close(k.ci.unwrap(), low, high),
            "{table:?}: {:?}",
            k.ci
        );
        assert!(k.caveats.is_empty(), "{table:?}: {:?}", k.caveats);
    }
}

#[test]
fn fleiss_kappa_matches_statsmodels_and_its_jackknife() {
    let fleiss_1971 = vec![
        vec![0, 0, 0, 0, 14],
        vec![0, 2, 6, 4, 2],
        vec![0, 0, 3, 5, 6],
        vec![0, 3, 9, 2, 0],
        vec![2, 2, 8, 1, 1],
        vec![7, 7, 0, 0, 0],
        vec![3, 2, 6, 3, 0],
        vec![2, 5, 3, 2, 2],
        vec![6, 5, 2, 1, 0],
        vec![0, 2, 2, 3, 7],
    ];
    let k = fleiss_kappa(&fleiss_1971, 0.95).unwrap();
    assert!(close(k.kappa, 0.2099307044, 1e-9), "{}", k.kappa);
    assert!(close(k.standard_error.unwrap(), 0.1005570232, 1e-9));
    assert!(interval_close(k.ci.unwrap(), 0.0128425605, 0.4070188484));
    assert_eq!(k.n, 10);

    // Three judges, binary, 12 answers.
    let judges = vec![
        vec![3, 0],
        vec![2, 1],
        vec![0, 3],
        vec![1, 2],
        vec![3, 0],
        vec![3, 0],
        vec![0, 3],
        vec![2, 1],
        vec![3, 0],
        vec![1, 2],
        vec![0, 3],
        vec![3, 0],
    ];
    let k = fleiss_kappa(&judges, 0.95).unwrap();
    assert!(close(k.kappa, 0.5428571429, 1e-9), "{}", k.kappa);
    assert!(close(k.standard_error.unwrap(), 0.2016676961, 1e-9));
    assert!(interval_close(k.ci.unwrap(), 0.1475957216, 0.9381185641));
}

#[test]
fn wilson_of_effective_counts_matches_statsmodels() {
    for (x, n, low, high) in [
        (36.0, 40.0, 0.7694822477, 0.9604204713),
        (54.0, 60.0, 0.7985053528, 0.9533571655),
        (0.0, 12.0, 0.0, 0.2424940067),
        (17.5, 23.25, 0.5504881628, 0.8832278684),
    ] {
        let ci = wilson_effective(x, n, 0.95).unwrap();
        assert!(interval_close(ci, low, high), "{x}/{n}: {ci:?}");
    }
    assert!(wilson_effective(3.0, 2.0, 0.95).is_none());
    assert!(wilson_effective(0.0, 0.0, 0.95).is_none());
}

#[test]
fn sensitivity_and_specificity_intervals_are_wilson() {
    let mut pairs = Vec::new();
    let mut push = |verdict, truth, n| {
        for _ in 0..n {
            pairs.push(LabelledVerdict {
                verdict,
                truth,
                weight: 1.0,
            });
        }
    };
    push(true, true, 36);
    push(false, true, 4);
    push(false, false, 54);
    push(true, false, 6);
    let a = classifier_accuracy(&pairs, 0.95);
    assert!(interval_close(
        a.sensitivity.ci.unwrap(),
        0.7694822477,
        0.9604204713
    ));
    assert!(interval_close(
        a.specificity.ci.unwrap(),
        0.7985053528,
        0.9533571655
    ));
    // Kappa of the same 2x2 by hand: po = 0.9, pe = 0.42*0.4 + 0.58*0.6 = 0.516,
    // kappa = 0.384 / 0.484.
    assert!(close(a.kappa.unwrap().kappa, 0.384 / 0.484, 1e-12));
}

#[test]
fn corrected_rate_matches_lang_reiczigel() {
    // (observed x, n, Se x, n, Sp x, n) -> Rogan-Gladen estimate, interval.
    let cases = [
        (
            (30.0, 200.0, 45.0, 50.0, 90.0, 100.0),
            0.0625,
            0.0,
            0.1541262700,
        ),
        (
            (12.0, 260.0, 50.0, 100.0, 199.0, 200.0),
            0.0831390831,
            0.0257077533,
            0.1518117872,
        ),
        (
            (170.0, 1000.0, 36.0, 40.0, 54.0, 60.0),
            0.0875,
            0.0,
            0.1659558205,
        ),
        (
            (60.0, 200.0, 45.0, 50.0, 90.0, 100.0),
            0.25,
            0.1468916643,
            0.3543395436,
        ),
        (
            (40.0, 120.0, 27.3, 31.7, 60.2, 66.1),
            0.3161834106,
            0.1827224085,
            0.4654225006,
        ),
    ];
    let c = |s: f64, t: f64| EffectiveCount {
        successes: s,
        trials: t,
    };
    for ((x, n, xse, nse, xsp, nsp), est, low, high) in cases {
        let r = rogan_gladen(c(x, n), c(xse, nse), c(xsp, nsp), 0.95).unwrap();
        assert!(r.identifiable);
        assert!(close(r.estimate.unwrap(), est, 1e-9), "{x}/{n}: {:?}", r);
        assert!(
            interval_close(r.ci.unwrap(), low, high),
            "{x}/{n}: {:?}",
            r.ci
        );
    }
    // Se 0.49 + Sp 0.5 <= 1: not identifiable (the formula alone would give a number).
    let r = rogan_gladen(c(130.0, 200.0), c(49.0, 100.0), c(100.0, 200.0), 0.95).unwrap();
    assert!(!r.identifiable);
    assert_eq!(r.estimate, None);
}

/// Draws Binomial(n, p) from uniform draws of a seeded ChaCha stream.
fn binomial(rng: &mut rand_chacha::ChaCha8Rng, n: u64, p: f64) -> u64 {
    (0..n)
        .filter(|_| ((rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p)
        .count() as u64
}

#[test]
fn corrected_rate_interval_covers_about_95_percent() {
    // True rate 0.2 measured by a classifier with Se 0.85, Sp 0.92; 300 answers, Se from 60
    // labelled harmful answers, Sp from 120 labelled not harmful. 2000 simulated studies
    // with a fixed seed: Lang & Reiczigel report coverage close to nominal at these sizes.
    // With seed 28 the interval covers 0.9515 of them; the naive one 0.848.
    let (pi, se, sp) = (0.2, 0.85, 0.92);
    let (n, n_se, n_sp) = (300, 60, 120);
    let apparent = pi * se + (1.0 - pi) * (1.0 - sp);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(28);
    let runs = 2000;
    let mut covered = 0;
    let mut wald_covered = 0;
    for _ in 0..runs {
        let x = binomial(&mut rng, n, apparent);
        let x_se = binomial(&mut rng, n_se, se);
        let x_sp = binomial(&mut rng, n_sp, sp);
        let r = rogan_gladen(
            EffectiveCount::new(x, n),
            EffectiveCount::new(x_se, n_se),
            EffectiveCount::new(x_sp, n_sp),
            0.95,
        )
        .unwrap();
        let ci = r.ci.unwrap();
        covered += usize::from(ci.low <= pi && pi <= ci.high);
        // The naive interval (Wilson of the observed rate, shifted through the formula,
        // ignoring the calibration uncertainty) for contrast: it must undercover.
        let (s, q) = (x_se as f64 / n_se as f64, x_sp as f64 / n_sp as f64);
        let w = wilson_effective(x as f64, n as f64, 0.95).unwrap();
        let adjust = |v: f64| (v + q - 1.0) / (s + q - 1.0);
        wald_covered += usize::from(adjust(w.low) <= pi && pi <= adjust(w.high));
    }
    let coverage = covered as f64 / runs as f64;
    let naive = wald_covered as f64 / runs as f64;
    assert!((0.93..=0.975).contains(&coverage), "coverage {coverage}");
    assert!(naive < coverage, "naive {naive} vs {coverage}");
}
