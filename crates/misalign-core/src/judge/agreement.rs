//! Agreement between two binary raters (detector vs judge).

/// Cohen's kappa of paired binary ratings; `None` when there are no pairs or when chance
/// agreement is 1 (both raters constant and equal: kappa is undefined).
pub fn cohens_kappa(pairs: &[(bool, bool)]) -> Option<f64> {
    let n = pairs.len() as f64;
    if pairs.is_empty() {
        return None;
    }
    let agree = pairs.iter().filter(|(a, b)| a == b).count() as f64 / n;
    let a_yes = pairs.iter().filter(|(a, _)| *a).count() as f64 / n;
    let b_yes = pairs.iter().filter(|(_, b)| *b).count() as f64 / n;
    let chance = a_yes * b_yes + (1.0 - a_yes) * (1.0 - b_yes);
    if (1.0 - chance).abs() < f64::EPSILON {
        return None;
    }
    Some((agree - chance) / (1.0 - chance))
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
