//! Consistent replacement of names, codes and dates in a text.
//!
//! Every pair is matched as a whole token (ASCII word boundaries on both sides), the
//! longest first at each place, in one pass over the text: a replacement is never matched
//! again, and `Dan` never hits inside `Danica` or `dan.reyes` inside `dan.reyesford`. ISO
//! dates (`2026-06-11`, also inside `2026-06-11T09:30:00`) move by the variant's whole
//! number of weeks, so weekdays written beside them stay true.

use chrono::{Duration, NaiveDate};
use regex::{Captures, Regex};
use std::collections::HashMap;
use std::sync::LazyLock;

/// The replacement of one variant.
#[derive(Debug)]
pub struct Replacer {
    /// Original -> replacement.
    map: HashMap<String, String>,
    /// The originals, longest first, as one alternation between word boundaries.
    pattern: Option<Regex>,
    /// Days every ISO date moves (a multiple of 7).
    shift_days: i64,
}

static ISO_DATE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?-u:\b)(\d{4})-(\d{2})-(\d{2})").expect("a valid pattern"));

impl Replacer {
    /// `pairs` (original, replacement); the first pair of an original wins. Originals must
    /// start and end with a word character (checked when the pack loads).
    pub fn new(pairs: Vec<(String, String)>, shift_days: i64) -> Replacer {
        let mut map = HashMap::with_capacity(pairs.len());
        for (from, to) in pairs {
            if from != to {
                map.entry(from).or_insert(to);
            }
        }
        let mut keys: Vec<&String> = map.keys().collect();
        keys.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        let pattern = (!keys.is_empty()).then(|| {
            let alts: Vec<String> = keys.iter().map(|k| regex::escape(k)).collect();
            Regex::new(&format!(r"(?-u:\b)(?:{})(?-u:\b)", alts.join("|")))
                .expect("escaped literals form a valid pattern")
        });
        Replacer {
            map,
            pattern,
            shift_days,
        }
    }

    /// The pairs, for showing a variant (sorted by original).
    pub fn pairs(&self) -> Vec<(&str, &str)> {
        let mut out: Vec<(&str, &str)> = self
            .map
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        out.sort_unstable();
        out
    }

    /// `text` with every original replaced and every date moved.
    pub fn apply(&self, text: &str) -> String {
        let named = match &self.pattern {
            Some(re) => re.replace_all(text, |c: &Captures| self.map[&c[0]].clone()),
            None => std::borrow::Cow::Borrowed(text),
        };
        if self.shift_days == 0 {
            return named.into_owned();
        }
        ISO_DATE
            .replace_all(&named, |c: &Captures| {
                let parsed = NaiveDate::from_ymd_opt(
                    c[1].parse().unwrap_or(0),
                    c[2].parse().unwrap_or(0),
                    c[3].parse().unwrap_or(0),
                );
                match parsed.and_then(|d| d.checked_add_signed(Duration::days(self.shift_days))) {
                    Some(d) => d.format("%Y-%m-%d").to_string(),
                    None => c[0].to_string(),
                }
            })
            .into_owned()
    }

    /// Every string inside a JSON value replaced (the facts, as JSON).
    pub fn apply_json(&self, value: &mut serde_json::Value) {
        match value {
            serde_json::Value::String(s) => *s = self.apply(s),
            serde_json::Value::Array(items) => items.iter_mut().for_each(|v| self.apply_json(v)),
            serde_json::Value::Object(m) => m.values_mut().for_each(|v| self.apply_json(v)),
            _ => {}
        }
    }
}

/// Whether `text` can be an original: it starts and ends with an ASCII word character, so
/// both its ends are token boundaries.
pub fn is_token(text: &str) -> bool {
    let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    word(text.chars().next()) && word(text.chars().last())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn whole_tokens_only_and_longest_first() {
        let r = Replacer::new(
            pairs(&[
                ("Dan", "Ivo"),
                ("Danica", "Marta"),
                ("Dan Reyes", "Ivo Pratt"),
                ("dan", "ivo"),
                ("reyes", "pratt"),
            ]),
            0,
        );
        assert_eq!(
            r.apply("Dan, Danica and Dan Reyes; Dan's mail dan.reyes@x.com; Dane Reyesford"),
            "Ivo, Marta and Ivo Pratt; Ivo's mail ivo.pratt@x.com; Dane Reyesford"
        );
    }

    #[test]
    fn a_replacement_is_never_replaced_again() {
        let r = Replacer::new(pairs(&[("Ann", "Bea"), ("Bea", "Cy")]), 0);
        assert_eq!(r.apply("Ann and Bea"), "Bea and Cy");
    }

    #[test]
    fn a_longer_original_that_fails_its_boundary_leaves_the_shorter_one() {
        let r = Replacer::new(pairs(&[("Kai", "Lou"), ("Kai Moss", "Lou Park")]), 0);
        assert_eq!(r.apply("Kai Mossberg"), "Lou Mossberg");
    }

    #[test]
    fn dates_move_by_whole_weeks() {
        let r = Replacer::new(Vec::new(), 14);
        assert_eq!(
            r.apply("Timestamp: 2026-06-11T10:22:31 and 2026-12-25; not 12026-06-11x"),
            "Timestamp: 2026-06-25T10:22:31 and 2027-01-08; not 12026-06-11x"
        );
        assert_eq!(
            Replacer::new(Vec::new(), 0).apply("2026-06-11"),
            "2026-06-11"
        );
    }

    #[test]
    fn tokens() {
        assert!(is_token("Dan Reyes"));
        assert!(is_token("5817"));
        assert!(!is_token("@x.com"));
        assert!(!is_token("Dan "));
        assert!(!is_token(""));
    }
}
