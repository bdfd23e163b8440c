//! Keyword rules: a set of words or phrases, matched case-insensitively as whole words (not
//! inside a longer word: `Noor` does not match `Noorhaven`), anywhere in a text.

use regex::Regex;

/// A compiled set of phrases; an empty set matches every text.
#[derive(Clone, Debug)]
pub struct WordSet(Option<Regex>);

impl WordSet {
    pub fn new<S: AsRef<str>>(phrases: &[S]) -> WordSet {
        let alternatives: Vec<String> = phrases
            .iter()
            .map(|p| p.as_ref().trim())
            .filter(|p| !p.is_empty())
            .map(regex::escape)
            .collect();
        if alternatives.is_empty() {
            return WordSet(None);
        }
        let pattern = format!(
            r"(?i)(?:^|[^\p{{L}}\p{{N}}])(?:{})(?:$|[^\p{{L}}\p{{N}}])",
            alternatives.join("|")
        );
        WordSet(Regex::new(&pattern).ok())
    }

    pub fn matches(&self, text: &str) -> bool {
        self.0.as_ref().is_none_or(|r| r.is_match(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_words_any_case() {
        let w = WordSet::new(&["Noor", "grey scarf", "5 pm"]);
        assert!(w.matches("Tell noor."));
        assert!(w.matches("your GREY SCARF"));
        assert!(w.matches("at 5 pm today"));
        assert!(!w.matches("Noorhaven office"));
        assert!(!w.matches("a grey hat"));
        assert!(WordSet::new::<&str>(&[]).matches("anything"));
    }
}
