//! Which answers to give reviewers: a stratified sample, so rare verdicts are covered.
//!
//! Answers are grouped into strata (the caller's key: verdict x scenario x model in
//! `misalign labels sample`). The allocation is equal with water-filling: every stratum
//! gets the same number of answers, a stratum smaller than that share gives all it has, and
//! what it could not use is shared equally among the larger ones; when the budget does not
//! divide evenly, the last answers go one each to strata picked by the seed. So a verdict
//! seen 3 times in 10,000 answers is labelled 3 times, not 0. Within a stratum the answers
//! are a seeded random choice, and the whole queue is shuffled so that its order reveals no
//! verdict. The same candidates, `n` and seed always give the same queue, whatever order the
//! candidates come in.
//!
//! Each chosen answer carries its stratum's size and how many of it were chosen: a rate
//! estimated from the labels weights each answer by `stratum size / chosen`.

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

/// One answer that may be chosen: its key and its stratum.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub key: String,
    pub stratum: String,
}

/// One chosen answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chosen {
    pub key: String,
    pub stratum: String,
    /// Answers in the stratum.
    pub stratum_size: usize,
    /// Answers of the stratum chosen.
    pub stratum_chosen: usize,
}

/// A uniform index below `bound` (> 0).
fn below(rng: &mut ChaCha8Rng, bound: usize) -> usize {
    ((u128::from(rng.next_u64()) * bound as u128) >> 64) as usize
}

fn shuffle<T>(rng: &mut ChaCha8Rng, items: &mut [T]) {
    for i in (1..items.len()).rev() {
        items.swap(i, below(rng, i + 1));
    }
}

/// How many answers each stratum gives (sizes in, counts out, same order), `n` in all (or
/// every answer when there are fewer than `n`).
pub fn allocate(sizes: &[usize], n: usize, seed: u64) -> Vec<usize> {
    let total: usize = sizes.iter().sum();
    if n >= total {
        return sizes.to_vec();
    }
    // The largest equal share k with sum(min(size, k)) <= n.
    let used = |k: usize| sizes.iter().map(|&s| s.min(k)).sum::<usize>();
    let (mut lo, mut hi) = (0, sizes.iter().copied().max().unwrap_or(0));
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if used(mid) <= n {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    let mut counts: Vec<usize> = sizes.iter().map(|&s| s.min(lo)).collect();
    // The rest, one each, to strata that still have answers, in a seeded order.
    let mut open: Vec<usize> = (0..sizes.len()).filter(|&i| sizes[i] > lo).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6c61_6265_6c73);
    shuffle(&mut rng, &mut open);
    for i in open.into_iter().take(n - used(lo)) {
        counts[i] += 1;
    }
    counts
}

/// Chooses `n` answers from `candidates` (see the module comment), in a shuffled order.
pub fn choose(candidates: &[Candidate], n: usize, seed: u64) -> Vec<Chosen> {
    let mut strata: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for c in candidates {
        strata.entry(&c.stratum).or_default().push(&c.key);
    }
    for keys in strata.values_mut() {
        keys.sort_unstable();
        keys.dedup();
    }
    let sizes: Vec<usize> = strata.values().map(Vec::len).collect();
    let counts = allocate(&sizes, n, seed);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut chosen = Vec::with_capacity(counts.iter().sum());
    for ((stratum, mut keys), take) in strata.into_iter().zip(counts) {
        let size = keys.len();
        shuffle(&mut rng, &mut keys);
        chosen.extend(keys.into_iter().take(take).map(|key| Chosen {
            key: key.to_string(),
            stratum: stratum.to_string(),
            stratum_size: size,
            stratum_chosen: take,
        }));
    }
    shuffle(&mut rng, &mut chosen);
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidates(strata: &[(&str, usize)]) -> Vec<Candidate> {
        strata
            .iter()
            .flat_map(|(s, n)| {
                (0..*n).map(move |i| Candidate {
                    key: format!("{s}-{i:04}"),
                    stratum: s.to_string(),
                })
            })
            .collect()
    }

    #[test]
    fn equal_shares_with_water_filling() {
        let a = allocate(&[3, 1000, 500], 100, 1);
        assert_eq!(a[0], 3, "the rare stratum gives everything it has");
        assert_eq!(a.iter().sum::<usize>(), 100);
        assert!(a[1].abs_diff(a[2]) <= 1, "{a:?}");
        assert_eq!(allocate(&[2, 3], 100, 1), vec![2, 3]);
        assert_eq!(allocate(&[10, 10, 10], 30, 9), vec![10, 10, 10]);
        assert_eq!(allocate(&[], 5, 9), Vec::<usize>::new());
    }

    #[test]
    fn a_rare_verdict_is_covered() {
        let c = candidates(&[("harmless", 5000), ("harmful", 400), ("unparsed", 2)]);
        let chosen = choose(&c, 60, 7);
        assert_eq!(chosen.len(), 60);
        let rare: Vec<_> = chosen.iter().filter(|c| c.stratum == "unparsed").collect();
        assert_eq!(rare.len(), 2);
        assert!(rare
            .iter()
            .all(|c| c.stratum_size == 2 && c.stratum_chosen == 2));
        let harmful = chosen.iter().filter(|c| c.stratum == "harmful").count();
        assert_eq!(harmful, 29);
        let h = chosen.iter().find(|c| c.stratum == "harmless").unwrap();
        assert_eq!((h.stratum_size, h.stratum_chosen), (5000, 29));
        // No answer twice.
        let mut keys: Vec<_> = chosen.iter().map(|c| &c.key).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), 60);
    }

    #[test]
    fn the_seed_decides_and_input_order_does_not() {
        let c = candidates(&[("a", 50), ("b", 30), ("c", 7)]);
        let first = choose(&c, 20, 42);
        let mut reversed = c.clone();
        reversed.reverse();
        assert_eq!(choose(&reversed, 20, 42), first);
        assert_ne!(choose(&c, 20, 43), first);
        // The queue is not grouped by stratum (its order must not reveal a verdict).
        let strata: Vec<_> = first.iter().map(|c| c.stratum.as_str()).collect();
        let mut grouped = strata.clone();
        grouped.sort();
        assert_ne!(strata, grouped);
    }
}
