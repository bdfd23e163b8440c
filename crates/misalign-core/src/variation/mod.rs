//! Surface variants of a pack's prompts (the `variation` axis; docs/generalisation.md,
//! "Surface variants").
//!
//! A variant is drawn once per pack, seed and index ([`VariantPlan::new`]) and applied to
//! every condition of the pack alike, so variant 3 of one goal type and variant 3 of
//! another are the same fictional world. It replaces the texts the pack declares in
//! `variation.yaml` with records drawn from lists (its own and `common/variation-lists.yaml`),
//! moves every ISO date by a whole number of weeks, draws one of each `{{a|b}}` wording
//! group, and permutes the emails the pack declares movable. The same replacement applies to
//! the pack's facts ([`VariantPlan::facts`]), so detectors and judge rubrics read the names
//! and addresses the variant's prompt shows.
//!
//! Every draw comes from a ChaCha20 stream keyed by SHA-256 of (pack, seed, index): the same
//! seed gives the same text on every machine and release of the generator.

pub mod alternatives;
mod decl;
mod order;
mod replace;

pub use decl::{parse_lists, Declarations, LISTS_FILE, MAX_SHIFT_WEEKS, VARIATION_FILE};
pub use replace::Replacer;

use crate::scenario::{Facts, ScenarioError};
use decl::Entity;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use sha2::{Digest, Sha256};

/// One variant of one pack.
#[derive(Debug)]
pub struct VariantPlan {
    /// Keys the per-group draws (alternatives, email order), so a group draws the same in
    /// every condition of the variant.
    key: [u8; 32],
    replacer: Replacer,
    movable: Vec<Vec<String>>,
}

/// A uniform draw from `0..n` (`n > 0`); the bias of the modulo over 64 bits is far below
/// anything a prompt could show.
fn below(rng: &mut ChaCha20Rng, n: usize) -> usize {
    (rng.next_u64() % n as u64) as usize
}

fn rng_for(parts: &[&[u8]]) -> ChaCha20Rng {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    ChaCha20Rng::from_seed(h.finalize().into())
}

impl VariantPlan {
    /// Variant `index` (1..) of seed `seed` of pack `pack`.
    pub fn new(decl: &Declarations, pack: &str, seed: u32, index: u32) -> VariantPlan {
        let key: [u8; 32] = Sha256::new()
            .chain_update(b"misalign surface variant v1\0")
            .chain_update(pack.as_bytes())
            .chain_update([0])
            .chain_update(seed.to_le_bytes())
            .chain_update(index.to_le_bytes())
            .finalize()
            .into();
        let mut rng = ChaCha20Rng::from_seed(key);
        let mut exact = Vec::new();
        let mut lower = Vec::new();
        let mut used: std::collections::BTreeMap<&str, Vec<usize>> = Default::default();
        for e in &decl.entities {
            match e {
                Entity::Listed { list, is } => {
                    let candidates = decl.candidates(list);
                    let taken = used.entry(list).or_default();
                    let free: Vec<usize> = (0..candidates.len())
                        .filter(|i| !taken.contains(i))
                        .collect();
                    // Enough records for every entity is checked when the pack loads.
                    let pick = free[below(&mut rng, free.len())];
                    taken.push(pick);
                    let record = candidates[pick];
                    for (field, from) in is {
                        let to = &record[field];
                        exact.push((from.clone(), to.clone()));
                        // Addresses and domains write single words in lower case.
                        if !from.contains(' ') && from.to_lowercase() != *from {
                            lower.push((from.to_lowercase(), to.to_lowercase().replace(' ', "")));
                        }
                    }
                }
                Entity::Code(code) => {
                    let to = loop {
                        let c = same_shape(code, &mut rng);
                        if c != *code {
                            break c;
                        }
                    };
                    exact.push((code.clone(), to));
                }
            }
        }
        exact.extend(lower);
        let shift_days = match decl.shift_weeks {
            0 => 0,
            w => {
                let weeks = 1 + below(&mut rng, w as usize) as i64;
                let sign = if rng.next_u32() % 2 == 0 { 1 } else { -1 };
                7 * weeks * sign
            }
        };
        if let Some(anchor) = decl.anchor {
            exact.extend(month_pairs(anchor, shift_days));
        }
        VariantPlan {
            key,
            replacer: Replacer::new(exact, shift_days),
            movable: decl.movable.clone(),
        }
    }

    /// The replacement, for showing and testing a variant.
    pub fn replacer(&self) -> &Replacer {
        &self.replacer
    }

    /// The inbox with the movable emails permuted (before emails are numbered).
    pub fn reorder_inbox(&self, inbox: &str) -> String {
        if self.movable.is_empty() {
            return inbox.to_string();
        }
        order::reorder(inbox, &self.movable, |k, n| {
            let mut rng = rng_for(&[
                &self.key,
                b"order",
                &(k as u64).to_le_bytes(),
                &(n as u64).to_le_bytes(),
            ]);
            let mut perm: Vec<usize> = (0..n).collect();
            for i in (1..n).rev() {
                perm.swap(i, below(&mut rng, i + 1));
            }
            perm
        })
    }

    /// A text of the prompt: wording drawn, then names, codes and dates replaced.
    pub fn apply_text(&self, text: &str) -> String {
        let worded = alternatives::resolve(text, |group, n| {
            below(&mut rng_for(&[&self.key, b"wording", group.as_bytes()]), n)
        });
        self.replacer.apply(&worded)
    }

    /// A text that carries no wording groups (an environment file): names, codes, dates.
    pub fn replace(&self, text: &str) -> String {
        self.replacer.apply(text)
    }

    /// The pack's facts as this variant's prompt shows them.
    pub fn facts(&self, facts: &Facts) -> Result<Facts, ScenarioError> {
        let mut value =
            serde_json::to_value(facts).map_err(|e| ScenarioError::Other(e.to_string()))?;
        self.replacer.apply_json(&mut value);
        serde_json::from_value(value).map_err(|e| ScenarioError::Other(e.to_string()))
    }
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// Month names moved as the anchor day moves (`July` becomes `February` when June 11
/// moves to January 22). `May` is never read as a month: it is also a word.
fn month_pairs(anchor: chrono::NaiveDate, shift_days: i64) -> Vec<(String, String)> {
    use chrono::Datelike;
    let Some(moved) = anchor.checked_add_signed(chrono::Duration::days(shift_days)) else {
        return Vec::new();
    };
    let delta =
        (moved.year() * 12 + moved.month0() as i32) - (anchor.year() * 12 + anchor.month0() as i32);
    (0..12)
        .filter(|&m| MONTHS[m] != "May")
        .map(|m| {
            let to = (m as i32 + delta).rem_euclid(12) as usize;
            (MONTHS[m].to_string(), MONTHS[to].to_string())
        })
        .collect()
}

/// A random code shaped like `code`: each digit a digit, each capital a capital, each small
/// letter a small letter, everything else kept.
fn same_shape(code: &str, rng: &mut ChaCha20Rng) -> String {
    code.chars()
        .map(|c| {
            let pick =
                |from: u8, n: usize, rng: &mut ChaCha20Rng| (from + below(rng, n) as u8) as char;
            match c {
                '0'..='9' => pick(b'0', 10, rng),
                'A'..='Z' => pick(b'A', 26, rng),
                'a'..='z' => pick(b'a', 26, rng),
                other => other,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
