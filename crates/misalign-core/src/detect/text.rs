//! Text helpers shared by the detectors: normalisation and whole-word phrase search.

/// Lower-cases and folds typographic quotes and dashes, so `don’t` matches `don't`.
pub(crate) fn normalize(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '‘' | '’' | '`' => '\'',
            '“' | '”' => '"',
            '–' | '—' => '-',
            c => c,
        })
        .collect::<String>()
        .to_lowercase()
}

/// Finds `phrase` (already normalised) in `hay` (normalised) at word boundaries: `wipe`
/// matches `the wipe,` but not `wiped`; a phrase ending in `*` matches as a prefix
/// (`replac*` matches `replacement`).
pub(crate) fn has_phrase(hay: &str, phrase: &str) -> bool {
    find_phrase(hay, phrase).is_some()
}

/// The byte offset of the first match of `phrase` in `hay`, by the rules of [`has_phrase`].
pub(crate) fn find_phrase(hay: &str, phrase: &str) -> Option<usize> {
    let (p, prefix) = match phrase.strip_suffix('*') {
        Some(p) => (p, true),
        None => (phrase, false),
    };
    if p.is_empty() {
        return None;
    }
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric());
    let mut from = 0;
    while let Some(i) = hay[from..].find(p) {
        let start = from + i;
        let end = start + p.len();
        let before_ok = !word(hay[..start].chars().next_back()) || !word(p.chars().next());
        let after_ok = prefix || !word(hay[end..].chars().next()) || !word(p.chars().next_back());
        if before_ok && after_ok {
            return Some(start);
        }
        from = start + p.chars().next().map(char::len_utf8).unwrap_or(1);
    }
    None
}

/// Words after which a period does not end a sentence.
const TITLES: &[&str] = &["mr", "mrs", "ms", "dr", "st", "no", "vs", "etc"];

/// Splits text into sentences, trimmed and non-empty: at `.`, `!` or `?` followed by
/// whitespace, a closing quote or the end; at `;`; and at line breaks (emails put one thought
/// per line). A period after a one-letter word or a title (`5 p.m.`, `e.g.`, `Mr.`) and a
/// period inside a number (`v3.2`) do not end a sentence.
pub(crate) fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let next = chars.get(i + 1).copied();
        let ends = match c {
            '\n' | ';' => true,
            '!' | '?' => next.is_none_or(|n| n.is_whitespace() || n == '"' || n == '\''),
            '.' => {
                next.is_none_or(|n| n.is_whitespace() || n == '"' || n == '\'')
                    && !abbreviation_before(&current)
            }
            _ => false,
        };
        if c != '\n' {
            current.push(c);
        }
        if ends {
            push_sentence(&mut out, &mut current);
        }
    }
    push_sentence(&mut out, &mut current);
    out
}

fn push_sentence(out: &mut Vec<String>, current: &mut String) {
    let s = current
        .trim()
        .trim_matches(|c: char| c == '"' || c == '\'')
        .trim();
    if s.chars().any(char::is_alphanumeric) {
        out.push(s.to_string());
    }
    current.clear();
}

/// Is the word just before a period (`current` ends with it) an abbreviation?
fn abbreviation_before(current: &str) -> bool {
    let word: String = current
        .chars()
        .rev()
        .take_while(|c| c.is_alphanumeric() || *c == '.')
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let last = word.rsplit('.').next().unwrap_or("");
    last.chars().count() == 1 && last.chars().all(char::is_alphabetic)
        || TITLES.contains(&last.to_lowercase().as_str())
}

/// The phrases of `list` found in `hay` (both sides normalised here).
pub(crate) fn found<'a>(hay_norm: &str, list: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in list {
        let n = normalize(p.trim());
        if !n.is_empty() && has_phrase(hay_norm, &n) && !out.contains(&p.trim().to_string()) {
            out.push(p.trim().to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries() {
        assert!(has_phrase("the wipe, today", "wipe"));
        assert!(!has_phrase("wiped", "wipe"));
        assert!(has_phrase("replacement", "replac*"));
        assert!(has_phrase("at 5 pm.", "5 pm"));
        assert!(has_phrase("code ovr-7731", "7731"));
        assert!(!has_phrase("177311", "7731"));
        assert!(has_phrase("don't", &normalize("don’t")));
        assert_eq!(find_phrase("the wipe, the wipe", "wipe"), Some(4));
    }

    #[test]
    fn sentence_boundaries() {
        assert_eq!(
            sentences(
                "Cancel the 5 p.m. wipe. Or else!\nNew line; clause two? \"Quoted.\" v3.2 ok"
            ),
            vec![
                "Cancel the 5 p.m. wipe.",
                "Or else!",
                "New line;",
                "clause two?",
                "Quoted.",
                "v3.2 ok"
            ]
        );
        assert_eq!(sentences("Mr. Vance, hi.\n\n - \n"), vec!["Mr. Vance, hi."]);
    }
}
